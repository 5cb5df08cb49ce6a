//! Mask overlay layers and the composite label map the GPU shows.
//!
//! Each layer is a label mask on the volume grid (a file, a segmentation result,
//! an edited mask) with a stable [`LayerId`] and a [`LayerRole`]. The composite is
//! what the overlay texture holds: where visible layers overlap, the larger label
//! value wins, so findings (infection 3, ground-glass 4, consolidation 5) show over
//! the lungs (1, 2) whatever order the files were opened in.
//!
//! [`LayerStack`] is the one place a layer's mask or visibility changes: it hands
//! out layers only by shared reference, and every method that changes one
//! recomposites the touched box, bumps the revision (the report re-measures on it)
//! and records the box for the GPU upload. Changing a box of one layer
//! recomposites only that box, so the GPU update stays small.

use crate::mask::LabelMask;
use crate::volume::{Geometry, Region};
use std::path::PathBuf;

/// Errors of direct state edits (mask regions).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    /// No volume is loaded.
    #[error("no volume is loaded")]
    NoVolume,
    /// The layer is gone.
    #[error("the mask layer is gone")]
    NoLayer,
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

/// A layer's identity: stable while other layers come and go, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LayerId(u64);

/// What a layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerRole {
    /// A mask opened from a file (or handed in by code, e.g. a benchmark).
    File,
    /// A segmentation in progress, filled slice by slice.
    Preview,
    /// The finished segmentation of the active model.
    Segmentation,
    /// The mask of the edit session.
    Edited,
}

/// One overlay layer. Only [`LayerStack`] changes it.
#[derive(Debug, Clone)]
pub struct MaskLayer {
    /// Its identity.
    pub id: LayerId,
    /// What it is.
    pub role: LayerRole,
    /// Display name (file name or job name).
    pub name: String,
    /// The file it came from, if any.
    pub path: Option<PathBuf>,
    /// The labels.
    pub mask: LabelMask,
    /// Drawn in the composite.
    pub visible: bool,
}

/// The overlay layers in drawing order, their composite, the revision of what
/// they show and the box the GPU has still to receive.
#[derive(Debug, Default)]
pub struct LayerStack {
    layers: Vec<MaskLayer>,
    next_id: u64,
    composite: Option<LabelMask>,
    revision: u64,
    dirty: Option<Region>,
}

impl std::ops::Index<LayerId> for LayerStack {
    type Output = MaskLayer;

    /// The layer `id`; panics if it is gone (use [`LayerStack::get`] otherwise).
    fn index(&self, id: LayerId) -> &MaskLayer {
        self.get(id).expect("no layer with this id")
    }
}

impl LayerStack {
    /// Starts over for a volume on `geometry` (no layers, an empty composite), or
    /// for no volume.
    pub fn reset(&mut self, geometry: Option<Geometry>) {
        self.layers.clear();
        self.composite = geometry.map(LabelMask::empty);
        self.dirty = None;
        self.revision = self.revision.wrapping_add(1);
    }

    /// The composite label map the overlay shows (none without a volume).
    pub fn composite(&self) -> Option<&LabelMask> {
        self.composite.as_ref()
    }

    /// Counts changes of what the layers show: every write, added, removed,
    /// shown or hidden layer bumps it.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The box of the composite changed since the last call (for the GPU).
    pub fn take_dirty(&mut self) -> Option<Region> {
        self.dirty.take()
    }

    /// The layers in drawing order.
    pub fn iter(&self) -> std::slice::Iter<'_, MaskLayer> {
        self.layers.iter()
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True without layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layer `id`, if it still exists.
    pub fn get(&self, id: LayerId) -> Option<&MaskLayer> {
        self.layers.iter().find(|l| l.id == id)
    }

    /// The last layer with `role`.
    pub fn find(&self, role: LayerRole) -> Option<LayerId> {
        self.layers
            .iter()
            .rev()
            .find(|l| l.role == role)
            .map(|l| l.id)
    }

    /// True if any layer is visible.
    pub fn any_visible(&self) -> bool {
        self.layers.iter().any(|l| l.visible)
    }

    /// Adds a layer on the volume grid, shown; returns its id.
    pub fn add(
        &mut self,
        role: LayerRole,
        name: impl Into<String>,
        path: Option<PathBuf>,
        mask: LabelMask,
    ) -> Result<LayerId, StateError> {
        let grid = self.composite.as_ref().ok_or(StateError::NoVolume)?;
        if !mask.geometry.same_grid(&grid.geometry) {
            return Err(StateError::Grid {
                mask: mask.geometry.dims,
                volume: grid.geometry.dims,
            });
        }
        let id = LayerId(self.next_id);
        self.next_id += 1;
        self.layers.push(MaskLayer {
            id,
            role,
            name: name.into(),
            path,
            mask,
            visible: true,
        });
        self.recomposite_all();
        Ok(id)
    }

    /// Removes layer `id`; returns it.
    pub fn remove(&mut self, id: LayerId) -> Option<MaskLayer> {
        let i = self.layers.iter().position(|l| l.id == id)?;
        let layer = self.layers.remove(i);
        self.recomposite_all();
        Some(layer)
    }

    /// Shows or hides layer `id`; false if it is gone.
    pub fn set_visible(&mut self, id: LayerId, visible: bool) -> bool {
        self.set_visibility(|l| if l.id == id { visible } else { l.visible })
            .is_some()
    }

    /// Sets every layer's visibility from `f` (one recomposite); `None` when
    /// there are no layers.
    pub fn set_visibility(&mut self, f: impl Fn(&MaskLayer) -> bool) -> Option<()> {
        if self.layers.is_empty() {
            return None;
        }
        let mut changed = false;
        for l in &mut self.layers {
            let v = f(l);
            changed |= v != l.visible;
            l.visible = v;
        }
        if changed {
            self.recomposite_all();
        }
        Some(())
    }

    /// Renames layer `id` and gives it `role`.
    pub fn relabel(&mut self, id: LayerId, role: LayerRole, name: impl Into<String>) {
        if let Some(l) = self.layers.iter_mut().find(|l| l.id == id) {
            l.role = role;
            l.name = name.into();
        }
    }

    /// Replaces the whole mask of layer `id` (same grid).
    pub fn replace_mask(&mut self, id: LayerId, mask: LabelMask) -> Result<(), StateError> {
        let l = self
            .layers
            .iter_mut()
            .find(|l| l.id == id)
            .ok_or(StateError::NoLayer)?;
        if !mask.geometry.same_grid(&l.mask.geometry) {
            return Err(StateError::Grid {
                mask: mask.geometry.dims,
                volume: l.mask.geometry.dims,
            });
        }
        l.mask = mask;
        self.recomposite_all();
        Ok(())
    }

    /// Writes `labels` (box order, `i` fastest) into a box of layer `id` and
    /// recomposites only that box.
    pub fn write_region(
        &mut self,
        id: LayerId,
        region: Region,
        labels: &[u8],
    ) -> Result<(), StateError> {
        let l = self
            .layers
            .iter_mut()
            .find(|l| l.id == id)
            .ok_or(StateError::NoLayer)?;
        let dims = l.mask.geometry.dims;
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

    /// Reads a box of layer `id` (box order).
    pub fn read_region(&self, id: LayerId, region: Region) -> Result<Vec<u8>, StateError> {
        let l = self.get(id).ok_or(StateError::NoLayer)?;
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
        self.revision = self.revision.wrapping_add(1);
        if let Some(c) = &mut self.composite {
            composite_region(c, &self.layers, &region);
            self.dirty = Some(self.dirty.map_or(region, |d| d.union(region)));
        }
    }

    fn recomposite_all(&mut self) {
        if let Some(dims) = self.composite.as_ref().map(|c| c.geometry.dims) {
            self.recomposite(Region::all(dims));
        } else {
            self.revision = self.revision.wrapping_add(1);
        }
    }
}

/// Copies a box out of a column-major label grid.
pub fn extract_region(geometry: &Geometry, labels: &[u8], region: &Region) -> Vec<u8> {
    let mut out = vec![0u8; region.len()];
    region.for_each(geometry.dims, |g, b| out[b] = labels[g]);
    out
}

/// Recomputes `composite` inside `region` from the visible `layers` (largest
/// label wins).
pub fn composite_region(composite: &mut LabelMask, layers: &[MaskLayer], region: &Region) {
    let dims = composite.geometry.dims;
    let visible: Vec<&[u8]> = layers
        .iter()
        .filter(|l| l.visible)
        .map(|l| l.mask.labels.as_slice())
        .collect();
    region.for_each(dims, |g, _| {
        composite.labels[g] = visible.iter().map(|l| l[g]).max().unwrap_or(0);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(labels: Vec<u8>, visible: bool) -> MaskLayer {
        let g = Geometry::with_signs([2, 2, 1], [1.0; 3], [1.0; 3]);
        MaskLayer {
            id: LayerId(0),
            role: LayerRole::File,
            name: "t".into(),
            path: None,
            mask: LabelMask::new(g, labels).expect("size"),
            visible,
        }
    }

    #[test]
    fn findings_show_over_lungs_in_any_order_and_hidden_layers_drop_out() {
        let lungs = layer(vec![1, 1, 2, 0], true);
        let infection = layer(vec![0, 3, 3, 0], true);
        let mut c = LabelMask::empty(lungs.mask.geometry.clone());
        for layers in [
            vec![lungs.clone(), infection.clone()],
            vec![infection.clone(), lungs.clone()],
        ] {
            composite_region(&mut c, &layers, &Region::all([2, 2, 1]));
            assert_eq!(c.labels, vec![1, 3, 3, 0]);
        }
        let mut hidden = infection.clone();
        hidden.visible = false;
        composite_region(&mut c, &[lungs, hidden], &Region::all([2, 2, 1]));
        assert_eq!(c.labels, vec![1, 1, 2, 0]);
    }

    #[test]
    fn region_iteration_and_extract() {
        let g = Geometry::with_signs([3, 2, 2], [1.0; 3], [1.0; 3]);
        let labels: Vec<u8> = (0..12).collect();
        let r = Region {
            origin: [1, 1, 0],
            size: [2, 1, 2],
        };
        assert_eq!(extract_region(&g, &labels, &r), vec![4, 5, 10, 11]);
        assert_eq!(Region::slice([3, 2, 2], 2, 1).len(), 6);
        let u = r.union(Region::slice([3, 2, 2], 0, 0));
        assert_eq!(u, Region::all([3, 2, 2]));
    }
}
