//! Report building and the JSON / CSV / HTML / PDF writers.

use crate::support;

use lungscope::analysis::{Segmentation, SplitOptions};
use lungscope::io::{read_mask, read_volume, write_volume};
use lungscope::report::base64_bytes::decode;
use lungscope::report::csv::append_csv_row;
use lungscope::report::{
    FileStamp, Format, Provenance, Report, ReportError, SegmentationSource, csv_document,
    write_report,
};
use std::path::{Path, PathBuf};
use support::analysis::Phantom;

/// A report on the phantom, whose CT is written to `dir` first (so it has a file).
fn phantom_report(dir: &Path, signs: [f64; 3]) -> (Report, PathBuf) {
    let p = Phantom::new(signs);
    let ct = dir.join("phantom_ct.nii");
    write_volume(&ct, &p.volume).expect("write phantom");
    let volume = read_volume(&ct).expect("read phantom");
    let seg = Segmentation::from_label_map(&p.labels, &SplitOptions::default()).expect("seg");
    let prov = Provenance::new(
        FileStamp::of(&ct).expect("hash"),
        SegmentationSource::Model {
            id: "test-model v0".into(),
            weights_sha256: "00".repeat(32),
        },
        "none",
    )
    .threshold("infection_probability", 0.5);
    let r = Report::from_segmentation(&volume, &seg, None, prov).expect("report");
    (r, ct)
}

/// Equal reports: every field identical, floats to within a few units in the last
/// place (serde_json's default float parser may be off by one ulp; the text
/// holds the shortest exact representation, see the Python check).
fn same_report(a: &Report, b: &Report) {
    fn walk(a: &serde_json::Value, b: &serde_json::Value, path: &str) {
        use serde_json::Value as V;
        match (a, b) {
            (V::Number(x), V::Number(y)) if x.is_f64() || y.is_f64() => {
                let (x, y) = (x.as_f64().expect("f64"), y.as_f64().expect("f64"));
                assert!(
                    (x - y).abs() <= 1e-14 * x.abs().max(y.abs()),
                    "{path}: {x} vs {y}"
                );
            }
            (V::Array(x), V::Array(y)) => {
                assert_eq!(x.len(), y.len(), "{path}");
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    walk(p, q, &format!("{path}[{i}]"));
                }
            }
            (V::Object(x), V::Object(y)) => {
                assert_eq!(
                    x.keys().collect::<Vec<_>>(),
                    y.keys().collect::<Vec<_>>(),
                    "{path}"
                );
                for (k, p) in x {
                    walk(p, &y[k], &format!("{path}.{k}"));
                }
            }
            _ => assert_eq!(a, b, "{path}"),
        }
    }
    let va = serde_json::to_value(a).expect("value");
    let vb = serde_json::to_value(b).expect("value");
    walk(&va, &vb, "report");
    assert_eq!(
        a.key_slices.iter().map(|k| &k.png).collect::<Vec<_>>(),
        b.key_slices.iter().map(|k| &k.png).collect::<Vec<_>>()
    );
}

#[test]
fn json_round_trips() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, _) = phantom_report(dir.path(), [-1.0, -1.0, 1.0]);
    assert_eq!(r.schema_version, lungscope::report::SCHEMA_VERSION);
    assert_eq!(r.key_slices.len(), 3);
    let text = r.to_json().expect("json");
    let back = Report::from_json(&text).expect("parse");
    same_report(&back, &r);
    // Written to a file, it reads back the same too.
    let out = dir.path().join("r.json");
    write_report(&r, &out, &[]).expect("write");
    let again = Report::from_json(&std::fs::read_to_string(&out).expect("read")).expect("parse");
    same_report(&again, &r);
    // Python's json module (a correctly rounding parser) reads every number exactly.
    let script = "import json,sys; r=json.load(open(sys.argv[1])); \
                  print(repr(r['analysis']['quantities']['left']['lung_ml']))";
    let py = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&out)
        .output();
    if let Ok(o) = py
        && o.status.success()
    {
        let v: f64 = String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse()
            .expect("float");
        assert_eq!(v, r.analysis.quantities.left.lung_ml);
    }
    // Patient-free header: the file name only, no folders.
    assert_eq!(r.header.file_name, "phantom_ct.nii");
    assert!(!text.contains(&dir.path().to_string_lossy().to_string()));
}

#[test]
fn csv_has_one_row_per_study() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, _) = phantom_report(dir.path(), [1.0, 1.0, 1.0]);
    let (b, _) = phantom_report(dir.path(), [-1.0, -1.0, 1.0]);
    let doc = csv_document(&[a.clone(), b.clone()]);
    let lines: Vec<&str> = doc.lines().collect();
    assert_eq!(lines.len(), 3, "header + 2 rows");
    let cols = |l: &str| l.split(',').count();
    assert_eq!(cols(lines[1]), cols(lines[0]));
    assert_eq!(cols(lines[2]), cols(lines[0]));
    let header: Vec<&str> = lines[0].split(',').collect();
    let pct = header
        .iter()
        .position(|&h| h == "total_infection_percent")
        .expect("column");
    let value: f64 = lines[1]
        .split(',')
        .nth(pct)
        .expect("cell")
        .parse()
        .expect("number");
    assert_eq!(value, a.analysis.quantities.total.infection_percent);

    // Batch: rows appended one study at a time, header once.
    let out = dir.path().join("batch.csv");
    append_csv_row(&out, &a, &[]).expect("first row");
    append_csv_row(&out, &b, &[]).expect("second row");
    let text = std::fs::read_to_string(&out).expect("read");
    assert_eq!(text.lines().count(), 3);
    assert_eq!(text.lines().next(), Some(lines[0]));
    // A CSV with other columns is refused and left as it was.
    let foreign = dir.path().join("other.csv");
    std::fs::write(&foreign, "a,b\n1,2\n").expect("write");
    assert!(matches!(
        append_csv_row(&foreign, &a, &[]),
        Err(ReportError::CsvHeaderMismatch { .. })
    ));
    assert_eq!(
        std::fs::read_to_string(&foreign).expect("read"),
        "a,b\n1,2\n"
    );
}

#[test]
fn html_is_self_contained_with_the_key_slices() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, _) = phantom_report(dir.path(), [-1.0, -1.0, 1.0]);
    let out = dir.path().join("r.html");
    write_report(&r, &out, &[]).expect("write");
    let html = std::fs::read_to_string(&out).expect("read");
    let prefix = "src=\"data:image/png;base64,";
    let images: Vec<&str> = html
        .split(prefix)
        .skip(1)
        .map(|s| s.split('"').next().expect("closing quote"))
        .collect();
    assert_eq!(images.len(), r.key_slices.len());
    for (b64, k) in images.iter().zip(&r.key_slices) {
        let png = decode(b64).expect("base64");
        assert_eq!(png, k.png);
        let img = image::load_from_memory(&png).expect("PNG decodes");
        assert_eq!(img.width() as usize, k.width);
    }
    // No external resources.
    assert!(!html.contains("http:") && !html.contains("https:"));
    // The figures and the stamp are there.
    let pct = format!("{:.2}", r.analysis.quantities.total.infection_percent);
    assert!(html.contains(&pct), "infection % {pct}");
    assert!(html.contains("<svg"), "HU histogram");
    assert!(html.contains(&r.provenance.input.sha256));
    assert!(html.contains("test-model v0"));
}

/// Checks the cross-reference table: every in-use entry points at its object.
fn check_pdf_structure(pdf: &[u8]) -> usize {
    assert!(pdf.starts_with(b"%PDF-1."), "header");
    let tail = String::from_utf8_lossy(&pdf[pdf.len().saturating_sub(64)..]).to_string();
    assert!(tail.trim_end().ends_with("%%EOF"), "trailer");
    let sx = tail.rfind("startxref").expect("startxref");
    let offset: usize = tail[sx + 9..]
        .split_whitespace()
        .next()
        .expect("offset")
        .parse()
        .expect("number");
    let xref = String::from_utf8_lossy(&pdf[offset..]).to_string();
    assert!(
        xref.starts_with("xref"),
        "startxref points at the xref table"
    );
    let mut lines = xref.lines().skip(1);
    let head: Vec<usize> = lines
        .next()
        .expect("subsection")
        .split_whitespace()
        .map(|n| n.parse().expect("number"))
        .collect();
    let (first, count) = (head[0], head[1]);
    let mut objects = 0;
    for (n, line) in lines.take(count).enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f[2] == "n" {
            let at: usize = f[0].parse().expect("offset");
            let want = format!("{} 0 obj", first + n);
            assert!(
                pdf[at..].starts_with(want.as_bytes()),
                "object {want} at {at}"
            );
            objects += 1;
        }
    }
    objects
}

#[test]
fn pdf_is_valid_and_renders() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, _) = phantom_report(dir.path(), [-1.0, -1.0, 1.0]);
    let out = dir.path().join("r.pdf");
    write_report(&r, &out, &[]).expect("write");
    let pdf = std::fs::read(&out).expect("read");
    let objects = check_pdf_structure(&pdf);
    assert!(objects >= 5 + r.key_slices.len());
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains("/BaseFont /Helvetica"));
    assert_eq!(text.matches("/Subtype /Image").count(), r.key_slices.len());
    let pages = text.matches("/Type /Page\n").count() + text.matches("/Type /Page ").count();
    assert!(pages >= 1, "at least one page");

    // Render page 1 with poppler when it is installed (CI installs poppler-utils).
    let have = std::process::Command::new("pdftoppm")
        .arg("-v")
        .output()
        .is_ok();
    if !have {
        assert!(!support::data::in_ci(), "pdftoppm missing in CI");
        eprintln!("skipped rendering: pdftoppm not installed");
        return;
    }
    let prefix = dir.path().join("page");
    let status = std::process::Command::new("pdftoppm")
        .args(["-r", "40", "-f", "1", "-l", "1", "-png"])
        .arg(&out)
        .arg(&prefix)
        .status()
        .expect("run pdftoppm");
    assert!(status.success(), "pdftoppm accepts the file");
    let png = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("page"))
        })
        .expect("rendered page");
    let img = image::open(&png).expect("PNG").to_rgb8();
    let dark = img
        .pixels()
        .filter(|p| p.0.iter().any(|&c| c < 128))
        .count();
    let frac = dark as f64 / (img.width() * img.height()) as f64;
    assert!(frac > 0.005, "page 1 is not blank ({frac})");
}

#[test]
fn writers_refuse_inputs_and_unknown_formats() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, ct) = phantom_report(dir.path(), [-1.0, -1.0, 1.0]);
    let before = std::fs::read(&ct).expect("read");
    assert!(matches!(
        write_report(&r, &ct, &[&ct]),
        Err(ReportError::UnknownFormat { .. }) | Err(ReportError::WouldOverwriteInput { .. })
    ));
    // An input named like a report is protected too.
    let fake_input = dir.path().join("input.json");
    std::fs::write(&fake_input, b"{}").expect("write");
    assert!(matches!(
        write_report(&r, &fake_input, &[&fake_input]),
        Err(ReportError::WouldOverwriteInput { .. })
    ));
    assert_eq!(std::fs::read(&fake_input).expect("read"), b"{}");
    assert_eq!(std::fs::read(&ct).expect("read"), before);
    assert!(matches!(
        Format::from_path(Path::new("x.docx")),
        Err(ReportError::UnknownFormat { .. })
    ));
    // Nothing half-written is left behind by a failed write.
    assert!(write_report(&r, &dir.path().join("missing/r.pdf"), &[]).is_err());
    let leftovers = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn report_on_a_real_volume_gives_the_ground_truth() {
    let Some(vdir) = support::data::volumes_dir() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    for case in support::data::cases_csv(&vdir)
        .iter()
        .filter(|c| ["coronacases_003", "radiopaedia_group_R09"].contains(&c["case"].as_str()))
    {
        let name = &case["case"];
        let ct = vdir.join(format!("{name}_ct.nii.gz"));
        let volume = read_volume(&ct).expect("ct");
        let g = Some(&volume.geometry);
        let lung_p = vdir.join(format!("{name}_lung.nii.gz"));
        let inf_p = vdir.join(format!("{name}_infection.nii.gz"));
        let lung = read_mask(&lung_p, g).expect("lung");
        let inf = read_mask(&inf_p, g).expect("infection");
        let seg = Segmentation::from_masks(&lung, &inf, &SplitOptions::default()).expect("seg");
        let prov = Provenance::new(
            FileStamp::of(&ct).expect("hash"),
            SegmentationSource::UserMasks,
            "none",
        );
        let r = Report::from_segmentation(&volume, &seg, None, prov).expect("report");
        let out = dir.path().join(format!("{name}.json"));
        write_report(&r, &out, &[&ct, &lung_p, &inf_p]).expect("write");
        let back = Report::from_json(&std::fs::read_to_string(&out).expect("read")).expect("json");
        let truth: f64 = case["infection_percent_of_lung"].parse().expect("percent");
        let got = back.analysis.quantities.total.infection_percent;
        assert!((got - truth).abs() <= 0.01, "{name}: {got} vs {truth}");
        assert!(!back.key_slices.is_empty());
        let html = lungscope::report::html::html(&back);
        assert!(html.contains(&format!("{got:.2}")));
    }
}
