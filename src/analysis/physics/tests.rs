//! Tests of the HU physics.

use super::infection::remove_in_aerated_surroundings;
use super::*;
use crate::volume::{Geometry, Voxels};

#[test]
fn holes_are_filled_border_background_is_not() {
    // 5x5 ring with a hole in the middle and a notch open to the border.
    let w = 5;
    let mut m = vec![false; 25];
    for r in 1..4 {
        for c in 1..4 {
            m[r * w + c] = !(r == 2 && c == 2);
        }
    }
    let f = fill_holes(&m, w, 5);
    assert!(f[2 * w + 2], "the hole is filled");
    assert!(!f[0], "the border stays background");
    assert_eq!(f.iter().filter(|&&v| v).count(), 9);
}

/// A body (water) with two "lungs" of aerated parenchyma (−850 HU) and a pure
/// air pocket (−1000 HU) standing for bowel gas.
fn phantom() -> Volume {
    let dims = [40, 40, 6];
    let g = Geometry::with_signs(dims, [2.0, 2.0, 5.0], [-1.0, -1.0, 1.0]);
    let mut v = vec![-1000i16; g.len()];
    for k in 0..6 {
        for j in 0..40 {
            for i in 0..40 {
                let (x, y) = (i as i32 - 20, j as i32 - 20);
                let idx = g.index(i, j, k);
                if x * x + y * y < 18 * 18 {
                    v[idx] = 40;
                }
                let left = (x + 8) * (x + 8) + y * y < 36;
                let right = (x - 8) * (x - 8) + y * y < 36;
                if left || right {
                    // parenchyma with a vessel pattern: mostly -850
                    v[idx] = if i % 5 == 0 && j % 5 == 0 { -200 } else { -850 };
                }
                if (x * x + (y - 12) * (y - 12)) < 6 {
                    v[idx] = -1000;
                }
            }
        }
    }
    // scanner noise, so the phantom has the grey levels of a measured CT
    for (n, x) in v.iter_mut().enumerate() {
        *x += ((n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57) as i16 - 64;
    }
    Volume::new(g, Voxels::I16(v)).expect("sizes match")
}

#[test]
fn envelope_keeps_parenchyma_and_refuses_pure_air() {
    let vol = phantom();
    let env = lung_envelope(&vol, &PhysicsConfig::default());
    assert_eq!(env.kept.0, 2, "two lungs kept");
    assert_eq!(env.refused.0, 1, "the gas pocket refused");
    let g = &vol.geometry;
    assert!(env.inside[g.index(12, 20, 3)], "left lung centre inside");
    assert!(!env.inside[g.index(20, 32, 3)], "gas pocket outside");
    assert!(!env.inside[g.index(0, 0, 3)], "outside the body");
}

#[test]
fn infection_on_aerated_lung_is_removed_dense_is_kept() {
    let mut vol = phantom();
    let g = vol.geometry.clone();
    // ground glass in the right lung
    if let Voxels::I16(v) = &mut vol.voxels {
        for k in 0..6 {
            for j in 18..23 {
                for i in 26..31 {
                    v[g.index(i, j, k)] = -500;
                }
            }
        }
    }
    let n = g.len();
    let mut lung = vec![false; n];
    let mut inf = vec![false; n];
    for k in 0..6 {
        for j in 0..40 {
            for i in 0..40 {
                let (x, y) = (i as i32 - 20, j as i32 - 20);
                let l = (x + 8) * (x + 8) + y * y < 36 || (x - 8) * (x - 8) + y * y < 36;
                lung[g.index(i, j, k)] = l || (x * x + (y - 12) * (y - 12)) < 6;
                inf[g.index(i, j, k)] = l;
            }
        }
    }
    let r = gate(
        &vol,
        Some(&mut lung),
        Some(&mut inf),
        &PhysicsConfig::default(),
    );
    assert!(r.applied, "{}", r.note);
    assert!(!lung[g.index(20, 32, 3)], "gas pocket is not lung");
    assert!(r.lung_removed_ml > 0.0);
    assert!(
        !inf[g.index(12, 20, 3)],
        "aerated left lung is not infection"
    );
    assert!(inf[g.index(28, 20, 3)], "ground glass stays infection");
    assert!(r.infection_removed_aerated_ml > 0.0);
}

/// Aerated lung (−850 HU) crossed by a thin vessel (+40 HU, 2 px = 2 mm wide),
/// beside a wide consolidation (+20 HU, 16 mm) and a ground-glass patch
/// (−550 HU, 24 mm) with a vessel through it; the network called all of them
/// infection. The vessel in aerated lung and its rim go; the consolidation,
/// the ground glass and the vessel inside it stay (the patch loses at most its
/// corners).
#[test]
fn vessels_in_aerated_lung_are_not_infection() {
    let (w, hgt) = (64usize, 64usize);
    let g = Geometry::with_signs([w, hgt, 1], [1.0, 1.0, 5.0], [-1.0, -1.0, 1.0]);
    let mut v = vec![-850i16; g.len()];
    let mut inf = vec![false; g.len()];
    for j in 0..hgt {
        for i in 0..w {
            let idx = g.index(i, j, 0);
            if (30..32).contains(&j) && i < 20 {
                v[idx] = 40; // vessel in aerated lung
                inf[idx] = true;
            } else if (29..33).contains(&j) && i < 20 {
                v[idx] = -600; // its partial-volume rim
                inf[idx] = true;
            }
            let (x, y) = (i as i32 - 48, j as i32 - 16);
            if x * x + y * y <= 64 {
                v[idx] = 20; // consolidation, a disk of 8 mm radius
                inf[idx] = true;
            }
            if (36..60).contains(&i) && (36..60).contains(&j) {
                v[idx] = if (47..49).contains(&i) { 40 } else { -550 };
                inf[idx] = true;
            }
        }
    }
    let vol = Volume::new(g.clone(), Voxels::I16(v)).expect("sizes");
    let lung = vec![true; g.len()];
    let before = inf.clone();
    let removed =
        remove_in_aerated_surroundings(&vol, Some(&lung), &mut inf, &PhysicsConfig::default());
    let vessel_rim = (0..20usize)
        .flat_map(|i| (29..33usize).map(move |j| (i, j)))
        .filter(|&(i, j)| !inf[g.index(i, j, 0)])
        .count();
    assert_eq!(vessel_rim, 80, "the vessel and its rim removed");
    let consolidation_lost = (0..w)
        .flat_map(|i| (0..hgt).map(move |j| (i, j)))
        .filter(|&(i, j)| (i as i32 - 48).pow(2) + (j as i32 - 16).pow(2) <= 64)
        .filter(|&(i, j)| !inf[g.index(i, j, 0)])
        .count();
    // the disk's four one-pixel tips are narrower than the opening
    assert!(
        consolidation_lost <= 8,
        "consolidation kept: {consolidation_lost} lost"
    );
    let patch: Vec<usize> = (36..60usize)
        .flat_map(|i| (36..60usize).map(move |j| (i, j)))
        .map(|(i, j)| g.index(i, j, 0))
        .collect();
    let kept = patch.iter().filter(|&&i| inf[i]).count();
    assert!(
        kept * 100 >= patch.len() * 85,
        "ground glass kept but for corners: {kept} of {}",
        patch.len()
    );
    assert_eq!(
        removed as usize,
        80 + consolidation_lost + patch.len() - kept
    );
    assert!(
        before.iter().zip(&inf).all(|(&b, &a)| b || !a),
        "nothing added"
    );
    assert!(inf[g.index(48, 16, 0)], "consolidation centre kept");
    assert!(inf[g.index(40, 16, 0)], "consolidation edge kept");
    assert!(inf[g.index(40, 40, 0)], "ground glass kept");
    assert!(inf[g.index(47, 48, 0)], "vessel inside ground glass kept");
}

#[test]
fn not_hu_is_not_gated() {
    let g = Geometry::with_signs([8, 8, 2], [1.0; 3], [1.0; 3]);
    let mut vol = Volume::new(g.clone(), Voxels::I16(vec![100; g.len()])).expect("sizes");
    vol.info.file_datatype = "uint8".into();
    let mut lung = vec![true; g.len()];
    let r = gate(&vol, Some(&mut lung), None, &PhysicsConfig::default());
    assert!(!r.applied);
    assert!(r.note.contains("not measured HU"), "{}", r.note);
    assert!(lung.iter().all(|&v| v));
}
