//! The report panel's live figures, the data (no egui): the [`Figures`] measured
//! from the label map the overlay shows, which volume and mask revision they
//! belong to, and the measuring job, kept in [`LiveFigures`]. `measuring` keeps
//! them up to date.

use super::jobs::Job;
use crate::analysis::{Analysis, Segmentation};
use crate::seg::infer::stamp::ModelStamp;
use crate::volume::Volume;
use std::path::PathBuf;
use std::sync::Arc;

/// Which volume and mask revision figures belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FiguresKey {
    /// The volume (its address while it is shown).
    pub(super) volume: usize,
    /// The mask revision.
    pub(super) revision: u64,
}

/// A visible mask layer that went into the measured label map.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSource {
    /// Layer name.
    pub name: String,
    /// Its file, if it came from one.
    pub path: Option<PathBuf>,
    /// The model run that made it, for the segmentation result layer.
    pub model: Option<ModelStamp>,
    /// For the segmentation layer: the masks changed since it was placed.
    pub changed_since_segmentation: bool,
}

/// Measured figures of one label map.
#[derive(Debug, Clone)]
pub struct Figures {
    /// Everything measured.
    pub analysis: Analysis,
    /// The lungs with sides and infection, for the report's key slices.
    pub segmentation: Arc<Segmentation>,
    /// The volume measured.
    pub volume: Arc<Volume>,
    /// The layers that made the label map.
    pub layers: Vec<LayerSource>,
    /// The label map holds lung labels (1 or 2); without them every labelled voxel
    /// counts as lung, infection included.
    pub lung_labelled: bool,
    /// Seconds the measurement took.
    pub elapsed_s: f64,
    pub(super) key: FiguresKey,
}

/// What the report panel can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FiguresStatus {
    /// No volume loaded.
    NoVolume,
    /// No visible mask layer.
    NoMask,
    /// A segmentation runs; figures follow when it ends.
    WaitingForSegmentation,
    /// Being measured (older figures may be shown meanwhile).
    Measuring,
    /// The figures match the shown masks.
    Current,
    /// Measuring failed (see [`LiveFigures::error`]).
    Failed,
}

/// Figures kept up to date in the background.
#[derive(Default)]
pub struct LiveFigures {
    pub(super) job: Option<(FiguresKey, Job<Figures>)>,
    pub(super) latest: Option<Figures>,
    pub(super) error: Option<(FiguresKey, String)>,
    pub(super) status: Option<FiguresStatus>,
}

impl LiveFigures {
    /// The latest figures (possibly of an older mask revision; see [`Self::status`]).
    pub fn latest(&self) -> Option<&Figures> {
        self.latest.as_ref()
    }

    /// Why measuring failed for the shown masks.
    pub fn error(&self) -> Option<&str> {
        self.error.as_ref().map(|(_, e)| e.as_str())
    }

    /// Where the figures stand.
    pub fn status(&self) -> FiguresStatus {
        self.status.unwrap_or(FiguresStatus::NoVolume)
    }

    /// True while a measurement runs.
    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }
}
