//! Outside programs the tests compare with: python3 with nibabel, pydicom or
//! SimpleITK (CI installs them; locally a test may skip), the nibabel script
//! beside this file, and the check of a finished command.

use super::data::in_ci;
use std::ffi::OsStr;
use std::fmt::Debug;
use std::path::PathBuf;
use std::process::Command;

/// A python3 interpreter that can `import nibabel`; `None` (a skip) outside CI.
pub fn python_with_nibabel() -> Option<String> {
    python_with("nibabel, numpy", "pip install nibabel")
}

/// A python interpreter that can `import <modules>`; `None` (a skip) outside CI,
/// where nothing may be skipped (`install` says how to get them).
pub fn python_with(modules: &str, install: &str) -> Option<String> {
    for py in ["python3", "python"] {
        let ok = Command::new(py)
            .args(["-c", &format!("import {modules}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(py.to_string());
        }
    }
    assert!(
        !in_ci(),
        "python3 with {modules} is required in CI ({install})"
    );
    eprintln!("skipped: python3 with {modules} not available");
    None
}

/// Asserts that a finished command succeeded, showing its output if not.
pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Python script beside this file (`tests/support/<name>`).
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
}

/// Runs the script `name` of `tests/support` with `py` and arguments and returns
/// its stdout as JSON; fails with its stderr if it fails.
pub fn run_json<A: AsRef<OsStr> + Debug>(py: &str, name: &str, args: &[A]) -> serde_json::Value {
    let out = Command::new(py)
        .arg(script(name))
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name} prints JSON: {e}"))
}

/// Runs tests/support/nibabel_io.py with arguments and returns its stdout as JSON.
pub fn nibabel(py: &str, args: &[&str]) -> serde_json::Value {
    run_json(py, "nibabel_io.py", args)
}
