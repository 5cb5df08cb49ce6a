//! Helpers shared by the integration tests: where the shared data is, and whether
//! python3 with nibabel is available (CI installs it; locally a test may skip).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// True when running under CI (`CI` set), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// The shared data folder: `$LUNGSCOPE_DATA`, `../shared/data` next to the
/// checkout, or `/work/shared/data`. `None` (a skip) outside CI if none exists.
pub fn data_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("LUNGSCOPE_DATA").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data")),
        Some(PathBuf::from("/work/shared/data")),
    ];
    let found = candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("covid19_ct_seg_zenodo3757476_volumes").is_dir());
    if found.is_none() {
        assert!(
            !in_ci(),
            "shared data not found: set LUNGSCOPE_DATA to the folder holding covid19_ct_seg_zenodo3757476_volumes"
        );
        eprintln!("skipped: shared data not found (set LUNGSCOPE_DATA)");
    }
    found
}

/// The Zenodo volumes folder.
pub fn volumes_dir() -> Option<PathBuf> {
    data_dir().map(|d| d.join("covid19_ct_seg_zenodo3757476_volumes"))
}

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

/// Runs tests/support/nibabel_io.py with arguments and returns its stdout as JSON.
pub fn nibabel(py: &str, args: &[&str]) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/nibabel_io.py");
    let out = Command::new(py)
        .arg(&script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "nibabel_io.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("nibabel_io.py prints JSON")
}

/// Reads cases.csv of the Zenodo volumes as (case, column -> value) rows.
pub fn cases_csv(dir: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("cases.csv")).expect("cases.csv readable");
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header row")
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}
