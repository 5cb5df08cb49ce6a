//! Finding the DICOM files under the input and reading their headers (never the
//! pixels) in parallel.

use super::DicomError;
use super::header::{FileHeader, read_header};
use super::series::{Index, group, rel};
use rayon::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Folders deeper than this below the input are not searched.
const MAX_DEPTH: usize = 32;
/// Skipped files named in a note before "...".
const NAMED_SKIPS: usize = 5;

/// True if the file has the `DICM` marker at byte 128.
pub fn is_dicom_file(path: &Path) -> bool {
    let mut head = [0u8; 132];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head[128..132] == b"DICM"
}

/// True if the folder (searched recursively) holds at least one DICOM file.
pub fn looks_like_dicom_folder(path: &Path) -> bool {
    let mut files = Vec::new();
    collect_files(path, 0, &mut files, &mut Vec::new());
    files.iter().any(|f| is_dicom_file(f))
}

/// Reads the headers under `path` (a file or a folder) and groups the frames.
pub(super) fn scan(path: &Path) -> Result<Index, DicomError> {
    let meta = std::fs::metadata(path).map_err(|e| DicomError::io("open", path, e))?;
    if meta.is_file() && !is_dicomdir(path) {
        let header = read_header(path)?.ok_or_else(|| DicomError::BadAttribute {
            what:
                "not an image (no Rows/Columns): a report, a DICOMDIR or another non-image object"
                    .into(),
            path: path.to_path_buf(),
        })?;
        return Ok(group(path, vec![header], Vec::new(), false));
    }
    let root = if meta.is_file() {
        // A DICOMDIR: read the files beside it directly.
        path.parent().unwrap_or(Path::new(".")).to_path_buf()
    } else {
        path.to_path_buf()
    };
    let mut candidates = Vec::new();
    let mut unlisted = Vec::new();
    collect_files(&root, 0, &mut candidates, &mut unlisted);
    Ok(scan_candidates(&root, candidates, unlisted))
}

/// Reads the headers of a set of files (one series, e.g. files dropped together);
/// files that are not DICOM images are skipped with a note. Messages name the
/// folder of the first file.
pub(super) fn scan_files(files: &[PathBuf]) -> Index {
    let root = files
        .first()
        .and_then(|f| f.parent())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    scan_candidates(&root, files.to_vec(), Vec::new())
}

fn scan_candidates(root: &Path, mut candidates: Vec<PathBuf>, notes: Vec<String>) -> Index {
    candidates.sort();
    candidates.dedup();
    let root = root.to_path_buf();
    let mut notes = notes;
    let mut not_dicom = Vec::new();
    let mut not_image = Vec::new();
    let mut headers = Vec::new();
    // Headers are read in parallel (file order is kept).
    let outcomes: Vec<Option<Result<Option<FileHeader>, DicomError>>> = candidates
        .par_iter()
        .map(|file| (is_dicom_file(file) && !is_dicomdir(file)).then(|| read_header(file)))
        .collect();
    for (file, outcome) in candidates.iter().zip(outcomes) {
        match outcome {
            None if is_dicomdir(file) => notes.push(format!(
                "DICOMDIR {} ignored: the image files are read directly",
                rel(&root, file)
            )),
            None => not_dicom.push(rel(&root, file)),
            Some(Ok(Some(h))) => headers.push(h),
            Some(Ok(None)) => not_image.push(rel(&root, file)),
            Some(Err(e)) => notes.push(format!("skipped {}: {e}", rel(&root, file))),
        }
    }
    if !not_dicom.is_empty() {
        notes.push(skip_note("not DICOM (no DICM marker)", &not_dicom));
    }
    if !not_image.is_empty() {
        notes.push(skip_note("DICOM but not an image", &not_image));
    }
    group(&root, headers, notes, true)
}

fn skip_note(what: &str, names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(NAMED_SKIPS).map(String::as_str).collect();
    let more = if names.len() > NAMED_SKIPS {
        ", ..."
    } else {
        ""
    };
    format!(
        "skipped {} file(s), {what}: {}{more}",
        names.len(),
        shown.join(", ")
    )
}

/// Files under `dir` (recursively, symbolic links to folders not followed).
fn collect_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>, notes: &mut Vec<String>) {
    if depth > MAX_DEPTH {
        notes.push(format!(
            "folders deeper than {MAX_DEPTH} levels not searched: {}",
            dir.display()
        ));
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            notes.push(format!("cannot list the folder: {e}: {}", dir.display()));
            return;
        }
    };
    for entry in entries.flatten() {
        let p = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            collect_files(&p, depth + 1, out, notes);
        } else if ft.is_file() || (ft.is_symlink() && p.is_file()) {
            out.push(p);
        }
    }
}

fn is_dicomdir(path: &Path) -> bool {
    if path
        .file_name()
        .is_some_and(|n| n.eq_ignore_ascii_case("DICOMDIR"))
    {
        return true;
    }
    false
}
