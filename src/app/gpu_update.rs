//! What the GPU has to catch up with: the [`GpuUpdate`]s the state queues (a new
//! volume, a box of the composite mask, the label colours) and `gpu_sync` applies.

use crate::volume::Region;

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
