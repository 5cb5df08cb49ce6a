//! Quantification: lung and infection volumes, infection %, zones, severity score,
//! HU statistics; connected components and the left/right lung split.

pub mod analyze;
pub mod components;
pub mod distance;
pub mod hu;
pub mod lungs;
mod midline;
pub mod phantom;
pub mod physics;
pub mod quantify;
pub mod scope;
pub mod segmentation;
pub mod severity;

pub use analyze::{Analysis, KeySlice, analyze};
pub use components::{Components, Connectivity, Run};
pub use hu::{Band, HuFigures, HuHistogram, RegionHu};
pub use lungs::{
    LungSplit, SplitInfo, SplitMethod, SplitOptions, body_center_x_mm, split_label_mask,
    split_left_right,
};
pub use physics::{PhysicsConfig, PhysicsReport};
pub use quantify::{
    Amounts, InfectionCounts, Quantities, Side, Zone, ZoneFigures, count_infection,
};
pub use scope::{Scope, ScopeProblem, ScopeStatus};
pub use segmentation::{INFECTED, Segmentation, SegmentationNotes};
pub use severity::{Lobe, LobeScore, LobeSource, Severity, band_score};

/// Errors of the analysis.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AnalysisError {
    /// The lung mask has no lung voxel.
    #[error("the lung mask is empty: no lung voxel to analyse")]
    NoLung,
    /// An array does not fit the grid.
    #[error("{what} has {found} voxels but the grid has {expected}")]
    SizeMismatch {
        /// Which input.
        what: &'static str,
        /// Voxels of the grid.
        expected: usize,
        /// Voxels given.
        found: usize,
    },
    /// A lobe mask without any lobe label (1–5) inside the lungs.
    #[error("the lobe mask has no lobe label (1-5) inside the lungs")]
    NoLobes,
    /// A mask or volume on another grid.
    #[error("{what} grid {found:?} does not match the grid {expected:?} (dims or affine differ)")]
    GridMismatch {
        /// Which input.
        what: &'static str,
        /// Dims of the reference grid.
        expected: [usize; 3],
        /// Dims of the input.
        found: [usize; 3],
    },
}
