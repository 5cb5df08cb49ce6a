//! Fine-tuning a trained model on a few slices of one case (the GUI's "Fine-tune on this
//! case" and mask-correction fine-tuning): the training step of [`super::train`] for a
//! fixed number of steps, with a live loss and Dice and cancel.

use std::sync::atomic::{AtomicBool, Ordering};

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::batch::{build_batch, check_targets};
use super::{EvalOptions, Stepper, evaluate};
use crate::seg::SegError;
use crate::seg::data::SliceSample;
use crate::seg::data::augment::{AugmentSettings, Rng};
use crate::seg::infer::CpuEngine;
use crate::seg::model::SegModel;
use crate::seg::model::weights::{LoadedModel, ModelCard};
use crate::seg::store::fine_tuned_id;
use crate::seg::train::loss::LossKind;
use crate::seg::train::metrics::ClassScores;
use crate::utc::today_utc;

/// Settings of a fine-tuning job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FineTuneSettings {
    /// Optimiser steps.
    pub steps: usize,
    /// Slices per step.
    pub batch_size: usize,
    /// Learning rate (constant; small, the model is already trained).
    pub lr: f64,
    /// Loss.
    pub loss: LossKind,
    /// Augmentation; none by default. The targets are these very slices: trained on
    /// flipped, warped and rotated copies of one slice, the network did not learn a
    /// brush stroke on it (its Dice against the corrected slice fell), while the kept
    /// BatchNorm statistics and the anchor slices are what keeps the rest of the case
    /// from drifting.
    pub augment: AugmentSettings,
    /// Seed.
    pub seed: u64,
    /// Score on the slices every this many steps (0: only before and after).
    pub eval_every: usize,
    /// Keep the base model's BatchNorm statistics (running mean and variance) fixed
    /// and normalise with them during fine-tuning; scale and shift still learn. A batch
    /// made of a few slices of one case has other statistics than the case as a whole:
    /// with batch statistics the network learns under one normalisation and is used
    /// under another, and the running statistics drift towards those few slices.
    /// A network whose statistics were never estimated (freshly initialised) uses
    /// batch statistics whatever this says.
    #[serde(default = "default_true")]
    pub freeze_batch_norm: bool,
    /// For fine-tuning on corrections: up to this many other slices of the case with
    /// lung, labelled by the current mask, are mixed into every batch (half of it) so
    /// the network keeps what it does on the slices nobody corrected. 0: none.
    #[serde(default = "default_anchor_slices")]
    pub anchor_slices: usize,
    /// Which code trains when the device is the CPU (lungscope's training engine by
    /// default; burn's flex backend for comparison).
    #[serde(default)]
    pub cpu_engine: CpuEngine,
}

fn default_true() -> bool {
    true
}

fn default_anchor_slices() -> usize {
    FineTuneSettings::default().anchor_slices
}

impl Default for FineTuneSettings {
    fn default() -> Self {
        Self {
            steps: 100,
            batch_size: 4,
            lr: 1e-4,
            loss: LossKind::BceDice,
            augment: AugmentSettings::none(),
            seed: 7,
            eval_every: 25,
            freeze_batch_norm: true,
            anchor_slices: 8,
            cpu_engine: CpuEngine::Native,
        }
    }
}

/// Progress of a fine-tuning job.
#[derive(Debug, Clone, PartialEq)]
pub enum FineTuneEvent {
    /// A step finished.
    Step {
        /// 1-based step.
        step: usize,
        /// Of this many.
        steps: usize,
        /// Batch loss.
        loss: f64,
    },
    /// The model was scored on the case's slices.
    Scored {
        /// After this many steps (0 = before training).
        step: usize,
        /// Scores per output label (pooled over the slices).
        scores: Vec<ClassScores>,
    },
}

/// The result of [`fine_tune`].
#[derive(Debug, Clone)]
pub struct FineTuneOutcome {
    /// The fine-tuned network (plain, ready for inference on the job's device).
    pub model: SegModel,
    /// Loss of every step.
    pub losses: Vec<f64>,
    /// Scores on the slices before fine-tuning.
    pub before: Vec<ClassScores>,
    /// Scores after.
    pub after: Vec<ClassScores>,
    /// Output labels, the order of the scores.
    pub labels: Vec<String>,
}

/// Fine-tunes `base` on `slices` (native size; each needs a mask for every output of the
/// model) for `settings.steps` steps on `device`. The scores are measured on the same
/// slices, so they show fit to this case, not generalisation. Cancel returns
/// [`SegError::Cancelled`] and leaves `base` untouched.
pub fn fine_tune(
    base: &LoadedModel,
    slices: &[SliceSample],
    settings: &FineTuneSettings,
    device: &Device,
    on_event: &mut dyn FnMut(FineTuneEvent),
    cancel: &AtomicBool,
) -> Result<FineTuneOutcome, SegError> {
    fine_tune_with_anchors(base, slices, &[], settings, device, on_event, cancel)
}

/// [`fine_tune`] with anchor slices: other slices of the case, labelled by the mask the
/// user accepted, that fill half of every batch (the targets the other half) so the
/// network learns the targets without drifting on the rest of the case. With no anchors
/// every batch is made of targets. The scores are measured on the targets only.
pub fn fine_tune_with_anchors(
    base: &LoadedModel,
    slices: &[SliceSample],
    anchors: &[SliceSample],
    settings: &FineTuneSettings,
    device: &Device,
    on_event: &mut dyn FnMut(FineTuneEvent),
    cancel: &AtomicBool,
) -> Result<FineTuneOutcome, SegError> {
    if slices.is_empty() || settings.steps == 0 || settings.batch_size == 0 {
        return Err(SegError::InvalidSettings(
            "fine-tuning needs at least one slice with masks, one step and a batch of one".into(),
        ));
    }
    let config = &base.config;
    let labels = config.output_labels();
    check_targets(&labels, slices, "fine-tuning")?;
    check_targets(&labels, anchors, "fine-tuning")?;
    let plain = device.clone().without_autodiff();
    let size = config.input_size;
    // Targets first, then anchors: one index space for the batch builder's seeds.
    let fitted: Vec<SliceSample> = slices
        .iter()
        .chain(anchors)
        .map(|s| s.fitted(size))
        .collect();
    let score = |model: &SegModel| -> Result<Vec<ClassScores>, SegError> {
        let opts = EvalOptions {
            batch_size: 4,
            loss: settings.loss,
            cpu_engine: settings.cpu_engine,
        };
        let report = evaluate(model, config, slices, &opts, &plain, cancel, &mut |_, _| {})?;
        Ok(report.pooled)
    };
    let before = score(&base.model.clone().to_device(&plain))?;
    on_event(FineTuneEvent::Scored {
        step: 0,
        scores: before.clone(),
    });
    // Statistics never estimated (a freshly initialised network) cannot be kept.
    let frozen = settings.freeze_batch_norm && base.model.has_estimated_batch_norm_statistics();
    let mut stepper = Stepper::new(
        base.model.clone(),
        config,
        0.0,
        settings.cpu_engine,
        !frozen,
        &plain,
    )?;
    let mut losses = Vec::with_capacity(settings.steps);
    // Half of a batch (at least one slice) from the targets, the rest from the anchors;
    // a pool smaller than its share repeats, each copy with its own augmentation.
    let from_anchors = if anchors.is_empty() {
        0
    } else {
        settings.batch_size / 2
    };
    let from_targets = settings.batch_size - from_anchors;
    let mut target_pool = Pool::new(0, slices.len(), settings.seed);
    let mut anchor_pool = Pool::new(slices.len(), anchors.len(), settings.seed ^ 0xa5a5);
    for step in 0..settings.steps {
        if cancel.load(Ordering::Relaxed) {
            return Err(SegError::Cancelled);
        }
        let mut idx = target_pool.take(from_targets, step);
        idx.extend(anchor_pool.take(from_anchors, step));
        let refs: Vec<&SliceSample> = idx.iter().map(|&i| &fitted[i]).collect();
        // Augmentation seeds: distinct per batch position, so repeated slices differ.
        let seeds: Vec<usize> = idx
            .iter()
            .enumerate()
            .map(|(j, &i)| i * settings.batch_size + j)
            .collect();
        let batch = build_batch(
            &refs,
            &labels,
            size,
            Some((&settings.augment, settings.seed, step as u64)),
            &seeds,
        );
        let l = stepper.step(&batch, &config.head, settings.loss, settings.lr)?;
        losses.push(l);
        on_event(FineTuneEvent::Step {
            step: step + 1,
            steps: settings.steps,
            loss: l,
        });
        if settings.eval_every > 0
            && (step + 1).is_multiple_of(settings.eval_every)
            && step + 1 < settings.steps
        {
            let scores = score(&stepper.current()?)?;
            on_event(FineTuneEvent::Scored {
                step: step + 1,
                scores,
            });
        }
    }
    // In burn's default BatchNorm behaviour, so a later training run from this
    // version (or its record) behaves like any other model.
    let model = stepper.current()?;
    let after = score(&model)?;
    on_event(FineTuneEvent::Scored {
        step: settings.steps,
        scores: after.clone(),
    });
    Ok(FineTuneOutcome {
        model,
        losses,
        before,
        after,
        labels,
    })
}

/// Indices `offset..offset + len`, handed out in shuffled passes (a new shuffle each pass).
struct Pool {
    offset: usize,
    len: usize,
    seed: u64,
    order: Vec<usize>,
}

impl Pool {
    fn new(offset: usize, len: usize, seed: u64) -> Self {
        Self {
            offset,
            len,
            seed,
            order: Vec::new(),
        }
    }

    /// `n` indices (distinct unless `n` exceeds what is left of a pass), drawn at `step`.
    fn take(&mut self, n: usize, step: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n && self.len > 0 {
            if self.order.is_empty() {
                self.order = (self.offset..self.offset + self.len).collect();
                Rng::for_item(self.seed, &[step as u64]).shuffle(&mut self.order);
            }
            if let Some(i) = self.order.pop() {
                out.push(i);
            }
        }
        out
    }
}

/// The model card of a fine-tuned version: a fresh id derived from the base model's, the
/// case it was tuned on, the settings, and the Dice before and after on that case
/// (`case_dice_<label>_before` / `_after`).
pub fn fine_tuned_card(
    base: &LoadedModel,
    case: &str,
    slices: usize,
    settings: &FineTuneSettings,
    outcome: &FineTuneOutcome,
) -> ModelCard {
    let mut metrics = std::collections::BTreeMap::new();
    for (i, label) in outcome.labels.iter().enumerate() {
        if let (Some(b), Some(a)) = (outcome.before.get(i), outcome.after.get(i)) {
            metrics.insert(format!("case_dice_{label}_before"), b.dice);
            metrics.insert(format!("case_dice_{label}_after"), a.dice);
        }
    }
    if let Some(last) = outcome.losses.last() {
        metrics.insert("final_loss".into(), *last);
    }
    ModelCard {
        id: fine_tuned_id(&base.id),
        architecture: base.config.describe(),
        training_data: format!(
            "{}; fine-tuned on case {case} ({slices} slices with masks)",
            base.card.training_data
        ),
        recipe: format!(
            "fine_tune: {} steps, batch {}, lr {:e}, {:?} loss, seed {} (from {})",
            settings.steps, settings.batch_size, settings.lr, settings.loss, settings.seed, base.id
        ),
        metrics,
        date: today_utc(),
        base_model: Some(base.id.clone()),
    }
}
