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
//!   (`winograd`; 2.25× fewer multiplications) where the map has even sides and
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

use gemm::Parallelism;
use rayon::prelude::*;

use super::SegError;
use super::model::{Encoder, Head, ModelConfig, SegModel, node_positions};
use buffers::Buffers;
use import::{conv1, double_conv, nodes};
use layers::{
    add_bias, concat, im2col3, matmul, max_pool2, nchw_to_nhwc, tile_pixels, to_nchw,
    upsample_bilinear2,
};
use winograd::Winograd3;

mod buffers;
mod import;
mod layers;
pub mod simd;
pub mod train;
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
    /// A zeroed map, in a buffer from `pool`.
    #[cfg(test)]
    fn zeros(pool: &Buffers, n: usize, h: usize, w: usize, c: usize) -> Self {
        Self {
            n,
            h,
            w,
            c,
            data: pool.zeroed(n * h * w * c),
        }
    }

    /// A map whose every value the caller writes, in a buffer from `pool` (which may
    /// still hold older values).
    fn for_overwrite(pool: &Buffers, n: usize, h: usize, w: usize, c: usize) -> Self {
        Self {
            n,
            h,
            w,
            c,
            data: pool.for_overwrite(n * h * w * c),
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
    /// ReLU after the bias (inference; training puts BatchNorm in between).
    relu: bool,
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
    /// `blocks`: `[cin, 4·cout]` weights (column `(a·2 + b)·cout + co` for output offset
    /// `(a, b)`, no bias); `b`: the `cout` biases, added when scattering.
    Transpose {
        cout: usize,
        blocks: Conv1,
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
    /// Feature-map buffers kept between layers and calls.
    pool: Buffers,
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
            pool: Buffers::default(),
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
        let out = to_nchw(&y);
        self.pool.recycle(y.data);
        Ok(out)
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
        let out = to_nchw(&y);
        self.pool.recycle(y.data);
        Ok(out)
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
        // Encoder: skips[i] at S / 2^i. Maps go back to the pool once used.
        let mut skips = Vec::with_capacity(self.depth + 1);
        let (algo, pool) = (self.algo, &self.pool);
        let input = x;
        let mut x = self.inc.forward(&input, algo, pool);
        pool.recycle(input.data);
        for down in &self.downs {
            let pooled = max_pool2(&x, pool);
            skips.push(x);
            x = down.forward(&pooled, algo, pool);
            pool.recycle(pooled.data);
        }
        let top = match &self.decoder {
            Decoder::Unet(nodes) => {
                for (node, skip) in nodes.iter().zip(skips.into_iter().rev()) {
                    let y = node.forward(&x, &[&skip], algo, pool);
                    pool.recycle(skip.data);
                    pool.recycle(std::mem::replace(&mut x, y).data);
                }
                x
            }
            Decoder::UnetPlusPlus(nodes) => {
                // grid[i][j] = X(i, j)
                let mut grid: Vec<Vec<Fmap>> = skips.into_iter().map(|t| vec![t]).collect();
                grid.push(vec![x]);
                for (node, (i, j)) in nodes.iter().zip(node_positions(self.depth)) {
                    let parts: Vec<&Fmap> = grid[i].iter().collect();
                    let y = node.forward(&grid[i + 1][j - 1], &parts, algo, pool);
                    grid[i].push(y);
                }
                grid.swap_remove(0).pop().ok_or_else(|| {
                    SegError::InvalidConfig("CPU engine: empty U-Net++ grid".into())
                })?
            }
        };
        let logits = self.outc.forward(&top, pool);
        pool.recycle(top.data);
        Ok(logits)
    }
}

impl DoubleConv3 {
    fn forward(&self, x: &Fmap, algo: ConvAlgo, pool: &Buffers) -> Fmap {
        let y = self.c1.forward(x, algo, pool);
        let out = self.c2.forward(&y, algo, pool);
        pool.recycle(y.data);
        out
    }
}

impl Node {
    /// `deeper` at half resolution; `skips` at this level, concatenated first.
    fn forward(&self, deeper: &Fmap, skips: &[&Fmap], algo: ConvAlgo, pool: &Buffers) -> Fmap {
        let up = self.up.forward(deeper, pool);
        let mut parts: Vec<&Fmap> = skips.to_vec();
        parts.push(&up);
        let x = concat(&parts, pool);
        pool.recycle(up.data);
        let out = self.conv.forward(&x, algo, pool);
        pool.recycle(x.data);
        out
    }
}

impl Up {
    fn forward(&self, x: &Fmap, pool: &Buffers) -> Fmap {
        match self {
            Up::Transpose { cout, blocks, b } => {
                let cout = *cout;
                // [n·h·w, cin] × [cin, 4·cout]: every input pixel's 2×2 output block.
                let blocks = blocks.matmul_only(x, pool);
                let mut out = Fmap::for_overwrite(pool, x.n, 2 * x.h, 2 * x.w, cout);
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
                pool.recycle(blocks);
                out
            }
            Up::Bilinear(conv) => {
                let low = conv.forward(x, pool);
                let out = upsample_bilinear2(&low, pool);
                pool.recycle(low.data);
                out
            }
        }
    }
}

impl Conv1 {
    /// `[n, h, w, cin] → [n, h, w, cout]`, with bias, no activation.
    fn forward(&self, x: &Fmap, pool: &Buffers) -> Fmap {
        let data = self.matmul_only(x, pool);
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
    fn matmul_only(&self, x: &Fmap, pool: &Buffers) -> Vec<f32> {
        debug_assert_eq!(x.c, self.cin);
        let rows = x.n * x.pixels();
        let mut out = pool.for_overwrite(rows * self.cout);
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
    /// `[n, h, w, cin] → [n, h, w, cout]`, 3×3, padding 1, bias, ReLU (when `relu`).
    fn forward(&self, x: &Fmap, algo: ConvAlgo, pool: &Buffers) -> Fmap {
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
                data: wino.forward(
                    &x.data,
                    x.n,
                    x.h,
                    x.w,
                    pool.for_overwrite(x.n * x.pixels() * self.cout),
                ),
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
        let mut out = Fmap::for_overwrite(pool, x.n, x.h, x.w, cout);
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
                        let mut a = pool.for_overwrite(m * k);
                        im2col3(&mut a, src, x.h, x.w, cin, p0, m);
                        matmul(dst, &a, &self.w, m, k, cout, inner);
                        pool.recycle(a);
                        add_bias(dst, &self.b, self.relu);
                    });
            });
        out
    }
}

#[cfg(test)]
mod tests;
