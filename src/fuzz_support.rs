//! Entry points for fuzzing the readers of untrusted files.
//!
//! Shared by the coverage-guided `cargo fuzz` targets in `fuzz/` and by the corpus
//! smoke test `tests/io/fuzz_corpus.rs` (which CI runs on stable Rust). Each function
//! takes the bytes of one file, hands them to a reader the way a user's file
//! reaches it (through a file on disk, since the readers memory-map and sniff
//! files), and exercises what the program does next with a successful result.
//! An error is a correct outcome; a panic, an abort, a hang or unbounded memory is
//! a defect. See `docs/fuzzing.md`.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::fsutil::ScratchDir;
use crate::io::{open_volume, read_header, read_mask, read_volume};
use crate::volume::View;

thread_local! {
    /// A fresh private scratch folder of one thread, removed when the thread ends.
    static SCRATCH: RefCell<Option<ScratchDir>> = const { RefCell::new(None) };
}

/// Writes `data` to `name` in a per-thread scratch folder and runs `f` on the path.
/// Returns `None` when the scratch file cannot be written (the harness, not the
/// reader, failed).
fn with_file<R>(name: &str, data: &[u8], f: impl FnOnce(&Path) -> R) -> Option<R> {
    let path: PathBuf = SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.is_none() {
            *s = Some(ScratchDir::new("lungscope-fuzz").ok()?);
        }
        s.as_ref().map(|d| d.path().join(name))
    })?;
    std::fs::write(&path, data).ok()?;
    Some(f(&path))
}

/// A NIfTI file (`.nii`; gzip is detected by its magic): header, volume and mask
/// reading; on success the intensity statistics, the HU check and the middle slice
/// of each view.
pub fn nifti(data: &[u8]) {
    with_file("input.nii", data, |path| {
        let _ = read_header(path);
        let _ = read_mask(path, None);
        if let Ok(volume) = read_volume(path) {
            let _ = volume.hu_check();
            let _ = volume.geometry.orientation();
            for view in [View::Axial, View::Coronal, View::Sagittal] {
                let n = volume.slice_count(view);
                if n > 0 {
                    let _ = volume.slice(view, n / 2);
                }
            }
        }
    });
}

/// A DICOM file (read as a one-file study, as `lungscope info file.dcm` does); on
/// success the HU check and the middle axial slice.
pub fn dicom(data: &[u8]) {
    with_file("input.dcm", data, |path| {
        if let Ok(volume) = open_volume(path, None) {
            let _ = volume.hu_check();
            let n = volume.slice_count(View::Axial);
            if n > 0 {
                let _ = volume.slice(View::Axial, n / 2);
            }
        }
    });
}

/// A `.lsm` model file: validated and, when valid, built on the CPU.
pub fn lsm(data: &[u8]) {
    let _ = crate::seg::model::weights::load_bytes(data, Path::new("input.lsm"), &Device::flex());
}
