//! Loading NIfTI files, DICOM files and DICOM folders in the background and
//! deciding what each file is.
//!
//! Rules (the first matching one applies), for each file in order:
//! 0. A folder or a DICOM file (not opened as a mask) is a volume: its headers
//!    are indexed (`io::SeriesIndex`), and one series is decoded with progress
//!    ("Decoding N / M DICOM images") and the job's cancel. Several DICOM files
//!    opened together are one input. An input with several series is never
//!    mixed or guessed: the job sends [`Loaded::ChooseSeries`] with their
//!    summaries and stops there; the files of the batch after it wait in the
//!    [`SeriesPrompt`] and load after the series the user picks (a new job with
//!    [`LoadRequest::series`] set).
//! 1. No volume yet (neither loaded nor earlier in this batch): the file is the volume.
//! 2. Opened as a mask explicitly: `io::read_mask(path, Some(grid))`; a file on
//!    another grid is refused with that function's message.
//! 3. Same grid as the volume: a mask overlay; if its values are not labels
//!    (`io::not_labels_reason`), it is a volume on the same grid and replaces the
//!    current one.
//! 4. Another grid: if its voxels look like labels (integers 0–255, few distinct
//!    values) it is a mask for another image and is refused with `read_mask`'s
//!    message (never resampled); otherwise it is a new volume.
//!
//! Rules 3 and 4 read the header first, then the voxels once
//! (`io::mask_from_volume` turns the volume read into the mask without reading the
//! file again), so a dropped file is never decompressed twice.

use super::jobs::JobContext;
use crate::io::{self, ReadProgress, SeriesIndex, SeriesSummary};
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
    /// A series the user picked in the chooser, read as the volume before
    /// `paths` (which then load on its grid).
    pub series: Option<ChosenSeries>,
}

/// A series picked in the chooser: the indexed input and the series' 1-based
/// index in its listing.
#[derive(Debug, Clone)]
pub struct ChosenSeries {
    /// The headers indexed when the chooser was filled (not indexed again).
    pub index: Arc<SeriesIndex>,
    /// 1-based index, as in [`SeriesSummary::index`].
    pub number: usize,
}

/// A DICOM input holding several series, waiting for the user's choice.
#[derive(Debug, Clone)]
pub struct SeriesPrompt {
    /// The folder opened (or the folder of the files opened together).
    pub source: PathBuf,
    /// One summary per series, in listing order (no patient identifiers).
    pub series: Vec<SeriesSummary>,
    /// The indexed headers; only the chosen series' pixels are decoded later.
    pub index: Arc<SeriesIndex>,
    /// Files opened in the same batch after this input: they load after the
    /// chosen series, or not at all if the choice is cancelled.
    pub rest: Vec<PathBuf>,
}

/// A load waiting for the running one to finish (the state's queue of loads).
#[derive(Debug)]
pub struct QueuedLoad {
    /// Files in order.
    pub(super) paths: Vec<PathBuf>,
    /// Every file is a mask.
    pub(super) as_masks: bool,
    /// A series picked in the chooser, read before `paths`.
    pub(super) series: Option<ChosenSeries>,
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
    /// A DICOM input with several series: the user must choose one.
    ChooseSeries(SeriesPrompt),
    /// A file that could not be used; the message names the cause and the file.
    Failed {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Loads the files of `request`, sending one [`Loaded`] per file. Failures of
/// single files are sent as [`Loaded::Failed`] and do not stop the batch; an
/// input with several series sends [`Loaded::ChooseSeries`] (with the files
/// after it) and ends the batch. Several DICOM files opened together are one
/// input. Once cancelled, the job ends with
/// [`Cancelled`](super::jobs::Cancelled) and sends nothing more (no partial
/// volume): `JobContext::check_cancelled` runs after every read.
pub fn load_files(request: LoadRequest, ctx: &JobContext<Loaded>) -> anyhow::Result<()> {
    let report = |done: usize, total: usize| decoding_progress(ctx, done, total);
    let progress = ReadProgress::new(ctx.cancel_flag(), &report);
    let mut grid = request.grid.clone();
    if let Some(chosen) = &request.series {
        ctx.set_progress(-1.0, "Reading the chosen series");
        let item = read_chosen(chosen, &progress);
        ctx.check_cancelled()?;
        if let Loaded::Volume { volume, .. } = &item {
            grid = Some(volume.geometry.clone());
        }
        ctx.send(item);
    }
    if is_dicom_set(&request) {
        ctx.set_progress(
            -1.0,
            format!("Indexing {} DICOM files", request.paths.len()),
        );
        let index = SeriesIndex::scan_files(&request.paths);
        ctx.check_cancelled()?;
        let item = dicom_item(index, &progress);
        ctx.check_cancelled()?;
        ctx.send(item);
        ctx.set_progress(1.0, "Done");
        return Ok(());
    }
    let n = request.paths.len().max(1);
    for (i, path) in request.paths.iter().enumerate() {
        ctx.check_cancelled()?;
        ctx.set_progress(i as f32 / n as f32, format!("Reading {}", file_name(path)));
        let item = load_one_with(path, grid.as_ref(), request.as_masks, &progress);
        // A cancelled read gives nothing to show, not even its error.
        ctx.check_cancelled()?;
        match item {
            Loaded::ChooseSeries(mut prompt) => {
                prompt.rest = request.paths[i + 1..].to_vec();
                ctx.send(Loaded::ChooseSeries(prompt));
                break;
            }
            item => {
                if let Loaded::Volume { volume, .. } = &item {
                    grid = Some(volume.geometry.clone());
                }
                ctx.send(item);
            }
        }
    }
    ctx.set_progress(1.0, "Done");
    Ok(())
}

/// Reports DICOM decoding as the job's progress.
fn decoding_progress(ctx: &JobContext<Loaded>, done: usize, total: usize) {
    ctx.set_progress(
        done as f32 / total.max(1) as f32,
        format!("Decoding {done} / {total} DICOM images"),
    );
}

/// Reads the series picked in the chooser.
pub fn read_chosen(chosen: &ChosenSeries, progress: &ReadProgress<'_>) -> Loaded {
    let path = chosen.index.path().to_path_buf();
    let choice = io::SeriesChoice::Index(chosen.number);
    match chosen.index.read(Some(&choice), progress) {
        Ok(v) => volume_item(v, &path),
        Err(e) => Loaded::Failed {
            path,
            message: e.to_string(),
        },
    }
}

/// The volume of an indexed DICOM input with one series, or the chooser's
/// prompt when it holds several (nothing decoded then).
fn dicom_item(index: SeriesIndex, progress: &ReadProgress<'_>) -> Loaded {
    let path = index.path().to_path_buf();
    if index.series_count() > 1 {
        return Loaded::ChooseSeries(SeriesPrompt {
            source: path,
            series: index.summaries(),
            index: Arc::new(index),
            rest: Vec::new(),
        });
    }
    match index.read(None, progress) {
        Ok(v) => volume_item(v, &path),
        Err(e) => Loaded::Failed {
            path,
            message: e.to_string(),
        },
    }
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

/// Decides what one file is and reads it (see the module rules), without
/// progress or cancel.
pub fn load_one(path: &Path, grid: Option<&Geometry>, as_mask: bool) -> Loaded {
    load_one_with(path, grid, as_mask, &ReadProgress::default())
}

/// [`load_one`] with the progress and cancel of DICOM decoding.
pub fn load_one_with(
    path: &Path,
    grid: Option<&Geometry>,
    as_mask: bool,
    progress: &ReadProgress<'_>,
) -> Loaded {
    let failed = |e: &dyn std::fmt::Display| Loaded::Failed {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let Some(grid) = grid else {
        return read_volume(path, progress);
    };
    if !as_mask && io::is_dicom_path(path) {
        return read_volume(path, progress);
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
    let same_grid = Geometry::from_affine(header.dims, header.affine).same_grid(grid);
    let integer_unscaled =
        header.slope == 1.0 && header.inter == 0.0 && !matches!(header.datatype, 16 | 64);
    if !same_grid && !integer_unscaled {
        return read_volume(path, progress);
    }
    // The file is read once; whether it is a mask is decided on the voxels in memory.
    let volume = match io::open_volume(path, None) {
        Ok(v) => v,
        Err(e) => return failed(&e),
    };
    if same_grid && io::not_labels_reason(&volume.voxels).is_some() {
        return volume_item(volume, path);
    }
    if same_grid || looks_like_labels(&volume.voxels) {
        // On the grid: a mask overlay. Off it: a mask drawn on another image,
        // refused with the reader's message.
        return match io::mask_from_volume(volume, Some(grid), path) {
            Ok(m) => mask_item(m, path),
            Err(e) => failed(&e),
        };
    }
    volume_item(volume, path)
}

/// A volume: DICOM inputs through their series index (a chooser's prompt when
/// they hold several series), anything else as NIfTI.
fn read_volume(path: &Path, progress: &ReadProgress<'_>) -> Loaded {
    let failed = |e: &dyn std::fmt::Display| Loaded::Failed {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    if io::is_dicom_path(path) {
        // Before anything opens it: a FIFO or device would block or never end.
        if let Err(e) = io::limits::check_file_or_dir(path) {
            return failed(&e);
        }
        return match SeriesIndex::scan(path) {
            Ok(index) => dicom_item(index, progress),
            Err(e) => failed(&e),
        };
    }
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
    fn dropped_files_are_sorted_into_masks_and_volumes() {
        use crate::volume::geometry::IDENTITY;
        let dir = tempfile::tempdir().expect("tempdir");
        let grid = Geometry::from_affine([6, 5, 4], IDENTITY);
        let other = Geometry::from_affine([6, 5, 3], IDENTITY);
        let write = |name: &str, g: &Geometry, v: Vec<i16>| {
            let path = dir.path().join(name);
            let vol = Volume::new(g.clone(), Voxels::I16(v)).expect("volume");
            io::write_volume(&path, &vol).expect("write");
            path
        };
        let n = grid.dims.iter().product::<usize>();
        let m = other.dims.iter().product::<usize>();
        let labels = |k: usize| (0..k).map(|i| (i % 3) as i16).collect::<Vec<_>>();
        let ct = |k: usize| (0..k).map(|i| i as i16 * 13 - 1000).collect::<Vec<_>>();
        let same_mask = write("same_mask.nii.gz", &grid, labels(n));
        let same_ct = write("same_ct.nii.gz", &grid, ct(n));
        let other_mask = write("other_mask.nii.gz", &other, labels(m));
        let other_ct = write("other_ct.nii.gz", &other, ct(m));
        match load_one(&same_mask, Some(&grid), false) {
            Loaded::Mask { mask, .. } => {
                assert_eq!(mask.labels.iter().filter(|&&l| l == 2).count(), n / 3)
            }
            _ => panic!("labels on the grid are a mask"),
        }
        assert!(matches!(
            load_one(&same_ct, Some(&grid), false),
            Loaded::Volume { .. }
        ));
        match load_one(&other_mask, Some(&grid), false) {
            Loaded::Failed { message, .. } => {
                assert!(message.contains("grid does not match"), "{message}")
            }
            _ => panic!("labels on another grid are refused"),
        }
        assert!(matches!(
            load_one(&other_ct, Some(&grid), false),
            Loaded::Volume { .. }
        ));
    }

    #[test]
    fn infection_names() {
        assert!(names_infection(Path::new("/d/case_infection.nii.gz")));
        assert!(names_infection(Path::new("GGO_mask.nii")));
        assert!(!names_infection(Path::new("/d/case_lung.nii.gz")));
    }
}
