//! In-app fine-tuning applied to the state: [`AppState::apply_fine_tune`] runs the
//! [`FineTuneCommand`]s, starts [`fine_tune_case`] in a background job on the
//! viewer's GPU (or the CPU), feeds its messages to the curves of `finetune_state`,
//! and hands a new version to the segmentation tools when the user takes it.

use super::compute::{SharedGpu, resolve_device};
use super::finetune_state::{Curves, FineTuneCommand, FineTuneMessage};
use super::jobs::{Cancelled, Job, JobContext, JobStatus};
use super::models::ModelSource;
use super::state::AppState;
use crate::seg::model::weights;
use crate::seg::store::{Active, ModelStore};
use crate::seg::train::FineTuneEvent;
use crate::seg::train::corrections::{
    CaseData, CaseFineTune, CaseFineTuneResult, TargetKind, fine_tune_case, lung_slices,
};
use crate::seg::{DeviceChoice, SegError, select_device};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
        let entry = self.doc.entry().ok_or("no volume is loaded")?;
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
                    .or(self.doc.layers.composite())
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
