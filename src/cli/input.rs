//! Reading a command's input volume, with a progress bar on stderr while DICOM
//! images are decoded.

use crate::io::{self, DicomError, NiftiError, ReadProgress, SeriesChoice, SeriesIndex};
use crate::volume::Volume;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Reads a volume like [`io::open_volume`]. A DICOM file or folder shows a
/// progress bar of the images decoded on stderr, only when stderr is a
/// terminal (pipes, logs and tests see no bar).
pub fn open_volume(path: &Path, series: Option<&SeriesChoice>) -> Result<Volume, NiftiError> {
    if !io::is_dicom_path(path) {
        return io::open_volume(path, series);
    }
    with_bar(path, |progress| {
        io::open_volume_with(path, series, progress)
    })
}

/// Reads one series of an indexed DICOM input, with the same progress bar as
/// [`open_volume`].
pub fn read_series(
    index: &SeriesIndex,
    series: Option<&SeriesChoice>,
) -> Result<Volume, DicomError> {
    with_bar(index.path(), |progress| index.read(series, progress))
}

/// Runs `read` with a progress bar of the images decoded when stderr is a
/// terminal, without one otherwise.
fn with_bar<T>(path: &Path, read: impl FnOnce(&ReadProgress<'_>) -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return read(&ReadProgress::default());
    }
    // Built without drawing: the first frame comes with the image count.
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        .with_style(
            ProgressStyle::with_template(
                "{msg:30!} [{bar:30}] {pos}/{len} DICOM images {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        )
        .with_message(format!("decoding {}", display_name(path)));
    // Nothing cancels a command-line read (Ctrl-C ends the process).
    let cancel = AtomicBool::new(false);
    let report = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let result = read(&ReadProgress::new(&cancel, &report));
    bar.finish_and_clear();
    result
}

/// The last component of a path (the folder's or file's name).
fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
