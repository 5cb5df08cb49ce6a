//! The study open in the viewer: the volume and the mask layers drawn over it.
//!
//! [`Document`] is the one owner of both. The volume changes only through
//! [`Document::open`] and [`Document::close`], which start the layer stack over on
//! the new grid, so every layer is always on the volume's grid; a layer's mask
//! changes only through [`LayerStack`]'s methods, which keep the composite, the
//! revision and the GPU's dirty box right. What the GPU must receive after a
//! change comes out of [`Document::take_changes`].
//!
//! The feature modules (segmenting, editing, fine-tuning, figures, export) hold
//! their own state beside the document and apply their commands to it.

use super::layers::{LayerId, LayerRole, LayerStack, StateError, extract_region};
use crate::mask::LabelMask;
use crate::volume::{IntensityStats, Region, Volume};
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

/// What changed in a document since the GPU last heard of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DocumentChanges {
    /// A volume was opened or closed: its texture is new and its mask texture
    /// starts empty.
    pub volume: bool,
    /// The box of the composite label map written since (after `volume`, the
    /// layers added to the new volume).
    pub mask: Option<Region>,
}

/// The open volume (if any) and its overlay layers.
#[derive(Debug, Default)]
pub struct Document {
    entry: Option<VolumeEntry>,
    /// The overlay layers, drawn in order, and their composite: the one place a
    /// layer's mask changes.
    pub layers: LayerStack,
    volume_changed: bool,
}

impl Document {
    /// The open volume and what is known about it.
    pub fn entry(&self) -> Option<&VolumeEntry> {
        self.entry.as_ref()
    }

    /// The open volume's voxels.
    pub fn volume(&self) -> Option<&Volume> {
        self.entry.as_ref().map(|e| e.volume.as_ref())
    }

    /// A shared handle on the open volume (for a background job).
    pub fn volume_arc(&self) -> Option<Arc<Volume>> {
        self.entry.as_ref().map(|e| Arc::clone(&e.volume))
    }

    /// True when a volume is open.
    pub fn is_open(&self) -> bool {
        self.entry.is_some()
    }

    /// Opens `entry`: every layer of the previous volume is dropped and the
    /// stack starts over, empty, on the new grid.
    pub fn open(&mut self, entry: VolumeEntry) {
        self.layers.reset(Some(entry.volume.geometry.clone()));
        self.entry = Some(entry);
        self.volume_changed = true;
    }

    /// Closes the volume and drops its layers.
    pub fn close(&mut self) {
        self.layers.reset(None);
        self.entry = None;
        self.volume_changed = true;
    }

    /// Adds a mask layer opened from a file (or handed in by code) on the
    /// volume grid; returns its id.
    pub fn add_layer(
        &mut self,
        name: impl Into<String>,
        path: Option<PathBuf>,
        mask: LabelMask,
    ) -> Result<LayerId, StateError> {
        self.layers.add(LayerRole::File, name, path, mask)
    }

    /// Adds an empty layer with `role` (for a segmentation job or drawing).
    pub fn add_empty_layer(
        &mut self,
        role: LayerRole,
        name: impl Into<String>,
    ) -> Result<LayerId, StateError> {
        let geometry = self.volume().ok_or(StateError::NoVolume)?.geometry.clone();
        self.layers
            .add(role, name, None, LabelMask::empty(geometry))
    }

    /// Copies a box of `source` (a mask on the volume grid, e.g. an edit
    /// session's mask after a stroke, undo or redo) into layer `layer`; only
    /// that box is recomposited and uploaded.
    pub fn copy_into_layer(
        &mut self,
        layer: LayerId,
        source: &LabelMask,
        region: Region,
    ) -> Result<(), StateError> {
        if !region.fits(source.geometry.dims) {
            return Err(StateError::Region {
                region,
                len: 0,
                dims: source.geometry.dims,
            });
        }
        let labels = extract_region(&source.geometry, &source.labels, &region);
        self.layers.write_region(layer, region, &labels)
    }

    /// What changed since the last call: a new (or no) volume, and the box of
    /// the composite to upload after it.
    pub fn take_changes(&mut self) -> DocumentChanges {
        DocumentChanges {
            volume: std::mem::take(&mut self.volume_changed),
            mask: self.layers.take_dirty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Geometry, Voxels};

    fn entry(dims: [usize; 3]) -> VolumeEntry {
        let n = dims.iter().product::<usize>();
        let g = Geometry::with_signs(dims, [1.0; 3], [1.0; 3]);
        let vol = Volume::new(g, Voxels::I16(vec![-1000; n])).expect("sizes match");
        let stats = vol.stats();
        VolumeEntry {
            volume: Arc::new(vol),
            stats,
            path: None,
            name: "v".into(),
        }
    }

    #[test]
    fn opening_a_volume_starts_the_layers_over_on_its_grid() {
        let mut d = Document::default();
        assert!(matches!(
            d.add_empty_layer(LayerRole::Edited, "x"),
            Err(StateError::NoVolume)
        ));
        d.open(entry([4, 3, 2]));
        let id = d.add_empty_layer(LayerRole::Edited, "x").expect("open");
        assert_eq!(d.layers[id].mask.geometry.dims, [4, 3, 2]);
        // A layer added before the GPU heard of the volume is uploaded after it.
        assert_eq!(
            d.take_changes(),
            DocumentChanges {
                volume: true,
                mask: Some(Region::all([4, 3, 2]))
            }
        );
        d.open(entry([5, 3, 2]));
        assert!(d.layers.is_empty());
        assert!(d.layers.get(id).is_none());
        let other = LabelMask::empty(Geometry::with_signs([4, 3, 2], [1.0; 3], [1.0; 3]));
        assert!(matches!(
            d.add_layer("old grid", None, other),
            Err(StateError::Grid { .. })
        ));
        d.close();
        assert!(d.volume().is_none() && d.layers.composite().is_none());
        assert!(d.take_changes().volume);
    }

    #[test]
    fn a_region_write_reports_only_its_box() {
        let mut d = Document::default();
        d.open(entry([4, 3, 2]));
        let id = d.add_empty_layer(LayerRole::File, "m").expect("open");
        let _ = d.take_changes();
        let r = Region::slice([4, 3, 2], 2, 1);
        d.layers.write_region(id, r, &[1; 12]).expect("fits");
        assert_eq!(
            d.take_changes(),
            DocumentChanges {
                volume: false,
                mask: Some(r)
            }
        );
        assert_eq!(d.take_changes(), DocumentChanges::default());
    }
}
