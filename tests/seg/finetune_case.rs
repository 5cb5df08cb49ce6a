//! Fine-tuning on corrections: a tiny model (CPU flex backend) trained on the slices a
//! user corrected in an edit session moves its output towards the corrected mask on
//! those slices, and the result is stored as a model version with its card.

use crate::support;

use burn::tensor::Device;
use lungscope::edit::EditSession;
use lungscope::io::{read_mask, read_volume};
use lungscope::mask::LabelMask;
use lungscope::seg::data::augment::AugmentSettings;
use lungscope::seg::model::Head;
use lungscope::seg::model::weights::{LoadedModel, ModelCard};
use lungscope::seg::store::{Active, ModelStore};
use lungscope::seg::train::corrections::{
    CaseData, CaseFineTune, TargetKind, correction_samples, fine_tune_case, lung_slices, mean_dice,
};
use lungscope::seg::train::{FineTuneEvent, FineTuneSettings};
use lungscope::volume::View;
use std::sync::atomic::AtomicBool;

/// A freshly initialised tiny lung + infection model at 64 px, as "the current model".
fn base_model(device: &Device) -> LoadedModel {
    let config = support::seg::tiny_config(Head::Sigmoid { channels: 2 }, 64);
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
    let Some(data) = support::data::data_dir() else {
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
    let Some(data) = support::data::data_dir() else {
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
/// `cargo test --test seg finetune_case::timing -- --ignored --nocapture`).
#[test]
#[ignore = "timing; run with --ignored --nocapture"]
fn timing_fine_tune_default_sized_model_on_the_cpu() {
    use lungscope::seg::model::{Arch, ModelConfig, UpMode};
    use std::time::Instant;
    let Some(data) = support::data::data_dir() else {
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

/// Collects the BatchNorm running statistics of a network, in visiting order.
struct RunningStats {
    path: Vec<String>,
    values: Vec<f32>,
}

impl burn::module::ModuleVisitor for RunningStats {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(
        &mut self,
        param: &burn::module::Param<burn::tensor::Tensor<D>>,
    ) {
        if self.path.last().is_some_and(|n| n.starts_with("running_")) {
            let data = param.val().into_data();
            self.values
                .extend(data.try_to_vec::<f32>().expect("f32 statistics"));
        }
    }
}

fn running_stats(model: &lungscope::seg::model::SegModel) -> Vec<f32> {
    use burn::module::Module;
    let mut v = RunningStats {
        path: Vec::new(),
        values: Vec::new(),
    };
    model.visit(&mut v);
    v.values
}

/// With `freeze_batch_norm` (the default) fine-tuning a trained network keeps its
/// BatchNorm running statistics bit for bit (the few slices of one case never replace
/// the statistics the network was trained with); without it they move. A freshly
/// initialised network has no statistics to keep and trains with batch statistics.
#[test]
fn fine_tuning_keeps_the_batch_norm_statistics_unless_told_otherwise() {
    use lungscope::seg::train::fine_tune;
    let device = Device::flex();
    let slices: Vec<_> = (0..3)
        .map(|i| support::seg::phantom("c", &format!("s{i}"), 64, i as f32 * 3.0))
        .collect();
    let run = |base: &LoadedModel, freeze: bool| {
        let settings = FineTuneSettings {
            steps: 4,
            batch_size: 2,
            eval_every: 0,
            freeze_batch_norm: freeze,
            ..FineTuneSettings::default()
        };
        fine_tune(
            base,
            &slices,
            &settings,
            &device,
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .expect("fine-tunes")
    };
    let fresh = base_model(&device);
    assert!(!fresh.model.has_estimated_batch_norm_statistics());
    let stats_fresh = running_stats(&fresh.model);
    assert!(!stats_fresh.is_empty(), "the tiny model has BatchNorm");
    // Freezing asked for, but nothing to keep: the statistics are estimated.
    let first = run(&fresh, true);
    assert!(first.model.has_estimated_batch_norm_statistics());
    assert_ne!(running_stats(&first.model), stats_fresh);

    let trained = LoadedModel {
        model: first.model,
        ..fresh
    };
    let stats0 = running_stats(&trained.model);
    let frozen = run(&trained, true);
    assert_eq!(running_stats(&frozen.model), stats0, "statistics kept");
    assert_eq!(frozen.losses.len(), 4);
    assert!(frozen.losses.iter().all(|l| l.is_finite()));
    let moving = run(&trained, false);
    let moved = running_stats(&moving.model);
    assert_eq!(moved.len(), stats0.len());
    assert!(
        moved.iter().zip(&stats0).any(|(a, b)| (a - b).abs() > 1e-4),
        "batch statistics update the running statistics"
    );
}

/// Anchor slices for corrections: uncorrected slices with lung, evenly spread, at most
/// the setting; none for "this case" or with the setting at 0.
#[test]
fn anchors_are_uncorrected_lung_slices() {
    use lungscope::mask::LEFT_LUNG;
    use lungscope::seg::train::corrections::anchor_slices;
    use lungscope::volume::Geometry;
    let g = Geometry::with_signs([8, 8, 20], [1.0, 1.0, 1.0], [-1.0, -1.0, 1.0]);
    let mut mask = LabelMask::empty(g.clone());
    let map = lungscope::volume::SliceMap::new(&g, View::Axial);
    for k in 2..18 {
        let v = map.voxel(3, 3, k);
        mask.labels[g.index(v[0], v[1], v[2])] = LEFT_LUNG;
    }
    let labels = vec!["lung".to_string(), "infection".to_string()];
    let mut request = CaseFineTune {
        case: "c".into(),
        slices: vec![5, 6],
        kind: TargetKind::Corrections,
        settings: FineTuneSettings {
            anchor_slices: 4,
            ..FineTuneSettings::default()
        },
    };
    let anchors = anchor_slices(&mask, &request, &labels);
    assert_eq!(anchors.len(), 4);
    assert_eq!(anchors.first(), Some(&2));
    assert_eq!(anchors.last(), Some(&17));
    assert!(
        anchors
            .iter()
            .all(|k| !request.slices.contains(k) && (2..18).contains(k))
    );
    request.settings.anchor_slices = 100;
    assert_eq!(anchor_slices(&mask, &request, &labels).len(), 14);
    request.settings.anchor_slices = 0;
    assert!(anchor_slices(&mask, &request, &labels).is_empty());
    request.settings.anchor_slices = 4;
    request.kind = TargetKind::WholeCase;
    assert!(anchor_slices(&mask, &request, &labels).is_empty());
}
