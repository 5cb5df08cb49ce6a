//! The report panel's live figures kept up to date (state side, no egui): the
//! label map the overlay shows (the composite of the visible mask layers) is
//! measured with `analysis::Segmentation::from_label_map` + `analysis::analyze` in
//! a background job, again whenever the mask revision or the volume changes (after
//! segmentation, after loading a mask, after edits). Never while a segmentation
//! runs: its previews are partial. The figures themselves live in `figures`.

use super::figures::{Figures, FiguresKey, FiguresStatus, LayerSource};
use super::jobs::{Job, JobStatus};
use super::state::AppState;
use crate::analysis::{self, Segmentation, SplitOptions};
use crate::volume::Volume;
use std::sync::Arc;
use std::time::Instant;

fn volume_key(volume: &Arc<Volume>) -> usize {
    Arc::as_ptr(volume) as usize
}

impl AppState {
    /// The figures if they match the shown masks now.
    pub fn current_figures(&self) -> Option<&Figures> {
        let f = self.seg.figures.latest.as_ref()?;
        (Some(f.key) == self.figures_key() && !self.is_segmenting()).then_some(f)
    }

    /// True while the figures lag behind the shown masks (a measurement runs or
    /// starts on the next frame).
    pub fn figures_pending(&self) -> bool {
        let figures = &self.seg.figures;
        if figures.job.is_some() {
            return true;
        }
        let Some(key) = self.figures_key() else {
            return false;
        };
        !self.is_segmenting()
            && self.doc.layers.iter().any(|l| l.visible)
            && figures.latest.as_ref().is_none_or(|f| f.key != key)
            && figures.error.as_ref().is_none_or(|(k, _)| *k != key)
    }

    fn figures_key(&self) -> Option<FiguresKey> {
        self.doc.entry().map(|v| FiguresKey {
            volume: volume_key(&v.volume),
            revision: self.mask_revision(),
        })
    }

    pub(super) fn poll_figures(&mut self) {
        let figures = &mut self.seg.figures;
        if let Some((key, job)) = &mut figures.job {
            match job.poll() {
                JobStatus::Running => {}
                JobStatus::Done(f) => {
                    figures.latest = Some(f);
                    figures.job = None;
                }
                JobStatus::Cancelled => figures.job = None,
                JobStatus::Failed(e) => {
                    figures.error = Some((*key, e));
                    figures.job = None;
                }
            }
        }
        let Some(key) = self.figures_key() else {
            let figures = &mut self.seg.figures;
            figures.latest = None;
            figures.error = None;
            figures.status = Some(FiguresStatus::NoVolume);
            return;
        };
        let running_seg = self.is_segmenting();
        let has_mask = self.doc.layers.iter().any(|l| l.visible);
        let figures = &mut self.seg.figures;
        if figures
            .latest
            .as_ref()
            .is_some_and(|f| f.key.volume != key.volume)
        {
            figures.latest = None;
        }
        let status = if running_seg {
            FiguresStatus::WaitingForSegmentation
        } else if !has_mask {
            figures.latest = None;
            FiguresStatus::NoMask
        } else if figures.latest.as_ref().is_some_and(|f| f.key == key) {
            FiguresStatus::Current
        } else if figures.error.as_ref().is_some_and(|(k, _)| *k == key) {
            FiguresStatus::Failed
        } else {
            FiguresStatus::Measuring
        };
        figures.status = Some(status);
        if status == FiguresStatus::Measuring && figures.job.is_none() {
            self.start_measuring(key);
        }
    }

    fn start_measuring(&mut self, key: FiguresKey) {
        let (Some(entry), Some(map)) = (self.doc.entry(), self.composite()) else {
            return;
        };
        let volume = Arc::clone(&entry.volume);
        let map = map.clone();
        let result = self.seg.result().cloned();
        let layers: Vec<LayerSource> = self
            .doc
            .layers
            .iter()
            .filter(|l| l.visible)
            .map(|l| {
                let made = result.as_ref().filter(|r| r.layer == l.id);
                LayerSource {
                    name: l.name.clone(),
                    path: l.path.clone(),
                    model: made.map(|r| r.stamp.clone()),
                    changed_since_segmentation: made.is_some_and(|r| r.revision != key.revision),
                }
            })
            .collect();
        let job = Job::spawn("Measuring", self.waker(), move |ctx| {
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
        self.seg.figures.job = Some((key, job));
    }
}
