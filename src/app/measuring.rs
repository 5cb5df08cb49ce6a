//! The report panel's live figures kept up to date (state side, no egui): the
//! label map the overlay shows (the composite of the visible mask layers) is
//! measured with `analysis::Segmentation::from_label_map` + `analysis::analyze` in
//! a background job, again whenever the mask revision or the volume changes (after
//! segmentation, after loading a mask, after edits). Never while a segmentation
//! runs: its previews are partial. The figures themselves live in `figures`; these
//! are [`LiveFigures`]' methods, polled by the segmentation tools that hold them.

use super::context::Ctx;
use super::document::Document;
use super::figures::{Figures, FiguresKey, FiguresStatus, LayerSource, LiveFigures};
use super::jobs::{Job, JobStatus};
use super::segment::SegResult;
use crate::analysis::{self, Segmentation, SplitOptions};
use crate::volume::Volume;
use std::sync::Arc;
use std::time::Instant;

fn volume_key(volume: &Arc<Volume>) -> usize {
    Arc::as_ptr(volume) as usize
}

/// Which volume and mask revision the document shows now.
fn figures_key(doc: &Document) -> Option<FiguresKey> {
    doc.entry().map(|v| FiguresKey {
        volume: volume_key(&v.volume),
        revision: doc.layers.revision(),
    })
}

impl LiveFigures {
    /// The figures if they match the masks `doc` shows now (never while
    /// `segmenting`).
    pub fn current(&self, doc: &Document, segmenting: bool) -> Option<&Figures> {
        let f = self.latest.as_ref()?;
        (Some(f.key) == figures_key(doc) && !segmenting).then_some(f)
    }

    /// True while the figures lag behind the shown masks (a measurement runs or
    /// starts on the next frame).
    pub fn is_pending(&self, doc: &Document, segmenting: bool) -> bool {
        if self.job.is_some() {
            return true;
        }
        let Some(key) = figures_key(doc) else {
            return false;
        };
        !segmenting
            && doc.layers.iter().any(|l| l.visible)
            && self.latest.as_ref().is_none_or(|f| f.key != key)
            && self.error.as_ref().is_none_or(|(k, _)| *k != key)
    }

    /// Takes a finished measurement and starts one when the shown masks changed
    /// (`result`: the last segmentation, for the layers' provenance). Called once
    /// per frame.
    pub fn poll(&mut self, cx: &Ctx<'_>, segmenting: bool, result: Option<&SegResult>) {
        if let Some((key, job)) = &mut self.job {
            match job.poll() {
                JobStatus::Running => {}
                JobStatus::Done(f) => {
                    self.latest = Some(f);
                    self.job = None;
                }
                JobStatus::Cancelled => self.job = None,
                JobStatus::Failed(e) => {
                    self.error = Some((*key, e));
                    self.job = None;
                }
            }
        }
        let Some(key) = figures_key(cx.doc) else {
            self.latest = None;
            self.error = None;
            self.status = Some(FiguresStatus::NoVolume);
            return;
        };
        let has_mask = cx.doc.layers.iter().any(|l| l.visible);
        if self
            .latest
            .as_ref()
            .is_some_and(|f| f.key.volume != key.volume)
        {
            self.latest = None;
        }
        let status = if segmenting {
            FiguresStatus::WaitingForSegmentation
        } else if !has_mask {
            self.latest = None;
            FiguresStatus::NoMask
        } else if self.latest.as_ref().is_some_and(|f| f.key == key) {
            FiguresStatus::Current
        } else if self.error.as_ref().is_some_and(|(k, _)| *k == key) {
            FiguresStatus::Failed
        } else {
            FiguresStatus::Measuring
        };
        self.status = Some(status);
        if status == FiguresStatus::Measuring && self.job.is_none() {
            self.start_measuring(key, cx, result);
        }
    }

    fn start_measuring(&mut self, key: FiguresKey, cx: &Ctx<'_>, result: Option<&SegResult>) {
        let (Some(entry), Some(map)) = (cx.doc.entry(), cx.doc.layers.composite()) else {
            return;
        };
        let volume = Arc::clone(&entry.volume);
        let map = map.clone();
        let layers: Vec<LayerSource> = cx
            .doc
            .layers
            .iter()
            .filter(|l| l.visible)
            .map(|l| {
                let made = result.filter(|r| r.layer == l.id);
                LayerSource {
                    name: l.name.clone(),
                    path: l.path.clone(),
                    model: made.map(|r| r.stamp.clone()),
                    changed_since_segmentation: made.is_some_and(|r| r.revision != key.revision),
                }
            })
            .collect();
        let job = Job::spawn("Measuring", cx.waker(), move |ctx| {
            let start = Instant::now();
            let histogram = map.histogram();
            let lung_labelled = histogram[usize::from(crate::mask::LEFT_LUNG)] > 0
                || histogram[usize::from(crate::mask::RIGHT_LUNG)] > 0;
            ctx.set_progress(-1.0, "splitting the lungs");
            let options = SplitOptions {
                body_center_x_mm: analysis::body_center_x_mm(&volume),
                ..SplitOptions::default()
            };
            let mut segmentation = Segmentation::from_label_map(&map, &options)?;
            // Infection without any lung label, and no model result among the
            // shown layers (a model's label 3 is infected lung): the masks hold
            // no lungs to measure against.
            segmentation.notes.no_lung_label =
                !lung_labelled && layers.iter().all(|l| l.model.is_none());
            ctx.check_cancelled()?;
            ctx.set_progress(-1.0, "measuring");
            let analysis = analysis::analyze(&segmentation, Some(&volume), None)?;
            Ok(Figures {
                analysis,
                segmentation: Arc::new(segmentation),
                volume,
                layers,
                lung_labelled,
                elapsed_s: start.elapsed().as_secs_f64(),
                key,
            })
        });
        self.job = Some((key, job));
    }
}
