//! Scoring a model on slices at their native resolution: each slice is fitted to the model
//! input, the probabilities are mapped back onto the slice's own grid, thresholded at 0.5
//! and compared with the native masks. No post-processing (lung restriction, island
//! removal) is applied: these are the network's own numbers.

use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::batch::{build_batch, check_targets};
use crate::seg::SegError;
use crate::seg::cpu_engine::CpuNet;
use crate::seg::data::SliceSample;
use crate::seg::infer::CpuEngine;
use crate::seg::model::{Head, ModelConfig, SegModel};
use crate::seg::train::loss::{LossKind, loss};
use crate::seg::train::metrics::{ClassScores, MultiConfusion};

/// Scores of one case (patient): its slices' pixels pooled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseScores {
    /// Case id.
    pub case: String,
    /// Number of slices.
    pub slices: usize,
    /// Scores per output label, in label order.
    pub classes: Vec<ClassScores>,
    /// The pixel counts behind them.
    pub confusion: MultiConfusion,
}

/// Scores of a model on a set of slices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Output labels (`lung`, `infection`).
    pub labels: Vec<String>,
    /// Per case, sorted by case id.
    pub cases: Vec<CaseScores>,
    /// Mean over cases, per label (the headline numbers).
    pub mean: Vec<ClassScores>,
    /// All pixels of all cases pooled, per label.
    pub pooled: Vec<ClassScores>,
    /// Mean loss over slices at the model's input size.
    pub loss: f64,
    /// Number of slices scored.
    pub slices: usize,
}

impl EvalReport {
    /// Mean over labels of the per-case mean Dice (what "best checkpoint" maximises).
    pub fn mean_dice(&self) -> f64 {
        if self.mean.is_empty() {
            return 0.0;
        }
        self.mean.iter().map(|s| s.dice).sum::<f64>() / self.mean.len() as f64
    }

    /// Mean-over-cases scores of one label.
    pub fn label(&self, label: &str) -> Option<&ClassScores> {
        self.labels
            .iter()
            .position(|l| l == label)
            .map(|i| &self.mean[i])
    }
}

/// How to score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalOptions {
    /// Slices per forward pass.
    pub batch_size: usize,
    /// Loss reported beside the scores.
    pub loss: LossKind,
    /// Which code runs the network when the device is the CPU.
    #[serde(default)]
    pub cpu_engine: CpuEngine,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            batch_size: 8,
            loss: LossKind::BceDice,
            cpu_engine: CpuEngine::Native,
        }
    }
}

/// Scores `model` (a plain, non-autodiff module on `device`) on `samples`.
/// `progress(done, total)` is called after every batch; `cancel` stops between batches.
pub fn evaluate(
    model: &SegModel,
    config: &ModelConfig,
    samples: &[SliceSample],
    options: &EvalOptions,
    device: &Device,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalReport, SegError> {
    let Head::Sigmoid { .. } = config.head else {
        return Err(SegError::InvalidSettings(
            "evaluation needs a sigmoid head (no data set with ground-glass / consolidation masks is supported yet)".into(),
        ));
    };
    let labels = config.output_labels();
    check_targets(&labels, samples, "evaluation")?;
    let size = config.input_size;
    let mut per_case: Vec<(String, usize, MultiConfusion)> = Vec::new();
    let mut loss_sum = 0.0;
    let batch_size = options.batch_size.max(1);
    let loss_kind = options.loss;
    let native = if options.cpu_engine == CpuEngine::Native && *device == Device::flex() {
        Some(CpuNet::from_model(model, config)?)
    } else {
        None
    };
    for (b, chunk) in samples.chunks(batch_size).enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(SegError::Cancelled);
        }
        let refs: Vec<&SliceSample> = chunk.iter().collect();
        let indices: Vec<usize> = (0..chunk.len()).collect();
        let batch = build_batch(&refs, &labels, size, None, &indices);
        let logits = match &native {
            Some(net) => {
                let l = net.logits(&batch.images, batch.n)?;
                let shape = [batch.n, labels.len(), size, size];
                Tensor::<4>::from_data(TensorData::new(l, shape), device)
            }
            None => model.forward(batch.image_tensor(device)),
        }; // [n, C, S, S]
        let l = loss(
            loss_kind,
            &config.head,
            logits.clone(),
            batch.target_tensor(device),
        );
        let l: f32 = l
            .try_into_scalar()
            .map_err(|e| SegError::Backend(format!("{e:?}")))?;
        loss_sum += f64::from(l) * chunk.len() as f64;
        let probs = config
            .head
            .probabilities(logits)
            .try_into_data()
            .map_err(|e| SegError::Backend(format!("{e:?}")))?
            .try_into_vec::<f32>()
            .map_err(|e| SegError::Backend(format!("{e:?}")))?;
        let plane = size * size;
        for (i, s) in chunk.iter().enumerate() {
            let lb = s.letterbox(size);
            let native = s.width * s.height;
            let mut pred = Vec::with_capacity(labels.len() * native);
            let mut truth = Vec::with_capacity(labels.len() * native);
            for (c, label) in labels.iter().enumerate() {
                let start = (i * labels.len() + c) * plane;
                let back = lb.unfit(&probs[start..start + plane]);
                pred.extend(back.iter().map(|&p| p >= 0.5));
                if let Some(m) = s.plane(label) {
                    truth.extend(m.iter().map(|&v| v > 0));
                }
            }
            let entry = match per_case.iter_mut().position(|(c, _, _)| *c == s.case) {
                Some(k) => &mut per_case[k],
                None => {
                    per_case.push((s.case.clone(), 0, MultiConfusion::new(labels.len())));
                    let last = per_case.len() - 1;
                    &mut per_case[last]
                }
            };
            entry.1 += 1;
            entry.2.add_planes(&pred, &truth, native);
        }
        progress(((b + 1) * batch_size).min(samples.len()), samples.len());
    }
    per_case.sort_by(|a, b| a.0.cmp(&b.0));
    let mut pooled = MultiConfusion::new(labels.len());
    let cases: Vec<CaseScores> = per_case
        .into_iter()
        .map(|(case, slices, confusion)| {
            pooled.add(&confusion);
            CaseScores {
                case,
                slices,
                classes: confusion.scores(),
                confusion,
            }
        })
        .collect();
    let mean = (0..labels.len())
        .map(|c| {
            let per: Vec<ClassScores> = cases.iter().map(|k| k.classes[c]).collect();
            ClassScores::mean(&per).unwrap_or_default()
        })
        .collect();
    Ok(EvalReport {
        labels,
        pooled: pooled.scores(),
        cases,
        mean,
        loss: if samples.is_empty() {
            0.0
        } else {
            loss_sum / samples.len() as f64
        },
        slices: samples.len(),
    })
}
