//! Everything the user can do, as data, and how it changes the state.

use super::gpu_update::GpuUpdate;
use super::settings::Layout;
use super::state::AppState;
use super::views::view_index;
use crate::render::{ScreenRect, ZoomPan};
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
    /// Show or hide a layer.
    SetLayerVisible(usize, bool),
    /// Remove a layer.
    RemoveLayer(usize),
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
    Edit(super::edit_state::EditCommand),
    /// In-app fine-tuning (see `finetune_state`).
    FineTune(super::finetune_state::FineTuneCommand),
    /// Segmentation, models, report and exports.
    Seg(super::segment::SegCommand),
}

impl AppState {
    /// Applies one command.
    pub fn apply(&mut self, command: Command) {
        match command {
            Command::Open(paths) => self.queue_load(paths, false),
            Command::OpenMasks(paths) => self.queue_load(paths, true),
            Command::Scroll { view, delta } => {
                let idx = self.slice_index(view) as i64 + i64::from(delta);
                self.set_slice(view, idx.max(0) as usize);
            }
            Command::SetSlice { view, index } => self.set_slice(view, index),
            Command::SetCursor(v) => self.set_cursor(v),
            Command::SetWindow(w) => self.window = WindowLevel::new(w.width, w.level),
            Command::DragWindow { dx, dy } => {
                self.window = self.window.dragged(dx, dy, self.hu_per_point());
            }
            Command::Preset(n) => {
                if let Some(p) = self.settings.presets.get(n) {
                    self.window = p.window;
                }
            }
            Command::AutoWindow => {
                if let Some(v) = &self.volume {
                    self.window = WindowLevel::auto(&v.stats);
                }
            }
            Command::Zoom {
                view,
                rect,
                cursor,
                factor,
            } => self.zoom_pan[view_index(view)].zoom_at(&rect, cursor, factor),
            Command::Pan { view, delta } => self.zoom_pan[view_index(view)].pan_by(delta),
            Command::ResetView(Some(view)) => self.zoom_pan[view_index(view)] = ZoomPan::default(),
            Command::ResetView(None) => self.zoom_pan = [ZoomPan::default(); 3],
            Command::SetLayout(layout) => self.set_layout(layout),
            Command::ToggleMaximize(view) => {
                let next = match self.settings.layout {
                    Layout::Single(v) if v == view => self.previous_layout,
                    _ => Layout::Single(view),
                };
                self.set_layout(next);
            }
            Command::ToggleLinear => self.settings.linear = !self.settings.linear,
            Command::ToggleOverlay => {
                self.settings.overlay.visible = !self.settings.overlay.visible;
            }
            Command::SetLabelVisible(value, visible) => {
                self.settings.set_label_visible(value, visible);
                self.gpu_pending.push(GpuUpdate::Colors);
            }
            Command::SetLayerVisible(i, visible) => {
                if let Some(layer) = self.layers.get_mut(i) {
                    layer.visible = visible;
                    self.recomposite_all();
                }
            }
            Command::RemoveLayer(i) => {
                if self.edit_layer() == Some(i)
                    && self.ask_before_discarding(super::edit_guard::Pending::RemoveEditLayer)
                {
                    return;
                }
                if i < self.layers.len() {
                    self.layers.remove(i);
                    self.recomposite_all();
                }
            }
            Command::CloseVolume => {
                if self.ask_before_discarding(super::edit_guard::Pending::CloseVolume) {
                    return;
                }
                self.volume = None;
                self.layers.clear();
                self.composite = None;
                self.hover = None;
            }
            Command::CancelLoad => {
                self.queued_loads.clear();
                if let Some(job) = &self.load_job {
                    job.cancel();
                }
            }
            Command::ChooseSeries(n) => self.choose_series(n),
            Command::CancelSeriesChoice => self.cancel_series_choice(),
            Command::Dismiss(n) => {
                if n < self.notices.len() {
                    self.notices.remove(n);
                }
            }
            Command::Edit(c) => self.apply_edit(c),
            Command::FineTune(c) => self.apply_fine_tune(c),
            Command::Seg(c) => self.apply_seg(c),
        }
    }
}
