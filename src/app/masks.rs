//! What the views draw of the document's mask layers: the composite, its
//! revision, the label colours, and the GPU updates that document changes cause.
//! Layers are added and written through [`super::document::Document`].

use super::gpu_update::GpuUpdate;

use super::state::AppState;
use crate::mask::LabelMask;
use crate::render::LabelColors;
use crate::volume::Region;

impl AppState {
    /// The composite label map the overlay shows.
    pub fn composite(&self) -> Option<&LabelMask> {
        self.doc.layers.composite()
    }

    /// True if any visible layer exists (the overlay pass is worth drawing).
    pub fn has_overlay(&self) -> bool {
        self.settings.overlay.mode_bits() != 0 && self.doc.layers.any_visible()
    }

    /// Counts changes of the shown masks: every layer write, added, removed, shown
    /// or hidden layer bumps it (see [`super::layers::LayerStack::revision`]).
    pub fn mask_revision(&self) -> u64 {
        self.doc.layers.revision()
    }

    /// The label colour table with hidden labels transparent.
    pub fn label_colors(&self) -> LabelColors {
        LabelColors::from_rgba8(&self.settings.labels.lut(), |v| {
            self.settings.label_visible(v)
        })
    }

    /// The GPU updates since the last call, merged (one mask box at most).
    pub fn take_gpu_updates(&mut self) -> Vec<GpuUpdate> {
        let changes = self.doc.take_changes();
        if changes.volume {
            self.gpu_pending.retain(|u| *u == GpuUpdate::Colors);
            self.gpu_pending.push(GpuUpdate::Volume);
        }
        self.gpu_pending.extend(changes.mask.map(GpuUpdate::Mask));
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
