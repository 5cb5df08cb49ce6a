//! Saving the edited mask, and the question asked before unsaved edits would be lost
//! (closing the window, closing the volume, or loading another volume); the data
//! (the [`Guard`](super::edit_guard::Guard), [`Pending`], [`Choice`]) lives in
//! `edit_guard`.
//!
//! The save job, the save dialog and the question are [`EditState`]'s methods on a
//! [`Ctx`]. What the user was about to do ([`Pending`]) touches the whole app
//! (close the window or the volume, remove a layer, show loaded files), so when an
//! answer or a finished save lets it go on, the edit state returns it and
//! `AppState` carries it out: that orchestration is the one `impl AppState` here.
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
use super::context::Ctx;
use super::dialog::{FileDialog, Pick};
use super::document::Document;
use super::edit_guard::{Choice, Pending, SaveJob, default_mask_path, with_nifti_extension};
use super::edit_state::{EditCommand, EditState};
use super::jobs::{Job, JobStatus};
use super::loading::{Loaded, file_name};
use super::state::AppState;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where "Save mask" writes: next to the volume's file.
pub fn default_save_path(doc: &Document) -> Option<PathBuf> {
    doc.entry()
        .and_then(|v| v.path.as_deref())
        .map(default_mask_path)
}

impl EditState {
    /// The question waiting for an answer, if any.
    pub fn pending_question(&self) -> Option<&Pending> {
        self.guard.pending.as_ref()
    }

    /// Where the last save went.
    pub fn last_saved_mask(&self) -> Option<&Path> {
        self.guard.last_saved.as_deref()
    }

    /// True while the mask is being written or a save dialog is open.
    pub fn is_saving(&self) -> bool {
        self.guard.save.is_some() || self.guard.dialog.is_some()
    }

    /// True once the window may close (the user answered the question), until
    /// [`EditCommand::CloseHandled`].
    pub fn close_approved(&self) -> bool {
        self.guard.close_approved
    }

    /// Lets the window close (the user answered the question).
    pub fn approve_close(&mut self) {
        self.guard.close_approved = true;
    }

    /// Name, progress and elapsed seconds of a running save.
    pub fn save_progress(&self) -> Option<(String, f32)> {
        self.guard
            .save
            .as_ref()
            .map(|s| (s.job.name().to_string(), s.job.elapsed().as_secs_f32()))
    }

    /// Asks before `action` would drop unsaved edits. Returns true if the question
    /// is now pending (the caller must not go on), false if there is nothing to lose.
    pub fn ask_before_discarding(&mut self, action: Pending) -> bool {
        if !self.is_modified() {
            return false;
        }
        if self.guard.pending.is_none() {
            self.guard.pending = Some(action);
        }
        true
    }

    /// Holds back a loaded volume while edits are unsaved, and any item that
    /// arrives after a held-back volume. Returns the item if it can be applied now.
    pub fn defer_loaded(&mut self, item: Loaded, cx: &mut Ctx<'_>) -> Option<Loaded> {
        let guard = &mut self.guard;
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
        if !matches!(item, Loaded::Volume { .. }) || !self.is_modified() {
            return Some(item);
        }
        if self.guard.pending.is_some() {
            cx.push_info("A volume was loaded while a question was open; it was not opened");
            return None;
        }
        self.guard.pending = Some(Pending::Loaded(vec![item]));
        None
    }

    /// Applies a saving or question command ([`EditCommand::is_guard`]). Returns
    /// the action the user was about to do when it may now go on.
    pub fn apply_guard(&mut self, command: EditCommand, cx: &mut Ctx<'_>) -> Option<Pending> {
        match command {
            EditCommand::Save => self.save(None, None, cx),
            EditCommand::SaveTo(path) => self.save(Some(path), None, cx),
            EditCommand::ChooseSavePath => self.open_save_dialog(cx),
            EditCommand::Answer(choice) => return self.answer(choice, cx),
            EditCommand::RequestClose => {
                self.ask_before_discarding(Pending::CloseWindow);
            }
            EditCommand::CloseHandled => self.guard.close_approved = false,
            _ => {}
        }
        None
    }

    fn answer(&mut self, choice: Choice, cx: &mut Ctx<'_>) -> Option<Pending> {
        let pending = self.guard.pending.take()?;
        match choice {
            Choice::Cancel => {
                if matches!(pending, Pending::Loaded(_)) {
                    cx.push_info("Not opened: the edited mask stays");
                }
                None
            }
            Choice::Discard => {
                self.session = None;
                self.stroke = None;
                Some(pending)
            }
            Choice::Save => {
                self.save(None, Some(pending), cx);
                None
            }
        }
    }

    /// Starts writing the edited mask to `path` (default: next to the source), then
    /// does `then`. On a failure before the job starts, the question comes back.
    fn save(&mut self, path: Option<PathBuf>, then: Option<Pending>, cx: &mut Ctx<'_>) {
        let target = match self.save_target(path, cx.doc) {
            Ok(t) => t,
            Err(message) => {
                cx.push_error(message);
                if then.is_some() {
                    self.guard.pending = then;
                }
                return;
            }
        };
        let (path, mask, volume) = target;
        let name = format!("Saving {}", file_name(&path));
        let job = Job::spawn(name, cx.waker(), move |ctx| {
            ctx.set_progress(-1.0, format!("Writing {}", path.display()));
            crate::io::write_mask(&path, &mask, Some(&volume))?;
            Ok(path)
        });
        self.guard.save = Some(SaveJob {
            job,
            generation: self.generation,
            then,
        });
    }

    #[allow(clippy::type_complexity)]
    fn save_target(
        &self,
        path: Option<PathBuf>,
        doc: &Document,
    ) -> Result<(PathBuf, crate::mask::LabelMask, Arc<crate::volume::Volume>), String> {
        if self.guard.save.is_some() {
            return Err("the mask is being saved already".into());
        }
        let session = self
            .session
            .as_ref()
            .ok_or("nothing to save: no mask has been edited")?;
        let volume = doc
            .volume_arc()
            .ok_or("nothing to save: no volume is loaded")?;
        let path = path.or_else(|| default_save_path(doc)).ok_or(
            "the volume was not read from a file; choose where to save with File > Save mask as…",
        )?;
        Ok((path, session.mask().clone(), volume))
    }

    fn open_save_dialog(&mut self, cx: &mut Ctx<'_>) {
        if self.guard.dialog.is_some() {
            return;
        }
        let start = default_save_path(cx.doc);
        let dialog = FileDialog::new("Save mask as", Pick::Save)
            .filter("NIfTI", &["nii.gz", "nii"])
            .directory(
                start
                    .as_deref()
                    .and_then(Path::parent)
                    .map(Path::to_path_buf),
            )
            .file_name(start.as_deref().map(file_name));
        self.guard.dialog = Some(dialog.spawn(cx.waker()));
    }

    /// Drops a session whose layer is gone, polls the save dialog and the save job.
    /// Returns what a finished save lets go on. Called every frame.
    pub fn poll_jobs(&mut self, cx: &mut Ctx<'_>) -> Option<Pending> {
        self.check_session(cx.doc);
        if let Some(d) = self.guard.dialog.as_mut() {
            match d.poll() {
                JobStatus::Running => {}
                JobStatus::Done(picked) => {
                    self.guard.dialog = None;
                    if let Some(p) = picked.into_iter().next() {
                        self.save(Some(with_nifti_extension(p)), None, cx);
                    }
                }
                JobStatus::Cancelled => self.guard.dialog = None,
                JobStatus::Failed(e) => {
                    self.guard.dialog = None;
                    cx.push_error(format!("save dialog failed: {e}"));
                }
            }
        }
        let save = self.guard.save.as_mut()?;
        let status = save.job.poll();
        if matches!(status, JobStatus::Running) {
            return None;
        }
        let save = self.guard.save.take()?;
        match status {
            JobStatus::Done(path) => {
                if save.generation == self.generation
                    && let Some(s) = self.session.as_mut()
                {
                    s.mark_saved();
                }
                cx.push_info(format!("Mask saved: {}", path.display()));
                self.guard.last_saved = Some(path);
                return save.then;
            }
            JobStatus::Failed(message) => {
                cx.push_error(format!("saving the mask failed: {message}"));
                self.guard.pending = save.then;
            }
            JobStatus::Cancelled | JobStatus::Running => {
                self.guard.pending = save.then;
            }
        }
        None
    }
}

impl AppState {
    /// Carries out a saving or question command; what the user was about to do
    /// goes on if the answer lets it.
    pub(super) fn apply_guard_command(&mut self, command: EditCommand) {
        let mut parts = self.parts();
        if let Some(pending) = parts.edit.apply_guard(command, &mut parts.cx) {
            self.perform(pending);
        }
    }

    /// Polls the save job and the save dialog; a finished save lets the pending
    /// action go on. Called every frame.
    pub(super) fn poll_edit_jobs(&mut self) {
        let mut parts = self.parts();
        if let Some(then) = parts.edit.poll_jobs(&mut parts.cx) {
            self.perform(then);
        }
    }

    /// Does what the user was about to do when asked about unsaved edits.
    fn perform(&mut self, pending: Pending) {
        match pending {
            Pending::CloseWindow => self.edit.approve_close(),
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
}
