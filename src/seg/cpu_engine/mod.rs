//! The CPU inference engine: the trained U-Net / U-Net++ run without burn, on
//! channels-last (`NHWC`) `f32` feature maps, with BatchNorm folded into the
//! convolutions and every convolution done as one cache-sized matrix product per
//! tile of pixels (the `gemm` crate's kernels, picked at run time for the CPU's
//! SIMD level).
//!
//! Why: burn's flex backend (which training uses) spends most of its convolution
//! time re-laying out data on every call (weights re-ordered, `NCHW → NHWC`
//! transposes, one GEMM per 512-pixel tile on one thread); see
//! `docs/segmentation.md`. Inference needs none of that: weights are re-ordered
//! once when the engine is built, feature maps stay channels-last from the input
//! to the head, and tiles of pixels run in parallel on rayon's pool.
//!
//! The engine reproduces [`SegModel::forward`] and the head's probabilities
//! ([`CpuNet::probabilities`] returns `[B, C, S, S]`, as the burn path does) to
//! float rounding; tests compare the two on random and on the shipped weights.
//!
//! Layer by layer (`H × W` pixels, `C` channels, per image):
//! - 3×3 convolution (padding 1) + folded BatchNorm + ReLU: Winograd F(2×2, 3×3)
//!   ([`winograd`]; 2.25× fewer multiplications) where the map has even sides and
//!   at least [`WINOGRAD_MIN_CIN`] input channels, otherwise for a tile of `T`
//!   output pixels an im2col block `[T, 9·C_in]` (zeros outside the image) times
//!   the weights `[9·C_in, C_out]`; then bias and ReLU.
//! - 2×2 max-pooling, stride 2.
//! - transposed convolution 2×2, stride 2: `[H·W, C_in] × [C_in, 4·C_out]`, each
//!   result row scattered to its 2×2 output pixels.
//! - bilinear ×2 (half-pixel centres, as PyTorch's `align_corners = false`) then
//!   1×1 convolution: the 1×1 convolution runs first, at the low resolution
//!   (the two are linear and the interpolation weights sum to 1, so the order
//!   does not change the result, and it is 4× less work).
//! - concatenation `[skips..., upsampled]` along channels; head 1×1 convolution;
//!   sigmoid per channel or softmax over channels.

use burn::module::Param;
use burn::nn::BatchNorm;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::Tensor;
use gemm::Parallelism;
use rayon::prelude::*;

use super::SegError;
use super::model::{
    DoubleConv, Encoder, Head, ModelConfig, SegModel, UpBlock, Upsample, node_positions,
};
use winograd::Winograd3;

mod winograd;

/// Fewest input channels for which a 3×3 convolution runs as Winograd F(2×2, 3×3)
/// (with fewer, its GEMMs are too thin to pay for the transforms).
pub const WINOGRAD_MIN_CIN: usize = 8;

/// How 3×3 convolutions are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConvAlgo {
    /// Winograd F(2×2, 3×3) where it applies, im2col + GEMM elsewhere.
    #[default]
    Auto,
    /// im2col + GEMM everywhere (the direct method; for comparison).
    Im2col,
}

/// Bytes of one im2col tile (per thread); big enough that the GEMM amortises its
/// packing of the weights, small enough to stay in the L2 cache.
const TILE_BYTES: usize = 512 * 1024;
/// Fewest output pixels per tile.
const MIN_TILE_PIXELS: usize = 128;

/// A channels-last feature map `[n, h, w, c]`.
#[derive(Debug, Clone)]
struct Fmap {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    data: Vec<f32>,
}

impl Fmap {
    fn zeros(n: usize, h: usize, w: usize, c: usize) -> Self {
        Self {
            n,
            h,
            w,
            c,
            data: vec![0.0; n * h * w * c],
        }
    }

    fn pixels(&self) -> usize {
        self.h * self.w
    }
}

/// 3×3 convolution, padding 1, with BatchNorm folded in; ReLU follows.
#[derive(Debug, Clone)]
struct Conv3 {
    cin: usize,
    cout: usize,
    /// `[9·cin, cout]`: row `(ky·3 + kx)·cin + ci`.
    w: Vec<f32>,
    b: Vec<f32>,
    /// The same kernels in the Winograd domain (when `cin >= WINOGRAD_MIN_CIN`).
    wino: Option<Winograd3>,
}

/// 1×1 convolution with bias.
#[derive(Debug, Clone)]
struct Conv1 {
    cin: usize,
    cout: usize,
    /// `[cin, cout]`.
    w: Vec<f32>,
    b: Vec<f32>,
}

#[derive(Debug, Clone)]
struct DoubleConv3 {
    c1: Conv3,
    c2: Conv3,
}

#[derive(Debug, Clone)]
enum Up {
    /// `w`: `[cin, 4·cout]`, column `(a·2 + b)·cout + co` for output offset `(a, b)`.
    Transpose {
        cin: usize,
        cout: usize,
        w: Vec<f32>,
        b: Vec<f32>,
    },
    Bilinear(Conv1),
}

#[derive(Debug, Clone)]
struct Node {
    up: Up,
    conv: DoubleConv3,
}

/// Whether the decoder is the classic U-Net or U-Net++.
#[derive(Debug, Clone)]
enum Decoder {
    /// One node per level, deepest first.
    Unet(Vec<Node>),
    /// Nodes `X(i, j)` in [`node_positions`] order.
    UnetPlusPlus(Vec<Node>),
}

/// A network ready to run on the CPU: weights re-ordered for channels-last GEMMs,
/// BatchNorm folded.
#[derive(Debug, Clone)]
pub struct CpuNet {
    inc: DoubleConv3,
    downs: Vec<DoubleConv3>,
    decoder: Decoder,
    outc: Conv1,
    head: Head,
    in_channels: usize,
    input_size: usize,
    depth: usize,
    algo: ConvAlgo,
}

impl CpuNet {
    /// Copies the weights of `model` (built from `config`, on any device) into an engine.
    pub fn from_model(model: &SegModel, config: &ModelConfig) -> Result<Self, SegError> {
        config.validate()?;
        let (encoder, decoder, outc) = match model {
            SegModel::Unet(net) => (&net.encoder, Decoder::Unet(nodes(&net.ups)?), &net.outc),
            SegModel::UnetPlusPlus(net) => (
                &net.encoder,
                Decoder::UnetPlusPlus(nodes(&net.nodes)?),
                &net.outc,
            ),
        };
        let Encoder { inc, downs, .. } = encoder;
        let net = Self {
            inc: double_conv(inc)?,
            downs: downs.iter().map(double_conv).collect::<Result<_, _>>()?,
            decoder,
            outc: conv1(outc)?,
            head: config.head,
            in_channels: config.in_channels,
            input_size: config.input_size,
            depth: config.depth,
            algo: ConvAlgo::Auto,
        };
        net.check(config)?;
        Ok(net)
    }

    /// Checks that the copied layers chain as `config` says.
    fn check(&self, config: &ModelConfig) -> Result<(), SegError> {
        let w = config.widths();
        let bad = |what: String| Err(SegError::InvalidConfig(format!("CPU engine: {what}")));
        if self.inc.c1.cin != config.in_channels || self.inc.c2.cout != w[0] {
            return bad("the first block does not match the configuration".into());
        }
        if self.downs.len() != config.depth {
            return bad(format!(
                "{} encoder levels for depth {}",
                self.downs.len(),
                config.depth
            ));
        }
        if self.outc.cin != w[0] || self.outc.cout != config.head.out_channels() {
            return bad("the head does not match the configuration".into());
        }
        let expected = match &self.decoder {
            Decoder::Unet(n) => (n.len(), config.depth),
            Decoder::UnetPlusPlus(n) => (n.len(), node_positions(config.depth).count()),
        };
        if expected.0 != expected.1 {
            return bad(format!(
                "{} decoder nodes, {} expected",
                expected.0, expected.1
            ));
        }
        Ok(())
    }

    /// The same engine computing 3×3 convolutions with `algo`.
    pub fn with_algo(mut self, algo: ConvAlgo) -> Self {
        self.algo = algo;
        self
    }

    /// How 3×3 convolutions are computed.
    pub fn algo(&self) -> ConvAlgo {
        self.algo
    }

    /// Side of the square input.
    pub fn input_size(&self) -> usize {
        self.input_size
    }

    /// Logits `[B, C, S, S]` (row-major, `C` = the head's channels) of the input
    /// `[B, in, S, S]` (row-major; with one input channel this is also `[B, S, S, 1]`).
    pub fn logits(&self, input: &[f32], batch: usize) -> Result<Vec<f32>, SegError> {
        let y = self.forward_nhwc(input, batch)?;
        Ok(to_nchw(&y))
    }

    /// Head probabilities `[B, C, S, S]`: sigmoid per channel, or softmax over the
    /// channels, as [`Head::probabilities`].
    pub fn probabilities(&self, input: &[f32], batch: usize) -> Result<Vec<f32>, SegError> {
        let mut y = self.forward_nhwc(input, batch)?;
        match self.head {
            Head::Sigmoid { .. } => y
                .data
                .par_iter_mut()
                .for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
            Head::Softmax { .. } => y.data.par_chunks_mut(y.c).for_each(|px| {
                let max = px.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0;
                for v in px.iter_mut() {
                    *v = (*v - max).exp();
                    sum += *v;
                }
                for v in px.iter_mut() {
                    *v /= sum;
                }
            }),
        }
        Ok(to_nchw(&y))
    }

    /// The network on channels-last maps; returns the head's logits `[B, S, S, C]`.
    fn forward_nhwc(&self, input: &[f32], batch: usize) -> Result<Fmap, SegError> {
        let s = self.input_size;
        let expected = batch * self.in_channels * s * s;
        if input.len() != expected || batch == 0 {
            return Err(SegError::InvalidConfig(format!(
                "CPU engine: input of {} values, expected {batch} x {} x {s} x {s}",
                input.len(),
                self.in_channels
            )));
        }
        let x = Fmap {
            n: batch,
            h: s,
            w: s,
            c: self.in_channels,
            data: if self.in_channels == 1 {
                input.to_vec()
            } else {
                nchw_to_nhwc(input, batch, self.in_channels, s, s)
            },
        };
        // Encoder: skips[i] at S / 2^i.
        let mut skips = Vec::with_capacity(self.depth + 1);
        let algo = self.algo;
        let mut x = self.inc.forward(&x, algo);
        for down in &self.downs {
            let pooled = max_pool2(&x);
            skips.push(x);
            x = down.forward(&pooled, algo);
        }
        let top = match &self.decoder {
            Decoder::Unet(nodes) => {
                for (node, skip) in nodes.iter().zip(skips.iter().rev()) {
                    x = node.forward(&x, &[skip], algo);
                }
                x
            }
            Decoder::UnetPlusPlus(nodes) => {
                // grid[i][j] = X(i, j)
                let mut grid: Vec<Vec<Fmap>> = skips.into_iter().map(|t| vec![t]).collect();
                grid.push(vec![x]);
                for (node, (i, j)) in nodes.iter().zip(node_positions(self.depth)) {
                    let parts: Vec<&Fmap> = grid[i].iter().collect();
                    let y = node.forward(&grid[i + 1][j - 1], &parts, algo);
                    grid[i].push(y);
                }
                grid.swap_remove(0).pop().ok_or_else(|| {
                    SegError::InvalidConfig("CPU engine: empty U-Net++ grid".into())
                })?
            }
        };
        Ok(self.outc.forward(&top))
    }
}

impl DoubleConv3 {
    fn forward(&self, x: &Fmap, algo: ConvAlgo) -> Fmap {
        let y = self.c1.forward(x, algo);
        self.c2.forward(&y, algo)
    }
}

impl Node {
    /// `deeper` at half resolution; `skips` at this level, concatenated first.
    fn forward(&self, deeper: &Fmap, skips: &[&Fmap], algo: ConvAlgo) -> Fmap {
        let up = self.up.forward(deeper);
        let mut parts: Vec<&Fmap> = skips.to_vec();
        parts.push(&up);
        let x = concat(&parts);
        self.conv.forward(&x, algo)
    }
}

impl Up {
    fn forward(&self, x: &Fmap) -> Fmap {
        match self {
            Up::Transpose { cin, cout, w, b } => {
                debug_assert_eq!(x.c, *cin);
                let (cin, cout) = (*cin, *cout);
                // [n·h·w, cin] × [cin, 4·cout]: every input pixel's 2×2 output block.
                let blocks = Conv1 {
                    cin,
                    cout: 4 * cout,
                    w: w.clone(),
                    b: Vec::new(),
                }
                .matmul_only(x);
                let mut out = Fmap::zeros(x.n, 2 * x.h, 2 * x.w, cout);
                let ow = 2 * x.w;
                out.data
                    .par_chunks_mut(2 * ow * cout) // the two output rows of one input row
                    .zip(blocks.par_chunks(x.w * 4 * cout))
                    .for_each(|(dst, src)| {
                        for (xx, block) in src.chunks_exact(4 * cout).enumerate() {
                            for (t, from) in block.chunks_exact(cout).enumerate() {
                                let (a, bb) = (t / 2, t % 2);
                                let to = &mut dst[(a * ow + 2 * xx + bb) * cout..][..cout];
                                for ((o, f), bias) in to.iter_mut().zip(from).zip(b) {
                                    *o = f + bias;
                                }
                            }
                        }
                    });
                out
            }
            Up::Bilinear(conv) => upsample_bilinear2(&conv.forward(x)),
        }
    }
}

impl Conv1 {
    /// `[n, h, w, cin] → [n, h, w, cout]`, with bias, no activation.
    fn forward(&self, x: &Fmap) -> Fmap {
        let data = self.matmul_only(x);
        let mut out = Fmap {
            n: x.n,
            h: x.h,
            w: x.w,
            c: self.cout,
            data,
        };
        out.data
            .par_chunks_mut(self.cout * 256)
            .for_each(|d| add_bias(d, &self.b, false));
        out
    }

    /// The pixels of `x` times the weights, `[n·h·w, cout]`, no bias.
    fn matmul_only(&self, x: &Fmap) -> Vec<f32> {
        debug_assert_eq!(x.c, self.cin);
        let rows = x.n * x.pixels();
        let mut out = vec![0.0f32; rows * self.cout];
        let tile = tile_pixels(self.cin).max(MIN_TILE_PIXELS);
        let threads = rayon::current_num_threads();
        let inner = if rows.div_ceil(tile) < 2 * threads {
            Parallelism::Rayon(threads)
        } else {
            Parallelism::None
        };
        out.par_chunks_mut(tile * self.cout)
            .zip(x.data.par_chunks(tile * self.cin))
            .for_each(|(dst, src)| {
                let m = dst.len() / self.cout;
                matmul(dst, src, &self.w, m, self.cin, self.cout, inner);
            });
        out
    }
}

impl Conv3 {
    /// `[n, h, w, cin] → [n, h, w, cout]`, 3×3, padding 1, bias, ReLU.
    fn forward(&self, x: &Fmap, algo: ConvAlgo) -> Fmap {
        debug_assert_eq!(x.c, self.cin);
        if let Some(wino) = &self.wino
            && algo == ConvAlgo::Auto
            && x.h.is_multiple_of(2)
            && x.w.is_multiple_of(2)
        {
            return Fmap {
                n: x.n,
                h: x.h,
                w: x.w,
                c: self.cout,
                data: wino.forward(&x.data, x.n, x.h, x.w),
            };
        }
        let (cin, cout) = (self.cin, self.cout);
        let k = 9 * cin;
        let hw = x.pixels();
        let tile = tile_pixels(k).clamp(MIN_TILE_PIXELS.min(hw), hw);
        let tiles_per_image = hw.div_ceil(tile);
        let threads = rayon::current_num_threads();
        // Few tiles (deep levels of one image): parallelise inside the GEMM instead.
        let inner = if x.n * tiles_per_image < 2 * threads {
            Parallelism::Rayon(threads)
        } else {
            Parallelism::None
        };
        let mut out = Fmap::zeros(x.n, x.h, x.w, cout);
        out.data
            .par_chunks_mut(hw * cout)
            .enumerate()
            .for_each(|(img, dst_img)| {
                let src = &x.data[img * hw * cin..][..hw * cin];
                dst_img
                    .par_chunks_mut(tile * cout)
                    .enumerate()
                    .for_each(|(t, dst)| {
                        let p0 = t * tile;
                        let m = dst.len() / cout;
                        let mut a = vec![0.0f32; m * k];
                        im2col3(&mut a, src, x.h, x.w, cin, p0, m);
                        matmul(dst, &a, &self.w, m, k, cout, inner);
                        add_bias(dst, &self.b, true);
                    });
            });
        out
    }
}

/// Output pixels per tile for a GEMM inner dimension `k`.
fn tile_pixels(k: usize) -> usize {
    (TILE_BYTES / (4 * k.max(1))).max(1)
}

/// The im2col rows of output pixels `p0 .. p0 + m` of one `[h, w, c]` image:
/// row `i`, columns `(ky·3 + kx)·c .. +c` = input pixel `(y + ky − 1, x + kx − 1)`
/// (zeros outside the image). `a` must be zeroed.
fn im2col3(a: &mut [f32], src: &[f32], h: usize, w: usize, c: usize, p0: usize, m: usize) {
    let k = 9 * c;
    for (i, row) in a.chunks_exact_mut(k).take(m).enumerate() {
        let p = p0 + i;
        let (y, x) = (p / w, p % w);
        for ky in 0..3 {
            let Some(yy) = (y + ky).checked_sub(1).filter(|&v| v < h) else {
                continue;
            };
            // Contiguous run of the three taps of this kernel row inside the image.
            let x_lo = x.saturating_sub(1);
            let x_hi = (x + 1).min(w - 1);
            let kx_lo = x_lo + 1 - x;
            let n = x_hi + 1 - x_lo;
            let from = &src[(yy * w + x_lo) * c..][..n * c];
            row[(ky * 3 + kx_lo) * c..][..n * c].copy_from_slice(from);
        }
    }
}

/// `dst[m, n] = a[m, k] × b[k, n]`, all row-major and contiguous.
fn matmul(dst: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, par: Parallelism) {
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

fn add_bias(dst: &mut [f32], bias: &[f32], relu: bool) {
    for px in dst.chunks_exact_mut(bias.len()) {
        for (v, b) in px.iter_mut().zip(bias) {
            let s = *v + b;
            *v = if relu { s.max(0.0) } else { s };
        }
    }
}

/// 2×2 max-pooling with stride 2 (odd trailing rows/columns dropped, as burn/PyTorch).
fn max_pool2(x: &Fmap) -> Fmap {
    let (oh, ow, c) = (x.h / 2, x.w / 2, x.c);
    let mut out = Fmap::zeros(x.n, oh, ow, c);
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
fn upsample_bilinear2(x: &Fmap) -> Fmap {
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
    let mut out = Fmap::zeros(x.n, oh, ow, c);
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
fn concat(parts: &[&Fmap]) -> Fmap {
    let first = parts[0];
    let c: usize = parts.iter().map(|p| p.c).sum();
    let mut out = Fmap::zeros(first.n, first.h, first.w, c);
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

fn to_nchw(y: &Fmap) -> Vec<f32> {
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

fn nchw_to_nhwc(x: &[f32], n: usize, c: usize, h: usize, w: usize) -> Vec<f32> {
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

// ---------------------------------------------------------------- weight copies

fn values<const D: usize>(t: Tensor<D>, what: &str) -> Result<Vec<f32>, SegError> {
    t.try_into_data_as::<f32>()
        .map_err(|e| SegError::Backend(format!("CPU engine: cannot read {what}: {e:?}")))?
        .try_to_vec::<f32>()
        .map_err(|e| SegError::Backend(format!("CPU engine: cannot read {what}: {e:?}")))
}

fn param<const D: usize>(p: &Param<Tensor<D>>, what: &str) -> Result<Vec<f32>, SegError> {
    values(p.val(), what)
}

fn unsupported(what: &str) -> SegError {
    SegError::InvalidConfig(format!("CPU engine: unsupported layer ({what})"))
}

/// Per-output-channel `(scale, shift)` of an eval-mode BatchNorm.
fn bn_affine(bn: &BatchNorm) -> Result<(Vec<f32>, Vec<f32>), SegError> {
    let gamma = param(&bn.gamma, "BatchNorm gamma")?;
    let beta = param(&bn.beta, "BatchNorm beta")?;
    let mean = values(bn.running_mean.value(), "BatchNorm running mean")?;
    let var = values(bn.running_var.value(), "BatchNorm running variance")?;
    let eps = bn.epsilon;
    let scale: Vec<f32> = gamma
        .iter()
        .zip(&var)
        .map(|(&g, &v)| (g as f64 / (v as f64 + eps).sqrt()) as f32)
        .collect();
    let shift = beta
        .iter()
        .zip(&mean)
        .zip(&scale)
        .map(|((&b, &m), &s)| b - m * s)
        .collect();
    Ok((scale, shift))
}

fn conv3(conv: &Conv2d, bn: Option<&BatchNorm>) -> Result<Conv3, SegError> {
    let [cout, cin, kh, kw] = conv.weight.val().dims();
    if [kh, kw] != [3, 3] || conv.stride != [1, 1] || conv.dilation != [1, 1] || conv.groups != 1 {
        return Err(unsupported(
            "a 3x3 convolution with stride, dilation or groups",
        ));
    }
    let w = param(&conv.weight, "convolution weights")?;
    let mut bias = match &conv.bias {
        Some(b) => param(b, "convolution bias")?,
        None => vec![0.0; cout],
    };
    let mut scale = vec![1.0f32; cout];
    if let Some(bn) = bn {
        let (s, shift) = bn_affine(bn)?;
        for co in 0..cout {
            bias[co] = bias[co] * s[co] + shift[co];
        }
        scale = s;
    }
    let mut out = vec![0.0f32; 9 * cin * cout];
    for co in 0..cout {
        for ci in 0..cin {
            for t in 0..9 {
                out[(t * cin + ci) * cout + co] = w[(co * cin + ci) * 9 + t] * scale[co];
            }
        }
    }
    let wino = (cin >= WINOGRAD_MIN_CIN).then(|| Winograd3::new(cin, cout, &out, &bias));
    Ok(Conv3 {
        cin,
        cout,
        w: out,
        b: bias,
        wino,
    })
}

fn conv1(conv: &Conv2d) -> Result<Conv1, SegError> {
    let [cout, cin, kh, kw] = conv.weight.val().dims();
    if [kh, kw] != [1, 1] || conv.groups != 1 {
        return Err(unsupported("a 1x1 convolution with groups"));
    }
    let w = param(&conv.weight, "1x1 convolution weights")?;
    let b = match &conv.bias {
        Some(b) => param(b, "1x1 convolution bias")?,
        None => vec![0.0; cout],
    };
    let mut out = vec![0.0f32; cin * cout];
    for co in 0..cout {
        for ci in 0..cin {
            out[ci * cout + co] = w[co * cin + ci];
        }
    }
    Ok(Conv1 {
        cin,
        cout,
        w: out,
        b,
    })
}

fn transpose2(deconv: &ConvTranspose2d) -> Result<Up, SegError> {
    let [cin, cout, kh, kw] = deconv.weight.val().dims();
    if [kh, kw] != [2, 2]
        || deconv.stride != [2, 2]
        || deconv.groups != 1
        || deconv.padding != [0, 0]
        || deconv.padding_out != [0, 0]
        || deconv.dilation != [1, 1]
    {
        return Err(unsupported(
            "a transposed convolution other than 2x2 stride 2",
        ));
    }
    let w = param(&deconv.weight, "transposed convolution weights")?;
    let b = match &deconv.bias {
        Some(b) => param(b, "transposed convolution bias")?,
        None => vec![0.0; cout],
    };
    let mut out = vec![0.0f32; cin * 4 * cout];
    for ci in 0..cin {
        for co in 0..cout {
            for t in 0..4 {
                out[ci * 4 * cout + t * cout + co] = w[(ci * cout + co) * 4 + t];
            }
        }
    }
    Ok(Up::Transpose {
        cin,
        cout,
        w: out,
        b,
    })
}

fn double_conv(block: &DoubleConv) -> Result<DoubleConv3, SegError> {
    Ok(DoubleConv3 {
        c1: conv3(&block.conv1, block.bn1.as_ref())?,
        c2: conv3(&block.conv2, block.bn2.as_ref())?,
    })
}

fn nodes(blocks: &[UpBlock]) -> Result<Vec<Node>, SegError> {
    blocks
        .iter()
        .map(|b| {
            Ok(Node {
                up: match &b.up {
                    Upsample::Transpose(d) => transpose2(d)?,
                    Upsample::Bilinear(c) => Up::Bilinear(conv1(c)?),
                },
                conv: double_conv(&b.conv)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmap(n: usize, h: usize, w: usize, c: usize) -> Fmap {
        let mut m = Fmap::zeros(n, h, w, c);
        for (i, v) in m.data.iter_mut().enumerate() {
            *v = ((i * 7919) % 97) as f32 / 97.0 - 0.5;
        }
        m
    }

    #[test]
    fn im2col_matches_a_direct_3x3_convolution() {
        let x = fmap(1, 5, 7, 3);
        let cout = 4;
        let w: Vec<f32> = (0..27 * cout)
            .map(|i| (i % 11) as f32 * 0.1 - 0.5)
            .collect();
        let conv = Conv3 {
            cin: 3,
            cout,
            w: w.clone(),
            b: vec![0.0; cout],
            wino: None,
        };
        let y = conv.forward(&x, ConvAlgo::Auto);
        for yy in 0..5 {
            for xx in 0..7 {
                for co in 0..cout {
                    let mut s = 0.0f32;
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (iy, ix) = (yy as isize + ky - 1, xx as isize + kx - 1);
                            if iy < 0 || ix < 0 || iy >= 5 || ix >= 7 {
                                continue;
                            }
                            for ci in 0..3 {
                                let v = x.data[((iy as usize) * 7 + ix as usize) * 3 + ci];
                                s += v * w[(((ky * 3 + kx) as usize) * 3 + ci) * cout + co];
                            }
                        }
                    }
                    let got = y.data[(yy * 7 + xx) * cout + co];
                    assert!((got - s.max(0.0)).abs() < 1e-5, "{got} vs {s}");
                }
            }
        }
    }

    #[test]
    fn winograd_matches_im2col_on_even_and_small_maps() {
        for (n, h, w, cin, cout) in [(1, 8, 6, 8, 5), (2, 4, 10, 16, 3), (1, 2, 2, 9, 4)] {
            let x = fmap(n, h, w, cin);
            let wts: Vec<f32> = (0..9 * cin * cout)
                .map(|i| ((i * 31) % 23) as f32 * 0.02 - 0.2)
                .collect();
            let b: Vec<f32> = (0..cout).map(|i| i as f32 * 0.01 - 0.01).collect();
            let conv = Conv3 {
                cin,
                cout,
                wino: Some(Winograd3::new(cin, cout, &wts, &b)),
                w: wts,
                b,
            };
            let a = conv.forward(&x, ConvAlgo::Im2col);
            let c = conv.forward(&x, ConvAlgo::Auto);
            let worst = a
                .data
                .iter()
                .zip(&c.data)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "{n}x{h}x{w} {cin}->{cout}: {worst}");
        }
    }

    #[test]
    fn bilinear_x2_keeps_constants_and_interpolates_ramps() {
        let mut x = Fmap::zeros(1, 2, 3, 1);
        x.data = vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0];
        let y = upsample_bilinear2(&x);
        assert_eq!((y.h, y.w), (4, 6));
        let row: Vec<f32> = y.data[..6].to_vec();
        assert_eq!(row, vec![0.0, 0.25, 0.75, 1.25, 1.75, 2.0]);
        let c = Fmap {
            data: vec![3.0; 6],
            ..x
        };
        assert!(upsample_bilinear2(&c).data.iter().all(|&v| v == 3.0));
    }

    #[test]
    fn max_pool_takes_the_largest_of_each_2x2_block() {
        let mut x = Fmap::zeros(1, 2, 4, 1);
        x.data = vec![1.0, 5.0, -1.0, -2.0, 3.0, 2.0, -3.0, -0.5];
        assert_eq!(max_pool2(&x).data, vec![5.0, -0.5]);
    }
}
