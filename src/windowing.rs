//! Window/level: how HU map to grey.

use crate::volume::IntensityStats;
use serde::{Deserialize, Serialize};

/// A display window: grey = clamp((HU - (level - width/2)) / width, 0, 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowLevel {
    /// Window width in HU (> 0).
    pub width: f32,
    /// Window centre (level) in HU.
    pub level: f32,
}

/// Named window presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Preset {
    /// Lung: W1500 / L-600.
    Lung,
    /// Mediastinum: W400 / L40.
    Mediastinum,
    /// Bone: W1800 / L400.
    Bone,
    /// Soft tissue: W350 / L50.
    SoftTissue,
}

impl Preset {
    /// All presets, in the order of their number keys (1–4).
    pub const ALL: [Preset; 4] = [
        Preset::Lung,
        Preset::Mediastinum,
        Preset::Bone,
        Preset::SoftTissue,
    ];

    /// The preset's window.
    pub fn window(self) -> WindowLevel {
        let (width, level) = match self {
            Preset::Lung => (1500.0, -600.0),
            Preset::Mediastinum => (400.0, 40.0),
            Preset::Bone => (1800.0, 400.0),
            Preset::SoftTissue => (350.0, 50.0),
        };
        WindowLevel { width, level }
    }

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Lung => "Lung",
            Preset::Mediastinum => "Mediastinum",
            Preset::Bone => "Bone",
            Preset::SoftTissue => "Soft tissue",
        }
    }
}

impl WindowLevel {
    /// Smallest allowed width.
    pub const MIN_WIDTH: f32 = 1.0;

    /// A window, width clamped to at least [`Self::MIN_WIDTH`].
    pub fn new(width: f32, level: f32) -> Self {
        Self {
            width: width.max(Self::MIN_WIDTH),
            level,
        }
    }

    /// The window spanning the robust 2–98 % intensity range.
    pub fn auto(stats: &IntensityStats) -> Self {
        let (lo, hi) = if stats.p98 > stats.p2 {
            (stats.p2, stats.p98)
        } else {
            (stats.min, stats.max)
        };
        Self::new(hi - lo, (hi + lo) / 2.0)
    }

    /// Lowest HU shown as black.
    pub fn low(&self) -> f32 {
        self.level - self.width / 2.0
    }

    /// Grey value in 0..=1 for a HU value.
    #[inline]
    pub fn apply(&self, hu: f32) -> f32 {
        ((hu - self.low()) / self.width).clamp(0.0, 1.0)
    }

    /// Grey value in 0..=255.
    #[inline]
    pub fn apply_u8(&self, hu: f32) -> u8 {
        (self.apply(hu) * 255.0 + 0.5) as u8
    }

    /// The window after a right-drag of `(dx, dy)` screen pixels (y down): moving
    /// right widens the window, moving up raises the level (the image darkens).
    /// `hu_per_pixel` scales the motion.
    pub fn dragged(&self, dx: f32, dy: f32, hu_per_pixel: f32) -> Self {
        Self::new(
            self.width + dx * hu_per_pixel,
            self.level - dy * hu_per_pixel,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_standard_values() {
        assert_eq!(Preset::Lung.window(), WindowLevel::new(1500.0, -600.0));
        assert_eq!(Preset::Mediastinum.window(), WindowLevel::new(400.0, 40.0));
        assert_eq!(Preset::Bone.window(), WindowLevel::new(1800.0, 400.0));
        assert_eq!(Preset::SoftTissue.window(), WindowLevel::new(350.0, 50.0));
    }

    #[test]
    fn apply_maps_window_edges() {
        let w = Preset::Lung.window();
        assert_eq!(w.apply(-1350.0), 0.0);
        assert_eq!(w.apply(150.0), 1.0);
        assert!((w.apply(-600.0) - 0.5).abs() < 1e-6);
        assert_eq!(w.apply_u8(-2000.0), 0);
        assert_eq!(w.apply_u8(1000.0), 255);
    }

    #[test]
    fn drag_changes_width_and_level() {
        let w = WindowLevel::new(400.0, 40.0).dragged(10.0, -5.0, 2.0);
        assert_eq!(w, WindowLevel::new(420.0, 50.0));
        assert_eq!(
            WindowLevel::new(10.0, 0.0).dragged(-100.0, 0.0, 1.0).width,
            1.0
        );
    }
}
