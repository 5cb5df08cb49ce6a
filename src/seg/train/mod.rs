//! The training loop shared by `lungscope train` and the GUI: Adam with weight decay, a
//! cosine / step / constant learning-rate schedule, validation by patient each epoch,
//! best-by-Dice and last checkpoints (atomic), early stopping, resume, `metrics.csv` and
//! `curves.png` in the run folder; progress through a callback, cancel through an
//! [`AtomicBool`](std::sync::atomic::AtomicBool). [`fine_tune`] reuses the same step for a few hundred steps on one case.

mod batch;
pub mod corrections;
mod curves;
mod evaluate;
mod finetune;
pub mod loss;
pub mod metrics;
mod run;

use std::path::PathBuf;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, decay::WeightDecayConfig};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

pub use evaluate::{CaseScores, EvalOptions, EvalReport, evaluate};
pub use finetune::{
    FineTuneEvent, FineTuneOutcome, FineTuneSettings, fine_tune, fine_tune_with_anchors,
    fine_tuned_card,
};
pub use run::{RUN_FILES, StartFrom, TrainJob, TrainState, TrainSummary, train};

use super::SegError;
use super::cpu_engine::train::TrainNet;
use super::infer::CpuEngine;
use super::model::{Head, ModelConfig, SegModel};
use crate::seg::train::loss::{LossKind, loss};
use crate::seg::train::metrics::ClassScores;
use batch::Batch;

/// Learning-rate schedule over the run.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Cosine decay from the base rate to 1 % of it over all steps.
    #[default]
    Cosine,
    /// Multiply by `gamma` every `every` epochs.
    Step {
        /// Epochs between decays.
        every: usize,
        /// Factor per decay.
        gamma: f64,
    },
}

impl Schedule {
    /// The rate at `step` of `total` steps (`epoch` is the step's epoch, 0-based).
    pub fn rate(&self, base: f64, step: usize, total: usize, epoch: usize) -> f64 {
        match *self {
            Schedule::Constant => base,
            Schedule::Cosine => {
                let t = step as f64 / total.max(1) as f64;
                let min = base * 0.01;
                min + 0.5 * (base - min) * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
            }
            Schedule::Step { every, gamma } => base * gamma.powi((epoch / every.max(1)) as i32),
        }
    }
}

/// Settings of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// Epochs (passes over the training slices).
    pub epochs: usize,
    /// Slices per optimiser step.
    pub batch_size: usize,
    /// Base learning rate of Adam.
    pub lr: f64,
    /// L2 weight decay (0 = none).
    pub weight_decay: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Loss.
    pub loss: LossKind,
    /// Stop after this many epochs without a better validation Dice (`None`: never).
    pub patience: Option<usize>,
    /// Seed of shuffling and augmentation (and of the patient split in the CLI).
    pub seed: u64,
    /// Augmentation.
    pub augment: crate::seg::data::augment::AugmentSettings,
    /// Slices per batch during validation.
    pub val_batch_size: usize,
    /// Which code trains (and validates) when the device is the CPU: lungscope's
    /// training engine, or burn's flex backend (for comparison). A GPU always
    /// trains with burn's wgpu backend.
    #[serde(default)]
    pub cpu_engine: CpuEngine,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            epochs: 30,
            batch_size: 8,
            lr: 1e-3,
            weight_decay: 1e-5,
            schedule: Schedule::Cosine,
            loss: LossKind::BceDice,
            patience: Some(10),
            seed: 42,
            augment: crate::seg::data::augment::AugmentSettings::default(),
            val_batch_size: 8,
            cpu_engine: CpuEngine::Native,
        }
    }
}

/// One row of `metrics.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Mean training loss of the epoch.
    pub train_loss: f64,
    /// Validation loss (at the model input size).
    pub val_loss: f64,
    /// Validation scores per label (mean over cases).
    pub val: Vec<ClassScores>,
    /// Mean over labels of the validation Dice.
    pub val_mean_dice: f64,
    /// Training throughput of the epoch.
    pub images_per_sec: f64,
    /// Wall time of the epoch including validation, seconds.
    pub seconds: f64,
}

/// What the loop reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainEvent {
    /// The run starts (or resumes at `start_epoch`).
    Started {
        /// Training slices and cases.
        train_slices: usize,
        /// Training patients.
        train_cases: usize,
        /// Validation slices.
        val_slices: usize,
        /// Validation patients.
        val_cases: usize,
        /// Optimiser steps per epoch.
        steps_per_epoch: usize,
        /// First epoch to run (1-based).
        start_epoch: usize,
        /// Last epoch.
        epochs: usize,
        /// Which code trains, in words (e.g. "lungscope CPU training engine").
        trainer: &'static str,
    },
    /// One optimiser step done.
    Step {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// Steps per epoch.
        steps_per_epoch: usize,
        /// Loss of this batch.
        loss: f64,
        /// Mean loss of the epoch so far.
        mean_loss: f64,
        /// Current learning rate.
        lr: f64,
        /// Training images per second so far this epoch.
        images_per_sec: f64,
    },
    /// Validation of an epoch starts.
    Validating {
        /// 1-based epoch.
        epoch: usize,
    },
    /// An epoch finished (training + validation).
    Epoch(EpochRecord),
    /// A checkpoint was written.
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// It is the new best.
        best: bool,
    },
    /// Early stopping ended the run.
    EarlyStop {
        /// Epoch at which it stopped.
        epoch: usize,
        /// Epoch of the best checkpoint.
        best_epoch: usize,
    },
}

/// Builds Adam with the run's weight decay.
pub(crate) fn optimizer(weight_decay: f64) -> ModuleOptimizer {
    let mut config = AdamConfig::new().with_epsilon(1e-8);
    if weight_decay > 0.0 {
        config = config.with_weight_decay(Some(WeightDecayConfig::new(weight_decay as f32)));
    }
    config.init()
}

/// One optimiser step on `batch`: returns the updated model and the batch loss.
fn train_step(
    model: SegModel,
    optim: &mut ModuleOptimizer,
    batch: &Batch,
    head: &Head,
    loss_kind: LossKind,
    lr: f64,
    device: &Device,
) -> Result<(SegModel, f64), SegError> {
    let logits = model.forward(batch.image_tensor(device)); // [B, C, S, S]
    let l = loss(loss_kind, head, logits, batch.target_tensor(device)); // [1]
    let grads = l.backward();
    let value: f32 = l
        .try_into_scalar()
        .map_err(|e| SegError::Backend(format!("{e:?}")))?;
    if !value.is_finite() {
        return Err(SegError::Backend(format!(
            "the loss became {value}; lower the learning rate"
        )));
    }
    let grads = GradientsParams::from_grads(grads, &model);
    let model = optim.step(lr, model, grads);
    Ok((model, f64::from(value)))
}

/// The model being trained and the code that steps it.
enum Stepper {
    /// burn's autodiff (wgpu on a GPU; flex on the CPU when asked for).
    Burn {
        /// `None` only while a step runs.
        model: Option<SegModel>,
        optim: ModuleOptimizer,
        device: Device,
    },
    /// lungscope's CPU training engine; `template` is the model it was built from
    /// (plain device), into which its weights are written back.
    Engine {
        net: Box<TrainNet>,
        template: SegModel,
    },
}

impl Stepper {
    /// Steps `model` with Adam (`weight_decay`): on lungscope's CPU engine when the
    /// device is the CPU and `engine` says so, otherwise with burn on the autodiff
    /// version of `device`. `batch_stats: false` keeps the BatchNorm statistics fixed
    /// (fine-tuning).
    fn new(
        model: SegModel,
        config: &ModelConfig,
        weight_decay: f64,
        engine: CpuEngine,
        batch_stats: bool,
        device: &Device,
    ) -> Result<Self, SegError> {
        let plain = device.clone().without_autodiff();
        if engine == CpuEngine::Native && plain == Device::flex() {
            let template = model.to_device(&plain).valid();
            let net = TrainNet::from_model(&template, config, weight_decay)?
                .with_batch_stats(batch_stats);
            return Ok(Stepper::Engine {
                net: Box::new(net),
                template,
            });
        }
        let ad = plain.autodiff();
        let mut model = trainable(model, &ad);
        if !batch_stats {
            model = model.with_batch_norm_training(false);
        }
        Ok(Stepper::Burn {
            model: Some(model),
            optim: optimizer(weight_decay),
            device: ad,
        })
    }

    /// One optimiser step on `batch`; returns the batch loss.
    fn step(
        &mut self,
        batch: &Batch,
        head: &Head,
        loss_kind: LossKind,
        lr: f64,
    ) -> Result<f64, SegError> {
        match self {
            Stepper::Burn {
                model,
                optim,
                device,
            } => {
                let m = model.take().ok_or_else(|| {
                    SegError::Backend("the model was lost in a failed step".into())
                })?;
                let (m, l) = train_step(m, optim, batch, head, loss_kind, lr, device)?;
                *model = Some(m);
                Ok(l)
            }
            Stepper::Engine { net, .. } => Ok(net
                .step(&batch.images, &batch.targets, batch.n, loss_kind, lr)?
                .loss),
        }
    }

    /// The current weights as a plain (inference) model, BatchNorm in burn's default
    /// training behaviour.
    fn current(&self) -> Result<SegModel, SegError> {
        match self {
            Stepper::Burn { model, .. } => model
                .as_ref()
                .map(|m| m.valid().with_batch_norm_training(true))
                .ok_or_else(|| SegError::Backend("the model was lost in a failed step".into())),
            Stepper::Engine { net, template } => net.to_model(template),
        }
    }

    /// Which code steps the model, in words.
    fn describe(&self) -> &'static str {
        match self {
            Stepper::Burn { .. } => "burn autodiff",
            Stepper::Engine { .. } => "lungscope CPU training engine",
        }
    }
}

/// Puts a model onto the autodiff version of `device` in training mode.
fn trainable(model: SegModel, device: &Device) -> SegModel {
    model.to_device(device).train()
}
