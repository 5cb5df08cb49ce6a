//! The viewer's segmentation model: which one is active (the embedded default, a
//! model file the user opened, or a stored version from `seg::store`), on which
//! device (Auto | GPU | CPU, see `compute`), loaded in the background.
//!
//! Choosing a stored version or going back to the default is remembered in the
//! version store (`active.json`); a model file opened by hand is used for this
//! session only.

use super::compute::{SharedGpu, resolve_device};
use super::jobs::{Job, JobStatus, Waker};
use super::notice::NoticeKind;
use crate::seg::SegError;
use crate::seg::device::{BackendKind, DeviceChoice, SelectedDevice, cpu_device};
use crate::seg::model::weights::{self, LoadedModel};
use crate::seg::store::{Active, ModelStore, VersionInfo};
use std::path::PathBuf;
use std::sync::Arc;

/// Shown (and used as the Segment button's tooltip) while no model can be used
/// because this build ships no default model.
pub const NO_DEFAULT_MODEL: &str = "no default model shipped; load weights from a file";

/// Where the active model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The model embedded in the program.
    Default,
    /// A model file opened by the user.
    File(PathBuf),
    /// A stored version (fine-tuned model) by id.
    Version(String),
}

impl ModelSource {
    /// A short description for the user.
    pub fn describe(&self) -> String {
        match self {
            ModelSource::Default => "built-in default model".into(),
            ModelSource::File(p) => format!("file {}", super::loading::file_name(p)),
            ModelSource::Version(id) => format!("version {id}"),
        }
    }
}

/// A model ready to segment with, on its device.
#[derive(Debug, Clone)]
pub struct ActiveModel {
    /// The network, its card and weights hash.
    pub model: Arc<LoadedModel>,
    /// The device it lives on.
    pub device: SelectedDevice,
    /// Where it came from.
    pub source: ModelSource,
}

/// One stored version as the models panel lists it.
#[derive(Debug, Clone)]
pub struct VersionRow {
    /// Id, card, configuration, file, active flag.
    pub info: VersionInfo,
    /// Slices of the case it was fine-tuned on (`corrected_slices` in its
    /// `metrics.json` or its card's metrics), if recorded.
    pub corrected_slices: Option<u64>,
}

/// The active model and its background loading.
pub struct ModelManager {
    /// The device the user chose (persisted in the settings by the caller).
    pub device_choice: DeviceChoice,
    gpu: Option<SharedGpu>,
    store: Option<ModelStore>,
    store_error: Option<String>,
    started: bool,
    source: Option<ModelSource>,
    active: Option<ActiveModel>,
    load: Option<Job<ActiveModel>>,
    load_error: Option<String>,
    versions: Vec<VersionRow>,
    list: Option<Job<Vec<VersionRow>>>,
    list_error: Option<String>,
}

impl ModelManager {
    /// A manager with nothing loaded; nothing happens before [`Self::start`].
    pub fn new(device_choice: DeviceChoice) -> Self {
        Self {
            device_choice,
            gpu: None,
            store: None,
            store_error: None,
            started: false,
            source: None,
            active: None,
            load: None,
            load_error: None,
            versions: Vec::new(),
            list: None,
            list_error: None,
        }
    }

    /// The viewer's wgpu device, for the GPU choice (None: no GPU, the CPU is used).
    pub fn set_gpu(&mut self, gpu: Option<SharedGpu>) {
        self.gpu = gpu;
    }

    /// The shared GPU, if the viewer has one.
    pub fn gpu(&self) -> Option<&SharedGpu> {
        self.gpu.as_ref()
    }

    /// Uses `store` for versions instead of the user's data folder (tests, portable
    /// set-ups). Call before the first frame.
    pub fn use_store(&mut self, store: ModelStore) {
        self.store = Some(store);
        self.store_error = None;
    }

    /// The version store, if it could be opened.
    pub fn store(&self) -> Option<&ModelStore> {
        self.store.as_ref()
    }

    /// Opens the version store and loads the remembered model (a stored version, or
    /// the default if this build has one). Only the first call does anything.
    pub fn start(&mut self, waker: &Waker) {
        if self.started {
            return;
        }
        self.started = true;
        if self.store.is_none() {
            match ModelStore::open_user() {
                Ok(s) => self.store = Some(s),
                Err(e) => self.store_error = Some(format!("model versions unavailable: {e}")),
            }
        }
        // A damaged `active.json` (or a choice whose version is gone) falls back to the
        // default model, and the models window says so, naming the file.
        if let Some(problem) = self.store.as_ref().and_then(ModelStore::active_problem) {
            self.store_error = Some(problem);
        }
        let remembered = self.store.as_ref().map(ModelStore::active);
        let source = match remembered {
            Some(Ok(Active::Version(id))) => Some(ModelSource::Version(id)),
            Some(Err(e)) => {
                self.store_error = Some(format!("cannot read the active model version: {e}"));
                None
            }
            _ => None,
        }
        .or_else(|| weights::has_default_model().then_some(ModelSource::Default));
        if let Some(source) = source {
            self.begin_load(source, waker);
        }
        self.refresh_versions(waker);
    }

    /// The model in use, once loaded.
    pub fn active(&self) -> Option<&ActiveModel> {
        self.active.as_ref()
    }

    /// True while a model loads.
    pub fn is_loading(&self) -> bool {
        self.load.is_some()
    }

    /// The loading job's message, while one runs.
    pub fn loading_message(&self) -> Option<String> {
        self.load.as_ref().map(|j| j.progress().1)
    }

    /// Why no model can be used now (None when one is ready).
    pub fn unavailable_reason(&self) -> Option<String> {
        if self.load.is_some() {
            return Some("the model is still loading".into());
        }
        if self.active.is_some() {
            return None;
        }
        Some(match (&self.load_error, &self.source) {
            (Some(e), _) => e.clone(),
            (None, None) => NO_DEFAULT_MODEL.into(),
            (None, Some(s)) => format!("{} is not loaded", s.describe()),
        })
    }

    /// A problem with the version store, if any.
    pub fn store_error(&self) -> Option<&str> {
        self.store_error.as_deref().or(self.list_error.as_deref())
    }

    /// The stored versions (oldest first), as last listed.
    pub fn versions(&self) -> &[VersionRow] {
        &self.versions
    }

    /// True while the versions are being listed.
    pub fn is_listing(&self) -> bool {
        self.list.is_some()
    }

    /// Loads `source` on the chosen device in the background; the current model
    /// stays usable until the new one is ready.
    pub fn begin_load(&mut self, source: ModelSource, waker: &Waker) {
        if let Some(old) = self.load.take() {
            old.cancel();
        }
        self.load_error = None;
        self.source = Some(source.clone());
        let choice = self.device_choice;
        let gpu = self.gpu.clone();
        let store = self.store.clone();
        self.load = Some(Job::spawn(
            format!("Loading {}", source.describe()),
            Arc::clone(waker),
            move |ctx| {
                ctx.set_progress(-1.0, "choosing the device");
                let device = resolve_device(choice, gpu.as_ref());
                ctx.set_progress(-1.0, format!("loading on {}", device.description));
                let loaded = load_on(&source, store.as_ref(), &device)?;
                ctx.check_cancelled()?;
                Ok(ActiveModel {
                    model: Arc::new(loaded.0),
                    device: loaded.1,
                    source,
                })
            },
        ));
    }

    /// Changes the device and reloads the current model on it.
    pub fn set_device(&mut self, choice: DeviceChoice, waker: &Waker) {
        self.device_choice = choice;
        if let Some(source) = self.source.clone() {
            self.begin_load(source, waker);
        }
    }

    /// Makes a stored version the active model (remembered) and loads it.
    pub fn use_version(&mut self, id: &str, waker: &Waker) -> Result<(), String> {
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| "no model version store".to_string())?;
        store.activate(id).map_err(|e| e.to_string())?;
        self.begin_load(ModelSource::Version(id.to_string()), waker);
        self.refresh_versions(waker);
        Ok(())
    }

    /// Goes back to the built-in default model (remembered). Without one, no model
    /// is active afterwards and [`NO_DEFAULT_MODEL`] says why.
    pub fn use_default(&mut self, waker: &Waker) -> Result<(), String> {
        if let Some(store) = &self.store {
            store.use_default().map_err(|e| e.to_string())?;
        }
        self.refresh_versions(waker);
        if weights::has_default_model() {
            self.begin_load(ModelSource::Default, waker);
        } else {
            if let Some(old) = self.load.take() {
                old.cancel();
            }
            self.active = None;
            self.source = None;
            self.load_error = None;
        }
        Ok(())
    }

    /// Loads a model file for this session.
    pub fn use_file(&mut self, path: PathBuf, waker: &Waker) {
        self.begin_load(ModelSource::File(path), waker);
    }

    /// Lists the stored versions again in the background.
    pub fn refresh_versions(&mut self, waker: &Waker) {
        let Some(store) = self.store.clone() else {
            return;
        };
        self.list = Some(Job::spawn(
            "Listing model versions",
            Arc::clone(waker),
            move |_| list_versions(&store),
        ));
    }

    /// Takes finished loads and listings; returns messages for the user.
    pub fn poll(&mut self) -> Vec<(NoticeKind, String)> {
        let mut out = Vec::new();
        if let Some(job) = &mut self.load {
            match job.poll() {
                JobStatus::Running => {}
                JobStatus::Done(active) => {
                    self.load = None;
                    let mut text = format!(
                        "Model {} ({}) ready on {}",
                        active.model.id,
                        active.source.describe(),
                        active.device.description
                    );
                    if let Some(n) = &active.device.notice {
                        text.push_str(&format!(" — {n}"));
                    }
                    out.push((NoticeKind::Info, text));
                    self.active = Some(active);
                }
                JobStatus::Cancelled => self.load = None,
                JobStatus::Failed(e) => {
                    self.load = None;
                    let text = format!("cannot load the model: {e}");
                    out.push((NoticeKind::Error, text.clone()));
                    self.load_error = Some(text);
                }
            }
        }
        if let Some(job) = &mut self.list {
            match job.poll() {
                JobStatus::Running => {}
                JobStatus::Done(rows) => {
                    self.list = None;
                    self.list_error = None;
                    self.versions = rows;
                }
                JobStatus::Cancelled => self.list = None,
                JobStatus::Failed(e) => {
                    self.list = None;
                    self.list_error = Some(format!("cannot list the model versions: {e}"));
                }
            }
        }
        out
    }
}

/// Loads `source` on `device`. On a GPU the model then segments a small phantom
/// once (this also compiles its kernels before the first real use); a GPU that
/// fails either step (an error of the backend or a panic) is replaced by the CPU,
/// with a notice on the returned device.
fn load_on(
    source: &ModelSource,
    store: Option<&ModelStore>,
    device: &SelectedDevice,
) -> anyhow::Result<(LoadedModel, SelectedDevice)> {
    let load = |dev: &SelectedDevice| -> Result<LoadedModel, SegError> {
        match source {
            ModelSource::Default => weights::load_default(&dev.device),
            ModelSource::File(p) => weights::load_file(p, &dev.device),
            ModelSource::Version(id) => match store {
                Some(s) => s.load(id, &dev.device),
                None => Err(SegError::InvalidSettings(
                    "no model version store to load from".into(),
                )),
            },
        }
    };
    if device.kind == BackendKind::Cpu {
        return Ok((load(device)?, device.clone()));
    }
    let why = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| load(device))) {
        Ok(Ok(model)) => match warm_up(&model, device) {
            Ok(()) => return Ok((model, device.clone())),
            Err(why) => format!("a test run failed: {why}"),
        },
        Ok(Err(e @ (SegError::Backend(_) | SegError::DeviceInit(_)))) => e.to_string(),
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => "the GPU runtime panicked".to_string(),
    };
    let cpu = SelectedDevice {
        notice: Some(format!(
            "the model could not be loaded on {} ({why}); using the CPU",
            device.description
        )),
        ..cpu_device()
    };
    Ok((load(&cpu)?, cpu))
}

/// Segments a one-slice phantom with `model` on `device` (errors and panics of the
/// backend become the message).
fn warm_up(model: &LoadedModel, device: &SelectedDevice) -> Result<(), String> {
    use crate::volume::{Geometry, Volume, Voxels};
    let side = 64;
    let geometry = Geometry::with_signs([side, side, 1], [1.0; 3], [-1.0, -1.0, 1.0]);
    let voxels: Vec<i16> = (0..side * side)
        .map(|p| {
            if (p % side).abs_diff(p / side) < 20 {
                -800
            } else {
                40
            }
        })
        .collect();
    let volume = Volume::new(geometry, Voxels::I16(voxels)).map_err(|e| e.to_string())?;
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::seg::infer::segment_volume(
            model,
            &device.device,
            &volume,
            &crate::seg::infer::InferOptions::default(),
            &cancel,
            &mut |_| {},
        )
    }));
    match run {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the GPU runtime panicked".into()),
    }
}

/// The store's versions with their corrected-slice counts.
fn list_versions(store: &ModelStore) -> anyhow::Result<Vec<VersionRow>> {
    let infos = store.list()?;
    Ok(infos
        .into_iter()
        .map(|info| {
            let from_metrics = info
                .path
                .parent()
                .map(|d| d.join("metrics.json"))
                .and_then(|p| std::fs::read_to_string(p).ok())
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v.get("corrected_slices").and_then(|n| n.as_u64()));
            let from_card = info
                .card
                .metrics
                .get("corrected_slices")
                .filter(|n| n.is_finite() && **n >= 0.0)
                .map(|n| *n as u64);
            VersionRow {
                corrected_slices: from_metrics.or(from_card),
                info,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seg::model::{Arch, Head, ModelConfig, UpMode};

    #[test]
    fn the_test_run_segments_the_phantom_without_error() {
        let config = ModelConfig {
            arch: Arch::Unet,
            in_channels: 1,
            base: 2,
            depth: 1,
            batch_norm: true,
            up: UpMode::Transpose,
            head: Head::Sigmoid { channels: 2 },
            input_size: 16,
        };
        let device = cpu_device();
        let model = config.init(&device.device).expect("builds");
        let bytes =
            weights::to_bytes(&config, &model, &weights::ModelCard::default()).expect("serialises");
        let loaded = weights::load_bytes(&bytes, std::path::Path::new("test"), &device.device)
            .expect("loads");
        assert_eq!(warm_up(&loaded, &device), Ok(()));
    }
}
