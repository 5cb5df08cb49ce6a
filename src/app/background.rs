//! Background loading driven from the state: queueing, polling, applying results,
//! and the DICOM series chooser's prompt (filled by a load job, answered with
//! `Command::ChooseSeries` / `Command::CancelSeriesChoice`).

use super::document::VolumeEntry;
use super::jobs::{Job, JobStatus};
use super::loading::{
    ChosenSeries, LoadRequest, Loaded, QueuedLoad, SeriesPrompt, file_name, load_files,
};
use super::state::AppState;
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
            self.queued_loads.push_back(QueuedLoad {
                paths,
                as_masks,
                series: None,
            });
            self.start_next_load();
        }
    }

    /// The DICOM input whose series the user is asked to choose, if any.
    pub fn series_prompt(&self) -> Option<&SeriesPrompt> {
        self.series_prompt.as_ref()
    }

    /// Loads series `number` (1-based) of the prompt, then the files opened after
    /// it; closes the prompt. A number not in the listing changes nothing.
    pub(super) fn choose_series(&mut self, number: usize) {
        let Some(prompt) = self.series_prompt.take() else {
            return;
        };
        if !(1..=prompt.series.len()).contains(&number) {
            self.series_prompt = Some(prompt);
            return;
        }
        self.queued_loads.push_back(QueuedLoad {
            paths: prompt.rest,
            as_masks: false,
            series: Some(ChosenSeries {
                index: prompt.index,
                number,
            }),
        });
        self.start_next_load();
    }

    /// Closes the prompt without reading any series (nor the files after it).
    pub(super) fn cancel_series_choice(&mut self) {
        let Some(prompt) = self.series_prompt.take() else {
            return;
        };
        let more = match prompt.rest.len() {
            0 => String::new(),
            n => format!(" (nor the {n} file(s) opened after it)"),
        };
        self.push_info(format!(
            "No series chosen: nothing was opened from {}{more}",
            file_name(&prompt.source)
        ));
    }

    fn start_next_load(&mut self) {
        if self.load_job.is_some() {
            return;
        }
        let Some(QueuedLoad {
            paths,
            as_masks,
            series,
        }) = self.queued_loads.pop_front()
        else {
            return;
        };
        let name = match (&series, paths.as_slice()) {
            (Some(chosen), _) => format!(
                "Loading series {} of {}",
                chosen.number,
                file_name(chosen.index.path())
            ),
            (None, [one]) => format!("Loading {}", file_name(one)),
            (None, many) => format!("Loading {} files", many.len()),
        };
        let request = LoadRequest {
            paths,
            grid: self.volume().map(|v| v.geometry.clone()),
            as_masks,
            series,
        };
        self.load_job = Some(Job::spawn(name, self.waker.clone(), move |ctx| {
            load_files(request, ctx)
        }));
    }

    /// Takes the news of the segmentation tools' jobs: a placed segmentation lets
    /// the edit session settle before it is recorded and the figures re-measured.
    fn poll_seg_jobs(&mut self) {
        let mut parts = self.parts();
        if let Some(placed) = parts.seg.poll(&mut parts.cx) {
            parts.edit.settle_after_segmentation(&mut parts.cx);
            parts.seg.record(placed, parts.cx.doc);
        }
        parts.seg.poll_reports(&mut parts.cx);
    }

    /// Takes finished work from background jobs. Call once per frame.
    pub fn poll_jobs(&mut self) {
        self.poll_edit_jobs();
        let mut parts = self.parts();
        let request = parts.finetune.poll(&mut parts.cx);
        self.serve_model_requests(request);
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
        let mut parts = self.parts();
        let Some(item) = parts.edit.defer_loaded(item, &mut parts.cx) else {
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
                if let Err(e) = self
                    .doc
                    .add_layer(file_name(&path), Some(path.clone()), mask)
                {
                    let text = format!("{e}: {}", path.display());
                    self.push_file_error(path, text);
                }
            }
            Loaded::ChooseSeries(prompt) => {
                if let Some(old) = self.series_prompt.replace(prompt) {
                    self.push_info(format!(
                        "Series choice for {} replaced by a newer one: nothing was opened from it",
                        file_name(&old.source)
                    ));
                }
            }
            Loaded::Failed { path, message } => self.push_file_error(path, message),
        }
    }
}
