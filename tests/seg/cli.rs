//! `lungscope segment` end to end on a real shared volume: the label map it
//! writes is read back with nibabel on the source grid.

use crate::support;

use lungscope::seg::model::Head;
use std::path::Path;
use std::process::Command;

fn lungscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lungscope"))
}

/// Runs python3 + nibabel on `script`; `None` when they are missing here.
fn nibabel(script: &str, args: &[&Path]) -> Option<String> {
    let probe = Command::new("python3")
        .args(["-c", "import nibabel"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        _ => {
            eprintln!("python3 with nibabel not found; skipping the nibabel check (CI has it)");
            return None;
        }
    }
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "nibabel check failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

const CHECK: &str = r#"
import sys, nibabel as nib, numpy as np
src, seg = nib.load(sys.argv[1]), nib.load(sys.argv[2])
lab = np.asanyarray(seg.dataobj)
assert seg.shape == src.shape[:3], (seg.shape, src.shape)
assert np.allclose(seg.affine, src.affine, atol=1e-4), (seg.affine, src.affine)
assert lab.dtype == np.uint8, lab.dtype
assert set(np.unique(lab).tolist()) <= {0, 1, 2, 3}, np.unique(lab)
print("ok", seg.shape, sorted(np.unique(lab).tolist()))
"#;

#[test]
fn segment_writes_a_label_map_that_nibabel_reads_on_the_source_grid() {
    let Some(input) = support::data::small_real_volume() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let model = support::seg::tiny_model_file(dir.path(), Head::Sigmoid { channels: 2 }, 64);
    let out_dir = dir.path().join("out");
    let bad = dir.path().join("broken.nii.gz");
    std::fs::write(&bad, b"not a nifti file").expect("write");
    let out = lungscope()
        .arg("segment")
        .arg(&bad)
        .arg(&input)
        .arg("--weights")
        .arg(&model)
        .args(["--device", "cpu", "--batch", "4"])
        .arg("--out-dir")
        .arg(&out_dir)
        .output()
        .expect("lungscope runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The bad file is reported and makes the exit code non-zero; the good one is still done.
    assert!(!out.status.success(), "a failed input must fail the run");
    assert!(stderr.contains("broken.nii.gz"), "{stderr}");
    let written = out_dir.join("radiopaedia_group_R06_ct_seg.nii.gz");
    assert!(written.is_file(), "no output; stderr:\n{stderr}");
    assert!(
        stderr.contains("inference engine: lungscope CPU engine"),
        "{stderr}"
    );

    // burn's flex backend (--cpu-engine flex) writes the same labels.
    let flex_dir = dir.path().join("flex");
    let flex = lungscope()
        .arg("segment")
        .arg(&input)
        .arg("--weights")
        .arg(&model)
        .args(["--device", "cpu", "--cpu-engine", "flex", "--out-dir"])
        .arg(&flex_dir)
        .output()
        .expect("lungscope runs");
    assert!(
        flex.status.success(),
        "{}",
        String::from_utf8_lossy(&flex.stderr)
    );
    assert!(String::from_utf8_lossy(&flex.stderr).contains("inference engine: burn flex backend"));
    let a = lungscope::io::read_mask(&written, None).expect("engine output");
    let b = lungscope::io::read_mask(&flex_dir.join("radiopaedia_group_R06_ct_seg.nii.gz"), None)
        .expect("flex output");
    let differ = a
        .labels
        .iter()
        .zip(&b.labels)
        .filter(|(x, y)| x != y)
        .count();
    assert!(differ * 10_000 <= a.labels.len(), "{differ} labels differ");

    // Our own reader agrees on the grid.
    let vol = lungscope::io::read_volume(&input).expect("input reads");
    let mask =
        lungscope::io::read_mask(&written, Some(&vol.geometry)).expect("mask on the source grid");
    assert!(mask.labels.iter().all(|&l| l <= 3));

    if let Some(text) = nibabel(CHECK, &[&input, &written]) {
        assert!(text.starts_with("ok"), "{text}");
    }
}

#[test]
fn segment_without_weights_says_that_no_model_is_shipped() {
    if lungscope::seg::model::weights::has_default_model() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("x.nii.gz");
    std::fs::write(&input, b"x").expect("write");
    let out = lungscope()
        .args(["segment", "--device", "cpu"])
        .arg(&input)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no default model"), "{stderr}");
    assert!(stderr.contains("--weights"), "{stderr}");
}

#[test]
fn segment_refuses_out_with_several_inputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (dir.path().join("a.nii"), dir.path().join("b.nii"));
    for p in [&a, &b] {
        std::fs::write(p, b"x").expect("write");
    }
    let out = lungscope()
        .arg("segment")
        .arg(&a)
        .arg(&b)
        .arg("--out")
        .arg(dir.path().join("o.nii.gz"))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--out-dir"));
}

/// A final model trained on every patient (`--val-data` the training folder) has
/// no held-out patients: `train` says so, and so does the card of the model it
/// writes, instead of passing training fit off as validation.
#[test]
fn train_on_every_patient_marks_the_validation_as_training_fit() {
    use lungscope::io::{write_mask, write_volume};
    use lungscope::mask::{INFECTION, LEFT_LUNG, LabelMask};
    use lungscope::volume::{Geometry, Volume, Voxels};
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    let g = Geometry::with_signs([32, 32, 2], [1.0; 3], [-1.0, -1.0, 1.0]);
    for case in ["a", "b"] {
        let mut hu = vec![40i16; g.len()];
        let mut lung = vec![0u8; g.len()];
        let mut inf = vec![0u8; g.len()];
        for k in 0..2 {
            for j in 8..24 {
                for i in 6..26 {
                    let v = g.index(i, j, k);
                    hu[v] = -850;
                    lung[v] = LEFT_LUNG;
                    if i < 10 {
                        hu[v] = -500;
                        inf[v] = INFECTION;
                    }
                }
            }
        }
        let ct = Volume::new(g.clone(), Voxels::I16(hu)).expect("sizes");
        write_volume(&data.join(format!("{case}_ct.nii.gz")), &ct).expect("ct");
        let lung = LabelMask::new(g.clone(), lung).expect("sizes");
        write_mask(&data.join(format!("{case}_lung.nii.gz")), &lung, None).expect("lung");
        let inf = LabelMask::new(g.clone(), inf).expect("sizes");
        write_mask(&data.join(format!("{case}_infection.nii.gz")), &inf, None).expect("inf");
    }
    let run = dir.path().join("run");
    let out = lungscope()
        .args(["train", "--data"])
        .arg(&data)
        .arg("--val-data")
        .arg(&data)
        .args([
            "--epochs",
            "1",
            "--batch-size",
            "2",
            "--size",
            "32",
            "--base",
            "2",
            "--depth",
            "1",
            "--device",
            "cpu",
            "--no-augment",
            "--out",
        ])
        .arg(&run)
        .output()
        .expect("lungscope runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("training fit, not a held-out estimate"),
        "{err}"
    );
    let (_, card) = lungscope::seg::model::weights::read_card(&run.join("last.lsm"))
        .expect("the run's model file");
    assert!(
        card.recipe.contains("no held-out patients"),
        "{}",
        card.recipe
    );
    assert!(
        !card.recipe.contains("patient-level split"),
        "{}",
        card.recipe
    );
}
