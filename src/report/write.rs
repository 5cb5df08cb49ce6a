//! Report writing: formats, and the bytes of a report written atomically and never
//! over an input (the check and the writer of `fsutil`).

use super::{Report, ReportError};
use crate::fsutil::{refuse_inputs, write_atomic};
use std::path::Path;

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
    write_atomic(path, &bytes)?;
    Ok(())
}

/// Writes a report's `bytes` to `path` atomically (see
/// [`crate::fsutil::write_atomic`]), refusing to write over any of `inputs`: on
/// failure `path` is untouched and no temporary file is left.
pub fn write_bytes(path: &Path, bytes: &[u8], inputs: &[&Path]) -> Result<(), ReportError> {
    refuse_inputs(path, inputs)?;
    write_atomic(path, bytes)?;
    Ok(())
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
            refuse_inputs(&other, &[&p]).map_err(ReportError::from),
            Err(ReportError::WouldOverwriteInput { .. })
        ));
        assert!(refuse_inputs(&dir.path().join("new.pdf"), &[&p]).is_ok());
        // A missing folder fails without leaving anything behind.
        assert!(write_atomic(&dir.path().join("no/such/dir/x.json"), b"x").is_err());
    }
}
