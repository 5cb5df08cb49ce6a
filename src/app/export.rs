//! Exports of the report panel, the data (no egui): what is exported
//! ([`ExportKind`]), the running export and its file dialog ([`Exports`]), and the
//! default file of each: the measured label map as NIfTI (`<stem>_seg.nii.gz` next
//! to the CT by default, never over the CT) and the report (PDF / HTML / JSON /
//! CSV). `exporting` writes them in the background.

use super::jobs::Job;
use crate::io::names::nifti_stem;
use std::path::{Path, PathBuf};

/// What is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// The label map (NIfTI).
    Mask,
    /// The report.
    Report,
}

impl ExportKind {
    pub(super) fn noun(self) -> &'static str {
        match self {
            ExportKind::Mask => "mask",
            ExportKind::Report => "report",
        }
    }
}

/// Export jobs and their file dialogs.
#[derive(Default)]
pub struct Exports {
    pub(super) dialog: Option<(ExportKind, Job<Vec<PathBuf>>)>,
    pub(super) job: Option<(ExportKind, Job<PathBuf>)>,
    pub(super) last_written: Option<PathBuf>,
}

impl Exports {
    /// True while an export or its dialog runs.
    pub fn is_busy(&self) -> bool {
        self.dialog.is_some() || self.job.is_some()
    }

    /// The export running, if any.
    pub fn running(&self) -> Option<ExportKind> {
        self.job.as_ref().map(|(k, _)| *k)
    }

    /// The last file written.
    pub fn last_written(&self) -> Option<&Path> {
        self.last_written.as_deref()
    }
}

/// The default file of an export: `<stem>_seg.nii.gz` or `<stem>_report.pdf` next
/// to the CT (in `fallback_dir` for a volume without a file).
pub fn default_export_path(ct: Option<&Path>, fallback_dir: &Path, kind: ExportKind) -> PathBuf {
    let stem = ct.map_or_else(|| "lungscope".to_string(), nifti_stem);
    let name = match kind {
        ExportKind::Mask => format!("{stem}_seg.nii.gz"),
        ExportKind::Report => format!("{stem}_report.pdf"),
    };
    let dir = ct
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(fallback_dir);
    dir.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_exports_sit_next_to_the_ct() {
        let ct = Path::new("/data/case_ct.nii.gz");
        assert_eq!(
            default_export_path(Some(ct), Path::new("/tmp"), ExportKind::Mask),
            PathBuf::from("/data/case_ct_seg.nii.gz")
        );
        assert_eq!(
            default_export_path(Some(ct), Path::new("/tmp"), ExportKind::Report),
            PathBuf::from("/data/case_ct_report.pdf")
        );
        assert_eq!(
            default_export_path(None, Path::new("/tmp"), ExportKind::Mask),
            PathBuf::from("/tmp/lungscope_seg.nii.gz")
        );
    }
}
