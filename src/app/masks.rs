//! Mask layers of the state: adding, region writes (streamed segmentation,
//! editing), the composite and the GPU updates it causes.

use super::gpu_update::GpuUpdate;
use super::layers::{MaskLayer, composite_region, extract_region};
use super::state::{AppState, StateError};
use crate::mask::LabelMask;
use crate::render::LabelColors;
use crate::volume::Region;
use std::path::PathBuf;

impl AppState {
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

    /// Copies a box of `source` (a mask on the volume grid, e.g. an
    /// `edit::EditSession`'s mask after a stroke, undo or redo) into layer
    /// `layer`; only that box is recomposited and uploaded.
    pub fn copy_into_layer(
        &mut self,
        layer: usize,
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
        self.write_layer_region(layer, region, &labels)
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

    pub(super) fn recomposite(&mut self, region: Region) {
        self.mask_changed();
        if let Some(c) = &mut self.composite {
            composite_region(c, &self.layers, &region);
            self.gpu_pending.push(GpuUpdate::Mask(region));
        }
    }

    pub(super) fn recomposite_all(&mut self) {
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
                GpuUpdate::Mask(r) => mask = Some(mask.map_or(r, |m| m.union(r))),
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
}
