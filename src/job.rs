//! Background jobs: work on its own thread with progress, cancellation and a stream
//! of partial results, polled without blocking (the viewer polls once per frame) or
//! waited on.
//!
//! A job runs `FnOnce(&JobContext<M>) -> R` on a thread named after it. While it
//! runs it may
//! - report progress: [`JobContext::set_progress`] (fraction 0..1 and a message),
//! - stream partial results of type `M`: [`JobContext::send`] (e.g. one segmented
//!   slice at a time), which the owner drains with [`Job::drain`] or takes one by
//!   one with [`Job::recv`],
//! - check [`JobContext::is_cancelled`] / [`JobContext::check_cancelled`] and stop.
//!
//! Every piece of news (a message, progress, the end) calls the job's [`Waker`].
//! The owner takes the result once with [`Job::poll`] (never blocks) or [`Job::wait`].
//! Every message was sent before the result is available, so taking the result
//! first and then draining sees them all.
//!
//! No GUI dependency: the viewer's jobs (`app::jobs`) and the segmentation job
//! (`seg::infer::job::SegJob`) are this one type with their own result and message types.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Called when a job has news (e.g. `egui::Context::request_repaint`).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// A waker that does nothing (tests, headless use).
pub fn no_waker() -> Waker {
    Arc::new(|| {})
}

/// The error a cancelled job returns.
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// Progress shared between a job and its owner.
#[derive(Debug)]
struct Progress {
    fraction_bits: AtomicU32,
    message: Mutex<String>,
}

/// What a running job sees: progress, cancellation, a channel to its owner.
pub struct JobContext<M> {
    progress: Arc<Progress>,
    cancel: Arc<AtomicBool>,
    tx: Sender<M>,
    waker: Waker,
}

impl<M> JobContext<M> {
    /// Reports progress (`fraction` in 0..=1; negative means "unknown").
    pub fn set_progress(&self, fraction: f32, message: impl Into<String>) {
        self.progress
            .fraction_bits
            .store(fraction.min(1.0).to_bits(), Ordering::Relaxed);
        if let Ok(mut m) = self.progress.message.lock() {
            *m = message.into();
        }
        (self.waker)();
    }

    /// True once the owner asked the job to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// The flag the owner sets to stop the job, for core functions that take an
    /// `&AtomicBool` cancel (e.g. `io::ReadProgress`, `seg::infer`).
    pub fn cancel_flag(&self) -> &AtomicBool {
        &self.cancel
    }

    /// `Err(Cancelled)` once the owner asked the job to stop (use with `?`).
    pub fn check_cancelled(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// Sends a partial result to the owner. Returns false if the owner dropped the
    /// job.
    pub fn send(&self, message: M) -> bool {
        let ok = self.tx.send(message).is_ok();
        (self.waker)();
        ok
    }
}

/// What [`Job::poll`] or [`Job::wait`] found.
#[derive(Debug)]
pub enum Outcome<R> {
    /// Still running.
    Running,
    /// Finished: the work's result (given once).
    Finished(R),
    /// The work panicked; the panic's message.
    Panicked(String),
    /// The result was taken by an earlier call.
    Taken,
}

/// Where a job's result is.
enum State<R> {
    Running(JoinHandle<R>),
    Ready(R),
    Taken,
}

/// A background job returning `R`, with progress, cancel and a stream of `M`
/// messages.
pub struct Job<R, M = ()> {
    name: String,
    state: Mutex<State<R>>,
    progress: Arc<Progress>,
    cancel: Arc<AtomicBool>,
    rx: Receiver<M>,
    started: Instant,
}

impl<R: Send + 'static, M: Send + 'static> Job<R, M> {
    /// Starts `work` on a new thread named `name`. If no thread can be started,
    /// the job is finished at once with `cannot_start`'s result.
    pub fn spawn(
        name: impl Into<String>,
        waker: Waker,
        work: impl FnOnce(&JobContext<M>) -> R + Send + 'static,
        cannot_start: impl FnOnce(std::io::Error) -> R,
    ) -> Self {
        let name = name.into();
        let progress = Arc::new(Progress {
            fraction_bits: AtomicU32::new((-1.0f32).to_bits()),
            message: Mutex::new(String::new()),
        });
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let ctx = JobContext {
            progress: Arc::clone(&progress),
            cancel: Arc::clone(&cancel),
            tx,
            waker: Arc::clone(&waker),
        };
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let result = work(&ctx);
                waker();
                result
            });
        let state = match thread {
            Ok(handle) => State::Running(handle),
            Err(e) => State::Ready(cannot_start(e)),
        };
        Self {
            name,
            state: Mutex::new(state),
            progress,
            cancel,
            rx,
            started: Instant::now(),
        }
    }
}

impl<R, M> Job<R, M> {
    /// The job's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Time since the job started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Last reported progress: fraction (`None` if unknown) and message.
    pub fn progress(&self) -> (Option<f32>, String) {
        let f = f32::from_bits(self.progress.fraction_bits.load(Ordering::Relaxed));
        let msg = self
            .progress
            .message
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        ((f >= 0.0).then_some(f), msg)
    }

    /// Asks the job to stop; the work sees it through its [`JobContext`].
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// True once cancellation was requested.
    pub fn is_cancel_requested(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Partial results sent since the last call, without blocking.
    pub fn drain(&self) -> Vec<M> {
        std::iter::from_fn(|| self.rx.try_recv().ok()).collect()
    }

    /// Blocks until the next partial result; `None` once the work has ended and
    /// every message was taken.
    pub fn recv(&self) -> Option<M> {
        self.rx.recv().ok()
    }

    /// True while the work runs (its result not yet available).
    pub fn is_running(&self) -> bool {
        matches!(&*self.state(), State::Running(h) if !h.is_finished())
    }

    /// Takes the result if the work has ended, without blocking.
    pub fn poll(&self) -> Outcome<R> {
        self.take(false)
    }

    /// Blocks until the work has ended and takes its result.
    pub fn wait(&self) -> Outcome<R> {
        self.take(true)
    }

    fn state(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self, block: bool) -> Outcome<R> {
        let mut state = self.state();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Running(h) if !block && !h.is_finished() => {
                *state = State::Running(h);
                Outcome::Running
            }
            State::Running(h) => match h.join() {
                Ok(result) => Outcome::Finished(result),
                Err(panic) => Outcome::Panicked(panic_message(panic.as_ref())),
            },
            State::Ready(result) => Outcome::Finished(result),
            State::Taken => Outcome::Taken,
        }
    }
}

/// The text of a panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without message".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_comes_after_every_message() {
        let job = Job::spawn(
            "count",
            no_waker(),
            |ctx: &JobContext<u32>| {
                for i in 0..3 {
                    ctx.send(i);
                }
                7
            },
            |_| 0,
        );
        assert!(matches!(job.wait(), Outcome::Finished(7)));
        assert_eq!(job.drain(), vec![0, 1, 2]);
        assert!(job.recv().is_none(), "the channel closes with the work");
        assert!(matches!(job.poll(), Outcome::Taken));
        assert!(!job.is_running());
    }

    #[test]
    fn a_panic_is_an_outcome() {
        let job: Job<(), ()> = Job::spawn("boom", no_waker(), |_| panic!("broken"), |_| ());
        match job.wait() {
            Outcome::Panicked(m) => assert_eq!(m, "broken"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
