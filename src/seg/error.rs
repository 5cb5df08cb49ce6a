//! Typed errors of the segmentation engine (model, device, model files, data, training).
//! Messages name the problem first and the file last.

use std::path::PathBuf;

/// Everything that can go wrong in `seg`.
#[derive(Debug, thiserror::Error)]
pub enum SegError {
    /// A model configuration that cannot be built (zero width, input not divisible...).
    #[error("invalid model configuration: {0}")]
    InvalidConfig(String),
    /// `--device gpu` (or a GPU-only path) with no usable wgpu adapter.
    #[error("no GPU available: {0}")]
    NoGpu(String),
    /// burn could not initialise the wgpu runtime on an adapter that exists.
    #[error("the GPU device could not be initialised: {0}")]
    DeviceInit(String),
    /// This build embeds no trained default model.
    #[error(
        "no default model shipped in this build; train one with `lungscope train` and load it with --weights FILE"
    )]
    NoDefaultModel,
    /// The operating system refused (missing file, permissions, full disk...).
    #[error("{action} failed: {source}: {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A model file that is not one (bad magic, truncated, damaged section).
    #[error("not a lungscope model file ({reason}): {path}")]
    BadModelFile {
        /// What is wrong.
        reason: String,
        /// The file (or `<embedded>` for the built-in model).
        path: PathBuf,
    },
    /// The weights in a model file do not fit its configuration.
    #[error("the weights do not match the model configuration ({reason}): {path}")]
    WeightsMismatch {
        /// What does not fit.
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// A training data set that cannot be used (missing folders, no pairs, bad image).
    #[error("{reason}: {path}")]
    Data {
        /// What is wrong.
        reason: String,
        /// The file or folder.
        path: PathBuf,
    },
    /// Training or evaluation settings that cannot work together.
    #[error("invalid training settings: {0}")]
    InvalidSettings(String),
    /// The numerical backend failed (out of memory, device lost...).
    #[error("tensor backend error: {0}")]
    Backend(String),
    /// The user cancelled a long-running job.
    #[error("cancelled")]
    Cancelled,
    /// Reading a NIfTI volume or mask failed.
    #[error(transparent)]
    Nifti(#[from] crate::io::NiftiError),
}

impl From<crate::fsutil::FsError> for SegError {
    fn from(e: crate::fsutil::FsError) -> Self {
        Self::io(e.action, e.path, e.source)
    }
}

impl SegError {
    /// An [`SegError::Io`] for `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// A [`SegError::Data`] for `path`.
    pub fn data(reason: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self::Data {
            reason: reason.into(),
            path: path.into(),
        }
    }
}
