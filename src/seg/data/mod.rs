//! Training and evaluation data: 2-D slices with lung / infection masks, grouped by
//! patient (case), read from the layouts the project knows, and split by patient.
//!
//! Layouts (detected from the folder):
//! - NIfTI volumes named `CASE_ct.nii.gz`, `CASE_lung.nii.gz`, `CASE_infection.nii.gz`
//!   (`shared/data/covid19_ct_seg_zenodo3757476_volumes`);
//! - the Zenodo 3757476 folders: an image folder plus `Lung_and_Infection_Mask/` (labels 1, 2
//!   lungs, 3 infection) or `Lung_Mask/` + `Infection_Mask/`, files named by case;
//! - PNG triplets `ct/ lungs/ covid/` with a `slices.csv` whose `inferred_case` (or `case`)
//!   column names the patient (`shared/data/covid19_ct_seg_zenodo3757476_png256`);
//! - PNG pairs `train_images/ train_masks/ [val_images/ val_masks/]`, mask names equal to
//!   the image's or with a `_mask` suffix (binary masks, or label maps with `--pair-masks labels`).
//!
//! Images become the model input's `[0, 1]` look (see [`crate::seg::data::input`]).

pub mod augment;
pub mod clahe;
pub mod input;
mod pairs;
pub mod preprocess;
pub mod resample;
mod volumes;

pub use pairs::read_png_slice;
pub use volumes::samples_from_volume;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SegError;
use crate::seg::data::augment::Rng;
use crate::seg::data::resample::Letterbox;

/// One 2-D sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceSample {
    /// Patient / case id (the unit of the train/validation split).
    pub case: String,
    /// Slice name (file name or `case#k`).
    pub name: String,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Row-major model-range intensities in `[0, 1]`.
    pub image: Vec<f32>,
    /// Row-major 0/1 lung mask, if the data set has one.
    pub lung: Option<Vec<u8>>,
    /// Row-major 0/1 infection mask, if the data set has one.
    pub infection: Option<Vec<u8>>,
}

impl SliceSample {
    /// The 0/1 plane of an output label (`lung`, `infection`), if present.
    pub fn plane(&self, label: &str) -> Option<&[u8]> {
        match label {
            "lung" => self.lung.as_deref(),
            "infection" => self.infection.as_deref(),
            _ => None,
        }
    }

    /// Where this sample sits in a `size x size` model input: the training images
    /// have square pixels, so the same [`Letterbox`] inference uses, at 1 mm.
    pub fn letterbox(&self, size: usize) -> Letterbox {
        Letterbox::new(self.width, self.height, [1.0, 1.0], size)
    }

    /// This sample fitted into a `size x size` square (see [`Letterbox`]).
    pub fn fitted(&self, size: usize) -> SliceSample {
        if self.width == size && self.height == size {
            return self.clone();
        }
        let lb = self.letterbox(size);
        SliceSample {
            case: self.case.clone(),
            name: self.name.clone(),
            width: size,
            height: size,
            image: lb.fit(&self.image, crate::seg::data::preprocess::PAD_VALUE),
            lung: self.lung.as_ref().map(|m| lb.fit_mask(m)),
            infection: self.infection.as_ref().map(|m| lb.fit_mask(m)),
        }
    }
}

/// How binary masks of a pairs folder are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum PairMasks {
    /// Non-zero = infection.
    #[default]
    Infection,
    /// Non-zero = lung.
    Lung,
    /// Label maps: 1, 2 lungs, 3 infection (Zenodo `Lung_and_Infection_Mask`).
    Labels,
}

/// Which layout a folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// `CASE_ct / CASE_lung / CASE_infection` NIfTI files.
    CaseVolumes,
    /// Zenodo 3757476 folders.
    ZenodoVolumes,
    /// `ct/ lungs/ covid/` PNG slices with `slices.csv`.
    PngTriplets,
    /// `train_images/ train_masks/ [val_images/ val_masks/]`.
    PngPairs,
}

/// A data set as read from one folder.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The folder.
    pub root: PathBuf,
    /// Its layout.
    pub layout: Layout,
    /// The samples (or, for `PngPairs`, the training samples).
    pub samples: Vec<SliceSample>,
    /// Validation samples the folder itself defines (`val_images/`), if any.
    pub predefined_val: Option<Vec<SliceSample>>,
}

impl Dataset {
    /// Distinct case ids, sorted.
    pub fn cases(&self) -> Vec<String> {
        distinct_cases(&self.samples)
    }
}

/// Distinct case ids of samples, sorted.
pub fn distinct_cases(samples: &[SliceSample]) -> Vec<String> {
    let mut cases: Vec<String> = samples.iter().map(|s| s.case.clone()).collect();
    cases.sort();
    cases.dedup();
    cases
}

/// Options for [`load_dataset`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LoadOptions {
    /// How to read the masks of a pairs folder.
    pub pair_masks: PairMasks,
    /// From volumes, also take slices with neither lung nor infection.
    pub include_empty_slices: bool,
}

/// Reads the data set in `root`, detecting its layout.
pub fn load_dataset(root: &Path, options: &LoadOptions) -> Result<Dataset, SegError> {
    if !root.is_dir() {
        return Err(SegError::data(
            "data folder not found (or not a folder)",
            root,
        ));
    }
    let layout = detect_layout(root)?;
    let (samples, predefined_val) = match layout {
        Layout::CaseVolumes => (volumes::load_case_volumes(root, options)?, None),
        Layout::ZenodoVolumes => (volumes::load_zenodo(root, options)?, None),
        Layout::PngTriplets => (pairs::load_triplets(root)?, None),
        Layout::PngPairs => pairs::load_pairs(root, options.pair_masks)?,
    };
    if samples.is_empty() {
        return Err(SegError::data("no image/mask slices found", root));
    }
    Ok(Dataset {
        root: root.to_path_buf(),
        layout,
        samples,
        predefined_val,
    })
}

/// Which layout `root` holds.
pub fn detect_layout(root: &Path) -> Result<Layout, SegError> {
    let has = |name: &str| root.join(name).is_dir();
    if has("train_images") && has("train_masks") {
        return Ok(Layout::PngPairs);
    }
    if has("ct") && (has("lungs") || has("covid")) {
        return Ok(Layout::PngTriplets);
    }
    if has("Lung_and_Infection_Mask") || has("Infection_Mask") || has("Lung_Mask") {
        return Ok(Layout::ZenodoVolumes);
    }
    let entries =
        std::fs::read_dir(root).map_err(|e| SegError::io("listing the data folder", root, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with("_ct.nii.gz") || name.ends_with("_ct.nii") {
            return Ok(Layout::CaseVolumes);
        }
    }
    Err(SegError::data(
        "unknown data layout: expected CASE_ct.nii.gz volumes, Zenodo mask folders, ct/ lungs/ covid/ PNGs, or train_images/ train_masks/",
        root,
    ))
}

/// Splits samples by case: whole patients go to validation (shuffled with `seed`) until
/// they hold at least `val_fraction` of the slices; at least one case stays on each side.
/// Returns `(train, validation)`.
pub fn split_by_case(
    samples: Vec<SliceSample>,
    val_fraction: f64,
    seed: u64,
) -> Result<(Vec<SliceSample>, Vec<SliceSample>), SegError> {
    let mut cases = distinct_cases(&samples);
    if cases.len() < 2 {
        return Err(SegError::InvalidSettings(format!(
            "cannot split {} case(s) by patient; give a separate validation folder",
            cases.len()
        )));
    }
    Rng::new(seed).shuffle(&mut cases);
    let target = (val_fraction.clamp(0.0, 1.0) * samples.len() as f64).ceil() as usize;
    let mut val_cases: Vec<String> = Vec::new();
    let mut val_count = 0;
    for case in &cases[..cases.len() - 1] {
        if val_count >= target.max(1) {
            break;
        }
        val_count += samples.iter().filter(|s| &s.case == case).count();
        val_cases.push(case.clone());
    }
    let (val, train): (Vec<_>, Vec<_>) = samples
        .into_iter()
        .partition(|s| val_cases.contains(&s.case));
    Ok((train, val))
}

/// Splits samples by case for `folds`-fold cross-validation: the cases, shuffled with
/// `seed`, are dealt round-robin into `folds` groups, and group `fold` (1-based)
/// validates. Every case validates in exactly one fold. Returns `(train, validation)`.
pub fn split_fold(
    samples: Vec<SliceSample>,
    folds: usize,
    fold: usize,
    seed: u64,
) -> Result<(Vec<SliceSample>, Vec<SliceSample>), SegError> {
    let mut cases = distinct_cases(&samples);
    if folds < 2 || !(1..=folds).contains(&fold) {
        return Err(SegError::InvalidSettings(format!(
            "cross-validation needs at least 2 folds and a fold between 1 and the number of folds (got fold {fold} of {folds})"
        )));
    }
    if cases.len() < folds {
        return Err(SegError::InvalidSettings(format!(
            "cannot make {folds} folds of {} patient(s)",
            cases.len()
        )));
    }
    Rng::new(seed).shuffle(&mut cases);
    let val_cases: Vec<String> = cases
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % folds == fold - 1)
        .map(|(_, c)| c)
        .collect();
    let (val, train): (Vec<_>, Vec<_>) = samples
        .into_iter()
        .partition(|s| val_cases.contains(&s.case));
    Ok((train, val))
}

/// Grey image file -> `[0, 1]` floats (`value / max` of its bit depth).
pub(crate) fn read_grey(path: &Path) -> Result<(usize, usize, Vec<f32>), SegError> {
    let img =
        image::open(path).map_err(|e| SegError::data(format!("cannot read image ({e})"), path))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let data = match img {
        image::DynamicImage::ImageLuma16(g) => g
            .into_raw()
            .into_iter()
            .map(|v| f32::from(v) / 65535.0)
            .collect(),
        other => other
            .to_luma8()
            .into_raw()
            .into_iter()
            .map(|v| f32::from(v) / 255.0)
            .collect(),
    };
    Ok((w, h, data))
}

/// Grey mask file -> raw 8-bit values.
pub(crate) fn read_mask_png(path: &Path) -> Result<(usize, usize, Vec<u8>), SegError> {
    let img =
        image::open(path).map_err(|e| SegError::data(format!("cannot read mask ({e})"), path))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    Ok((w, h, img.to_luma8().into_raw()))
}
