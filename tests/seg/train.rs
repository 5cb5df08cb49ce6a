//! The training loop learns, writes its run folder, resumes, and fine-tunes.

use crate::support;

use std::sync::atomic::AtomicBool;

use burn::tensor::Device;
use lungscope::seg::data::SliceSample;
use lungscope::seg::data::augment::AugmentSettings;
use lungscope::seg::infer::CpuEngine;
use lungscope::seg::model::weights::{self, ModelCard};
use lungscope::seg::model::{Head, ModelConfig};
use lungscope::seg::train::loss::LossKind;
use lungscope::seg::train::{
    FineTuneEvent, FineTuneSettings, Schedule, StartFrom, TrainEvent, TrainJob, TrainSettings,
    fine_tune, fine_tuned_card, train,
};
use support::seg::phantom;

fn tiny() -> ModelConfig {
    support::seg::tiny_config(Head::Sigmoid { channels: 2 }, 32)
}

fn settings(epochs: usize) -> TrainSettings {
    TrainSettings {
        epochs,
        batch_size: 2,
        lr: 2e-2,
        weight_decay: 0.0,
        schedule: Schedule::Constant,
        loss: LossKind::BceDice,
        patience: None,
        seed: 3,
        augment: AugmentSettings::none(),
        val_batch_size: 2,
        cpu_engine: CpuEngine::Native,
    }
}

fn batch() -> (Vec<SliceSample>, Vec<SliceSample>) {
    let train = vec![phantom("a", "a0", 32, 0.0), phantom("a", "a1", 32, 2.0)];
    // Validation: the same two slices at native size 48 (scored after mapping back).
    let val = vec![phantom("v", "v0", 48, 0.0), phantom("v", "v1", 48, 3.0)];
    (train, val)
}

#[test]
fn overfitting_one_batch_lowers_the_loss_and_raises_dice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (train_set, val) = batch();
    let mut losses = Vec::new();
    let mut dice = Vec::new();
    let job = TrainJob {
        config: tiny(),
        start: StartFrom::Fresh,
        train: train_set,
        val,
        out_dir: dir.path().to_path_buf(),
        device: Device::flex(),
        settings: settings(120),
        card: ModelCard {
            id: "overfit".into(),
            ..ModelCard::default()
        },
    };
    let mut on_event = |e: TrainEvent| match e {
        TrainEvent::Step { loss, .. } => losses.push(loss),
        TrainEvent::Epoch(r) => dice.push(r.val.iter().map(|s| s.dice).collect::<Vec<_>>()),
        _ => {}
    };
    let summary = train(job, &mut on_event, &AtomicBool::new(false)).expect("training runs");
    assert_eq!(summary.completed_epochs, 120);
    let first: f64 = losses[..3].iter().sum::<f64>() / 3.0;
    let last: f64 = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(last < 0.5 * first, "loss {first:.3} -> {last:.3}");
    let best = &summary.history[summary.best_epoch - 1];
    assert!(best.val[0].dice > 0.9, "lung Dice {:?}", dice.last());
    assert!(best.val[1].dice > 0.6, "infection Dice {:?}", dice.last());
    assert!(best.val_mean_dice > dice[0].iter().sum::<f64>() / 2.0);
    // The run folder.
    for f in [
        "best.lsm",
        "last.lsm",
        "train_state.json",
        "metrics.csv",
        "curves.png",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 121);
    assert!(
        csv.lines()
            .next()
            .is_some_and(|h| h.contains("dice_lung") && h.contains("dice_infection"))
    );
    let png = image::open(dir.path().join("curves.png")).expect("curves.png is an image");
    assert!(png.width() > 100 && png.height() > 100);
    // The best checkpoint carries its metrics.
    let best_model =
        weights::load_file(&dir.path().join("best.lsm"), &Device::flex()).expect("best loads");
    let recorded = best_model.card.metrics["val_dice_lung"];
    assert!((recorded - best.val[0].dice).abs() < 1e-9);
}

/// The per-step losses of a run on `engine`.
fn step_losses(engine: CpuEngine, epochs: usize, weight_decay: f64) -> Vec<f64> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (train_set, val) = batch();
    let mut losses = Vec::new();
    let job = TrainJob {
        config: tiny(),
        start: StartFrom::Fresh,
        train: train_set,
        val,
        out_dir: dir.path().to_path_buf(),
        device: Device::flex(),
        settings: TrainSettings {
            cpu_engine: engine,
            weight_decay,
            lr: 1e-2,
            augment: AugmentSettings::default(),
            ..settings(epochs)
        },
        card: ModelCard::default(),
    };
    let mut on_event = |e: TrainEvent| {
        if let TrainEvent::Step { loss, .. } = e {
            losses.push(loss);
        }
    };
    train(job, &mut on_event, &AtomicBool::new(false)).expect("training runs");
    losses
}

#[test]
fn the_cpu_engine_and_flex_take_the_same_steps() {
    // From the same initial weights, with augmentation, weight decay and a cosine
    // schedule: over 20 Adam steps the two losses agree to 0.1 % (measured: 1.4e-5;
    // float rounding differs: Winograd and the GEMM order), and both fell.
    let engine = step_losses(CpuEngine::Native, 20, 1e-4);
    let flex = step_losses(CpuEngine::Flex, 20, 1e-4);
    assert_eq!(engine.len(), 20);
    assert_eq!(engine.len(), flex.len());
    assert!(
        (engine[0] - flex[0]).abs() < 1e-4 * flex[0],
        "first loss {} vs {}",
        engine[0],
        flex[0]
    );
    let worst = engine
        .iter()
        .zip(&flex)
        .map(|(e, f)| (e - f).abs() / f)
        .fold(0.0f64, f64::max);
    eprintln!("largest relative loss difference over 20 steps: {worst:.2e}");
    for (i, (e, f)) in engine.iter().zip(&flex).enumerate() {
        assert!((e - f).abs() <= 1e-3 * f, "step {i}: engine {e}, flex {f}");
    }
    assert!(engine[19] < engine[0] && flex[19] < flex[0]);
}

#[test]
fn a_run_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (train_set, val) = batch();
    let job = |epochs, start| TrainJob {
        config: tiny(),
        start,
        train: train_set.clone(),
        val: val.clone(),
        out_dir: dir.path().to_path_buf(),
        device: Device::flex(),
        settings: settings(epochs),
        card: ModelCard::default(),
    };
    let first = train(
        job(2, StartFrom::Fresh),
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .expect("first part");
    assert_eq!(first.completed_epochs, 2);
    let mut started_at = 0;
    let resumed = train(
        job(4, StartFrom::Resume(dir.path().join("last.lsm"))),
        &mut |e| {
            if let TrainEvent::Started { start_epoch, .. } = e {
                started_at = start_epoch;
            }
        },
        &AtomicBool::new(false),
    )
    .expect("resumed part");
    assert_eq!(started_at, 3);
    assert_eq!(resumed.completed_epochs, 4);
    assert_eq!(resumed.history.len(), 4);
    for (a, b) in resumed.history[..2].iter().zip(&first.history) {
        // The history went through JSON: equal up to float printing.
        assert_eq!(a.epoch, b.epoch);
        assert!((a.train_loss - b.train_loss).abs() < 1e-9);
        assert!((a.val_mean_dice - b.val_mean_dice).abs() < 1e-9);
    }
}

#[test]
fn a_run_resumes_on_the_other_cpu_path() {
    // Two epochs on the CPU training engine, then two more on burn's flex backend
    // from the engine's checkpoint (and the other way round): the checkpoints are the
    // same files, and the resumed run starts from the weights that were saved.
    for (first_engine, second_engine) in [
        (CpuEngine::Native, CpuEngine::Flex),
        (CpuEngine::Flex, CpuEngine::Native),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let (train_set, val) = batch();
        let job = |epochs, start, engine| TrainJob {
            config: tiny(),
            start,
            train: train_set.clone(),
            val: val.clone(),
            out_dir: dir.path().to_path_buf(),
            device: Device::flex(),
            settings: TrainSettings {
                cpu_engine: engine,
                ..settings(epochs)
            },
            card: ModelCard::default(),
        };
        let first = train(
            job(2, StartFrom::Fresh, first_engine),
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .expect("first part");
        let saved = weights::load_file(&dir.path().join("last.lsm"), &Device::flex())
            .expect("checkpoint loads");
        assert_eq!(saved.card.metrics["epoch"], 2.0);
        let mut trainer = "";
        let resumed = train(
            job(
                4,
                StartFrom::Resume(dir.path().join("last.lsm")),
                second_engine,
            ),
            &mut |e| {
                if let TrainEvent::Started { trainer: t, .. } = e {
                    trainer = t;
                }
            },
            &AtomicBool::new(false),
        )
        .expect("resumed part");
        assert_eq!(
            trainer.contains("lungscope"),
            second_engine == CpuEngine::Native,
            "{trainer}"
        );
        assert_eq!(resumed.completed_epochs, 4);
        assert_eq!(resumed.history.len(), 4);
        assert!((resumed.history[1].val_mean_dice - first.history[1].val_mean_dice).abs() < 1e-9);
        // Training went on from the saved weights: the loss kept falling.
        assert!(
            resumed.history[3].train_loss < first.history[0].train_loss,
            "{:?}",
            resumed.history
        );
    }
}

#[test]
fn cancelling_stops_the_run_and_keeps_what_was_saved() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (train_set, val) = batch();
    let cancel = AtomicBool::new(false);
    let job = TrainJob {
        config: tiny(),
        start: StartFrom::Fresh,
        train: train_set,
        val,
        out_dir: dir.path().to_path_buf(),
        device: Device::flex(),
        settings: settings(50),
        card: ModelCard::default(),
    };
    let summary = train(
        job,
        &mut |e| {
            if let TrainEvent::Epoch(r) = e
                && r.epoch == 2
            {
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        },
        &cancel,
    )
    .expect("cancel is not an error");
    assert!(summary.cancelled);
    assert_eq!(summary.completed_epochs, 2);
    assert!(dir.path().join("last.lsm").is_file());
}

#[test]
fn data_without_a_needed_mask_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut train_set, val) = batch();
    train_set[1].lung = None;
    let job = TrainJob {
        config: tiny(),
        start: StartFrom::Fresh,
        train: train_set,
        val,
        out_dir: dir.path().to_path_buf(),
        device: Device::flex(),
        settings: settings(1),
        card: ModelCard::default(),
    };
    let err = train(job, &mut |_| {}, &AtomicBool::new(false)).expect_err("lung mask missing");
    assert!(err.to_string().contains("no lung mask"), "{err}");
}

#[test]
fn fine_tuning_on_one_case_improves_its_fit() {
    let device = Device::flex();
    let config = tiny();
    let model = config.init(&device).expect("builds");
    let base = weights::LoadedModel {
        config: config.clone(),
        model,
        card: ModelCard {
            id: "base".into(),
            ..ModelCard::default()
        },
        weights_sha256: String::new(),
        id: "base".into(),
    };
    let slices = vec![phantom("c", "c0", 40, 0.0), phantom("c", "c1", 40, -2.0)];
    let settings = FineTuneSettings {
        steps: 60,
        batch_size: 2,
        lr: 2e-2,
        augment: AugmentSettings::none(),
        eval_every: 20,
        ..FineTuneSettings::default()
    };
    let mut scored = Vec::new();
    let out = fine_tune(
        &base,
        &slices,
        &settings,
        &device,
        &mut |e| {
            if let FineTuneEvent::Scored { step, .. } = e {
                scored.push(step);
            }
        },
        &AtomicBool::new(false),
    )
    .expect("fine-tunes");
    assert_eq!(out.losses.len(), 60);
    assert_eq!(scored, vec![0, 20, 40, 60]);
    assert!(
        out.after[0].dice > out.before[0].dice,
        "{:?} -> {:?}",
        out.before,
        out.after
    );
    assert!(out.after[0].dice > 0.9);
    let card = fine_tuned_card(&base, "c", slices.len(), &settings, &out);
    assert_eq!(card.base_model.as_deref(), Some("base"));
    assert!(card.id.starts_with("base-ft-"));
    assert_eq!(card.metrics["case_dice_lung_after"], out.after[0].dice);
}
