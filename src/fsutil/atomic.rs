//! Atomic file writing.
//!
//! The bytes go to a temporary file in the target's folder whose name cannot be
//! guessed (`.<name>.tmp-<64 random bits>`), created with `O_CREAT | O_EXCL`
//! ([`OpenOptions::create_new`]): an existing file or a symbolic link planted under
//! that name is never opened or followed, a collision just draws another name. The
//! file is written, synced, renamed over the target, and on Unix the folder is synced
//! too, so the rename itself survives a crash. A reader sees the old file or the
//! whole new one, never a half-written one; on failure the temporary file is removed
//! and the target is untouched.

use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::FsError;

/// How many temporary names are tried before giving up (each is 64 random bits, so
/// more than one is only needed when someone plants files on purpose).
const NAME_TRIES: usize = 32;
/// The longest part of the target's name kept in the temporary name (the whole
/// name must stay under the usual 255-byte limit).
const MAX_NAME_PART: usize = 96;

/// Writes `bytes` to `path` atomically (see the module documentation).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Writes `path` atomically with `fill`, which writes the content into the
/// temporary file (see the module documentation).
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), FsError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            FsError::new(
                "name",
                path,
                io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"),
            )
        })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tmp, mut file) = create_temporary(&dir, &name)?;
    let result = (|| {
        fill(&mut file).map_err(|e| FsError::new("write", &tmp, e))?;
        file.sync_all().map_err(|e| FsError::new("sync", &tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(|e| FsError::new("rename", path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    sync_folder(&dir)
}

/// Creates a new temporary file in `dir` with an unguessable name; never opens an
/// existing file or follows a link.
fn create_temporary(dir: &Path, name: &str) -> Result<(PathBuf, File), FsError> {
    create_temporary_drawing(dir, name, random_u64)
}

/// [`create_temporary`] with the random part of the name drawn by `draw` (tests
/// draw a name that is already taken).
fn create_temporary_drawing(
    dir: &Path,
    name: &str,
    mut draw: impl FnMut() -> u64,
) -> Result<(PathBuf, File), FsError> {
    let mut cut = name.len().min(MAX_NAME_PART);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut last = None;
    for _ in 0..NAME_TRIES {
        let tmp = dir.join(format!(".{}.tmp-{:016x}", &name[..cut], draw()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some((tmp, e)),
            Err(e) => return Err(FsError::new("create", &tmp, e)),
        }
    }
    let (tmp, e) = last.unwrap_or_else(|| {
        (
            dir.to_path_buf(),
            io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name"),
        )
    });
    Err(FsError::new("create", &tmp, e))
}

/// 64 bits nobody outside this process can predict: std's `RandomState` keys come
/// from the operating system's random source; the time, process id and a counter are
/// mixed in so every call differs.
pub(super) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(nanos);
    h.finish()
}

/// Syncs the folder so the rename is durable (Unix; elsewhere a rename cannot be
/// synced this way). File systems that cannot sync a folder are not an error.
fn sync_folder(dir: &Path) -> Result<(), FsError> {
    #[cfg(unix)]
    {
        let result = File::open(dir).and_then(|d| d.sync_all());
        match result {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
                ) => {}
            Err(e) => return Err(FsError::new("sync the folder", dir, e)),
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn writes_replace_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("out.txt");
        write_atomic(&p, b"one").expect("write");
        write_atomic(&p, b"two").expect("overwrite");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        assert!(leftovers(dir.path()).is_empty());
        let err =
            write_atomic(&dir.path().join("no/such/dir/x.json"), b"x").expect_err("missing folder");
        assert_eq!(err.action, "create");
        assert!(write_atomic(Path::new("/"), b"x").is_err(), "no file name");
    }

    #[test]
    fn a_failed_fill_leaves_the_target_untouched() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("keep.txt");
        std::fs::write(&p, b"old").expect("write");
        let err = write_atomic_with(&p, |f| {
            f.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .expect_err("fill fails");
        assert_eq!(err.action, "write");
        assert_eq!(std::fs::read(&p).expect("read"), b"old");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn temporary_names_differ_and_long_names_are_cut() {
        let a = random_u64();
        let b = random_u64();
        assert_ne!(a, b);
        let dir = tempfile::tempdir().expect("temp dir");
        let long = "é".repeat(120) + ".json";
        let p = dir.path().join(&long);
        write_atomic(&p, b"x").expect("a long name is written");
        assert_eq!(std::fs::read(&p).expect("read"), b"x");
    }

    #[cfg(unix)]
    #[test]
    fn planted_links_are_never_followed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, b"precious").expect("write");
        // Someone guessed the first name drawn and planted a link there.
        let planted = dir.path().join(format!(".out.txt.tmp-{:016x}", 7));
        std::os::unix::fs::symlink(&victim, &planted).expect("symlink");
        let mut draws = [7u64, 8].into_iter();
        let (tmp, mut f) =
            create_temporary_drawing(dir.path(), "out.txt", || draws.next().unwrap_or(9))
                .expect("another name is drawn");
        f.write_all(b"new").expect("write");
        drop(f);
        assert_eq!(tmp, dir.path().join(format!(".out.txt.tmp-{:016x}", 8)));
        assert_eq!(std::fs::read(&victim).expect("read"), b"precious");
        assert!(
            std::fs::symlink_metadata(&planted)
                .expect("the link stays")
                .file_type()
                .is_symlink()
        );
        // A name that is taken every time gives up with an error, opening nothing.
        let err = create_temporary_drawing(dir.path(), "out.txt", || 7).expect_err("all taken");
        assert_eq!(err.action, "create");
        assert_eq!(err.source.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&victim).expect("read"), b"precious");
    }
}
