//! DICOM input: a file or a folder of files read into a [`Volume`].
//!
//! Built on the dicom-rs crates (`dicom-object` for parsing, `dicom-pixeldata` for
//! the codecs). Reading happens in three steps:
//!
//! 1. `scan` finds the files and `header` reads each one up to the pixel data
//!    (never the pixels), after `guard` has checked that no declared length
//!    exceeds the file; files that are not DICOM are skipped with a note;
//!    `series` groups image frames by SeriesInstanceUID, orientation and image
//!    size and drops localizers. Several series need a [`SeriesChoice`].
//! 2. `geometry`: the frames of the chosen series are sorted by their position
//!    along the slice normal (never by file name or InstanceNumber); duplicate
//!    positions, uneven spacing and gantry tilt are refused; the voxel → mm affine
//!    is built in DICOM LPS and converted to NIfTI RAS+.
//! 3. `pixels`: the files are decoded in parallel (rayon), RescaleSlope/Intercept
//!    applied per frame, PixelPaddingValue mapped to −1024 HU and MONOCHROME1
//!    inverted; integer results that fit are stored as `i16`, others as `f32`.
//!    JPEG-LS goes through CharLS after `jpegls` has checked each frame's header
//!    against the DICOM header.
//!    A [`ReadProgress`] reports the images decoded and can stop the decoding
//!    ([`DicomError::Cancelled`]; nothing partial is returned).
//!
//! [`SeriesIndex`] keeps the result of step 1, so a caller can list the series
//! (e.g. in the viewer's chooser) and later read the one the user picked without
//! indexing the headers again.
//!
//! Patient identifiers (name, ID, birth date) are never read into the result, the
//! messages or the warnings: a series is named by its description and UID only.

mod geometry;
mod guard;
mod header;
mod j2k;
mod jpegls;
mod pixels;
mod rle;
mod scan;
mod series;

use crate::volume::{Geometry, Volume, VolumeInfo};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

pub use scan::{is_dicom_file, looks_like_dicom_folder};

/// The largest volume read, in bytes of voxels at 4 bytes per voxel (2 GiB).
pub const MAX_VOXEL_BYTES: u64 = 1 << 31;

/// Which series of a folder to read when it holds several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeriesChoice {
    /// The 1-based index in the listing of [`list_series`].
    Index(usize),
    /// A SeriesInstanceUID (or a prefix of one that matches a single series).
    Uid(String),
}

impl std::str::FromStr for SeriesChoice {
    type Err = String;

    /// A number is an index (1-based), anything else a UID.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty series choice: give an index (1, 2, ...) or a UID".into());
        }
        match s.parse::<usize>() {
            Ok(0) => Err("series indices start at 1".into()),
            Ok(i) => Ok(Self::Index(i)),
            Err(_) => Ok(Self::Uid(s.to_string())),
        }
    }
}

impl fmt::Display for SeriesChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Index(i) => write!(f, "{i}"),
            Self::Uid(u) => f.write_str(u),
        }
    }
}

/// One series found in a folder (no patient identifiers).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SeriesSummary {
    /// 1-based index, as accepted by [`SeriesChoice::Index`].
    pub index: usize,
    /// SeriesInstanceUID.
    pub uid: String,
    /// SeriesNumber, if present.
    pub number: Option<i64>,
    /// SeriesDescription.
    pub description: String,
    /// Modality (CT, MR, ...).
    pub modality: String,
    /// Number of images (frames) in the series.
    pub images: usize,
    /// Image size (columns, rows).
    pub size: [u32; 2],
    /// Median distance between slice positions along the normal (mm), if there
    /// are at least two slices with positions.
    pub slice_spacing_mm: Option<f64>,
    /// ConvolutionKernel.
    pub kernel: String,
    /// SeriesDate, else StudyDate (YYYYMMDD).
    pub date: String,
}

impl SeriesSummary {
    /// One line for listings: index, short UID, description, images, modality.
    pub fn line(&self) -> String {
        let spacing = self
            .slice_spacing_mm
            .map(|s| format!(", {s:.2} mm apart"))
            .unwrap_or_default();
        let desc = if self.description.is_empty() {
            "(no description)"
        } else {
            &self.description
        };
        format!(
            "{:>3}  {}  {desc}  {} image(s) {}x{}{spacing}, {}{}{}",
            self.index,
            short_uid(&self.uid),
            self.images,
            self.size[0],
            self.size[1],
            if self.modality.is_empty() {
                "?"
            } else {
                &self.modality
            },
            if self.kernel.is_empty() {
                String::new()
            } else {
                format!(", kernel {}", self.kernel)
            },
            if self.date.is_empty() {
                String::new()
            } else {
                format!(", {}", self.date)
            },
        )
    }
}

/// `1.2.840.113619.2.55.3...` shortened to its first and last parts.
pub fn short_uid(uid: &str) -> String {
    if uid.len() <= 24 || !uid.is_ascii() {
        uid.to_string()
    } else {
        format!("{}…{}", &uid[..10], &uid[uid.len() - 10..])
    }
}

/// Progress and cancellation of a DICOM read.
///
/// `progress(done, total)` is called with the number of images (frames) decoded
/// so far and the number to decode: once with `done == 0` before decoding starts,
/// then after each file, from the decoding threads (calls may arrive slightly out
/// of order; `done` reaches `total` when all are decoded). Setting `cancel` stops
/// the read at the next file with [`DicomError::Cancelled`].
#[derive(Clone, Copy)]
pub struct ReadProgress<'a> {
    /// Set (from any thread) to stop the read.
    pub cancel: &'a AtomicBool,
    /// Called with (images decoded, images in total).
    pub progress: &'a (dyn Fn(usize, usize) + Sync),
}

/// The cancel flag of reads that cannot be cancelled.
static NEVER_CANCELLED: AtomicBool = AtomicBool::new(false);
/// The progress callback of reads nobody watches.
static NO_PROGRESS: fn(usize, usize) = |_, _| {};

impl<'a> ReadProgress<'a> {
    /// Progress reported to `progress`, cancelled by setting `cancel`.
    pub fn new(cancel: &'a AtomicBool, progress: &'a (dyn Fn(usize, usize) + Sync)) -> Self {
        Self { cancel, progress }
    }

    /// True once the read was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once the read was asked to stop.
    pub(crate) fn check(&self) -> Result<(), DicomError> {
        if self.is_cancelled() {
            Err(DicomError::Cancelled)
        } else {
            Ok(())
        }
    }
}

impl Default for ReadProgress<'static> {
    /// No progress reported, never cancelled.
    fn default() -> Self {
        Self {
            cancel: &NEVER_CANCELLED,
            progress: &NO_PROGRESS,
        }
    }
}

impl fmt::Debug for ReadProgress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadProgress")
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}

/// Everything that can go wrong reading DICOM. Messages name the problem first
/// and the file (or folder) last.
#[derive(Debug, thiserror::Error)]
pub enum DicomError {
    /// The operating system refused.
    #[error("{action} failed: {source}: {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file without the DICOM marker, or that cannot be parsed as DICOM.
    #[error("not a readable DICOM file: {reason}: {path}")]
    NotDicom {
        /// What is wrong.
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// A folder without any DICOM image.
    #[error("no DICOM image found{detail}: {path}")]
    NoImages {
        /// Extra explanation (skipped files, localizers only...).
        detail: String,
        /// The folder.
        path: PathBuf,
    },
    /// Several series and no choice given.
    #[error(
        "{count} series found; choose one with --series INDEX or --series UID:\n{list}\nin {path}"
    )]
    SeveralSeries {
        /// How many.
        count: usize,
        /// One line per series.
        list: String,
        /// The folder.
        path: PathBuf,
    },
    /// The chosen series does not exist.
    #[error("no series matches --series {choice}; the series are:\n{list}\nin {path}")]
    NoSuchSeries {
        /// The choice given.
        choice: String,
        /// One line per series.
        list: String,
        /// The folder.
        path: PathBuf,
    },
    /// A required attribute is missing or unusable.
    #[error("{what}: {path}")]
    BadAttribute {
        /// What is missing or wrong.
        what: String,
        /// The file.
        path: PathBuf,
    },
    /// The file has no Pixel Data element.
    #[error("no pixel data in this DICOM file (not an image, or cut before the pixels): {path}")]
    NoPixelData {
        /// The file.
        path: PathBuf,
    },
    /// A transfer syntax this build cannot decode.
    #[error(
        "unsupported transfer syntax {name} ({uid}); convert the series to an uncompressed or JPEG 2000 syntax: {path}"
    )]
    UnsupportedTransferSyntax {
        /// Its name.
        name: String,
        /// Its UID.
        uid: String,
        /// The file.
        path: PathBuf,
    },
    /// Decoding the pixels failed.
    #[error("cannot decode the pixel data ({syntax}): {reason}: {path}")]
    Decode {
        /// The transfer syntax's name.
        syntax: String,
        /// The decoder's complaint.
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// Pixel data this reader does not handle (colour, odd bit depths...).
    #[error("unsupported image: {reason}: {path}")]
    Unsupported {
        /// What is not supported.
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// Two slices at the same position.
    #[error(
        "two slices at the same position ({position_mm:.3} mm along the slice normal): {a} and {b}; \
         the series may hold several acquisitions or phases: {path}"
    )]
    DuplicatePosition {
        /// Position along the normal.
        position_mm: f64,
        /// First file (and frame).
        a: String,
        /// Second file (and frame).
        b: String,
        /// The input.
        path: PathBuf,
    },
    /// A gap between slices that differs from the others.
    #[error(
        "uneven slice spacing: {gap_mm:.3} mm between {a} and {b} (slices {k} and {next}) while the median \
         spacing is {median_mm:.3} mm; a slice may be missing: {path}",
        next = .k + 1
    )]
    UnevenSpacing {
        /// The odd gap.
        gap_mm: f64,
        /// The median gap.
        median_mm: f64,
        /// Sorted index of the slice before the gap.
        k: usize,
        /// File before the gap.
        a: String,
        /// File after the gap.
        b: String,
        /// The input.
        path: PathBuf,
    },
    /// Slice positions that do not follow the slice normal.
    #[error(
        "gantry tilt of {angle_deg:.2}° (slice positions do not follow the slice normal); tilted series are \
         not supported (resample it to an orthogonal grid first): {path}"
    )]
    GantryTilt {
        /// Angle between the stacking direction and the normal.
        angle_deg: f64,
        /// The input.
        path: PathBuf,
    },
    /// Slices of one series that do not fit together.
    #[error("inconsistent series: {reason}: {path}")]
    Inconsistent {
        /// What differs.
        reason: String,
        /// The input.
        path: PathBuf,
    },
    /// The read was cancelled (see [`ReadProgress`]); nothing was returned.
    #[error("cancelled: the DICOM images were not all decoded, nothing was read")]
    Cancelled,
    /// A volume too large to read.
    #[error(
        "volume too large: {dims:?} voxels need {bytes} bytes, more than the {limit}-byte limit: {path}"
    )]
    TooLarge {
        /// Columns, rows, slices.
        dims: [u64; 3],
        /// Bytes needed.
        bytes: u64,
        /// The limit.
        limit: u64,
        /// The input.
        path: PathBuf,
    },
}

impl DicomError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The headers of a DICOM input indexed into series (no pixel read yet): list
/// its series with [`SeriesIndex::summaries`], then read one with
/// [`SeriesIndex::read`] without indexing the headers again.
#[derive(Debug)]
pub struct SeriesIndex {
    index: series::Index,
    /// The input named in messages and in `VolumeInfo::path`.
    path: PathBuf,
}

impl SeriesIndex {
    /// Indexes a DICOM file or a folder (recursively); files that are not DICOM
    /// images are skipped with a note.
    pub fn scan(path: &Path) -> Result<Self, DicomError> {
        Ok(Self {
            index: scan::scan(path)?,
            path: path.to_path_buf(),
        })
    }

    /// Indexes a set of files (e.g. the files of one series dropped together);
    /// messages and `VolumeInfo::path` name the folder of the first file.
    pub fn scan_files(files: &[PathBuf]) -> Self {
        let index = scan::scan_files(files);
        let path = index.root.clone();
        Self { index, path }
    }

    /// The input: the file or folder scanned, or the folder of the first file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The series found (localizers dropped), in the order
    /// [`SeriesChoice::Index`] counts them.
    pub fn summaries(&self) -> Vec<SeriesSummary> {
        self.index.summaries()
    }

    /// Number of series found.
    pub fn series_count(&self) -> usize {
        self.index.series.len()
    }

    /// Reads one series into a volume, decoding its files in parallel. With
    /// several series, `series` chooses one; without it the error lists them.
    pub fn read(
        &self,
        series: Option<&SeriesChoice>,
        progress: &ReadProgress<'_>,
    ) -> Result<Volume, DicomError> {
        read_index(&self.index, &self.path, series, progress)
    }
}

/// Lists the series of a DICOM file or folder (localizers dropped), in the order
/// [`SeriesChoice::Index`] counts them.
pub fn list_series(path: &Path) -> Result<Vec<SeriesSummary>, DicomError> {
    Ok(SeriesIndex::scan(path)?.summaries())
}

/// Reads a DICOM file or a folder (recursively) into a volume. With several
/// series, `series` chooses one; without it the error lists them.
pub fn read_dicom(path: &Path, series: Option<&SeriesChoice>) -> Result<Volume, DicomError> {
    read_dicom_with(path, series, &ReadProgress::default())
}

/// [`read_dicom`] with progress and cancellation: `progress` sees the images
/// decoded, and its cancel flag stops the read with [`DicomError::Cancelled`].
pub fn read_dicom_with(
    path: &Path,
    series: Option<&SeriesChoice>,
    progress: &ReadProgress<'_>,
) -> Result<Volume, DicomError> {
    progress.check()?;
    SeriesIndex::scan(path)?.read(series, progress)
}

/// Reads a set of DICOM files (e.g. the files of one series dropped together)
/// into a volume; `VolumeInfo::path` is the folder of the first file.
pub fn read_dicom_files(
    files: &[PathBuf],
    series: Option<&SeriesChoice>,
) -> Result<Volume, DicomError> {
    read_dicom_files_with(files, series, &ReadProgress::default())
}

/// [`read_dicom_files`] with progress and cancellation (see [`read_dicom_with`]).
pub fn read_dicom_files_with(
    files: &[PathBuf],
    series: Option<&SeriesChoice>,
    progress: &ReadProgress<'_>,
) -> Result<Volume, DicomError> {
    progress.check()?;
    SeriesIndex::scan_files(files).read(series, progress)
}

fn read_index(
    index: &series::Index,
    path: &Path,
    series: Option<&SeriesChoice>,
    progress: &ReadProgress<'_>,
) -> Result<Volume, DicomError> {
    progress.check()?;
    let mut warnings = index.notes.clone();
    let chosen = index.choose(series)?;
    let frames = chosen.frames(&index.files);
    let placed = geometry::place(&frames, path)?;
    warnings.extend(placed.warnings.iter().cloned());
    let dims = [
        chosen.cols as usize,
        chosen.rows as usize,
        placed.order.len(),
    ];
    let dims64 = dims.map(|d| d as u64);
    let bytes = dims64
        .iter()
        .try_fold(4u64, |acc, &d| acc.checked_mul(d))
        .unwrap_or(u64::MAX);
    // The same absolute read budget as NIfTI (LUNGSCOPE_MAX_READ_BYTES), within
    // this reader's own cap.
    let limit = MAX_VOXEL_BYTES.min(crate::io::budget::max_read_bytes());
    if bytes > limit {
        return Err(DicomError::TooLarge {
            dims: dims64,
            bytes,
            limit,
            path: path.to_path_buf(),
        });
    }
    let sorted: Vec<series::FrameRef> = placed.order.iter().map(|&i| chosen.refs[i]).collect();
    let decoded = pixels::decode(&index.files, &sorted, dims, &mut warnings, progress)?;
    let first = &index.files[sorted[0].file];
    let geometry = Geometry::from_affine(dims, placed.affine);
    let mut volume =
        Volume::new(geometry, decoded.voxels).map_err(|e| DicomError::Inconsistent {
            reason: e.to_string(),
            path: path.to_path_buf(),
        })?;
    volume.info = VolumeInfo {
        path: Some(path.to_path_buf()),
        file_datatype: format!("dicom {}", decoded.stored_type),
        description: first.description.clone(),
        warnings,
        header: None,
    };
    Ok(volume)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_choice_parses_indices_and_uids() {
        assert_eq!("2".parse::<SeriesChoice>(), Ok(SeriesChoice::Index(2)));
        assert_eq!(
            "1.2.840.1".parse::<SeriesChoice>(),
            Ok(SeriesChoice::Uid("1.2.840.1".into()))
        );
        assert!("0".parse::<SeriesChoice>().is_err());
        assert!(" ".parse::<SeriesChoice>().is_err());
    }

    #[test]
    fn long_uids_are_shortened() {
        assert_eq!(short_uid("1.2.3"), "1.2.3");
        let s = short_uid("1.3.6.1.4.1.14519.5.2.1.99.1071.12985984391743921024065199671");
        assert!(
            s.starts_with("1.3.6.1.4.") && s.ends_with("4065199671"),
            "{s}"
        );
    }
}
