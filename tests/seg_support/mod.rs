//! Helpers shared by the segmentation tests: where the shared data is, tiny model
//! files, generated volumes.

#![allow(dead_code)]

use burn::tensor::Device;
use lungscope::seg::model::{Arch, Head, ModelConfig, UpMode};
use lungscope::seg::weights::{self, ModelCard};
use std::path::{Path, PathBuf};

/// The shared data folder: `$LUNGSCOPE_DATA`, else `../shared/data` next to the
/// crate. `None` (with a printed note) when neither exists.
pub fn data_dir() -> Option<PathBuf> {
    let candidates = std::env::var_os("LUNGSCOPE_DATA")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::iter::once(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
        ));
    for c in candidates {
        if c.join("covid19_ct_seg_zenodo3757476_volumes").is_dir() {
            return Some(c);
        }
    }
    eprintln!("shared data not found (set LUNGSCOPE_DATA); skipping the real-data part");
    None
}

/// A real pseudo-HU volume of the shared data (`radiopaedia_group_R06`: 9 slices).
pub fn small_real_volume() -> Option<PathBuf> {
    let p =
        data_dir()?.join("covid19_ct_seg_zenodo3757476_volumes/radiopaedia_group_R06_ct.nii.gz");
    p.is_file().then_some(p)
}

/// A tiny U-Net configuration (base 4, depth 2) at `size` px.
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

/// Writes a freshly initialised tiny model file into `dir` and returns its path.
pub fn tiny_model_file(dir: &Path, head: Head, size: usize) -> PathBuf {
    let config = tiny_config(head, size);
    let model = config.init(&Device::flex()).expect("tiny model builds");
    let card = ModelCard {
        id: "test-tiny-untrained".into(),
        architecture: format!("tiny U-Net for tests ({size} px)"),
        training_data: "none (freshly initialised; for pipeline tests only)".into(),
        ..ModelCard::default()
    };
    let path = dir.join("tiny.lsm");
    weights::save(&path, &config, &model, &card).expect("model file written");
    path
}
