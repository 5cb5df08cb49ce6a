//! In-app fine-tuning: [`FineTuneState::apply`] runs the [`FineTuneCommand`]s on a
//! [`Ctx`], starts [`fine_tune_case`] in a background job on the viewer's GPU (or
//! the CPU), and [`FineTuneState::poll`] feeds its messages to the curves of
//! `finetune_state`. Fine-tuning reads the other features through
//! [`FineTuneInputs`] (the edit session's corrections, the model manager's store
//! and GPU) and changes them only through the [`ModelRequest`]s it returns, which
//! the app hands to the segmentation tools' model manager.

use super::compute::{SharedGpu, resolve_device};
use super::context::Ctx;
use super::finetune_state::{Curves, FineTuneCommand, FineTuneMessage, FineTuneState};
use super::jobs::{Cancelled, Job, JobContext, JobStatus};
use super::models::{ModelManager, ModelSource};
use crate::edit::EditSession;
use crate::seg::model::weights;
use crate::seg::store::{Active, ModelStore};
use crate::seg::train::FineTuneEvent;
use crate::seg::train::corrections::{
    CaseData, CaseFineTune, CaseFineTuneResult, TargetKind, fine_tune_case, lung_slices,
};
use crate::seg::{DeviceChoice, SegError, select_device};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What fine-tuning asks of the segmentation tools' model manager, handed on by
/// the app in order.
#[derive(Debug, Clone)]
pub enum ModelRequest {
    /// Use this version store (the one fine-tuning stores into).
    UseStore(ModelStore),
    /// Load this model for segmentation, and list the versions again.
    Load(ModelSource),
    /// Go back to the built-in default model.
    UseDefault,
    /// List the stored versions again (a new one was stored).
    RefreshVersions,
}

/// What fine-tuning reads of the other features.
#[derive(Clone, Copy)]
pub struct FineTuneInputs<'a> {
    /// The segmentation tools' model manager (its version store and GPU).
    pub models: &'a ModelManager,
    /// The edit session (its corrections and mask), if any.
    pub session: Option<&'a EditSession>,
}

impl FineTuneState {
    /// Applies one fine-tuning command. Returns what the model manager must do.
    pub fn apply(
        &mut self,
        command: FineTuneCommand,
        cx: &mut Ctx<'_>,
        inputs: FineTuneInputs<'_>,
    ) -> Vec<ModelRequest> {
        let mut requests = Vec::new();
        match command {
            FineTuneCommand::SetOpen(open) => self.open = open,
            FineTuneCommand::Start(kind) => {
                if let Err(e) = self.start(kind, cx, inputs, &mut requests) {
                    cx.push_error(format!("fine-tuning: {e}"));
                }
            }
            FineTuneCommand::Cancel => {
                if let Some(job) = &self.job {
                    job.cancel();
                }
            }
            FineTuneCommand::UseNewVersion => {
                let Some(id) = self.result.as_ref().map(|r| r.version.id.clone()) else {
                    return requests;
                };
                match self
                    .version_store(inputs.models, &mut requests)
                    .and_then(|s| s.activate(&id))
                {
                    Ok(()) => {
                        self.decision = Some(format!("Now using {id}"));
                        requests.push(ModelRequest::Load(ModelSource::Version(id)));
                    }
                    Err(e) => cx.push_error(format!("could not switch to {id}: {e}")),
                }
            }
            FineTuneCommand::KeepCurrent => {
                if let Some(r) = &self.result {
                    self.decision = Some(format!(
                        "Kept the current model; {} stays stored and can be chosen later",
                        r.version.id
                    ));
                }
            }
            FineTuneCommand::RollBack => match self
                .version_store(inputs.models, &mut requests)
                .and_then(|s| s.roll_back())
            {
                Ok(Active::Default) => {
                    self.decision = Some("Now using the default model".into());
                    requests.push(ModelRequest::UseDefault);
                }
                Ok(Active::Version(id)) => {
                    self.decision = Some(format!("Now using {id}"));
                    requests.push(ModelRequest::Load(ModelSource::Version(id)));
                }
                Err(e) => cx.push_error(format!("could not roll back: {e}")),
            },
            FineTuneCommand::SetBaseFile(path) => self.base_file = path,
            FineTuneCommand::Configure {
                settings,
                max_case_slices,
                device,
            } => {
                self.settings = settings;
                self.max_case_slices = max_case_slices;
                self.device = device;
            }
        }
        requests
    }

    /// The store of model versions, shared with the segmentation tools: the one
    /// set for fine-tuning (handed to the model manager too), else the one the
    /// model manager opened, else the user's data folder.
    fn version_store(
        &mut self,
        models: &ModelManager,
        requests: &mut Vec<ModelRequest>,
    ) -> Result<ModelStore, SegError> {
        if let Some(s) = self.store.clone() {
            if models.store().map(ModelStore::root) != Some(s.root()) {
                requests.push(ModelRequest::UseStore(s.clone()));
            }
            return Ok(s);
        }
        let s = match models.store() {
            Some(s) => s.clone(),
            None => {
                let s = ModelStore::open_user()?;
                requests.push(ModelRequest::UseStore(s.clone()));
                s
            }
        };
        self.store = Some(s.clone());
        Ok(s)
    }

    fn start(
        &mut self,
        kind: TargetKind,
        cx: &mut Ctx<'_>,
        inputs: FineTuneInputs<'_>,
        requests: &mut Vec<ModelRequest>,
    ) -> Result<(), String> {
        if self.job.is_some() {
            return Err("a fine-tuning job is running already".into());
        }
        let entry = cx.doc.entry().ok_or("no volume is loaded")?;
        let (volume, case) = (Arc::clone(&entry.volume), entry.name.clone());
        let (mask, slices) = match kind {
            TargetKind::Corrections => {
                let session = inputs
                    .session
                    .ok_or("no corrections yet: edit the mask or mark slices as reviewed first")?;
                (session.mask().clone(), session.corrected_slices())
            }
            TargetKind::WholeCase => {
                let mask = inputs
                    .session
                    .map(EditSession::mask)
                    .or(cx.doc.layers.composite())
                    .cloned()
                    .ok_or("no mask is loaded")?;
                let slices = lung_slices(&mask, self.max_case_slices.max(1));
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
        let store = self
            .version_store(inputs.models, requests)
            .map_err(|e| e.to_string())?;
        let gpu = inputs.models.gpu().cloned();
        let request = CaseFineTune {
            case,
            slices,
            kind,
            settings: self.settings.clone(),
        };
        let choice = self.device;
        let base_file = self.base_file.clone();
        self.curves = Curves::default();
        self.result = None;
        self.decision = None;
        let name = match kind {
            TargetKind::Corrections => "Fine-tuning on corrections",
            TargetKind::WholeCase => "Fine-tuning on this case",
        };
        self.job = Some(Job::spawn(name, cx.waker(), move |ctx| {
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

    /// Takes the job's messages and result. Returns what the model manager must
    /// do (list the versions again once a new one is stored). Called every frame.
    pub fn poll(&mut self, cx: &mut Ctx<'_>) -> Option<ModelRequest> {
        let job = self.job.as_mut()?;
        let messages = job.drain();
        let status = job.poll();
        for m in messages {
            self.curves.add(m);
        }
        let mut request = None;
        match status {
            JobStatus::Running => return None,
            JobStatus::Done(result) => {
                let (before, after) = result.mean_dice();
                cx.push_info(format!(
                    "Fine-tuning done: mean Dice on the {} slices from {before:.3} to {after:.3}; \
                     stored as {}",
                    result.slices.len(),
                    result.version.id
                ));
                self.result = Some(result);
                request = Some(ModelRequest::RefreshVersions);
            }
            JobStatus::Cancelled => cx.push_info("Fine-tuning cancelled; nothing was stored"),
            JobStatus::Failed(message) => cx.push_error(format!("fine-tuning failed: {message}")),
        }
        // Messages sent just before the end.
        if let Some(job) = self.job.take() {
            for m in job.drain() {
                self.curves.add(m);
            }
        }
        request
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
