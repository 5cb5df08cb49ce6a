//! Opening a CT volume from whatever the user gives: a NIfTI file, a DICOM file or
//! a folder of DICOM files.

use super::dicom::{self, ReadProgress, SeriesChoice};
use super::error::NiftiError;
use crate::volume::Volume;
use std::path::Path;

/// True if `path` should be read as DICOM: a folder, a file with the `DICM` marker
/// at byte 128, a `.dcm` file or a DICOMDIR.
pub fn is_dicom_path(path: &Path) -> bool {
    if path.is_dir() {
        return true;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.ends_with(".dcm") || name == "dicomdir" || dicom::is_dicom_file(path)
}

/// Reads a volume: folders and DICOM files through the DICOM reader (with
/// `series` choosing among several series), anything else as NIfTI.
pub fn open_volume(path: &Path, series: Option<&SeriesChoice>) -> Result<Volume, NiftiError> {
    open_volume_with(path, series, &ReadProgress::default())
}

/// [`open_volume`] with progress and cancellation of DICOM decoding (see
/// [`dicom::read_dicom_with`]); a NIfTI file is read in one step, without
/// progress.
pub fn open_volume_with(
    path: &Path,
    series: Option<&SeriesChoice>,
    progress: &ReadProgress<'_>,
) -> Result<Volume, NiftiError> {
    // Before anything opens it: a FIFO or device would block or never end.
    super::limits::check_file_or_dir(path)?;
    if is_dicom_path(path) {
        Ok(dicom::read_dicom_with(path, series, progress)?)
    } else {
        super::read_volume(path)
    }
}
