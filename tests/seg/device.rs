//! Backend choice: CPU always works; `auto` never panics; the GPU path (lavapipe in CI)
//! computes what the CPU computes.

use burn::module::Module;
use burn::tensor::{Distribution, Tensor, TensorData};
use lungscope::seg::device::{BackendKind, DeviceChoice, probe_adapters, select_device};
use lungscope::seg::model::{Arch, Head, ModelConfig, UpMode};

use crate::support;

#[test]
fn cpu_is_always_available() {
    let dev = select_device(DeviceChoice::Cpu).expect("cpu");
    assert_eq!(dev.kind, BackendKind::Cpu);
    assert!(
        dev.description.starts_with("CPU (") && dev.description.ends_with("threads)"),
        "{}",
        dev.description
    );
}

#[test]
fn auto_prefers_hardware_and_otherwise_says_why_it_uses_the_cpu() {
    let adapters = probe_adapters();
    let dev = select_device(DeviceChoice::Auto).expect("auto never fails");
    if adapters.iter().any(|a| a.is_hardware()) {
        assert_ne!(dev.kind, BackendKind::SoftwareGpu);
    } else {
        assert_eq!(dev.kind, BackendKind::Cpu);
        assert!(
            dev.notice.is_some(),
            "falling back to the CPU must be visible"
        );
    }
}

#[test]
fn gpu_and_cpu_give_the_same_logits() {
    let adapters = probe_adapters();
    let gpu = select_device(DeviceChoice::Gpu);
    if adapters.is_empty() {
        let err = gpu.expect_err("no adapter, so --device gpu is an error");
        assert!(err.to_string().contains("no GPU available"), "{err}");
        return;
    }
    let gpu = gpu.expect("an adapter exists");
    assert!(gpu.description.contains("GPU"), "{}", gpu.description);
    let cpu = select_device(DeviceChoice::Cpu).expect("cpu");
    let config = ModelConfig {
        arch: Arch::Unet,
        in_channels: 1,
        base: 4,
        depth: 2,
        batch_norm: true,
        up: UpMode::Bilinear,
        head: Head::Sigmoid { channels: 2 },
        input_size: 16,
    };
    let model_cpu = config.init(&cpu.device).expect("builds");
    let model_gpu = model_cpu.clone().to_device(&gpu.device);
    let x = Tensor::<4>::random([1, 1, 16, 16], Distribution::Uniform(0.0, 1.0), &cpu.device);
    let data: TensorData = x.to_data();
    let y_cpu: Vec<f32> = model_cpu
        .forward(x)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32");
    let x_gpu = Tensor::<4>::from_data(data, &gpu.device);
    let y_gpu: Vec<f32> = model_gpu
        .forward(x_gpu)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32");
    let max_diff = y_cpu
        .iter()
        .zip(&y_gpu)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max_diff < 1e-3, "max |cpu - gpu| = {max_diff}");
}

#[test]
fn fine_tuning_runs_on_the_gpu_backend_too() {
    use lungscope::seg::data::SliceSample;
    use lungscope::seg::data::augment::AugmentSettings;
    use lungscope::seg::model::weights::{LoadedModel, ModelCard};
    use lungscope::seg::train::{FineTuneSettings, fine_tune};
    use std::sync::atomic::AtomicBool;

    if probe_adapters().is_empty() {
        return;
    }
    let gpu = select_device(DeviceChoice::Gpu).expect("an adapter exists");
    let config = support::seg::tiny_config(Head::Sigmoid { channels: 2 }, 16);
    let base = LoadedModel {
        model: config.init(&gpu.device).expect("builds"),
        config,
        card: ModelCard::default(),
        weights_sha256: String::new(),
        id: "gpu-test".into(),
    };
    let s = 16;
    let lung: Vec<u8> = (0..s * s).map(|i| u8::from((i % s) < 8)).collect();
    let slice = SliceSample {
        case: "g".into(),
        name: "g0".into(),
        width: s,
        height: s,
        image: lung
            .iter()
            .map(|&v| if v == 1 { 0.1 } else { 0.7 })
            .collect(),
        infection: Some(vec![0; s * s]),
        lung: Some(lung),
    };
    let settings = FineTuneSettings {
        steps: 3,
        batch_size: 1,
        augment: AugmentSettings::none(),
        eval_every: 0,
        ..FineTuneSettings::default()
    };
    let out = fine_tune(
        &base,
        &[slice],
        &settings,
        &gpu.device,
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .expect("three training steps on the wgpu backend");
    assert_eq!(out.losses.len(), 3);
    assert!(out.losses.iter().all(|l| l.is_finite()));
}
