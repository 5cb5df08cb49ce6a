//! Interpolation of a label between two edited slices (shape-based: the signed
//! distance maps of the two slices are blended linearly, so a small circle on one
//! slice and a large one on another give discs of intermediate size between them).

use crate::analysis::distance::squared_distance as edt;
use crate::mask::LabelMask;
use crate::volume::{SliceMap, View};

/// Why an interpolation could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InterpolateError {
    /// One of the two slices holds none of the label.
    #[error("slice {slice} has no voxel of label {label}: draw it on both slices first")]
    EmptySlice {
        /// The slice.
        slice: usize,
        /// The label.
        label: u8,
    },
    /// The slices are the same or adjacent, or outside the volume.
    #[error(
        "slices {a} and {b} leave nothing to interpolate (need two slices with a gap, within 0..{depth})"
    )]
    NoGap {
        /// First slice.
        a: usize,
        /// Second slice.
        b: usize,
        /// Number of slices in the view.
        depth: usize,
    },
}

/// Changes `(linear index, label)` that fill `label` on the slices strictly between
/// `a` and `b` of `view`. Existing voxels of the label are kept (the fill adds).
pub fn interpolate(
    mask: &LabelMask,
    view: View,
    a: usize,
    b: usize,
    label: u8,
) -> Result<Vec<(usize, u8)>, InterpolateError> {
    let g = &mask.geometry;
    let map = SliceMap::new(g, view);
    let (a, b) = (a.min(b), a.max(b));
    if b >= map.depth || b - a < 2 {
        return Err(InterpolateError::NoGap {
            a,
            b,
            depth: map.depth,
        });
    }
    let px = map.pixel_mm(g);
    let sdf_of = |slice: usize| -> Result<Vec<f64>, InterpolateError> {
        let img = map.extract(g.dims, &mask.labels, slice);
        let inside: Vec<bool> = img.iter().map(|&l| l == label).collect();
        if !inside.iter().any(|&x| x) {
            return Err(InterpolateError::EmptySlice { slice, label });
        }
        Ok(signed_distance(&inside, map.width, map.height, px))
    };
    let sa = sdf_of(a)?;
    let sb = sdf_of(b)?;
    let mut out = Vec::new();
    for s in a + 1..b {
        let w = (s - a) as f64 / (b - a) as f64;
        for row in 0..map.height {
            for col in 0..map.width {
                let k = row * map.width + col;
                if (1.0 - w) * sa[k] + w * sb[k] < 0.0 {
                    let v = map.voxel(col, row, s);
                    out.push((g.index(v[0], v[1], v[2]), label));
                }
            }
        }
    }
    Ok(out)
}

/// Signed distance in mm (negative inside) of a binary image with pixel size
/// `px = [width, height]` mm: distance to the nearest outside pixel inside, to the
/// nearest inside pixel outside.
pub fn signed_distance(inside: &[bool], w: usize, h: usize, px: [f64; 2]) -> Vec<f64> {
    let to_inside = edt(inside, w, h, px, true);
    let to_outside = edt(inside, w, h, px, false);
    to_inside
        .iter()
        .zip(&to_outside)
        .map(|(di, do_)| di.sqrt() - do_.sqrt())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Geometry;

    #[test]
    fn circles_interpolate_to_intermediate_discs() {
        let g = Geometry::with_signs([64, 64, 11], [1.0; 3], [-1.0, -1.0, 1.0]);
        let mut m = LabelMask::empty(g.clone());
        let disc = |m: &mut LabelMask, k: usize, r: f64| {
            for j in 0..64 {
                for i in 0..64 {
                    let (x, y) = (i as f64 - 32.0, j as f64 - 32.0);
                    if (x * x + y * y).sqrt() <= r {
                        m.labels[g.index(i, j, k)] = 3;
                    }
                }
            }
        };
        disc(&mut m, 0, 8.0);
        disc(&mut m, 10, 18.0);
        let ch = interpolate(&m, View::Axial, 0, 10, 3).expect("both slices drawn");
        for (k, expected_r) in [(5usize, 13.0f64), (2, 10.0), (8, 16.0)] {
            let on: Vec<(f64, f64)> = ch
                .iter()
                .filter(|(idx, _)| idx / (64 * 64) == k)
                .map(|(idx, _)| ((idx % 64) as f64 - 32.0, ((idx / 64) % 64) as f64 - 32.0))
                .collect();
            let area = on.len() as f64;
            let expect = std::f64::consts::PI * expected_r * expected_r;
            assert!(
                (area - expect).abs() / expect < 0.12,
                "slice {k}: {area} px vs disc of r {expected_r} ({expect})"
            );
            for (x, y) in on {
                assert!(
                    (x * x + y * y).sqrt() <= expected_r + 1.5,
                    "slice {k}: ({x},{y})"
                );
            }
        }
        assert!(ch.iter().all(|(idx, _)| {
            let k = idx / (64 * 64);
            k > 0 && k < 10
        }));
    }

    #[test]
    fn empty_end_slice_is_an_error() {
        let g = Geometry::with_signs([8, 8, 5], [1.0; 3], [1.0; 3]);
        let mut m = LabelMask::empty(g.clone());
        m.labels[g.index(3, 3, 0)] = 3;
        assert_eq!(
            interpolate(&m, View::Axial, 0, 4, 3),
            Err(InterpolateError::EmptySlice { slice: 4, label: 3 })
        );
        assert!(matches!(
            interpolate(&m, View::Axial, 0, 1, 3),
            Err(InterpolateError::NoGap { .. })
        ));
    }
}
