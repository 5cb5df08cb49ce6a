//! Data sets: the layouts are read, masks are binary, images are in the model range, and
//! the split never puts one patient on both sides.

use crate::support;

use std::path::Path;

use lungscope::seg::data::{
    Layout, LoadOptions, PairMasks, detect_layout, distinct_cases, load_dataset, split_by_case,
    split_fold,
};
use support::data::data_dir;
use support::seg::phantom;

#[test]
fn split_is_by_patient_deterministic_and_near_the_fraction() {
    // 10 cases of different sizes.
    let mut samples = Vec::new();
    for c in 0..10 {
        for k in 0..(5 + 3 * c) {
            samples.push(phantom(
                &format!("case{c}"),
                &format!("case{c}#{k}"),
                8,
                0.0,
            ));
        }
    }
    let total = samples.len();
    for seed in 0..20 {
        let (train, val) = split_by_case(samples.clone(), 0.2, seed).expect("splits");
        let (tc, vc) = (distinct_cases(&train), distinct_cases(&val));
        assert!(
            tc.iter().all(|c| !vc.contains(c)),
            "seed {seed}: a case on both sides"
        );
        assert_eq!(train.len() + val.len(), total);
        assert!(!tc.is_empty() && !vc.is_empty());
        assert!(
            val.len() as f64 >= 0.2 * total as f64,
            "seed {seed}: {} validation slices",
            val.len()
        );
        let (train2, val2) = split_by_case(samples.clone(), 0.2, seed).expect("splits");
        assert_eq!((train2, val2), (train, val), "same seed, same split");
    }
    let a = distinct_cases(&split_by_case(samples.clone(), 0.2, 1).expect("splits").1);
    let b = distinct_cases(&split_by_case(samples.clone(), 0.2, 2).expect("splits").1);
    let c = distinct_cases(&split_by_case(samples.clone(), 0.2, 3).expect("splits").1);
    assert!(
        a != b || b != c,
        "different seeds choose different patients"
    );
    assert!(
        split_by_case(samples[..3].to_vec(), 0.2, 0).is_err(),
        "one case cannot be split"
    );
}

#[test]
fn cross_validation_folds_hold_out_every_patient_exactly_once() {
    let mut samples = Vec::new();
    for c in 0..10 {
        for k in 0..(2 + c) {
            samples.push(phantom(
                &format!("case{c}"),
                &format!("case{c}#{k}"),
                8,
                0.0,
            ));
        }
    }
    let mut held: Vec<String> = Vec::new();
    for fold in 1..=4 {
        let (train, val) = split_fold(samples.clone(), 4, fold, 42).expect("folds");
        let (tc, vc) = (distinct_cases(&train), distinct_cases(&val));
        assert!(
            tc.iter().all(|c| !vc.contains(c)),
            "fold {fold}: a case on both sides"
        );
        assert_eq!(train.len() + val.len(), samples.len());
        assert!(
            (2..=3).contains(&vc.len()),
            "fold {fold}: {} patients",
            vc.len()
        );
        held.extend(vc);
        let again = split_fold(samples.clone(), 4, fold, 42).expect("folds");
        assert_eq!(again, (train, val), "same seed, same fold");
    }
    held.sort();
    let mut all = distinct_cases(&samples);
    all.sort();
    assert_eq!(held, all, "every patient validates once");
    assert!(split_fold(samples.clone(), 4, 0, 42).is_err());
    assert!(split_fold(samples.clone(), 4, 5, 42).is_err());
    assert!(split_fold(samples.clone(), 1, 1, 42).is_err());
    assert!(split_fold(samples[..2].to_vec(), 4, 1, 42).is_err());
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    std::fs::copy(from, to).expect("copy");
}

#[test]
fn png_triplets_with_slices_csv_give_cases_and_binary_masks() {
    let Some(data) = data_dir() else { return };
    let src = data.join("covid19_ct_seg_zenodo3757476_png256");
    let dir = tempfile::tempdir().expect("temp");
    let files = [
        ("0000.png", "coronacases_001"),
        ("0001.png", "coronacases_001"),
        ("1300.png", "radiopaedia_group_R01"),
    ];
    let mut csv = String::from("file,kaggle_order_index,inferred_case\n");
    for (i, (f, case)) in files.iter().enumerate() {
        for sub in ["ct", "lungs", "covid"] {
            copy(&src.join(sub).join(f), &dir.path().join(sub).join(f));
        }
        csv.push_str(&format!("{f},{i},{case}\n"));
    }
    std::fs::write(dir.path().join("slices.csv"), csv).expect("csv");
    assert_eq!(
        detect_layout(dir.path()).expect("layout"),
        Layout::PngTriplets
    );
    let ds = load_dataset(dir.path(), &LoadOptions::default()).expect("loads");
    assert_eq!(ds.samples.len(), 3);
    assert_eq!(
        ds.cases(),
        vec![
            "coronacases_001".to_string(),
            "radiopaedia_group_R01".to_string()
        ]
    );
    for s in &ds.samples {
        assert_eq!((s.width, s.height), (256, 256));
        assert!(s.image.iter().all(|v| (0.0..=1.0).contains(v)));
        let lung = s.lung.as_ref().expect("lung mask");
        let inf = s.infection.as_ref().expect("infection mask");
        assert!(lung.iter().chain(inf).all(|&v| v <= 1));
        assert!(lung.contains(&1) && inf.contains(&1));
    }
    // A slice the table does not name is refused: no patient, no split.
    std::fs::write(
        dir.path().join("slices.csv"),
        "file,inferred_case\n0000.png,a\n",
    )
    .expect("csv");
    let err = load_dataset(dir.path(), &LoadOptions::default()).expect_err("slice without case");
    assert!(err.to_string().contains("slices.csv"), "{err}");
}

#[test]
fn case_volumes_give_axial_slices_in_the_model_range() {
    let Some(data) = data_dir() else { return };
    let src = data.join("covid19_ct_seg_zenodo3757476_volumes");
    let dir = tempfile::tempdir().expect("temp");
    for suffix in ["ct", "lung", "infection"] {
        let f = format!("radiopaedia_group_R06_{suffix}.nii.gz");
        copy(&src.join(&f), &dir.path().join(&f));
    }
    assert_eq!(
        detect_layout(dir.path()).expect("layout"),
        Layout::CaseVolumes
    );
    let ds = load_dataset(dir.path(), &LoadOptions::default()).expect("loads");
    assert_eq!(ds.samples.len(), 9, "R06 has 9 slices, all with lung");
    assert_eq!(ds.cases(), vec!["radiopaedia_group_R06".to_string()]);
    let s = &ds.samples[0];
    assert_eq!((s.width, s.height), (256, 256));
    assert!(s.image.iter().all(|v| (0.0..=1.0).contains(v)));
    // The pseudo-HU is uint8 * 1500/255 - 1250, so unit values are multiples of 1/255.
    assert!(
        s.image
            .iter()
            .all(|v| ((v * 255.0) - (v * 255.0).round()).abs() < 1e-3)
    );
}

/// Negatives (slices with neither lung nor infection, e.g. abdomen or head) are
/// skipped unless asked for (`train --empty-slices`), then come with empty masks.
#[test]
fn empty_slices_of_volumes_are_taken_only_when_asked() {
    let Some(data) = data_dir() else { return };
    let src = data.join("covid19_ct_seg_zenodo3757476_volumes");
    let dir = tempfile::tempdir().expect("temp");
    for suffix in ["ct", "lung", "infection"] {
        let f = format!("radiopaedia_group_R06_{suffix}.nii.gz");
        copy(&src.join(&f), &dir.path().join(&f));
    }
    let ct =
        lungscope::io::read_volume(&src.join("radiopaedia_group_R06_ct.nii.gz")).expect("reads");
    lungscope::io::write_volume(&dir.path().join("neg_ct.nii.gz"), &ct).expect("writes");
    let empty = lungscope::mask::LabelMask::empty(ct.geometry.clone());
    for suffix in ["lung", "infection"] {
        lungscope::io::write_mask(
            &dir.path().join(format!("neg_{suffix}.nii.gz")),
            &empty,
            None,
        )
        .expect("writes");
    }
    let ds = load_dataset(dir.path(), &LoadOptions::default()).expect("loads");
    assert_eq!(
        ds.samples.len(),
        9,
        "the negative's slices skipped by default"
    );
    assert!(ds.samples.iter().all(|s| s.case != "neg"));
    let opts = LoadOptions {
        include_empty_slices: true,
        ..LoadOptions::default()
    };
    let ds = load_dataset(dir.path(), &opts).expect("loads");
    assert_eq!(ds.samples.len(), 18, "and all 9 as negatives when asked");
    for s in ds.samples.iter().filter(|s| s.case == "neg") {
        assert!(s.lung.as_ref().is_some_and(|m| m.iter().all(|&v| v == 0)));
        assert!(
            s.infection
                .as_ref()
                .is_some_and(|m| m.iter().all(|&v| v == 0))
        );
    }
}

#[test]
fn pair_folders_match_masks_by_name_or_mask_suffix() {
    let dir = tempfile::tempdir().expect("temp");
    let p = phantom("x", "x", 24, 0.0);
    let img = image::GrayImage::from_fn(24, 24, |x, y| {
        image::Luma([(p.image[(y * 24 + x) as usize] * 255.0) as u8])
    });
    let labels = image::GrayImage::from_fn(24, 24, |x, y| {
        let i = (y * 24 + x) as usize;
        image::Luma([if p.infection.as_ref().expect("inf")[i] == 1 {
            3
        } else {
            p.lung.as_ref().expect("lung")[i]
        }])
    });
    for sub in ["train_images", "train_masks", "val_images", "val_masks"] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
    }
    img.save(dir.path().join("train_images/a.png"))
        .expect("save");
    labels
        .save(dir.path().join("train_masks/a_mask.png"))
        .expect("save");
    img.save(dir.path().join("train_images/b.png"))
        .expect("save");
    labels
        .save(dir.path().join("train_masks/b.png"))
        .expect("save");
    img.save(dir.path().join("val_images/c.png")).expect("save");
    labels
        .save(dir.path().join("val_masks/c.png"))
        .expect("save");
    let opts = LoadOptions {
        pair_masks: PairMasks::Labels,
        include_empty_slices: false,
    };
    let ds = load_dataset(dir.path(), &opts).expect("loads");
    assert_eq!(ds.layout, Layout::PngPairs);
    assert_eq!(ds.samples.len(), 2);
    assert_eq!(ds.predefined_val.as_ref().map(Vec::len), Some(1));
    assert_eq!(ds.samples[0].lung, p.lung);
    assert_eq!(ds.samples[0].infection, p.infection);
    // Binary reading: infection only.
    let ds = load_dataset(dir.path(), &LoadOptions::default()).expect("loads");
    assert!(ds.samples[0].lung.is_none());
    std::fs::remove_file(dir.path().join("train_masks/b.png")).expect("rm");
    let err = load_dataset(dir.path(), &opts).expect_err("mask missing");
    assert!(err.to_string().contains("no mask for this image"), "{err}");
}

#[test]
fn unknown_folders_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp");
    let err = load_dataset(dir.path(), &LoadOptions::default()).expect_err("empty folder");
    assert!(err.to_string().contains("unknown data layout"), "{err}");
    let err = load_dataset(&dir.path().join("nope"), &LoadOptions::default()).expect_err("missing");
    assert!(err.to_string().contains("not found"), "{err}");
}
