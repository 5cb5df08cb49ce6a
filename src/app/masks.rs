//! Mask layers of the state: adding, region writes (streamed segmentation,
//! editing), the composite and the GPU updates it causes, all through the
//! state's [`super::layers::LayerStack`].

use super::gpu_update::GpuUpdate;
use super::layers::{LayerId, LayerRole, extract_region};
use super::state::{AppState, StateError};
use crate::mask::LabelMask;
use crate::render::LabelColors;
use crate::volume::Region;
use std::path::PathBuf;

impl AppState {
    /// The composite label map the overlay shows.
    pub fn composite(&self) -> Option<&LabelMask> {
        self.layers.composite()
    }

    /// True if any visible layer exists (the overlay pass is worth drawing).
    pub fn has_overlay(&self) -> bool {
        self.settings.overlay.mode_bits() != 0 && self.layers.any_visible()
    }

    /// Counts changes of the shown masks: every layer write, added, removed, shown
    /// or hidden layer bumps it (see [`super::layers::LayerStack::revision`]).
    pub fn mask_revision(&self) -> u64 {
        self.layers.revision()
    }

    /// Adds a mask layer (a file's mask) on the volume grid; returns its id.
    pub fn add_layer(
        &mut self,
        name: impl Into<String>,
        path: Option<PathBuf>,
        mask: LabelMask,
    ) -> Result<LayerId, StateError> {
        self.layers.add(LayerRole::File, name, path, mask)
    }

    /// Adds an empty layer with `role` (for a segmentation job or drawing);
    /// returns its id.
    pub fn add_empty_layer(
        &mut self,
        role: LayerRole,
        name: impl Into<String>,
    ) -> Result<LayerId, StateError> {
        let geometry = self.volume().ok_or(StateError::NoVolume)?.geometry.clone();
        self.layers
            .add(role, name, None, LabelMask::empty(geometry))
    }

    /// Writes `labels` (box order, `i` fastest) into a box of layer `layer` and
    /// updates only that box of the composite and of the GPU texture. Used by
    /// streamed segmentation (one slice at a time) and by editing tools.
    pub fn write_layer_region(
        &mut self,
        layer: LayerId,
        region: Region,
        labels: &[u8],
    ) -> Result<(), StateError> {
        self.layers.write_region(layer, region, labels)
    }

    /// Copies a box of `source` (a mask on the volume grid, e.g. an
    /// `edit::EditSession`'s mask after a stroke, undo or redo) into layer
    /// `layer`; only that box is recomposited and uploaded.
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
        self.write_layer_region(layer, region, &labels)
    }

    /// Reads a box of layer `layer` (box order), e.g. to keep an undo copy.
    pub fn read_layer_region(&self, layer: LayerId, region: Region) -> Result<Vec<u8>, StateError> {
        self.layers.read_region(layer, region)
    }

    /// The label colour table with hidden labels transparent.
    pub fn label_colors(&self) -> LabelColors {
        LabelColors::from_rgba8(&self.settings.labels.lut(), |v| {
            self.settings.label_visible(v)
        })
    }

    /// The GPU updates since the last call, merged (one mask box at most).
    pub fn take_gpu_updates(&mut self) -> Vec<GpuUpdate> {
        if let Some(r) = self.layers.take_dirty() {
            self.gpu_pending.push(GpuUpdate::Mask(r));
        }
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
