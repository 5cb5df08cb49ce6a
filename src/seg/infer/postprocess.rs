//! Postprocessing: model probabilities to a label map on the volume's grid.
//!
//! Per slice ([`SliceDecoder`]): the probability maps the head gives (lung,
//! infection) are cut out of the letterbox, resized bilinearly to the native slice
//! (probabilities first, then the threshold, so edges stay smooth) and thresholded.
//!
//! Per volume ([`finish`]), in 3-D on the voxel grid:
//! 1. lung: connected components (face connectivity); components smaller than
//!    `lung_keep_fraction` of the largest are dropped (bowel gas, trachea
//!    fragments, noise), so the lungs' main components remain;
//! 2. infection is restricted to the cleaned lung (the lung masks the model learnt
//!    from include the infected parenchyma);
//! 3. infection components below `min_infection_mm3` are dropped (specks);
//! 4. the lung is split into left and right by the patient midline in world
//!    millimetres ([`crate::analysis::split_left_right`]): patient left is −x in
//!    NIfTI RAS+ space whatever the storage order.
//!
//! The result follows the Zenodo `Lung_and_Infection_Mask` convention: 0
//! background, 1 left lung, 2 right lung, 3 infection.

use crate::analysis::{
    AnalysisError, Components, Connectivity, PhysicsConfig, PhysicsReport, SplitInfo, SplitOptions,
    split_left_right,
};
use crate::mask::{BACKGROUND, INFECTION, LEFT_LUNG, LabelMask, RIGHT_LUNG};
use crate::seg::data::resample::Letterbox;
use crate::seg::model::Head;
use crate::volume::{Geometry, SliceMap};
use serde::{Deserialize, Serialize};

/// Postprocessing parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PostprocessConfig {
    /// Probability at or above which a pixel is foreground.
    pub threshold: f32,
    /// Lung components smaller than this fraction of the largest one are dropped.
    pub lung_keep_fraction: f64,
    /// Infection components smaller than this (mm³) are dropped.
    pub min_infection_mm3: f64,
    /// The HU physics on measured-HU volumes ([`crate::analysis::physics`]); `None`
    /// turns it off (the network's masks as they are).
    #[serde(default)]
    pub physics: Option<PhysicsConfig>,
}

impl Default for PostprocessConfig {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            lung_keep_fraction: 0.1,
            min_infection_mm3: 10.0,
            physics: Some(PhysicsConfig::default()),
        }
    }
}

/// Where a probability map comes from in the network output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// One output channel (sigmoid heads).
    Channel(usize),
    /// `1 - p(class 0)`: any non-background class (softmax heads).
    NotBackground,
}

/// What the head's channels mean for the label map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadMapping {
    /// Output channels of the network.
    pub channels: usize,
    /// The lung probability, if the head has one.
    pub lung: Option<Source>,
    /// The infection probability, if the head has one.
    pub infection: Option<Source>,
}

impl HeadMapping {
    /// The meaning of a head's outputs: a sigmoid head's channel 0 is lung and
    /// channel 1 (if any) infection; a softmax head (background / ground-glass /
    /// consolidation ...) gives infection as "not background" and no lung.
    pub fn of(head: &Head) -> Self {
        match *head {
            Head::Sigmoid { channels } => Self {
                channels,
                lung: (channels >= 1).then_some(Source::Channel(0)),
                infection: (channels >= 2).then_some(Source::Channel(1)),
            },
            Head::Softmax { classes } => Self {
                channels: classes,
                lung: None,
                infection: (classes >= 2).then_some(Source::NotBackground),
            },
        }
    }
}

/// Running statistics of one probability map over the letterbox content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbAccum {
    /// Sum of probabilities.
    pub sum: f64,
    /// Pixels seen.
    pub pixels: u64,
    /// Pixels at or above the threshold.
    pub positive: u64,
    /// Pixels with probability in `[0.2, 0.8]` (the model is unsure).
    pub uncertain: u64,
    /// Sum of probabilities over positive pixels.
    pub positive_sum: f64,
}

impl ProbAccum {
    /// Adds another accumulator.
    pub fn merge(&mut self, o: &ProbAccum) {
        self.sum += o.sum;
        self.pixels += o.pixels;
        self.positive += o.positive;
        self.uncertain += o.uncertain;
        self.positive_sum += o.positive_sum;
    }

    /// Summary figures.
    pub fn stats(&self) -> ProbStats {
        let n = self.pixels.max(1) as f64;
        ProbStats {
            mean: self.sum / n,
            positive_fraction: self.positive as f64 / n,
            uncertain_fraction: self.uncertain as f64 / n,
            mean_positive: if self.positive > 0 {
                self.positive_sum / self.positive as f64
            } else {
                0.0
            },
        }
    }
}

/// Probability statistics of one map over all slices (model resolution, padding
/// excluded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbStats {
    /// Mean probability.
    pub mean: f64,
    /// Fraction of pixels at or above the threshold.
    pub positive_fraction: f64,
    /// Fraction of pixels with probability in `[0.2, 0.8]`.
    pub uncertain_fraction: f64,
    /// Mean probability of the positive pixels (confidence).
    pub mean_positive: f64,
}

/// Thresholded masks of one slice in display orientation (`width × height`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SliceMasks {
    /// Lung pixels, if the head predicts lung.
    pub lung: Option<Vec<bool>>,
    /// Infection pixels, if the head predicts infection.
    pub infection: Option<Vec<bool>>,
    /// Statistics of the lung map.
    pub lung_stats: ProbAccum,
    /// Statistics of the infection map.
    pub infection_stats: ProbAccum,
}

/// Turns one slice's network probabilities into native-grid masks.
#[derive(Debug, Clone, Copy)]
pub struct SliceDecoder {
    /// Head meaning.
    pub mapping: HeadMapping,
    /// Where the slice sits in the input.
    pub letterbox: Letterbox,
    /// Foreground threshold.
    pub threshold: f32,
}

impl SliceDecoder {
    /// Decodes `probs`, `[C, S, S]` for one slice (C = `mapping.channels`).
    pub fn decode(&self, probs: &[f32]) -> SliceMasks {
        let plane = self.letterbox.size * self.letterbox.size;
        let map = |src: Option<Source>| -> Option<(Vec<bool>, ProbAccum)> {
            let full: Vec<f32> = match src? {
                Source::Channel(c) => probs.get(c * plane..(c + 1) * plane)?.to_vec(),
                Source::NotBackground => probs.get(..plane)?.iter().map(|&p| 1.0 - p).collect(),
            };
            let content = self.letterbox.unpad(&full);
            let acc = accumulate(&content, self.threshold);
            let native = self.letterbox.resize_to_native(&content);
            Some((native.iter().map(|&p| p >= self.threshold).collect(), acc))
        };
        let (lung, lung_stats) = split_opt(map(self.mapping.lung));
        let (infection, infection_stats) = split_opt(map(self.mapping.infection));
        SliceMasks {
            lung,
            infection,
            lung_stats,
            infection_stats,
        }
    }
}

fn split_opt(v: Option<(Vec<bool>, ProbAccum)>) -> (Option<Vec<bool>>, ProbAccum) {
    match v {
        Some((m, a)) => (Some(m), a),
        None => (None, ProbAccum::default()),
    }
}

fn accumulate(p: &[f32], threshold: f32) -> ProbAccum {
    let mut a = ProbAccum::default();
    for &v in p {
        a.sum += f64::from(v);
        a.pixels += 1;
        if v >= threshold {
            a.positive += 1;
            a.positive_sum += f64::from(v);
        }
        if (0.2..=0.8).contains(&v) {
            a.uncertain += 1;
        }
    }
    a
}

/// Quick labels of one slice for live display while a volume is being segmented:
/// lung pixels take their side from their world x against `midline_x_mm`
/// (patient left at smaller x), infection inside the lung is 3. The final mask
/// of [`finish`] can differ slightly (3-D cleanup, full midline search).
pub fn preview_labels(
    masks: &SliceMasks,
    geometry: &Geometry,
    map: &SliceMap,
    slice: usize,
    midline_x_mm: f64,
) -> Vec<u8> {
    let n = map.width * map.height;
    let mut out = vec![BACKGROUND; n];
    for (idx, label) in out.iter_mut().enumerate() {
        let lung = masks.lung.as_ref().is_some_and(|m| m[idx]);
        let inf = masks.infection.as_ref().is_some_and(|m| m[idx]);
        *label = if inf && (lung || masks.lung.is_none()) {
            INFECTION
        } else if lung {
            let v = map.voxel(idx % map.width, idx / map.width, slice);
            let x = geometry.vox2mm([v[0] as f64, v[1] as f64, v[2] as f64])[0];
            if x < midline_x_mm {
                LEFT_LUNG
            } else {
                RIGHT_LUNG
            }
        } else {
            BACKGROUND
        };
    }
    out
}

/// What the 3-D cleanup did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CleanupReport {
    /// Lung components kept.
    pub lung_components_kept: usize,
    /// Lung components dropped as too small.
    pub lung_components_dropped: usize,
    /// Voxels in the dropped lung components.
    pub lung_voxels_dropped: u64,
    /// Infection voxels removed because they lay outside the lung.
    pub infection_outside_lung_voxels: u64,
    /// Infection specks dropped.
    pub infection_specks_dropped: usize,
    /// Voxels in the dropped specks.
    pub infection_speck_voxels: u64,
    /// How left and right were told apart (none without lung).
    pub split: Option<SplitInfo>,
    /// What the HU physics removed before the cleanup (see
    /// [`crate::analysis::physics`]).
    #[serde(default)]
    pub physics: PhysicsReport,
}

/// The 3-D step: cleans the volume masks (column-major on `geometry`) and builds
/// the label map. `body_center_x_mm` guides the midline search (see
/// [`crate::analysis::body_center_x_mm`]).
pub fn finish(
    geometry: &Geometry,
    lung: Option<Vec<bool>>,
    infection: Option<Vec<bool>>,
    config: &PostprocessConfig,
    body_center_x_mm: Option<f64>,
) -> Result<(LabelMask, CleanupReport), AnalysisError> {
    let n = geometry.len();
    for (what, m) in [("lung mask", &lung), ("infection mask", &infection)] {
        if let Some(m) = m
            && m.len() != n
        {
            return Err(AnalysisError::SizeMismatch {
                what,
                expected: n,
                found: m.len(),
            });
        }
    }
    let mut report = CleanupReport::default();
    let mut labels = vec![BACKGROUND; n];

    let lung = lung.map(|m| {
        let comps = Components::of_bool(geometry.dims, &m, Connectivity::Face6);
        let largest = comps.sizes.first().copied().unwrap_or(0) as f64;
        let keep_min = (largest * config.lung_keep_fraction).ceil() as u64;
        let keep = |c: u32| comps.size(c) >= keep_min.max(1);
        for c in 1..=comps.count() as u32 {
            if keep(c) {
                report.lung_components_kept += 1;
            } else {
                report.lung_components_dropped += 1;
                report.lung_voxels_dropped += comps.size(c);
            }
        }
        comps.select(keep)
    });

    if let Some(lung) = &lung
        && lung.iter().any(|&v| v)
    {
        let options = SplitOptions {
            body_center_x_mm,
            ..SplitOptions::default()
        };
        let split = split_left_right(lung, geometry, &options)?;
        labels.copy_from_slice(&split.mask.labels);
        report.split = Some(split.info);
    }

    if let Some(mut inf) = infection {
        if let Some(lung) = &lung {
            for (v, &l) in inf.iter_mut().zip(lung) {
                if *v && !l {
                    *v = false;
                    report.infection_outside_lung_voxels += 1;
                }
            }
        }
        let comps = Components::of_bool(geometry.dims, &inf, Connectivity::Face6);
        let voxel_mm3 = geometry.voxel_ml() * 1000.0;
        let min_voxels = if voxel_mm3 > 0.0 {
            (config.min_infection_mm3 / voxel_mm3).ceil() as u64
        } else {
            0
        };
        for c in 1..=comps.count() as u32 {
            if comps.size(c) < min_voxels {
                report.infection_specks_dropped += 1;
                report.infection_speck_voxels += comps.size(c);
            }
        }
        let kept = comps.select(|c| comps.size(c) >= min_voxels);
        for (l, &k) in labels.iter_mut().zip(&kept) {
            if k {
                *l = INFECTION;
            }
        }
    }

    let mask = LabelMask {
        geometry: geometry.clone(),
        labels,
    };
    Ok((mask, report))
}
