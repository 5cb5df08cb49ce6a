//! The fine-tuning part of the viewer's state, without egui types: the settings
//! of the panel, the [`FineTuneCommand`]s, the background job (run by
//! `fine_tuning`) and the live [`Curves`] it feeds, and the user's choice between
//! the new version and the current model.
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

use super::jobs::Job;
use crate::seg::DeviceChoice;
use crate::seg::store::ModelStore;
use crate::seg::train::corrections::{CaseFineTuneResult, DEFAULT_MAX_CASE_SLICES, TargetKind};
use crate::seg::train::{FineTuneEvent, FineTuneSettings};
use std::path::PathBuf;

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
    /// The panel's settings: steps, learning rate, batch size, anchors; most
    /// slices of "this case"; the device.
    Configure {
        /// Steps, learning rate, batch size, anchor slices.
        settings: FineTuneSettings,
        /// Most slices "fine-tune on this case" uses.
        max_case_slices: usize,
        /// Where to train.
        device: DeviceChoice,
    },
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
    pub(super) job: Option<Job<CaseFineTuneResult, FineTuneMessage>>,
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
