//! Undo/redo history as sparse voxel changes.

use crate::volume::Region;
use std::collections::VecDeque;

/// One undoable step: the voxels it changed with their old and new labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What the user did ("brush", "fill", ...).
    pub description: String,
    /// `(linear voxel index, old label, new label)`, sorted by index.
    entries: Vec<(u32, u8, u8)>,
}

impl Change {
    /// A change from its entries.
    pub fn new(description: String, entries: Vec<(u32, u8, u8)>) -> Self {
        Self {
            description,
            entries,
        }
    }

    /// Voxels changed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if nothing changed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Memory held by this step.
    pub fn bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<(u32, u8, u8)>()
            + self.description.capacity()
            + std::mem::size_of::<Self>()
    }

    fn apply(&self, labels: &mut [u8], dims: [usize; 3], new: bool) -> Option<Region> {
        let mut region: Option<Region> = None;
        for &(idx, old_l, new_l) in &self.entries {
            let idx = idx as usize;
            labels[idx] = if new { new_l } else { old_l };
            let v = [
                idx % dims[0],
                (idx / dims[0]) % dims[1],
                idx / (dims[0] * dims[1]),
            ];
            let r = Region::voxel(v);
            region = Some(region.map_or(r, |g| g.union(r)));
        }
        region
    }

    /// Restores the old labels.
    pub fn apply_old(&self, labels: &mut [u8], dims: [usize; 3]) -> Option<Region> {
        self.apply(labels, dims, false)
    }

    /// Writes the new labels again.
    pub fn apply_new(&self, labels: &mut [u8], dims: [usize; 3]) -> Option<Region> {
        self.apply(labels, dims, true)
    }
}

/// Bounded undo/redo stacks: at most `max_steps` steps and `max_bytes` of changes;
/// the oldest steps are dropped first.
#[derive(Debug, Clone)]
pub struct UndoStack {
    undo: VecDeque<Change>,
    redo: Vec<Change>,
    max_steps: usize,
    max_bytes: usize,
    bytes: usize,
}

impl Default for UndoStack {
    /// 200 steps, 256 MiB.
    fn default() -> Self {
        Self::new(200, 256 << 20)
    }
}

impl UndoStack {
    /// A history keeping at most `max_steps` steps and `max_bytes` bytes.
    pub fn new(max_steps: usize, max_bytes: usize) -> Self {
        Self {
            undo: VecDeque::new(),
            redo: Vec::new(),
            max_steps: max_steps.max(1),
            max_bytes,
            bytes: 0,
        }
    }

    /// Records a new step; clears the redo stack.
    pub fn push(&mut self, change: Change) {
        for c in self.redo.drain(..) {
            self.bytes -= c.bytes();
        }
        self.bytes += change.bytes();
        self.undo.push_back(change);
        while self.undo.len() > self.max_steps
            || (self.bytes > self.max_bytes && self.undo.len() > 1)
        {
            if let Some(old) = self.undo.pop_front() {
                self.bytes -= old.bytes();
            }
        }
    }

    /// Moves the last step to the redo stack and returns it, to be undone.
    pub fn pop_undo(&mut self) -> Option<&Change> {
        let c = self.undo.pop_back()?;
        self.redo.push(c);
        self.redo.last()
    }

    /// Moves the last undone step back to the undo stack and returns it, to be redone.
    pub fn pop_redo(&mut self) -> Option<&Change> {
        let c = self.redo.pop()?;
        self.undo.push_back(c);
        self.undo.back()
    }

    /// Steps that can be undone.
    pub fn undo_len(&self) -> usize {
        self.undo.len()
    }

    /// Steps that can be redone.
    pub fn redo_len(&self) -> usize {
        self.redo.len()
    }

    /// Bytes held by both stacks.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Description of the step [`Self::pop_undo`] would take.
    pub fn next_undo(&self) -> Option<&str> {
        self.undo.back().map(|c| c.description.as_str())
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.undo.clear();
        self.redo.clear();
        self.bytes = 0;
    }
}
