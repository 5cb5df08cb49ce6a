//! Segmentation as a background job: [`segment_volume`] on a worker thread, its
//! progress as messages, cancellation from any thread. Meant for the viewer, which
//! polls [`SegJob::poll`] once per frame and paints each finished slice.

use super::SegError;
use super::infer::{InferOptions, ModelSegmentation, segment_volume};
use super::weights::LoadedModel;
use crate::volume::{Region, Volume};
use burn::tensor::Device;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;

/// A message from a running job.
#[derive(Debug)]
pub enum SegEvent {
    /// One slice finished: its preview labels as a storage-order box of the
    /// volume's grid (see [`super::infer::SliceUpdate`]).
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

/// A segmentation running on its own thread.
#[derive(Debug)]
pub struct SegJob {
    events: Receiver<SegEvent>,
    cancel: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl SegJob {
    /// Starts segmenting `volume` with `model` on `device` (the model's device).
    /// `wake` is called after each message (e.g. to request a repaint).
    pub fn spawn(
        model: Arc<LoadedModel>,
        device: Device,
        volume: Arc<Volume>,
        options: InferOptions,
        wake: impl Fn() + Send + 'static,
    ) -> Self {
        let (tx, events) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&cancel);
        let handle = std::thread::Builder::new()
            .name("lungscope-segmentation".into())
            .spawn(move || {
                let result = segment_volume(&model, &device, &volume, &options, &flag, &mut |u| {
                    // A closed receiver means nobody listens any more: stop early.
                    let sent = tx.send(SegEvent::Slice {
                        done: u.done,
                        total: u.total,
                        slice: u.slice,
                        region: u.region,
                        labels: u.labels.to_vec(),
                    });
                    if sent.is_err() {
                        flag.store(true, Ordering::Relaxed);
                    }
                    wake();
                });
                let _ = tx.send(SegEvent::Finished(result.map(Box::new)));
                wake();
            });
        match handle {
            Ok(handle) => Self {
                events,
                cancel,
                handle: Some(handle),
            },
            Err(e) => {
                // No thread: report the failure as the job's only message.
                let (tx, events) = mpsc::channel();
                let _ = tx.send(SegEvent::Finished(Err(SegError::Backend(format!(
                    "cannot start the segmentation thread: {e}"
                )))));
                Self {
                    events,
                    cancel,
                    handle: None,
                }
            }
        }
    }

    /// Asks the job to stop before its next batch; it then ends with
    /// [`SegError::Cancelled`].
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// All messages that arrived since the last call, without blocking.
    pub fn poll(&self) -> Vec<SegEvent> {
        std::iter::from_fn(|| self.events.try_recv().ok()).collect()
    }

    /// Blocks until the next message; `None` once the job has ended and every
    /// message was taken.
    pub fn wait_event(&self) -> Option<SegEvent> {
        self.events.recv().ok()
    }

    /// True while the worker thread runs.
    pub fn is_running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }
}

impl Drop for SegJob {
    /// Dropping a job cancels it without waiting: the worker stops before its next
    /// batch and its messages are discarded.
    fn drop(&mut self) {
        self.cancel();
    }
}
