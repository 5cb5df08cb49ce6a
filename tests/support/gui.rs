//! The viewer under test: the real `LungscopeApp` in an egui_kittest harness
//! drawn by wgpu on the software rasteriser (lavapipe in CI, no display), files
//! dropped on it, and waiting for its background work.

use egui_kittest::Harness;
use lungscope::app::segment::SegCommand;
use lungscope::app::{Command, LungscopeApp, Settings};
use lungscope::mask::LabelMask;
use lungscope::seg::device::DeviceChoice;
use lungscope::seg::store::ModelStore;
use lungscope::volume::View;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The window size of the segmentation harness (`harness`, `harness_on`).
pub const SEG_SIZE: egui::Vec2 = egui::vec2(1100.0, 700.0);

/// A wgpu render state on the software rasteriser (lavapipe) when present, as
/// egui_kittest sets it up.
pub fn render_state() -> egui_wgpu::RenderState {
    egui_kittest::wgpu::create_render_state(
        egui_kittest::wgpu::default_wgpu_setup(),
        egui_wgpu::RendererOptions::PREDICTABLE,
    )
}

/// A harness of `size` on `app`, drawn through `rs` (the render state the app
/// was made with). Short steps: egui_kittest feeds one pointer press or release
/// per step, and a double click needs both releases within 0.3 s.
pub fn harness_for(
    app: LungscopeApp,
    rs: egui_wgpu::RenderState,
    size: egui::Vec2,
) -> Harness<'static, LungscopeApp> {
    Harness::builder()
        .with_size(size)
        .with_step_dt(0.05)
        .with_max_steps(24)
        .with_render_cursor(false)
        .renderer(egui_kittest::wgpu::WgpuTestRenderer::from_render_state(rs))
        .build_ui_state(|ui, app: &mut LungscopeApp| app.ui(ui), app)
}

/// A harness of `size` on the app with default settings.
pub fn harness_sized(size: egui::Vec2) -> Harness<'static, LungscopeApp> {
    let rs = render_state();
    let app = LungscopeApp::new(Some(rs.clone()), Settings::default());
    harness_for(app, rs, size)
}

/// A harness on the app segmenting on the CPU, with its model versions in a
/// temporary store under `store`.
pub fn harness(store: &Path) -> Harness<'static, LungscopeApp> {
    harness_on(store, render_state(), DeviceChoice::Cpu)
}

/// As `harness`, drawn through `rs` and segmenting on `device`.
pub fn harness_on(
    store: &Path,
    rs: egui_wgpu::RenderState,
    device: DeviceChoice,
) -> Harness<'static, LungscopeApp> {
    let settings = Settings {
        seg_device: device,
        ..Settings::default()
    };
    let mut app = LungscopeApp::new(Some(rs.clone()), settings);
    app.state_mut()
        .seg
        .models
        .use_store(ModelStore::at(store.join("models")));
    harness_for(app, rs, SEG_SIZE)
}

/// Steps frames until `done` holds (panics after `secs`).
pub fn step_until(
    h: &mut Harness<'_, LungscopeApp>,
    secs: u64,
    what: &str,
    done: impl Fn(&LungscopeApp) -> bool,
) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Steps frames until no background work is left and the UI settles (panics
/// after 180 s). Work that ends may start more (re-measuring the report after a
/// mask change, for one), so a UI that does not settle is stepped again.
pub fn wait_idle(h: &mut Harness<'_, LungscopeApp>) {
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "background work took too long"
        );
        if h.state().is_busy() {
            h.step();
            std::thread::sleep(Duration::from_millis(10));
        } else if h.try_run().is_ok() {
            return;
        }
    }
}

/// A dropped file as the windowing integration would deliver it.
#[derive(Debug)]
pub struct Dropped(pub PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// Drops `files` on the window at once and waits until they are open.
pub fn drop_files(h: &mut Harness<'_, LungscopeApp>, files: &[PathBuf]) {
    for f in files {
        h.input_mut()
            .dropped_files
            .push(Arc::new(Dropped(f.clone())) as egui::DroppedFileHandle);
    }
    h.step();
    wait_idle(h);
}

/// Applies a segmentation command as the UI would.
pub fn seg(h: &mut Harness<'_, LungscopeApp>, c: SegCommand) {
    h.state_mut().state_mut().apply(Command::Seg(c));
}

/// Labels of axial slice `k` of a mask on the volume's grid.
pub fn axial_labels(h: &Harness<'_, LungscopeApp>, mask: &LabelMask, k: usize) -> Vec<u8> {
    let state = h.state().state();
    let map = state.slice_map(View::Axial).expect("volume");
    map.extract(mask.geometry.dims, &mask.labels, k)
}

/// The texts of the notices shown now.
pub fn texts(h: &Harness<'_, LungscopeApp>) -> Vec<String> {
    h.state()
        .state()
        .notices
        .iter()
        .map(|n| n.text.clone())
        .collect()
}
