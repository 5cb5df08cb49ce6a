//! Exports of the report panel applied to the state (no egui): the measured label
//! map as NIfTI and the report (PDF / HTML / JSON / CSV) with its provenance,
//! written in the background. Both writers are atomic (temporary file, then
//! rename), so a failure leaves nothing half-written. What is exported and where
//! by default lives in `export`.

use super::dialog::{FileDialog, Pick};
use super::export::{ExportKind, default_export_path};
use super::figures::Figures;
use super::jobs::{Job, JobStatus};
use super::state::AppState;
use crate::io;
use crate::report::{self, FileStamp, Provenance, Report, SegmentationSource};
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl AppState {
    /// Why an export cannot run now (None when it can).
    pub fn export_block_reason(&self, kind: ExportKind) -> Option<String> {
        if !self.doc.is_open() {
            return Some("open a CT volume first".into());
        }
        if self.is_segmenting() {
            return Some("a segmentation is running".into());
        }
        if self.seg.exports.job.is_some() {
            return Some("an export is running".into());
        }
        if !self.doc.layers.iter().any(|l| l.visible) {
            return Some("no visible mask: segment the volume or load a mask".into());
        }
        if kind == ExportKind::Report && self.current_figures().is_none() {
            return Some(match self.seg.figures.error() {
                Some(e) => format!("the masks cannot be measured: {e}"),
                None => "the figures are being measured".into(),
            });
        }
        None
    }

    fn default_path(&self, kind: ExportKind) -> PathBuf {
        let ct = self.doc.entry().and_then(|v| v.path.clone());
        let fallback = self
            .settings
            .last_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("."));
        default_export_path(ct.as_deref(), &fallback, kind)
    }

    pub(super) fn open_export_dialog(&mut self, kind: ExportKind) {
        if let Some(reason) = self.export_block_reason(kind) {
            self.push_error(format!("cannot export the {}: {reason}", kind.noun()));
            return;
        }
        if self.seg.exports.dialog.is_some() {
            return;
        }
        let default = self.default_path(kind);
        let dialog = match kind {
            ExportKind::Mask => {
                FileDialog::new("Export mask", Pick::Save).filter("NIfTI", &["gz", "nii"])
            }
            ExportKind::Report => FileDialog::new("Export report", Pick::Save)
                .filter("PDF", &["pdf"])
                .filter("HTML", &["html", "htm"])
                .filter("JSON", &["json"])
                .filter("CSV", &["csv"]),
        };
        let job = dialog
            .directory(default.parent().map(Path::to_path_buf))
            .file_name(
                default
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned()),
            )
            .spawn(self.waker());
        self.seg.exports.dialog = Some((kind, job));
    }

    pub(super) fn start_export(&mut self, kind: ExportKind, path: PathBuf) {
        if let Some(reason) = self.export_block_reason(kind) {
            self.push_error(format!("cannot export the {}: {reason}", kind.noun()));
            return;
        }
        let Some(entry) = self.doc.entry() else {
            return;
        };
        let volume = Arc::clone(&entry.volume);
        let ct_path = entry.path.clone();
        let ct_name = entry.name.clone();
        let waker = self.waker();
        let job = match kind {
            ExportKind::Mask => {
                let Some(mask) = self.composite().cloned() else {
                    return;
                };
                Job::spawn("Exporting the mask", waker, move |ctx| {
                    ctx.set_progress(-1.0, format!("writing {}", path.display()));
                    io::write_mask(&path, &mask, Some(&volume))?;
                    Ok(path)
                })
            }
            ExportKind::Report => {
                let Some(figures) = self.current_figures().cloned() else {
                    return;
                };
                Job::spawn("Exporting the report", waker, move |ctx| {
                    ctx.set_progress(-1.0, "rendering the key slices");
                    write_report_file(&figures, ct_path.as_deref(), &ct_name, &path)?;
                    Ok(path)
                })
            }
        };
        self.seg.exports.job = Some((kind, job));
    }

    pub(super) fn poll_exports(&mut self) {
        if let Some((kind, job)) = &mut self.seg.exports.dialog {
            let kind = *kind;
            match job.poll() {
                JobStatus::Running => {}
                JobStatus::Done(picked) => {
                    self.seg.exports.dialog = None;
                    if let Some(path) = picked.into_iter().next() {
                        self.start_export(kind, path);
                    }
                }
                JobStatus::Cancelled => self.seg.exports.dialog = None,
                JobStatus::Failed(e) => {
                    self.seg.exports.dialog = None;
                    self.push_error(format!("file dialog failed: {e}"));
                }
            }
        }
        if let Some((kind, job)) = &mut self.seg.exports.job {
            let kind = *kind;
            match job.poll() {
                JobStatus::Running => {}
                JobStatus::Done(path) => {
                    self.seg.exports.job = None;
                    self.push_info(format!("{} written: {}", capitalised(kind), path.display()));
                    self.seg.exports.last_written = Some(path);
                }
                JobStatus::Cancelled => self.seg.exports.job = None,
                JobStatus::Failed(e) => {
                    self.seg.exports.job = None;
                    self.push_error(format!("cannot export the {}: {e}", kind.noun()));
                }
            }
        }
    }
}

fn capitalised(kind: ExportKind) -> &'static str {
    match kind {
        ExportKind::Mask => "Mask",
        ExportKind::Report => "Report",
    }
}

/// Builds the report of `figures` with its provenance and writes it to `path`
/// (format from the extension), never over the CT or a mask file it used.
pub fn write_report_file(
    figures: &Figures,
    ct_path: Option<&Path>,
    ct_name: &str,
    path: &Path,
) -> anyhow::Result<()> {
    report::Format::from_path(path)?;
    let ct = match ct_path {
        Some(p) => FileStamp::of(p)?,
        None => FileStamp {
            name: ct_name.to_string(),
            sha256: "(not read from a file)".into(),
        },
    };
    let model_layer = figures.layers.iter().find(|l| l.model.is_some());
    let others: Vec<&str> = figures
        .layers
        .iter()
        .filter(|l| l.model.is_none())
        .map(|l| l.name.as_str())
        .collect();
    let mut provenance = match model_layer.and_then(|l| l.model.as_ref().map(|m| (l, m))) {
        Some((layer, stamp)) => {
            let mut notes = Vec::new();
            if layer.changed_since_segmentation {
                notes.push(
                    "the masks may have been edited in the viewer after segmentation".to_string(),
                );
            }
            if !others.is_empty() {
                notes.push(format!(
                    "combined with the masks {} (the larger label wins)",
                    others.join(", ")
                ));
            }
            let note = notes.join("; ");
            stamp.provenance(ct, (!note.is_empty()).then_some(note.as_str()))
        }
        None => Provenance::new(
            ct,
            SegmentationSource::UserMasks,
            "none (masks supplied by user)",
        ),
    };
    let mut inputs: Vec<&Path> = ct_path.into_iter().collect();
    for layer in &figures.layers {
        if let Some(p) = &layer.path {
            provenance = provenance.mask_file(FileStamp::of(p)?);
            inputs.push(p);
        }
    }
    let report = Report::build(
        &figures.volume,
        &figures.segmentation,
        figures.analysis.clone(),
        provenance,
    )?;
    report::write_report(&report, path, &inputs)?;
    Ok(())
}
