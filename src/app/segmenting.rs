//! Segmentation in the viewer: [`SegTools::apply`] runs the [`SegCommand`]s of
//! `segment` on a [`Ctx`]; a [`SegJob`] fills a preview layer slice by slice (the
//! visible axial slice first), and the final label map replaces the previews and
//! becomes the editable segmentation layer. A placed result comes back from
//! [`SegTools::poll`] as [`Placed`], so the app can let the edit session settle
//! (see `EditState::settle_after_segmentation`) before it is recorded. Also the
//! polling of the model, figures and export jobs the tools hold.

use super::context::Ctx;
use super::dialog::{FileDialog, Pick};
use super::document::Document;
use super::export::ExportKind;
use super::exporting::ReportSource;
use super::jobs::JobStatus;
use super::layers::{LayerId, LayerRole};
use super::notice::NoticeKind;
use super::segment::{SegCommand, SegResult, SegRun, SegTools};
use crate::mask::LabelMask;
use crate::seg::SegError;
use crate::seg::infer::job::{SegEvent, SegJob};
use crate::seg::infer::postprocess::PostprocessConfig;
use crate::seg::infer::stamp::ModelStamp;
use crate::seg::infer::{InferOptions, SliceOrder};
use crate::volume::View;
use std::sync::Arc;
use std::time::Instant;

/// Slices per network call in the viewer on a GPU. On the CPU one slice per call
/// is as fast (the CPU engine gains nothing from batches) and shows the first
/// slices sooner: a batch's labels arrive once the next batch is submitted.
pub const GUI_BATCH: usize = 4;

/// The segmentation result layer (the editable label map), if any.
pub fn segmentation_layer(doc: &Document) -> Option<LayerId> {
    doc.layers.find(LayerRole::Segmentation)
}

/// A segmentation just placed in the layers, recorded by [`SegTools::record`]
/// once the other features have answered it.
#[must_use]
pub struct Placed(SegResult);

impl SegTools {
    /// True while a segmentation runs.
    pub fn is_running(&self) -> bool {
        self.run.is_some()
    }

    /// The running segmentation: slices done, total, seconds.
    pub fn progress(&self) -> Option<(usize, usize, f32)> {
        self.run
            .as_ref()
            .map(|r| (r.done, r.total, r.started.elapsed().as_secs_f32()))
    }

    /// True while segmentation, model loading, measuring or an export runs.
    pub fn is_busy(&self, doc: &Document) -> bool {
        self.run.is_some()
            || self.models.is_loading()
            || self.models.is_listing()
            || self.figures.is_pending(doc, self.is_running())
            || self.exports.is_busy()
            || self.model_dialog.is_some()
    }

    /// Why Segment cannot run now (None when it can).
    pub fn block_reason(&self, doc: &Document) -> Option<String> {
        if !doc.is_open() {
            return Some("open a CT volume first".into());
        }
        if self.run.is_some() {
            return Some("a segmentation is running".into());
        }
        self.models.unavailable_reason()
    }

    /// What the exports read of the figures.
    pub fn report_source(&self) -> ReportSource<'_> {
        ReportSource {
            segmenting: self.is_running(),
            figures: &self.figures,
        }
    }

    /// Applies one segmentation / model / export command.
    pub fn apply(&mut self, command: SegCommand, cx: &mut Ctx<'_>) {
        let waker = cx.waker();
        match command {
            SegCommand::Segment => self.start_segmentation(cx),
            SegCommand::Cancel => {
                if let Some(run) = &self.run {
                    run.job.cancel();
                }
            }
            SegCommand::SetDevice(choice) => {
                cx.settings.seg_device = choice;
                self.models.set_device(choice, &waker);
            }
            SegCommand::SetThreshold(t) => {
                if t > 0.0 && t < 1.0 {
                    self.threshold = t;
                }
            }
            SegCommand::UseDefaultModel => {
                if let Err(e) = self.models.use_default(&waker) {
                    cx.push_error(format!("cannot switch to the default model: {e}"));
                }
            }
            SegCommand::UseVersion(id) => {
                if let Err(e) = self.models.use_version(&id, &waker) {
                    cx.push_error(format!("cannot switch to model version {id}: {e}"));
                }
            }
            SegCommand::LoadModelFile(path) => self.models.use_file(path, &waker),
            SegCommand::OpenModelDialog => {
                if self.model_dialog.is_none() {
                    let dir = cx.settings.last_dir.clone();
                    let dialog = FileDialog::new("Open a lungscope model", Pick::File)
                        .filter("lungscope model", &["lsm"])
                        .filter("All files", &["*"])
                        .directory(dir);
                    self.model_dialog = Some(dialog.spawn(waker));
                }
            }
            SegCommand::RefreshVersions => self.models.refresh_versions(&waker),
            SegCommand::ShowModels(show) => {
                self.show_models = show;
                if show {
                    self.models.refresh_versions(&waker);
                }
            }
            SegCommand::ExportMask(path) => self.start_export(ExportKind::Mask, path, cx),
            SegCommand::ExportReport(path) => self.start_export(ExportKind::Report, path, cx),
            SegCommand::ExportMaskDialog => self.open_export_dialog(ExportKind::Mask, cx),
            SegCommand::ExportReportDialog => self.open_export_dialog(ExportKind::Report, cx),
        }
    }

    fn start_export(&mut self, kind: ExportKind, path: std::path::PathBuf, cx: &mut Ctx<'_>) {
        let source = ReportSource {
            segmenting: self.run.is_some(),
            figures: &self.figures,
        };
        self.exports.start(kind, path, cx, source);
    }

    fn open_export_dialog(&mut self, kind: ExportKind, cx: &mut Ctx<'_>) {
        let source = ReportSource {
            segmenting: self.run.is_some(),
            figures: &self.figures,
        };
        self.exports.open_dialog(kind, cx, source);
    }

    fn start_segmentation(&mut self, cx: &mut Ctx<'_>) {
        if let Some(reason) = self.block_reason(cx.doc) {
            cx.push_error(format!("cannot segment: {reason}"));
            return;
        }
        let (Some(entry), Some(active)) = (cx.doc.entry().cloned(), self.models.active().cloned())
        else {
            return;
        };
        self.runs += 1;
        let preview = format!("Segmentation #{} (running)", self.runs);
        let previous = segmentation_layer(cx.doc);
        let hidden_previous = previous.filter(|&id| cx.doc.layers[id].visible);
        if let Some(id) = previous {
            cx.doc.layers.set_visible(id, false);
        }
        let preview = match cx.doc.add_empty_layer(LayerRole::Preview, preview) {
            Ok(id) => id,
            Err(e) => {
                cx.push_error(format!("cannot segment: {e}"));
                return;
            }
        };
        let total = entry.volume.slice_count(View::Axial);
        let post = PostprocessConfig {
            threshold: self.threshold,
            ..PostprocessConfig::default()
        };
        let batch = match active.device.kind {
            crate::seg::device::BackendKind::Cpu => 1,
            _ => GUI_BATCH,
        };
        let options = InferOptions {
            batch,
            post,
            order: SliceOrder::OutwardFrom(cx.slice_index(View::Axial)),
            ..InferOptions::default()
        };
        let waker = cx.waker();
        let job = SegJob::spawn(
            Arc::clone(&active.model),
            active.device.device.clone(),
            Arc::clone(&entry.volume),
            options,
            move || waker(),
        );
        self.run = Some(SegRun {
            job,
            volume: entry.volume,
            preview,
            hidden_previous,
            done: 0,
            total,
            started: Instant::now(),
            weights_sha256: active.model.weights_sha256.clone(),
            post,
            device: active.device.description.clone(),
        });
    }

    /// Takes the news of the model jobs and of the segmentation. Returns a
    /// segmentation just placed in the layers: the caller lets the other features
    /// answer it, then hands it to [`Self::record`], then calls
    /// [`Self::poll_reports`]. Called once per frame.
    pub fn poll(&mut self, cx: &mut Ctx<'_>) -> Option<Placed> {
        let waker = cx.waker();
        self.models.start(&waker);
        for (kind, text) in self.models.poll() {
            match kind {
                NoticeKind::Error => cx.push_error(text),
                NoticeKind::Info => {}
            }
        }
        self.poll_model_dialog(cx);
        self.poll_segmentation(cx)
    }

    /// Records a placed segmentation as the last result, at the mask revision
    /// the document has now.
    pub fn record(&mut self, placed: Placed, doc: &Document) {
        self.result = Some(SegResult {
            revision: doc.layers.revision(),
            ..placed.0
        });
    }

    /// Takes the news of the figures and export jobs (and starts measuring when
    /// the shown masks changed). Called once per frame, after [`Self::poll`].
    pub fn poll_reports(&mut self, cx: &mut Ctx<'_>) {
        let segmenting = self.run.is_some();
        self.figures.poll(cx, segmenting, self.result.as_ref());
        let source = ReportSource {
            segmenting,
            figures: &self.figures,
        };
        self.exports.poll(cx, source);
    }

    fn poll_model_dialog(&mut self, cx: &mut Ctx<'_>) {
        let Some(job) = &mut self.model_dialog else {
            return;
        };
        match job.poll() {
            JobStatus::Running => {}
            JobStatus::Done(picked) => {
                self.model_dialog = None;
                if let Some(path) = picked.into_iter().next() {
                    self.apply(SegCommand::LoadModelFile(path), cx);
                }
            }
            JobStatus::Cancelled => self.model_dialog = None,
            JobStatus::Failed(e) => {
                self.model_dialog = None;
                cx.push_error(format!("file dialog failed: {e}"));
            }
        }
    }

    fn poll_segmentation(&mut self, cx: &mut Ctx<'_>) -> Option<Placed> {
        let run = self.run.as_ref()?;
        let same_volume = cx
            .doc
            .volume_arc()
            .is_some_and(|v| Arc::ptr_eq(&v, &run.volume));
        if !same_volume {
            // Another volume (or none) is shown: its layers are not ours.
            run.job.cancel();
            self.run = None;
            return None;
        }
        // Once the job has ended, its last event is `Finished` (a panic included).
        let events = run.job.poll();
        let preview = run.preview;
        let mut finished = None;
        for event in events {
            match event {
                SegEvent::Slice {
                    done,
                    total,
                    region,
                    labels,
                    ..
                } => {
                    if let Some(run) = &mut self.run {
                        run.done = done;
                        run.total = total;
                    }
                    // Cannot fail while the preview layer exists: the job segments
                    // this very volume, so its boxes lie on this grid.
                    let _ = cx.doc.layers.write_region(preview, region, &labels);
                }
                SegEvent::Finished(result) => finished = Some(result.map(|b| *b)),
            }
        }
        self.finish_segmentation(finished?, cx)
    }

    /// Places a finished segmentation in the layers (or removes its preview).
    fn finish_segmentation(
        &mut self,
        result: Result<crate::seg::infer::ModelSegmentation, SegError>,
        cx: &mut Ctx<'_>,
    ) -> Option<Placed> {
        let run = self.run.take()?;
        let preview = cx.doc.layers.get(run.preview).map(|l| l.id);
        let seg = match result {
            Ok(seg) => seg,
            Err(e) => {
                if let Some(id) = preview {
                    cx.doc.layers.remove(id);
                }
                if let Some(id) = run.hidden_previous
                    && cx.doc.layers.get(id).is_some()
                {
                    cx.doc.layers.set_visible(id, true);
                }
                match e {
                    SegError::Cancelled => {
                        cx.push_info("Segmentation cancelled; the previous mask is unchanged")
                    }
                    e => cx.push_error(format!("segmentation failed: {e}")),
                }
                return None;
            }
        };
        let stamp = ModelStamp::of(&seg, &run.weights_sha256, &run.post);
        let name = format!("Segmentation ({})", seg.model_id);
        // Earlier results give way to this one.
        let old: Vec<LayerId> = cx
            .doc
            .layers
            .iter()
            .filter(|l| Some(l.id) != preview && l.role == LayerRole::Segmentation)
            .map(|l| l.id)
            .collect();
        let mask: LabelMask = seg.mask;
        let layers = &mut cx.doc.layers;
        let layer = match preview {
            Some(id) => {
                layers.relabel(id, LayerRole::Segmentation, name.clone());
                // Cannot fail: the job segmented this very volume.
                let _ = layers.replace_mask(id, mask);
                layers.set_visible(id, true);
                id
            }
            None => match layers.add(LayerRole::Segmentation, name.clone(), None, mask) {
                Ok(id) => id,
                Err(e) => {
                    cx.push_error(format!("cannot show the segmentation: {e}"));
                    return None;
                }
            },
        };
        for id in old {
            cx.doc.layers.remove(id);
        }
        Some(Placed(SegResult {
            layer,
            stamp,
            revision: cx.doc.layers.revision(),
            elapsed_s: seg.elapsed_s,
            device: run.device,
            physics: seg.cleanup.physics.note.clone(),
        }))
    }
}
