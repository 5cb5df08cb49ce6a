//! The viewer's background jobs: the core's [`crate::job::Job`] whose work returns
//! `anyhow::Result<T>`, with a status the UI matches on (done, cancelled, failed
//! with a message), polled from the UI thread once per frame.
//!
//! A job is `FnOnce(&JobContext<M>) -> anyhow::Result<T>` run on its own thread.
//! While it runs it may
//! - report progress: [`JobContext::set_progress`] (fraction 0..1 and a message),
//! - stream partial results of type `M`: [`JobContext::send`] (e.g. one
//!   segmented slice at a time), which the UI drains with `Job::drain`,
//! - check [`JobContext::is_cancelled`] / [`JobContext::check_cancelled`] and stop
//!   (returning [`Cancelled`] makes the status [`JobStatus::Cancelled`]).
//!
//! The UI calls [`Job::poll`] every frame; it never blocks. Everything else (name,
//! progress, cancel, drain) is the core job's, through `Deref`.

use crate::job::Outcome;
use std::ops::Deref;

pub use crate::job::{Cancelled, JobContext, Waker, no_waker};

/// The state of a job after [`Job::poll`].
#[derive(Debug)]
pub enum JobStatus<T> {
    /// Still running.
    Running,
    /// Finished with a value.
    Done(T),
    /// Stopped by `Job::cancel`.
    Cancelled,
    /// Failed; the message names the cause.
    Failed(String),
}

/// A background job of the viewer with progress, cancel and a stream of `M`
/// messages.
pub struct Job<T, M = ()> {
    inner: crate::job::Job<anyhow::Result<T>, M>,
}

impl<T: Send + 'static, M: Send + 'static> Job<T, M> {
    /// Starts `work` on a new thread named after the job.
    pub fn spawn(
        name: impl Into<String>,
        waker: Waker,
        work: impl FnOnce(&JobContext<M>) -> anyhow::Result<T> + Send + 'static,
    ) -> Self {
        let name = name.into();
        let what = name.clone();
        Self {
            inner: crate::job::Job::spawn(name, waker, work, move |e| {
                Err(anyhow::anyhow!("cannot start the thread of {what}: {e}"))
            }),
        }
    }
}

impl<T, M> Job<T, M> {
    /// Checks for completion without blocking. After it returned anything but
    /// `Running`, later calls return `Failed` ("already finished").
    pub fn poll(&mut self) -> JobStatus<T> {
        match self.inner.poll() {
            Outcome::Running => JobStatus::Running,
            Outcome::Finished(Ok(value)) => JobStatus::Done(value),
            Outcome::Finished(Err(e)) if e.is::<Cancelled>() => JobStatus::Cancelled,
            Outcome::Finished(Err(e)) => JobStatus::Failed(format!("{e:#}")),
            Outcome::Panicked(m) => JobStatus::Failed(format!("{}: panicked: {m}", self.name())),
            Outcome::Taken => JobStatus::Failed(format!("{}: already finished", self.name())),
        }
    }
}

impl<T, M> Deref for Job<T, M> {
    type Target = crate::job::Job<anyhow::Result<T>, M>;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

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
