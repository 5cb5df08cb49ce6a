//! Atomic report writing: temporary file in the target's folder, synced, renamed.

use super::{Report, ReportError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A report file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Full machine-readable report.
    Json,
    /// One header row and one row per study.
    Csv,
    /// Self-contained web page.
    Html,
    /// Printable document.
    Pdf,
}

impl Format {
    /// The format named by a path's extension (case-insensitive).
    pub fn from_path(path: &Path) -> Result<Self, ReportError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some("html" | "htm") => Ok(Format::Html),
            Some("pdf") => Ok(Format::Pdf),
            _ => Err(ReportError::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }

    /// The report's bytes in this format.
    pub fn render(self, report: &Report) -> Result<Vec<u8>, ReportError> {
        Ok(match self {
            Format::Json => report.to_json()?.into_bytes(),
            Format::Csv => super::csv::csv_document(std::slice::from_ref(report)).into_bytes(),
            Format::Html => super::html::html(report).into_bytes(),
            Format::Pdf => super::pdf::pdf(report),
        })
    }
}

/// Writes `report` to `path` in the format of its extension, atomically. Refuses
/// to write over any of `inputs` (the CT and mask files).
pub fn write_report(report: &Report, path: &Path, inputs: &[&Path]) -> Result<(), ReportError> {
    let format = Format::from_path(path)?;
    refuse_inputs(path, inputs)?;
    let bytes = format.render(report)?;
    write_atomic(path, &bytes)
}

/// Refuses `path` if it names the same file as one of `inputs`.
pub fn refuse_inputs(path: &Path, inputs: &[&Path]) -> Result<(), ReportError> {
    let target = canonical_target(path);
    for input in inputs {
        let same = match (std::fs::canonicalize(input), &target) {
            (Ok(a), Some(b)) => &a == b,
            _ => path == *input,
        };
        if same {
            return Err(ReportError::WouldOverwriteInput {
                path: path.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Canonical form of a path that may not exist yet (its folder must).
fn canonical_target(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = std::fs::canonicalize(path) {
        return Some(p);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(std::fs::canonicalize(parent).ok()?.join(path.file_name()?))
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to a temporary file next to `path`, syncs it and renames it over
/// `path`; on failure the temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            ReportError::io(
                "name",
                path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the path has no file name",
                ),
            )
        })?;
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| ReportError::io("create", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| ReportError::io("write", &tmp, e))?;
        f.sync_all().map_err(|e| ReportError::io("sync", &tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| ReportError::io("rename", path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_extensions() {
        assert_eq!(
            Format::from_path(Path::new("a/b.JSON")).ok(),
            Some(Format::Json)
        );
        assert_eq!(
            Format::from_path(Path::new("r.htm")).ok(),
            Some(Format::Html)
        );
        assert_eq!(
            Format::from_path(Path::new("r.pdf")).ok(),
            Some(Format::Pdf)
        );
        assert_eq!(
            Format::from_path(Path::new("r.csv")).ok(),
            Some(Format::Csv)
        );
        assert!(matches!(
            Format::from_path(Path::new("r.nii.gz")),
            Err(ReportError::UnknownFormat { .. })
        ));
    }

    #[test]
    fn atomic_write_replaces_and_refuses_inputs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("out.txt");
        write_atomic(&p, b"one").expect("write");
        write_atomic(&p, b"two").expect("overwrite");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
        // The same file through another spelling is still refused.
        let other = dir.path().join(".").join("out.txt");
        assert!(matches!(
            refuse_inputs(&other, &[&p]),
            Err(ReportError::WouldOverwriteInput { .. })
        ));
        assert!(refuse_inputs(&dir.path().join("new.pdf"), &[&p]).is_ok());
        // A missing folder fails without leaving anything behind.
        assert!(write_atomic(&dir.path().join("no/such/dir/x.json"), b"x").is_err());
    }
}
