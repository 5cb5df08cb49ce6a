//! Helpers of the segmentation / report GUI tests: a harness on the real app with a
//! temporary model store, waiting for background work, dropped files, commands.
#![allow(dead_code)]

use crate::gui_common;
use egui_kittest::Harness;
use lungscope::app::segment::SegCommand;
use lungscope::app::{Command, LungscopeApp, Settings};
use lungscope::mask::LabelMask;
use lungscope::seg::device::DeviceChoice;
use lungscope::seg::model::ModelConfig;
use lungscope::seg::versions::ModelStore;
use lungscope::seg::weights::{self, ModelCard};
use lungscope::volume::View;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn harness(store: &Path) -> Harness<'static, LungscopeApp> {
    harness_on(store, gui_common::render_state(), DeviceChoice::Cpu)
}

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
    Harness::builder()
        .with_size(egui::vec2(1100.0, 700.0))
        .with_step_dt(0.05)
        .with_max_steps(24)
        .with_render_cursor(false)
        .renderer(egui_kittest::wgpu::WgpuTestRenderer::from_render_state(rs))
        .build_ui_state(|ui, app: &mut LungscopeApp| app.ui(ui), app)
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

/// Steps until no background work is left, then settles.
pub fn wait_idle(h: &mut Harness<'_, LungscopeApp>) {
    step_until(h, 180, "background work", |app| !app.is_busy());
    h.run();
}

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

pub fn drop_files(h: &mut Harness<'_, LungscopeApp>, files: &[PathBuf]) {
    for f in files {
        h.input_mut()
            .dropped_files
            .push(Arc::new(Dropped(f.clone())) as egui::DroppedFileHandle);
    }
    h.step();
    wait_idle(h);
}

pub fn seg(h: &mut Harness<'_, LungscopeApp>, c: SegCommand) {
    h.state_mut().state_mut().apply(Command::Seg(c));
}

/// A model file with `config`, freshly initialised, named `id`.
pub fn model_file(dir: &Path, name: &str, id: &str, config: &ModelConfig) -> PathBuf {
    let model = config
        .init(&burn::tensor::Device::flex())
        .expect("model builds");
    let card = ModelCard {
        id: id.into(),
        architecture: "untrained test network".into(),
        training_data: "none (freshly initialised; for pipeline tests only)".into(),
        ..ModelCard::default()
    };
    let path = dir.join(name);
    weights::save(&path, config, &model, &card).expect("model file written");
    path
}

/// Labels of axial slice `k` of a mask on the volume's grid.
pub fn axial_labels(h: &Harness<'_, LungscopeApp>, mask: &LabelMask, k: usize) -> Vec<u8> {
    let state = h.state().state();
    let map = state.slice_map(View::Axial).expect("volume");
    map.extract(mask.geometry.dims, &mask.labels, k)
}

pub fn texts(h: &Harness<'_, LungscopeApp>) -> Vec<String> {
    h.state()
        .state()
        .notices
        .iter()
        .map(|n| n.text.clone())
        .collect()
}
