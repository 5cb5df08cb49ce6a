//! Exports of the report panel (no egui): the measured label map as NIfTI and the
//! report (PDF / HTML / JSON / CSV) with its provenance, written in the
//! background by [`Exports`]' methods on a [`Ctx`]. Both writers are atomic
//! (temporary file, then rename), so a failure leaves nothing half-written. What
//! is exported and where by default lives in `export`; what the report is made of
//! (the live figures, and whether a segmentation runs) comes in a [`ReportSource`].

use super::context::Ctx;
use super::dialog::{FileDialog, Pick};
use super::document::Document;
use super::export::{ExportKind, Exports, default_export_path};
use super::figures::{Figures, LiveFigures};
use super::jobs::{Job, JobStatus};
use super::settings::Settings;
use crate::io;
use crate::report::{self, FileStamp, Provenance, Report, SegmentationSource};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What an export reads of the segmentation tools.
#[derive(Clone, Copy)]
pub struct ReportSource<'a> {
    /// A segmentation runs (its previews are partial).
    pub segmenting: bool,
    /// The report panel's live figures.
    pub figures: &'a LiveFigures,
}

impl ReportSource<'_> {
    /// The figures if they match the masks `doc` shows now.
    fn current(&self, doc: &Document) -> Option<&Figures> {
        self.figures.current(doc, self.segmenting)
    }
}

/// The default file of an export of what `doc` shows.
fn default_path(doc: &Document, settings: &Settings, kind: ExportKind) -> PathBuf {
    let ct = doc.entry().and_then(|v| v.path.clone());
    let fallback = settings
        .last_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    default_export_path(ct.as_deref(), &fallback, kind)
}

impl Exports {
    /// Why an export cannot run now (None when it can).
    pub fn block_reason(
        &self,
        kind: ExportKind,
        doc: &Document,
        source: ReportSource<'_>,
    ) -> Option<String> {
        if !doc.is_open() {
            return Some("open a CT volume first".into());
        }
        if source.segmenting {
            return Some("a segmentation is running".into());
        }
        if self.job.is_some() {
            return Some("an export is running".into());
        }
        if !doc.layers.iter().any(|l| l.visible) {
            return Some("no visible mask: segment the volume or load a mask".into());
        }
        if kind == ExportKind::Report && source.current(doc).is_none() {
            return Some(match source.figures.error() {
                Some(e) => format!("the masks cannot be measured: {e}"),
                None => "the figures are being measured".into(),
            });
        }
        None
    }

    /// Asks where to write an export (then writes it).
    pub fn open_dialog(&mut self, kind: ExportKind, cx: &mut Ctx<'_>, source: ReportSource<'_>) {
        if let Some(reason) = self.block_reason(kind, cx.doc, source) {
            cx.push_error(format!("cannot export the {}: {reason}", kind.noun()));
            return;
        }
        if self.dialog.is_some() {
            return;
        }
        let default = default_path(cx.doc, cx.settings, kind);
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
            .spawn(cx.waker());
        self.dialog = Some((kind, job));
    }

    /// Starts writing an export to `path`.
    pub fn start(
        &mut self,
        kind: ExportKind,
        path: PathBuf,
        cx: &mut Ctx<'_>,
        source: ReportSource<'_>,
    ) {
        if let Some(reason) = self.block_reason(kind, cx.doc, source) {
            cx.push_error(format!("cannot export the {}: {reason}", kind.noun()));
            return;
        }
        let Some(entry) = cx.doc.entry() else {
            return;
        };
        let volume = Arc::clone(&entry.volume);
        let ct_path = entry.path.clone();
        let ct_name = entry.name.clone();
        let waker = cx.waker();
        let job = match kind {
            ExportKind::Mask => {
                let Some(mask) = cx.doc.layers.composite().cloned() else {
                    return;
                };
                Job::spawn("Exporting the mask", waker, move |ctx| {
                    ctx.set_progress(-1.0, format!("writing {}", path.display()));
                    io::write_mask(&path, &mask, Some(&volume))?;
                    Ok(path)
                })
            }
            ExportKind::Report => {
                let Some(figures) = source.current(cx.doc).cloned() else {
                    return;
                };
                Job::spawn("Exporting the report", waker, move |ctx| {
                    ctx.set_progress(-1.0, "rendering the key slices");
                    write_report_file(&figures, ct_path.as_deref(), &ct_name, &path)?;
                    Ok(path)
                })
            }
        };
        self.job = Some((kind, job));
    }

    /// Takes the news of the export dialog and job. Called once per frame.
    pub fn poll(&mut self, cx: &mut Ctx<'_>, source: ReportSource<'_>) {
        if let Some((kind, job)) = &mut self.dialog {
            let kind = *kind;
            match job.poll() {
                JobStatus::Running => {}
                JobStatus::Done(picked) => {
                    self.dialog = None;
                    if let Some(path) = picked.into_iter().next() {
                        self.start(kind, path, cx, source);
                    }
                }
                JobStatus::Cancelled => self.dialog = None,
                JobStatus::Failed(e) => {
                    self.dialog = None;
                    cx.push_error(format!("file dialog failed: {e}"));
                }
            }
        }
        if let Some((kind, job)) = &mut self.job {
            let kind = *kind;
            match job.poll() {
                JobStatus::Running => {}
                JobStatus::Done(path) => {
                    self.job = None;
                    cx.push_info(format!("{} written: {}", capitalised(kind), path.display()));
                    self.last_written = Some(path);
                }
                JobStatus::Cancelled => self.job = None,
                JobStatus::Failed(e) => {
                    self.job = None;
                    cx.push_error(format!("cannot export the {}: {e}", kind.noun()));
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
