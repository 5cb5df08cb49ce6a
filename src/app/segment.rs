//! The segmentation part of the viewer's state, without egui types: the
//! [`SegCommand`]s, the [`SegTools`] (the model manager, live report figures,
//! exports), the running segmentation and the last [`SegResult`]. `segmenting`
//! runs them: a [`SegJob`] fills a preview layer slice by slice (the visible axial
//! slice first), and the final label map replaces the previews and becomes the
//! editable segmentation layer.

use super::export::Exports;
use super::figures::LiveFigures;
use super::jobs::Job;
use super::layers::LayerId;
use super::models::ModelManager;
use crate::seg::device::DeviceChoice;
use crate::seg::infer::job::SegJob;
use crate::seg::infer::postprocess::PostprocessConfig;
use crate::seg::infer::stamp::ModelStamp;
use crate::volume::Volume;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// What the user can do with segmentation, models, the report and exports.
#[derive(Debug, Clone, PartialEq)]
pub enum SegCommand {
    /// Segment the volume with the active model.
    Segment,
    /// Stop the running segmentation (the previous mask stays).
    Cancel,
    /// Choose where the model runs (reloads it there).
    SetDevice(DeviceChoice),
    /// Probability threshold of lung and infection.
    SetThreshold(f32),
    /// Use the built-in default model.
    UseDefaultModel,
    /// Use a stored model version.
    UseVersion(String),
    /// Load a model file for this session.
    LoadModelFile(PathBuf),
    /// Pick a model file with a dialog.
    OpenModelDialog,
    /// List the stored versions again.
    RefreshVersions,
    /// Show or hide the models window.
    ShowModels(bool),
    /// Write the measured label map as NIfTI.
    ExportMask(PathBuf),
    /// Pick where to write the label map (default `<stem>_seg.nii.gz`).
    ExportMaskDialog,
    /// Write the report (format from the extension: .pdf, .html, .json, .csv).
    ExportReport(PathBuf),
    /// Pick where to write the report (default `<stem>_report.pdf`).
    ExportReportDialog,
}

/// The last segmentation placed in the layers.
#[derive(Debug, Clone)]
pub struct SegResult {
    /// Its layer.
    pub layer: LayerId,
    /// Model, preprocessing and thresholds, for the report.
    pub stamp: ModelStamp,
    /// The mask revision right after it was placed (a later one may mean edits).
    pub revision: u64,
    /// Seconds the job took.
    pub elapsed_s: f64,
    /// The device it ran on.
    pub device: String,
    /// What the HU physics did (or why it did not run).
    pub physics: String,
}

/// A segmentation in progress.
pub(super) struct SegRun {
    pub(super) job: SegJob,
    /// The volume segmented (a run for another volume is dropped).
    pub(super) volume: Arc<Volume>,
    /// The preview layer.
    pub(super) preview: LayerId,
    /// The previous result layer, hidden while this one runs.
    pub(super) hidden_previous: Option<LayerId>,
    pub(super) done: usize,
    pub(super) total: usize,
    pub(super) started: Instant,
    pub(super) weights_sha256: String,
    pub(super) post: PostprocessConfig,
    pub(super) device: String,
}

/// Segmentation, models, live figures and exports of the viewer.
pub struct SegTools {
    /// The active model and its device.
    pub models: ModelManager,
    /// Probability threshold for lung and infection.
    pub threshold: f32,
    /// The models window is open.
    pub show_models: bool,
    /// Figures of the shown masks, kept up to date in the background.
    pub figures: LiveFigures,
    /// Mask and report exports.
    pub exports: Exports,
    pub(super) run: Option<SegRun>,
    pub(super) result: Option<SegResult>,
    pub(super) model_dialog: Option<Job<Vec<PathBuf>>>,
    /// Segmentations started (numbers the preview layers).
    pub(super) runs: u64,
}

impl SegTools {
    /// Nothing loaded yet; models run on `device`.
    pub fn new(device: DeviceChoice) -> Self {
        Self {
            models: ModelManager::new(device),
            threshold: PostprocessConfig::default().threshold,
            show_models: false,
            figures: LiveFigures::default(),
            exports: Exports::default(),
            run: None,
            result: None,
            model_dialog: None,
            runs: 0,
        }
    }

    /// The last segmentation placed in the layers.
    pub fn result(&self) -> Option<&SegResult> {
        self.result.as_ref()
    }
}
