//! A fresh private folder for scratch files (benchmarks), removed when dropped.
//!
//! The folder gets an unguessable name (`<prefix>-<64 random bits>`) and is created
//! with [`std::fs::create_dir`], which fails on anything already there: it never
//! reuses an existing folder or follows a planted link, so removing it afterwards
//! can only remove what was written into it.

use super::atomic::random_u64;
use std::io;
use std::path::{Path, PathBuf};

/// How many names are tried before giving up.
const NAME_TRIES: usize = 32;

/// A folder this process created and removes (with its content) when dropped.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// A new folder in the system's temporary folder.
    pub fn new(prefix: &str) -> io::Result<Self> {
        Self::new_in(&std::env::temp_dir(), prefix)
    }

    /// A new folder inside `parent` (which must exist).
    pub fn new_in(parent: &Path, prefix: &str) -> io::Result<Self> {
        let mut last = None;
        for _ in 0..NAME_TRIES {
            let path = parent.join(format!("{prefix}-{:016x}", random_u64()));
            match create_private_dir(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Creates `path` (not its parents), readable by this user only on Unix.
fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_fresh_and_removed_with_their_content() {
        let parent = tempfile::tempdir().expect("temp dir");
        let user_file = parent.path().join("bench_mask.nii.gz");
        std::fs::write(&user_file, b"mine").expect("write");
        let a = ScratchDir::new_in(parent.path(), "lungscope-bench").expect("scratch");
        let b = ScratchDir::new_in(parent.path(), "lungscope-bench").expect("scratch");
        assert_ne!(a.path(), b.path());
        assert_eq!(a.path().parent(), Some(parent.path()));
        std::fs::write(a.path().join("bench_mask.nii.gz"), b"scratch").expect("write");
        let kept = a.path().to_path_buf();
        drop(a);
        assert!(!kept.exists(), "removed with its content");
        assert!(b.path().is_dir());
        assert_eq!(std::fs::read(&user_file).expect("read"), b"mine");
        let missing = parent.path().join("no/such");
        assert!(ScratchDir::new_in(&missing, "x").is_err());
    }
}
