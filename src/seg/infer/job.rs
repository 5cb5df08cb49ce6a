//! Segmentation as a background job: [`segment_volume`] run by a [`crate::job::Job`],
//! its finished slices as messages, cancellation from any thread. Meant for the
//! viewer, which polls [`SegJob::poll`] once per frame and paints each finished
//! slice.

use crate::job::{Job, Outcome};
use crate::seg::SegError;
use crate::seg::infer::{InferOptions, ModelSegmentation, segment_volume};
use crate::seg::model::weights::LoadedModel;
use crate::volume::{Region, Volume};
use burn::tensor::Device;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A message from a running job.
#[derive(Debug)]
pub enum SegEvent {
    /// One slice finished: its preview labels as a storage-order box of the
    /// volume's grid (see [`crate::seg::infer::SliceUpdate`]).
    Slice {
        /// Slices finished so far.
        done: usize,
        /// Slices in the volume.
        total: usize,
        /// Axial slice number.
        slice: usize,
        /// The voxels of the slice.
        region: Region,
        /// Labels of `region`, storage order (`i` fastest).
        labels: Vec<u8>,
    },
    /// The job ended: the final mask, or why not ([`SegError::Cancelled`] after
    /// [`SegJob::cancel`]). Always the last message.
    Finished(Result<Box<ModelSegmentation>, SegError>),
}

/// What a segmentation job returns.
type SegResult = Result<Box<ModelSegmentation>, SegError>;

/// A segmentation running on its own thread.
pub struct SegJob {
    job: Job<SegResult, SegEvent>,
}

impl std::fmt::Debug for SegJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegJob")
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl SegJob {
    /// Starts segmenting `volume` with `model` on `device` (the model's device).
    /// `wake` is called after each message (e.g. to request a repaint).
    pub fn spawn(
        model: Arc<LoadedModel>,
        device: Device,
        volume: Arc<Volume>,
        options: InferOptions,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        let work = move |ctx: &crate::job::JobContext<SegEvent>| {
            let cancel = ctx.cancel_flag();
            segment_volume(&model, &device, &volume, &options, cancel, &mut |u| {
                let sent = ctx.send(SegEvent::Slice {
                    done: u.done,
                    total: u.total,
                    slice: u.slice,
                    region: u.region,
                    labels: u.labels.to_vec(),
                });
                // A closed receiver means nobody listens any more: stop early.
                if !sent {
                    cancel.store(true, Ordering::Relaxed);
                }
            })
            .map(Box::new)
        };
        let job = Job::spawn("lungscope-segmentation", Arc::new(wake), work, |e| {
            Err(SegError::Backend(format!(
                "cannot start the segmentation thread: {e}"
            )))
        });
        Self { job }
    }

    /// Asks the job to stop before its next batch; it then ends with
    /// [`SegError::Cancelled`].
    pub fn cancel(&self) {
        self.job.cancel();
    }

    /// All messages that arrived since the last call, without blocking; once the
    /// job has ended, the last of them is [`SegEvent::Finished`].
    pub fn poll(&self) -> Vec<SegEvent> {
        // The result first: every slice was sent before it, so the drain gets them.
        let end = finished(self.job.poll());
        let mut events = self.job.drain();
        events.extend(end);
        events
    }

    /// Blocks until the next message; `None` once the job has ended and every
    /// message was taken.
    pub fn wait_event(&self) -> Option<SegEvent> {
        self.job.recv().or_else(|| finished(self.job.wait()))
    }

    /// True while the worker thread runs.
    pub fn is_running(&self) -> bool {
        self.job.is_running()
    }
}

/// The [`SegEvent::Finished`] of a job's outcome, once (a panic is a backend
/// failure).
fn finished(outcome: Outcome<SegResult>) -> Option<SegEvent> {
    match outcome {
        Outcome::Running | Outcome::Taken => None,
        Outcome::Finished(result) => Some(SegEvent::Finished(result)),
        Outcome::Panicked(m) => Some(SegEvent::Finished(Err(SegError::Backend(format!(
            "the segmentation stopped unexpectedly: {m}"
        ))))),
    }
}

impl Drop for SegJob {
    /// Dropping a job cancels it without waiting: the worker stops before its next
    /// batch and its messages are discarded.
    fn drop(&mut self) {
        self.cancel();
    }
}
