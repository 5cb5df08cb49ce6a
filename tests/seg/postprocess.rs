//! Postprocessing on generated phantoms: left/right by patient side for any
//! affine, infection restricted to lung, specks removed, probabilities decoded
//! through the letterbox.

use lungscope::mask::{INFECTION, LEFT_LUNG, RIGHT_LUNG};
use lungscope::seg::data::resample::Letterbox;
use lungscope::seg::infer::postprocess::{
    HeadMapping, PostprocessConfig, SliceDecoder, Source, finish,
};
use lungscope::seg::model::Head;
use lungscope::volume::Geometry;

/// Voxels of `g` within `r` mm of world point `c`.
fn ball(g: &Geometry, c: [f64; 3], r: f64) -> Vec<bool> {
    let [nx, ny, nz] = g.dims;
    let mut out = vec![false; g.len()];
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let p = g.vox2mm([i as f64, j as f64, k as f64]);
                let d2: f64 = (0..3).map(|a| (p[a] - c[a]).powi(2)).sum();
                out[g.index(i, j, k)] = d2 <= r * r;
            }
        }
    }
    out
}

fn or(a: &[bool], b: &[bool]) -> Vec<bool> {
    a.iter().zip(b).map(|(&x, &y)| x || y).collect()
}

fn grids() -> Vec<(&'static str, Geometry)> {
    vec![
        (
            "RAS",
            Geometry::with_signs([48, 32, 20], [2.0, 2.0, 2.5], [1.0, 1.0, 1.0]),
        ),
        (
            "LPS",
            Geometry::with_signs([48, 32, 20], [2.0, 2.0, 2.5], [-1.0, -1.0, 1.0]),
        ),
    ]
}

#[test]
fn two_blobs_get_left_and_right_by_patient_side() {
    for (name, g) in grids() {
        // Patient left is -x in RAS+ world space.
        let left = ball(&g, [-22.0, 0.0, 0.0], 14.0);
        let right = ball(&g, [22.0, 0.0, 0.0], 16.0);
        let lung = or(&left, &right);
        let (mask, report) = finish(
            &g,
            Some(lung),
            None,
            &PostprocessConfig::default(),
            Some(0.0),
        )
        .expect("postprocessing succeeds");
        for idx in 0..g.len() {
            let want = if left[idx] {
                LEFT_LUNG
            } else if right[idx] {
                RIGHT_LUNG
            } else {
                0
            };
            assert_eq!(mask.labels[idx], want, "{name}: voxel {idx}");
        }
        let split = report.split.expect("lungs were split");
        assert!(
            split.midline_x_mm.abs() < 8.0,
            "{name}: midline {}",
            split.midline_x_mm
        );
        assert_eq!(report.lung_components_kept, 2);
    }
}

#[test]
fn infection_outside_the_lung_and_specks_are_removed() {
    let (_, g) = grids().remove(1);
    let left = ball(&g, [-22.0, 0.0, 0.0], 14.0);
    let right = ball(&g, [22.0, 0.0, 0.0], 14.0);
    // A lung speck far from the lungs: 1 voxel.
    let mut lung = or(&left, &right);
    let speck_idx = g.index(0, 0, 0);
    lung[speck_idx] = true;
    // Infection: a lesion half inside the right lung, a blob outside any lung, and
    // an isolated single voxel inside the left lung (a speck).
    let lesion = ball(&g, [30.0, 0.0, 0.0], 8.0);
    let outside = ball(&g, [0.0, 22.0, 0.0], 5.0);
    let mut infection = or(&lesion, &outside);
    let centre = g.mm2vox([-22.0, 0.0, 0.0]).expect("invertible");
    let dot = g.index(
        centre[0].round() as usize,
        centre[1].round() as usize,
        centre[2].round() as usize,
    );
    infection[dot] = true;

    let config = PostprocessConfig {
        min_infection_mm3: 50.0, // one voxel is 10 mm3
        ..PostprocessConfig::default()
    };
    let (mask, report) =
        finish(&g, Some(lung.clone()), Some(infection), &config, None).expect("ok");
    for idx in 0..g.len() {
        let l = mask.labels[idx];
        if lesion[idx] && right[idx] {
            assert_eq!(l, INFECTION, "lesion inside the lung stays");
        }
        if l == INFECTION {
            assert!(right[idx] || left[idx], "infection only inside lung");
        }
    }
    assert_eq!(
        mask.labels[dot], LEFT_LUNG,
        "the one-voxel speck is dropped, lung remains"
    );
    assert_eq!(mask.labels[speck_idx], 0, "the far lung speck is dropped");
    assert_eq!(report.lung_components_dropped, 1);
    assert_eq!(report.infection_specks_dropped, 1);
    let outside_count = outside.iter().filter(|&&v| v).count() as u64;
    let lesion_out = lesion
        .iter()
        .zip(&right)
        .filter(|(l, r)| **l && !**r)
        .count() as u64;
    assert_eq!(
        report.infection_outside_lung_voxels,
        outside_count + lesion_out
    );
}

#[test]
fn empty_prediction_gives_an_empty_mask() {
    let (_, g) = grids().remove(0);
    let (mask, report) = finish(
        &g,
        Some(vec![false; g.len()]),
        Some(vec![false; g.len()]),
        &PostprocessConfig::default(),
        None,
    )
    .expect("ok");
    assert!(mask.labels.iter().all(|&l| l == 0));
    assert!(report.split.is_none());
}

#[test]
fn decoder_resizes_probabilities_back_to_the_native_slice() {
    // A 40 x 20 native slice (square pixels) in a 16 x 16 input: content 16 x 8 at
    // rows 4..12. Lung probability 0.9 on the left half of the content, infection
    // 0.9 on its top-left quarter.
    let lb = Letterbox::new(40, 20, [1.0, 1.0], 16);
    assert_eq!((lb.content_w, lb.content_h, lb.offset_y), (16, 8, 4));
    let mut probs = vec![0.1f32; 2 * 16 * 16];
    for r in 4..12 {
        for c in 0..8 {
            probs[r * 16 + c] = 0.9;
            if r < 8 && c < 4 {
                probs[256 + r * 16 + c] = 0.9;
            }
        }
    }
    let dec = SliceDecoder {
        mapping: HeadMapping::of(&Head::Sigmoid { channels: 2 }),
        letterbox: lb,
        threshold: 0.5,
    };
    let m = dec.decode(&probs);
    let lung = m.lung.expect("lung map");
    let inf = m.infection.expect("infection map");
    assert_eq!(lung.len(), 40 * 20);
    // Left half of the native slice is lung, right half not (the edge pixel pair may blend).
    for row in 0..20 {
        for col in 0..40 {
            if col < 19 {
                assert!(lung[row * 40 + col], "({col},{row}) lung");
            } else if col > 20 {
                assert!(!lung[row * 40 + col], "({col},{row}) not lung");
            }
        }
    }
    assert!(inf[2 * 40 + 2] && !inf[15 * 40 + 2] && !inf[2 * 40 + 15]);
    // Statistics cover the content only (16 x 8 pixels).
    assert_eq!(m.lung_stats.pixels, 128);
    assert_eq!(m.lung_stats.positive, 64);
}

#[test]
fn softmax_heads_give_infection_as_not_background() {
    let mapping = HeadMapping::of(&Head::Softmax { classes: 3 });
    assert_eq!(mapping.lung, None);
    assert_eq!(mapping.infection, Some(Source::NotBackground));
    let lb = Letterbox::new(4, 4, [1.0, 1.0], 4);
    // Background probability 0.8 except pixel 5 (0.3): only pixel 5 is infection.
    let mut probs = vec![0.1f32; 3 * 16];
    probs[..16].fill(0.8);
    probs[5] = 0.3;
    let m = SliceDecoder {
        mapping,
        letterbox: lb,
        threshold: 0.5,
    }
    .decode(&probs);
    let inf = m.infection.expect("infection");
    assert!(m.lung.is_none());
    assert_eq!(inf.iter().filter(|&&v| v).count(), 1);
    assert!(inf[5]);
}
