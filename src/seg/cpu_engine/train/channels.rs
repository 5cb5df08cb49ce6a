//! Per-channel kernels of the training engine on `[P, c]` channels-last values:
//! sums, BatchNorm statistics, the fused BatchNorm + ReLU forward and its backward.
//! They walk a map as flat runs of `period(c)` values so the loops vectorise for any
//! channel count, and sum in `f64`, chunk by chunk in a fixed order (reproducible).

use rayon::prelude::*;

/// Values per parallel chunk of the per-channel kernels (a multiple of the period).
const CHUNK_VALUES: usize = 1 << 15;

/// The per-channel kernels walk `[P, c]` maps as flat runs of `period(c)` values: a
/// whole number of pixels and of 16-lane vectors, so the loops vectorise whatever
/// `c` is (12 or 24 channels would otherwise leave most lanes idle).
fn period(c: usize) -> usize {
    let (mut a, mut b) = (c.max(1), 16usize);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    c.max(1) * (16 / a)
}

/// `v` (one value per channel) repeated over one period.
fn tiled(v: &[f32], p: usize) -> Vec<f32> {
    v.iter().cycle().take(p).copied().collect()
}

/// Chunk length for `c` channels: a multiple of the period.
fn chunk_len(c: usize) -> usize {
    let p = period(c);
    p * (CHUNK_VALUES / p).max(1)
}

/// Folds one period's per-lane sums into per-channel sums.
fn fold_lanes<T: Copy + Into<f64>>(acc: &mut [f64], lanes: &[T], c: usize) {
    for (i, &v) in lanes.iter().enumerate() {
        acc[i % c] += v.into();
    }
}

/// Sums per-chunk partial results in chunk order: the same bits however rayon
/// scheduled the chunks (a run is reproducible from its seed).
fn in_order(parts: Vec<Vec<f64>>, len: usize) -> Vec<f64> {
    let mut out = vec![0.0f64; len];
    for p in parts {
        for (x, y) in out.iter_mut().zip(p) {
            *x += y;
        }
    }
    out
}

/// Per-channel sums over every pixel of `[P, c]` values (`f64` accumulation: the
/// BatchNorm gradients cancel large terms, see `bn_relu_backward`).
pub(super) fn channel_sums(d: &[f32], c: usize) -> Vec<f64> {
    let p = period(c);
    let parts: Vec<Vec<f64>> = d
        .par_chunks(chunk_len(c))
        .map(|chunk| {
            let mut acc = vec![0.0f64; c];
            let mut lanes = vec![0.0f64; p];
            let blocks = chunk.chunks_exact(p);
            let rest = blocks.remainder();
            for block in blocks {
                for (a, v) in lanes.iter_mut().zip(block) {
                    *a += f64::from(*v);
                }
            }
            fold_lanes(&mut acc, &lanes, c);
            fold_lanes(&mut acc, rest, c);
            acc
        })
        .collect();
    in_order(parts, c)
}

/// Per-channel mean and biased variance of `[P, c]` values (what burn's and
/// PyTorch's training-mode BatchNorm normalise with); two passes.
pub(super) fn mean_var(z: &[f32], c: usize) -> (Vec<f64>, Vec<f64>) {
    let count = (z.len() / c.max(1)).max(1) as f64;
    let mean: Vec<f64> = channel_sums(z, c).iter().map(|s| s / count).collect();
    let p = period(c);
    let m32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let mt = tiled(&m32, p);
    let parts: Vec<Vec<f64>> = z
        .par_chunks(chunk_len(c))
        .map(|chunk| {
            let mut acc = vec![0.0f64; c];
            let mut lanes = vec![0.0f64; p];
            let blocks = chunk.chunks_exact(p);
            let rest = blocks.remainder();
            for block in blocks {
                for ((a, v), m) in lanes.iter_mut().zip(block).zip(&mt) {
                    let d = v - m;
                    *a += f64::from(d * d);
                }
            }
            fold_lanes(&mut acc, &lanes, c);
            for (i, v) in rest.iter().enumerate() {
                let d = f64::from(*v) - mean[i % c];
                acc[i % c] += d * d;
            }
            acc
        })
        .collect();
    let var = in_order(parts, c).iter().map(|s| s / count).collect();
    (mean, var)
}

/// `out = max(0, z·scale + shift)` per channel.
pub(super) fn affine_relu(z: &[f32], c: usize, scale: &[f32], shift: &[f32], out: &mut [f32]) {
    let p = period(c);
    let (st, bt) = (tiled(scale, p), tiled(shift, p));
    out.par_chunks_mut(chunk_len(c))
        .zip(z.par_chunks(chunk_len(c)))
        .for_each(|(o, z)| {
            for (ob, zb) in o.chunks_mut(p).zip(z.chunks(p)) {
                for (((o, &z), s), b) in ob.iter_mut().zip(zb).zip(&st).zip(&bt) {
                    *o = (z * s + b).max(0.0);
                }
            }
        });
}

/// BatchNorm (per-channel `x̂ = (z − mean)·inv_std`, `y = γ·x̂ + β`) then ReLU
/// (`a = max(0, y)`), backward: turns `g` (the gradient of `a`) into the gradient of
/// `z` in place and returns `(dγ, dβ)`. With `batch_stats` the mean and variance are
/// the batch's own (their gradient included); otherwise they are constants.
/// The sums accumulate in `f64`: with batch statistics `dz` sums to zero per
/// channel, so the next weight gradient `Σ x·dz` cancels large terms, and `f32`
/// sums here were off by a few per cent on the first layer.
#[allow(clippy::too_many_arguments)]
pub(super) fn bn_relu_backward(
    g: &mut [f32],
    a: &[f32],
    z: &[f32],
    c: usize,
    mean: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    batch_stats: bool,
) -> (Vec<f32>, Vec<f32>) {
    let count = (g.len() / c.max(1)).max(1) as f64;
    let p = period(c);
    let chunk = chunk_len(c);
    let (mt, it) = (tiled(mean, p), tiled(inv_std, p));
    // Pass 1: mask by the ReLU, Σ dy and Σ dy·x̂ per channel.
    let parts: Vec<Vec<f64>> = g
        .par_chunks_mut(chunk)
        .zip(a.par_chunks(chunk))
        .zip(z.par_chunks(chunk))
        .map(|((g, a), z)| {
            let mut acc = vec![0.0f64; 2 * c];
            let mut sdy = vec![0.0f64; p];
            let mut sdx = vec![0.0f64; p];
            for ((gb, ab), zb) in g.chunks_mut(p).zip(a.chunks(p)).zip(z.chunks(p)) {
                let lanes = sdy.iter_mut().zip(sdx.iter_mut()).zip(mt.iter().zip(&it));
                for (((g, &a), &z), ((sy, sx), (m, i))) in gb.iter_mut().zip(ab).zip(zb).zip(lanes)
                {
                    let dy = if a > 0.0 { *g } else { 0.0 };
                    *g = dy;
                    *sy += f64::from(dy);
                    *sx += f64::from(dy * ((z - m) * i));
                }
            }
            let (dy_acc, dx_acc) = acc.split_at_mut(c);
            fold_lanes(dy_acc, &sdy, c);
            fold_lanes(dx_acc, &sdx, c);
            acc
        })
        .collect();
    let sums = in_order(parts, 2 * c);
    let (dbeta, dgamma) = sums.split_at(c);
    let scale: Vec<f32> = gamma.iter().zip(inv_std).map(|(g, i)| g * i).collect();
    let st = tiled(&scale, p);
    if batch_stats {
        let mb: Vec<f32> = dbeta.iter().map(|v| (v / count) as f32).collect();
        let mg: Vec<f32> = dgamma.iter().map(|v| (v / count) as f32).collect();
        let (mbt, mgt) = (tiled(&mb, p), tiled(&mg, p));
        g.par_chunks_mut(chunk)
            .zip(z.par_chunks(chunk))
            .for_each(|(g, z)| {
                for (gb, zb) in g.chunks_mut(p).zip(z.chunks(p)) {
                    let per = mt.iter().zip(&it).zip(st.iter().zip(mbt.iter().zip(&mgt)));
                    for ((g, &z), ((m, i), (s, (mb, mg)))) in gb.iter_mut().zip(zb).zip(per) {
                        let xhat = (z - m) * i;
                        *g = s * (*g - mb - xhat * mg);
                    }
                }
            });
    } else {
        g.par_chunks_mut(chunk).for_each(|g| {
            for gb in g.chunks_mut(p) {
                for (v, s) in gb.iter_mut().zip(&st) {
                    *v *= s;
                }
            }
        });
    }
    (
        dgamma.iter().map(|&v| v as f32).collect(),
        dbeta.iter().map(|&v| v as f32).collect(),
    )
}
