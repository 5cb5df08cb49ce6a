//! Typed errors of NIfTI reading and writing. Messages name the problem first and
//! the file last.

use std::path::PathBuf;

/// Everything that can go wrong reading or writing a NIfTI file.
#[derive(Debug, thiserror::Error)]
pub enum NiftiError {
    /// The operating system refused (missing file, permissions, full disk...).
    #[error("{action} failed: {source}: {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Zero-byte file.
    #[error("empty file (0 bytes): {path}")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Not a NIfTI file at all.
    #[error("not a NIfTI file: {reason}: {path}")]
    NotNifti {
        /// What was found instead.
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// A `.hdr`/`.img` pair or an ANALYZE header.
    #[error(
        "NIfTI header/image pairs (magic \"ni1\") are not supported; convert to a single .nii/.nii.gz: {path}"
    )]
    HeaderPair {
        /// The file.
        path: PathBuf,
    },
    /// The (uncompressed) file ends before the data the header announces.
    #[error(
        "truncated file: the header announces {needed} bytes of voxel data but only {available} are present: {path}"
    )]
    Truncated {
        /// Bytes the header needs (header + voxels).
        needed: u64,
        /// Bytes present.
        available: u64,
        /// The file.
        path: PathBuf,
    },
    /// The gzip stream ends early.
    #[error(
        "truncated gzip stream: the compressed data ends before the volume is complete: {path}"
    )]
    TruncatedGzip {
        /// The file.
        path: PathBuf,
    },
    /// The gzip stream is damaged.
    #[error("corrupt gzip stream ({reason}): {path}")]
    CorruptGzip {
        /// The decoder's complaint.
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// Dimensions that make no sense.
    #[error("invalid dimensions: {reason}: {path}")]
    BadDims {
        /// What is wrong.
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// Header dimensions larger than the file could possibly hold.
    #[error(
        "header dimensions {dims:?} need {needed} bytes, more than this {file_bytes}-byte file can contain: {path}"
    )]
    ImpossibleSize {
        /// The claimed dimensions.
        dims: Vec<u64>,
        /// Bytes they need.
        needed: u64,
        /// Size of the file on disk.
        file_bytes: u64,
        /// The file.
        path: PathBuf,
    },
    /// Reading the volume would need more memory than the read budget allows.
    #[error(
        "the volume needs {needed} bytes of memory to read, more than the read budget of {budget} bytes (set LUNGSCOPE_MAX_READ_BYTES to raise it): {path}"
    )]
    OverBudget {
        /// Bytes the read would hold at its peak.
        needed: u64,
        /// The budget.
        budget: u64,
        /// The file.
        path: PathBuf,
    },
    /// The system refused an allocation.
    #[error("out of memory: could not allocate {bytes} bytes for the voxels: {path}")]
    OutOfMemory {
        /// Bytes asked for.
        bytes: u64,
        /// The file.
        path: PathBuf,
    },
    /// The input is a FIFO, device, socket or folder where a file was expected.
    #[error("not a regular file ({kind}): {path}")]
    NotRegularFile {
        /// What it is.
        kind: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// Voxel sizes so different from each other that images of the grid explode.
    #[error(
        "extreme voxel aspect ratio: spacing {spacing:?} mm (largest / smallest must be <= {max_ratio}): {path}"
    )]
    ExtremeAspect {
        /// The spacing found.
        spacing: [f64; 3],
        /// The largest accepted ratio.
        max_ratio: f64,
        /// The file.
        path: PathBuf,
    },
    /// A datatype code this reader does not handle.
    #[error("unsupported NIfTI datatype {code} ({name}): {path}")]
    UnsupportedDatatype {
        /// The code from the header.
        code: i16,
        /// Its name, if known.
        name: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// Voxel sizes that cannot be real.
    #[error("absurd voxel spacing {spacing:?} mm (must be finite, > 0 and <= 1000 mm): {path}")]
    AbsurdSpacing {
        /// The spacing found.
        spacing: [f64; 3],
        /// The file.
        path: PathBuf,
    },
    /// Other invalid header fields.
    #[error("invalid header: {reason}: {path}")]
    BadHeader {
        /// What is wrong.
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// A label mask whose grid differs from the volume's.
    #[error(
        "mask grid does not match the volume: mask {mask_dims:?} vs volume {volume_dims:?}{detail}; not resampled: {path}"
    )]
    GridMismatch {
        /// Mask dimensions.
        mask_dims: [usize; 3],
        /// Volume dimensions.
        volume_dims: [usize; 3],
        /// Extra explanation (e.g. "affines differ").
        detail: String,
        /// The mask file.
        path: PathBuf,
    },
    /// A mask with values that are not labels.
    #[error("not a label mask: {reason}: {path}")]
    NotLabels {
        /// What was found.
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// Refusal to overwrite the image a mask was derived from.
    #[error("refusing to overwrite the source image; choose another output name: {path}")]
    WouldOverwriteSource {
        /// The output path asked for.
        path: PathBuf,
    },
    /// The mask does not fit a NIfTI-1 header (dims > 32767).
    #[error("cannot write: {reason}: {path}")]
    CannotWrite {
        /// Why.
        reason: String,
        /// The output file.
        path: PathBuf,
    },
    /// A DICOM input that could not be read (see [`super::dicom::DicomError`]).
    #[error(transparent)]
    Dicom(#[from] super::dicom::DicomError),
}

impl From<crate::fsutil::FsError> for NiftiError {
    fn from(e: crate::fsutil::FsError) -> Self {
        Self::io(e.action, e.path, e.source)
    }
}

impl From<crate::fsutil::OverInput> for NiftiError {
    fn from(e: crate::fsutil::OverInput) -> Self {
        Self::WouldOverwriteSource { path: e.path }
    }
}

impl NiftiError {
    /// An I/O error with context.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
