//! The reproducibility stamp: what made the figures, filled by the caller.

use super::ReportError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Where the segmentation came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SegmentationSource {
    /// Masks supplied by the user (files named in [`Provenance::mask_files`]).
    UserMasks,
    /// lungscope's model.
    Model {
        /// Model identifier (name and version).
        id: String,
        /// SHA-256 of the weights file (hex).
        weights_sha256: String,
    },
}

impl SegmentationSource {
    /// One line for reports.
    pub fn describe(&self) -> String {
        match self {
            SegmentationSource::UserMasks => "masks supplied by user".into(),
            SegmentationSource::Model { id, weights_sha256 } => {
                format!("model {id} (weights sha256 {weights_sha256})")
            }
        }
    }
}

/// A file and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    /// File name (without folders).
    pub name: String,
    /// SHA-256 (hex).
    pub sha256: String,
}

impl FileStamp {
    /// Hashes a file (or a folder, such as a DICOM series: see
    /// [`crate::fsutil::sha256_folder`]); the stamp keeps only its name.
    pub fn of(path: &Path) -> Result<Self, ReportError> {
        Ok(Self {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: crate::fsutil::sha256_path(path)?,
        })
    }
}

/// How a report's figures were produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// lungscope version.
    pub lungscope_version: String,
    /// The CT file.
    pub input: FileStamp,
    /// The segmentation's origin.
    pub segmentation: SegmentationSource,
    /// Mask files used (label map, lung, infection, lobes), if any.
    pub mask_files: Vec<FileStamp>,
    /// Preprocessing applied before segmentation (free text; "none" for user masks).
    pub preprocessing: String,
    /// Thresholds and settings that shape the figures (name → value).
    pub thresholds: BTreeMap<String, f64>,
}

impl Provenance {
    /// A stamp for `input` with this lungscope's version and the analysis'
    /// fixed thresholds (density bands, speck fraction); add more with
    /// [`Self::threshold`].
    pub fn new(input: FileStamp, segmentation: SegmentationSource, preprocessing: &str) -> Self {
        let mut thresholds = BTreeMap::new();
        for (name, lo, hi) in crate::analysis::hu::BANDS {
            thresholds.insert(format!("band_{name}_lo_hu"), lo);
            thresholds.insert(format!("band_{name}_hi_hu"), hi);
        }
        Self {
            lungscope_version: env!("CARGO_PKG_VERSION").to_string(),
            input,
            segmentation,
            mask_files: Vec::new(),
            preprocessing: preprocessing.to_string(),
            thresholds,
        }
    }

    /// Records a threshold or setting.
    pub fn threshold(mut self, name: &str, value: f64) -> Self {
        self.thresholds.insert(name.to_string(), value);
        self
    }

    /// Records a mask file.
    pub fn mask_file(mut self, stamp: FileStamp) -> Self {
        self.mask_files.push(stamp);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_of_folders_hash_their_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("a.dcm"), b"one").expect("write");
        let stamp = FileStamp::of(dir.path()).expect("stamp of a folder");
        assert_eq!(stamp.sha256.len(), 64);
    }
}
