//! The questions the UI and the tests ask the app state about its features,
//! each a one-line delegate to the feature that owns the answer (the features'
//! logic is in their own modules: `editing`, `saving`, ...).

use super::edit_guard::Pending;
use super::export::ExportKind;
use super::figures::Figures;
use super::layers::LayerId;
use super::state::{AppState, StateError};
use crate::edit::EditSession;
use crate::mask::LabelMask;
use crate::volume::View;
use std::path::{Path, PathBuf};

impl AppState {
    /// The layer showing the edited mask.
    pub fn edit_layer(&self) -> Option<LayerId> {
        super::editing::edit_layer(&self.doc)
    }

    /// The mask being edited (None before the first edit).
    pub fn edited_mask(&self) -> Option<&LabelMask> {
        self.edit.edited_mask()
    }

    /// Starts an edit session on what the overlay shows, unless one is running.
    pub fn ensure_edit_session(&mut self) -> Result<(), StateError> {
        self.edit.ensure_session(&mut self.doc)
    }

    /// True if the current axial slice is marked as reviewed.
    pub fn axial_slice_reviewed(&self) -> bool {
        self.edit.slice_reviewed(self.slice_index(View::Axial))
    }

    /// True if edits would be lost without saving.
    pub fn has_unsaved_edits(&self) -> bool {
        self.edit.is_modified()
    }

    /// The question waiting for an answer, if any.
    pub fn pending_question(&self) -> Option<&Pending> {
        self.edit.pending_question()
    }

    /// Where the last save went.
    pub fn last_saved_mask(&self) -> Option<&Path> {
        self.edit.last_saved_mask()
    }

    /// True while the mask is being written or a save dialog is open.
    pub fn is_saving(&self) -> bool {
        self.edit.is_saving()
    }

    /// True once the window may close (the user answered the question), until
    /// `EditCommand::CloseHandled`.
    pub fn close_approved(&self) -> bool {
        self.edit.close_approved()
    }

    /// Name, progress and elapsed seconds of a running save.
    pub fn save_progress(&self) -> Option<(String, f32)> {
        self.edit.save_progress()
    }

    /// Where "Save mask" writes: next to the volume's file.
    pub fn default_save_path(&self) -> Option<PathBuf> {
        super::saving::default_save_path(&self.doc)
    }

    /// The window title: the volume's name and whether edits are unsaved.
    pub fn window_title(&self) -> String {
        let name = self
            .doc
            .entry()
            .map_or(String::new(), |v| format!(" — {}", v.name));
        let dirty = if self.has_unsaved_edits() {
            " • unsaved edits"
        } else {
            ""
        };
        format!("lungscope{name}{dirty}")
    }

    /// The segmentation result layer (the editable label map), if any.
    pub fn segmentation_layer(&self) -> Option<LayerId> {
        super::segmenting::segmentation_layer(&self.doc)
    }

    /// True while a segmentation runs.
    pub fn is_segmenting(&self) -> bool {
        self.seg.is_running()
    }

    /// The running segmentation: slices done, total, seconds.
    pub fn segmentation_progress(&self) -> Option<(usize, usize, f32)> {
        self.seg.progress()
    }

    /// True while segmentation, model loading, measuring or an export runs.
    pub fn seg_busy(&self) -> bool {
        self.seg.is_busy(&self.doc)
    }

    /// Why Segment cannot run now (None when it can).
    pub fn segment_block_reason(&self) -> Option<String> {
        self.seg.block_reason(&self.doc)
    }

    /// The figures if they match the shown masks now.
    pub fn current_figures(&self) -> Option<&Figures> {
        self.seg.figures.current(&self.doc, self.is_segmenting())
    }

    /// Why an export cannot run now (None when it can).
    pub fn export_block_reason(&self, kind: ExportKind) -> Option<String> {
        let source = self.seg.report_source();
        self.seg.exports.block_reason(kind, &self.doc, source)
    }

    /// The axial slices "fine-tune on corrections" would train on.
    pub fn corrected_slices(&self) -> Vec<usize> {
        self.edit
            .session()
            .map(EditSession::corrected_slices)
            .unwrap_or_default()
    }
}
