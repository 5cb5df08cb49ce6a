//! Interpolation of a label between two edited slices (shape-based: the signed
//! distance maps of the two slices are blended linearly, so a small circle on one
//! slice and a large one on another give discs of intermediate size between them).

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

/// Squared Euclidean distance transform (Felzenszwalb & Huttenlocher), distances to
/// pixels where `inside == feature`.
fn edt(inside: &[bool], w: usize, h: usize, px: [f64; 2], feature: bool) -> Vec<f64> {
    const INF: f64 = 1e20;
    let mut d: Vec<f64> = inside
        .iter()
        .map(|&x| if x == feature { 0.0 } else { INF })
        .collect();
    let mut f = vec![0.0; w.max(h)];
    let mut out = vec![0.0; w.max(h)];
    for r in 0..h {
        f[..w].copy_from_slice(&d[r * w..(r + 1) * w]);
        dt1d(&f[..w], &mut out[..w], px[0]);
        d[r * w..(r + 1) * w].copy_from_slice(&out[..w]);
    }
    for c in 0..w {
        for r in 0..h {
            f[r] = d[r * w + c];
        }
        dt1d(&f[..h], &mut out[..h], px[1]);
        for r in 0..h {
            d[r * w + c] = out[r];
        }
    }
    d
}

/// 1-D squared distance transform of sampled function `f` (finite values; "far"
/// is a large finite number) with sample spacing `s`: the lower envelope of the
/// parabolas rooted at every sample.
fn dt1d(f: &[f64], out: &mut [f64], s: f64) {
    let n = f.len();
    if n == 0 {
        return;
    }
    let s2 = s * s;
    let mut v = vec![0usize; n];
    let mut z = vec![0.0f64; n + 1];
    let mut k = 0usize;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    // abscissa where the parabolas of samples q and p intersect
    let cross = |q: usize, p: usize| -> f64 {
        let (qf, pf) = (q as f64, p as f64);
        ((f[q] + s2 * qf * qf) - (f[p] + s2 * pf * pf)) / (2.0 * s2 * (qf - pf))
    };
    for q in 1..n {
        let mut x = cross(q, v[k]);
        // z[0] is -inf, so this stops at k = 0 at the latest
        while x <= z[k] {
            k -= 1;
            x = cross(q, v[k]);
        }
        k += 1;
        v[k] = q;
        z[k] = x;
        z[k + 1] = f64::INFINITY;
    }
    k = 0;
    for (q, o) in out.iter_mut().enumerate() {
        while z[k + 1] < q as f64 {
            k += 1;
        }
        let d = q as f64 - v[k] as f64;
        *o = s2 * d * d + f[v[k]];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Geometry;

    #[test]
    fn edt_matches_brute_force() {
        let (w, h) = (13, 9);
        let inside: Vec<bool> = (0..w * h)
            .map(|k| (k * 7919) % 11 == 0 || k == 40)
            .collect();
        let px = [0.7, 1.9];
        let d = edt(&inside, w, h, px, true);
        for r in 0..h {
            for c in 0..w {
                let mut best = f64::INFINITY;
                for r2 in 0..h {
                    for c2 in 0..w {
                        if inside[r2 * w + c2] {
                            let dx = (c as f64 - c2 as f64) * px[0];
                            let dy = (r as f64 - r2 as f64) * px[1];
                            best = best.min(dx * dx + dy * dy);
                        }
                    }
                }
                assert!((d[r * w + c] - best).abs() < 1e-9, "({c},{r})");
            }
        }
    }

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
