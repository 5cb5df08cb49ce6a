//! NIfTI volume data sets: `CASE_ct / CASE_lung / CASE_infection` files, and the Zenodo
//! 3757476 folder layout. Axial slices in display orientation, intensities mapped as
//! inference maps them ([`Preprocessor::slice_unit_native`]).

use std::path::{Path, PathBuf};

use super::{LoadOptions, SliceSample};
use crate::io::{read_mask, read_volume};
use crate::mask::LabelMask;
use crate::seg::SegError;
use crate::seg::data::preprocess::{PreprocessConfig, Preprocessor};
use crate::volume::{View, Volume};

fn nii_files(dir: &Path) -> Result<Vec<PathBuf>, SegError> {
    let entries = std::fs::read_dir(dir).map_err(|e| SegError::io("listing", dir, e))?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".nii") || n.ends_with(".nii.gz")
        })
        .collect();
    files.sort();
    Ok(files)
}

/// File name without `.nii` / `.nii.gz`.
fn nii_stem(p: &Path) -> String {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.trim_end_matches(".gz")
        .trim_end_matches(".nii")
        .to_string()
}

/// `CASE_ct.nii.gz` with `CASE_lung` and/or `CASE_infection` beside it.
pub(super) fn load_case_volumes(
    root: &Path,
    options: &LoadOptions,
) -> Result<Vec<SliceSample>, SegError> {
    let files = nii_files(root)?;
    let find = |case: &str, suffix: &str| {
        files
            .iter()
            .find(|p| nii_stem(p) == format!("{case}_{suffix}"))
            .cloned()
    };
    let mut out = Vec::new();
    for ct in files.iter().filter(|p| nii_stem(p).ends_with("_ct")) {
        let stem = nii_stem(ct);
        let case = stem.trim_end_matches("_ct");
        let lung = find(case, "lung");
        let infection = find(case, "infection");
        if lung.is_none() && infection.is_none() {
            return Err(SegError::data(
                format!("no {case}_lung or {case}_infection mask beside this CT"),
                ct,
            ));
        }
        out.extend(volume_slices(
            case,
            ct,
            lung.as_deref(),
            infection.as_deref(),
            None,
            options,
        )?);
    }
    Ok(out)
}

/// Zenodo folders: masks in `Lung_and_Infection_Mask/` (preferred) or `Lung_Mask/` +
/// `Infection_Mask/`, CTs in the remaining folder with NIfTI files, all named by case.
pub(super) fn load_zenodo(
    root: &Path,
    options: &LoadOptions,
) -> Result<Vec<SliceSample>, SegError> {
    const MASK_DIRS: [&str; 3] = ["Lung_and_Infection_Mask", "Lung_Mask", "Infection_Mask"];
    let entries = std::fs::read_dir(root).map_err(|e| SegError::io("listing", root, e))?;
    let mut image_dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| {
            !MASK_DIRS
                .iter()
                .any(|m| p.file_name().is_some_and(|n| n == *m))
        })
        .filter(|p| nii_files(p).map(|f| !f.is_empty()).unwrap_or(false))
        .collect();
    image_dirs.sort();
    let image_dir = image_dirs.first().ok_or_else(|| {
        SegError::data(
            "no folder of CT volumes beside the Zenodo mask folders",
            root,
        )
    })?;
    let combined = root.join("Lung_and_Infection_Mask");
    let mut out = Vec::new();
    for ct in nii_files(image_dir)? {
        let case = nii_stem(&ct);
        let in_dir = |dir: &str| {
            nii_files(&root.join(dir))
                .ok()
                .and_then(|fs| fs.into_iter().find(|p| nii_stem(p) == case))
        };
        let slices = if combined.is_dir() {
            let labels = in_dir("Lung_and_Infection_Mask").ok_or_else(|| {
                SegError::data("no mask of this case in Lung_and_Infection_Mask/", &ct)
            })?;
            volume_slices(&case, &ct, None, None, Some(&labels), options)?
        } else {
            let lung = in_dir("Lung_Mask");
            let inf = in_dir("Infection_Mask");
            if lung.is_none() && inf.is_none() {
                return Err(SegError::data(
                    "no mask of this case in Lung_Mask/ or Infection_Mask/",
                    &ct,
                ));
            }
            volume_slices(&case, &ct, lung.as_deref(), inf.as_deref(), None, options)?
        };
        out.extend(slices);
    }
    Ok(out)
}

/// Axial slices of one case. `labels` is a Zenodo label map (1, 2 lungs, 3 infection).
fn volume_slices(
    case: &str,
    ct: &Path,
    lung: Option<&Path>,
    infection: Option<&Path>,
    labels: Option<&Path>,
    options: &LoadOptions,
) -> Result<Vec<SliceSample>, SegError> {
    let volume = read_volume(ct)?;
    let grid = &volume.geometry;
    let lung = lung.map(|p| read_mask(p, Some(grid))).transpose()?;
    let infection = infection.map(|p| read_mask(p, Some(grid))).transpose()?;
    let labels = labels.map(|p| read_mask(p, Some(grid))).transpose()?;
    let n = volume.slice_count(View::Axial);
    let plane = |m: &Option<LabelMask>, k: usize, pred: fn(u8) -> bool| {
        m.as_ref().map(|m| {
            m.slice(View::Axial, k)
                .data
                .into_iter()
                .map(|v| u8::from(pred(v)))
                .collect::<Vec<u8>>()
        })
    };
    let pre = Preprocessor::new(&volume, &PreprocessConfig::for_size(256));
    let mut out = Vec::new();
    for k in 0..n {
        let (lung_k, inf_k) = if labels.is_some() {
            (plane(&labels, k, |v| v > 0), plane(&labels, k, |v| v == 3))
        } else {
            (plane(&lung, k, |v| v > 0), plane(&infection, k, |v| v > 0))
        };
        let any = |p: &Option<Vec<u8>>| p.as_ref().is_some_and(|p| p.iter().any(|&v| v > 0));
        if !options.include_empty_slices && !any(&lung_k) && !any(&inf_k) {
            continue;
        }
        out.push(slice_sample(case, k, &volume, &pre, lung_k, inf_k));
    }
    Ok(out)
}

/// Training slices of an opened case for fine-tuning: every axial slice where `mask`
/// (labels 1, 2 lungs, 3 infection, on the volume's grid) has any label, in display
/// orientation, intensities mapped as inference maps them
/// ([`Preprocessor::slice_unit_native`]).
pub fn samples_from_volume(
    volume: &Volume,
    mask: &LabelMask,
    case: &str,
) -> Result<Vec<SliceSample>, SegError> {
    mask.check_grid(&volume.geometry)
        .map_err(|e| SegError::InvalidSettings(format!("the mask does not fit the volume: {e}")))?;
    let n = volume.slice_count(View::Axial);
    let mut out = Vec::new();
    let pre = Preprocessor::new(volume, &PreprocessConfig::for_size(256));
    for k in 0..n {
        let labels = mask.slice(View::Axial, k).data;
        if labels.iter().all(|&v| v == 0) {
            continue;
        }
        let lung = labels.iter().map(|&v| u8::from(v > 0)).collect();
        let infection = labels
            .iter()
            .map(|&v| u8::from(v == crate::mask::INFECTION))
            .collect();
        out.push(slice_sample(
            case,
            k,
            volume,
            &pre,
            Some(lung),
            Some(infection),
        ));
    }
    Ok(out)
}

fn slice_sample(
    case: &str,
    k: usize,
    volume: &Volume,
    pre: &Preprocessor,
    lung: Option<Vec<u8>>,
    infection: Option<Vec<u8>>,
) -> SliceSample {
    let s = volume.slice(View::Axial, k);
    SliceSample {
        case: case.to_string(),
        name: format!("{case}#{k}"),
        width: s.width,
        height: s.height,
        image: pre.slice_unit_native(volume, k),
        lung,
        infection,
    }
}
