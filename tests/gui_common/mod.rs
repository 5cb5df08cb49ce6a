//! Helpers shared by the viewer's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared data folder: `$LUNGSCOPE_DATA`, else `../shared/data` next to the crate.
pub fn data_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("LUNGSCOPE_DATA").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data")),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_dir())
}

/// A file of the stacked COVID-19 volumes (`CASE_ct.nii.gz`, `CASE_infection.nii.gz`, ...).
pub fn covid_volume(name: &str) -> PathBuf {
    let dir = data_dir()
        .expect("test data not found: set LUNGSCOPE_DATA or put the shared data at ../shared/data");
    let p = dir.join("covid19_ct_seg_zenodo3757476_volumes").join(name);
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

/// A wgpu render state on the software rasteriser (lavapipe) when present, as
/// egui_kittest sets it up.
pub fn render_state() -> egui_wgpu::RenderState {
    egui_kittest::wgpu::create_render_state(
        egui_kittest::wgpu::default_wgpu_setup(),
        egui_wgpu::RendererOptions::PREDICTABLE,
    )
}
