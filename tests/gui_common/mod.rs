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

/// A wgpu render state on the software rasteriser (lavapipe) when present, as
/// egui_kittest sets it up.
pub fn render_state() -> egui_wgpu::RenderState {
    egui_kittest::wgpu::create_render_state(
        egui_kittest::wgpu::default_wgpu_setup(),
        egui_wgpu::RendererOptions::PREDICTABLE,
    )
}
