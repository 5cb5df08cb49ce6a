//! The editing tool palette: the tools, their names, keys and help texts, and the
//! named HU intervals for fill and threshold painting.

use serde::{Deserialize, Serialize};

/// A tool of the palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tool {
    /// The viewer's own mouse handling (click moves the crosshair).
    Navigate,
    /// Paint the current label with a round brush.
    Brush,
    /// Remove the current label with a round brush.
    Eraser,
    /// 2-D flood fill within the HU range from the clicked pixel.
    Fill,
    /// Paint only voxels whose HU lies in the HU range.
    Threshold,
    /// Fill the slices between two edited slices (shape-based).
    Interpolate,
}

impl Tool {
    /// All tools, palette order.
    pub const ALL: [Tool; 6] = [
        Tool::Navigate,
        Tool::Brush,
        Tool::Eraser,
        Tool::Fill,
        Tool::Threshold,
        Tool::Interpolate,
    ];

    /// Palette name.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Navigate => "Navigate",
            Tool::Brush => "Brush",
            Tool::Eraser => "Eraser",
            Tool::Fill => "Fill",
            Tool::Threshold => "Threshold paint",
            Tool::Interpolate => "Interpolate",
        }
    }

    /// Keyboard shortcut (a letter key).
    pub fn key(self) -> char {
        match self {
            Tool::Navigate => 'N',
            Tool::Brush => 'B',
            Tool::Eraser => 'E',
            Tool::Fill => 'G',
            Tool::Threshold => 'T',
            Tool::Interpolate => 'I',
        }
    }

    /// What it does, for tooltips.
    pub fn help(self) -> &'static str {
        match self {
            Tool::Navigate => "Left click moves the crosshair (N, Esc)",
            Tool::Brush => "Paint the current label; drag for a stroke (B)",
            Tool::Eraser => "Remove the current label; erased infection returns to lung (E)",
            Tool::Fill => "Click: 2-D flood fill within the HU range on this slice (G)",
            Tool::Threshold => "Paint only voxels inside the HU range (T)",
            Tool::Interpolate => "Fill the slices between two edited slices (I)",
        }
    }

    /// True if a left click or drag in a view edits the mask (instead of moving the
    /// crosshair).
    pub fn edits_on_click(self) -> bool {
        matches!(
            self,
            Tool::Brush | Tool::Eraser | Tool::Fill | Tool::Threshold
        )
    }

    /// True if the tool is a round brush (its circle is drawn under the pointer).
    pub fn is_brush(self) -> bool {
        matches!(self, Tool::Brush | Tool::Eraser | Tool::Threshold)
    }
}

/// Named HU intervals for fill and threshold painting.
pub const HU_PRESETS: &[(&str, (f32, f32))] = &[
    ("Aerated lung", (-1000.0, -500.0)),
    ("Ground-glass + consolidation", (-750.0, 100.0)),
    ("Soft tissue", (-100.0, 200.0)),
];
