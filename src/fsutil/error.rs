//! The errors of `fsutil`: a failed file-system step ([`FsError`]) and an output that
//! would overwrite an input ([`OverInput`]). Each module of the core maps them into
//! its own typed error with `From`, once.

use std::io;
use std::path::{Path, PathBuf};

/// A failed file-system step: what was being done, to which path, and the I/O
/// error (an atomic write, hashing a file or folder).
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {path}: {source}")]
pub struct FsError {
    /// The step that failed (`create`, `write`, `sync`, `rename`, `open`, `read`,
    /// `list`, ...).
    pub action: &'static str,
    /// The file (temporary or target) or folder the step was working on.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

impl FsError {
    /// The error of `action` on `path`.
    pub fn new(action: &'static str, path: &Path, source: io::Error) -> Self {
        Self {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// An output that names an input file or lies inside an input folder (see
/// [`super::refuse_inputs`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} would overwrite the input {input}")]
pub struct OverInput {
    /// The output.
    pub path: PathBuf,
    /// The input it would overwrite or write into.
    pub input: PathBuf,
}
