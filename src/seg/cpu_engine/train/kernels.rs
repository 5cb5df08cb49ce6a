//! Backward kernels of the training engine, on channels-last maps: GEMMs with
//! transposed operands, the 3×3 convolution's weight gradient (im2col), max-pool and
//! bilinear adjoints, the gather of a transposed convolution's output gradient, and
//! the channel split of a concatenation (per-channel BatchNorm kernels: `channels`).

use gemm::Parallelism;
use rayon::prelude::*;

use super::super::layers::{im2col3, tile_pixels};
use super::super::{Buffers, Fmap, MIN_TILE_PIXELS};

/// `dst[m, n]` (row-major, contiguous) `= A × B`, or `+=` when `accumulate`, where
/// `A(i, l) = a[i·a_rs + l·a_cs]` and `B(l, j) = b[l·b_rs + j·b_cs]`: strides let
/// either operand be read transposed without copying it.
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_strided(
    dst: &mut [f32],
    accumulate: bool,
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
    par: Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst.len() >= m * n, "GEMM destination too small");
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    assert!(
        (m - 1) * a_rs + (k - 1) * a_cs < a.len(),
        "GEMM left operand too small"
    );
    assert!(
        (k - 1) * b_rs + (n - 1) * b_cs < b.len(),
        "GEMM right operand too small"
    );
    // SAFETY: the asserts above keep every element of the m×k, k×n and m×n
    // matrices (with the given strides) inside the three slices; `dst` is a unique
    // borrow and cannot alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// Splits `jobs` work items into one contiguous run per thread (fewer when there
/// are fewer items) and returns the ranges.
fn runs(jobs: usize) -> Vec<std::ops::Range<usize>> {
    let threads = rayon::current_num_threads().max(1);
    let groups = threads.min(jobs).max(1);
    (0..groups)
        .map(|g| (g * jobs / groups)..((g + 1) * jobs / groups))
        .collect()
}

/// Sums per-thread partial results into the first.
fn sum_parts(mut parts: Vec<Vec<f32>>) -> Vec<f32> {
    let mut out = parts.pop().unwrap_or_default();
    for p in parts {
        for (o, v) in out.iter_mut().zip(p) {
            *o += v;
        }
    }
    out
}

/// Gradient of a 3×3 convolution's weights `[9·cin, cout]` (row `(ky·3 + kx)·cin + ci`)
/// from its input `x` and the gradient `dz` `[n, h, w, cout]` of its output:
/// `Σ_pixels im2col(x)ᵀ · dz`, one GEMM per tile of pixels.
pub(super) fn conv3_weight_grad(x: &Fmap, dz: &[f32], cout: usize) -> Vec<f32> {
    let (cin, hw) = (x.c, x.pixels());
    let k = 9 * cin;
    debug_assert_eq!(dz.len(), x.n * hw * cout);
    let tile = tile_pixels(k).clamp(MIN_TILE_PIXELS.min(hw), hw.max(1));
    let per_image = hw.div_ceil(tile);
    let jobs = x.n * per_image;
    let parts = runs(jobs);
    let inner = if parts.len() < rayon::current_num_threads() {
        Parallelism::Rayon(rayon::current_num_threads())
    } else {
        Parallelism::None
    };
    let partial: Vec<Vec<f32>> = parts
        .into_par_iter()
        .map(|run| {
            let mut acc = vec![0.0f32; k * cout];
            let mut a = Vec::new();
            for job in run {
                let (img, t) = (job / per_image, job % per_image);
                let p0 = t * tile;
                let m = tile.min(hw - p0);
                // Every value is written: the buffer is only grown, never cleared.
                if a.len() < m * k {
                    a.resize(m * k, 0.0);
                }
                let a = &mut a[..m * k];
                im2col3(
                    a,
                    &x.data[img * hw * cin..][..hw * cin],
                    x.h,
                    x.w,
                    cin,
                    p0,
                    m,
                );
                let d = &dz[(img * hw + p0) * cout..][..m * cout];
                // acc[k, cout] += aᵀ[k, m] · d[m, cout]
                gemm_strided(&mut acc, true, (k, cout, m), a, (1, k), d, (cout, 1), inner);
            }
            acc
        })
        .collect();
    sum_parts(partial)
}

/// `xᵀ · d` for channels-last maps: `x` `[P, cin]`, `d` `[P, cout]` → `[cin, cout]`
/// (the weight gradient of a 1×1 convolution).
pub(super) fn pixels_t_times(x: &[f32], cin: usize, d: &[f32], cout: usize) -> Vec<f32> {
    let p = x.len() / cin.max(1);
    debug_assert_eq!(d.len(), p * cout);
    let chunk = tile_pixels(cin + cout).max(MIN_TILE_PIXELS);
    let jobs = p.div_ceil(chunk);
    let parts = runs(jobs);
    let inner = if parts.len() < rayon::current_num_threads() {
        Parallelism::Rayon(rayon::current_num_threads())
    } else {
        Parallelism::None
    };
    let partial: Vec<Vec<f32>> = parts
        .into_par_iter()
        .map(|run| {
            let mut acc = vec![0.0f32; cin * cout];
            if run.is_empty() {
                return acc;
            }
            let p0 = run.start * chunk;
            let p1 = (run.end * chunk).min(p);
            for s in (p0..p1).step_by(chunk) {
                let m = chunk.min(p1 - s);
                let xs = &x[s * cin..][..m * cin];
                let ds = &d[s * cout..][..m * cout];
                gemm_strided(
                    &mut acc,
                    true,
                    (cin, cout, m),
                    xs,
                    (1, cin),
                    ds,
                    (cout, 1),
                    inner,
                );
            }
            acc
        })
        .collect();
    sum_parts(partial)
}

/// `d · wᵀ` for channels-last maps: `d` `[P, cout]`, `w` `[cin, cout]` → `[P, cin]`
/// (the input gradient of a 1×1 convolution).
pub(super) fn times_weights_t(
    d: &[f32],
    cout: usize,
    w: &[f32],
    cin: usize,
    pool: &Buffers,
) -> Vec<f32> {
    let p = d.len() / cout.max(1);
    let mut out = pool.for_overwrite(p * cin);
    let chunk = tile_pixels(cin + cout).max(MIN_TILE_PIXELS);
    let threads = rayon::current_num_threads();
    let inner = if p.div_ceil(chunk) < 2 * threads {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    out.par_chunks_mut(chunk * cin)
        .zip(d.par_chunks(chunk * cout))
        .for_each(|(dst, src)| {
            let m = dst.len() / cin;
            gemm_strided(
                dst,
                false,
                (m, cin, cout),
                src,
                (cout, 1),
                w,
                (1, cout),
                inner,
            );
        });
    out
}

/// ReLU backward in place (`g = 0` where the output `a` is 0).
pub(super) fn relu_backward(g: &mut [f32], a: &[f32]) {
    g.par_chunks_mut(1 << 16)
        .zip(a.par_chunks(1 << 16))
        .for_each(|(g, a)| {
            for (g, &a) in g.iter_mut().zip(a) {
                if a <= 0.0 {
                    *g = 0.0;
                }
            }
        });
}

/// Gradient of the input of a 2×2 / stride-2 max-pool: each output's gradient goes
/// to the first largest of its four inputs (row-major order), as burn and PyTorch.
pub(super) fn max_pool2_backward(x: &Fmap, dy: &[f32], pool: &Buffers) -> Vec<f32> {
    let (h, w, c) = (x.h, x.w, x.c);
    let (oh, ow) = (h / 2, w / 2);
    let mut dx = pool.zeroed(x.data.len());
    if oh == 0 || ow == 0 {
        return dx;
    }
    dx.par_chunks_mut(h * w * c)
        .zip(x.data.par_chunks(h * w * c))
        .zip(dy.par_chunks(oh * ow * c))
        .for_each(|((dx, x), dy)| {
            for y in 0..oh {
                for xx in 0..ow {
                    let at = |dy_: usize, dx_: usize| ((2 * y + dy_) * w + 2 * xx + dx_) * c;
                    let idx = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)];
                    let g = &dy[(y * ow + xx) * c..][..c];
                    for ch in 0..c {
                        let mut best = idx[0];
                        for &i in &idx[1..] {
                            if x[i + ch] > x[best + ch] {
                                best = i;
                            }
                        }
                        dx[best + ch] += g[ch];
                    }
                }
            }
        });
    dx
}

/// The bilinear ×2 taps of output index `o` along an axis of `len` inputs:
/// `(i0, w0, i1, w1)` (see `layers::upsample_bilinear2`).
fn taps(o: usize, len: usize) -> (usize, f32, usize, f32) {
    let i = o / 2;
    if o.is_multiple_of(2) {
        if i == 0 {
            (0, 0.0, 0, 1.0)
        } else {
            (i - 1, 0.25, i, 0.75)
        }
    } else {
        (i, 0.75, (i + 1).min(len - 1), 0.25)
    }
}

/// Adjoint of the bilinear ×2 upsampling: the gradient `[n, 2h, 2w, c]` of its
/// output gathered back to its input `[n, h, w, c]`.
pub(super) fn upsample_bilinear2_adjoint(
    dy: &[f32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    pool: &Buffers,
) -> Vec<f32> {
    let (oh, ow) = (2 * h, 2 * w);
    // Along x: [n, 2h, 2w, c] → [n, 2h, w, c].
    let mut mid = pool.zeroed(n * oh * w * c);
    mid.par_chunks_mut(w * c)
        .zip(dy.par_chunks(ow * c))
        .for_each(|(dst, src)| {
            for ox in 0..ow {
                let (i0, w0, i1, w1) = taps(ox, w);
                let s = &src[ox * c..][..c];
                for ch in 0..c {
                    dst[i0 * c + ch] += w0 * s[ch];
                    dst[i1 * c + ch] += w1 * s[ch];
                }
            }
        });
    // Along y: row i of the input gathers the output rows that tap it.
    let mut out = vec![0.0f32; n * h * w * c];
    out.par_chunks_mut(w * c)
        .enumerate()
        .for_each(|(row, dst)| {
            let (img, i) = (row / h, row % h);
            for oy in (2 * i).saturating_sub(1)..(2 * i + 3).min(oh) {
                let (i0, w0, i1, w1) = taps(oy, h);
                let wt = if i0 == i { w0 } else { 0.0 } + if i1 == i { w1 } else { 0.0 };
                if wt == 0.0 {
                    continue;
                }
                let src = &mid[(img * oh + oy) * w * c..][..w * c];
                for (d, s) in dst.iter_mut().zip(src) {
                    *d += wt * s;
                }
            }
        });
    out
}

/// The gradient `[n, 2h, 2w, c]` of a 2×2 / stride-2 transposed convolution's output
/// laid out per input pixel: `[n·h·w, 4·c]`, column `(a·2 + b)·c + co` = output pixel
/// `(2y + a, 2x + b)`.
pub(super) fn gather_blocks(
    dy: &[f32],
    (n, h, w, c): (usize, usize, usize, usize),
    pool: &Buffers,
) -> Vec<f32> {
    let ow = 2 * w;
    let mut out = pool.for_overwrite(n * h * w * 4 * c);
    out.par_chunks_mut(w * 4 * c)
        .zip(dy.par_chunks(2 * ow * c))
        .for_each(|(dst, src)| {
            for (xx, block) in dst.chunks_exact_mut(4 * c).enumerate() {
                for (t, to) in block.chunks_exact_mut(c).enumerate() {
                    let (a, b) = (t / 2, t % 2);
                    to.copy_from_slice(&src[(a * ow + 2 * xx + b) * c..][..c]);
                }
            }
        });
    out
}

/// Adds `src` into `dst` element-wise.
pub(super) fn add_into(dst: &mut [f32], src: &[f32]) {
    dst.par_chunks_mut(1 << 16)
        .zip(src.par_chunks(1 << 16))
        .for_each(|(d, s)| {
            for (d, s) in d.iter_mut().zip(s) {
                *d += s;
            }
        });
}

/// Channels `from .. from + c` of a `[P, total]` map, as `[P, c]`.
pub(super) fn channel_slice(
    d: &[f32],
    total: usize,
    from: usize,
    c: usize,
    pool: &Buffers,
) -> Vec<f32> {
    let p = d.len() / total.max(1);
    let mut out = pool.for_overwrite(p * c);
    out.par_chunks_mut(c * 1024)
        .zip(d.par_chunks(total * 1024))
        .for_each(|(o, s)| {
            for (op, sp) in o.chunks_exact_mut(c).zip(s.chunks_exact(total)) {
                op.copy_from_slice(&sp[from..from + c]);
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_gemm_reads_transposed_operands() {
        // a: 2×3, b: 3×2 (row-major); aᵀ·? and ?·bᵀ forms.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let mut d = [0.0f32; 4];
        gemm_strided(
            &mut d,
            false,
            (2, 2, 3),
            &a,
            (3, 1),
            &b,
            (2, 1),
            Parallelism::None,
        );
        assert_eq!(d, [4.0, 5.0, 10.0, 11.0]);
        // aᵀ (3×2) × a (2×3) = 3×3
        let mut e = [0.0f32; 9];
        gemm_strided(
            &mut e,
            false,
            (3, 3, 2),
            &a,
            (1, 3),
            &a,
            (3, 1),
            Parallelism::None,
        );
        assert_eq!(e, [17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0]);
        gemm_strided(
            &mut e,
            true,
            (3, 3, 2),
            &a,
            (1, 3),
            &a,
            (3, 1),
            Parallelism::None,
        );
        assert_eq!(e[0], 34.0);
    }

    #[test]
    fn bilinear_adjoint_is_the_transpose_of_the_upsampling() {
        use super::super::super::layers::upsample_bilinear2;
        let (n, h, w, c) = (2, 3, 5, 2);
        let x: Vec<f32> = (0..n * h * w * c)
            .map(|i| ((i * 37) % 11) as f32 - 5.0)
            .collect();
        let g: Vec<f32> = (0..n * 4 * h * w * c)
            .map(|i| ((i * 13) % 7) as f32 - 3.0)
            .collect();
        let up = upsample_bilinear2(
            &Fmap {
                n,
                h,
                w,
                c,
                data: x.clone(),
            },
            &Buffers::default(),
        );
        let lhs: f64 = up.data.iter().zip(&g).map(|(a, b)| f64::from(a * b)).sum();
        let adj = upsample_bilinear2_adjoint(&g, n, h, w, c, &Buffers::default());
        let rhs: f64 = x.iter().zip(&adj).map(|(a, b)| f64::from(a * b)).sum();
        assert!((lhs - rhs).abs() < 1e-3, "{lhs} vs {rhs}");
    }
}
