//! The CPU inference engine computes what burn's flex backend computes: the same
//! probabilities for every architecture option (U-Net and U-Net++, transposed or
//! bilinear upsampling, with and without BatchNorm, sigmoid and softmax heads), the
//! shipped model with its real BatchNorm statistics, and the same label maps from
//! `segment_volume`.

use crate::support;

use burn::tensor::{Device, Tensor, TensorData};
use lungscope::io::read_volume;
use lungscope::seg::cpu_engine::{ConvAlgo, CpuNet};
use lungscope::seg::infer::{CpuEngine, InferOptions, segment_volume};
use lungscope::seg::model::weights;
use lungscope::seg::model::{Arch, Head, ModelConfig, SegModel, UpMode};
use std::sync::atomic::AtomicBool;

/// A deterministic input with structure (not noise), values in [0, 1].
fn input(batch: usize, s: usize) -> Vec<f32> {
    (0..batch * s * s)
        .map(|i| {
            let (b, y, x) = (i / (s * s), (i / s) % s, i % s);
            let r =
                ((x as f32 - s as f32 / 2.0).powi(2) + (y as f32 - s as f32 / 2.0).powi(2)).sqrt();
            (0.5 + 0.4 * (r / 3.0 + b as f32).sin()).clamp(0.0, 1.0)
        })
        .collect()
}

/// Probabilities of the burn model on flex.
fn burn_probs(model: &SegModel, config: &ModelConfig, x: &[f32], batch: usize) -> Vec<f32> {
    let s = config.input_size;
    let t = Tensor::<4>::from_data(
        TensorData::new(x.to_vec(), [batch, 1, s, s]),
        &Device::flex(),
    );
    let p = config.head.probabilities(model.forward(t));
    p.into_data().try_to_vec::<f32>().expect("f32 output")
}

fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max)
}

#[test]
fn every_architecture_option_matches_burn() {
    let variants = [
        (
            Arch::Unet,
            UpMode::Transpose,
            true,
            Head::Sigmoid { channels: 2 },
        ),
        (
            Arch::Unet,
            UpMode::Bilinear,
            true,
            Head::Softmax { classes: 3 },
        ),
        (
            Arch::Unet,
            UpMode::Transpose,
            false,
            Head::Sigmoid { channels: 1 },
        ),
        (
            Arch::UnetPlusPlus,
            UpMode::Transpose,
            true,
            Head::Sigmoid { channels: 2 },
        ),
        (
            Arch::UnetPlusPlus,
            UpMode::Bilinear,
            false,
            Head::Softmax { classes: 3 },
        ),
    ];
    for (arch, up, batch_norm, head) in variants {
        let config = ModelConfig {
            arch,
            in_channels: 1,
            base: 8,
            depth: 3,
            batch_norm,
            up,
            head,
            input_size: 48,
        };
        let model = config.init(&Device::flex()).expect("model builds");
        let net = CpuNet::from_model(&model, &config).expect("engine builds");
        let x = input(3, 48);
        let a = burn_probs(&model, &config, &x, 3);
        for algo in [ConvAlgo::Auto, ConvAlgo::Im2col] {
            let engine = net.clone().with_algo(algo);
            let b = engine.probabilities(&x, 3).expect("engine runs");
            // Later calls run on the feature-map buffers the first ones left behind
            // (another batch size in between): the same bits.
            let one = x.len() / 3;
            engine.probabilities(&x[..one], 1).expect("engine runs");
            let again = engine.probabilities(&x, 3).expect("engine runs");
            assert!(
                again
                    .iter()
                    .zip(&b)
                    .all(|(p, q)| p.to_bits() == q.to_bits()),
                "{arch:?} {up:?} {head:?} {algo:?}: a second call differs"
            );
            let worst = largest_difference(&a, &b);
            eprintln!(
                "{arch:?} {up:?} bn {batch_norm} {head:?} {algo:?}: largest difference {worst:e}"
            );
            assert!(worst < 1e-5, "{arch:?} {up:?} {head:?} {algo:?}: {worst}");
        }
        // Logits too (no squashing to hide differences).
        let s = config.input_size;
        let t = Tensor::<4>::from_data(TensorData::new(x.clone(), [3, 1, s, s]), &Device::flex());
        let la = model
            .forward(t)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let lb = net.logits(&x, 3).expect("engine runs");
        let scale = la.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        assert!(largest_difference(&la, &lb) < 1e-5 * scale);
    }
}

#[test]
fn a_wrong_input_size_is_an_error_not_a_panic() {
    let config = support::seg::tiny_config(Head::Sigmoid { channels: 2 }, 32);
    let model = config.init(&Device::flex()).expect("model builds");
    let net = CpuNet::from_model(&model, &config).expect("engine builds");
    let err = net.probabilities(&[0.0; 10], 1).expect_err("refused");
    assert!(
        err.to_string().contains("expected 1 x 1 x 32 x 32"),
        "{err}"
    );
    assert!(net.probabilities(&[], 0).is_err());
}

#[test]
fn the_shipped_model_with_its_batchnorm_statistics_matches_burn() {
    if !weights::has_default_model() {
        eprintln!("skipped: this build ships no default model");
        return;
    }
    let model = weights::load_default(&Device::flex()).expect("default model");
    let config = &model.config;
    let net = CpuNet::from_model(&model.model, config).expect("engine builds");
    let x = input(2, config.input_size);
    let a = burn_probs(&model.model, config, &x, 2);
    let b = net.probabilities(&x, 2).expect("engine runs");
    let worst = largest_difference(&a, &b);
    eprintln!("default model: largest probability difference {worst:e}");
    assert!(worst < 1e-4, "{worst}");
}

#[test]
fn segment_volume_gives_the_same_labels_with_either_cpu_engine() {
    if !weights::has_default_model() {
        eprintln!("skipped: this build ships no default model");
        return;
    }
    let Some(path) = support::data::small_real_volume() else {
        return;
    };
    let volume = read_volume(&path).expect("volume");
    let device = Device::flex();
    let model = weights::load_default(&device).expect("default model");
    let never = AtomicBool::new(false);
    let run = |engine| {
        let options = InferOptions {
            cpu_engine: engine,
            ..InferOptions::default()
        };
        segment_volume(&model, &device, &volume, &options, &never, &mut |_| {})
            .expect("segmentation runs")
    };
    let (native, flex) = (run(CpuEngine::Native), run(CpuEngine::Flex));
    let n = native.mask.labels.len();
    let differ = native
        .mask
        .labels
        .iter()
        .zip(&flex.mask.labels)
        .filter(|(a, b)| a != b)
        .count();
    eprintln!(
        "labels differ on {differ} of {n} voxels; network {:.2} s (native) vs {:.2} s (flex)",
        native.network_s, flex.network_s
    );
    assert!(native.mask.histogram()[3] > 0, "infection found");
    // Only voxels whose probability sits at the threshold within float rounding may flip.
    assert!(differ * 10_000 <= n, "{differ} of {n} labels differ");
}
