//! How a [`Command`] changes the state: [`AppState::apply`] does the view,
//! window and layer commands itself and hands each sub-command to its feature's
//! state with a [`Ctx`](super::context::Ctx) (`EditState::apply`,
//! `FineTuneState::apply`, `SegTools::apply`); what fine-tuning asks of the model
//! manager comes back as [`ModelRequest`]s, served here.

use super::commands::Command;
use super::edit_guard::Pending;
use super::fine_tuning::{FineTuneInputs, ModelRequest};
use super::gpu_update::GpuUpdate;
use super::settings::{Layout, OverlayStyle};
use super::state::AppState;
use super::views::view_index;
use crate::render::ZoomPan;
use crate::windowing::WindowLevel;

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
                if let Some(v) = self.doc.entry() {
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
            Command::SetLabelColor(value, color) => {
                if let Some(info) = self
                    .settings
                    .labels
                    .labels
                    .iter_mut()
                    .find(|l| l.value == value)
                {
                    info.color = color;
                    self.gpu_pending.push(GpuUpdate::Colors);
                }
            }
            Command::SetLinear(on) => self.settings.linear = on,
            Command::SetCrosshair(on) => self.settings.crosshair = on,
            Command::SetOverlayStyle(style) => {
                self.settings.overlay = OverlayStyle {
                    opacity: style.opacity.clamp(0.0, 1.0),
                    ..style
                };
            }
            Command::SetPresets(presets) => self.settings.presets = presets,
            Command::SetActiveView(view) => self.active_view = view,
            Command::SetHover { view, voxel } => self.set_hover(view, voxel),
            Command::SetLabelVisible(value, visible) => {
                self.settings.set_label_visible(value, visible);
                self.gpu_pending.push(GpuUpdate::Colors);
            }
            Command::SetLayerVisible(id, visible) => {
                self.doc.layers.set_visible(id, visible);
            }
            Command::RemoveLayer(id) => {
                if self.edit_layer() == Some(id)
                    && self.edit.ask_before_discarding(Pending::RemoveEditLayer)
                {
                    return;
                }
                self.doc.layers.remove(id);
            }
            Command::CloseVolume => {
                if self.edit.ask_before_discarding(Pending::CloseVolume) {
                    return;
                }
                self.doc.close();
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
            Command::Edit(c) if c.is_guard() => self.apply_guard_command(c),
            Command::Edit(c) => {
                let mut parts = self.parts();
                parts.edit.apply(c, &mut parts.cx);
            }
            Command::FineTune(c) => {
                let mut parts = self.parts();
                let inputs = FineTuneInputs {
                    models: &parts.seg.models,
                    session: parts.edit.session(),
                };
                let requests = parts.finetune.apply(c, &mut parts.cx, inputs);
                self.serve_model_requests(requests);
            }
            Command::Seg(c) => {
                let mut parts = self.parts();
                parts.seg.apply(c, &mut parts.cx);
            }
        }
    }

    /// Hands fine-tuning's requests to the segmentation tools' model manager, in
    /// order.
    pub(super) fn serve_model_requests(
        &mut self,
        requests: impl IntoIterator<Item = ModelRequest>,
    ) {
        let waker = self.waker();
        for request in requests {
            let models = &mut self.seg.models;
            match request {
                ModelRequest::UseStore(store) => models.use_store(store),
                ModelRequest::Load(source) => {
                    models.begin_load(source, &waker);
                    models.refresh_versions(&waker);
                }
                ModelRequest::UseDefault => {
                    if let Err(e) = models.use_default(&waker) {
                        self.push_error(format!("cannot switch to the default model: {e}"));
                    }
                }
                ModelRequest::RefreshVersions => models.refresh_versions(&waker),
            }
        }
    }
}
