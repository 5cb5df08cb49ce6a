//! The data of saving the edited mask and of the question asked before unsaved
//! edits would be lost (closing the window, closing the volume, or loading
//! another volume): the [`Guard`] the edit state keeps (the save job, the
//! [`Pending`] action), the user's [`Choice`], and where a mask is saved by
//! default. `saving` does the work.
//!
//! "Save mask" writes the session's label map next to the source volume as
//! `<stem>_edited.nii.gz` ([`default_mask_path`]: a name of its own, so
//! `lungscope segment`, which writes `<stem>_seg.nii.gz`, never replaces a
//! correction).

use super::jobs::Job;
use super::loading::{Loaded, file_name};
use std::path::{Path, PathBuf};

/// What the user was about to do when asked about unsaved edits.
pub enum Pending {
    /// Close the window.
    CloseWindow,
    /// Unload the volume and its masks.
    CloseVolume,
    /// Remove the layer that shows the edited mask (ends the edit session).
    RemoveEditLayer,
    /// Show a newly loaded volume (and the files loaded with or after it).
    Loaded(Vec<Loaded>),
}

impl Pending {
    /// What would happen, for the question.
    pub fn describe(&self) -> String {
        match self {
            Pending::CloseWindow => "Close lungscope".into(),
            Pending::CloseVolume => "Close the volume".into(),
            Pending::RemoveEditLayer => "Remove the edited mask".into(),
            Pending::Loaded(items) => {
                let name = items.iter().find_map(|i| match i {
                    Loaded::Volume { path, .. } => Some(file_name(path)),
                    _ => None,
                });
                format!("Open {}", name.unwrap_or_else(|| "another volume".into()))
            }
        }
    }
}

/// The answer to "Save the edited mask?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Save, then go on.
    Save,
    /// Go on without saving.
    Discard,
    /// Stay as before.
    Cancel,
}

/// A save running in the background.
pub(super) struct SaveJob {
    pub(super) job: Job<PathBuf>,
    /// The edit generation written (the session is marked saved only if nothing
    /// was edited meanwhile).
    pub(super) generation: u64,
    /// What to do once saved.
    pub(super) then: Option<Pending>,
}

/// Save jobs and the pending question.
#[derive(Default)]
pub struct Guard {
    pub(super) pending: Option<Pending>,
    pub(super) save: Option<SaveJob>,
    pub(super) dialog: Option<Job<Vec<PathBuf>>>,
    pub(super) close_approved: bool,
    pub(super) last_saved: Option<PathBuf>,
}

/// `<stem>_edited.nii.gz` next to `source` (`case.nii.gz` → `case_edited.nii.gz`).
pub fn default_mask_path(source: &Path) -> PathBuf {
    let name = file_name(source);
    let lower = name.to_lowercase();
    let stem = if lower.ends_with(".nii.gz") {
        &name[..name.len() - 7]
    } else if lower.ends_with(".nii") || lower.ends_with(".dcm") {
        &name[..name.len() - 4]
    } else {
        name.as_str()
    };
    source.with_file_name(crate::io::names::edited_mask_name(stem))
}

/// A chosen save path with a NIfTI extension (`.nii.gz` added when it has none).
pub fn with_nifti_extension(path: PathBuf) -> PathBuf {
    let lower = file_name(&path).to_lowercase();
    if lower.ends_with(".nii") || lower.ends_with(".nii.gz") {
        path
    } else {
        let mut s = path.into_os_string();
        s.push(".nii.gz");
        PathBuf::from(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_is_next_to_the_source_with_its_own_suffix() {
        assert_eq!(
            default_mask_path(Path::new("/d/case_ct.nii.gz")),
            PathBuf::from("/d/case_ct_edited.nii.gz")
        );
        assert_eq!(
            default_mask_path(Path::new("/d/A.NII")),
            PathBuf::from("/d/A_edited.nii.gz")
        );
        assert_eq!(
            default_mask_path(Path::new("/d/slice.dcm")),
            PathBuf::from("/d/slice_edited.nii.gz")
        );
        assert_eq!(
            with_nifti_extension(PathBuf::from("/d/mask")),
            PathBuf::from("/d/mask.nii.gz")
        );
        assert_eq!(
            with_nifti_extension(PathBuf::from("/d/m.nii")),
            PathBuf::from("/d/m.nii")
        );
    }
}
