//! Segmentation in the viewer applied to the state: [`AppState::apply_seg`] runs
//! the [`SegCommand`]s of `segment`; a [`SegJob`] fills a preview layer slice by
//! slice (the visible axial slice first), and the final label map replaces the
//! previews and becomes the editable segmentation layer. Also the mask revision
//! counter that tells the report panel (and anything else) that the shown masks
//! changed, and the polling of model, figures and export jobs.

use super::commands::Command;
use super::dialog::{FileDialog, Pick};
use super::export::ExportKind;
use super::jobs::JobStatus;
use super::layers::{LayerId, LayerRole};
use super::notice::NoticeKind;
use super::segment::{SegCommand, SegResult, SegRun};
use super::state::AppState;
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

impl AppState {
    /// The segmentation result layer (the editable label map), if any.
    pub fn segmentation_layer(&self) -> Option<LayerId> {
        self.doc.layers.find(LayerRole::Segmentation)
    }

    /// True while a segmentation runs.
    pub fn is_segmenting(&self) -> bool {
        self.seg.run.is_some()
    }

    /// The running segmentation: slices done, total, seconds.
    pub fn segmentation_progress(&self) -> Option<(usize, usize, f32)> {
        self.seg
            .run
            .as_ref()
            .map(|r| (r.done, r.total, r.started.elapsed().as_secs_f32()))
    }

    /// True while segmentation, model loading, measuring or an export runs.
    pub fn seg_busy(&self) -> bool {
        self.seg.run.is_some()
            || self.seg.models.is_loading()
            || self.seg.models.is_listing()
            || self.figures_pending()
            || self.seg.exports.is_busy()
            || self.seg.model_dialog.is_some()
    }

    /// Why Segment cannot run now (None when it can).
    pub fn segment_block_reason(&self) -> Option<String> {
        if !self.doc.is_open() {
            return Some("open a CT volume first".into());
        }
        if self.seg.run.is_some() {
            return Some("a segmentation is running".into());
        }
        self.seg.models.unavailable_reason()
    }

    /// Applies one segmentation / model / export command.
    pub fn apply_seg(&mut self, command: SegCommand) {
        let waker = self.waker();
        match command {
            SegCommand::Segment => self.start_segmentation(),
            SegCommand::Cancel => {
                if let Some(run) = &self.seg.run {
                    run.job.cancel();
                }
            }
            SegCommand::SetDevice(choice) => {
                self.settings.seg_device = choice;
                self.seg.models.set_device(choice, &waker);
            }
            SegCommand::SetThreshold(t) => {
                if t > 0.0 && t < 1.0 {
                    self.seg.threshold = t;
                }
            }
            SegCommand::UseDefaultModel => {
                if let Err(e) = self.seg.models.use_default(&waker) {
                    self.push_error(format!("cannot switch to the default model: {e}"));
                }
            }
            SegCommand::UseVersion(id) => {
                if let Err(e) = self.seg.models.use_version(&id, &waker) {
                    self.push_error(format!("cannot switch to model version {id}: {e}"));
                }
            }
            SegCommand::LoadModelFile(path) => self.seg.models.use_file(path, &waker),
            SegCommand::OpenModelDialog => {
                if self.seg.model_dialog.is_none() {
                    let dir = self.settings.last_dir.clone();
                    let dialog = FileDialog::new("Open a lungscope model", Pick::File)
                        .filter("lungscope model", &["lsm"])
                        .filter("All files", &["*"])
                        .directory(dir);
                    self.seg.model_dialog = Some(dialog.spawn(waker));
                }
            }
            SegCommand::RefreshVersions => self.seg.models.refresh_versions(&waker),
            SegCommand::ShowModels(show) => {
                self.seg.show_models = show;
                if show {
                    self.seg.models.refresh_versions(&waker);
                }
            }
            SegCommand::ExportMask(path) => self.start_export(ExportKind::Mask, path),
            SegCommand::ExportReport(path) => self.start_export(ExportKind::Report, path),
            SegCommand::ExportMaskDialog => self.open_export_dialog(ExportKind::Mask),
            SegCommand::ExportReportDialog => self.open_export_dialog(ExportKind::Report),
        }
    }

    fn start_segmentation(&mut self) {
        if let Some(reason) = self.segment_block_reason() {
            self.push_error(format!("cannot segment: {reason}"));
            return;
        }
        let (Some(entry), Some(active)) =
            (self.doc.entry().cloned(), self.seg.models.active().cloned())
        else {
            return;
        };
        self.seg.runs += 1;
        let preview = format!("Segmentation #{} (running)", self.seg.runs);
        let hidden_previous = self
            .segmentation_layer()
            .filter(|&id| self.doc.layers[id].visible);
        if let Some(id) = self.segmentation_layer() {
            self.apply(Command::SetLayerVisible(id, false));
        }
        let preview = match self.doc.add_empty_layer(LayerRole::Preview, preview) {
            Ok(id) => id,
            Err(e) => {
                self.push_error(format!("cannot segment: {e}"));
                return;
            }
        };
        let total = entry.volume.slice_count(View::Axial);
        let post = PostprocessConfig {
            threshold: self.seg.threshold,
            ..PostprocessConfig::default()
        };
        let batch = match active.device.kind {
            crate::seg::device::BackendKind::Cpu => 1,
            _ => GUI_BATCH,
        };
        let options = InferOptions {
            batch,
            post,
            order: SliceOrder::OutwardFrom(self.slice_index(View::Axial)),
            ..InferOptions::default()
        };
        let waker = self.waker();
        let job = SegJob::spawn(
            Arc::clone(&active.model),
            active.device.device.clone(),
            Arc::clone(&entry.volume),
            options,
            move || waker(),
        );
        self.seg.run = Some(SegRun {
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

    /// Takes the news of segmentation, model, figures and export jobs. Called once
    /// per frame from `poll_jobs`.
    pub fn poll_seg_jobs(&mut self) {
        let waker = self.waker();
        self.seg.models.start(&waker);
        for (kind, text) in self.seg.models.poll() {
            match kind {
                NoticeKind::Error => self.push_error(text),
                NoticeKind::Info => {}
            }
        }
        self.poll_model_dialog();
        self.poll_segmentation();
        self.poll_figures();
        self.poll_exports();
    }

    fn poll_model_dialog(&mut self) {
        let Some(job) = &mut self.seg.model_dialog else {
            return;
        };
        match job.poll() {
            JobStatus::Running => {}
            JobStatus::Done(picked) => {
                self.seg.model_dialog = None;
                if let Some(path) = picked.into_iter().next() {
                    self.apply_seg(SegCommand::LoadModelFile(path));
                }
            }
            JobStatus::Cancelled => self.seg.model_dialog = None,
            JobStatus::Failed(e) => {
                self.seg.model_dialog = None;
                self.push_error(format!("file dialog failed: {e}"));
            }
        }
    }

    fn poll_segmentation(&mut self) {
        let Some(run) = &self.seg.run else {
            return;
        };
        let same_volume = self
            .doc
            .volume_arc()
            .is_some_and(|v| Arc::ptr_eq(&v, &run.volume));
        if !same_volume {
            // Another volume (or none) is shown: its layers are not ours.
            run.job.cancel();
            self.seg.run = None;
            return;
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
                    if let Some(run) = &mut self.seg.run {
                        run.done = done;
                        run.total = total;
                    }
                    // Cannot fail while the preview layer exists: the job segments
                    // this very volume, so its boxes lie on this grid.
                    let _ = self.doc.layers.write_region(preview, region, &labels);
                }
                SegEvent::Finished(result) => finished = Some(result.map(|b| *b)),
            }
        }
        if let Some(result) = finished {
            self.finish_segmentation(result);
        }
    }

    /// A new segmentation replaces what an edit session started from. Without
    /// unsaved edits the session ends, so the next stroke edits the new result;
    /// with unsaved edits the edited layer is kept (hidden) and nothing is lost.
    fn settle_edit_session_after_segmentation(&mut self) {
        let Some(id) = self.edit_layer() else {
            return;
        };
        if self.edit.is_modified() {
            self.doc.layers.set_visible(id, false);
            let name = self.doc.layers[id].name.clone();
            self.push_info(format!(
                "Your unsaved edits stay in the hidden layer \"{name}\": show it to go on editing it, \
                 or remove it to edit the new segmentation"
            ));
        } else {
            self.doc.layers.remove(id);
            self.edit.check_session(&self.doc);
        }
    }

    fn finish_segmentation(
        &mut self,
        result: Result<crate::seg::infer::ModelSegmentation, SegError>,
    ) {
        let Some(run) = self.seg.run.take() else {
            return;
        };
        let preview = self.doc.layers.get(run.preview).map(|l| l.id);
        let restore_previous = |state: &mut AppState| {
            if let Some(id) = run.hidden_previous
                && state.doc.layers.get(id).is_some()
            {
                state.apply(Command::SetLayerVisible(id, true));
            }
        };
        let seg = match result {
            Ok(seg) => seg,
            Err(e) => {
                if let Some(id) = preview {
                    self.apply(Command::RemoveLayer(id));
                }
                restore_previous(self);
                match e {
                    SegError::Cancelled => {
                        self.push_info("Segmentation cancelled; the previous mask is unchanged")
                    }
                    e => self.push_error(format!("segmentation failed: {e}")),
                }
                return;
            }
        };
        let stamp = ModelStamp::of(&seg, &run.weights_sha256, &run.post);
        let name = format!("Segmentation ({})", seg.model_id);
        // Earlier results give way to this one.
        let old: Vec<LayerId> = self
            .doc
            .layers
            .iter()
            .filter(|l| Some(l.id) != preview && l.role == LayerRole::Segmentation)
            .map(|l| l.id)
            .collect();
        let mask: LabelMask = seg.mask;
        let layer = match preview {
            Some(id) => {
                self.doc
                    .layers
                    .relabel(id, LayerRole::Segmentation, name.clone());
                // Cannot fail: the job segmented this very volume.
                let _ = self.doc.layers.replace_mask(id, mask);
                self.doc.layers.set_visible(id, true);
                id
            }
            None => match self
                .doc
                .layers
                .add(LayerRole::Segmentation, name.clone(), None, mask)
            {
                Ok(id) => id,
                Err(e) => {
                    self.push_error(format!("cannot show the segmentation: {e}"));
                    return;
                }
            },
        };
        for id in old {
            self.doc.layers.remove(id);
        }
        self.settle_edit_session_after_segmentation();
        self.seg.result = Some(SegResult {
            layer,
            stamp,
            revision: self.doc.layers.revision(),
            elapsed_s: seg.elapsed_s,
            device: run.device,
            physics: seg.cleanup.physics.note.clone(),
        });
    }
}
