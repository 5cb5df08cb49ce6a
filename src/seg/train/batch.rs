//! Batches: samples fitted to the model input, augmented, stacked into tensors.

use burn::tensor::{Device, Tensor, TensorData};

use crate::seg::SegError;
use crate::seg::data::SliceSample;
use crate::seg::data::augment::{AugmentSettings, Rng, augment};

/// Images `[n, 1, S, S]` and targets `[n, C, S, S]` as flat row-major buffers.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub images: Vec<f32>,
    pub targets: Vec<f32>,
    pub n: usize,
    pub channels: usize,
    pub size: usize,
}

impl Batch {
    /// `[n, 1, S, S]` on `device`.
    pub fn image_tensor(&self, device: &Device) -> Tensor<4> {
        let shape = [self.n, 1, self.size, self.size];
        Tensor::from_data(TensorData::new(self.images.clone(), shape), device)
    }

    /// `[n, C, S, S]` on `device`.
    pub fn target_tensor(&self, device: &Device) -> Tensor<4> {
        let shape = [self.n, self.channels, self.size, self.size];
        Tensor::from_data(TensorData::new(self.targets.clone(), shape), device)
    }
}

/// Checks that every sample has a mask for every output label (e.g. a lung+infection model
/// cannot learn from infection-only masks).
pub(crate) fn check_targets(
    labels: &[String],
    samples: &[SliceSample],
    what: &str,
) -> Result<(), SegError> {
    for label in labels {
        if let Some(s) = samples.iter().find(|s| s.plane(label).is_none()) {
            return Err(SegError::InvalidSettings(format!(
                "the model outputs `{label}` but the {what} slice {} (case {}) has no {label} mask; \
                 use data with {label} masks or a model whose outputs the data cover",
                s.name, s.case
            )));
        }
    }
    Ok(())
}

/// Stacks `samples` (each fitted to `size`) into a batch; with `aug`, each sample is
/// augmented with its own generator `Rng::for_item(seed, [epoch, index])`.
pub(crate) fn build_batch(
    samples: &[&SliceSample],
    labels: &[String],
    size: usize,
    aug: Option<(&AugmentSettings, u64, u64)>,
    indices: &[usize],
) -> Batch {
    let plane = size * size;
    let channels = labels.len();
    let mut images = Vec::with_capacity(samples.len() * plane);
    let mut targets = Vec::with_capacity(samples.len() * channels * plane);
    for (sample, &index) in samples.iter().zip(indices) {
        let fitted;
        let s: &SliceSample = if sample.width == size && sample.height == size {
            sample
        } else {
            fitted = sample.fitted(size);
            &fitted
        };
        let mut image = s.image.clone();
        let mut masks: Vec<Vec<u8>> = labels
            .iter()
            .map(|l| {
                s.plane(l)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_else(|| vec![0; plane])
            })
            .collect();
        if let Some((settings, seed, epoch)) = aug {
            let mut rng = Rng::for_item(seed, &[epoch, index as u64]);
            augment(&mut image, &mut masks, size, settings, &mut rng);
        }
        images.extend_from_slice(&image);
        for m in &masks {
            targets.extend(m.iter().map(|&v| f32::from(v)));
        }
    }
    Batch {
        images,
        targets,
        n: samples.len(),
        channels,
        size,
    }
}
