//! 2-D PNG data sets: `ct/ lungs/ covid/` triplets with `slices.csv`, and
//! `train_images/ train_masks/ [val_images/ val_masks/]` pairs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{PairMasks, SliceSample, read_grey, read_mask_png};
use crate::seg::SegError;

fn list_images(dir: &Path) -> Result<Vec<PathBuf>, SegError> {
    let entries = std::fs::read_dir(dir).map_err(|e| SegError::io("listing", dir, e))?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .map(|x| {
                    matches!(
                        x.to_string_lossy().to_ascii_lowercase().as_str(),
                        "png" | "jpg" | "jpeg" | "tif" | "tiff" | "bmp"
                    )
                })
                .unwrap_or(false)
        })
        .collect();
    files.sort();
    Ok(files)
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn binary(raw: Vec<u8>) -> Vec<u8> {
    raw.into_iter().map(|v| u8::from(v > 0)).collect()
}

/// Reads `slices.csv`: file name -> case, from the `inferred_case` or `case` column.
fn read_case_table(root: &Path) -> Result<HashMap<String, String>, SegError> {
    let path = root.join("slices.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        SegError::data(
            format!("cannot read slices.csv ({e}); it names each slice's patient, needed to split by patient"),
            &path,
        )
    })?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let file_col =
        col("file").ok_or_else(|| SegError::data("slices.csv has no `file` column", &path))?;
    let case_col = col("inferred_case")
        .or_else(|| col("case"))
        .ok_or_else(|| {
            SegError::data("slices.csv has no `inferred_case` or `case` column", &path)
        })?;
    let mut table = HashMap::new();
    for (n, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        match (fields.get(file_col), fields.get(case_col)) {
            (Some(f), Some(c)) if !f.is_empty() && !c.is_empty() => {
                table.insert((*f).to_string(), (*c).to_string());
            }
            _ => {
                return Err(SegError::data(
                    format!("slices.csv line {} is incomplete", n + 2),
                    &path,
                ));
            }
        }
    }
    Ok(table)
}

/// `ct/NNNN.png` + `lungs/NNNN.png` + `covid/NNNN.png`; cases from `slices.csv`.
pub(super) fn load_triplets(root: &Path) -> Result<Vec<SliceSample>, SegError> {
    let cases = read_case_table(root)?;
    let mut out = Vec::new();
    for path in list_images(&root.join("ct"))? {
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let case = cases.get(&file).ok_or_else(|| {
            SegError::data("slice missing from slices.csv (no patient for it)", &path)
        })?;
        out.push(read_png_slice(root, &file, case)?);
    }
    Ok(out)
}

/// One slice of a `ct/ lungs/ covid/` folder: `root/ct/<file>` with the masks of the same
/// name (a mask folder that does not exist leaves that mask out).
pub fn read_png_slice(root: &Path, file: &str, case: &str) -> Result<SliceSample, SegError> {
    let path = root.join("ct").join(file);
    let (w, h, image) = read_grey(&path)?;
    let read_plane = |dir: &Path| -> Result<Option<Vec<u8>>, SegError> {
        if !dir.is_dir() {
            return Ok(None);
        }
        let mpath = dir.join(file);
        let (mw, mh, raw) = read_mask_png(&mpath)?;
        if (mw, mh) != (w, h) {
            return Err(SegError::data(
                format!("mask is {mw}x{mh} but its image is {w}x{h}"),
                &mpath,
            ));
        }
        Ok(Some(binary(raw)))
    };
    Ok(SliceSample {
        case: case.to_string(),
        name: file.to_string(),
        width: w,
        height: h,
        image,
        lung: read_plane(&root.join("lungs"))?,
        infection: read_plane(&root.join("covid"))?,
    })
}

/// Finds the mask of `image` in `mask_dir`: same file name, same stem with any image
/// extension, or the stem with a `_mask` suffix.
fn find_mask(image: &Path, masks: &[PathBuf]) -> Option<PathBuf> {
    let s = stem(image);
    let name = image.file_name();
    masks
        .iter()
        .find(|m| m.file_name() == name)
        .or_else(|| masks.iter().find(|m| stem(m) == s))
        .or_else(|| masks.iter().find(|m| stem(m) == format!("{s}_mask")))
        .cloned()
}

fn load_pair_folder(
    images: &Path,
    masks: &Path,
    kind: PairMasks,
) -> Result<Vec<SliceSample>, SegError> {
    let mask_files = list_images(masks)?;
    let mut out = Vec::new();
    for path in list_images(images)? {
        let mpath = find_mask(&path, &mask_files).ok_or_else(|| {
            SegError::data(
                "no mask for this image (same name or NAME_mask expected)",
                &path,
            )
        })?;
        let (w, h, image) = read_grey(&path)?;
        let (mw, mh, raw) = read_mask_png(&mpath)?;
        if (mw, mh) != (w, h) {
            return Err(SegError::data(
                format!("mask is {mw}x{mh} but its image is {w}x{h}"),
                &mpath,
            ));
        }
        let (lung, infection) = match kind {
            PairMasks::Infection => (None, Some(binary(raw))),
            PairMasks::Lung => (Some(binary(raw)), None),
            PairMasks::Labels => {
                if let Some(bad) = raw.iter().find(|&&v| v > 3) {
                    return Err(SegError::data(
                        format!(
                            "label value {bad} in a label-map mask (expected 0..=3: 1, 2 lungs, 3 infection)"
                        ),
                        &mpath,
                    ));
                }
                let lung = raw.iter().map(|&v| u8::from(v > 0)).collect();
                let inf = raw.iter().map(|&v| u8::from(v == 3)).collect();
                (Some(lung), Some(inf))
            }
        };
        let name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(SliceSample {
            // Pair folders name no patient: each image is its own case (the split is the
            // folder's own train/val division).
            case: stem(&path),
            name,
            width: w,
            height: h,
            image,
            lung,
            infection,
        });
    }
    Ok(out)
}

/// `train_images/ train_masks/` and, when present, `val_images/ val_masks/`.
pub(super) fn load_pairs(
    root: &Path,
    kind: PairMasks,
) -> Result<(Vec<SliceSample>, Option<Vec<SliceSample>>), SegError> {
    let train = load_pair_folder(&root.join("train_images"), &root.join("train_masks"), kind)?;
    let val = if root.join("val_images").is_dir() {
        Some(load_pair_folder(
            &root.join("val_images"),
            &root.join("val_masks"),
            kind,
        )?)
    } else {
        None
    };
    Ok((train, val))
}
