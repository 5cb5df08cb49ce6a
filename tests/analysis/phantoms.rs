//! Exact figures on a generated box phantom, in several storage orientations.

use crate::support;

use lungscope::analysis::{
    Analysis, HuFigures, Lobe, LobeSource, Segmentation, Side, SplitOptions, Zone, analyze,
    count_infection,
};
use lungscope::mask::LabelMask;
use lungscope::volume::{Volume, Voxels};
use support::analysis::*;

const SIGNS: [[f64; 3]; 4] = [
    [1.0, 1.0, 1.0],   // RAS
    [-1.0, -1.0, 1.0], // LPS
    [-1.0, 1.0, -1.0], // LAI
    [1.0, -1.0, -1.0], // RPI
];

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// Expected counts, from the phantom's boxes.
struct Expected {
    right: u64,
    left: u64,
    right_upper_inf: u64,
    right_lower_inf: u64,
    left_middle_inf: u64,
    voxel_ml: f64,
}

fn expected() -> Expected {
    Expected {
        right: RIGHT.voxels() as u64,
        left: LEFT.voxels() as u64,
        right_upper_inf: RIGHT_UPPER_INF.voxels() as u64,
        right_lower_inf: RIGHT_LOWER_INF.voxels() as u64,
        left_middle_inf: LEFT_MIDDLE_INF.voxels() as u64,
        voxel_ml: SPACING.iter().product::<f64>() / 1000.0,
    }
}

fn check_quantities(a: &Analysis, what: &str) {
    let e = expected();
    let q = &a.quantities;
    let right_inf = e.right_upper_inf + e.right_lower_inf;
    assert_eq!(q.right.lung_voxels, e.right, "{what}");
    assert_eq!(q.left.lung_voxels, e.left, "{what}");
    assert_eq!(q.right.infected_voxels, right_inf, "{what}");
    assert_eq!(q.left.infected_voxels, e.left_middle_inf, "{what}");
    assert!(close(q.voxel_ml, e.voxel_ml), "{what}");
    assert!(
        close(q.right.lung_ml, e.right as f64 * e.voxel_ml),
        "{what}"
    );
    assert!(close(
        q.total.infected_ml,
        (right_inf + e.left_middle_inf) as f64 * e.voxel_ml
    ));
    assert!(close(
        q.right.infection_percent,
        100.0 * right_inf as f64 / e.right as f64
    ));
    assert!(close(
        q.total.infection_percent,
        100.0 * (right_inf + e.left_middle_inf) as f64 / (e.right + e.left) as f64
    ));
    // Zones are thirds of each lung's own extent.
    let zone = |s, z| q.zone(s, z).expect("zone").amounts;
    for s in Side::BOTH {
        let lung = if s == Side::Right { e.right } else { e.left };
        for z in Zone::ALL {
            assert_eq!(zone(s, z).lung_voxels, lung / 3, "{what} {s:?} {z:?}");
        }
    }
    assert!(close(
        zone(Side::Right, Zone::Upper).infection_percent,
        100.0
    ));
    assert_eq!(zone(Side::Right, Zone::Middle).infected_voxels, 0);
    assert!(close(
        zone(Side::Right, Zone::Lower).infection_percent,
        50.0
    ));
    assert!(close(
        zone(Side::Left, Zone::Middle).infection_percent,
        25.0
    ));
    assert_eq!(zone(Side::Left, Zone::Upper).infected_voxels, 0);
}

#[test]
fn label_map_figures_are_exact_in_every_orientation() {
    for signs in SIGNS {
        let p = Phantom::new(signs);
        let seg = Segmentation::from_label_map(&p.labels, &SplitOptions::default()).expect("seg");
        assert!(seg.notes.split.is_none(), "both lung labels present");
        let a = analyze(&seg, Some(&p.volume), None).expect("analysis");
        check_quantities(&a, &format!("label map {signs:?}"));
    }
}

#[test]
fn unsided_masks_are_split_and_give_the_same_figures() {
    for signs in SIGNS {
        let p = Phantom::new(signs);
        let seg =
            Segmentation::from_masks(&p.lung, &p.infection, &SplitOptions::default()).expect("seg");
        assert!(seg.notes.split.is_some(), "one lung label: split here");
        let a = analyze(&seg, None, None).expect("analysis");
        check_quantities(&a, &format!("masks {signs:?}"));
        // Fast counting on the same masks.
        let c = count_infection(&p.lung.labels, &p.infection.labels);
        assert_eq!(c.lung, a.quantities.total.lung_voxels);
        assert_eq!(c.infected, a.quantities.total.infected_voxels);
    }
}

#[test]
fn severity_from_zones_is_an_approximation() {
    let p = Phantom::new([-1.0, -1.0, 1.0]);
    let seg = Segmentation::from_label_map(&p.labels, &SplitOptions::default()).expect("seg");
    let a = analyze(&seg, None, None).expect("analysis");
    let s = &a.severity;
    assert_eq!(s.source, LobeSource::ZoneApproximation);
    assert!(s.note.contains("Approximation"));
    let score = |l: Lobe| s.lobes.iter().find(|x| x.lobe == l).expect("lobe").score;
    // RUL 100 % -> 5, RML 0 -> 0, RLL 50 % -> 3, LUL (upper + middle) 12.5 % -> 2, LLL 0.
    assert_eq!(score(Lobe::RightUpper), 5);
    assert_eq!(score(Lobe::RightMiddle), 0);
    assert_eq!(score(Lobe::RightLower), 3);
    assert_eq!(score(Lobe::LeftUpper), 2);
    assert_eq!(score(Lobe::LeftLower), 0);
    assert_eq!(s.total, 10);
}

#[test]
fn severity_from_a_lobe_mask_uses_the_true_lobes() {
    let signs = [1.0, -1.0, -1.0];
    let p = Phantom::new(signs);
    let g = &p.geometry;
    // Left lung cut at z = 15 (LUL above, LLL below); right lung into its thirds.
    let mut lobes = vec![0u8; g.len()];
    for z in 0..DIMS[2] {
        for y in 0..DIMS[1] {
            for x in 0..DIMS[0] {
                let [i, j, k] = storage([x, y, z], signs);
                let idx = g.index(i, j, k);
                let in_box = |b: CBox| (0..3).all(|a| (b.lo[a]..b.hi[a]).contains(&[x, y, z][a]));
                lobes[idx] = if in_box(LEFT) {
                    if z >= 15 { 1 } else { 2 }
                } else if in_box(RIGHT) {
                    match z {
                        19.. => 3,
                        10..=18 => 4,
                        _ => 5,
                    }
                } else {
                    0
                };
            }
        }
    }
    let lobes = LabelMask::new(g.clone(), lobes).expect("size");
    let seg = Segmentation::from_label_map(&p.labels, &SplitOptions::default()).expect("seg");
    let a = analyze(&seg, None, Some(&lobes)).expect("analysis");
    let s = &a.severity;
    assert_eq!(s.source, LobeSource::LobeMask);
    assert_eq!(s.lung_voxels_outside_lobes, 0);
    let lobe = |l: Lobe| s.lobes.iter().find(|x| x.lobe == l).expect("lobe");
    // The left middle-third infection (z 11..19) is cut in two by z = 15: 4 slices each.
    let half = (LEFT_MIDDLE_INF.voxels() / 2) as u64;
    assert_eq!(lobe(Lobe::LeftUpper).amounts.infected_voxels, half);
    assert_eq!(lobe(Lobe::LeftLower).amounts.infected_voxels, half);
    assert_eq!(
        lobe(Lobe::LeftUpper).amounts.lung_voxels,
        LEFT.voxels() as u64 / 2
    );
    assert_eq!(lobe(Lobe::LeftUpper).score, 2);
    assert_eq!(lobe(Lobe::LeftLower).score, 2);
    assert_eq!(s.total, 5 + 3 + 2 + 2);
    // A lobe mask on another grid is refused.
    let other = LabelMask::empty(lungscope::volume::Geometry::with_signs(
        [4, 4, 4],
        [1.0; 3],
        [1.0; 3],
    ));
    assert!(analyze(&seg, None, Some(&other)).is_err());
}

#[test]
fn hu_statistics_and_bands_on_real_hu() {
    let p = Phantom::new([-1.0, -1.0, 1.0]);
    assert!(
        p.volume.hu_check().looks_like_hu,
        "{}",
        p.volume.hu_check().reason
    );
    let seg = Segmentation::from_label_map(&p.labels, &SplitOptions::default()).expect("seg");
    let a = analyze(&seg, Some(&p.volume), None).expect("analysis");
    let HuFigures::Available {
        infected,
        bands,
        histogram,
        ..
    } = &a.hu
    else {
        panic!("HU figures expected: {:?}", a.hu);
    };
    let e = expected();
    let n600 = e.right_upper_inf + e.left_middle_inf;
    let n200 = e.right_lower_inf;
    let lung = e.right + e.left;
    let inf = infected.as_ref().expect("infected region");
    assert_eq!(inf.voxels, n600 + n200);
    let mean = (-600.0 * n600 as f64 - 200.0 * n200 as f64) / (n600 + n200) as f64;
    assert!(close(inf.mean, mean));
    assert_eq!(inf.median, -600.0, "most infected voxels are at -600 HU");
    assert_eq!((inf.min, inf.max), (-600.0, -200.0));
    let band = |name: &str| bands.iter().find(|b| b.name == name).expect("band");
    assert_eq!(band("infiltrated").lung_voxels, n600);
    assert_eq!(band("collapsed").lung_voxels, n200);
    assert!(close(
        band("collapsed").percent_of_lung,
        100.0 * n200 as f64 / lung as f64
    ));
    assert_eq!(histogram.infected.iter().sum::<u64>(), n600 + n200);
    assert_eq!(histogram.lung.iter().sum::<u64>(), lung);
    // The -600 HU bin holds exactly the -600 HU voxels.
    let bin = ((-600.0 - histogram.lo_hu) / histogram.bin_hu) as usize;
    assert_eq!(histogram.infected[bin], n600);
}

#[test]
fn hu_figures_are_withheld_for_windowed_8bit_images() {
    let p = Phantom::new([-1.0, -1.0, 1.0]);
    // The same anatomy as an 8-bit lung-window screenshot rescaled to "HU".
    let Voxels::I16(hu) = &p.volume.voxels else {
        panic!("int16 phantom");
    };
    let pseudo: Vec<f32> = hu
        .iter()
        .map(|&h| {
            let g = ((f32::from(h) + 1350.0) / 1500.0 * 255.0)
                .round()
                .clamp(0.0, 255.0);
            g * 1500.0 / 255.0 - 1250.0
        })
        .collect();
    let mut v = Volume::new(p.geometry.clone(), Voxels::F32(pseudo)).expect("size");
    v.info.file_datatype = "uint8".into();
    let seg = Segmentation::from_label_map(&p.labels, &SplitOptions::default()).expect("seg");
    let a = analyze(&seg, Some(&v), None).expect("analysis");
    match &a.hu {
        HuFigures::Absent { reason } => assert!(reason.contains("Hounsfield"), "{reason}"),
        other => panic!("HU figures must be absent: {other:?}"),
    }
    // The other figures do not depend on HU.
    check_quantities(&a, "8-bit volume");
}

#[test]
fn key_slices_are_the_most_involved_per_zone() {
    let signs = [1.0, 1.0, 1.0];
    let p = Phantom::new(signs);
    let seg = Segmentation::from_label_map(&p.labels, &SplitOptions::default()).expect("seg");
    let a = analyze(&seg, None, None).expect("analysis");
    assert_eq!(a.key_slices.len(), 3);
    for k in &a.key_slices {
        // RAS storage: the axial slice number is the canonical z.
        let z = k.slice;
        match k.zone {
            Zone::Upper => assert!((19..28).contains(&z), "upper {z}"),
            Zone::Middle => assert!((11..19).contains(&z), "middle {z}"),
            Zone::Lower => assert!((1..10).contains(&z), "lower {z}"),
        }
        assert!(k.infected_voxels > 0);
    }
}
