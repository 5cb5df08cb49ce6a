//! The analysis on the real shared volumes: infection % against the ground truth
//! of `cases.csv` (`infection_in_lung_voxels / lung_voxels`).

use crate::support;

use lungscope::analysis::{
    HuFigures, Segmentation, SplitMethod, SplitOptions, analyze, body_center_x_mm, count_infection,
};
use lungscope::io::{read_mask, read_volume};
use lungscope::mask::LabelMask;

#[test]
fn infection_percent_matches_cases_csv_on_every_shared_volume() {
    let Some(dir) = support::data::volumes_dir() else {
        return;
    };
    let cases = support::data::cases_csv(&dir);
    assert_eq!(cases.len(), 14, "14 shared cases");
    for case in &cases {
        let name = &case["case"];
        let num = |k: &str| -> u64 { case[k].parse().expect("integer column") };
        let volume = read_volume(&dir.join(format!("{name}_ct.nii.gz"))).expect("ct");
        let grid = Some(&volume.geometry);
        let lung = read_mask(&dir.join(format!("{name}_lung.nii.gz")), grid).expect("lung");
        let inf = read_mask(&dir.join(format!("{name}_infection.nii.gz")), grid).expect("inf");
        let options = SplitOptions {
            body_center_x_mm: body_center_x_mm(&volume),
            ..SplitOptions::default()
        };
        let seg = Segmentation::from_masks(&lung, &inf, &options).expect("segmentation");
        let a = analyze(&seg, Some(&volume), None).expect("analysis");
        let q = &a.quantities;
        let truth: f64 = case["infection_percent_of_lung"].parse().expect("percent");
        assert!(
            (q.total.infection_percent - truth).abs() <= 0.01,
            "{name}: {} vs {truth}",
            q.total.infection_percent
        );
        // The voxel counts behind it are exact.
        assert_eq!(q.total.lung_voxels, num("lung_voxels"), "{name}");
        assert_eq!(
            q.total.infected_voxels,
            num("infection_in_lung_voxels"),
            "{name}"
        );
        assert_eq!(
            a.notes.infection_outside_lung_voxels,
            num("infection_voxels") - num("infection_in_lung_voxels"),
            "{name}"
        );
        // The fast path agrees.
        let c = count_infection(&lung.labels, &inf.labels);
        assert_eq!(
            (c.lung, c.infected),
            (q.total.lung_voxels, q.total.infected_voxels)
        );
        // Two lungs were found, each a real share of the total.
        let split = a.notes.split.as_ref().expect("one lung label: split here");
        assert_ne!(split.method, SplitMethod::SingleLung, "{name}");
        let share = q.left.lung_voxels as f64 / q.total.lung_voxels as f64;
        assert!((0.2..0.8).contains(&share), "{name}: left share {share}");
        // Pseudo-HU (8-bit) volumes: no HU statistics, with the reason.
        assert!(matches!(a.hu, HuFigures::Absent { .. }), "{name}");
    }
}

#[test]
fn combined_label_map_counts_infection_as_lung() {
    let Some(dir) = support::data::volumes_dir() else {
        return;
    };
    for case in support::data::cases_csv(&dir).iter().take(3) {
        let name = &case["case"];
        let num = |k: &str| -> u64 { case[k].parse().expect("integer column") };
        let lung = read_mask(&dir.join(format!("{name}_lung.nii.gz")), None).expect("lung");
        let inf = read_mask(&dir.join(format!("{name}_infection.nii.gz")), None).expect("inf");
        let map = LabelMask::combine(&lung, &inf).expect("same grid");
        let seg = Segmentation::from_label_map(&map, &SplitOptions::default()).expect("seg");
        let a = analyze(&seg, None, None).expect("analysis");
        // Label 3 is lung too: the lung is the union of both masks.
        let union = num("lung_voxels") + num("infection_voxels") - num("infection_in_lung_voxels");
        assert_eq!(a.quantities.total.lung_voxels, union, "{name}");
        assert_eq!(
            a.quantities.total.infected_voxels,
            num("infection_voxels"),
            "{name}"
        );
    }
}
