//! Background loading driven from the state: queueing, polling, applying results.

use super::jobs::{Job, JobStatus};
use super::loading::{LoadRequest, Loaded, file_name, load_files};
use super::state::{AppState, VolumeEntry};
use std::path::PathBuf;

impl AppState {
    /// True while files are being loaded.
    pub fn is_loading(&self) -> bool {
        self.load_job.is_some() || !self.queued_loads.is_empty()
    }

    /// The running load: name, progress fraction (if known), message, seconds.
    pub fn load_progress(&self) -> Option<(String, Option<f32>, String, f32)> {
        self.load_job.as_ref().map(|j| {
            let (f, m) = j.progress();
            (j.name().to_string(), f, m, j.elapsed().as_secs_f32())
        })
    }

    pub(super) fn queue_load(&mut self, paths: Vec<PathBuf>, as_masks: bool) {
        if !paths.is_empty() {
            self.queued_loads.push_back((paths, as_masks));
            self.start_next_load();
        }
    }

    fn start_next_load(&mut self) {
        if self.load_job.is_some() {
            return;
        }
        let Some((paths, as_masks)) = self.queued_loads.pop_front() else {
            return;
        };
        let name = match paths.as_slice() {
            [one] => format!("Loading {}", file_name(one)),
            many => format!("Loading {} files", many.len()),
        };
        let request = LoadRequest {
            paths,
            grid: self.volume().map(|v| v.geometry.clone()),
            as_masks,
        };
        self.load_job = Some(Job::spawn(name, self.waker.clone(), move |ctx| {
            load_files(request, ctx)
        }));
    }

    /// Takes finished work from background jobs. Call once per frame.
    pub fn poll_jobs(&mut self) {
        self.poll_edit_jobs();
        self.poll_fine_tune();
        self.poll_seg_jobs();
        let Some(job) = &mut self.load_job else {
            return;
        };
        let items = job.drain();
        let status = job.poll();
        for item in items {
            self.apply_loaded(item);
        }
        match status {
            JobStatus::Running => {}
            JobStatus::Done(()) => self.finish_load(),
            JobStatus::Cancelled => {
                self.push_info("Loading cancelled");
                self.finish_load();
            }
            JobStatus::Failed(message) => {
                self.push_error(message);
                self.finish_load();
            }
        }
    }

    fn finish_load(&mut self) {
        // Items sent just before the job ended.
        if let Some(job) = self.load_job.take() {
            for item in job.drain() {
                self.apply_loaded(item);
            }
        }
        self.start_next_load();
    }

    pub(super) fn apply_loaded(&mut self, item: Loaded) {
        let Some(item) = self.defer_loaded(item) else {
            return;
        };
        match item {
            Loaded::Volume {
                volume,
                stats,
                path,
            } => {
                let dims = volume.dims();
                if dims.iter().any(|&d| d > self.max_texture_dim) {
                    let text = format!(
                        "volume {dims:?} is larger than this GPU's 3-D texture limit \
                         ({} voxels per axis); the current volume stays: {}",
                        self.max_texture_dim,
                        path.display()
                    );
                    self.push_file_error(path, text);
                    return;
                }
                self.set_volume(VolumeEntry {
                    name: file_name(&path),
                    volume,
                    stats,
                    path: Some(path),
                });
            }
            Loaded::Mask { mask, path } => {
                if let Err(e) = self.add_layer(file_name(&path), Some(path.clone()), mask) {
                    let text = format!("{e}: {}", path.display());
                    self.push_file_error(path, text);
                }
            }
            Loaded::Failed { path, message } => self.push_file_error(path, message),
        }
    }
}
