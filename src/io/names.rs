//! The default names of mask files.
//!
//! `lungscope segment` writes the model's label map as `<stem>_seg.nii.gz`; the
//! viewer's **Save mask** writes a hand-corrected mask as `<stem>_edited.nii.gz`, a
//! different name, so a new segmentation never lands on a correction (and `segment`
//! refuses to replace an existing `*_edited` file even with `--overwrite`).

use std::path::Path;

/// The suffix of model label maps written by `segment` (`case_seg.nii.gz`).
pub const MODEL_MASK_SUFFIX: &str = "_seg";
/// The suffix of hand-corrected masks saved by the viewer (`case_edited.nii.gz`).
pub const EDITED_MASK_SUFFIX: &str = "_edited";

/// `<stem>_seg.nii.gz`.
pub fn model_mask_name(stem: &str) -> String {
    format!("{stem}{MODEL_MASK_SUFFIX}.nii.gz")
}

/// `<stem>_edited.nii.gz`.
pub fn edited_mask_name(stem: &str) -> String {
    format!("{stem}{EDITED_MASK_SUFFIX}.nii.gz")
}

/// The file name without `.nii.gz` / `.nii` (case-insensitive), if it has one.
fn nifti_base(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let lower = name.to_ascii_lowercase();
    [".nii.gz", ".nii"]
        .iter()
        .find(|ext| lower.ends_with(*ext))
        .map(|ext| name[..name.len() - ext.len()].to_string())
}

/// The name outputs are derived from: the file name without `.nii` / `.nii.gz`
/// (case-insensitive); for DICOM, `x.dcm` → `x`, and a folder or an extensionless
/// DICOM file keeps its whole name (UIDs contain dots); anything else loses its last
/// extension. Used by `segment`, `report` and the viewer's export names.
pub fn nifti_stem(path: &Path) -> String {
    if let Some(base) = nifti_base(path) {
        return base;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.to_ascii_lowercase().ends_with(".dcm") {
        return name[..name.len() - 4].to_string();
    }
    if path.is_dir() || super::dicom::is_dicom_file(path) {
        return name;
    }
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or(name)
}

/// True for a NIfTI file named like a mask lungscope writes (`*_seg` or `*_edited`),
/// which a folder of CTs given to `segment` skips.
pub fn is_mask_name(path: &Path) -> bool {
    nifti_base(path)
        .is_some_and(|b| b.ends_with(MODEL_MASK_SUFFIX) || b.ends_with(EDITED_MASK_SUFFIX))
}

/// True for a NIfTI file named like a hand-corrected mask (`*_edited.nii[.gz]`).
pub fn is_edited_mask_name(path: &Path) -> bool {
    nifti_base(path).is_some_and(|b| b.ends_with(EDITED_MASK_SUFFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(model_mask_name("case_ct"), "case_ct_seg.nii.gz");
        assert_eq!(edited_mask_name("case_ct"), "case_ct_edited.nii.gz");
        assert!(is_mask_name(Path::new("d/a_seg.nii.gz")));
        assert!(!is_mask_name(Path::new("a_EDITED.nii")));
        assert!(is_mask_name(Path::new("a_edited.NII")));
        assert!(is_edited_mask_name(Path::new("a_edited.nii.gz")));
        assert!(!is_edited_mask_name(Path::new("a_seg.nii.gz")));
        assert!(!is_mask_name(Path::new("a.nii.gz")));
        assert!(!is_mask_name(Path::new("a_seg.json")));
    }

    #[test]
    fn stems() {
        assert_eq!(nifti_stem(Path::new("d/case_ct.nii.gz")), "case_ct");
        assert_eq!(nifti_stem(Path::new("Case.NII.GZ")), "Case");
        assert_eq!(nifti_stem(Path::new("a.b.nii")), "a.b");
        assert_eq!(nifti_stem(Path::new("slice.DCM")), "slice");
        assert_eq!(nifti_stem(Path::new("no-such/notes.txt")), "notes");
    }
}
