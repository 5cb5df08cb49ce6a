//! Absolute limits on reading: the memory budget for one volume, fallible
//! allocation, and the check that an input path is a regular file.
//!
//! The budget ([`max_read_bytes`]) is defined in `io::budget`, which has no NIfTI
//! error type so that the DICOM reader can check it too, and re-exported here.

pub use super::budget::{DEFAULT_MAX_READ_BYTES, MAX_READ_BYTES_ENV, max_read_bytes, parse_bytes};
use super::error::NiftiError;
use std::path::Path;

/// Refuses a read that needs more than the budget.
pub fn check_budget(needed: u64, path: &Path) -> Result<(), NiftiError> {
    let budget = max_read_bytes();
    if needed > budget {
        return Err(NiftiError::OverBudget {
            needed,
            budget,
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// A vector of `n` default values, allocated fallibly: an allocation the system
/// refuses is an error naming the file, not an abort.
pub fn try_vec<T: Clone + Default>(n: usize, path: &Path) -> Result<Vec<T>, NiftiError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| NiftiError::OutOfMemory {
            bytes: (n as u64).saturating_mul(std::mem::size_of::<T>() as u64),
            path: path.to_path_buf(),
        })?;
    v.resize(n, T::default());
    Ok(v)
}

/// Refuses paths that are not regular files (FIFOs, devices, sockets, folders)
/// before they are opened: opening a FIFO would block forever.
pub fn check_regular_file(path: &Path) -> Result<(), NiftiError> {
    let meta = std::fs::metadata(path).map_err(|e| NiftiError::io("stat", path, e))?;
    if meta.is_file() {
        return Ok(());
    }
    let kind = file_kind(&meta);
    Err(NiftiError::NotRegularFile {
        kind,
        path: path.to_path_buf(),
    })
}

/// Refuses paths that are neither regular files nor folders (the DICOM reader
/// takes folders).
pub fn check_file_or_dir(path: &Path) -> Result<(), NiftiError> {
    let meta = std::fs::metadata(path).map_err(|e| NiftiError::io("stat", path, e))?;
    if meta.is_file() || meta.is_dir() {
        return Ok(());
    }
    Err(NiftiError::NotRegularFile {
        kind: file_kind(&meta),
        path: path.to_path_buf(),
    })
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    if meta.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_parse() {
        assert_eq!(parse_bytes("1024"), Some(1024));
        assert_eq!(parse_bytes("64M"), Some(64 << 20));
        assert_eq!(parse_bytes("2GiB"), Some(2 << 30));
        assert_eq!(parse_bytes("8g"), Some(8 << 30));
        assert_eq!(parse_bytes("x"), None);
        assert_eq!(parse_bytes(""), None);
    }

    #[test]
    fn allocation_failure_is_an_error() {
        let e = try_vec::<u64>(usize::MAX / 4, Path::new("x.nii")).unwrap_err();
        assert!(matches!(e, NiftiError::OutOfMemory { .. }), "{e}");
    }
}
