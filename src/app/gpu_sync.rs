//! Keeps the GPU textures in step with the state, spreading large uploads over
//! frames so that no frame stalls: each frame writes at most [`FRAME_BUDGET`]
//! bytes (a new volume slab by slab, then mask boxes slice-slab by slice-slab).

use super::gpu_update::GpuUpdate;
use super::layers::extract_region;
use super::state::AppState;
use crate::render::SliceRenderer;
use crate::render::renderer::{UPLOAD_CHUNK_BYTES, slab_depth};
use crate::volume::{Region, Volume};
use std::collections::VecDeque;
use std::sync::Arc;

/// Bytes written into textures per frame at most (one slice always goes).
pub const FRAME_BUDGET: usize = 2 * UPLOAD_CHUNK_BYTES;

/// Uploads waiting for later frames.
#[derive(Default)]
pub struct GpuSync {
    /// The volume being uploaded and the next slice to write.
    volume: Option<(Arc<Volume>, usize)>,
    /// Mask boxes still to upload (from the composite, read when written).
    mask: VecDeque<Region>,
    /// The frame the budget belongs to, and what is left of it (egui may run
    /// the UI more than once per frame).
    frame: Option<u64>,
    budget: usize,
}

impl GpuSync {
    /// True when the volume texture is complete (views may draw).
    pub fn volume_ready(&self) -> bool {
        self.volume.is_none()
    }

    /// Fraction of the volume uploaded (1 when done).
    pub fn volume_progress(&self) -> f32 {
        match &self.volume {
            Some((v, next)) => *next as f32 / v.dims()[2].max(1) as f32,
            None => 1.0,
        }
    }

    /// True while anything waits for upload.
    pub fn is_pending(&self) -> bool {
        self.volume.is_some() || !self.mask.is_empty()
    }

    /// Takes the state's GPU updates and writes up to [`FRAME_BUDGET`] bytes in
    /// frame number `frame`. Errors are reported as notices.
    pub fn sync(&mut self, state: &mut AppState, rs: &egui_wgpu::RenderState, frame: u64) {
        if self.frame != Some(frame) {
            self.frame = Some(frame);
            self.budget = FRAME_BUDGET;
        }
        let updates = state.take_gpu_updates();
        if updates.is_empty() && !self.is_pending() {
            return;
        }
        let mut guard = rs.renderer.write();
        let Some(renderer) = guard.callback_resources.get_mut::<SliceRenderer>() else {
            return;
        };
        let mut errors = Vec::new();
        for update in updates {
            match update {
                GpuUpdate::Volume => {
                    self.mask.clear();
                    self.volume = None;
                    if let Some(entry) = state.doc.entry() {
                        match renderer.create_volume(&rs.device, &entry.volume) {
                            Ok(()) => self.volume = Some((Arc::clone(&entry.volume), 0)),
                            Err(e) => errors.push(e.to_string()),
                        }
                    }
                }
                GpuUpdate::Mask(region) => self.mask.push_back(region),
                GpuUpdate::Colors => renderer.set_label_colors(&rs.queue, &state.label_colors()),
            }
        }
        let mut budget = self.budget;
        let result = self.pump(renderer, &rs.queue, state, &mut budget);
        self.budget = budget;
        if let Err(e) = result {
            errors.push(e.to_string());
            self.volume = None;
            self.mask.clear();
        }
        drop(guard);
        for e in errors {
            state.push_error(e);
        }
    }

    fn pump(
        &mut self,
        renderer: &mut SliceRenderer,
        queue: &wgpu::Queue,
        state: &AppState,
        budget: &mut usize,
    ) -> Result<(), crate::render::RenderError> {
        if let Some((volume, next)) = &mut self.volume {
            let dims = volume.dims();
            let bpv = volume.voxels.byte_len() / volume.voxels.len().max(1);
            let slice_bytes = dims[0] * dims[1] * bpv;
            while *next < dims[2] {
                let Some(fit) = slices_within(*budget, slice_bytes) else {
                    break;
                };
                let depth = slab_depth(dims, bpv).min(dims[2] - *next).min(fit);
                renderer.write_volume_slab(queue, volume, *next, depth)?;
                *next += depth;
                *budget = budget.saturating_sub(depth * slice_bytes);
            }
            if *next < dims[2] {
                return Ok(());
            }
            self.volume = None;
        }
        let Some(composite) = state.composite() else {
            self.mask.clear();
            return Ok(());
        };
        while let Some(region) = self.mask.front().copied() {
            let slice_bytes = (region.size[0] * region.size[1]).max(1);
            let Some(fit) = slices_within(*budget, slice_bytes) else {
                break;
            };
            self.mask.pop_front();
            let depth = fit.min(region.size[2]);
            let mut now = region;
            now.size[2] = depth;
            if depth < region.size[2] {
                let mut rest = region;
                rest.origin[2] += depth;
                rest.size[2] -= depth;
                self.mask.push_front(rest);
            }
            let labels = extract_region(&composite.geometry, &composite.labels, &now);
            renderer.update_mask_region(queue, now.origin, now.size, &labels)?;
            *budget = budget.saturating_sub(labels.len());
        }
        Ok(())
    }
}

/// How many slices of `slice_bytes` fit in what is left of the frame budget;
/// one slice always goes in a frame that has written nothing yet, so that
/// uploads progress even when a single slice exceeds the budget.
fn slices_within(budget: usize, slice_bytes: usize) -> Option<usize> {
    match budget / slice_bytes.max(1) {
        0 if budget == FRAME_BUDGET => Some(1),
        0 => None,
        n => Some(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_admits_whole_slices_and_always_progresses() {
        assert_eq!(slices_within(FRAME_BUDGET, 1000), Some(FRAME_BUDGET / 1000));
        assert_eq!(slices_within(999, 1000), None);
        assert_eq!(slices_within(FRAME_BUDGET, FRAME_BUDGET * 2), Some(1));
        assert_eq!(slices_within(0, 10), None);
    }
}
