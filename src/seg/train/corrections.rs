//! Fine-tuning the current model on one case: "fine-tune on corrections" (the axial
//! slices the user edited or marked as reviewed) and "fine-tune on this case" (every
//! slice of a loaded mask that contains lung, subsampled).
//!
//! The training samples go through the **same preprocessing as inference**
//! ([`Preprocessor`]: display-oriented axial slice, intensity path chosen by the HU
//! guard, letterbox into the model's `S × S` input); the label masks take the same
//! letterbox (resized with the same filter, thresholded at one half, padded with 0).
//! The samples are therefore already `S × S`, and the Dice before and after is measured
//! on exactly what the network sees and predicts on those slices.
//!
//! [`fine_tune_case`] scores the model before, runs [`fine_tune_with_anchors`] (progress
//! events, cancel; for corrections, other slices of the case as anchors, see
//! [`anchor_slices`]), scores after, and stores the result as a new version in a [`ModelStore`]
//! with a card recording the date, the base model, the number of slices and the
//! before/after metrics. It does not activate the new version: the user decides.

use std::sync::atomic::AtomicBool;

use burn::tensor::Device;
use serde::Serialize;

use crate::mask::{INFECTION, LEFT_LUNG, LabelMask, RIGHT_LUNG};
use crate::seg::SegError;
use crate::seg::data::SliceSample;
use crate::seg::data::preprocess::{PreprocessConfig, Preprocessor};
use crate::seg::model::weights::{LoadedModel, ModelCard};
use crate::seg::store::{ModelStore, VersionInfo};
use crate::seg::train::metrics::ClassScores;
use crate::seg::train::{
    FineTuneEvent, FineTuneOutcome, FineTuneSettings, fine_tune_with_anchors, fine_tuned_card,
};
use crate::volume::{View, Volume};

/// Slices "fine-tune on this case" uses at most (evenly spread over the lung).
pub const DEFAULT_MAX_CASE_SLICES: usize = 40;

/// What the training targets are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// Axial slices the user corrected (edited) or marked as reviewed.
    Corrections,
    /// Slices of a loaded mask that contain lung.
    WholeCase,
}

impl TargetKind {
    /// Words for the model card.
    pub fn describe(self) -> &'static str {
        match self {
            TargetKind::Corrections => "corrected (edited or reviewed)",
            TargetKind::WholeCase => "lung-containing",
        }
    }
}

/// One case fine-tuning request.
#[derive(Debug, Clone)]
pub struct CaseFineTune {
    /// Name of the case (file name), for the card.
    pub case: String,
    /// Axial slice numbers used as targets (storage index along the axial normal).
    pub slices: Vec<usize>,
    /// Where the slices come from.
    pub kind: TargetKind,
    /// Steps, learning rate, batch, augmentation.
    pub settings: FineTuneSettings,
}

/// The result of [`fine_tune_case`].
#[derive(Debug, Clone)]
pub struct CaseFineTuneResult {
    /// The stored (not activated) version.
    pub version: VersionInfo,
    /// Output labels, the order of the scores.
    pub labels: Vec<String>,
    /// Scores of the base model on the target slices.
    pub before: Vec<ClassScores>,
    /// Scores of the fine-tuned model on the same slices.
    pub after: Vec<ClassScores>,
    /// Loss of every step.
    pub losses: Vec<f64>,
    /// The axial slices trained on.
    pub slices: Vec<usize>,
}

impl CaseFineTuneResult {
    /// Mean Dice over the output labels, before and after.
    pub fn mean_dice(&self) -> (f64, f64) {
        (mean_dice(&self.before), mean_dice(&self.after))
    }
}

/// Mean Dice over labels (0 for none).
pub fn mean_dice(scores: &[ClassScores]) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    scores.iter().map(|s| s.dice).sum::<f64>() / scores.len() as f64
}

/// Training samples of axial `slices` of `volume` with targets from `mask` (labels
/// 1, 2 lungs, 3 infection on the volume's grid), preprocessed exactly as inference
/// does at input size `size`. Lung target: any label > 0 (infection lies in the lung);
/// infection target: label 3.
pub fn correction_samples(
    volume: &Volume,
    mask: &LabelMask,
    slices: &[usize],
    size: usize,
    case: &str,
) -> Result<Vec<SliceSample>, SegError> {
    mask.check_grid(&volume.geometry)
        .map_err(|e| SegError::InvalidSettings(format!("the mask does not fit the volume: {e}")))?;
    if size == 0 {
        return Err(SegError::InvalidSettings(
            "the model input size is 0".into(),
        ));
    }
    let depth = volume.slice_count(View::Axial);
    if let Some(&bad) = slices.iter().find(|&&k| k >= depth) {
        return Err(SegError::InvalidSettings(format!(
            "axial slice {bad} is outside the volume ({depth} slices)"
        )));
    }
    let pre = Preprocessor::new(volume, &PreprocessConfig::for_size(size));
    let lb = *pre.letterbox();
    Ok(slices
        .iter()
        .map(|&k| {
            let labels = mask.slice(View::Axial, k).data;
            let lung: Vec<u8> = labels.iter().map(|&l| u8::from(l > 0)).collect();
            let infection: Vec<u8> = labels.iter().map(|&l| u8::from(l == INFECTION)).collect();
            SliceSample {
                case: case.to_string(),
                name: format!("{case}#{k}"),
                width: size,
                height: size,
                image: pre.slice_input(volume, k),
                lung: Some(lb.fit_mask(&lung)),
                infection: Some(lb.fit_mask(&infection)),
            }
        })
        .collect())
}

/// Axial slices of `mask` that contain lung (left, right or infection labels), at most
/// `max` of them spread evenly from the first to the last.
pub fn lung_slices(mask: &LabelMask, max: usize) -> Vec<usize> {
    let depth = crate::volume::SliceMap::new(&mask.geometry, View::Axial).depth;
    let with_lung: Vec<usize> = (0..depth)
        .filter(|&k| {
            mask.slice(View::Axial, k)
                .data
                .iter()
                .any(|&l| matches!(l, LEFT_LUNG | RIGHT_LUNG | INFECTION))
        })
        .collect();
    subsample(&with_lung, max)
}

/// At most `max` items of `items`, evenly spaced, first and last kept.
pub fn subsample(items: &[usize], max: usize) -> Vec<usize> {
    if items.len() <= max {
        return items.to_vec();
    }
    match max {
        0 => Vec::new(),
        1 => vec![items[items.len() / 2]],
        _ => (0..max)
            .map(|i| items[i * (items.len() - 1) / (max - 1)])
            .collect(),
    }
}

/// The anchor slices of a fine-tuning on corrections: up to
/// `request.settings.anchor_slices` axial slices of `mask` with lung that are not
/// targets, spread evenly over the lung (none for "fine-tune on this case", whose
/// targets already cover the case). On them the mask is what the user accepted without
/// correcting it; for a model with a lung output, slices without a lung label (1 or 2)
/// are skipped, as they could not teach it.
pub fn anchor_slices(mask: &LabelMask, request: &CaseFineTune, labels: &[String]) -> Vec<usize> {
    if request.kind != TargetKind::Corrections || request.settings.anchor_slices == 0 {
        return Vec::new();
    }
    let needs_lung = labels.iter().any(|l| l == "lung");
    let depth = crate::volume::SliceMap::new(&mask.geometry, View::Axial).depth;
    let candidates: Vec<usize> = (0..depth)
        .filter(|k| !request.slices.contains(k))
        .filter(|&k| {
            let data = mask.slice(View::Axial, k).data;
            if needs_lung {
                data.iter().any(|&l| l == LEFT_LUNG || l == RIGHT_LUNG)
            } else {
                data.iter().any(|&l| l > 0)
            }
        })
        .collect();
    subsample(&candidates, request.settings.anchor_slices)
}

/// Checks that the targets can teach every output of the model: a model with a lung
/// output needs lung labels (1 or 2) somewhere on the slices, or the lung target
/// would be the infection alone.
fn check_mask_covers_outputs(
    labels: &[String],
    mask: &LabelMask,
    slices: &[usize],
) -> Result<(), SegError> {
    if !labels.iter().any(|l| l == "lung") {
        return Ok(());
    }
    let has_lung = slices.iter().any(|&k| {
        mask.slice(View::Axial, k)
            .data
            .iter()
            .any(|&l| l == LEFT_LUNG || l == RIGHT_LUNG)
    });
    if has_lung {
        Ok(())
    } else {
        Err(SegError::InvalidSettings(
            "the model outputs lung, but the mask has no lung label (1 or 2) on these slices; \
             load or draw the lungs first"
                .into(),
        ))
    }
}

#[derive(Serialize)]
struct MetricsFile<'a> {
    case: &'a str,
    kind: TargetKind,
    slices: &'a [usize],
    anchor_slices: &'a [usize],
    labels: &'a [String],
    before: &'a [ClassScores],
    after: &'a [ClassScores],
    losses: &'a [f64],
    settings: &'a FineTuneSettings,
    note: &'static str,
}

/// The card of a version fine-tuned from `base` by `request`: the training card's
/// fields ([`fine_tuned_card`]: id, date, base model, settings, `case_dice_<label>_before`
/// / `_after`) plus the number of target slices (`slices`) and which slices they were.
pub fn version_card(
    base: &LoadedModel,
    request: &CaseFineTune,
    outcome: &FineTuneOutcome,
) -> ModelCard {
    let n = request.slices.len();
    let mut card = fine_tuned_card(base, &request.case, n, &request.settings, outcome);
    card.metrics.insert("slices".to_string(), n as f64);
    card.training_data = format!(
        "{}; {} {} axial slices: {}",
        card.training_data,
        n,
        request.kind.describe(),
        slice_list(&request.slices)
    );
    card.recipe = format!(
        "{}; Dice measured on the same slices at the model input size",
        card.recipe
    );
    if base.id.is_empty() {
        card.base_model = None;
    }
    card
}

/// `3, 5, 8–12` style list of slice numbers (1-based, as the viewer shows them).
pub fn slice_list(slices: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < slices.len() {
        let mut j = i;
        while j + 1 < slices.len() && slices[j + 1] == slices[j] + 1 {
            j += 1;
        }
        parts.push(if j > i + 1 {
            format!("{}–{}", slices[i] + 1, slices[j] + 1)
        } else if j == i + 1 {
            format!("{}, {}", slices[i] + 1, slices[j] + 1)
        } else {
            format!("{}", slices[i] + 1)
        });
        i = j + 1;
    }
    parts.join(", ")
}

/// A volume and its label mask (labels 1, 2 lungs, 3 infection on the volume's grid).
#[derive(Debug, Clone, Copy)]
pub struct CaseData<'a> {
    /// The CT.
    pub volume: &'a Volume,
    /// The target labels.
    pub mask: &'a LabelMask,
}

/// Fine-tunes `base` (loaded on `device`) on `request.slices` of `case.volume` with
/// targets from `case.mask`, and stores the result in `store` as a new version (not activated).
/// `on_event` sees every step's loss and the scores before, during and after;
/// `cancel` stops between steps with [`SegError::Cancelled`] and stores nothing.
pub fn fine_tune_case(
    base: &LoadedModel,
    case: CaseData<'_>,
    request: &CaseFineTune,
    device: &Device,
    store: &ModelStore,
    on_event: &mut dyn FnMut(FineTuneEvent),
    cancel: &AtomicBool,
) -> Result<CaseFineTuneResult, SegError> {
    if request.slices.is_empty() {
        return Err(SegError::InvalidSettings(match request.kind {
            TargetKind::Corrections => {
                "no corrected slices: edit a slice or mark it as reviewed first".into()
            }
            TargetKind::WholeCase => "the mask has no slice with lung".into(),
        }));
    }
    let labels = base.config.output_labels();
    check_mask_covers_outputs(&labels, case.mask, &request.slices)?;
    let samples = correction_samples(
        case.volume,
        case.mask,
        &request.slices,
        base.config.input_size,
        &request.case,
    )?;
    let anchor_slices = anchor_slices(case.mask, request, &labels);
    let anchors = correction_samples(
        case.volume,
        case.mask,
        &anchor_slices,
        base.config.input_size,
        &request.case,
    )?;
    let outcome = fine_tune_with_anchors(
        base,
        &samples,
        &anchors,
        &request.settings,
        device,
        on_event,
        cancel,
    )?;
    let mut card = version_card(base, request, &outcome);
    if !anchor_slices.is_empty() {
        card.training_data = format!(
            "{}; {} uncorrected axial slices as anchors: {}",
            card.training_data,
            anchor_slices.len(),
            slice_list(&anchor_slices)
        );
    }
    let metrics = MetricsFile {
        case: &request.case,
        kind: request.kind,
        slices: &request.slices,
        anchor_slices: &anchor_slices,
        labels: &outcome.labels,
        before: &outcome.before,
        after: &outcome.after,
        losses: &outcome.losses,
        settings: &request.settings,
        note: "scores pooled over the target slices at the model input size, threshold 0.5, \
               no post-processing",
    };
    let metrics = serde_json::to_value(&metrics)
        .map_err(|e| SegError::InvalidSettings(format!("cannot record the metrics: {e}")))?;
    let version = store.add(&base.config, &outcome.model, &card, &metrics)?;
    Ok(CaseFineTuneResult {
        version,
        labels: outcome.labels,
        before: outcome.before,
        after: outcome.after,
        losses: outcome.losses,
        slices: request.slices.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Geometry, Voxels};

    #[test]
    fn subsample_keeps_ends_and_spreads_evenly() {
        let items: Vec<usize> = (10..30).collect();
        assert_eq!(subsample(&items, 50), items);
        let s = subsample(&items, 5);
        assert_eq!(s.len(), 5);
        assert_eq!(s.first(), Some(&10));
        assert_eq!(s.last(), Some(&29));
        assert!(s.windows(2).all(|w| w[1] > w[0]));
        assert_eq!(subsample(&items, 1), vec![20]);
        assert!(subsample(&items, 0).is_empty());
    }

    #[test]
    fn slice_lists_are_one_based_ranges() {
        assert_eq!(slice_list(&[0, 1, 2, 3, 7, 9, 10]), "1–4, 8, 10, 11");
        assert_eq!(slice_list(&[]), "");
    }

    /// A 40 × 20 × 3 volume of 2 × 1 mm pixels: the letterbox squeezes rows.
    fn volume_and_mask() -> (Volume, LabelMask) {
        let g = Geometry::with_signs([40, 20, 3], [1.0, 2.0, 3.0], [-1.0, -1.0, 1.0]);
        let hu: Vec<i16> = (0..g.len()).map(|i| (i % 200) as i16 * 8 - 900).collect();
        let vol = Volume::new(g.clone(), Voxels::I16(hu)).expect("sizes");
        let mut mask = LabelMask::empty(g.clone());
        for j in 5..15 {
            for i in 4..16 {
                mask.labels[g.index(i, j, 1)] = LEFT_LUNG;
            }
            for i in 8..12 {
                mask.labels[g.index(i, j, 1)] = INFECTION;
            }
        }
        (vol, mask)
    }

    #[test]
    fn samples_use_the_inference_input_and_letterboxed_masks() {
        let (vol, mask) = volume_and_mask();
        let size = 32;
        let s = correction_samples(&vol, &mask, &[1, 2], size, "c").expect("fits");
        assert_eq!(s.len(), 2);
        let pre = Preprocessor::new(&vol, &PreprocessConfig::for_size(size));
        assert_eq!(
            s[0].image,
            pre.slice_input(&vol, 1),
            "same input as inference"
        );
        assert_eq!((s[0].width, s[0].height), (size, size));
        let lung = s[0].lung.as_ref().expect("lung plane");
        let inf = s[0].infection.as_ref().expect("infection plane");
        // 40 mm wide, 40 mm tall: the letterbox is 32 x 32 with no padding; the lung box
        // covers 12 x 20 mm -> about 9.6 x 16 px, the infection 4 x 20 mm.
        let n_lung = lung.iter().filter(|&&v| v == 1).count();
        let n_inf = inf.iter().filter(|&&v| v == 1).count();
        assert!((130..=180).contains(&n_lung), "{n_lung}");
        assert!((40..=70).contains(&n_inf), "{n_inf}");
        assert!(
            inf.iter().zip(lung).all(|(&i, &l)| i <= l),
            "infection lies in the lung"
        );
        assert!(s[1].lung.as_ref().expect("plane").iter().all(|&v| v == 0));
        assert!(correction_samples(&vol, &mask, &[3], size, "c").is_err());
    }

    #[test]
    fn lung_slices_skip_empty_slices() {
        let (_, mask) = volume_and_mask();
        assert_eq!(lung_slices(&mask, 10), vec![1]);
        let mut infection_only = LabelMask::empty(mask.geometry.clone());
        infection_only.labels[5] = INFECTION;
        let labels = vec!["lung".to_string(), "infection".to_string()];
        assert!(check_mask_covers_outputs(&labels, &infection_only, &[0]).is_err());
        assert!(check_mask_covers_outputs(&labels, &mask, &[0, 1]).is_ok());
    }
}
