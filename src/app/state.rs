//! The viewer's state and the commands that change it. No egui types: the UI
//! turns input into [`Command`]s, and tests drive the state directly.

use super::jobs::{Job, JobStatus, Waker};
use super::layers::{MaskLayer, Region, composite_region, extract_region};
use super::loading::{LoadRequest, Loaded, file_name, load_files};
use super::settings::{Layout, Settings};
use crate::mask::LabelMask;
use crate::render::{DisplayParams, LabelColors, ScreenRect, ZoomPan};
use crate::volume::{IntensityStats, SliceMap, View, Volume};
use crate::windowing::WindowLevel;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

/// The loaded volume and what is known about it.
#[derive(Debug, Clone)]
pub struct VolumeEntry {
    /// The voxels.
    pub volume: Arc<Volume>,
    /// Intensity statistics (robust range for auto-window).
    pub stats: IntensityStats,
    /// The file, if any.
    pub path: Option<PathBuf>,
    /// Display name.
    pub name: String,
}

/// A change the GPU has to catch up with, applied by the UI shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuUpdate {
    /// Upload the volume (once per load); the mask texture starts empty.
    Volume,
    /// Upload this box of the composite mask.
    Mask(Region),
    /// Upload the label colour table.
    Colors,
}

/// How serious a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// Something failed; the current data is unchanged.
    Error,
    /// For information.
    Info,
}

/// A message shown to the user until dismissed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Error or info.
    pub kind: NoticeKind,
    /// The text (names the file where one is involved).
    pub text: String,
}

/// What lies under the mouse pointer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hover {
    /// The view the pointer is over.
    pub view: View,
    /// Storage voxel index.
    pub voxel: [usize; 3],
    /// Its value (HU for CT).
    pub hu: f32,
    /// Its world position (mm, RAS+).
    pub mm: [f64; 3],
    /// Its composite label (0 = none).
    pub label: u8,
}

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
    /// Remove notice number `n`.
    Dismiss(usize),
}

/// Errors of direct state edits (mask regions).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    /// No volume is loaded.
    #[error("no volume is loaded")]
    NoVolume,
    /// Layer index out of range.
    #[error("no mask layer number {0}")]
    NoLayer(usize),
    /// A mask on another grid.
    #[error("mask grid {mask:?} does not match the volume grid {volume:?}; not resampled")]
    Grid {
        /// Mask dims.
        mask: [usize; 3],
        /// Volume dims.
        volume: [usize; 3],
    },
    /// A region outside the grid or data of the wrong length.
    #[error("region {region:?} with {len} labels does not fit the grid {dims:?}")]
    Region {
        /// The region.
        region: Region,
        /// Labels given.
        len: usize,
        /// Grid dims.
        dims: [usize; 3],
    },
}

/// The state of the viewer.
pub struct AppState {
    /// Persisted settings.
    pub settings: Settings,
    /// The volume shown.
    pub volume: Option<VolumeEntry>,
    /// Overlay layers, drawn in order.
    pub layers: Vec<MaskLayer>,
    /// Crosshair position (storage voxel); each view shows the slice through it.
    pub cursor: [usize; 3],
    /// Zoom/pan per view (indexed by [`view_index`]).
    pub zoom_pan: [ZoomPan; 3],
    /// Window/level.
    pub window: WindowLevel,
    /// The view keyboard scrolling applies to when the pointer is elsewhere.
    pub active_view: View,
    /// What is under the pointer.
    pub hover: Option<Hover>,
    /// Messages for the user.
    pub notices: Vec<Notice>,
    /// Multi-view layout to return to from a maximised view.
    pub previous_layout: Layout,
    /// Largest volume dimension the GPU takes (3-D texture limit); larger
    /// volumes are refused and the current one stays.
    pub max_texture_dim: usize,
    composite: Option<LabelMask>,
    load_job: Option<Job<(), Loaded>>,
    queued_loads: VecDeque<(Vec<PathBuf>, bool)>,
    gpu_pending: Vec<GpuUpdate>,
    waker: Waker,
}

/// Index of a view in per-view arrays.
pub fn view_index(view: View) -> usize {
    match view {
        View::Axial => 0,
        View::Coronal => 1,
        View::Sagittal => 2,
    }
}

impl AppState {
    /// A state with no volume. `waker` is called from job threads when they have
    /// news (the app passes `egui::Context::request_repaint`).
    pub fn new(settings: Settings, waker: Waker) -> Self {
        let previous_layout = match settings.layout {
            Layout::Single(_) => Layout::Grid,
            l => l,
        };
        Self {
            settings,
            volume: None,
            layers: Vec::new(),
            cursor: [0; 3],
            zoom_pan: [ZoomPan::default(); 3],
            window: crate::windowing::Preset::Lung.window(),
            active_view: View::Axial,
            hover: None,
            notices: Vec::new(),
            previous_layout,
            max_texture_dim: usize::MAX,
            composite: None,
            load_job: None,
            queued_loads: VecDeque::new(),
            gpu_pending: vec![GpuUpdate::Colors],
            waker,
        }
    }

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
                if i < self.layers.len() {
                    self.layers.remove(i);
                    self.recomposite_all();
                }
            }
            Command::CloseVolume => {
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
            Command::Dismiss(n) => {
                if n < self.notices.len() {
                    self.notices.remove(n);
                }
            }
        }
    }

    // ----- volume and slices ---------------------------------------------------

    /// The volume shown, if any.
    pub fn volume(&self) -> Option<&Volume> {
        self.volume.as_ref().map(|v| v.volume.as_ref())
    }

    /// The display map of a view (None without a volume).
    pub fn slice_map(&self, view: View) -> Option<SliceMap> {
        self.volume().map(|v| v.slice_map(view))
    }

    /// The slice a view shows (the crosshair's coordinate on its normal axis).
    pub fn slice_index(&self, view: View) -> usize {
        self.slice_map(view)
            .map_or(0, |m| self.cursor[m.normal_axis])
    }

    /// Number of slices of a view (0 without a volume).
    pub fn slice_count(&self, view: View) -> usize {
        self.slice_map(view).map_or(0, |m| m.depth)
    }

    fn set_slice(&mut self, view: View, index: usize) {
        if let Some(m) = self.slice_map(view) {
            self.cursor[m.normal_axis] = index.min(m.depth.saturating_sub(1));
        }
    }

    fn set_cursor(&mut self, v: [usize; 3]) {
        if let Some(vol) = self.volume() {
            let dims = vol.dims();
            self.cursor = [0, 1, 2].map(|a| v[a].min(dims[a].saturating_sub(1)));
        }
    }

    /// HU per screen point of right-drag: the robust range over 500 points.
    pub fn hu_per_point(&self) -> f32 {
        self.volume
            .as_ref()
            .map_or(2.0, |v| ((v.stats.p98 - v.stats.p2) / 500.0).max(0.05))
    }

    fn set_layout(&mut self, layout: Layout) {
        if !matches!(self.settings.layout, Layout::Single(_)) {
            self.previous_layout = self.settings.layout;
        }
        self.settings.layout = layout;
    }

    /// Shows a new volume: masks are dropped, the crosshair goes to the centre,
    /// views are reset and the window is chosen (lung preset for CT-like
    /// intensities, else the robust range).
    pub fn set_volume(&mut self, entry: VolumeEntry) {
        let dims = entry.volume.dims();
        self.cursor = dims.map(|d| d / 2);
        self.window = if entry.stats.min <= -500.0 && entry.stats.max >= 0.0 {
            self.settings
                .presets
                .first()
                .map_or(crate::windowing::Preset::Lung.window(), |p| p.window)
        } else {
            WindowLevel::auto(&entry.stats)
        };
        self.zoom_pan = [ZoomPan::default(); 3];
        self.layers.clear();
        self.composite = Some(LabelMask::empty(entry.volume.geometry.clone()));
        self.hover = None;
        if let Some(p) = &entry.path {
            self.settings.remember_file(p);
        }
        self.volume = Some(entry);
        self.gpu_pending.retain(|u| *u == GpuUpdate::Colors);
        self.gpu_pending.push(GpuUpdate::Volume);
    }

    // ----- masks ---------------------------------------------------------------

    /// The composite label map the overlay shows.
    pub fn composite(&self) -> Option<&LabelMask> {
        self.composite.as_ref()
    }

    /// True if any visible layer exists (the overlay pass is worth drawing).
    pub fn has_overlay(&self) -> bool {
        self.settings.overlay.mode_bits() != 0 && self.layers.iter().any(|l| l.visible)
    }

    /// Adds a mask layer on the volume grid; returns its index.
    pub fn add_layer(
        &mut self,
        name: impl Into<String>,
        path: Option<PathBuf>,
        mask: LabelMask,
    ) -> Result<usize, StateError> {
        let volume = self.volume().ok_or(StateError::NoVolume)?;
        if !mask.geometry.same_grid(&volume.geometry) {
            return Err(StateError::Grid {
                mask: mask.geometry.dims,
                volume: volume.dims(),
            });
        }
        self.layers.push(MaskLayer {
            name: name.into(),
            path,
            mask,
            visible: true,
        });
        self.recomposite_all();
        Ok(self.layers.len() - 1)
    }

    /// Adds an empty layer (for a segmentation job or drawing); returns its index.
    pub fn add_empty_layer(&mut self, name: impl Into<String>) -> Result<usize, StateError> {
        let geometry = self.volume().ok_or(StateError::NoVolume)?.geometry.clone();
        self.add_layer(name, None, LabelMask::empty(geometry))
    }

    /// Writes `labels` (box order, `i` fastest) into a box of layer `layer` and
    /// updates only that box of the composite and of the GPU texture. Used by
    /// streamed segmentation (one slice at a time) and by editing tools.
    pub fn write_layer_region(
        &mut self,
        layer: usize,
        region: Region,
        labels: &[u8],
    ) -> Result<(), StateError> {
        let dims = self.volume().ok_or(StateError::NoVolume)?.dims();
        let l = self
            .layers
            .get_mut(layer)
            .ok_or(StateError::NoLayer(layer))?;
        if !region.fits(dims) || labels.len() != region.len() {
            return Err(StateError::Region {
                region,
                len: labels.len(),
                dims,
            });
        }
        let target = &mut l.mask.labels;
        region.for_each(dims, |g, b| target[g] = labels[b]);
        self.recomposite(region);
        Ok(())
    }

    /// Reads a box of layer `layer` (box order), e.g. to keep an undo copy.
    pub fn read_layer_region(&self, layer: usize, region: Region) -> Result<Vec<u8>, StateError> {
        let l = self.layers.get(layer).ok_or(StateError::NoLayer(layer))?;
        if !region.fits(l.mask.geometry.dims) {
            return Err(StateError::Region {
                region,
                len: 0,
                dims: l.mask.geometry.dims,
            });
        }
        Ok(extract_region(&l.mask.geometry, &l.mask.labels, &region))
    }

    fn recomposite(&mut self, region: Region) {
        if let Some(c) = &mut self.composite {
            composite_region(c, &self.layers, &region);
            self.gpu_pending.push(GpuUpdate::Mask(region));
        }
    }

    fn recomposite_all(&mut self) {
        if let Some(dims) = self.volume().map(|v| v.dims()) {
            self.recomposite(Region::all(dims));
        }
    }

    /// The label colour table with hidden labels transparent.
    pub fn label_colors(&self) -> LabelColors {
        LabelColors::from_rgba8(&self.settings.labels.lut(), |v| {
            self.settings.label_visible(v)
        })
    }

    /// Marks the label colours as changed (after editing `settings.labels`).
    pub fn colors_changed(&mut self) {
        self.gpu_pending.push(GpuUpdate::Colors);
    }

    /// The GPU updates since the last call, merged (one mask box at most).
    pub fn take_gpu_updates(&mut self) -> Vec<GpuUpdate> {
        let mut out: Vec<GpuUpdate> = Vec::new();
        let mut mask: Option<Region> = None;
        for u in self.gpu_pending.drain(..) {
            match u {
                GpuUpdate::Mask(r) => mask = Some(mask.map_or(r, |m| m.union(&r))),
                GpuUpdate::Volume => {
                    mask = None;
                    out.retain(|o| *o == GpuUpdate::Colors);
                    out.push(u);
                }
                GpuUpdate::Colors if out.contains(&u) => {}
                GpuUpdate::Colors => out.push(u),
            }
        }
        out.extend(mask.map(GpuUpdate::Mask));
        out
    }

    /// Display parameters of the views.
    pub fn display_params(&self) -> DisplayParams {
        DisplayParams {
            window: self.window,
            volume_is_float: matches!(
                self.volume().map(|v| &v.voxels),
                Some(crate::volume::Voxels::F32(_))
            ),
            linear: self.settings.linear,
            background: [0.0, 0.0, 0.0, 1.0],
            overlay_opacity: self.settings.overlay.opacity,
            overlay_mode: self.settings.overlay.mode_bits(),
        }
    }

    /// Records what lies under the pointer (`None` when it left the image).
    pub fn set_hover(&mut self, view: View, voxel: Option<[usize; 3]>) {
        self.hover = voxel.and_then(|v| {
            let vol = self.volume()?;
            let g = &vol.geometry;
            let label = self
                .composite
                .as_ref()
                .map_or(0, |c| c.labels[g.index(v[0], v[1], v[2])]);
            Some(Hover {
                view,
                voxel: v,
                hu: vol.hu(v[0], v[1], v[2]),
                mm: g.vox2mm([v[0] as f64, v[1] as f64, v[2] as f64]),
                label,
            })
        });
    }

    // ----- jobs and notices ----------------------------------------------------

    /// Shows an error until dismissed.
    pub fn push_error(&mut self, text: impl Into<String>) {
        self.notices.push(Notice {
            kind: NoticeKind::Error,
            text: text.into(),
        });
    }

    /// Shows an information message until dismissed.
    pub fn push_info(&mut self, text: impl Into<String>) {
        self.notices.push(Notice {
            kind: NoticeKind::Info,
            text: text.into(),
        });
    }

    /// True while files are being loaded.
    pub fn is_loading(&self) -> bool {
        self.load_job.is_some() || !self.queued_loads.is_empty()
    }

    /// The running load: name, progress fraction (if known), message, seconds.
    pub fn load_progress(&self) -> Option<(String, Option<f32>, String, f32)> {
        self.load_job.as_ref().map(|j| {
            let (f, m) = j.progress();
            (j.name().to_string(), f, m, j.elapsed().as_secs_f32())
        })
    }

    fn queue_load(&mut self, paths: Vec<PathBuf>, as_masks: bool) {
        if !paths.is_empty() {
            self.queued_loads.push_back((paths, as_masks));
            self.start_next_load();
        }
    }

    fn start_next_load(&mut self) {
        if self.load_job.is_some() {
            return;
        }
        let Some((paths, as_masks)) = self.queued_loads.pop_front() else {
            return;
        };
        let name = match paths.as_slice() {
            [one] => format!("Loading {}", file_name(one)),
            many => format!("Loading {} files", many.len()),
        };
        let request = LoadRequest {
            paths,
            grid: self.volume().map(|v| v.geometry.clone()),
            as_masks,
        };
        self.load_job = Some(Job::spawn(name, self.waker.clone(), move |ctx| {
            load_files(request, ctx)
        }));
    }

    /// Takes finished work from background jobs. Call once per frame.
    pub fn poll_jobs(&mut self) {
        let Some(job) = &mut self.load_job else {
            return;
        };
        let items = job.drain();
        let status = job.poll();
        for item in items {
            self.apply_loaded(item);
        }
        match status {
            JobStatus::Running => {}
            JobStatus::Done(()) => self.finish_load(),
            JobStatus::Cancelled => {
                self.push_info("Loading cancelled");
                self.finish_load();
            }
            JobStatus::Failed(message) => {
                self.push_error(message);
                self.finish_load();
            }
        }
    }

    fn finish_load(&mut self) {
        // Items sent just before the job ended.
        if let Some(job) = self.load_job.take() {
            for item in job.drain() {
                self.apply_loaded(item);
            }
        }
        self.start_next_load();
    }

    fn apply_loaded(&mut self, item: Loaded) {
        match item {
            Loaded::Volume {
                volume,
                stats,
                path,
            } => {
                let dims = volume.dims();
                if dims.iter().any(|&d| d > self.max_texture_dim) {
                    self.push_error(format!(
                        "volume {dims:?} is larger than this GPU's 3-D texture limit \
                         ({} voxels per axis); the current volume stays: {}",
                        self.max_texture_dim,
                        path.display()
                    ));
                    return;
                }
                self.set_volume(VolumeEntry {
                    name: file_name(&path),
                    volume,
                    stats,
                    path: Some(path),
                });
            }
            Loaded::Mask { mask, path } => {
                if let Err(e) = self.add_layer(file_name(&path), Some(path.clone()), mask) {
                    self.push_error(format!("{e}: {}", path.display()));
                }
            }
            Loaded::Failed { message, .. } => self.push_error(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::jobs::no_waker;
    use crate::volume::{Geometry, Voxels};

    fn state_with_volume() -> AppState {
        let g = Geometry::with_signs([8, 6, 4], [1.0, 1.0, 2.0], [-1.0, -1.0, 1.0]);
        let vol = Volume::new(g, Voxels::I16((0..192).map(|x| x as i16 - 1000).collect()))
            .expect("sizes match");
        let stats = vol.stats();
        let mut s = AppState::new(Settings::default(), no_waker());
        s.set_volume(VolumeEntry {
            volume: Arc::new(vol),
            stats,
            path: None,
            name: "test".into(),
        });
        s
    }

    #[test]
    fn scrolling_moves_only_the_views_normal_axis_and_clamps() {
        let mut s = state_with_volume();
        assert_eq!(s.cursor, [4, 3, 2]);
        s.apply(Command::Scroll {
            view: View::Axial,
            delta: 10,
        });
        assert_eq!(s.cursor, [4, 3, 3]);
        s.apply(Command::Scroll {
            view: View::Sagittal,
            delta: -10,
        });
        assert_eq!(s.cursor, [0, 3, 3]);
        assert_eq!(s.slice_index(View::Coronal), 3);
        assert_eq!(s.slice_count(View::Axial), 4);
    }

    #[test]
    fn presets_and_auto_window() {
        let mut s = state_with_volume();
        s.apply(Command::Preset(2));
        assert_eq!(s.window, crate::windowing::Preset::Bone.window());
        s.apply(Command::AutoWindow);
        let auto = WindowLevel::auto(&s.volume.as_ref().expect("volume").stats);
        assert_eq!(s.window, auto);
        s.apply(Command::DragWindow { dx: 100.0, dy: 0.0 });
        assert!(s.window.width > auto.width);
    }

    #[test]
    fn volume_upload_is_queued_once_and_slices_upload_nothing() {
        let mut s = state_with_volume();
        let first = s.take_gpu_updates();
        assert!(first.contains(&GpuUpdate::Volume));
        for _ in 0..5 {
            s.apply(Command::Scroll {
                view: View::Axial,
                delta: 1,
            });
            s.apply(Command::DragWindow { dx: 3.0, dy: 1.0 });
        }
        assert!(s.take_gpu_updates().is_empty());
    }

    #[test]
    fn layer_region_writes_update_only_their_box() {
        let mut s = state_with_volume();
        let _ = s.take_gpu_updates();
        let layer = s.add_empty_layer("seg").expect("volume loaded");
        let _ = s.take_gpu_updates();
        let region = Region::slice([8, 6, 4], 2, 1);
        s.write_layer_region(layer, region, &vec![3; 48])
            .expect("fits");
        assert_eq!(s.take_gpu_updates(), vec![GpuUpdate::Mask(region)]);
        let c = s.composite().expect("composite");
        assert_eq!(c.labels.iter().filter(|&&l| l == 3).count(), 48);
        assert_eq!(
            s.read_layer_region(layer, region).expect("fits"),
            vec![3; 48]
        );
        assert!(s.write_layer_region(layer, region, &[1, 2]).is_err());
        s.apply(Command::SetLayerVisible(layer, false));
        assert!(
            s.composite()
                .expect("composite")
                .labels
                .iter()
                .all(|&l| l == 0)
        );
    }

    #[test]
    fn mask_on_other_grid_is_refused() {
        let mut s = state_with_volume();
        let other = LabelMask::empty(Geometry::with_signs([8, 6, 5], [1.0; 3], [1.0; 3]));
        let err = s.add_layer("x", None, other).expect_err("grid differs");
        assert!(err.to_string().contains("does not match"));
        assert!(s.layers.is_empty());
    }

    #[test]
    fn maximize_toggles_back_to_previous_layout() {
        let mut s = state_with_volume();
        s.apply(Command::SetLayout(Layout::Row));
        s.apply(Command::ToggleMaximize(View::Coronal));
        assert_eq!(s.settings.layout, Layout::Single(View::Coronal));
        s.apply(Command::ToggleMaximize(View::Coronal));
        assert_eq!(s.settings.layout, Layout::Row);
    }
}
