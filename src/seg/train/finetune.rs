//! Fine-tuning a trained model on a few slices of one case (the GUI's "Fine-tune on this
//! case" and mask-correction fine-tuning): the training step of [`super::train`] for a
//! fixed number of steps, with a live loss and Dice and cancel.

use std::sync::atomic::{AtomicBool, Ordering};

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::batch::{build_batch, check_targets};
use super::{EvalOptions, evaluate, optimizer, train_step, trainable};
use crate::seg::SegError;
use crate::seg::augment::{AugmentSettings, Rng};
use crate::seg::data::SliceSample;
use crate::seg::loss::LossKind;
use crate::seg::metrics::ClassScores;
use crate::seg::model::SegModel;
use crate::seg::versions::fine_tuned_id;
use crate::seg::weights::{LoadedModel, ModelCard, today_utc};

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
    /// Augmentation (fine-tuning on one case overfits quickly without it).
    pub augment: AugmentSettings,
    /// Seed.
    pub seed: u64,
    /// Score on the slices every this many steps (0: only before and after).
    pub eval_every: usize,
}

impl Default for FineTuneSettings {
    fn default() -> Self {
        Self {
            steps: 100,
            batch_size: 4,
            lr: 1e-4,
            loss: LossKind::BceDice,
            augment: AugmentSettings::default(),
            seed: 7,
            eval_every: 25,
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
    if slices.is_empty() || settings.steps == 0 || settings.batch_size == 0 {
        return Err(SegError::InvalidSettings(
            "fine-tuning needs at least one slice with masks, one step and a batch of one".into(),
        ));
    }
    let config = &base.config;
    let labels = config.output_labels();
    check_targets(&labels, slices, "fine-tuning")?;
    let plain = device.clone().without_autodiff();
    let ad = device.clone().autodiff();
    let size = config.input_size;
    let fitted: Vec<SliceSample> = slices.iter().map(|s| s.fitted(size)).collect();
    let score = |model: &SegModel| -> Result<Vec<ClassScores>, SegError> {
        let opts = EvalOptions {
            batch_size: 4,
            loss: settings.loss,
        };
        let report = evaluate(model, config, slices, &opts, &plain, cancel, &mut |_, _| {})?;
        Ok(report.pooled)
    };
    let before = score(&base.model.clone().to_device(&plain))?;
    on_event(FineTuneEvent::Scored {
        step: 0,
        scores: before.clone(),
    });
    let mut model = trainable(base.model.clone(), &ad);
    let mut optim = optimizer(0.0);
    let mut losses = Vec::with_capacity(settings.steps);
    let mut order: Vec<usize> = Vec::new();
    for step in 0..settings.steps {
        if cancel.load(Ordering::Relaxed) {
            return Err(SegError::Cancelled);
        }
        // Cycle through shuffled passes over the slices.
        let mut idx = Vec::with_capacity(settings.batch_size);
        while idx.len() < settings.batch_size.min(fitted.len()) {
            if order.is_empty() {
                order = (0..fitted.len()).collect();
                Rng::for_item(settings.seed, &[step as u64]).shuffle(&mut order);
            }
            if let Some(i) = order.pop() {
                idx.push(i);
            }
        }
        let refs: Vec<&SliceSample> = idx.iter().map(|&i| &fitted[i]).collect();
        let batch = build_batch(
            &refs,
            &labels,
            size,
            Some((&settings.augment, settings.seed, step as u64)),
            &idx,
        );
        let (m, l) = train_step(
            model,
            &mut optim,
            &batch,
            &config.head,
            settings.loss,
            settings.lr,
            &ad,
        )?;
        model = m;
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
            let scores = score(&model.valid())?;
            on_event(FineTuneEvent::Scored {
                step: step + 1,
                scores,
            });
        }
    }
    let model = model.valid();
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
