//! User settings persisted between runs (eframe storage, key [`SETTINGS_KEY`]).

use crate::mask::LabelTable;
use crate::volume::View;
use crate::windowing::{Preset, WindowLevel};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The storage key of [`Settings`].
pub const SETTINGS_KEY: &str = "lungscope.settings";

/// Most recent files kept.
pub const MAX_RECENT: usize = 10;

/// How the views are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// Axial and sagittal above, coronal and an information panel below.
    Grid,
    /// The three views side by side.
    Row,
    /// One view filling the viewer.
    Single(View),
}

impl Layout {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Grid => "2 × 2",
            Layout::Row => "1 × 3",
            Layout::Single(View::Axial) => "Axial only",
            Layout::Single(View::Coronal) => "Coronal only",
            Layout::Single(View::Sagittal) => "Sagittal only",
        }
    }
}

/// A named window/level on a number key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedWindow {
    /// Display name.
    pub name: String,
    /// The window.
    pub window: WindowLevel,
}

/// How masks are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OverlayStyle {
    /// Draw the overlay at all.
    pub visible: bool,
    /// Fill labelled voxels.
    pub fill: bool,
    /// Outline label boundaries.
    pub outline: bool,
    /// Fill opacity 0..1 (outlines use twice this, capped at 1).
    pub opacity: f32,
}

impl Default for OverlayStyle {
    fn default() -> Self {
        Self {
            visible: true,
            fill: true,
            outline: true,
            opacity: 0.4,
        }
    }
}

impl OverlayStyle {
    /// The shader's mode bits (0 when hidden).
    pub fn mode_bits(&self) -> u32 {
        if !self.visible {
            return 0;
        }
        let fill = if self.fill {
            crate::render::MODE_FILL
        } else {
            0
        };
        let outline = if self.outline {
            crate::render::MODE_OUTLINE
        } else {
            0
        };
        fill | outline
    }
}

/// Everything remembered between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Folder of the last opened file (start of the open dialog).
    pub last_dir: Option<PathBuf>,
    /// Recently opened volumes, newest first.
    pub recent: Vec<PathBuf>,
    /// View arrangement.
    pub layout: Layout,
    /// Window presets on keys 1–4.
    pub presets: Vec<NamedWindow>,
    /// Label names and overlay colours.
    pub labels: LabelTable,
    /// Labels hidden in the overlay.
    pub hidden_labels: Vec<u8>,
    /// Overlay drawing style.
    pub overlay: OverlayStyle,
    /// Trilinear interpolation instead of nearest voxel.
    pub linear: bool,
    /// Show the crosshair.
    pub crosshair: bool,
    /// Where segmentation runs: auto, GPU or CPU.
    pub seg_device: crate::seg::DeviceChoice,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            last_dir: None,
            recent: Vec::new(),
            layout: Layout::Grid,
            presets: default_presets(),
            labels: LabelTable::default(),
            hidden_labels: Vec::new(),
            overlay: OverlayStyle::default(),
            linear: false,
            crosshair: true,
            seg_device: crate::seg::DeviceChoice::Auto,
        }
    }
}

/// The four standard presets (lung, mediastinum, bone, soft tissue).
pub fn default_presets() -> Vec<NamedWindow> {
    Preset::ALL
        .iter()
        .map(|p| NamedWindow {
            name: p.name().to_string(),
            window: p.window(),
        })
        .collect()
}

impl Settings {
    /// Records an opened file: moves it to the front of the recent list and
    /// remembers its folder.
    pub fn remember_file(&mut self, path: &Path) {
        self.recent.retain(|p| p != path);
        self.recent.insert(0, path.to_path_buf());
        self.recent.truncate(MAX_RECENT);
        if let Some(dir) = path.parent() {
            self.last_dir = Some(dir.to_path_buf());
        }
    }

    /// True if label `value` is drawn.
    pub fn label_visible(&self, value: u8) -> bool {
        !self.hidden_labels.contains(&value)
    }

    /// Shows or hides label `value`.
    pub fn set_label_visible(&mut self, value: u8, visible: bool) {
        self.hidden_labels.retain(|&v| v != value);
        if !visible {
            self.hidden_labels.push(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_files_are_unique_newest_first_and_capped() {
        let mut s = Settings::default();
        for i in 0..12 {
            s.remember_file(Path::new(&format!("/data/{i}.nii.gz")));
        }
        s.remember_file(Path::new("/data/5.nii.gz"));
        assert_eq!(s.recent.len(), MAX_RECENT);
        assert_eq!(s.recent[0], Path::new("/data/5.nii.gz"));
        assert_eq!(
            s.recent.iter().filter(|p| p.ends_with("5.nii.gz")).count(),
            1
        );
        assert_eq!(s.last_dir.as_deref(), Some(Path::new("/data")));
    }

    #[test]
    fn settings_round_trip_through_json_and_fill_missing_fields() {
        let mut s = Settings {
            layout: Layout::Single(View::Coronal),
            ..Default::default()
        };
        s.set_label_visible(2, false);
        let json = serde_json::to_string(&s).expect("serialise");
        let back: Settings = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, s);
        let partial: Settings = serde_json::from_str(r#"{"linear": true}"#).expect("parse");
        assert!(partial.linear);
        assert_eq!(partial.presets, default_presets());
    }
}
