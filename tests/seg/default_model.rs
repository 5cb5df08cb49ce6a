//! The model built into the binary: it loads, describes itself, and segments a real
//! volume of one of its validation patients (never seen in training) well.

use crate::support;

use burn::tensor::Device;
use lungscope::io::{read_mask, read_volume};
use lungscope::mask::INFECTION;
use lungscope::seg::infer::{InferOptions, segment_volume};
use lungscope::seg::model::weights;
use lungscope::seg::train::metrics::Confusion;
use std::sync::atomic::AtomicBool;

/// Dice of two binary masks.
fn dice(pred: impl Iterator<Item = bool>, truth: impl Iterator<Item = bool>) -> f64 {
    let (pred, truth): (Vec<bool>, Vec<bool>) = pred.zip(truth).unzip();
    Confusion::from_masks(&pred, &truth).dice()
}

#[test]
fn the_build_embeds_a_trained_model_with_its_card() {
    assert!(
        weights::has_default_model(),
        "this build ships a default model (assets/lungscope-default.lsm)"
    );
    let model = weights::load_default(&Device::flex()).expect("the embedded model loads");
    let card = &model.card;
    assert!(card.id.starts_with("lungscope-"), "{}", card.id);
    assert!(
        card.training_data.contains("3757476"),
        "{}",
        card.training_data
    );
    assert!(card.recipe.contains("lungscope train"), "{}", card.recipe);
    for key in ["val_dice_lung", "val_dice_infection"] {
        let v = card.metrics.get(key).copied().unwrap_or(f64::NAN);
        assert!(v > 0.5 && v <= 1.0, "{key} = {v}");
    }
    assert_eq!(
        model.config.output_labels(),
        vec!["lung".to_string(), "infection".to_string()]
    );
}

#[test]
fn the_default_model_segments_a_validation_patient() {
    let Some(data) = support::data::data_dir() else {
        return;
    };
    // radiopaedia_group_R03 is one of the default model's validation patients.
    let dir = data.join("covid19_ct_seg_zenodo3757476_volumes");
    let volume = read_volume(&dir.join("radiopaedia_group_R03_ct.nii.gz")).expect("CT");
    let lung = read_mask(
        &dir.join("radiopaedia_group_R03_lung.nii.gz"),
        Some(&volume.geometry),
    )
    .expect("lung mask");
    let infection = read_mask(
        &dir.join("radiopaedia_group_R03_infection.nii.gz"),
        Some(&volume.geometry),
    )
    .expect("infection mask");

    let device = Device::flex();
    let model = weights::load_default(&device).expect("the embedded model loads");
    let cancel = AtomicBool::new(false);
    let seg = segment_volume(
        &model,
        &device,
        &volume,
        &InferOptions::default(),
        &cancel,
        &mut |_| {},
    )
    .expect("segmentation runs");

    let labels = &seg.mask.labels;
    let lung_dice = dice(
        labels.iter().map(|&v| v > 0),
        lung.labels.iter().map(|&v| v > 0),
    );
    let infection_dice = dice(
        labels.iter().map(|&v| v == INFECTION),
        infection.labels.iter().map(|&v| v > 0),
    );
    eprintln!(
        "radiopaedia_group_R03: lung Dice {lung_dice:.3}, infection Dice {infection_dice:.3}"
    );
    assert!(lung_dice > 0.90, "lung Dice {lung_dice:.3}");
    assert!(infection_dice > 0.55, "infection Dice {infection_dice:.3}");
}
