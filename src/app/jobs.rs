//! Background jobs: a worker thread with progress, cancellation and a stream of
//! partial results, polled from the UI thread once per frame.
//!
//! A job is `FnOnce(&JobContext<M>) -> anyhow::Result<T>` run on its own thread
//! (poll-promise). While it runs it may
//! - report progress: [`JobContext::set_progress`] (fraction 0..1 and a message),
//! - stream partial results of type `M`: [`JobContext::send`] (e.g. one
//!   segmented slice at a time), which the UI drains with [`Job::drain`],
//! - check [`JobContext::is_cancelled`] / [`JobContext::check_cancelled`] and stop.
//!
//! The UI calls [`Job::poll`] every frame; it never blocks.

use poll_promise::Promise;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Wakes the UI (e.g. `egui::Context::request_repaint`) when a job has news.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// The error a cancelled job returns.
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// Progress shared between a job and the UI.
#[derive(Debug, Default)]
struct Progress {
    fraction_bits: AtomicU32,
    message: Mutex<String>,
}

/// What a running job sees: progress, cancellation, a channel to the UI.
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

    /// True once the UI asked the job to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// The flag the UI sets to stop the job, for core functions that take an
    /// `&AtomicBool` cancel (e.g. `io::ReadProgress`).
    pub fn cancel_flag(&self) -> &AtomicBool {
        &self.cancel
    }

    /// `Err(Cancelled)` once the UI asked the job to stop (use with `?`).
    pub fn check_cancelled(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// Sends a partial result to the UI. Returns false if the UI dropped the job.
    pub fn send(&self, message: M) -> bool {
        let ok = self.tx.send(message).is_ok();
        (self.waker)();
        ok
    }
}

/// The state of a job after [`Job::poll`].
#[derive(Debug)]
pub enum JobStatus<T> {
    /// Still running.
    Running,
    /// Finished with a value.
    Done(T),
    /// Stopped by [`Job::cancel`].
    Cancelled,
    /// Failed; the message names the cause.
    Failed(String),
}

/// A background job with progress, cancel and a stream of `M` messages.
pub struct Job<T: Send + 'static, M = ()> {
    name: String,
    promise: Option<Promise<anyhow::Result<T>>>,
    progress: Arc<Progress>,
    cancel: Arc<AtomicBool>,
    rx: Receiver<M>,
    started: Instant,
}

impl<T: Send + 'static, M: Send + 'static> Job<T, M> {
    /// Starts `work` on a new thread named after the job.
    pub fn spawn(
        name: impl Into<String>,
        waker: Waker,
        work: impl FnOnce(&JobContext<M>) -> anyhow::Result<T> + Send + 'static,
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
        let promise = Promise::spawn_thread(name.clone(), move || {
            let result = work(&ctx);
            waker();
            result
        });
        Self {
            name,
            promise: Some(promise),
            progress,
            cancel,
            rx,
            started: Instant::now(),
        }
    }

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

    /// Asks the job to stop; it finishes as [`JobStatus::Cancelled`] once it
    /// notices.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// True once cancellation was requested.
    pub fn is_cancel_requested(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Partial results sent since the last call.
    pub fn drain(&self) -> Vec<M> {
        let mut out = Vec::new();
        while let Ok(m) = self.rx.try_recv() {
            out.push(m);
        }
        out
    }

    /// Checks for completion without blocking. After it returned anything but
    /// `Running`, later calls return `Failed` ("already finished").
    pub fn poll(&mut self) -> JobStatus<T> {
        let Some(promise) = self.promise.take() else {
            return JobStatus::Failed(format!("{}: already finished", self.name));
        };
        match promise.try_take() {
            Err(promise) => {
                self.promise = Some(promise);
                JobStatus::Running
            }
            Ok(Ok(value)) => JobStatus::Done(value),
            Ok(Err(e)) if e.is::<Cancelled>() => JobStatus::Cancelled,
            Ok(Err(e)) => JobStatus::Failed(format!("{e:#}")),
        }
    }
}

/// A waker that does nothing (tests, headless use).
pub fn no_waker() -> Waker {
    Arc::new(|| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait<T: Send + 'static, M: Send + 'static>(job: &mut Job<T, M>) -> JobStatus<T> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match job.poll() {
                JobStatus::Running if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                other => return other,
            }
        }
    }

    #[test]
    fn streams_messages_and_returns_value() {
        let mut job = Job::spawn("count", no_waker(), |ctx: &JobContext<u32>| {
            for i in 0..5 {
                ctx.send(i);
                ctx.set_progress((i + 1) as f32 / 5.0, format!("{i}"));
            }
            Ok(42)
        });
        let status = wait(&mut job);
        assert!(matches!(status, JobStatus::Done(42)));
        assert_eq!(job.drain(), vec![0, 1, 2, 3, 4]);
        assert_eq!(job.progress(), (Some(1.0), "4".to_string()));
    }

    #[test]
    fn cancel_stops_the_job() {
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let mut job: Job<(), ()> = Job::spawn("spin", no_waker(), move |ctx: &JobContext<()>| {
            let _ = go_rx.recv();
            loop {
                ctx.check_cancelled()?;
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        assert!(matches!(job.poll(), JobStatus::Running));
        job.cancel();
        let _ = go_tx.send(());
        assert!(matches!(wait(&mut job), JobStatus::Cancelled));
    }

    #[test]
    fn failure_carries_the_message() {
        let mut job: Job<(), ()> = Job::spawn("fail", no_waker(), |_| {
            Err(anyhow::anyhow!("bad file: x.nii"))
        });
        match wait(&mut job) {
            JobStatus::Failed(m) => assert!(m.contains("bad file: x.nii")),
            other => panic!("unexpected {other:?}"),
        }
    }
}
