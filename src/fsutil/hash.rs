//! SHA-256 of bytes, files and folders, as lowercase hex: the weights of a model
//! file, and the inputs a report names in its provenance.

use super::FsError;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Lowercase hex of a finished digest.
fn hex(digest: impl AsRef<[u8]>) -> String {
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(Sha256::digest(bytes))
}

/// SHA-256 of a file's bytes, hex (read in 1 MiB pieces).
pub fn sha256_file(path: &Path) -> Result<String, FsError> {
    let mut f = std::fs::File::open(path).map_err(|e| FsError::new("open", path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| FsError::new("read", path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(h.finalize()))
}

/// SHA-256 of a folder's regular files, found recursively: the hash of the sorted
/// list of `relative path NUL file hash NL` lines, so renaming, adding, removing or
/// changing any file changes it. Symbolic links are not followed.
pub fn sha256_folder(dir: &Path) -> Result<String, FsError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| FsError::new("list", &d, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| FsError::new("list", &d, e))?;
            let kind = entry
                .file_type()
                .map_err(|e| FsError::new("list", &entry.path(), e))?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    let mut h = Sha256::new();
    for f in &files {
        let rel = f.strip_prefix(dir).unwrap_or(f);
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0u8]);
        h.update(sha256_file(f)?.as_bytes());
        h.update(b"\n");
    }
    Ok(hex(h.finalize()))
}

/// SHA-256 of a file, or of a folder (such as a DICOM series) with
/// [`sha256_folder`].
pub fn sha256_path(path: &Path) -> Result<String, FsError> {
    if path.is_dir() {
        sha256_folder(path)
    } else {
        sha256_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_hash_follows_names_and_contents() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("a.dcm"), b"one").expect("write");
        std::fs::write(dir.path().join("sub/b.dcm"), b"two").expect("write");
        let first = sha256_folder(dir.path()).expect("hash");
        assert_eq!(first, sha256_folder(dir.path()).expect("hash"), "stable");
        std::fs::write(dir.path().join("sub/b.dcm"), b"TWO").expect("write");
        let changed = sha256_folder(dir.path()).expect("hash");
        assert_ne!(first, changed, "a changed file changes the hash");
        std::fs::rename(dir.path().join("a.dcm"), dir.path().join("c.dcm")).expect("mv");
        assert_ne!(
            changed,
            sha256_folder(dir.path()).expect("hash"),
            "a rename too"
        );
    }

    #[test]
    fn sha256_of_a_known_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("abc.txt");
        std::fs::write(&p, b"abc").expect("write");
        assert_eq!(
            sha256_file(&p).expect("hash"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(sha256_file(&dir.path().join("missing")).is_err());
    }
}
