//! The editing part of the viewer's state, without egui types: the tool palette's
//! settings, the [`EditSession`] being edited, the stroke being drawn, and the
//! [`EditCommand`]s that paint, fill, interpolate, undo and redo (applied by
//! `editing`).
//!
//! The session's mask is the truth. It starts as a copy of what the overlay shows
//! (the composite of the visible layers), which becomes a new layer
//! [`EDIT_LAYER_NAME`]; the source layers are hidden so the overlay shows exactly
//! the mask being edited and saved. After every change only the touched box is
//! copied into that layer (and so recomposited and uploaded to the GPU).
//!
//! Tools act on display coordinates `(col, row)` of a view's slice, so the same code
//! serves the axial, coronal and sagittal views. A stroke (press, drag, release) is
//! one undo step. Saving and the unsaved-edits prompt live in `edit_guard` (their
//! data) and `saving` (their work).

use super::edit_guard::{Choice, Guard};
use super::views::view_index;
use crate::edit::{Brush, BrushMode, EditSession};
use crate::mask::INFECTION;
use crate::render::ViewMapping;
use crate::volume::View;

/// Name of the overlay layer that shows the mask being edited.
pub const EDIT_LAYER_NAME: &str = "Edited mask";

/// Radius change per `[` / `]` press (factor).
pub const RADIUS_STEP: f64 = 1.25;

pub use super::edit_tool::{HU_PRESETS, Tool};

/// The slices "Interpolate" fills between (in one view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterpolateRange {
    /// The view whose slices these are.
    pub view: View,
    /// First edited slice.
    pub a: usize,
    /// Second edited slice.
    pub b: usize,
}

/// A stroke being drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActiveStroke {
    /// The view it is drawn in.
    pub view: View,
    /// The slice it is drawn on.
    pub slice: usize,
    /// Last dab centre, display `(col, row)`.
    pub last: [f64; 2],
    /// The brush.
    pub brush: Brush,
}

/// What the edit tools can be asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum EditCommand {
    /// Choose a tool.
    SetTool(Tool),
    /// Choose the label painted, erased or filled.
    SetLabel(u8),
    /// Set the brush radius (mm, clamped to [`Brush::RADIUS_RANGE`]).
    SetRadius(f64),
    /// Multiply the radius by [`RADIUS_STEP`] (`]`).
    GrowRadius,
    /// Divide the radius by [`RADIUS_STEP`] (`[`).
    ShrinkRadius,
    /// Set the HU interval of fill and threshold painting.
    SetHuRange(f32, f32),
    /// Press: start a stroke with the current brush tool at display `(col, row)`.
    StrokeBegin {
        /// The view.
        view: View,
        /// Its slice.
        slice: usize,
        /// Display position.
        at: [f64; 2],
    },
    /// Drag: continue the stroke to display `(col, row)` (dabs spaced along the way).
    StrokeTo([f64; 2]),
    /// Release: the stroke becomes one undo step.
    StrokeEnd,
    /// Flood fill from a display pixel.
    Fill {
        /// The view.
        view: View,
        /// Its slice.
        slice: usize,
        /// Seed pixel `(col, row)`.
        at: [usize; 2],
    },
    /// Set the interpolation range.
    SetInterpolateRange(InterpolateRange),
    /// Fill the current label between the range's slices.
    Interpolate,
    /// Undo the last step.
    Undo,
    /// Redo the last undone step.
    Redo,
    /// Mark or unmark the current axial slice as reviewed (a correct training target).
    ToggleReviewed,
    /// Write the edited mask next to the source volume (`<stem>_seg.nii.gz`).
    Save,
    /// Write the edited mask to a chosen file.
    SaveTo(std::path::PathBuf),
    /// Ask for a file with a dialog, then save there.
    ChooseSavePath,
    /// Answer the unsaved-edits question.
    Answer(Choice),
    /// The window was asked to close: with unsaved edits, ask first (an answer
    /// that lets it go on approves the close).
    RequestClose,
    /// The approved close was passed to the window (the approval is spent).
    CloseHandled,
    /// Where a view was drawn this frame (its screen ↔ voxel mapping).
    ViewDrawn {
        /// The view.
        view: View,
        /// Its mapping.
        mapping: ViewMapping,
    },
}

impl EditCommand {
    /// True for the commands of saving and of the unsaved-edits question, which
    /// the app carries out (an answer may close the volume or show a loaded one).
    pub fn is_guard(&self) -> bool {
        matches!(
            self,
            EditCommand::Save
                | EditCommand::SaveTo(_)
                | EditCommand::ChooseSavePath
                | EditCommand::Answer(_)
                | EditCommand::RequestClose
                | EditCommand::CloseHandled
        )
    }
}

/// The editing part of the app state.
pub struct EditState {
    /// Current tool.
    pub tool: Tool,
    /// Label painted, erased, filled or interpolated.
    pub label: u8,
    /// Brush radius in mm.
    pub radius_mm: f64,
    /// HU interval of fill and threshold painting.
    pub hu_range: (f32, f32),
    /// Slices to interpolate between.
    pub interpolate: Option<InterpolateRange>,
    pub(super) session: Option<EditSession>,
    pub(super) stroke: Option<ActiveStroke>,
    /// Bumped by every change of the mask (saving compares it).
    pub(super) generation: u64,
    pub(super) guard: Guard,
    /// Where each view was drawn in the last frame (screen ↔ voxel), per view index.
    pub(super) mappings: [Option<ViewMapping>; 3],
}

impl Default for EditState {
    fn default() -> Self {
        Self {
            tool: Tool::Navigate,
            label: INFECTION,
            radius_mm: 5.0,
            hu_range: HU_PRESETS[1].1,
            interpolate: None,
            session: None,
            stroke: None,
            generation: 0,
            guard: Default::default(),
            mappings: [None; 3],
        }
    }
}

impl EditState {
    /// The session being edited, if any.
    pub fn session(&self) -> Option<&EditSession> {
        self.session.as_ref()
    }

    /// True if there are edits not yet saved.
    pub fn is_modified(&self) -> bool {
        self.session.as_ref().is_some_and(EditSession::is_modified)
    }

    /// Where `view` was drawn in the last frame (its screen ↔ voxel mapping).
    pub fn view_mapping(&self, view: View) -> Option<&ViewMapping> {
        self.mappings[view_index(view)].as_ref()
    }

    /// The stroke being drawn, if any.
    pub fn stroke(&self) -> Option<&ActiveStroke> {
        self.stroke.as_ref()
    }

    /// The brush of the current tool (None for non-brush tools).
    pub fn brush(&self) -> Option<Brush> {
        let mode = match self.tool {
            Tool::Brush | Tool::Threshold => BrushMode::Paint,
            Tool::Eraser => BrushMode::Erase,
            _ => return None,
        };
        Some(Brush {
            radius_mm: self.radius_mm,
            label: self.label,
            mode,
            hu_range: (self.tool == Tool::Threshold).then_some(self.hu_range),
        })
    }
}

/// Radius of the brush circle on screen (points) along x and y for a view mapping.
/// The views draw millimetres isotropically, so both are equal however anisotropic
/// the voxels are; the brush covers `radius_mm / spacing` voxels along each axis.
pub fn brush_screen_radius(mapping: &ViewMapping, brush: &Brush) -> [f32; 2] {
    let spacing = [
        mapping.points_per_pixel[0] / mapping.points_per_mm.max(1e-9),
        mapping.points_per_pixel[1] / mapping.points_per_mm.max(1e-9),
    ];
    let px = brush.radius_px([f64::from(spacing[0]), f64::from(spacing[1])]);
    [
        px[0] as f32 * mapping.points_per_pixel[0],
        px[1] as f32 * mapping.points_per_pixel[1],
    ]
}
