//! The reproducibility stamp: what made the figures, filled by the caller.

use super::ReportError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
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
    /// [`sha256_folder`]); the stamp keeps only its name.
    pub fn of(path: &Path) -> Result<Self, ReportError> {
        Ok(Self {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: if path.is_dir() {
                sha256_folder(path)?
            } else {
                sha256_file(path)?
            },
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

/// SHA-256 of a file's bytes, hex.
pub fn sha256_file(path: &Path) -> Result<String, ReportError> {
    let mut f = std::fs::File::open(path).map_err(|e| ReportError::io("open", path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| ReportError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// SHA-256 of a folder's regular files, found recursively: the hash of the sorted
/// list of `relative path NUL file hash NL` lines, so renaming, adding, removing or
/// changing any file changes it. Symbolic links are not followed.
pub fn sha256_folder(dir: &Path) -> Result<String, ReportError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| ReportError::io("list", &d, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ReportError::io("list", &d, e))?;
            let kind = entry
                .file_type()
                .map_err(|e| ReportError::io("list", entry.path(), e))?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    let mut h = Sha256::new();
    for f in &files {
        let rel = f.strip_prefix(dir).unwrap_or(f);
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0u8]);
        h.update(sha256_file(f)?.as_bytes());
        h.update(b"\n");
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The current time, UTC, as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_utc(secs)
}

/// Formats seconds since the Unix epoch as an ISO 8601 UTC time.
pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_hash_follows_names_and_contents() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("a.dcm"), b"one").expect("write");
        std::fs::write(dir.path().join("sub/b.dcm"), b"two").expect("write");
        let first = sha256_folder(dir.path()).expect("hash");
        assert_eq!(first, sha256_folder(dir.path()).expect("hash"), "stable");
        std::fs::write(dir.path().join("sub/b.dcm"), b"TWO").expect("write");
        let changed = sha256_folder(dir.path()).expect("hash");
        assert_ne!(first, changed, "a changed file changes the hash");
        std::fs::rename(dir.path().join("a.dcm"), dir.path().join("c.dcm")).expect("mv");
        assert_ne!(
            changed,
            sha256_folder(dir.path()).expect("hash"),
            "a rename too"
        );
        let stamp = FileStamp::of(dir.path()).expect("stamp of a folder");
        assert_eq!(stamp.sha256.len(), 64);
    }

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_709_251_199), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn sha256_of_a_known_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("abc.txt");
        std::fs::write(&p, b"abc").expect("write");
        assert_eq!(
            sha256_file(&p).expect("hash"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(sha256_file(&dir.path().join("missing")).is_err());
    }
}
