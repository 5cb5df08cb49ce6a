//! Loading NIfTI files, DICOM files and DICOM folders in the background and
//! deciding what each file is.
//!
//! Rules (the first matching one applies), for each file in order:
//! 0. A folder or a DICOM file (not opened as a mask) is a volume, read by
//!    `io::open_volume` (a folder with several series is refused with their list);
//!    several DICOM files opened together are read as one series.
//! 1. No volume yet (neither loaded nor earlier in this batch): the file is the volume.
//! 2. Opened as a mask explicitly: `io::read_mask(path, Some(grid))`; a file on
//!    another grid is refused with that function's message.
//! 3. Same grid as the volume: a mask overlay (`read_mask` with the grid); if its
//!    values are not labels, it is a volume on the same grid and replaces the current one.
//! 4. Another grid: if its voxels look like labels (integers 0–255, few distinct
//!    values) it is a mask for another image and is refused with `read_mask`'s
//!    message (never resampled); otherwise it is a new volume.

use super::jobs::JobContext;
use crate::io::{self, NiftiError};
use crate::mask::{self, LabelMask};
use crate::volume::{Geometry, IntensityStats, Volume, Voxels};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// More distinct values than this and an integer image is not a label map.
pub const MAX_LABELS: usize = 64;

/// What to load.
#[derive(Debug, Clone)]
pub struct LoadRequest {
    /// Files in order.
    pub paths: Vec<PathBuf>,
    /// The grid of the volume currently shown, if any.
    pub grid: Option<Geometry>,
    /// Treat every file as a mask (File → Add mask).
    pub as_masks: bool,
}

/// One result of a load job, streamed to the UI as soon as it is ready.
#[derive(Debug)]
pub enum Loaded {
    /// A volume with its intensity statistics.
    Volume {
        /// The volume.
        volume: Arc<Volume>,
        /// `volume.stats()`, computed off the UI thread.
        stats: IntensityStats,
        /// The file.
        path: PathBuf,
    },
    /// A mask on the volume's grid.
    Mask {
        /// The labels (binary masks named after infection already show as
        /// [`mask::INFECTION`]).
        mask: LabelMask,
        /// The file.
        path: PathBuf,
    },
    /// A file that could not be used; the message names the cause and the file.
    Failed {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Loads the files of `request`, sending one [`Loaded`] per file. Failures of
/// single files are sent as [`Loaded::Failed`] and do not stop the batch.
/// Several DICOM files opened together are one series: one volume.
pub fn load_files(request: LoadRequest, ctx: &JobContext<Loaded>) -> anyhow::Result<()> {
    if is_dicom_set(&request) {
        ctx.set_progress(0.0, format!("Reading {} DICOM files", request.paths.len()));
        let item = match io::dicom::read_dicom_files(&request.paths, None) {
            Ok(v) => {
                let folder = v.info.path.clone().unwrap_or_default();
                volume_item(v, &folder)
            }
            Err(e) => Loaded::Failed {
                path: request.paths[0].clone(),
                message: e.to_string(),
            },
        };
        ctx.send(item);
        ctx.set_progress(1.0, "Done");
        return Ok(());
    }
    let mut grid = request.grid;
    let n = request.paths.len().max(1);
    for (i, path) in request.paths.into_iter().enumerate() {
        ctx.check_cancelled()?;
        ctx.set_progress(i as f32 / n as f32, format!("Reading {}", file_name(&path)));
        let item = load_one(&path, grid.as_ref(), request.as_masks);
        if let Loaded::Volume { volume, .. } = &item {
            grid = Some(volume.geometry.clone());
        }
        ctx.send(item);
    }
    ctx.set_progress(1.0, "Done");
    Ok(())
}

/// True if the request is several DICOM files (not folders), opened as a volume.
pub fn is_dicom_set(request: &LoadRequest) -> bool {
    !request.as_masks
        && request.paths.len() > 1
        && request
            .paths
            .iter()
            .all(|p| p.is_file() && io::is_dicom_path(p))
}

/// Decides what one file is and reads it (see the module rules).
pub fn load_one(path: &Path, grid: Option<&Geometry>, as_mask: bool) -> Loaded {
    let failed = |e: &dyn std::fmt::Display| Loaded::Failed {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let Some(grid) = grid else {
        return read_volume(path);
    };
    if !as_mask && io::is_dicom_path(path) {
        return read_volume(path);
    }
    if as_mask {
        return match io::read_mask(path, Some(grid)) {
            Ok(m) => mask_item(m, path),
            Err(e) => failed(&e),
        };
    }
    let header = match io::read_header(path) {
        Ok(h) => h,
        Err(e) => return failed(&e),
    };
    if Geometry::from_affine(header.dims, header.affine).same_grid(grid) {
        return match io::read_mask(path, Some(grid)) {
            Ok(m) => mask_item(m, path),
            Err(NiftiError::NotLabels { .. }) => read_volume(path),
            Err(e) => failed(&e),
        };
    }
    let integer_unscaled =
        header.slope == 1.0 && header.inter == 0.0 && !matches!(header.datatype, 16 | 64);
    if !integer_unscaled {
        return read_volume(path);
    }
    let volume = match io::read_volume(path) {
        Ok(v) => v,
        Err(e) => return failed(&e),
    };
    if looks_like_labels(&volume.voxels) {
        // A mask drawn on another image: refuse with the reader's message.
        return match io::read_mask(path, Some(grid)) {
            Ok(m) => mask_item(m, path),
            Err(e) => failed(&e),
        };
    }
    volume_item(volume, path)
}

fn read_volume(path: &Path) -> Loaded {
    match io::open_volume(path, None) {
        Ok(v) => volume_item(v, path),
        Err(e) => Loaded::Failed {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    }
}

fn volume_item(volume: Volume, path: &Path) -> Loaded {
    let stats = volume.stats();
    Loaded::Volume {
        volume: Arc::new(volume),
        stats,
        path: path.to_path_buf(),
    }
}

fn mask_item(mut m: LabelMask, path: &Path) -> Loaded {
    if m.labels_present() == [1] && names_infection(path) {
        for l in m.labels.iter_mut().filter(|l| **l == 1) {
            *l = mask::INFECTION;
        }
    }
    Loaded::Mask {
        mask: m,
        path: path.to_path_buf(),
    }
}

/// True if all voxels are integers in 0..=255 with at most [`MAX_LABELS`]
/// distinct values.
pub fn looks_like_labels(voxels: &Voxels) -> bool {
    let Voxels::I16(v) = voxels else {
        return false;
    };
    let mut seen = [false; 256];
    let mut distinct = 0;
    for &x in v {
        let Ok(l) = u8::try_from(x) else {
            return false;
        };
        if !seen[usize::from(l)] {
            seen[usize::from(l)] = true;
            distinct += 1;
            if distinct > MAX_LABELS {
                return false;
            }
        }
    }
    true
}

/// True if a binary mask's file name says it marks infection (lesion, GGO, ...).
pub fn names_infection(path: &Path) -> bool {
    let name = file_name(path).to_lowercase();
    ["infect", "lesion", "covid", "ggo", "consolid"]
        .iter()
        .any(|k| name.contains(k))
}

/// The file name of a path for messages.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_detection() {
        assert!(looks_like_labels(&Voxels::I16(vec![0, 1, 2, 3, 0])));
        assert!(!looks_like_labels(&Voxels::I16(vec![0, -1])));
        assert!(!looks_like_labels(&Voxels::I16(vec![0, 300])));
        assert!(!looks_like_labels(&Voxels::I16((0..100).collect())));
        assert!(!looks_like_labels(&Voxels::F32(vec![0.0, 1.0])));
    }

    #[test]
    fn infection_names() {
        assert!(names_infection(Path::new("/d/case_infection.nii.gz")));
        assert!(names_infection(Path::new("GGO_mask.nii")));
        assert!(!names_infection(Path::new("/d/case_lung.nii.gz")));
    }
}
