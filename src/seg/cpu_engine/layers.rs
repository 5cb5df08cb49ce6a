//! The engine's element-wise and layout kernels: im2col, the GEMM call, bias and
//! ReLU, pooling, bilinear upsampling, concatenation, layout changes.

use gemm::Parallelism;
use rayon::prelude::*;

use super::{Buffers, Fmap, TILE_BYTES};

/// Output pixels per tile for a GEMM inner dimension `k`.
pub(super) fn tile_pixels(k: usize) -> usize {
    (TILE_BYTES / (4 * k.max(1))).max(1)
}

/// The im2col rows of output pixels `p0 .. p0 + m` of one `[h, w, c]` image:
/// row `i`, columns `(ky·3 + kx)·c .. +c` = input pixel `(y + ky − 1, x + kx − 1)`
/// (zeros outside the image). Every value of the `m` rows is written, so `a` may
/// hold anything before (a recycled buffer needs no clearing).
pub(super) fn im2col3(
    a: &mut [f32],
    src: &[f32],
    h: usize,
    w: usize,
    c: usize,
    p0: usize,
    m: usize,
) {
    let k = 9 * c;
    for (i, row) in a.chunks_exact_mut(k).take(m).enumerate() {
        let p = p0 + i;
        let (y, x) = (p / w, p % w);
        for (ky, taps) in row.chunks_exact_mut(3 * c).enumerate() {
            let Some(yy) = (y + ky).checked_sub(1).filter(|&v| v < h) else {
                taps.fill(0.0);
                continue;
            };
            // Contiguous run of the three taps of this kernel row inside the image;
            // the taps left or right of the image are zeros.
            let x_lo = x.saturating_sub(1);
            let x_hi = (x + 1).min(w - 1);
            let kx_lo = x_lo + 1 - x;
            let n = x_hi + 1 - x_lo;
            let (left, rest) = taps.split_at_mut(kx_lo * c);
            let (inside, right) = rest.split_at_mut(n * c);
            left.fill(0.0);
            inside.copy_from_slice(&src[(yy * w + x_lo) * c..][..n * c]);
            right.fill(0.0);
        }
    }
}

/// `dst[m, n] = a[m, k] × b[k, n]`, all row-major and contiguous.
pub(super) fn matmul(
    dst: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    par: Parallelism,
) {
    assert!(dst.len() >= m * n && a.len() >= m * k && b.len() >= k * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        dst[..m * n].fill(0.0);
        return;
    }
    // SAFETY: the asserts above keep every access of the m×k, k×n and m×n
    // row-major matrices inside the three slices; `dst` does not alias `a` or `b`
    // (it is a unique borrow).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

pub(super) fn add_bias(dst: &mut [f32], bias: &[f32], relu: bool) {
    for px in dst.chunks_exact_mut(bias.len()) {
        for (v, b) in px.iter_mut().zip(bias) {
            let s = *v + b;
            *v = if relu { s.max(0.0) } else { s };
        }
    }
}

/// 2×2 max-pooling with stride 2 (odd trailing rows/columns dropped, as burn/PyTorch).
pub(super) fn max_pool2(x: &Fmap, pool: &Buffers) -> Fmap {
    let (oh, ow, c) = (x.h / 2, x.w / 2, x.c);
    let mut out = Fmap::for_overwrite(pool, x.n, oh, ow, c);
    if oh == 0 || ow == 0 {
        return out;
    }
    out.data
        .par_chunks_mut(ow * c)
        .enumerate()
        .for_each(|(row, dst)| {
            let (img, y) = (row / oh, row % oh);
            let base = img * x.pixels();
            let r0 = &x.data[(base + 2 * y * x.w) * c..][..x.w * c];
            let r1 = &x.data[(base + (2 * y + 1) * x.w) * c..][..x.w * c];
            for xx in 0..ow {
                let d = &mut dst[xx * c..][..c];
                let i = 2 * xx * c;
                for ch in 0..c {
                    d[ch] = r0[i + ch]
                        .max(r0[i + c + ch])
                        .max(r1[i + ch])
                        .max(r1[i + c + ch]);
                }
            }
        });
    out
}

/// Bilinear ×2 with half-pixel centres and edge clamping (`align_corners = false`):
/// output `2i` = ¼·in`[i−1]` + ¾·in`[i]`, output `2i+1` = ¾·in`[i]` + ¼·in`[i+1]`,
/// indices clamped to the image, separably in y and x.
pub(super) fn upsample_bilinear2(x: &Fmap, pool: &Buffers) -> Fmap {
    let (h, w, c) = (x.h, x.w, x.c);
    let (oh, ow) = (2 * h, 2 * w);
    // Source rows/columns and weights of output index o along an axis of length len.
    let taps = |o: usize, len: usize| -> (usize, usize, f32) {
        let i = o / 2;
        if o.is_multiple_of(2) {
            (i.saturating_sub(1), i, if i == 0 { 1.0 } else { 0.75 })
        } else {
            (i, (i + 1).min(len - 1), 0.75)
        }
    };
    let mut out = Fmap::for_overwrite(pool, x.n, oh, ow, c);
    out.data
        .par_chunks_mut(ow * c)
        .enumerate()
        .for_each(|(row, dst)| {
            let (img, oy) = (row / oh, row % oh);
            let (y0, y1, wy) = taps(oy, h);
            // For even rows the weight belongs to the second tap (i), for odd to the first.
            let (wy0, wy1) = if oy.is_multiple_of(2) {
                (1.0 - wy, wy)
            } else {
                (wy, 1.0 - wy)
            };
            let base = img * x.pixels();
            let r0 = &x.data[(base + y0 * w) * c..][..w * c];
            let r1 = &x.data[(base + y1 * w) * c..][..w * c];
            for ox in 0..ow {
                let (x0, x1, wx) = taps(ox, w);
                let (wx0, wx1) = if ox.is_multiple_of(2) {
                    (1.0 - wx, wx)
                } else {
                    (wx, 1.0 - wx)
                };
                let d = &mut dst[ox * c..][..c];
                for ch in 0..c {
                    let top = wx0 * r0[x0 * c + ch] + wx1 * r0[x1 * c + ch];
                    let bot = wx0 * r1[x0 * c + ch] + wx1 * r1[x1 * c + ch];
                    d[ch] = wy0 * top + wy1 * bot;
                }
            }
        });
    out
}

/// Channel concatenation of maps with the same `n, h, w`.
pub(super) fn concat(parts: &[&Fmap], pool: &Buffers) -> Fmap {
    let first = parts[0];
    let c: usize = parts.iter().map(|p| p.c).sum();
    let mut out = Fmap::for_overwrite(pool, first.n, first.h, first.w, c);
    out.data
        .par_chunks_mut(first.w * c)
        .enumerate()
        .for_each(|(row, dst)| {
            for (px, d) in dst.chunks_exact_mut(c).enumerate() {
                let mut off = 0;
                for p in parts {
                    let i = row * first.w + px;
                    d[off..off + p.c].copy_from_slice(&p.data[i * p.c..][..p.c]);
                    off += p.c;
                }
            }
        });
    out
}

pub(super) fn to_nchw(y: &Fmap) -> Vec<f32> {
    let hw = y.pixels();
    let mut out = vec![0.0f32; y.data.len()];
    out.par_chunks_mut(hw).enumerate().for_each(|(plane, dst)| {
        let (img, ch) = (plane / y.c, plane % y.c);
        let src = &y.data[img * hw * y.c..][..hw * y.c];
        for (p, d) in dst.iter_mut().enumerate() {
            *d = src[p * y.c + ch];
        }
    });
    out
}

pub(super) fn nchw_to_nhwc(x: &[f32], n: usize, c: usize, h: usize, w: usize) -> Vec<f32> {
    let hw = h * w;
    let mut out = vec![0.0f32; x.len()];
    for img in 0..n {
        for ch in 0..c {
            for p in 0..hw {
                out[(img * hw + p) * c + ch] = x[(img * c + ch) * hw + p];
            }
        }
    }
    out
}
