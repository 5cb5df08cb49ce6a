//! The shared data: where it lies, the Zenodo volumes and their `cases.csv`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The folder of the Zenodo COVID-19 volumes inside the shared data folder.
pub const VOLUMES: &str = "covid19_ct_seg_zenodo3757476_volumes";

/// True when running under CI (`CI` set), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// The first of `$LUNGSCOPE_DATA`, `../shared/data` or `../../shared/data` next
/// to the crate, and `/work/shared/data` that holds the Zenodo volumes.
fn find_data_dir() -> Option<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        std::env::var_os("LUNGSCOPE_DATA").map(PathBuf::from),
        Some(manifest.join("../shared/data")),
        Some(manifest.join("../../shared/data")),
        Some(PathBuf::from("/work/shared/data")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.join(VOLUMES).is_dir())
}

/// The shared data folder (see `find_data_dir` for where it is looked for).
/// `None`, a skip, outside CI if there is none; in CI a missing folder fails.
pub fn data_dir() -> Option<PathBuf> {
    let found = find_data_dir();
    if found.is_none() {
        assert!(
            !in_ci(),
            "shared data not found: set LUNGSCOPE_DATA to the folder holding {VOLUMES}"
        );
        eprintln!("skipped: shared data not found (set LUNGSCOPE_DATA)");
    }
    found
}

/// The Zenodo volumes folder; `None` (a skip) as for `data_dir`.
pub fn volumes_dir() -> Option<PathBuf> {
    data_dir().map(|d| d.join(VOLUMES))
}

/// A file of the Zenodo volumes folder (`CASE_ct.nii.gz`, `CASE_infection.nii.gz`,
/// `cases.csv`, ...) for tests that need it: panics if the data or the file are
/// missing.
pub fn covid_volume(name: &str) -> PathBuf {
    let dir = find_data_dir()
        .expect("test data not found: set LUNGSCOPE_DATA or put the shared data at ../shared/data");
    let p = dir.join(VOLUMES).join(name);
    assert!(p.is_file(), "missing test file {}", p.display());
    p
}

/// A copy of a shared volume at a path that does not depend on where the data or
/// the clone lie (`<temp>/lungscope-tests/<folder>/<name>`), for snapshots whose
/// text shows a path (the "save writes ..." line of a question, for one).
pub fn covid_volume_copy(name: &str, folder: &str) -> PathBuf {
    let src = covid_volume(name);
    let dir = std::env::temp_dir().join("lungscope-tests").join(folder);
    std::fs::create_dir_all(&dir).expect("create the test folder");
    let dst = dir.join(name);
    let same = std::fs::metadata(&dst)
        .ok()
        .zip(std::fs::metadata(&src).ok())
        .is_some_and(|(a, b)| a.len() == b.len());
    if !same {
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        std::fs::copy(&src, &tmp).expect("copy the test volume");
        std::fs::rename(&tmp, &dst).expect("place the test volume");
    }
    dst
}

/// A real pseudo-HU volume of the shared data (`radiopaedia_group_R06`: 9 slices);
/// `None` (a skip) as for `data_dir`.
pub fn small_real_volume() -> Option<PathBuf> {
    let p = volumes_dir()?.join("radiopaedia_group_R06_ct.nii.gz");
    p.is_file().then_some(p)
}

/// The rows of a simple CSV file (a header row, no quoted commas) as
/// (column name → cell) maps; blank lines are skipped.
pub fn csv_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{} readable: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header row")
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

/// The rows of `cases.csv` in the Zenodo volumes folder `dir` (one per case:
/// `case`, `lung_voxels`, `infection_percent_of_lung`, ...).
pub fn cases_csv(dir: &Path) -> Vec<HashMap<String, String>> {
    csv_rows(&dir.join("cases.csv"))
}
