//! The segmentation networks: the reference layout, shapes, model files.

use burn::tensor::{Device, Distribution, Tensor};
use lungscope::seg::model::weights::{self, ModelCard};
use lungscope::seg::model::{Arch, Head, ModelConfig, UpMode};
use lungscope::seg::{SegError, SegModel};

fn tiny(arch: Arch, up: UpMode, head: Head) -> ModelConfig {
    ModelConfig {
        arch,
        in_channels: 1,
        base: 4,
        depth: 2,
        batch_norm: true,
        up,
        head,
        input_size: 16,
    }
}

#[test]
fn reference_unet_has_the_pytorch_parameter_counts() {
    // shared/bench/README.md "U-Net architecture": 7,762,465 (transpose), 7,240,225 (bilinear).
    let device = Device::flex();
    for (up, expected) in [
        (UpMode::Transpose, 7_762_465),
        (UpMode::Bilinear, 7_240_225),
    ] {
        let config = ModelConfig::reference_unet(up);
        assert_eq!(config.num_params(), expected, "{up:?} formula");
        let model = config.init(&device).expect("reference config builds");
        assert_eq!(model.trainable_params(), expected, "{up:?} built network");
    }
}

#[test]
fn unet_plus_plus_counts_agree_with_the_built_network() {
    let device = Device::flex();
    for up in [UpMode::Transpose, UpMode::Bilinear] {
        let config = ModelConfig {
            arch: Arch::UnetPlusPlus,
            base: 8,
            depth: 3,
            up,
            ..ModelConfig::default()
        };
        let model = config.init(&device).expect("builds");
        assert_eq!(model.trainable_params(), config.num_params());
        // U-Net++ has strictly more decoder nodes than the U-Net of the same widths.
        let unet = ModelConfig {
            arch: Arch::Unet,
            ..config
        };
        assert!(config.num_params() > unet.num_params());
    }
}

#[test]
fn forward_gives_one_logit_map_per_output_channel() {
    let device = Device::flex();
    for arch in [Arch::Unet, Arch::UnetPlusPlus] {
        for up in [UpMode::Transpose, UpMode::Bilinear] {
            for head in [Head::Sigmoid { channels: 2 }, Head::Softmax { classes: 3 }] {
                let config = tiny(arch, up, head);
                let model = config.init(&device).expect("tiny config builds");
                let x =
                    Tensor::<4>::random([2, 1, 16, 16], Distribution::Uniform(0.0, 1.0), &device);
                let y = model.forward(x);
                assert_eq!(
                    y.dims(),
                    [2, head.out_channels(), 16, 16],
                    "{arch:?} {up:?} {head:?}"
                );
                let p = head.probabilities(y);
                let v: Vec<f32> = p.into_data().try_to_vec::<f32>().expect("f32 data");
                assert!(v.iter().all(|x| x.is_finite() && (0.0..=1.0).contains(x)));
            }
        }
    }
}

#[test]
fn bad_configurations_are_refused() {
    let device = Device::flex();
    let base = tiny(Arch::Unet, UpMode::Transpose, Head::default());
    for bad in [
        ModelConfig {
            input_size: 18,
            ..base.clone()
        },
        ModelConfig {
            depth: 0,
            ..base.clone()
        },
        ModelConfig {
            base: 0,
            ..base.clone()
        },
        ModelConfig {
            head: Head::Softmax { classes: 1 },
            ..base.clone()
        },
    ] {
        assert!(
            matches!(bad.init(&device), Err(SegError::InvalidConfig(_))),
            "{bad:?}"
        );
    }
}

fn outputs(model: &SegModel, x: &Tensor<4>) -> Vec<f32> {
    model
        .forward(x.clone())
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 data")
}

#[test]
fn model_file_round_trip_gives_identical_outputs() {
    let device = Device::flex();
    let dir = tempfile::tempdir().expect("temp dir");
    for arch in [Arch::Unet, Arch::UnetPlusPlus] {
        let config = tiny(arch, UpMode::Transpose, Head::default());
        let model = config.init(&device).expect("builds");
        let card = ModelCard {
            id: format!("test-{arch:?}"),
            architecture: "tiny".into(),
            date: lungscope::utc::today_utc(),
            ..ModelCard::default()
        };
        let path = dir.path().join("m.lsm");
        let sha = weights::save(&path, &config, &model, &card).expect("save");
        let loaded = weights::load_file(&path, &device).expect("load");
        assert_eq!(loaded.config, config);
        assert_eq!(loaded.card, card);
        assert_eq!(loaded.weights_sha256, sha);
        assert_eq!(loaded.id, card.id);
        let x = Tensor::<4>::random([1, 1, 16, 16], Distribution::Uniform(0.0, 1.0), &device);
        assert_eq!(outputs(&model, &x), outputs(&loaded.model, &x));
        // A fresh network gives different outputs: the weights really came from the file.
        let fresh = config.init(&device).expect("builds");
        assert_ne!(outputs(&fresh, &x), outputs(&loaded.model, &x));
    }
}

#[test]
fn damaged_model_files_give_typed_errors() {
    let device = Device::flex();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = tiny(Arch::Unet, UpMode::Transpose, Head::default());
    let model = config.init(&device).expect("builds");
    let bytes = weights::to_bytes(&config, &model, &ModelCard::default()).expect("bytes");
    let path = dir.path().join("x.lsm");

    std::fs::write(&path, &bytes[..bytes.len() - 10]).expect("write");
    assert!(matches!(
        weights::load_file(&path, &device),
        Err(SegError::BadModelFile { .. })
    ));
    std::fs::write(&path, b"not a model at all").expect("write");
    assert!(matches!(
        weights::load_file(&path, &device),
        Err(SegError::BadModelFile { .. })
    ));
    assert!(matches!(
        weights::load_file(&dir.path().join("missing.lsm"), &device),
        Err(SegError::Io { .. })
    ));

    // Weights of one configuration under the header of another.
    let other = ModelConfig {
        base: 8,
        ..config.clone()
    };
    let other_bytes = weights::to_bytes(&other, &model, &ModelCard::default()).expect("bytes");
    assert!(matches!(
        weights::load_bytes(&other_bytes, &path, &device),
        Err(SegError::WeightsMismatch { .. })
    ));
}

#[test]
fn no_default_model_means_a_clear_error_not_random_weights() {
    let device = Device::flex();
    if !weights::has_default_model() {
        let err = weights::load_default(&device).expect_err("no embedded model");
        assert!(matches!(err, SegError::NoDefaultModel));
        assert!(
            err.to_string()
                .contains("no default model shipped in this build")
        );
    }
}
