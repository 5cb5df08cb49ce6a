//! Helpers shared by the segmentation tests: where the shared data is, tiny model
//! files, generated volumes and small synthetic slices.
#![allow(dead_code)]

use burn::tensor::Device;
use lungscope::seg::data::SliceSample;
use lungscope::seg::model::{Arch, Head, ModelConfig, UpMode};
use lungscope::seg::weights::{self, ModelCard};
use std::path::{Path, PathBuf};

/// True when running under CI (`CI` set), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// The shared data folder: `$LUNGSCOPE_DATA`, `../shared/data` next to the checkout, or
/// `/work/shared/data`. `None` (a skip) outside CI if none exists.
pub fn data_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("LUNGSCOPE_DATA").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data")),
        Some(PathBuf::from("/work/shared/data")),
    ];
    let found = candidates.into_iter().flatten().find(|p| {
        p.join("covid19_ct_seg_zenodo3757476_png256").is_dir()
            && p.join("covid19_ct_seg_zenodo3757476_volumes").is_dir()
    });
    if found.is_none() {
        assert!(!in_ci(), "shared data not found: set LUNGSCOPE_DATA");
        eprintln!("skipped: shared data not found (set LUNGSCOPE_DATA)");
    }
    found
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
