//! Euclidean distance transforms of 2-D binary images (anisotropic pixels), shared
//! by shape-based interpolation in editing and the lung envelope of the HU physics.

/// Squared Euclidean distance transform (Felzenszwalb & Huttenlocher) of a
/// row-major `w × h` image with pixel size `px = [width, height]` mm: the squared
/// distance in mm² of every pixel to the nearest pixel where `inside == feature`
/// (about 1e20 where there is none).
pub fn squared_distance(
    inside: &[bool],
    w: usize,
    h: usize,
    px: [f64; 2],
    feature: bool,
) -> Vec<f64> {
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

    #[test]
    fn edt_matches_brute_force() {
        let (w, h) = (13, 9);
        let inside: Vec<bool> = (0..w * h)
            .map(|k| (k * 7919) % 11 == 0 || k == 40)
            .collect();
        let px = [0.7, 1.9];
        let d = squared_distance(&inside, w, h, px, true);
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
}
