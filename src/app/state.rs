//! The viewer's state. No egui types: the UI turns input into
//! [`Command`](super::commands::Command)s (see `commands`, applied by `apply`),
//! background jobs feed it (see `background`), and tests drive it directly.
//!
//! [`AppState`] holds the [`Document`], the view state (crosshair, zoom/pan,
//! window, layout, hover), the notices, the load queue, and one state per
//! feature ([`EditState`], [`FineTuneState`], [`SegTools`]), whose types come
//! from the data modules below this one. `AppState::parts` lends each feature
//! its own state and a [`Ctx`] over the shared parts; the features' logic is in
//! their own modules (`editing`, `saving`, `segmenting`, `measuring`,
//! `exporting`, `fine_tuning`) as methods of those types.

use super::context::Ctx;
use super::document::{Document, VolumeEntry};
use super::edit_state::EditState;
use super::finetune_state::FineTuneState;
use super::gpu_update::GpuUpdate;
use super::jobs::{Job, Waker};
use super::loading::{Loaded, QueuedLoad, SeriesPrompt};
use super::notice::{Notice, NoticeKind};
use super::segment::SegTools;
use super::settings::{Layout, Settings};
use crate::render::{DisplayParams, ZoomPan};
use crate::volume::{SliceMap, View, Volume};
use crate::windowing::WindowLevel;
use std::collections::VecDeque;
use std::path::PathBuf;

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

pub use super::layers::StateError;

/// The features' own states and the shared parts they may touch, borrowed apart
/// by [`AppState::parts`]: a feature's method gets its own state and the
/// [`Ctx`], never another feature's state.
pub(super) struct Parts<'a> {
    /// The document, notices, waker, settings and crosshair.
    pub(super) cx: Ctx<'a>,
    /// Mask editing and saving.
    pub(super) edit: &'a mut EditState,
    /// In-app fine-tuning.
    pub(super) finetune: &'a mut FineTuneState,
    /// Segmentation, models, figures and exports.
    pub(super) seg: &'a mut SegTools,
}

/// The state of the viewer.
pub struct AppState {
    /// Persisted settings.
    pub settings: Settings,
    /// The study shown: the volume and its mask layers (the one place a
    /// layer's mask changes).
    pub doc: Document,
    /// Crosshair position (storage voxel); each view shows the slice through it.
    pub cursor: [usize; 3],
    /// Zoom/pan per view (indexed by [`view_index`](super::views::view_index)).
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
    /// Mask editing: tools, the edit session, saving (see `edit_state`).
    pub edit: EditState,
    /// In-app fine-tuning (see `finetune_state`).
    pub finetune: FineTuneState,
    /// Segmentation, models, live report figures and exports (see `segment`).
    pub seg: SegTools,
    pub(super) load_job: Option<Job<(), Loaded>>,
    pub(super) queued_loads: VecDeque<QueuedLoad>,
    /// A DICOM input with several series waiting for the user's choice.
    pub(super) series_prompt: Option<SeriesPrompt>,
    pub(super) gpu_pending: Vec<GpuUpdate>,
    pub(super) waker: Waker,
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
            seg: SegTools::new(settings.seg_device),
            settings,
            doc: Document::default(),
            cursor: [0; 3],
            zoom_pan: [ZoomPan::default(); 3],
            window: crate::windowing::Preset::Lung.window(),
            active_view: View::Axial,
            hover: None,
            notices: Vec::new(),
            previous_layout,
            max_texture_dim: usize::MAX,
            edit: Default::default(),
            finetune: Default::default(),
            load_job: None,
            queued_loads: VecDeque::new(),
            series_prompt: None,
            gpu_pending: vec![GpuUpdate::Colors],
            waker,
        }
    }

    /// The waker background jobs call when they have news (pass it to
    /// [`Job::spawn`]).
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Splits the state into the features' own states and the [`Ctx`] they share.
    pub(super) fn parts(&mut self) -> Parts<'_> {
        let AppState {
            settings,
            doc,
            cursor,
            notices,
            edit,
            finetune,
            seg,
            waker,
            ..
        } = self;
        Parts {
            cx: Ctx::new(doc, settings, *cursor, notices, waker),
            edit,
            finetune,
            seg,
        }
    }

    /// The volume shown, if any.
    pub fn volume(&self) -> Option<&Volume> {
        self.doc.volume()
    }

    /// The display map of a view (None without a volume).
    pub fn slice_map(&self, view: View) -> Option<SliceMap> {
        self.volume().map(|v| v.slice_map(view))
    }

    /// The slice a view shows (the crosshair's coordinate on its normal axis).
    pub fn slice_index(&self, view: View) -> usize {
        super::context::slice_index(&self.doc, self.cursor, view)
    }

    /// Number of slices of a view (0 without a volume).
    pub fn slice_count(&self, view: View) -> usize {
        self.slice_map(view).map_or(0, |m| m.depth)
    }

    pub(super) fn set_slice(&mut self, view: View, index: usize) {
        if let Some(m) = self.slice_map(view) {
            self.cursor[m.normal_axis] = index.min(m.depth.saturating_sub(1));
        }
    }

    pub(super) fn set_cursor(&mut self, v: [usize; 3]) {
        if let Some(vol) = self.volume() {
            let dims = vol.dims();
            self.cursor = [0, 1, 2].map(|a| v[a].min(dims[a].saturating_sub(1)));
        }
    }

    /// HU per screen point of right-drag: the robust range over 500 points.
    pub fn hu_per_point(&self) -> f32 {
        self.doc
            .entry()
            .map_or(2.0, |v| ((v.stats.p98 - v.stats.p2) / 500.0).max(0.05))
    }

    pub(super) fn set_layout(&mut self, layout: Layout) {
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
        self.hover = None;
        if let Some(p) = &entry.path {
            self.settings.remember_file(p);
        }
        self.doc.open(entry);
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
                .doc
                .layers
                .composite()
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

    /// Shows an error until dismissed.
    pub fn push_error(&mut self, text: impl Into<String>) {
        self.notices.push(Notice::error(text));
    }

    /// Shows an error about a file until dismissed.
    pub fn push_file_error(&mut self, path: PathBuf, text: impl Into<String>) {
        self.notices.push(Notice {
            kind: NoticeKind::Error,
            text: text.into(),
            path: Some(path),
        });
    }

    /// Shows an information message until dismissed.
    pub fn push_info(&mut self, text: impl Into<String>) {
        self.notices.push(Notice::info(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::commands::Command;
    use crate::app::jobs::no_waker;
    use crate::app::layers::LayerRole;
    use crate::mask::LabelMask;
    use crate::volume::{Geometry, Region, Voxels};
    use std::sync::Arc;

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
        let auto = WindowLevel::auto(&s.doc.entry().expect("volume").stats);
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
    fn a_mask_added_in_the_frame_its_volume_opened_is_uploaded_after_it() {
        let mut s = state_with_volume();
        s.doc
            .add_empty_layer(LayerRole::File, "mask")
            .expect("volume loaded");
        let updates = s.take_gpu_updates();
        let volume = updates.iter().position(|u| *u == GpuUpdate::Volume);
        let mask = updates
            .iter()
            .position(|u| *u == GpuUpdate::Mask(Region::all([8, 6, 4])));
        assert!(
            matches!((volume, mask), (Some(v), Some(m)) if v < m),
            "{updates:?}"
        );
    }

    #[test]
    fn layer_region_writes_update_only_their_box() {
        let mut s = state_with_volume();
        let _ = s.take_gpu_updates();
        let layer = s
            .doc
            .add_empty_layer(LayerRole::File, "seg")
            .expect("volume loaded");
        let _ = s.take_gpu_updates();
        let region = Region::slice([8, 6, 4], 2, 1);
        s.doc
            .layers
            .write_region(layer, region, &[3; 48])
            .expect("fits");
        assert_eq!(s.take_gpu_updates(), vec![GpuUpdate::Mask(region)]);
        let c = s.composite().expect("composite");
        assert_eq!(c.labels.iter().filter(|&&l| l == 3).count(), 48);
        assert_eq!(
            s.doc.layers.read_region(layer, region).expect("fits"),
            vec![3; 48]
        );
        assert!(s.doc.layers.write_region(layer, region, &[1, 2]).is_err());
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
    fn edit_session_changes_reach_the_layer_by_region() {
        let mut s = state_with_volume();
        let layer = s
            .doc
            .add_empty_layer(LayerRole::Edited, "edited")
            .expect("volume loaded");
        let grid = s.volume().expect("volume").geometry.clone();
        let mut session = crate::edit::EditSession::new(LabelMask::empty(grid.clone()));
        let idx = grid.index(2, 3, 1);
        let touched = session
            .set_voxels("paint", [(idx, 3u8)])
            .expect("a voxel changed");
        let _ = s.take_gpu_updates();
        s.doc
            .copy_into_layer(layer, session.mask(), touched)
            .expect("fits");
        assert_eq!(
            s.take_gpu_updates(),
            vec![GpuUpdate::Mask(Region {
                origin: [2, 3, 1],
                size: [1, 1, 1]
            })]
        );
        assert_eq!(s.doc.layers[layer].mask.labels[idx], 3);
        let undone = session.undo().expect("undo");
        s.doc
            .copy_into_layer(layer, session.mask(), undone)
            .expect("fits");
        assert_eq!(s.doc.layers[layer].mask.labels[idx], 0);
    }

    #[test]
    fn mask_on_other_grid_is_refused() {
        let mut s = state_with_volume();
        let other = LabelMask::empty(Geometry::with_signs([8, 6, 5], [1.0; 3], [1.0; 3]));
        let err = s.doc.add_layer("x", None, other).expect_err("grid differs");
        assert!(err.to_string().contains("does not match"));
        assert!(s.doc.layers.is_empty());
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
