//! Segmentation fixtures: tiny model configurations and freshly initialised model
//! files, and small synthetic slices.

use burn::tensor::Device;
use lungscope::seg::data::SliceSample;
use lungscope::seg::model::weights::{self, ModelCard};
use lungscope::seg::model::{Arch, Head, ModelConfig, UpMode};
use std::path::{Path, PathBuf};

/// A tiny U-Net configuration (base 4, depth 2, transposed convolutions up) at
/// `size` px.
pub fn tiny_config(head: Head, size: usize) -> ModelConfig {
    ModelConfig {
        arch: Arch::Unet,
        in_channels: 1,
        base: 4,
        depth: 2,
        batch_norm: true,
        up: UpMode::Transpose,
        head,
        input_size: size,
    }
}

/// Writes a freshly initialised model of `config` with `card` to `dir/name`.
fn save_fresh(dir: &Path, name: &str, config: &ModelConfig, card: &ModelCard) -> PathBuf {
    let model = config.init(&Device::flex()).expect("model builds");
    let path = dir.join(name);
    weights::save(&path, config, &model, card).expect("model file written");
    path
}

/// Writes a freshly initialised tiny model file (`tiny.lsm`, id
/// `test-tiny-untrained`) into `dir` and returns its path.
pub fn tiny_model_file(dir: &Path, head: Head, size: usize) -> PathBuf {
    let card = ModelCard {
        id: "test-tiny-untrained".into(),
        architecture: format!("tiny U-Net for tests ({size} px)"),
        training_data: "none (freshly initialised; for pipeline tests only)".into(),
        ..ModelCard::default()
    };
    save_fresh(dir, "tiny.lsm", &tiny_config(head, size), &card)
}

/// A model file with `config`, freshly initialised, named `id`, at `dir/name`.
pub fn model_file(dir: &Path, name: &str, id: &str, config: &ModelConfig) -> PathBuf {
    let card = ModelCard {
        id: id.into(),
        architecture: "untrained test network".into(),
        training_data: "none (freshly initialised; for pipeline tests only)".into(),
        ..ModelCard::default()
    };
    save_fresh(dir, name, config, &card)
}

/// A synthetic `s x s` slice: a dark lung disc with a bright infection disc inside it.
/// `shift` moves both discs so different samples differ.
pub fn phantom(case: &str, name: &str, s: usize, shift: f32) -> SliceSample {
    let c = s as f32 / 2.0 + shift;
    let (r_lung, r_inf) = (s as f32 * 0.38, s as f32 * 0.17);
    let mut image = vec![0.6f32; s * s];
    let mut lung = vec![0u8; s * s];
    let mut infection = vec![0u8; s * s];
    for y in 0..s {
        for x in 0..s {
            let d = ((x as f32 - c).powi(2) + (y as f32 - c).powi(2)).sqrt();
            let di = ((x as f32 - c - r_inf).powi(2) + (y as f32 - c).powi(2)).sqrt();
            if d < r_lung {
                lung[y * s + x] = 1;
                image[y * s + x] = 0.1;
                if di < r_inf {
                    infection[y * s + x] = 1;
                    image[y * s + x] = 0.45;
                }
            }
        }
    }
    SliceSample {
        case: case.into(),
        name: name.into(),
        width: s,
        height: s,
        image,
        lung: Some(lung),
        infection: Some(infection),
    }
}
