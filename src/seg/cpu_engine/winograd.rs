//! Winograd F(2×2, 3×3) convolution (Lavin & Gray 2016) on channels-last maps:
//! every 2×2 block of output pixels comes from a 4×4 input patch with 16
//! element-wise products per channel pair instead of 36, i.e. 2.25× fewer
//! multiplications than the direct 3×3 convolution. The products of all tiles
//! of a block form 16 independent GEMMs `[tiles, C_in] × [C_in, C_out]`.
//!
//! Transforms (`d` input patch, `g` 3×3 kernel, `m` products):
//! `V = Bᵀ d B`, `U = G g Gᵀ`, `Y = Aᵀ (Σ_ci U ⊙ V) A` with
//! `Bᵀ = [[1,0,−1,0],[0,1,1,0],[0,−1,1,0],[0,1,0,−1]]`,
//! `G = [[1,0,0],[½,½,½],[½,−½,½],[0,0,1]]`, `Aᵀ = [[1,1,1,0],[0,1,−1,−1]]`.
//! The transforms only add, subtract and halve, so the result matches the
//! direct convolution to float rounding.

use std::cell::RefCell;

use gemm::Parallelism;
use rayon::prelude::*;

use super::layers::matmul;
use super::simd::{self, multiversion};

thread_local! {
    /// Transformed inputs `V` and products `M` of the block a thread works on.
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Bytes of the transformed inputs and products of one block of tiles.
const BLOCK_BYTES: usize = 1 << 20;
/// Fewest tiles per block (the GEMMs' row count).
const MIN_BLOCK_TILES: usize = 96;

/// 3×3 kernels (BatchNorm folded) in the Winograd domain.
#[derive(Debug, Clone)]
pub(super) struct Winograd3 {
    pub(super) cin: usize,
    pub(super) cout: usize,
    /// `[16, cin, cout]`: `U = G g Gᵀ`, element `ξ = 4·i + j`.
    u: Vec<f32>,
    b: Vec<f32>,
    /// ReLU after the bias (off for training, where BatchNorm comes between).
    relu: bool,
}

impl Winograd3 {
    /// From weights `[9·cin, cout]` (row `(ky·3 + kx)·cin + ci`) and a bias.
    pub(super) fn new(cin: usize, cout: usize, w: &[f32], b: &[f32]) -> Self {
        let mut u = vec![0.0f32; 16 * cin * cout];
        for ci in 0..cin {
            for co in 0..cout {
                let g = |ky: usize, kx: usize| w[((ky * 3 + kx) * cin + ci) * cout + co];
                // t = G g  (4×3)
                let mut t = [[0.0f32; 3]; 4];
                for kx in 0..3 {
                    let (g0, g1, g2) = (g(0, kx), g(1, kx), g(2, kx));
                    let col = [g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2];
                    for (row, v) in t.iter_mut().zip(col) {
                        row[kx] = v;
                    }
                }
                // U = t Gᵀ  (4×4)
                for (i, row) in t.iter().enumerate() {
                    let [t0, t1, t2] = *row;
                    let vals = [t0, 0.5 * (t0 + t1 + t2), 0.5 * (t0 - t1 + t2), t2];
                    for (j, v) in vals.into_iter().enumerate() {
                        u[((4 * i + j) * cin + ci) * cout + co] = v;
                    }
                }
            }
        }
        Self {
            cin,
            cout,
            u,
            b: b.to_vec(),
            relu: true,
        }
    }

    /// The same convolution without the ReLU (bias only).
    pub(super) fn linear(mut self) -> Self {
        self.relu = false;
        self
    }

    /// `[n, h, w, cin] → [n, h, w, cout]` (data only), padding 1, bias, ReLU (unless
    /// [`Self::linear`]), into
    /// `out` (`n·h·w·cout` values, every one overwritten).
    /// `h` and `w` must be even (every level of the networks here is).
    pub(super) fn forward(
        &self,
        x: &[f32],
        n: usize,
        h: usize,
        w: usize,
        mut out: Vec<f32>,
    ) -> Vec<f32> {
        assert!(
            h.is_multiple_of(2) && w.is_multiple_of(2),
            "Winograd tiles need even sizes"
        );
        let (cin, cout) = (self.cin, self.cout);
        let tx = w / 2;
        let tile_rows = n * h / 2;
        let per_tile = 16 * 4 * (cin + cout);
        let block_tiles = (BLOCK_BYTES / per_tile).max(MIN_BLOCK_TILES);
        let rows_per_block = (block_tiles / tx).clamp(1, tile_rows.max(1));
        let blocks = tile_rows.div_ceil(rows_per_block);
        let threads = rayon::current_num_threads();
        let inner = if blocks < 2 * threads {
            Parallelism::Rayon(threads)
        } else {
            Parallelism::None
        };
        assert_eq!(out.len(), n * h * w * cout, "Winograd output size");
        // A block is a run of whole tile rows: its output is one contiguous run of
        // pixel rows.
        out.par_chunks_mut(rows_per_block * 2 * w * cout)
            .enumerate()
            .for_each(|(bi, dst)| {
                let tn = dst.len() / (4 * cout);
                let t0 = bi * rows_per_block * tx;
                // Per-thread scratch, reused across blocks and layers (a fresh pair
                // if this thread is already inside a block: rayon may run another
                // block here while a GEMM waits for its helpers).
                SCRATCH.with(|cell| {
                    let mut fresh = (Vec::new(), Vec::new());
                    let mut guard = cell.try_borrow_mut();
                    let (v, m) = match guard.as_deref_mut() {
                        Ok(pair) => pair,
                        Err(_) => &mut fresh,
                    };
                    // Every element is written below before it is read.
                    v.resize(16 * tn * cin, 0.0);
                    m.resize(16 * tn * cout, 0.0);
                    let level = simd::level();
                    input_transform(level, cin, x, h, w, t0, tn, v);
                    for xi in 0..16 {
                        matmul(
                            &mut m[xi * tn * cout..][..tn * cout],
                            &v[xi * tn * cin..][..tn * cin],
                            &self.u[xi * cin * cout..][..cin * cout],
                            tn,
                            cin,
                            cout,
                            inner,
                        );
                    }
                    output_transform(level, &m[..16 * tn * cout], &self.b, w, self.relu, dst);
                });
            });
        out
    }
}

multiversion! {
    /// `V = Bᵀ d B` of tiles `t0 .. t0 + tn` of `[n, h, w, c]` maps `x` into `v`
    /// `[16, tn, c]`.
    fn input_transform => input_transform_body(
        c: usize, x: &[f32], h: usize, w: usize, t0: usize, tn: usize, v: &mut [f32],
    )
}

#[inline(always)]
fn input_transform_body(
    c: usize,
    x: &[f32],
    h: usize,
    w: usize,
    t0: usize,
    tn: usize,
    v: &mut [f32],
) {
    let (ty, tx) = (h / 2, w / 2);
    let zeros = vec![0.0f32; c];
    let mut t = vec![0.0f32; 16 * c]; // Bᵀ d: row i, column j at (4i + j)·c
    for k in 0..tn {
        let g = t0 + k;
        let (img, r) = (g / (ty * tx), g % (ty * tx));
        let (y0, x0) = (2 * (r / tx) as isize - 1, 2 * (r % tx) as isize - 1);
        let at = Patch {
            x,
            zeros: &zeros,
            img,
            h,
            w,
            c,
            y0,
            x0,
        };
        let px = |dy: usize, dx: usize| at.pixel(dy, dx);
        // t = Bᵀ d (combines rows of the patch), column by column.
        for col in 0..4 {
            let (d0, d1, d2, d3) = (px(0, col), px(1, col), px(2, col), px(3, col));
            let (r0, rest) = t.split_at_mut(4 * c);
            let (r1, rest) = rest.split_at_mut(4 * c);
            let (r2, r3) = rest.split_at_mut(4 * c);
            sub(&mut r0[col * c..][..c], d0, d2);
            add(&mut r1[col * c..][..c], d1, d2);
            sub(&mut r2[col * c..][..c], d2, d1);
            sub(&mut r3[col * c..][..c], d1, d3);
        }
        // V = t B (combines columns), straight into the 16 planes.
        for i in 0..4 {
            let row = &t[i * 4 * c..][..4 * c];
            let (a0, a1, a2, a3) = (&row[..c], &row[c..2 * c], &row[2 * c..3 * c], &row[3 * c..]);
            let plane = |j: usize| (4 * i + j) * tn + k;
            sub(&mut v[plane(0) * c..][..c], a0, a2);
            add(&mut v[plane(1) * c..][..c], a1, a2);
            sub(&mut v[plane(2) * c..][..c], a2, a1);
            sub(&mut v[plane(3) * c..][..c], a1, a3);
        }
    }
}

/// The 4×4 input patch of one tile: pixel `(y0 + dy, x0 + dx)` of image `img`, or
/// zeros outside the image (padding 1).
struct Patch<'a> {
    x: &'a [f32],
    zeros: &'a [f32],
    img: usize,
    h: usize,
    w: usize,
    c: usize,
    y0: isize,
    x0: isize,
}

impl<'a> Patch<'a> {
    #[inline(always)]
    fn pixel(&self, dy: usize, dx: usize) -> &'a [f32] {
        let (yy, xx) = (self.y0 + dy as isize, self.x0 + dx as isize);
        if yy < 0 || xx < 0 || yy >= self.h as isize || xx >= self.w as isize {
            self.zeros
        } else {
            let (c, w) = (self.c, self.w);
            &self.x[((self.img * self.h + yy as usize) * w + xx as usize) * c..][..c]
        }
    }
}

multiversion! {
    /// `Y = Aᵀ m A` + bias, ReLU when `relu`, from `m` `[16, tn, c]` into `dst`, the
    /// output rows of those tiles (`tn / (w/2)` tile rows of a map `w` pixels wide).
    fn output_transform => output_transform_body(
        m: &[f32], bias: &[f32], w: usize, relu: bool, dst: &mut [f32],
    )
}

#[inline(always)]
fn output_transform_body(m: &[f32], bias: &[f32], w: usize, relu: bool, dst: &mut [f32]) {
    let c = bias.len();
    let tn = m.len() / (16 * c);
    let tx = w / 2;
    let mut s = vec![0.0f32; 8 * c]; // Aᵀ m: row i, column j at (4i + j)·c
    for k in 0..tn {
        let (y0, x0) = (2 * (k / tx), 2 * (k % tx));
        let at = |xi: usize| &m[(xi * tn + k) * c..][..c];
        let (s0, s1) = s.split_at_mut(4 * c);
        for j in 0..4 {
            let (m0, m1, m2, m3) = (at(j), at(4 + j), at(8 + j), at(12 + j));
            sum3(&mut s0[j * c..][..c], m0, m1, m2);
            diff3(&mut s1[j * c..][..c], m1, m2, m3);
        }
        for i in 0..2 {
            let row = &s[i * 4 * c..][..4 * c];
            let (r0, r1, r2, r3) = (&row[..c], &row[c..2 * c], &row[2 * c..3 * c], &row[3 * c..]);
            let base = ((y0 + i) * w + x0) * c;
            let (left, right) = dst[base..base + 2 * c].split_at_mut(c);
            if relu {
                sum3_bias_relu(left, r0, r1, r2, bias);
                diff3_bias_relu(right, r1, r2, r3, bias);
            } else {
                sum3_bias(left, r0, r1, r2, bias);
                diff3_bias(right, r1, r2, r3, bias);
            }
        }
    }
}

// Element-wise kernels over one pixel's channels (iterator zips, so they vectorise).

#[inline(always)]
fn add(out: &mut [f32], a: &[f32], b: &[f32]) {
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x + y;
    }
}

#[inline(always)]
fn sub(out: &mut [f32], a: &[f32], b: &[f32]) {
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x - y;
    }
}

#[inline(always)]
/// `a + b + c`.
fn sum3(out: &mut [f32], a: &[f32], b: &[f32], c: &[f32]) {
    for (((o, x), y), z) in out.iter_mut().zip(a).zip(b).zip(c) {
        *o = x + y + z;
    }
}

/// `a − b − c`.
#[inline(always)]
fn diff3(out: &mut [f32], a: &[f32], b: &[f32], c: &[f32]) {
    for (((o, x), y), z) in out.iter_mut().zip(a).zip(b).zip(c) {
        *o = x - y - z;
    }
}

#[inline(always)]
fn sum3_bias(out: &mut [f32], a: &[f32], b: &[f32], c: &[f32], bias: &[f32]) {
    for ((((o, x), y), z), bb) in out.iter_mut().zip(a).zip(b).zip(c).zip(bias) {
        *o = x + y + z + bb;
    }
}

#[inline(always)]
fn diff3_bias(out: &mut [f32], a: &[f32], b: &[f32], c: &[f32], bias: &[f32]) {
    for ((((o, x), y), z), bb) in out.iter_mut().zip(a).zip(b).zip(c).zip(bias) {
        *o = x - y - z + bb;
    }
}

#[inline(always)]
fn sum3_bias_relu(out: &mut [f32], a: &[f32], b: &[f32], c: &[f32], bias: &[f32]) {
    for ((((o, x), y), z), bb) in out.iter_mut().zip(a).zip(b).zip(c).zip(bias) {
        *o = (x + y + z + bb).max(0.0);
    }
}

#[inline(always)]
fn diff3_bias_relu(out: &mut [f32], a: &[f32], b: &[f32], c: &[f32], bias: &[f32]) {
    for ((((o, x), y), z), bb) in out.iter_mut().zip(a).zip(b).zip(c).zip(bias) {
        *o = (x - y - z + bb).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seg::cpu_engine::simd::{SimdLevel, available};

    /// A deterministic pseudo-random ramp with negative and positive values.
    fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).max(1);
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn every_simd_copy_of_the_transforms_gives_the_same_bits() {
        // Odd channel counts leave a remainder after every vector width.
        for &(c, h, w) in &[(8usize, 6usize, 4usize), (37, 4, 8), (64, 2, 2)] {
            let x = values(2 * h * w * c, c as u32);
            let tn = 2 * (h / 2) * (w / 2);
            let reference = |level: SimdLevel| {
                let mut v = vec![0.0f32; 16 * tn * c];
                input_transform(level, c, &x, h, w, 0, tn, &mut v);
                let bias = values(c, 7);
                let mut dst = vec![0.0f32; 2 * h * w * c];
                // The transformed inputs stand in for the products (same shape when
                // c_in = c_out).
                output_transform(level, &v, &bias, w, true, &mut dst);
                (v, dst)
            };
            let levels = available();
            let base = reference(SimdLevel::Baseline);
            for &level in &levels {
                let got = reference(level);
                assert!(
                    got.0
                        .iter()
                        .zip(&base.0)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "input transform differs at {level:?}, c = {c}"
                );
                assert!(
                    got.1
                        .iter()
                        .zip(&base.1)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "output transform differs at {level:?}, c = {c}"
                );
            }
            assert!(base.1.iter().any(|&v| v > 0.0) && base.1.contains(&0.0));
        }
    }
}
