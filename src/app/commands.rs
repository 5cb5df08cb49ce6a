//! Everything the user can do, as data: the [`Command`] enum and the sub-commands
//! it wraps (defined with the part of the state they act on: `edit_state`,
//! `finetune_state`, `segment`). `apply` carries them out.

use super::edit_state::EditCommand;
use super::finetune_state::FineTuneCommand;
use super::layers::LayerId;
use super::segment::SegCommand;
use super::settings::{Layout, NamedWindow, OverlayStyle};
use crate::render::ScreenRect;
use crate::volume::View;
use crate::windowing::WindowLevel;
use std::path::PathBuf;

/// Everything the user can do, as data.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Load files in the background (volume first, then masks; see `loading`).
    Open(Vec<PathBuf>),
    /// Load files as masks on the current grid.
    OpenMasks(Vec<PathBuf>),
    /// Move a view by `delta` slices.
    Scroll {
        /// The view.
        view: View,
        /// Slices (positive: increasing index).
        delta: i32,
    },
    /// Go to slice `index` of a view.
    SetSlice {
        /// The view.
        view: View,
        /// Slice number.
        index: usize,
    },
    /// Move the crosshair (and the other views) to a voxel.
    SetCursor([usize; 3]),
    /// Set the window.
    SetWindow(WindowLevel),
    /// Right-drag by screen points (dx: width, dy: level).
    DragWindow {
        /// Horizontal motion.
        dx: f32,
        /// Vertical motion (down positive).
        dy: f32,
    },
    /// Apply preset number `n` (0-based; keys 1–4).
    Preset(usize),
    /// Window from the robust 2–98 % intensity range.
    AutoWindow,
    /// Zoom a view by `factor` keeping the point under `cursor` fixed.
    Zoom {
        /// The view.
        view: View,
        /// Its rectangle.
        rect: ScreenRect,
        /// Fixed point (screen points).
        cursor: [f32; 2],
        /// Multiplier.
        factor: f32,
    },
    /// Pan a view by screen points.
    Pan {
        /// The view.
        view: View,
        /// Motion.
        delta: [f32; 2],
    },
    /// Reset zoom and pan of one view, or of all.
    ResetView(Option<View>),
    /// Choose the layout.
    SetLayout(Layout),
    /// Show one view alone, or go back to the previous multi-view layout.
    ToggleMaximize(View),
    /// Nearest ↔ linear sampling.
    ToggleLinear,
    /// Overlay on/off.
    ToggleOverlay,
    /// Show or hide one label.
    SetLabelVisible(u8, bool),
    /// Change one label's overlay colour (RGBA, straight alpha).
    SetLabelColor(u8, [u8; 4]),
    /// Trilinear interpolation on or off.
    SetLinear(bool),
    /// Crosshair on or off.
    SetCrosshair(bool),
    /// How masks are drawn (shown, fill, outline, opacity).
    SetOverlayStyle(OverlayStyle),
    /// Replace the window presets (keys 1–4).
    SetPresets(Vec<NamedWindow>),
    /// The view keyboard scrolling applies to when the pointer is elsewhere.
    SetActiveView(View),
    /// The pointer is over `view`, at a voxel of the image or outside it (None).
    SetHover {
        /// The view.
        view: View,
        /// Storage voxel under the pointer.
        voxel: Option<[usize; 3]>,
    },
    /// Show or hide a layer.
    SetLayerVisible(LayerId, bool),
    /// Remove a layer.
    RemoveLayer(LayerId),
    /// Unload volume and masks.
    CloseVolume,
    /// Stop the running load.
    CancelLoad,
    /// Open series number `n` (1-based, as listed) of the DICOM input the
    /// series chooser shows, then the files opened after it.
    ChooseSeries(usize),
    /// Close the series chooser without opening any of its series.
    CancelSeriesChoice,
    /// Remove notice number `n`.
    Dismiss(usize),
    /// Mask editing, saving and the unsaved-edits question (see `edit_state`).
    Edit(EditCommand),
    /// In-app fine-tuning (see `finetune_state`).
    FineTune(FineTuneCommand),
    /// Segmentation, models, report and exports.
    Seg(SegCommand),
}
