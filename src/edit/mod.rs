//! Mask editing: brush, eraser, flood fill, threshold-limited painting, slice
//! interpolation, undo/redo, and the record of which slices the user corrected
//! (the training targets of "fine-tune on corrections").
//!
//! Every tool works in display coordinates of any view (`View` + slice number +
//! `(col, row)` pixel position), so the same code serves the axial, coronal and
//! sagittal views. All edits go through an [`EditSession`], which keeps the undo
//! history as sparse lists of changed voxels: its memory grows with what was edited,
//! never with copies of the mask.

pub mod brush;
pub mod fill;
pub mod interpolate;
pub mod undo;

pub use brush::{Brush, BrushMode};
pub use undo::{Change, UndoStack};

use crate::mask::LabelMask;
use crate::volume::{Region, SliceMap, View};
use std::collections::BTreeSet;

/// A label mask being edited, with its undo history and the slices the user
/// corrected.
#[derive(Debug, Clone)]
pub struct EditSession {
    mask: LabelMask,
    history: UndoStack,
    /// Open stroke: voxel index -> label before the stroke (first touch wins).
    stroke: Option<(String, std::collections::HashMap<u32, u8>)>,
    modified: bool,
    touched: BTreeSet<usize>,
    reviewed: BTreeSet<usize>,
}

impl EditSession {
    /// Starts editing `mask` with the default history limits.
    pub fn new(mask: LabelMask) -> Self {
        Self::with_history(mask, UndoStack::default())
    }

    /// Starts editing with a given history.
    pub fn with_history(mask: LabelMask, history: UndoStack) -> Self {
        Self {
            mask,
            history,
            stroke: None,
            modified: false,
            touched: BTreeSet::new(),
            reviewed: BTreeSet::new(),
        }
    }

    /// The current mask.
    pub fn mask(&self) -> &LabelMask {
        &self.mask
    }

    /// Gives the mask back.
    pub fn into_mask(self) -> LabelMask {
        self.mask
    }

    /// True if edited since the last [`Self::mark_saved`].
    pub fn is_modified(&self) -> bool {
        self.modified
    }

    /// Records that the mask was saved.
    pub fn mark_saved(&mut self) {
        self.modified = false;
    }

    /// The undo history.
    pub fn history(&self) -> &UndoStack {
        &self.history
    }

    /// Axial slice numbers that contain user edits.
    pub fn touched_slices(&self) -> &BTreeSet<usize> {
        &self.touched
    }

    /// Axial slice numbers the user marked as reviewed (correct as they are).
    pub fn reviewed_slices(&self) -> &BTreeSet<usize> {
        &self.reviewed
    }

    /// Marks or unmarks an axial slice as reviewed.
    pub fn set_reviewed(&mut self, axial_slice: usize, reviewed: bool) {
        if reviewed {
            self.reviewed.insert(axial_slice);
        } else {
            self.reviewed.remove(&axial_slice);
        }
    }

    /// Slices usable as training targets: edited or reviewed, sorted.
    pub fn corrected_slices(&self) -> Vec<usize> {
        self.touched.union(&self.reviewed).copied().collect()
    }

    /// Opens a stroke: everything until [`Self::end_stroke`] is one undo step.
    pub fn begin_stroke(&mut self, description: &str) {
        self.end_stroke();
        self.stroke = Some((description.to_string(), Default::default()));
    }

    /// Closes the open stroke and records it in the history (nothing if it changed
    /// no voxel).
    pub fn end_stroke(&mut self) {
        let Some((description, before)) = self.stroke.take() else {
            return;
        };
        let mut entries: Vec<(u32, u8, u8)> = before
            .into_iter()
            .filter_map(|(idx, old)| {
                let new = self.mask.labels[idx as usize];
                (new != old).then_some((idx, old, new))
            })
            .collect();
        if entries.is_empty() {
            return;
        }
        entries.sort_unstable_by_key(|e| e.0);
        self.history.push(Change::new(description, entries));
    }

    /// Sets voxels (linear indices) to a label inside the open stroke, or as a
    /// one-voxel-set step of its own when no stroke is open. Returns the touched box.
    pub fn set_voxels(
        &mut self,
        description: &str,
        changes: impl IntoIterator<Item = (usize, u8)>,
    ) -> Option<Region> {
        let own_stroke = self.stroke.is_none();
        if own_stroke {
            self.begin_stroke(description);
        }
        let dims = self.mask.geometry.dims;
        let axial = SliceMap::new(&self.mask.geometry, View::Axial).normal_axis;
        let mut region: Option<Region> = None;
        if let Some((_, before)) = self.stroke.as_mut() {
            for (idx, label) in changes {
                let old = self.mask.labels[idx];
                if old == label {
                    continue;
                }
                before.entry(idx as u32).or_insert(old);
                self.mask.labels[idx] = label;
                let v = [
                    idx % dims[0],
                    (idx / dims[0]) % dims[1],
                    idx / (dims[0] * dims[1]),
                ];
                self.touched.insert(v[axial]);
                let r = Region::voxel(v);
                region = Some(region.map_or(r, |g| g.union(r)));
            }
        }
        if region.is_some() {
            self.modified = true;
        }
        if own_stroke {
            self.end_stroke();
        }
        region
    }

    /// Undoes the last step; returns the region to refresh.
    pub fn undo(&mut self) -> Option<Region> {
        self.end_stroke();
        let dims = self.mask.geometry.dims;
        let change = self.history.pop_undo()?;
        let region = change.apply_old(&mut self.mask.labels, dims);
        self.modified = true;
        region
    }

    /// Redoes the last undone step; returns the region to refresh.
    pub fn redo(&mut self) -> Option<Region> {
        self.end_stroke();
        let dims = self.mask.geometry.dims;
        let change = self.history.pop_redo()?;
        let region = change.apply_new(&mut self.mask.labels, dims);
        self.modified = true;
        region
    }

    /// Replaces the whole mask (e.g. a new segmentation result). The history is
    /// cleared: the old mask is not kept in memory.
    pub fn replace_mask(&mut self, mask: LabelMask) {
        self.stroke = None;
        self.mask = mask;
        self.history.clear();
        self.touched.clear();
        self.reviewed.clear();
        self.modified = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Geometry;

    fn session() -> EditSession {
        let g = Geometry::with_signs([8, 8, 4], [1.0; 3], [-1.0, -1.0, 1.0]);
        EditSession::new(LabelMask::empty(g))
    }

    #[test]
    fn a_stroke_is_one_undo_step() {
        let mut s = session();
        s.begin_stroke("brush");
        s.set_voxels("brush", [(0, 3), (1, 3)]);
        s.set_voxels("brush", [(1, 2), (2, 3)]);
        s.end_stroke();
        assert_eq!(s.history().undo_len(), 1);
        assert_eq!(&s.mask().labels[..3], &[3, 2, 3]);
        s.undo();
        assert!(s.mask().labels.iter().all(|&l| l == 0));
        s.redo();
        assert_eq!(&s.mask().labels[..3], &[3, 2, 3]);
    }

    #[test]
    fn touched_slices_follow_the_axial_axis() {
        let mut s = session();
        let g = s.mask().geometry.clone();
        s.set_voxels("x", [(g.index(1, 1, 2), 3), (g.index(2, 2, 3), 3)]);
        assert_eq!(s.corrected_slices(), vec![2, 3]);
        s.set_reviewed(0, true);
        assert_eq!(s.corrected_slices(), vec![0, 2, 3]);
        assert!(s.is_modified());
        s.mark_saved();
        assert!(!s.is_modified());
    }
}
