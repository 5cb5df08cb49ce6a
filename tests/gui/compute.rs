//! One wgpu device for the viewer and the model: the device eframe would create
//! (with the adapter's limits) computes for burn, Auto prefers the CPU to a
//! software adapter, and the app segments on the viewer's own device.
#![cfg(feature = "gui")]

use crate::support;

use lungscope::app::compute::{SharedGpu, resolve_device, with_compute_device};
use lungscope::app::segment::SegCommand;
use lungscope::seg::device::{BackendKind, DeviceChoice};
use lungscope::seg::model::Head;
use support::gui::{drop_files, harness_on, seg, texts, wait_idle};

#[test]
fn the_viewer_device_has_the_adapter_limits_and_computes_for_burn() {
    let setup = with_compute_device(egui_kittest::wgpu::default_wgpu_setup());
    let rs =
        egui_kittest::wgpu::create_render_state(setup, egui_wgpu::RendererOptions::PREDICTABLE);
    assert_eq!(rs.device.limits(), rs.adapter.limits());
    let gpu = SharedGpu::from_render_state(&rs);
    let auto = resolve_device(DeviceChoice::Auto, Some(&gpu));
    if gpu.is_hardware() {
        assert_eq!(auto.kind, BackendKind::Gpu);
    } else {
        assert_eq!(
            auto.kind,
            BackendKind::Cpu,
            "auto prefers the CPU to a software adapter"
        );
        assert!(
            auto.notice
                .as_deref()
                .is_some_and(|n| n.contains("software"))
        );
    }
    let chosen = resolve_device(DeviceChoice::Gpu, Some(&gpu));
    assert_ne!(
        chosen.kind,
        BackendKind::Cpu,
        "the viewer's device works for burn: {:?}",
        chosen.notice
    );
    let x = burn::tensor::Tensor::<1>::from_data(
        burn::tensor::TensorData::from([1.0f32, 2.0, 3.0]),
        &chosen.device,
    );
    let y: Vec<f32> = (x * 2.0).into_data().try_to_vec::<f32>().expect("f32 data");
    assert_eq!(y, vec![2.0, 4.0, 6.0]);
    // Registered once: the second resolution reuses the same device.
    let again = resolve_device(DeviceChoice::Gpu, Some(&gpu));
    assert_eq!(again.description, chosen.description);
}

#[test]
fn segment_on_the_viewer_gpu_device() {
    let Some(ct) = support::data::small_real_volume() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = with_compute_device(egui_kittest::wgpu::default_wgpu_setup());
    let rs =
        egui_kittest::wgpu::create_render_state(setup, egui_wgpu::RendererOptions::PREDICTABLE);
    let mut h = harness_on(dir.path(), rs, DeviceChoice::Gpu);
    drop_files(&mut h, &[ct]);
    let model = support::seg::tiny_model_file(dir.path(), Head::Sigmoid { channels: 2 }, 64);
    seg(&mut h, SegCommand::LoadModelFile(model));
    seg(&mut h, SegCommand::SetThreshold(0.05));
    wait_idle(&mut h);
    let kind = h
        .state()
        .state()
        .seg
        .models
        .active()
        .map(|a| a.device.kind)
        .expect("model loaded");
    assert_ne!(kind, BackendKind::Cpu, "{:?}", texts(&h));
    seg(&mut h, SegCommand::Segment);
    wait_idle(&mut h);
    let state = h.state().state();
    assert!(
        !texts(&h).iter().any(|t| t.contains("failed")),
        "{:?}",
        texts(&h)
    );
    let layer = state.segmentation_layer().expect("result layer");
    assert!(state.doc.layers[layer].mask.labels.iter().any(|&l| l != 0));
}
