//! Absolute limits on reading: the memory budget for one volume, fallible
//! allocation, and the check that an input path is a regular file.
//!
//! The budget bounds the bytes a read holds at its peak (the raw voxel buffer plus
//! the converted voxels), whatever the compressed size of the file. The default is
//! [`DEFAULT_MAX_READ_BYTES`] or half of the physical memory, whichever is smaller;
//! the environment variable [`MAX_READ_BYTES_ENV`] overrides it (bytes, or with a
//! `K`, `M`, `G` suffix in powers of 1024).

use super::error::NiftiError;
use std::path::Path;

/// Default read budget: 8 GiB (capped at half of the physical memory).
pub const DEFAULT_MAX_READ_BYTES: u64 = 8 << 30;

/// Environment variable that overrides the read budget.
pub const MAX_READ_BYTES_ENV: &str = "LUNGSCOPE_MAX_READ_BYTES";

/// Parses a byte count: digits with an optional `K`/`M`/`G`/`T` suffix (powers of
/// 1024, an optional trailing `B` or `iB`). `None` if it is not one.
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s
        .strip_suffix("iB")
        .or_else(|| s.strip_suffix('B'))
        .unwrap_or(s);
    let (num, shift) = match s.chars().last()?.to_ascii_uppercase() {
        'K' => (&s[..s.len() - 1], 10),
        'M' => (&s[..s.len() - 1], 20),
        'G' => (&s[..s.len() - 1], 30),
        'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(1u64 << shift)
}

/// Physical memory in bytes, where the platform says.
fn physical_memory() -> Option<u64> {
    #[cfg(unix)]
    {
        // SAFETY: sysconf only reads system configuration values.
        let (pages, size) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        if pages > 0 && size > 0 {
            return (pages as u64).checked_mul(size as u64);
        }
    }
    None
}

/// The read budget in bytes: [`MAX_READ_BYTES_ENV`] when set to a valid size,
/// else the smaller of [`DEFAULT_MAX_READ_BYTES`] and half of the physical memory.
pub fn max_read_bytes() -> u64 {
    if let Ok(v) = std::env::var(MAX_READ_BYTES_ENV) {
        match parse_bytes(&v) {
            Some(b) => return b,
            None => tracing::warn!("ignoring {MAX_READ_BYTES_ENV}={v:?}: not a byte count"),
        }
    }
    let half = physical_memory().map_or(u64::MAX, |m| m / 2);
    DEFAULT_MAX_READ_BYTES.min(half)
}

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
