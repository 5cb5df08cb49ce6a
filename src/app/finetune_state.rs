//! In-app fine-tuning without egui types: the settings of the panel, the background
//! job running [`fine_tune_case`], the live curves it feeds, and the user's choice
//! between the new version and the current model.
//!
//! Two sources of training targets:
//! - **corrections**: the axial slices of the edit session that the user edited or
//!   marked as reviewed, with the edited mask;
//! - **this case**: every axial slice of the shown mask (the edited one if editing)
//!   that contains lung, subsampled to [`FineTuneState::max_case_slices`].
//!
//! The base model is the active model of the version store (a stored version or the
//! built-in default), or a model file the user chose. The result is stored as a new
//! version but not activated: the user picks it or keeps the current model.

use super::compute::{SharedGpu, resolve_device};
use super::jobs::{Cancelled, Job, JobContext, JobStatus};
use super::models::ModelSource;
use super::state::AppState;
use crate::seg::corrections::{
    CaseData, CaseFineTune, CaseFineTuneResult, DEFAULT_MAX_CASE_SLICES, TargetKind,
    fine_tune_case, lung_slices,
};
use crate::seg::train::{FineTuneEvent, FineTuneSettings};
use crate::seg::versions::{Active, ModelStore};
use crate::seg::{DeviceChoice, SegError, select_device, weights};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the fine-tuning panel can be asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum FineTuneCommand {
    /// Show or hide the panel.
    SetOpen(bool),
    /// Start fine-tuning on corrections or on the whole case.
    Start(TargetKind),
    /// Stop the running job (nothing is stored).
    Cancel,
    /// Make the new version the active model.
    UseNewVersion,
    /// Keep the current model (the new version stays stored).
    KeepCurrent,
    /// Go back to the model the active version was made from.
    RollBack,
    /// Fine-tune a model file instead of the active model (None: the active model).
    SetBaseFile(Option<PathBuf>),
}

/// A message from the job.
#[derive(Debug, Clone)]
pub enum FineTuneMessage {
    /// The model is loaded.
    Started {
        /// Output labels (the Dice curves).
        labels: Vec<String>,
        /// The base model's id.
        base: String,
        /// The device, for the user.
        device: String,
        /// Number of target slices.
        slices: usize,
    },
    /// Progress of [`crate::seg::train::fine_tune`].
    Event(FineTuneEvent),
}

/// Loss and Dice by step, for the plots.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Curves {
    /// Output labels.
    pub labels: Vec<String>,
    /// `[step, loss]`.
    pub loss: Vec<[f64; 2]>,
    /// Per label, `[step, Dice on the target slices]`.
    pub dice: Vec<Vec<[f64; 2]>>,
    /// Steps of the run.
    pub steps: usize,
    /// Base model and device, once known.
    pub started: Option<String>,
}

impl Curves {
    /// Adds a message of the job.
    pub fn add(&mut self, message: FineTuneMessage) {
        match message {
            FineTuneMessage::Started {
                labels,
                base,
                device,
                slices,
            } => {
                self.dice = vec![Vec::new(); labels.len()];
                self.labels = labels;
                self.started = Some(format!("{base} on {device}, {slices} slices"));
            }
            FineTuneMessage::Event(FineTuneEvent::Step { step, steps, loss }) => {
                self.steps = steps;
                self.loss.push([step as f64, loss]);
            }
            FineTuneMessage::Event(FineTuneEvent::Scored { step, scores }) => {
                if self.dice.len() < scores.len() {
                    self.dice.resize(scores.len(), Vec::new());
                }
                for (curve, s) in self.dice.iter_mut().zip(&scores) {
                    curve.push([step as f64, s.dice]);
                }
            }
        }
    }
}

/// The fine-tuning part of the app state.
pub struct FineTuneState {
    /// The panel is shown.
    pub open: bool,
    /// Steps, learning rate, batch size.
    pub settings: FineTuneSettings,
    /// Where to train.
    pub device: DeviceChoice,
    /// Most slices "fine-tune on this case" uses.
    pub max_case_slices: usize,
    /// A model file to fine-tune instead of the active model.
    pub base_file: Option<PathBuf>,
    /// Live curves of the current or last run.
    pub curves: Curves,
    /// The last finished run.
    pub result: Option<CaseFineTuneResult>,
    /// What the user chose after the last run.
    pub decision: Option<String>,
    /// The version store (the user's data folder unless set, e.g. by tests).
    pub store: Option<ModelStore>,
    job: Option<Job<CaseFineTuneResult, FineTuneMessage>>,
}

impl Default for FineTuneState {
    fn default() -> Self {
        Self {
            open: false,
            settings: FineTuneSettings::default(),
            device: DeviceChoice::Auto,
            max_case_slices: DEFAULT_MAX_CASE_SLICES,
            base_file: None,
            curves: Curves::default(),
            result: None,
            decision: None,
            store: None,
            job: None,
        }
    }
}

impl FineTuneState {
    /// True while a job runs.
    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }

    /// Progress of the running job: fraction (if known), message, seconds.
    pub fn progress(&self) -> Option<(Option<f32>, String, f32)> {
        self.job.as_ref().map(|j| {
            let (f, m) = j.progress();
            (f, m, j.elapsed().as_secs_f32())
        })
    }
}

impl AppState {
    /// Applies one fine-tuning command.
    pub fn apply_fine_tune(&mut self, command: FineTuneCommand) {
        match command {
            FineTuneCommand::SetOpen(open) => self.finetune.open = open,
            FineTuneCommand::Start(kind) => {
                if let Err(e) = self.start_fine_tune(kind) {
                    self.push_error(format!("fine-tuning: {e}"));
                }
            }
            FineTuneCommand::Cancel => {
                if let Some(job) = &self.finetune.job {
                    job.cancel();
                }
            }
            FineTuneCommand::UseNewVersion => {
                let Some(id) = self.finetune.result.as_ref().map(|r| r.version.id.clone()) else {
                    return;
                };
                match self.version_store().and_then(|s| s.activate(&id)) {
                    Ok(()) => {
                        self.finetune.decision = Some(format!("Now using {id}"));
                        self.load_for_segmentation(ModelSource::Version(id));
                    }
                    Err(e) => self.push_error(format!("could not switch to {id}: {e}")),
                }
            }
            FineTuneCommand::KeepCurrent => {
                if let Some(r) = &self.finetune.result {
                    self.finetune.decision = Some(format!(
                        "Kept the current model; {} stays stored and can be chosen later",
                        r.version.id
                    ));
                }
            }
            FineTuneCommand::RollBack => match self.version_store().and_then(|s| s.roll_back()) {
                Ok(Active::Default) => {
                    self.finetune.decision = Some("Now using the default model".into());
                    let waker = self.waker();
                    if let Err(e) = self.seg.models.use_default(&waker) {
                        self.push_error(format!("cannot switch to the default model: {e}"));
                    }
                }
                Ok(Active::Version(id)) => {
                    self.finetune.decision = Some(format!("Now using {id}"));
                    self.load_for_segmentation(ModelSource::Version(id));
                }
                Err(e) => self.push_error(format!("could not roll back: {e}")),
            },
            FineTuneCommand::SetBaseFile(path) => self.finetune.base_file = path,
        }
    }

    /// The store of model versions, shared with the segmentation tools: the one
    /// set for fine-tuning (handed to the model manager too), else the one the
    /// model manager opened, else the user's data folder.
    fn version_store(&mut self) -> Result<ModelStore, SegError> {
        if let Some(s) = self.finetune.store.clone() {
            if self.seg.models.store().map(ModelStore::root) != Some(s.root()) {
                self.seg.models.use_store(s.clone());
            }
            return Ok(s);
        }
        let s = match self.seg.models.store() {
            Some(s) => s.clone(),
            None => {
                let s = ModelStore::open_user()?;
                self.seg.models.use_store(s.clone());
                s
            }
        };
        self.finetune.store = Some(s.clone());
        Ok(s)
    }

    /// Makes the segmentation tools load `source` (the model Segment then uses)
    /// and list the versions again.
    fn load_for_segmentation(&mut self, source: ModelSource) {
        let waker = self.waker();
        self.seg.models.begin_load(source, &waker);
        self.seg.models.refresh_versions(&waker);
    }

    /// The axial slices "fine-tune on corrections" would train on.
    pub fn corrected_slices(&self) -> Vec<usize> {
        self.edit
            .session()
            .map(crate::edit::EditSession::corrected_slices)
            .unwrap_or_default()
    }

    fn start_fine_tune(&mut self, kind: TargetKind) -> Result<(), String> {
        if self.finetune.job.is_some() {
            return Err("a fine-tuning job is running already".into());
        }
        let entry = self.volume.as_ref().ok_or("no volume is loaded")?;
        let (volume, case) = (Arc::clone(&entry.volume), entry.name.clone());
        let (mask, slices) = match kind {
            TargetKind::Corrections => {
                let session = self
                    .edit
                    .session()
                    .ok_or("no corrections yet: edit the mask or mark slices as reviewed first")?;
                (session.mask().clone(), session.corrected_slices())
            }
            TargetKind::WholeCase => {
                let mask = self
                    .edited_mask()
                    .or(self.composite.as_ref())
                    .cloned()
                    .ok_or("no mask is loaded")?;
                let slices = lung_slices(&mask, self.finetune.max_case_slices.max(1));
                (mask, slices)
            }
        };
        if slices.is_empty() {
            return Err(match kind {
                TargetKind::Corrections => {
                    "no corrected slices: edit a slice or mark it as reviewed first".into()
                }
                TargetKind::WholeCase => "the mask has no slice with lung".into(),
            });
        }
        let store = self.version_store().map_err(|e| e.to_string())?;
        let gpu = self.seg.models.gpu().cloned();
        let request = CaseFineTune {
            case,
            slices,
            kind,
            settings: self.finetune.settings.clone(),
        };
        let choice = self.finetune.device;
        let base_file = self.finetune.base_file.clone();
        self.finetune.curves = Curves::default();
        self.finetune.result = None;
        self.finetune.decision = None;
        let name = match kind {
            TargetKind::Corrections => "Fine-tuning on corrections",
            TargetKind::WholeCase => "Fine-tuning on this case",
        };
        self.finetune.job = Some(Job::spawn(name, self.waker(), move |ctx| {
            let model = ModelChoice {
                device: choice,
                gpu: gpu.as_ref(),
                base_file: base_file.as_deref(),
                store: &store,
            };
            run_job(ctx, &volume, &mask, &request, &model)
        }));
        Ok(())
    }

    /// Takes the job's messages and result. Called every frame.
    pub(super) fn poll_fine_tune(&mut self) {
        let Some(job) = self.finetune.job.as_mut() else {
            return;
        };
        let messages = job.drain();
        let status = job.poll();
        for m in messages {
            self.finetune.curves.add(m);
        }
        match status {
            JobStatus::Running => return,
            JobStatus::Done(result) => {
                let (before, after) = result.mean_dice();
                self.push_info(format!(
                    "Fine-tuning done: mean Dice on the {} slices from {before:.3} to {after:.3}; \
                     stored as {}",
                    result.slices.len(),
                    result.version.id
                ));
                self.finetune.result = Some(result);
                let waker = self.waker();
                self.seg.models.refresh_versions(&waker);
            }
            JobStatus::Cancelled => self.push_info("Fine-tuning cancelled; nothing was stored"),
            JobStatus::Failed(message) => self.push_error(format!("fine-tuning failed: {message}")),
        }
        // Messages sent just before the end.
        if let Some(job) = self.finetune.job.take() {
            for m in job.drain() {
                self.finetune.curves.add(m);
            }
        }
    }
}

/// Which model a fine-tuning job starts from, where it trains and where it stores.
struct ModelChoice<'a> {
    device: DeviceChoice,
    gpu: Option<&'a SharedGpu>,
    base_file: Option<&'a std::path::Path>,
    store: &'a ModelStore,
}

/// The body of the fine-tuning job (on its own thread).
fn run_job(
    ctx: &JobContext<FineTuneMessage>,
    volume: &crate::volume::Volume,
    mask: &crate::mask::LabelMask,
    request: &CaseFineTune,
    model: &ModelChoice<'_>,
) -> anyhow::Result<CaseFineTuneResult> {
    let ModelChoice {
        device: choice,
        gpu,
        base_file,
        store,
    } = *model;
    ctx.set_progress(-1.0, "Choosing the device");
    // The viewer's own wgpu device when there is one (one GPU context for drawing,
    // segmenting and training); otherwise the same choice the CLI makes.
    let device = match gpu {
        Some(g) => resolve_device(choice, Some(g)),
        None => select_device(choice)?,
    };
    ctx.set_progress(-1.0, format!("Loading the model on {}", device.description));
    let base = match base_file {
        Some(p) => weights::load_file(p, &device.device)?,
        None => store.load_active(&device.device)?,
    };
    ctx.check_cancelled()?;
    ctx.send(FineTuneMessage::Started {
        labels: base.config.output_labels(),
        base: base.id.clone(),
        device: device.description.clone(),
        slices: request.slices.len(),
    });
    ctx.set_progress(0.0, "Scoring the current model on the slices");
    let cancel = AtomicBool::new(false);
    let mut on_event = |e: FineTuneEvent| {
        if ctx.is_cancelled() {
            cancel.store(true, Ordering::Relaxed);
        }
        match &e {
            FineTuneEvent::Step { step, steps, loss } => ctx.set_progress(
                *step as f32 / (*steps).max(1) as f32,
                format!("step {step} / {steps} · loss {loss:.4}"),
            ),
            FineTuneEvent::Scored { step, .. } => ctx.set_progress(
                *step as f32 / request.settings.steps.max(1) as f32,
                format!("Dice scored after {step} steps"),
            ),
        }
        ctx.send(FineTuneMessage::Event(e));
    };
    match fine_tune_case(
        &base,
        CaseData { volume, mask },
        request,
        &device.device,
        store,
        &mut on_event,
        &cancel,
    ) {
        Ok(r) => Ok(r),
        Err(SegError::Cancelled) => Err(Cancelled.into()),
        Err(e) => Err(e.into()),
    }
}
