//! Output planning on the command line: every output of `segment`, `report`, `train`
//! and `eval` is checked before the first write. Each test reproduces a way an
//! output used to land on something it must not (another output, an input, an
//! earlier result, a hand-corrected mask, a folder outside the one asked for) and
//! checks that the command now refuses up front and leaves every file as it was.
//!
//! The volumes are generated (32 × 32 × 2 voxels) and the model is a freshly
//! initialised tiny U-Net, so the runs that do segment take well under a second.

use crate::support;

use lungscope::io::names::{edited_mask_name, model_mask_name};
use lungscope::mask::{INFECTION, LEFT_LUNG, LabelMask, RIGHT_LUNG};
use lungscope::seg::model::Head;
use lungscope::volume::{Geometry, Volume, Voxels};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lungscope(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lungscope"))
        .args(args)
        // A store of model versions of its own, so the user's never matters.
        .env(
            "XDG_DATA_HOME",
            std::env::temp_dir().join("lungscope-no-store"),
        )
        .output()
        .expect("lungscope runs")
}

/// `segment` with the tiny model on the CPU, plus `args`.
fn segment(model: &Path, args: &[&std::ffi::OsStr]) -> Output {
    let mut all: Vec<&std::ffi::OsStr> = vec![
        "segment".as_ref(),
        "--weights".as_ref(),
        model.as_os_str(),
        "--device".as_ref(),
        "cpu".as_ref(),
    ];
    all.extend_from_slice(args);
    lungscope(&all)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes a small CT-like volume (air around a soft-tissue body with two dark
/// "lungs") to `path`.
fn ct(path: &Path) {
    let g = grid();
    let mut hu = vec![-1000i16; g.len()];
    for k in 0..2 {
        for j in 4..28 {
            for i in 2..30 {
                hu[g.index(i, j, k)] = if lung_side(i, j).is_some() { -850 } else { 40 };
            }
        }
    }
    let volume = Volume::new(g, Voxels::I16(hu)).expect("sizes match");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    lungscope::io::write_volume(path, &volume).expect("volume written");
}

/// The grid of [`ct`]: 32 × 32 × 2 voxels of 1 × 1 × 2.5 mm.
fn grid() -> Geometry {
    Geometry::with_signs([32, 32, 2], [1.0, 1.0, 2.5], [-1.0, -1.0, 1.0])
}

/// The lung label of voxel column `(i, j)` of [`ct`], if it is in a lung.
fn lung_side(i: usize, j: usize) -> Option<u8> {
    if !(8..24).contains(&j) {
        None
    } else if (5..14).contains(&i) {
        Some(RIGHT_LUNG)
    } else if (18..27).contains(&i) {
        Some(LEFT_LUNG)
    } else {
        None
    }
}

/// Writes the ground-truth label map of [`ct`] (both lungs, a little infection).
fn labels(path: &Path) {
    let g = grid();
    let mut mask = LabelMask::empty(g.clone());
    for k in 0..2 {
        for j in 0..32 {
            for i in 0..32 {
                if let Some(side) = lung_side(i, j) {
                    mask.labels[g.index(i, j, k)] = if j < 10 { INFECTION } else { side };
                }
            }
        }
    }
    lungscope::io::write_mask(path, &mask, None).expect("mask written");
}

/// Every file under `dir` with its bytes, sorted (to show nothing changed).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("list").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).expect("read");
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

/// A temporary folder holding the tiny model (outside the folders under test).
struct Setup {
    _root: tempfile::TempDir,
    model: PathBuf,
    work: PathBuf,
}

fn setup() -> Setup {
    let root = tempfile::tempdir().expect("temp dir");
    let model = support::seg::tiny_model_file(root.path(), Head::Sigmoid { channels: 2 }, 64);
    let work = root.path().join("work");
    std::fs::create_dir(&work).expect("mkdir");
    Setup {
        _root: root,
        model,
        work,
    }
}

#[test]
fn two_inputs_with_one_name_are_refused_before_any_mask_is_written() {
    let s = setup();
    let (a, b) = (s.work.join("a/x.nii.gz"), s.work.join("b/x.nii.gz"));
    ct(&a);
    ct(&b);
    let before = snapshot(&s.work);
    let o = s.work.join("o");
    let out = segment(
        &s.model,
        &[
            a.as_os_str(),
            b.as_os_str(),
            "--out-dir".as_ref(),
            o.as_os_str(),
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("would be the same file"), "{err}");
    assert!(err.contains("x_seg.nii.gz"), "names the file: {err}");
    assert!(!o.exists(), "not even the output folder is made");
    assert_eq!(snapshot(&s.work), before);

    // With distinct names the same command writes both masks.
    let c = s.work.join("b/y.nii.gz");
    std::fs::rename(&b, &c).expect("rename");
    let out = segment(
        &s.model,
        &[
            a.as_os_str(),
            c.as_os_str(),
            "--out-dir".as_ref(),
            o.as_os_str(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(o.join("x_seg.nii.gz").is_file() && o.join("y_seg.nii.gz").is_file());
}

#[test]
fn an_input_is_never_overwritten_by_an_output() {
    let s = setup();
    let x = s.work.join("x.nii.gz");
    let x_seg = s.work.join(model_mask_name("x"));
    ct(&x);
    ct(&x_seg);
    let before = snapshot(&s.work);
    let out = segment(&s.model, &[x.as_os_str(), x_seg.as_os_str()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("would overwrite an input"), "{err}");
    // The second input is byte-identical and no mask of it was written either.
    assert_eq!(snapshot(&s.work), before);
    assert!(!s.work.join("x_seg_seg.nii.gz").exists());

    // --overwrite does not lift it, nor does --out naming the input itself.
    let out = segment(
        &s.model,
        &[x.as_os_str(), x_seg.as_os_str(), "--overwrite".as_ref()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = segment(
        &s.model,
        &[
            x.as_os_str(),
            "--out".as_ref(),
            x.as_os_str(),
            "--overwrite".as_ref(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(snapshot(&s.work), before);
}

#[test]
fn an_earlier_mask_needs_overwrite_and_a_hand_corrected_one_is_never_replaced() {
    let s = setup();
    let x = s.work.join("x.nii.gz");
    ct(&x);
    let seg = s.work.join(model_mask_name("x"));
    let edited = s.work.join(edited_mask_name("x"));
    std::fs::write(&seg, b"an earlier result").expect("write");
    std::fs::write(&edited, b"hours of hand corrections").expect("write");

    // The viewer's Save mask name is not segment's.
    assert_eq!(
        lungscope::app::edit_guard::default_mask_path(&x),
        edited,
        "Save mask writes <stem>_edited.nii.gz"
    );

    let out = segment(&s.model, &[x.as_os_str()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert!(err.contains("--overwrite"), "says how to replace it: {err}");
    assert!(err.contains(&seg.display().to_string()), "names it: {err}");
    assert_eq!(std::fs::read(&seg).expect("read"), b"an earlier result");

    // With --overwrite the earlier result is replaced by a real mask on the grid.
    let out = segment(&s.model, &[x.as_os_str(), "--overwrite".as_ref()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let grid = lungscope::io::read_volume(&x).expect("ct").geometry;
    lungscope::io::read_mask(&seg, Some(&grid)).expect("the new mask reads on the grid");

    // A hand-corrected mask is never replaced, --overwrite or not.
    for extra in [None, Some("--overwrite")] {
        let mut args = vec![x.as_os_str(), "--out".as_ref(), edited.as_os_str()];
        args.extend(extra.map(std::ffi::OsStr::new));
        let out = segment(&s.model, &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("hand-corrected"), "{err}");
    }
    // A folder of CTs skips it as an input and writes beside it, untouched.
    let out = segment(&s.model, &[s.work.as_os_str(), "--overwrite".as_ref()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&edited).expect("read"),
        b"hours of hand corrections"
    );
    assert!(!s.work.join("x_edited_seg.nii.gz").exists());
}

#[test]
fn a_name_that_is_a_relative_folder_cannot_name_outputs() {
    let s = setup();
    let inside = s.work.join("in");
    let dots = inside.join("..nii.gz");
    ct(&dots);
    let before = snapshot(&s.work);
    // `{stem}` = `..` would put the report at o/r.json's parent: outside o/.
    let report = s.work.join("o/{stem}/r.json");
    let out = segment(
        &s.model,
        &[dots.as_os_str(), "--report".as_ref(), report.as_os_str()],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot name outputs"), "{err}");
    assert_eq!(snapshot(&s.work), before);
    assert!(!s.work.join("r.json").exists() && !s.work.join("o").exists());
}

#[test]
fn a_report_and_the_summary_on_one_file_are_refused() {
    let s = setup();
    let x = s.work.join("x.nii.gz");
    ct(&x);
    let csv = s.work.join("s.csv");
    let before = snapshot(&s.work);
    let out = segment(
        &s.model,
        &[
            x.as_os_str(),
            "--report".as_ref(),
            csv.as_os_str(),
            "--summary".as_ref(),
            csv.as_os_str(),
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("would be the same file"), "{err}");
    assert!(err.contains("the summary"), "{err}");
    assert_eq!(snapshot(&s.work), before, "not even the mask is written");
}

#[test]
fn report_refuses_an_existing_file_without_overwrite_and_one_file_named_twice() {
    let s = setup();
    let x = s.work.join("x.nii.gz");
    ct(&x);
    // A label map with lungs (the untrained test model may find none).
    let seg = s.work.join("x_labels.nii.gz");
    labels(&seg);
    let json = s.work.join("r.json");
    std::fs::write(&json, b"{\"kept\": true}").expect("write");
    let report = |extra: &[&std::ffi::OsStr]| {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "report".as_ref(),
            x.as_os_str(),
            "--seg".as_ref(),
            seg.as_os_str(),
        ];
        args.extend_from_slice(extra);
        lungscope(&args)
    };
    let out = report(&["--out".as_ref(), json.as_os_str()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("already exists") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(std::fs::read(&json).expect("read"), b"{\"kept\": true}");
    // Two spellings of one output are one file.
    let twice = s.work.join("./new.json");
    let out = report(&[
        "--out".as_ref(),
        s.work.join("new.json").as_os_str(),
        "--out".as_ref(),
        twice.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!s.work.join("new.json").exists());
    // --overwrite replaces the earlier report.
    let out = report(&["--out".as_ref(), json.as_os_str(), "--overwrite".as_ref()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(std::fs::read(&json).expect("read"), b"{\"kept\": true}");
}

#[test]
fn train_refuses_a_folder_holding_an_earlier_run() {
    let s = setup();
    let data = s.work.join("data");
    std::fs::create_dir(&data).expect("mkdir");
    let run = s.work.join("run");
    std::fs::create_dir(&run).expect("mkdir");
    let best = run.join("best.lsm");
    std::fs::copy(&s.model, &best).expect("copy");
    let before = snapshot(&s.work);
    let out = lungscope(&[
        "train".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--out".as_ref(),
        run.as_os_str(),
        "--device".as_ref(),
        "cpu".as_ref(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("best.lsm") && err.contains("--overwrite"),
        "{err}"
    );
    assert!(
        !err.contains("device:"),
        "refused before training starts: {err}"
    );
    assert_eq!(snapshot(&s.work), before);

    // A run folder inside the data is refused even with --overwrite.
    let out = lungscope(&[
        "train".as_ref(),
        "--data".as_ref(),
        s.work.as_os_str(),
        "--out".as_ref(),
        run.as_os_str(),
        "--overwrite".as_ref(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("inside the input"), "{err}");
    assert_eq!(snapshot(&s.work), before);
}

#[test]
fn eval_refuses_an_existing_json_and_warns_about_a_damaged_model_choice() {
    let s = setup();
    let data = s.work.join("data");
    std::fs::create_dir(&data).expect("mkdir");
    let json = s.work.join("eval.json");
    std::fs::write(&json, b"{}").expect("write");
    let out = lungscope(&[
        "eval".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--json".as_ref(),
        json.as_os_str(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("already exists") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(std::fs::read(&json).expect("read"), b"{}");

    // A damaged active.json is named on stderr, not passed over in silence.
    let xdg = s.work.join("xdg");
    let active = xdg.join("lungscope/models/active.json");
    std::fs::create_dir_all(active.parent().expect("parent")).expect("mkdir");
    std::fs::write(&active, b"{ not json").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_lungscope"))
        .args(["eval", "--device", "cpu", "--data"])
        .arg(&data)
        .env("XDG_DATA_HOME", &xdg)
        .output()
        .expect("lungscope runs");
    let err = stderr(&out);
    assert!(
        err.lines()
            .any(|l| l.starts_with("warning:") && l.contains("active.json")),
        "{err}"
    );
}

#[test]
fn bench_load_never_touches_a_file_in_its_write_folder() {
    let s = setup();
    let x = s.work.join("x.nii.gz");
    ct(&x);
    let dir = s.work.join("disk");
    std::fs::create_dir(&dir).expect("mkdir");
    // A user's file with the name the benchmark once wrote and deleted.
    std::fs::write(dir.join("bench_mask.nii.gz"), b"a user's mask").expect("write");
    let before = snapshot(&s.work);
    let out = lungscope(&[
        "bench-load".as_ref(),
        x.as_os_str(),
        "--repeat".as_ref(),
        "1".as_ref(),
        "--write-dir".as_ref(),
        dir.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        result["mask_file_bytes"].as_u64().is_some_and(|b| b > 0),
        "the mask was written: {result}"
    );
    // Same files, same bytes, no scratch folder left behind.
    assert_eq!(snapshot(&s.work), before);
    assert_eq!(std::fs::read_dir(&dir).expect("list").count(), 1);
}
