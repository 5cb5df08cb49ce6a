//! `lungscope segment --report/--summary` over a batch: two real volumes and one
//! corrupt file. The corrupt file is reported and skipped; each good study gets its
//! reports and one summary row; the reports carry the model's stamp.

use crate::support;

use lungscope::seg::model::Head;
use lungscope::seg::model::weights;
use std::path::PathBuf;
use std::process::Command;
use support::data::csv_rows;

fn lungscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lungscope"))
}

fn volume(name: &str) -> Option<PathBuf> {
    let p = support::data::volumes_dir()?.join(name);
    p.is_file().then_some(p)
}

#[test]
fn batch_writes_reports_and_one_summary_row_per_good_study() {
    let (Some(r06), Some(r07)) = (
        volume("radiopaedia_group_R06_ct.nii.gz"),
        volume("radiopaedia_group_R07_ct.nii.gz"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let model = support::seg::tiny_model_file(dir.path(), Head::Sigmoid { channels: 2 }, 64);
    let sha = weights::load_file(&model, &burn::tensor::Device::flex())
        .expect("model loads")
        .weights_sha256;
    let bad = dir.path().join("corrupt_ct.nii.gz");
    std::fs::write(&bad, b"\x1f\x8b this is not a gzip stream").expect("write");
    let out = dir.path().join("out");
    let summary = out.join("summary.csv");
    let run = lungscope()
        .arg("segment")
        .arg(&r06)
        .arg(&bad)
        .arg(&r07)
        .arg("--weights")
        .arg(&model)
        // An untrained network: a low threshold makes sure some lung is found.
        .args(["--device", "cpu", "--threshold", "0.05", "--out-dir"])
        .arg(&out)
        .arg("--report")
        .arg(out.join("reports/{stem}.json"))
        .arg("--report")
        .arg(out.join("reports/{stem}.html"))
        .arg("--summary")
        .arg(&summary)
        .output()
        .expect("lungscope runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(!run.status.success(), "a corrupt input fails the run");
    assert!(
        stderr.contains("error:") && stderr.contains("corrupt_ct.nii.gz"),
        "the corrupt file is reported by name:\n{stderr}"
    );
    assert!(stderr.contains("1 input(s) failed"), "{stderr}");

    let rows = csv_rows(&summary);
    let names: Vec<&str> = rows.iter().map(|r| r["file_name"].as_str()).collect();
    assert_eq!(
        names,
        vec![
            "radiopaedia_group_R06_ct.nii.gz",
            "radiopaedia_group_R07_ct.nii.gz"
        ],
        "one row per good study, in input order\n{stdout}\n{stderr}"
    );
    for (row, input) in rows.iter().zip([&r06, &r07]) {
        let stem = lungscope::cli::segment::nifti_stem(input);
        let json = out.join(format!("reports/{stem}.json"));
        assert!(out.join(format!("reports/{stem}.html")).is_file());
        let report = lungscope::report::Report::from_json(
            &std::fs::read_to_string(&json).expect("json report"),
        )
        .expect("report parses");
        // The summary row and the report hold the same figures.
        let pct: f64 = row["total_infection_percent"].parse().expect("number");
        assert_eq!(
            pct, report.analysis.quantities.total.infection_percent,
            "{stem}"
        );
        assert!(report.analysis.quantities.total.lung_voxels > 0);
        match &report.provenance.segmentation {
            lungscope::report::SegmentationSource::Model { id, weights_sha256 } => {
                assert_eq!(id, "test-tiny-untrained");
                assert_eq!(weights_sha256, &sha);
            }
            other => panic!("expected the model's stamp, got {other:?}"),
        }
        assert_eq!(
            report.provenance.input.sha256,
            lungscope::fsutil::sha256_file(input).expect("hash")
        );
        assert!(report.provenance.preprocessing.contains("64x64 px"));
        assert!(
            out.join(format!("{stem}_seg.nii.gz")).is_file(),
            "the label map is written too"
        );
    }
    assert!(
        stdout.contains("summary: 2 row(s)"),
        "the run says where the summary is:\n{stdout}"
    );
}

#[test]
fn one_report_path_for_several_inputs_is_refused_before_any_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let run = lungscope()
        .args(["segment", "a.nii.gz", "b.nii.gz", "--device", "cpu"])
        .arg("--out-dir")
        .arg(&out)
        .arg("--report")
        .arg(dir.path().join("report.pdf"))
        .output()
        .expect("lungscope runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("{stem}"), "{stderr}");
    assert!(!out.exists(), "nothing is created before the check");
}
