//! `lungscope report` end to end on the shared volumes.

use crate::support;

use lungscope::io::{read_mask, write_mask};
use lungscope::mask::LabelMask;
use lungscope::report::Report;
use std::path::Path;
use std::process::{Command, Output};

fn lungscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lungscope"))
        .args(args)
        .output()
        .expect("run lungscope")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn report_command_writes_every_format() {
    let Some(vdir) = support::data::volumes_dir() else {
        return;
    };
    let case = "radiopaedia_group_R06";
    let truth: f64 = support::data::cases_csv(&vdir)
        .iter()
        .find(|c| c["case"] == case)
        .expect("case row")["infection_percent_of_lung"]
        .parse()
        .expect("percent");
    let ct = vdir.join(format!("{case}_ct.nii.gz"));
    let lung = vdir.join(format!("{case}_lung.nii.gz"));
    let inf = vdir.join(format!("{case}_infection.nii.gz"));
    let dir = tempfile::tempdir().expect("temp dir");
    let outs: Vec<_> = ["json", "csv", "html", "pdf"]
        .iter()
        .map(|e| dir.path().join(format!("r.{e}")))
        .collect();
    let mut args = vec!["report", s(&ct), "--lung", s(&lung), "--infection", s(&inf)];
    for o in &outs {
        args.extend(["--out", s(o)]);
    }
    let o = lungscope(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for p in &outs {
        assert!(p.metadata().expect("written").len() > 0, "{}", p.display());
    }
    let r = Report::from_json(&std::fs::read_to_string(&outs[0]).expect("json")).expect("parse");
    let got = r.analysis.quantities.total.infection_percent;
    assert!((got - truth).abs() <= 0.01, "{got} vs {truth}");
    assert_eq!(r.provenance.mask_files.len(), 2);
    assert_eq!(
        std::fs::read_to_string(&outs[1])
            .expect("csv")
            .lines()
            .count(),
        2
    );

    // The same study from a combined label map gives the same lung split figures.
    let g = lungscope::io::read_volume(&ct).expect("ct").geometry;
    let map = LabelMask::combine(
        &read_mask(&lung, Some(&g)).expect("lung"),
        &read_mask(&inf, Some(&g)).expect("inf"),
    )
    .expect("combine");
    let seg = dir.path().join("seg.nii.gz");
    write_mask(&seg, &map, None).expect("write label map");
    let json = dir.path().join("seg.json");
    let o = lungscope(&["report", s(&ct), "--seg", s(&seg), "-o", s(&json)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r2 = Report::from_json(&std::fs::read_to_string(&json).expect("json")).expect("parse");
    assert_eq!(
        r2.analysis.quantities.total.infected_voxels,
        r.analysis.quantities.total.infected_voxels
            + r.analysis.notes.infection_outside_lung_voxels
    );
}

#[test]
fn report_command_refuses_bad_requests() {
    let Some(vdir) = support::data::volumes_dir() else {
        return;
    };
    let ct = vdir.join("radiopaedia_group_R06_ct.nii.gz");
    let inf = vdir.join("radiopaedia_group_R06_infection.nii.gz");
    // A lung mask from another case: 33 slices instead of 9.
    let other = vdir.join("radiopaedia_group_R03_lung.nii.gz");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("r.json");

    let o = lungscope(&[
        "report",
        s(&ct),
        "--lung",
        s(&other),
        "--infection",
        s(&inf),
        "-o",
        s(&out),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("grid") && err.contains("R03_lung"), "{err}");
    assert!(!out.exists(), "nothing is written on error");

    let o = lungscope(&[
        "report",
        s(&ct),
        "--seg",
        s(&inf),
        "-o",
        s(&dir.path().join("r.txt")),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown report format"));

    // Writing over an input is refused (here an input with a report extension).
    let fake = dir.path().join("labels.json");
    std::fs::copy(&inf, &fake).expect("copy");
    let o = lungscope(&["report", s(&ct), "--seg", s(&fake), "-o", s(&fake)]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("refusing"));

    // --lung without --infection is a usage error.
    let o = lungscope(&["report", s(&ct), "--lung", s(&inf), "-o", s(&out)]);
    assert!(!o.status.success());
}
