//! Fine-tuning on corrections: a tiny model (CPU flex backend) trained on the slices a
//! user corrected in an edit session moves its output towards the corrected mask on
//! those slices, and the result is stored as a model version with its card.

mod seg_support;

use burn::tensor::Device;
use lungscope::edit::EditSession;
use lungscope::io::{read_mask, read_volume};
use lungscope::mask::LabelMask;
use lungscope::seg::augment::AugmentSettings;
use lungscope::seg::corrections::{
    CaseData, CaseFineTune, TargetKind, correction_samples, fine_tune_case, lung_slices, mean_dice,
};
use lungscope::seg::model::Head;
use lungscope::seg::train::{FineTuneEvent, FineTuneSettings};
use lungscope::seg::versions::{Active, ModelStore};
use lungscope::seg::weights::{LoadedModel, ModelCard};
use lungscope::volume::View;
use std::sync::atomic::AtomicBool;

/// A freshly initialised tiny lung + infection model at 64 px, as "the current model".
fn base_model(device: &Device) -> LoadedModel {
    let config = seg_support::tiny_config(Head::Sigmoid { channels: 2 }, 64);
    let model = config.init(device).expect("tiny model builds");
    LoadedModel {
        config,
        model,
        card: ModelCard {
            id: "base".into(),
            ..ModelCard::default()
        },
        weights_sha256: String::new(),
        id: "base".into(),
    }
}

#[test]
fn fine_tuning_on_corrections_moves_the_output_towards_them() {
    let Some(data) = seg_support::data_dir() else {
        return;
    };
    let dir = data.join("covid19_ct_seg_zenodo3757476_volumes");
    let volume = read_volume(&dir.join("radiopaedia_group_R06_ct.nii.gz")).expect("CT");
    let grid = volume.geometry.clone();
    let lung =
        read_mask(&dir.join("radiopaedia_group_R06_lung.nii.gz"), Some(&grid)).expect("lung mask");
    let infection = read_mask(
        &dir.join("radiopaedia_group_R06_infection.nii.gz"),
        Some(&grid),
    )
    .expect("infection mask");
    let truth = LabelMask::combine(&lung, &infection).expect("same grid");

    // The user corrects three axial slices of an empty mask into the true labels.
    let mut session = EditSession::new(LabelMask::empty(grid.clone()));
    let map = volume.slice_map(View::Axial);
    for k in [1usize, 4, 7] {
        session.begin_stroke("brush");
        let changes: Vec<(usize, u8)> = (0..map.height)
            .flat_map(|row| (0..map.width).map(move |col| (col, row)))
            .map(|(col, row)| {
                let v = map.voxel(col, row, k);
                let idx = grid.index(v[0], v[1], v[2]);
                (idx, truth.labels[idx])
            })
            .collect();
        session.set_voxels("brush", changes);
        session.end_stroke();
    }
    let slices = session.corrected_slices();
    assert_eq!(slices, vec![1, 4, 7]);

    let device = Device::flex();
    let base = base_model(&device);
    let store_dir = tempfile::tempdir().expect("temp dir");
    let store = ModelStore::at(store_dir.path().join("models"));
    let request = CaseFineTune {
        case: "radiopaedia_group_R06_ct.nii.gz".into(),
        slices: slices.clone(),
        kind: TargetKind::Corrections,
        settings: FineTuneSettings {
            steps: 120,
            batch_size: 3,
            lr: 2e-2,
            augment: AugmentSettings::none(),
            eval_every: 60,
            ..FineTuneSettings::default()
        },
    };
    let mut steps = 0;
    let mut scored = Vec::new();
    let result = fine_tune_case(
        &base,
        CaseData {
            volume: &volume,
            mask: session.mask(),
        },
        &request,
        &device,
        &store,
        &mut |e| match e {
            FineTuneEvent::Step { .. } => steps += 1,
            FineTuneEvent::Scored { step, .. } => scored.push(step),
        },
        &AtomicBool::new(false),
    )
    .expect("fine-tunes");
    assert_eq!(steps, 120);
    assert_eq!(scored, vec![0, 60, 120]);
    assert_eq!(result.labels, vec!["lung", "infection"]);
    let (before, after) = result.mean_dice();
    println!(
        "Dice on the corrected slices: lung {:.3} -> {:.3}, infection {:.3} -> {:.3}",
        result.before[0].dice, result.after[0].dice, result.before[1].dice, result.after[1].dice
    );
    assert!(
        after > before + 0.05,
        "mean Dice {before:.3} -> {after:.3}: {:?} -> {:?}",
        result.before,
        result.after
    );
    assert!(
        result.after[0].dice > result.before[0].dice,
        "lung Dice must improve"
    );

    // The new model, reloaded from the store, agrees with the corrected mask better
    // than the base model on the same preprocessed slices.
    let samples = correction_samples(&volume, session.mask(), &slices, 64, "R06").expect("samples");
    let reloaded = store
        .load(&result.version.id, &device)
        .expect("stored version loads");
    let fit = |m: &LoadedModel| {
        let scores = lungscope::seg::train::evaluate(
            &m.model,
            &m.config,
            &samples,
            &lungscope::seg::train::EvalOptions::default(),
            &device,
            &AtomicBool::new(false),
            &mut |_, _| {},
        )
        .expect("scores");
        mean_dice(&scores.pooled)
    };
    let (b, a) = (fit(&base), fit(&reloaded));
    assert!((b - before).abs() < 1e-3, "{b} vs {before}");
    assert!(
        (a - after).abs() < 1e-3,
        "the stored weights are the fine-tuned ones: {a} vs {after}"
    );

    // The version's card records date, base model, slices and before/after Dice; it is
    // stored but not active until the user chooses it.
    let versions = store.list().expect("list");
    assert_eq!(versions.len(), 1);
    let v = &versions[0];
    assert_eq!(v.id, result.version.id);
    assert!(!v.active);
    assert_eq!(v.card.base_model.as_deref(), Some("base"));
    assert_eq!(v.card.date.len(), 10, "{}", v.card.date);
    assert_eq!(v.card.metrics.get("slices"), Some(&3.0));
    let recorded = v.card.metrics.get("case_dice_lung_after").copied();
    assert!(
        recorded.is_some_and(|d| (d - result.after[0].dice).abs() < 1e-9),
        "{recorded:?}"
    );
    assert!(
        v.card.training_data.contains("2, 5, 8"),
        "{}",
        v.card.training_data
    );
    let metrics: serde_json::Value = serde_json::from_slice(
        &std::fs::read(store.root().join(&v.id).join("metrics.json")).expect("metrics.json"),
    )
    .expect("json");
    assert_eq!(metrics["slices"], serde_json::json!([1, 4, 7]));
    assert_eq!(store.active().expect("active"), Active::Default);
    store.activate(&v.id).expect("activate");
    assert_eq!(
        store.active().expect("active"),
        Active::Version(v.id.clone())
    );
    assert_eq!(store.roll_back().expect("roll back"), Active::Default);
}

#[test]
fn case_slices_and_refusals() {
    let Some(data) = seg_support::data_dir() else {
        return;
    };
    let dir = data.join("covid19_ct_seg_zenodo3757476_volumes");
    let volume = read_volume(&dir.join("radiopaedia_group_R06_ct.nii.gz")).expect("CT");
    let grid = volume.geometry.clone();
    let infection = read_mask(
        &dir.join("radiopaedia_group_R06_infection.nii.gz"),
        Some(&grid),
    )
    .expect("infection mask");
    // An infection-only mask cannot teach the lung output.
    let mut inf3 = infection.clone();
    for l in inf3.labels.iter_mut().filter(|l| **l == 1) {
        *l = lungscope::mask::INFECTION;
    }
    let slices = lung_slices(&inf3, 4);
    assert_eq!(slices.len(), 4);
    assert!(slices.windows(2).all(|w| w[1] > w[0]));
    let device = Device::flex();
    let base = base_model(&device);
    let store_dir = tempfile::tempdir().expect("temp dir");
    let store = ModelStore::at(store_dir.path());
    let request = CaseFineTune {
        case: "R06".into(),
        slices,
        kind: TargetKind::WholeCase,
        settings: FineTuneSettings {
            steps: 2,
            ..FineTuneSettings::default()
        },
    };
    let err = fine_tune_case(
        &base,
        CaseData {
            volume: &volume,
            mask: &inf3,
        },
        &request,
        &device,
        &store,
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .expect_err("no lung labels");
    assert!(err.to_string().contains("no lung label"), "{err}");
    // Cancel stores nothing.
    let lung =
        read_mask(&dir.join("radiopaedia_group_R06_lung.nii.gz"), Some(&grid)).expect("lung mask");
    let truth = LabelMask::combine(&lung, &infection).expect("same grid");
    let err = fine_tune_case(
        &base,
        CaseData {
            volume: &volume,
            mask: &truth,
        },
        &CaseFineTune {
            slices: lung_slices(&truth, 3),
            ..request
        },
        &device,
        &store,
        &mut |_| {},
        &AtomicBool::new(true),
    )
    .expect_err("cancelled");
    assert!(matches!(err, lungscope::seg::SegError::Cancelled), "{err}");
    assert!(store.list().expect("list").is_empty());
}

/// Timing, not a check: fine-tuning a default-sized network (U-Net base 12, depth 4,
/// 160 px) on 8 corrected slices of a real case on the CPU (run with
/// `cargo test --test seg_finetune_case timing -- --ignored --nocapture`).
#[test]
#[ignore = "timing; run with --ignored --nocapture"]
fn timing_fine_tune_default_sized_model_on_the_cpu() {
    use lungscope::seg::model::{Arch, ModelConfig, UpMode};
    use std::time::Instant;
    let Some(data) = seg_support::data_dir() else {
        return;
    };
    let dir = data.join("covid19_ct_seg_zenodo3757476_volumes");
    let volume = read_volume(&dir.join("radiopaedia_group_R03_ct.nii.gz")).expect("CT");
    let grid = volume.geometry.clone();
    let lung =
        read_mask(&dir.join("radiopaedia_group_R03_lung.nii.gz"), Some(&grid)).expect("lung");
    let inf = read_mask(
        &dir.join("radiopaedia_group_R03_infection.nii.gz"),
        Some(&grid),
    )
    .expect("inf");
    let truth = LabelMask::combine(&lung, &inf).expect("same grid");
    let config = ModelConfig {
        arch: Arch::Unet,
        in_channels: 1,
        base: 12,
        depth: 4,
        batch_norm: true,
        up: UpMode::Transpose,
        head: Head::Sigmoid { channels: 2 },
        input_size: 160,
    };
    let device = Device::flex();
    let base = LoadedModel {
        model: config.init(&device).expect("builds"),
        config,
        card: ModelCard::default(),
        weights_sha256: String::new(),
        id: "timing".into(),
    };
    let store_dir = tempfile::tempdir().expect("temp dir");
    let store = ModelStore::at(store_dir.path());
    let steps = 10;
    let request = CaseFineTune {
        case: "R03".into(),
        slices: lung_slices(&truth, 8),
        kind: TargetKind::Corrections,
        settings: FineTuneSettings {
            steps,
            batch_size: 4,
            eval_every: 0,
            ..FineTuneSettings::default()
        },
    };
    let t = Instant::now();
    let mut first_step = None;
    let mut last_step = None;
    let result = fine_tune_case(
        &base,
        CaseData {
            volume: &volume,
            mask: &truth,
        },
        &request,
        &device,
        &store,
        &mut |e| {
            if let FineTuneEvent::Step { step, .. } = e {
                if step == 1 {
                    first_step = Some(t.elapsed());
                }
                last_step = Some(t.elapsed());
            }
        },
        &AtomicBool::new(false),
    )
    .expect("fine-tunes");
    let total = t.elapsed().as_secs_f64();
    let (first, last) = (
        first_step.expect("steps").as_secs_f64(),
        last_step.expect("steps").as_secs_f64(),
    );
    println!(
        "U-Net base 12 depth 4 160 px, batch 4, {} slices, flex CPU ({} threads): \
         {:.2} s/step (steps 2-{steps}), total {total:.1} s incl. scoring before/after and saving \
         ({:.1} s until the first step); stored {}",
        result.slices.len(),
        rayon::current_num_threads(),
        (last - first) / (steps - 1) as f64,
        first,
        result.version.id
    );
}
