//! Comparing paths that may not exist yet.

use std::path::{Component, Path, PathBuf};

/// The absolute form of `path` for comparisons: its longest existing ancestor
/// canonicalised (links resolved), the rest appended with `.` dropped and `..`
/// applied lexically. Works for files and folders that do not exist yet.
pub fn resolve(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    // Split into the longest existing ancestor and the components after it.
    let mut base = absolute.as_path();
    let mut rest: Vec<Component<'_>> = Vec::new();
    let canonical = loop {
        if let Ok(c) = std::fs::canonicalize(base) {
            break c;
        }
        let comps: Vec<Component<'_>> = base.components().collect();
        match (base.parent(), comps.last()) {
            (Some(parent), Some(last)) => {
                rest.push(*last);
                base = parent;
            }
            _ => break PathBuf::new(),
        }
    };
    let mut out = canonical;
    for c in rest.into_iter().rev() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// True when `a` and `b` name the same file (or would, once created).
pub fn same_file(a: &Path, b: &Path) -> bool {
    a == b || resolve(a) == resolve(b)
}

/// True when `path` is `input` or lies inside it (an input folder).
pub fn is_same_or_inside(path: &Path, input: &Path) -> bool {
    resolve(path).starts_with(resolve(input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_file_resolve_alike() {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).expect("mkdir");
        std::fs::write(d.join("a.txt"), b"x").expect("write");
        assert!(same_file(&d.join("a.txt"), &d.join("sub/../a.txt")));
        assert!(same_file(&d.join("./new.json"), &d.join("new.json")));
        assert!(same_file(
            &d.join("no/such/../x.json"),
            &d.join("no/x.json")
        ));
        assert!(!same_file(&d.join("a.txt"), &d.join("b.txt")));
        assert!(is_same_or_inside(
            &d.join("sub/deep/x.nii.gz"),
            &d.join("sub")
        ));
        assert!(is_same_or_inside(&d.join("sub"), &d.join("sub/.")));
        assert!(!is_same_or_inside(&d.join("subway.nii.gz"), &d.join("sub")));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(d.join("sub"), d.join("link")).expect("symlink");
            assert!(same_file(&d.join("link/x.json"), &d.join("sub/x.json")));
        }
    }
}
