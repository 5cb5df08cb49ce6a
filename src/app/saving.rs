//! Saving the edited mask, and the question asked before unsaved edits would be lost
//! (closing the window, closing the volume, or loading another volume), applied to
//! the state; the data (the [`Guard`](super::edit_guard::Guard), [`Pending`],
//! [`Choice`]) lives in `edit_guard`.
//!
//! "Save mask" writes the session's label map next to the source volume as
//! `<stem>_edited.nii.gz` (never over the source: `io::write_mask` refuses) in a
//! background job; `io::write_mask` writes atomically (temporary file, then rename).
//! The session is marked saved only if nothing was edited while the file was
//! written.
//!
//! Removing the "Edited mask" layer with unsaved edits asks too.
//!
//! A volume that arrives from a load while edits are unsaved is held back, with
//! every file loaded after it, until the user answers **Save** (save, then show the
//! new volume), **Discard** (show it now) or **Cancel** (drop it, keep editing).

use super::commands::Command;
use super::dialog::{FileDialog, Pick};
use super::edit_guard::{Choice, Pending, SaveJob, default_mask_path, with_nifti_extension};
use super::edit_state::EditCommand;
use super::jobs::{Job, JobStatus};
use super::loading::{Loaded, file_name};
use super::state::AppState;
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl AppState {
    /// True if edits would be lost without saving.
    pub fn has_unsaved_edits(&self) -> bool {
        self.edit.is_modified()
    }

    /// The question waiting for an answer, if any.
    pub fn pending_question(&self) -> Option<&Pending> {
        self.edit.guard.pending.as_ref()
    }

    /// Where the last save went.
    pub fn last_saved_mask(&self) -> Option<&Path> {
        self.edit.guard.last_saved.as_deref()
    }

    /// True while the mask is being written or a save dialog is open.
    pub fn is_saving(&self) -> bool {
        self.edit.guard.save.is_some() || self.edit.guard.dialog.is_some()
    }

    /// True once the window may close (the user answered the question); reading it
    /// clears it.
    pub fn take_close_approved(&mut self) -> bool {
        std::mem::take(&mut self.edit.guard.close_approved)
    }

    /// Where "Save mask" writes: next to the volume's file.
    pub fn default_save_path(&self) -> Option<PathBuf> {
        self.doc
            .entry()
            .and_then(|v| v.path.as_deref())
            .map(default_mask_path)
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

    /// Asks before `action` would drop unsaved edits. Returns true if the question
    /// is now pending (the caller must not go on), false if there is nothing to lose.
    pub fn ask_before_discarding(&mut self, action: Pending) -> bool {
        if !self.has_unsaved_edits() {
            return false;
        }
        if self.edit.guard.pending.is_none() {
            self.edit.guard.pending = Some(action);
        }
        true
    }

    /// Holds back a loaded volume while edits are unsaved, and any item that
    /// arrives after a held-back volume. Returns the item if it can be applied now.
    pub(super) fn defer_loaded(&mut self, item: Loaded) -> Option<Loaded> {
        let guard = &mut self.edit.guard;
        let held = match (&mut guard.pending, guard.save.as_mut()) {
            (Some(Pending::Loaded(items)), _) => Some(items),
            (
                _,
                Some(SaveJob {
                    then: Some(Pending::Loaded(items)),
                    ..
                }),
            ) => Some(items),
            _ => None,
        };
        if let Some(items) = held {
            items.push(item);
            return None;
        }
        if !matches!(item, Loaded::Volume { .. }) || !self.has_unsaved_edits() {
            return Some(item);
        }
        if self.edit.guard.pending.is_some() {
            self.push_info("A volume was loaded while a question was open; it was not opened");
            return None;
        }
        self.edit.guard.pending = Some(Pending::Loaded(vec![item]));
        None
    }

    pub(super) fn apply_guard_command(&mut self, command: &EditCommand) {
        match command {
            EditCommand::Save => self.save_mask(None, None),
            EditCommand::SaveTo(path) => self.save_mask(Some(path.clone()), None),
            EditCommand::ChooseSavePath => self.open_save_dialog(),
            EditCommand::Answer(choice) => self.answer(*choice),
            _ => {}
        }
    }

    fn answer(&mut self, choice: Choice) {
        let Some(pending) = self.edit.guard.pending.take() else {
            return;
        };
        match choice {
            Choice::Cancel => {
                if matches!(pending, Pending::Loaded(_)) {
                    self.push_info("Not opened: the edited mask stays");
                }
            }
            Choice::Discard => {
                self.edit.session = None;
                self.edit.stroke = None;
                self.perform(pending);
            }
            Choice::Save => self.save_mask(None, Some(pending)),
        }
    }

    fn perform(&mut self, pending: Pending) {
        match pending {
            Pending::CloseWindow => self.edit.guard.close_approved = true,
            Pending::CloseVolume => self.apply(Command::CloseVolume),
            Pending::RemoveEditLayer => {
                if let Some(i) = self.edit_layer() {
                    self.apply(Command::RemoveLayer(i));
                }
            }
            Pending::Loaded(items) => {
                for item in items {
                    self.apply_loaded(item);
                }
            }
        }
    }

    /// Starts writing the edited mask to `path` (default: next to the source), then
    /// does `then`. On a failure before the job starts, the question comes back.
    fn save_mask(&mut self, path: Option<PathBuf>, then: Option<Pending>) {
        let target = match self.save_target(path) {
            Ok(t) => t,
            Err(message) => {
                self.push_error(message);
                if then.is_some() {
                    self.edit.guard.pending = then;
                }
                return;
            }
        };
        let (path, mask, volume) = target;
        let name = format!("Saving {}", file_name(&path));
        let job = Job::spawn(name, self.waker(), move |ctx| {
            ctx.set_progress(-1.0, format!("Writing {}", path.display()));
            crate::io::write_mask(&path, &mask, Some(&volume))?;
            Ok(path)
        });
        self.edit.guard.save = Some(SaveJob {
            job,
            generation: self.edit.generation,
            then,
        });
    }

    #[allow(clippy::type_complexity)]
    fn save_target(
        &self,
        path: Option<PathBuf>,
    ) -> Result<(PathBuf, crate::mask::LabelMask, Arc<crate::volume::Volume>), String> {
        if self.edit.guard.save.is_some() {
            return Err("the mask is being saved already".into());
        }
        let session = self
            .edit
            .session
            .as_ref()
            .ok_or("nothing to save: no mask has been edited")?;
        let volume = self
            .doc
            .volume_arc()
            .ok_or("nothing to save: no volume is loaded")?;
        let path = path.or_else(|| self.default_save_path()).ok_or(
            "the volume was not read from a file; choose where to save with File > Save mask as…",
        )?;
        Ok((path, session.mask().clone(), volume))
    }

    fn open_save_dialog(&mut self) {
        if self.edit.guard.dialog.is_some() {
            return;
        }
        let start = self.default_save_path();
        let dialog = FileDialog::new("Save mask as", Pick::Save)
            .filter("NIfTI", &["nii.gz", "nii"])
            .directory(
                start
                    .as_deref()
                    .and_then(Path::parent)
                    .map(Path::to_path_buf),
            )
            .file_name(start.as_deref().map(file_name));
        self.edit.guard.dialog = Some(dialog.spawn(self.waker()));
    }

    /// Polls the save job and the save dialog. Called every frame.
    pub(super) fn poll_edit_jobs(&mut self) {
        self.check_edit_session();
        if let Some(d) = self.edit.guard.dialog.as_mut() {
            match d.poll() {
                JobStatus::Running => {}
                JobStatus::Done(picked) => {
                    self.edit.guard.dialog = None;
                    if let Some(p) = picked.into_iter().next() {
                        self.save_mask(Some(with_nifti_extension(p)), None);
                    }
                }
                JobStatus::Cancelled => self.edit.guard.dialog = None,
                JobStatus::Failed(e) => {
                    self.edit.guard.dialog = None;
                    self.push_error(format!("save dialog failed: {e}"));
                }
            }
        }
        let Some(save) = self.edit.guard.save.as_mut() else {
            return;
        };
        let status = save.job.poll();
        if matches!(status, JobStatus::Running) {
            return;
        }
        let Some(save) = self.edit.guard.save.take() else {
            return;
        };
        match status {
            JobStatus::Done(path) => {
                if save.generation == self.edit.generation
                    && let Some(s) = self.edit.session.as_mut()
                {
                    s.mark_saved();
                }
                self.push_info(format!("Mask saved: {}", path.display()));
                self.edit.guard.last_saved = Some(path);
                if let Some(then) = save.then {
                    self.perform(then);
                }
            }
            JobStatus::Failed(message) => {
                self.push_error(format!("saving the mask failed: {message}"));
                self.edit.guard.pending = save.then;
            }
            JobStatus::Cancelled | JobStatus::Running => {
                self.edit.guard.pending = save.then;
            }
        }
    }

    /// Name, progress and elapsed seconds of a running save.
    pub fn save_progress(&self) -> Option<(String, f32)> {
        self.edit
            .guard
            .save
            .as_ref()
            .map(|s| (s.job.name().to_string(), s.job.elapsed().as_secs_f32()))
    }
}
