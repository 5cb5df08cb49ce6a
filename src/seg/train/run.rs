//! A full training run with checkpoints, resume and early stopping.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::batch::{build_batch, check_targets};
use super::{EpochRecord, EvalOptions, Stepper, TrainEvent, TrainSettings, curves, evaluate};
use crate::seg::SegError;
use crate::seg::data::augment::Rng;
use crate::seg::data::{SliceSample, distinct_cases};
use crate::seg::model::ModelConfig;
use crate::seg::model::weights::{self, LoadedModel, ModelCard};

/// Where the weights of a run come from.
#[derive(Debug, Clone)]
pub enum StartFrom {
    /// Fresh random initialisation.
    Fresh,
    /// Start from a trained model (fine-tuning); its card becomes the base model.
    Model(Box<LoadedModel>),
    /// Continue an interrupted run from its checkpoint (`RUN/last.lsm`; `train_state.json`
    /// beside it holds the epoch, the best score and the history).
    Resume(PathBuf),
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// Network (ignored when resuming or starting from a model: theirs is used).
    pub config: ModelConfig,
    /// Initial weights.
    pub start: StartFrom,
    /// Training slices (any size; fitted to the model input).
    pub train: Vec<SliceSample>,
    /// Validation slices at their native size (scored there).
    pub val: Vec<SliceSample>,
    /// Run folder (created).
    pub out_dir: PathBuf,
    /// Device without autodiff (the loop adds it).
    pub device: burn::tensor::Device,
    /// Hyper-parameters.
    pub settings: TrainSettings,
    /// Card template for the checkpoints: id, training data, recipe (metrics and date are
    /// filled in).
    pub card: ModelCard,
}

/// Progress saved beside every checkpoint (`train_state.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs completed.
    pub completed_epochs: usize,
    /// Best validation mean Dice so far.
    pub best_score: f64,
    /// Epoch of the best checkpoint (0: none yet).
    pub best_epoch: usize,
    /// Epochs since the last improvement.
    pub stale_epochs: usize,
    /// One record per completed epoch.
    pub history: Vec<EpochRecord>,
    /// The run's settings.
    pub settings: TrainSettings,
    /// Validation cases (a resumed run checks it validates on the same patients).
    pub val_cases: Vec<String>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Epochs completed in total (resumed runs included).
    pub completed_epochs: usize,
    /// Best epoch and its validation mean Dice.
    pub best_epoch: usize,
    /// Best validation mean Dice.
    pub best_score: f64,
    /// `RUN/best.lsm`.
    pub best_path: PathBuf,
    /// `RUN/last.lsm`.
    pub last_path: PathBuf,
    /// All epochs.
    pub history: Vec<EpochRecord>,
    /// Stopped by the cancel flag (checkpoints of completed epochs are kept).
    pub cancelled: bool,
    /// Stopped by early stopping.
    pub early_stopped: bool,
}

/// The files a training run writes into its folder (`--out`).
pub const RUN_FILES: [&str; 5] = [
    "best.lsm",
    "last.lsm",
    "train_state.json",
    "metrics.csv",
    "curves.png",
];

fn state_path(checkpoint: &Path) -> PathBuf {
    checkpoint.with_file_name("train_state.json")
}

/// Runs training. Blocking; call it from a worker thread in the GUI.
pub fn train(
    job: TrainJob,
    on_event: &mut dyn FnMut(TrainEvent),
    cancel: &AtomicBool,
) -> Result<TrainSummary, SegError> {
    let TrainJob {
        config,
        start,
        train,
        val,
        out_dir,
        device,
        settings,
        card,
    } = job;
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| SegError::io("creating the run folder", &out_dir, e))?;
    if train.is_empty() || val.is_empty() {
        return Err(SegError::InvalidSettings(format!(
            "training needs training and validation slices (got {} and {})",
            train.len(),
            val.len()
        )));
    }
    if settings.batch_size == 0
        || settings.epochs == 0
        || settings.lr.is_nan()
        || settings.lr <= 0.0
    {
        return Err(SegError::InvalidSettings(
            "epochs, batch size and learning rate must be positive".into(),
        ));
    }
    let plain = device.clone().without_autodiff();
    let ad = device.autodiff();
    let val_cases = distinct_cases(&val);
    let (config, model, mut state, base_model) = match start {
        StartFrom::Fresh => {
            // Reproducible initial weights (the seed may apply process-wide).
            ad.seed(settings.seed);
            (config.clone(), config.init(&ad)?, None, None)
        }
        // Loaded weights stay on the plain device: `Stepper::new` puts them where
        // they train (moving them to autodiff twice fails).
        StartFrom::Model(m) => (m.config.clone(), m.model, None, Some(m.id.clone())),
        StartFrom::Resume(ckpt) => {
            let m = weights::load_file(&ckpt, &plain)?;
            let sp = state_path(&ckpt);
            let text = std::fs::read_to_string(&sp)
                .map_err(|e| SegError::io("reading the training state", &sp, e))?;
            let st: TrainState = serde_json::from_str(&text)
                .map_err(|e| SegError::data(format!("bad training state ({e})"), &sp))?;
            if st.val_cases != val_cases {
                return Err(SegError::InvalidSettings(format!(
                    "the checkpoint validated on cases {:?} but this run's validation cases are {:?}; use the same data, split and seed",
                    st.val_cases, val_cases
                )));
            }
            let base = m.card.base_model.clone();
            (m.config.clone(), m.model, Some(st), base)
        }
    };
    config.validate()?;
    let labels = config.output_labels();
    check_targets(&labels, &train, "training")?;
    check_targets(&labels, &val, "validation")?;
    let size = config.input_size;
    // Fit once up front: augmentation then works on S x S planes.
    let train: Vec<SliceSample> = train.iter().map(|s| s.fitted(size)).collect();

    let steps_per_epoch = train.len().div_ceil(settings.batch_size);
    let total_steps = steps_per_epoch * settings.epochs;
    let mut st = state.take().unwrap_or(TrainState {
        completed_epochs: 0,
        best_score: f64::NEG_INFINITY,
        best_epoch: 0,
        stale_epochs: 0,
        history: Vec::new(),
        settings: settings.clone(),
        val_cases: val_cases.clone(),
    });
    st.settings = settings.clone();
    let mut stepper = Stepper::new(
        model,
        &config,
        settings.weight_decay,
        settings.cpu_engine,
        true,
        &plain,
    )?;
    let best_path = out_dir.join("best.lsm");
    let last_path = out_dir.join("last.lsm");
    on_event(TrainEvent::Started {
        train_slices: train.len(),
        train_cases: distinct_cases(&train).len(),
        val_slices: val.len(),
        val_cases: val_cases.len(),
        steps_per_epoch,
        start_epoch: st.completed_epochs + 1,
        epochs: settings.epochs,
        trainer: stepper.describe(),
    });
    let summary = |st: &TrainState, cancelled, early_stopped| TrainSummary {
        completed_epochs: st.completed_epochs,
        best_epoch: st.best_epoch,
        best_score: st.best_score,
        best_path: best_path.clone(),
        last_path: last_path.clone(),
        history: st.history.clone(),
        cancelled,
        early_stopped,
    };

    for epoch in st.completed_epochs..settings.epochs {
        let t0 = Instant::now();
        let mut order: Vec<usize> = (0..train.len()).collect();
        Rng::for_item(settings.seed, &[epoch as u64]).shuffle(&mut order);
        let (mut loss_sum, mut seen) = (0.0, 0usize);
        let mut lr = settings.lr;
        for (step, idx) in order.chunks(settings.batch_size).enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Ok(summary(&st, true, false));
            }
            let global = epoch * steps_per_epoch + step;
            lr = settings
                .schedule
                .rate(settings.lr, global, total_steps, epoch);
            let refs: Vec<&SliceSample> = idx.iter().map(|&i| &train[i]).collect();
            let batch = build_batch(
                &refs,
                &labels,
                size,
                Some((&settings.augment, settings.seed, epoch as u64)),
                idx,
            );
            let l = stepper.step(&batch, &config.head, settings.loss, lr)?;
            loss_sum += l * idx.len() as f64;
            seen += idx.len();
            on_event(TrainEvent::Step {
                epoch: epoch + 1,
                step: step + 1,
                steps_per_epoch,
                loss: l,
                mean_loss: loss_sum / seen as f64,
                lr,
                images_per_sec: seen as f64 / t0.elapsed().as_secs_f64().max(1e-9),
            });
        }
        let train_secs = t0.elapsed().as_secs_f64();
        on_event(TrainEvent::Validating { epoch: epoch + 1 });
        let eval_model = stepper.current()?;
        let opts = EvalOptions {
            batch_size: settings.val_batch_size,
            loss: settings.loss,
            cpu_engine: settings.cpu_engine,
        };
        let report = evaluate(
            &eval_model,
            &config,
            &val,
            &opts,
            &plain,
            cancel,
            &mut |_, _| {},
        );
        let report = match report {
            Err(SegError::Cancelled) => return Ok(summary(&st, true, false)),
            other => other?,
        };
        let record = EpochRecord {
            epoch: epoch + 1,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            val_loss: report.loss,
            val: report.mean.clone(),
            val_mean_dice: report.mean_dice(),
            images_per_sec: seen as f64 / train_secs.max(1e-9),
            seconds: t0.elapsed().as_secs_f64(),
        };
        st.completed_epochs = epoch + 1;
        st.history.push(record.clone());
        let improved = record.val_mean_dice > st.best_score;
        if improved {
            st.best_score = record.val_mean_dice;
            st.best_epoch = epoch + 1;
            st.stale_epochs = 0;
        } else {
            st.stale_epochs += 1;
        }
        let mut c = card.clone();
        c.date = crate::utc::today_utc();
        c.architecture = config.describe();
        c.base_model = c.base_model.or_else(|| base_model.clone());
        c.metrics = card_metrics(&labels, &report, epoch + 1);
        if improved {
            weights::save(&best_path, &config, &eval_model, &c)?;
            on_event(TrainEvent::Checkpoint {
                path: best_path.clone(),
                best: true,
            });
        }
        weights::save(&last_path, &config, &eval_model, &c)?;
        let state_json = serde_json::to_vec_pretty(&st).map_err(|e| {
            SegError::InvalidSettings(format!("cannot serialise the training state: {e}"))
        })?;
        crate::fsutil::write_atomic(&state_path(&last_path), &state_json)?;
        curves::write_metrics_csv(&out_dir.join("metrics.csv"), &labels, &st.history)?;
        curves::write_curves_png(&out_dir.join("curves.png"), &labels, &st.history)?;
        on_event(TrainEvent::Checkpoint {
            path: last_path.clone(),
            best: false,
        });
        on_event(TrainEvent::Epoch(record));
        if settings.patience.is_some_and(|p| st.stale_epochs >= p) {
            on_event(TrainEvent::EarlyStop {
                epoch: epoch + 1,
                best_epoch: st.best_epoch,
            });
            return Ok(summary(&st, false, true));
        }
    }
    Ok(summary(&st, false, false))
}

/// Validation metrics for the model card: `val_<metric>_<label>` (mean over cases),
/// `pooled_dice_<label>`, `val_loss`, `epoch`.
pub(crate) fn card_metrics(
    labels: &[String],
    report: &super::EvalReport,
    epoch: usize,
) -> std::collections::BTreeMap<String, f64> {
    let mut m = std::collections::BTreeMap::new();
    for (i, label) in labels.iter().enumerate() {
        let s = &report.mean[i];
        m.insert(format!("val_dice_{label}"), s.dice);
        m.insert(format!("val_iou_{label}"), s.iou);
        m.insert(format!("val_sensitivity_{label}"), s.sensitivity);
        m.insert(format!("val_specificity_{label}"), s.specificity);
        m.insert(format!("val_precision_{label}"), s.precision);
        m.insert(format!("pooled_dice_{label}"), report.pooled[i].dice);
    }
    m.insert("val_loss".into(), report.loss);
    m.insert("val_cases".into(), report.cases.len() as f64);
    m.insert("epoch".into(), epoch as f64);
    m
}
