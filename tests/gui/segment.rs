//! Segmentation, models, the report panel and exports in the real app (egui_kittest
//! with the wgpu renderer, lavapipe in CI): a freshly initialised tiny model on a
//! real 9-slice volume fills the overlay slice by slice and Cancel keeps the
//! previous mask; the report panel shows the ground-truth infection % of
//! `cases.csv`; exports land next to the source and never over it; the models
//! window switches versions.
#![cfg(feature = "gui")]

use crate::support;

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use lungscope::app::segment::SegCommand;
use lungscope::app::{LungscopeApp, NoticeKind};
use lungscope::seg::device::BackendKind;
use lungscope::seg::model::weights::{self, ModelCard};
use lungscope::seg::model::{Head, ModelConfig};
use lungscope::seg::store::ModelStore;
use lungscope::volume::View;
use std::path::{Path, PathBuf};
use support::gui::{axial_labels, drop_files, harness, seg, step_until, texts, wait_idle};
use support::seg::model_file;

const CASE: &str = "radiopaedia_group_R06";

#[test]
fn segment_fills_the_overlay_slice_by_slice_and_cancel_keeps_the_previous_mask() {
    let Some(ct) = support::data::small_real_volume() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = harness(dir.path());
    drop_files(&mut h, &[ct]);

    if weights::has_default_model() {
        // The built-in model is loaded at start and Segment is ready.
        wait_idle(&mut h);
        let active = active_id(&h);
        assert!(
            active
                .as_deref()
                .is_some_and(|id| id.starts_with("lungscope-")),
            "the default model is active at start: {active:?}"
        );
        assert!(!h.get_by_label("Segment").accesskit_node().is_disabled());
    } else {
        // No default model ships and no version is stored: Segment is disabled and says why.
        assert!(
            h.query_by_label_contains("No default model shipped; load weights from a file")
                .is_some(),
            "the missing default model is explained"
        );
        assert!(h.get_by_label("Segment").accesskit_node().is_disabled());
    }

    // A tiny untrained model from a file; a low threshold so some lung is found.
    let fast = support::seg::tiny_model_file(dir.path(), Head::Sigmoid { channels: 2 }, 64);
    seg(&mut h, SegCommand::LoadModelFile(fast.clone()));
    seg(&mut h, SegCommand::SetThreshold(0.05));
    wait_idle(&mut h);
    let sha = {
        let active = h.state().state().seg.models.active().expect("model loaded");
        assert_eq!(active.model.id, "test-tiny-untrained");
        assert_eq!(active.device.kind, BackendKind::Cpu);
        active.model.weights_sha256.clone()
    };
    assert!(!h.get_by_label("Segment").accesskit_node().is_disabled());
    h.get_by_label("Segment").click();
    h.step();
    h.step();
    assert!(
        h.state().state().is_segmenting() || h.state().state().seg.result().is_some(),
        "the click started the segmentation"
    );
    wait_idle(&mut h);
    let (previous, first_figures) = {
        let state = h.state().state();
        assert!(
            !texts(&h).iter().any(|t| t.contains("failed")),
            "{:?}",
            texts(&h)
        );
        assert_eq!(
            state.doc.layers.len(),
            1,
            "previews replaced by one result layer"
        );
        let layer = state.segmentation_layer().expect("result layer");
        assert_eq!(
            state.doc.layers[layer].name,
            "Segmentation (test-tiny-untrained)"
        );
        let mask = state.doc.layers[layer].mask.clone();
        assert!(mask.labels.iter().all(|&l| l <= 3));
        assert!(
            mask.labels.iter().any(|&l| l != 0),
            "the label map has lung (an untrained network may call all of it infection)"
        );
        let figures = state.current_figures().expect("figures of the result");
        let lung = mask.labels.iter().filter(|&&l| l != 0).count() as u64;
        assert_eq!(figures.analysis.quantities.total.lung_voxels, lung);
        (mask, figures.analysis.quantities.total.infection_percent)
    };
    let shown = format!("Infection {first_figures:.2} % of lung");
    assert!(h.query_by_label(&shown).is_some(), "report shows {shown}");

    // The report export names the model and its weights.
    let json = dir.path().join("seg_report.json");
    seg(&mut h, SegCommand::ExportReport(json.clone()));
    wait_idle(&mut h);
    let report = lungscope::report::Report::from_json(
        &std::fs::read_to_string(&json).expect("report written"),
    )
    .expect("report parses");
    match &report.provenance.segmentation {
        lungscope::report::SegmentationSource::Model { id, weights_sha256 } => {
            assert_eq!(id, "test-tiny-untrained");
            assert_eq!(weights_sha256, &sha);
        }
        other => panic!("expected the model's stamp, got {other:?}"),
    }

    // A slower network (256 px) so there is time to watch it fill and to cancel.
    let slow_config = ModelConfig {
        base: 16,
        depth: 3,
        ..support::seg::tiny_config(Head::Sigmoid { channels: 2 }, 256)
    };
    let slow = model_file(dir.path(), "slow.lsm", "test-slow-untrained", &slow_config);
    seg(&mut h, SegCommand::LoadModelFile(slow));
    wait_idle(&mut h);
    let visible = h.state().state().slice_index(View::Axial);
    h.get_by_label("Segment").click();
    h.step();
    h.step();
    step_until(&mut h, 120, "the first previews", |app| {
        app.state()
            .segmentation_progress()
            .is_some_and(|(done, _, _)| done > 0)
    });
    let (done, total, _) = h
        .state()
        .state()
        .segmentation_progress()
        .expect("still running");
    assert_eq!(total, 9);
    assert!(done < total, "cancel needs unfinished slices");
    let bar = h.get_by_role(egui::accesskit::Role::ProgressIndicator);
    let text = bar.accesskit_node().label().unwrap_or_default();
    assert!(text.contains("/ 9 slices"), "progress bar reads {text:?}");
    {
        let state = h.state().state();
        let preview = state
            .doc
            .layers
            .iter()
            .find(|l| l.name.contains("(running)"))
            .expect("a preview layer fills while running")
            .mask
            .clone();
        let previous_layer = state.segmentation_layer().expect("previous result");
        assert!(
            !state.doc.layers[previous_layer].visible,
            "the previous result is hidden while the previews fill"
        );
        assert!(
            axial_labels(&h, &preview, visible).iter().any(|&l| l != 0),
            "the visible slice comes first"
        );
        let filled = (0..total)
            .filter(|&k| axial_labels(&h, &preview, k).iter().any(|&l| l != 0))
            .count();
        assert!(
            filled <= done,
            "only finished slices are filled ({filled} > {done})"
        );
    }
    h.get_by_label("Cancel segmentation").click();
    h.step();
    h.step();
    step_until(&mut h, 120, "the cancellation", |app| {
        !app.state().is_segmenting()
    });
    wait_idle(&mut h);
    let state = h.state().state();
    assert!(
        texts(&h).iter().any(|t| t.contains("cancelled")),
        "{:?}",
        texts(&h)
    );
    assert_eq!(state.doc.layers.len(), 1, "the preview layer is gone");
    let layer = state.segmentation_layer().expect("previous result kept");
    assert!(state.doc.layers[layer].visible);
    assert_eq!(
        state.doc.layers[layer].mask.labels, previous.labels,
        "Cancel leaves the previous mask intact"
    );
}

/// `infection_percent_of_lung` of `case` in the shared `cases.csv`.
fn ground_truth_percent(case: &str) -> f64 {
    let dir = support::data::volumes_dir().expect("shared data");
    support::data::cases_csv(&dir)
        .iter()
        .find(|r| r["case"] == case)
        .map(|r| r["infection_percent_of_lung"].parse().expect("number"))
        .expect("case listed")
}

#[test]
fn report_panel_shows_the_ground_truth_infection_and_exports_next_to_the_source() {
    let Some(_) = support::data::data_dir() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    // Copies, so the exports next to the source stay in the temporary folder.
    let files: Vec<PathBuf> = ["ct", "lung", "infection"]
        .iter()
        .map(|kind| {
            let name = format!("{CASE}_{kind}.nii.gz");
            let to = dir.path().join(&name);
            std::fs::copy(support::data::covid_volume(&name), &to).expect("copy");
            to
        })
        .collect();
    let ct = files[0].clone();
    let mut h = harness(dir.path());
    drop_files(&mut h, &files);
    let expected = ground_truth_percent(CASE);
    {
        let state = h.state().state();
        assert!(state.notices.is_empty(), "{:?}", state.notices);
        assert_eq!(state.doc.layers.len(), 2, "lung and infection masks");
        let f = state.current_figures().expect("figures measured");
        let pct = f.analysis.quantities.total.infection_percent;
        assert!(
            (pct - expected).abs() < 0.01,
            "report {pct} % vs cases.csv {expected} %"
        );
    }
    let shown = format!("Infection {expected:.2} % of lung");
    assert!(h.query_by_label(&shown).is_some(), "panel shows {shown}");
    assert!(
        h.query_by_label_contains("HU figures absent").is_some(),
        "pseudo-HU volume: the HU figures say why they are absent"
    );
    assert!(h.query_by_label_contains("Severity score").is_some());
    assert!(h.query_by_label_contains("Approximation").is_some());
    h.snapshot("report_panel_ground_truth");

    // Export mask: the default name next to the source; read back on the grid.
    let default = lungscope::app::export::default_export_path(
        Some(&ct),
        dir.path(),
        lungscope::app::export::ExportKind::Mask,
    );
    assert_eq!(default, dir.path().join(format!("{CASE}_ct_seg.nii.gz")));
    seg(&mut h, SegCommand::ExportMask(default.clone()));
    wait_idle(&mut h);
    let composite = h.state().state().composite().expect("composite").clone();
    let grid = h.state().state().volume().expect("volume").geometry.clone();
    let back = lungscope::io::read_mask(&default, Some(&grid)).expect("exported mask reads");
    assert_eq!(back.labels, composite.labels);
    nibabel_check(&ct, &default);

    // Never over the source: refused with an error, the CT unchanged.
    let before = lungscope::fsutil::sha256_file(&ct).expect("hash");
    seg(&mut h, SegCommand::ExportMask(ct.clone()));
    wait_idle(&mut h);
    let errors: Vec<String> = h
        .state()
        .state()
        .notices
        .iter()
        .filter(|n| n.kind == NoticeKind::Error)
        .map(|n| n.text.clone())
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("cannot export the mask")),
        "{errors:?}"
    );
    assert_eq!(lungscope::fsutil::sha256_file(&ct).expect("hash"), before);

    // Reports in every format; the JSON holds the panel's figure and the user masks.
    for ext in ["pdf", "html", "json", "csv"] {
        seg(
            &mut h,
            SegCommand::ExportReport(dir.path().join(format!("report.{ext}"))),
        );
        wait_idle(&mut h);
        assert!(dir.path().join(format!("report.{ext}")).is_file(), "{ext}");
    }
    let report = lungscope::report::Report::from_json(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("json"),
    )
    .expect("parses");
    assert!((report.analysis.quantities.total.infection_percent - expected).abs() < 0.01);
    assert_eq!(
        report.provenance.segmentation,
        lungscope::report::SegmentationSource::UserMasks
    );
    assert_eq!(report.provenance.mask_files.len(), 2);
    // A failed export (unknown format) is shown and leaves no file.
    seg(
        &mut h,
        SegCommand::ExportReport(dir.path().join("report.docx")),
    );
    wait_idle(&mut h);
    assert!(!dir.path().join("report.docx").exists());
    assert!(
        h.state()
            .state()
            .notices
            .iter()
            .any(|n| n.text.contains("cannot export the report"))
    );
}

/// nibabel reads the exported mask on the source's grid (skipped without python3 +
/// nibabel).
fn nibabel_check(source: &Path, mask: &Path) {
    let has = std::process::Command::new("python3")
        .args(["-c", "import nibabel"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        eprintln!("python3 with nibabel not found; skipping the nibabel check");
        return;
    }
    let script = "import sys, nibabel as nib, numpy as np\n\
        s, m = nib.load(sys.argv[1]), nib.load(sys.argv[2])\n\
        assert m.shape == s.shape[:3], (m.shape, s.shape)\n\
        assert np.allclose(m.affine, s.affine, atol=1e-4)\n\
        lab = np.asanyarray(m.dataobj)\n\
        assert lab.dtype == np.uint8 and set(np.unique(lab).tolist()) <= {0, 1, 2, 3}\n\
        print('ok')";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(source)
        .arg(mask)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "nibabel: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The id of the model in use.
fn active_id(h: &Harness<'_, LungscopeApp>) -> Option<String> {
    h.state()
        .state()
        .seg
        .models
        .active()
        .map(|a| a.model.id.clone())
}

#[test]
fn models_panel_lists_versions_switches_and_goes_back_to_default() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ModelStore::at(dir.path().join("models"));
    let config = support::seg::tiny_config(Head::Sigmoid { channels: 2 }, 32);
    let model = config
        .init(&burn::tensor::Device::flex())
        .expect("model builds");
    let card = ModelCard {
        id: "tiny-ft-20260101".into(),
        date: "2026-01-01".into(),
        base_model: Some("lungscope-default".into()),
        metrics: [("dice_infection".to_string(), 0.8125)]
            .into_iter()
            .collect(),
        ..ModelCard::default()
    };
    let metrics = serde_json::json!({ "corrected_slices": 7 });
    let v = store
        .add(&config, &model, &card, &metrics)
        .expect("version stored");
    // Remembered from an earlier session: it loads at start.
    store.activate(&v.id).expect("activate");
    let mut h = harness(dir.path());
    wait_idle(&mut h);
    assert_eq!(
        active_id(&h),
        Some(v.id.clone()),
        "the remembered version is loaded at start"
    );
    h.get_by_label("Models…").click();
    h.step();
    h.step();
    wait_idle(&mut h);
    for text in [
        "2026-01-01",
        "lungscope-default",
        "7",
        "dice_infection 0.812",
    ] {
        assert!(
            h.query_by_label(text).is_some(),
            "models panel shows {text}"
        );
    }
    assert!(h.query_by_label("in use").is_some());

    h.get_by_label("Back to default").click();
    h.step();
    h.step();
    wait_idle(&mut h);
    assert_eq!(
        store.active().expect("active"),
        lungscope::seg::store::Active::Default
    );
    let after_default = active_id(&h);
    if weights::has_default_model() {
        assert!(
            after_default
                .as_deref()
                .is_some_and(|id| id.starts_with("lungscope-")),
            "the built-in model is back in use: {after_default:?}"
        );
    } else {
        let models = &h.state().state().seg.models;
        assert!(after_default.is_none());
        assert_eq!(
            models.unavailable_reason().as_deref(),
            Some(lungscope::app::models::NO_DEFAULT_MODEL)
        );
    }
    // A damaged model file is reported; nothing crashes and the model in use stays.
    let bad = dir.path().join("damaged.lsm");
    std::fs::write(&bad, b"LSCOPEMD but not really").expect("write");
    seg(&mut h, SegCommand::LoadModelFile(bad));
    wait_idle(&mut h);
    assert!(
        texts(&h)
            .iter()
            .any(|t| t.contains("cannot load the model") && t.contains("damaged.lsm")),
        "{:?}",
        texts(&h)
    );
    assert_eq!(
        active_id(&h),
        after_default,
        "the failed load changed nothing"
    );
    h.get_by_label("Use").click();
    h.step();
    h.step();
    wait_idle(&mut h);
    assert_eq!(
        active_id(&h),
        Some(v.id.clone()),
        "one click switches to the version"
    );
    assert_eq!(
        store.active().expect("active"),
        lungscope::seg::store::Active::Version(v.id.clone())
    );
}
