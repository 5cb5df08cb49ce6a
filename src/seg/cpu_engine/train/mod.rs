//! The CPU training engine: forward with the activations kept, backward passes for
//! every layer of the shipped U-Net / U-Net++ architectures, the training losses and
//! Adam with weight decay, all on channels-last maps and the inference engine's
//! kernels (Winograd and im2col 3×3 convolutions on `gemm`, rayon over both cores).
//!
//! What is shared with inference ([`super::CpuNet`]): the forward of every layer
//! (the 3×3 convolution here without the ReLU, BatchNorm in between), the layout
//! helpers and the GEMM call. What is its own: BatchNorm with batch statistics
//! (running statistics updated with burn's momentum), and the backward kernels in
//! `kernels`:
//! - 3×3 convolution: the input gradient is the same convolution with the kernels
//!   flipped and transposed (so it runs on Winograd too); the weight gradient is
//!   `Σ im2col(x)ᵀ · dz` per tile of pixels, one partial sum per thread.
//! - BatchNorm + ReLU: one reduction pass (`Σ dy`, `Σ dy·x̂`) and one element-wise pass.
//! - max-pool: the gradient goes to the first largest input of each 2×2 block.
//! - transposed 2×2 convolution and 1×1 convolutions: GEMMs with a transposed operand.
//! - bilinear ×2: its adjoint (gather of the output gradient).
//! - concatenation: the gradient split by channels.
//!
//! Weights move between burn and the engine exactly ([`TrainNet::from_model`],
//! [`TrainNet::to_model`]), so checkpoints are the same `.lsm` files whichever path
//! trained them. Tests compare every gradient with burn's autodiff on the same
//! weights and batch.

mod blocks;
mod channels;
mod convert;
mod kernels;
mod loss;

use super::super::SegError;
use super::super::model::{Arch, Encoder, ModelConfig, SegModel, Upsample, node_positions};
use super::Fmap;
use super::buffers::Buffers;
use super::layers::{concat, max_pool2, nchw_to_nhwc};
use crate::seg::train::loss::LossKind;
use convert::{double, linear, node, set1, set4, write_double, write_linear};
use kernels::{add_into, channel_slice, max_pool2_backward};

/// Adam's first-moment decay (burn's and PyTorch's default).
const BETA1: f32 = 0.9;
/// Adam's second-moment decay.
const BETA2: f32 = 0.999;
/// Adam's epsilon (the value `train` configures).
const ADAM_EPS: f32 = 1e-8;

/// A trainable tensor: value, gradient and Adam's two moments.
#[derive(Debug, Clone)]
struct Param {
    v: Vec<f32>,
    g: Vec<f32>,
    m: Vec<f32>,
    s: Vec<f32>,
}

impl Param {
    fn new(v: Vec<f32>) -> Self {
        let n = v.len();
        Self {
            v,
            g: vec![0.0; n],
            m: vec![0.0; n],
            s: vec![0.0; n],
        }
    }

    fn add_grad(&mut self, g: &[f32]) {
        for (a, b) in self.g.iter_mut().zip(g) {
            *a += b;
        }
    }

    fn add_grad_f64(&mut self, g: &[f64]) {
        for (a, b) in self.g.iter_mut().zip(g) {
            *a += *b as f32;
        }
    }
}

/// BatchNorm parameters and running statistics.
#[derive(Debug, Clone)]
struct Bn {
    gamma: Param,
    beta: Param,
    mean: Vec<f32>,
    var: Vec<f32>,
    eps: f64,
    momentum: f64,
}

/// 3×3 convolution (padding 1), optional bias, optional BatchNorm, then ReLU.
#[derive(Debug, Clone)]
struct ConvT {
    cin: usize,
    cout: usize,
    /// `[9·cin, cout]`, row `(ky·3 + kx)·cin + ci`.
    w: Param,
    b: Option<Param>,
    bn: Option<Bn>,
}

/// What a 3×3 convolution keeps for its backward.
#[derive(Debug)]
struct ConvCache {
    /// The convolution's output before BatchNorm (empty without BatchNorm).
    z: Vec<f32>,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
}

#[derive(Debug, Clone)]
struct DoubleT {
    c1: ConvT,
    c2: ConvT,
}

#[derive(Debug)]
struct DoubleCache {
    c1: ConvCache,
    a1: Fmap,
    c2: ConvCache,
}

/// 1×1 convolution `[cin, cout]` with bias.
#[derive(Debug, Clone)]
struct LinearT {
    cin: usize,
    cout: usize,
    w: Param,
    b: Param,
}

#[derive(Debug, Clone)]
enum UpT {
    /// 2×2 / stride-2 transposed convolution: `w` `[cin, 4·cout]` (column
    /// `(a·2 + b)·cout + co`), bias `[cout]`.
    Transpose {
        cin: usize,
        cout: usize,
        w: Param,
        b: Param,
    },
    /// Bilinear ×2 then a 1×1 convolution (run at the low resolution, as inference).
    Bilinear(LinearT),
}

#[derive(Debug, Clone)]
struct NodeT {
    up: UpT,
    conv: DoubleT,
    /// Map index of the deeper input.
    deeper: usize,
    /// Map indices of the same-level inputs, concatenated first.
    skips: Vec<usize>,
}

#[derive(Debug)]
struct NodeCache {
    cat: Fmap,
    dc: DoubleCache,
}

impl NodeCache {
    fn recycle(self, pool: &Buffers) {
        pool.recycle(self.cat.data);
        self.dc.recycle(pool);
    }
}

impl DoubleCache {
    fn recycle(self, pool: &Buffers) {
        pool.recycle(self.c1.z);
        pool.recycle(self.a1.data);
        pool.recycle(self.c2.z);
    }
}

/// Everything the forward keeps for the backward.
#[derive(Debug)]
pub(super) struct Tape {
    input: Fmap,
    /// Encoder maps (`0 ..= depth`), then one per decoder node.
    maps: Vec<Fmap>,
    enc: Vec<DoubleCache>,
    nodes: Vec<NodeCache>,
}

/// A network being trained on the CPU engine.
#[derive(Debug, Clone)]
pub struct TrainNet {
    config: ModelConfig,
    inc: DoubleT,
    downs: Vec<DoubleT>,
    nodes: Vec<NodeT>,
    outc: LinearT,
    /// Normalise with the batch's statistics (burn's training mode) or with the
    /// running ones (kept fixed, as fine-tuning does).
    batch_stats: bool,
    weight_decay: f32,
    /// Adam steps taken.
    t: i32,
    pool: Buffers,
}

/// Result of one training step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepResult {
    /// Loss of the batch before the update.
    pub loss: f64,
}

impl TrainNet {
    /// The weights of `model` (built from `config`) ready to train, with Adam's
    /// moments at zero and the given L2 weight decay (added to the gradient, as
    /// burn's `Adam` with `WeightDecayConfig`).
    pub fn from_model(
        model: &SegModel,
        config: &ModelConfig,
        weight_decay: f64,
    ) -> Result<Self, SegError> {
        config.validate()?;
        let depth = config.depth;
        let (encoder, blocks, outc) = match model {
            SegModel::Unet(net) => (&net.encoder, &net.ups, &net.outc),
            SegModel::UnetPlusPlus(net) => (&net.encoder, &net.nodes, &net.outc),
        };
        let Encoder { inc, downs, .. } = encoder;
        if downs.len() != depth {
            return Err(SegError::InvalidConfig(format!(
                "training engine: {} encoder levels for depth {depth}",
                downs.len()
            )));
        }
        // Wiring: maps 0..=depth are the encoder's, then one per node.
        let wiring: Vec<(usize, Vec<usize>)> = match model {
            SegModel::Unet(_) => (0..depth)
                .map(|k| {
                    let level = depth - 1 - k;
                    let deeper = if k == 0 { depth } else { depth + k };
                    (deeper, vec![level])
                })
                .collect(),
            SegModel::UnetPlusPlus(_) => {
                let mut grid: Vec<Vec<usize>> = (0..=depth).map(|i| vec![i]).collect();
                let mut out = Vec::new();
                for (k, (i, j)) in node_positions(depth).enumerate() {
                    out.push((grid[i + 1][j - 1], grid[i].clone()));
                    grid[i].push(depth + 1 + k);
                }
                out
            }
        };
        if wiring.len() != blocks.len() {
            return Err(SegError::InvalidConfig(format!(
                "training engine: {} decoder nodes, {} expected",
                blocks.len(),
                wiring.len()
            )));
        }
        let nodes = blocks
            .iter()
            .zip(wiring)
            .map(|(b, (deeper, skips))| node(b, deeper, skips))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            config: config.clone(),
            inc: double(inc)?,
            downs: downs.iter().map(double).collect::<Result<_, _>>()?,
            nodes,
            outc: linear(outc)?,
            batch_stats: true,
            weight_decay: weight_decay as f32,
            t: 0,
            pool: Buffers::default(),
        })
    }

    /// Normalise with batch statistics (`true`, burn's training mode: running
    /// statistics updated) or with the running statistics, kept fixed (`false`).
    pub fn with_batch_stats(mut self, batch_stats: bool) -> Self {
        self.batch_stats = batch_stats;
        self
    }

    /// The configuration of the network.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Bytes of the activations a training step on `batch` images keeps for its
    /// backward pass: [`activation_bytes`].
    pub fn activation_bytes(&self, batch: usize) -> u64 {
        activation_bytes(&self.config, batch)
    }

    /// The trained weights (and BatchNorm running statistics) written into a copy of
    /// `template` (the model this engine was built from, on any device).
    pub fn to_model(&self, template: &SegModel) -> Result<SegModel, SegError> {
        let mut model = template.clone();
        let (encoder, blocks, outc) = match &mut model {
            SegModel::Unet(net) => (&mut net.encoder, &mut net.ups, &mut net.outc),
            SegModel::UnetPlusPlus(net) => (&mut net.encoder, &mut net.nodes, &mut net.outc),
        };
        write_double(&self.inc, &mut encoder.inc);
        for (d, b) in self.downs.iter().zip(encoder.downs.iter_mut()) {
            write_double(d, b);
        }
        for (n, b) in self.nodes.iter().zip(blocks.iter_mut()) {
            write_double(&n.conv, &mut b.conv);
            match (&n.up, &mut b.up) {
                (
                    UpT::Transpose {
                        cin,
                        cout,
                        w,
                        b: bias,
                    },
                    Upsample::Transpose(d),
                ) => {
                    let (cin, cout) = (*cin, *cout);
                    let mut out = vec![0.0f32; cin * cout * 4];
                    for ci in 0..cin {
                        for co in 0..cout {
                            for t in 0..4 {
                                out[(ci * cout + co) * 4 + t] = w.v[ci * 4 * cout + t * cout + co];
                            }
                        }
                    }
                    set4(&mut d.weight, out, [cin, cout, 2, 2]);
                    if let Some(b) = &mut d.bias {
                        set1(b, bias.v.clone());
                    }
                }
                (UpT::Bilinear(l), Upsample::Bilinear(c)) => write_linear(l, c),
                _ => {
                    return Err(SegError::InvalidConfig(
                        "training engine: the template's up-sampling differs".into(),
                    ));
                }
            }
        }
        write_linear(&self.outc, outc);
        Ok(model)
    }

    /// One training step on `images` `[B, in, S, S]` and `targets` `[B, C, S, S]`
    /// (row-major, the layout of a training batch): forward, loss, backward, Adam
    /// with learning rate `lr`. Returns the batch's loss before the update.
    pub fn step(
        &mut self,
        images: &[f32],
        targets: &[f32],
        batch: usize,
        loss: LossKind,
        lr: f64,
    ) -> Result<StepResult, SegError> {
        let (value, _) = self.loss_and_gradients(images, targets, batch, loss)?;
        if !value.is_finite() {
            return Err(SegError::Backend(format!(
                "the loss became {value}; lower the learning rate"
            )));
        }
        self.adam(lr as f32);
        Ok(StepResult { loss: value })
    }

    /// Forward and backward on one batch: the loss, with every parameter's gradient
    /// left in the engine (see [`Self::gradients`]); the logits `[B, S, S, C]` too.
    fn loss_and_gradients(
        &mut self,
        images: &[f32],
        targets: &[f32],
        batch: usize,
        loss: LossKind,
    ) -> Result<(f64, Vec<f32>), SegError> {
        let s = self.config.input_size;
        let cin = self.config.in_channels;
        let cout = self.config.head.out_channels();
        if batch == 0
            || images.len() != batch * cin * s * s
            || targets.len() != batch * cout * s * s
        {
            return Err(SegError::InvalidConfig(format!(
                "training engine: a batch of {} image and {} target values, expected {batch} x {cin} x {s} x {s} and {batch} x {cout} x {s} x {s}",
                images.len(),
                targets.len()
            )));
        }
        for p in self.params_mut() {
            p.g.fill(0.0);
        }
        let input = Fmap {
            n: batch,
            h: s,
            w: s,
            c: cin,
            data: if cin == 1 {
                images.to_vec()
            } else {
                nchw_to_nhwc(images, batch, cin, s, s)
            },
        };
        let (tape, logits) = self.forward(input);
        let target = nchw_to_nhwc(targets, batch, cout, s, s);
        let (value, dlogits) =
            loss::loss_and_grad(loss, &self.config.head, &logits.data, &target, batch, cout);
        self.backward(tape, &dlogits);
        Ok((value, logits.data))
    }

    fn forward(&mut self, input: Fmap) -> (Tape, Fmap) {
        let (bs, pool) = (self.batch_stats, &self.pool);
        let mut maps = Vec::with_capacity(1 + self.config.depth + self.nodes.len());
        let mut enc = Vec::with_capacity(1 + self.config.depth);
        let (m0, c0) = self.inc.forward(&input, bs, pool);
        maps.push(m0);
        enc.push(c0);
        for down in &mut self.downs {
            let pooled = max_pool2(maps.last().expect("encoder map"), pool);
            let (m, c) = down.forward(&pooled, bs, pool);
            pool.recycle(pooled.data);
            maps.push(m);
            enc.push(c);
        }
        let mut nodes = Vec::with_capacity(self.nodes.len());
        for node in &mut self.nodes {
            let up = node.up.forward(&maps[node.deeper], pool);
            let cat = {
                let mut parts: Vec<&Fmap> = node.skips.iter().map(|&i| &maps[i]).collect();
                parts.push(&up);
                concat(&parts, pool)
            };
            pool.recycle(up.data);
            let (out, dc) = node.conv.forward(&cat, bs, pool);
            maps.push(out);
            nodes.push(NodeCache { cat, dc });
        }
        let logits = self.outc.forward(maps.last().expect("top map"), pool);
        (
            Tape {
                input,
                maps,
                enc,
                nodes,
            },
            logits,
        )
    }

    fn backward(&mut self, tape: Tape, dlogits: &[f32]) {
        let Tape {
            input,
            mut maps,
            mut enc,
            nodes: mut caches,
        } = tape;
        let (bs, pool) = (self.batch_stats, &self.pool);
        let depth = self.config.depth;
        let mut grads: Vec<Option<Vec<f32>>> = vec![None; maps.len()];
        let top = maps.len() - 1;
        grads[top] = Some(self.outc.backward(&maps[top], dlogits, pool));
        let accumulate =
            |grads: &mut Vec<Option<Vec<f32>>>, i: usize, g: Vec<f32>| match &mut grads[i] {
                Some(acc) => {
                    add_into(acc, &g);
                    pool.recycle(g);
                }
                slot @ None => *slot = Some(g),
            };
        for (k, node) in self.nodes.iter_mut().enumerate().rev() {
            let id = depth + 1 + k;
            let cache = caches.pop().expect("one cache per node");
            if let Some(g) = grads[id].take() {
                let dcat = node
                    .conv
                    .backward(&cache.cat, &maps[id], &cache.dc, g, bs, true, pool)
                    .expect("input gradient requested");
                let total = cache.cat.c;
                let mut off = 0;
                for &s in &node.skips {
                    let c = maps[s].c;
                    accumulate(&mut grads, s, channel_slice(&dcat, total, off, c, pool));
                    off += c;
                }
                let dup = channel_slice(&dcat, total, off, total - off, pool);
                pool.recycle(dcat);
                let dx = node.up.backward(&maps[node.deeper], dup, pool);
                accumulate(&mut grads, node.deeper, dx);
            }
            cache.recycle(pool);
            pool.recycle(std::mem::take(&mut maps[id].data));
        }
        for i in (0..depth).rev() {
            let cache = enc.pop().expect("one cache per level");
            if let Some(g) = grads[i + 1].take() {
                let pooled = max_pool2(&maps[i], pool);
                let dpooled = self.downs[i]
                    .backward(&pooled, &maps[i + 1], &cache, g, bs, true, pool)
                    .expect("input gradient requested");
                pool.recycle(pooled.data);
                let dmap = max_pool2_backward(&maps[i], &dpooled, pool);
                pool.recycle(dpooled);
                accumulate(&mut grads, i, dmap);
            }
            cache.recycle(pool);
            pool.recycle(std::mem::take(&mut maps[i + 1].data));
        }
        let cache = enc.pop().expect("the first block's cache");
        if let Some(g) = grads[0].take() {
            self.inc
                .backward(&input, &maps[0], &cache, g, bs, false, pool);
        }
        cache.recycle(pool);
        pool.recycle(std::mem::take(&mut maps[0].data));
        pool.recycle(input.data);
    }

    /// Adam (burn's update, weight decay added to the gradient) on every parameter.
    fn adam(&mut self, lr: f32) {
        self.t += 1;
        let t = self.t;
        let wd = self.weight_decay;
        let bc2 = (1.0 - BETA2.powi(t)).sqrt();
        let factor = bc2 / (1.0 - BETA1.powi(t));
        let eps = ADAM_EPS * bc2;
        for p in self.params_mut() {
            for i in 0..p.v.len() {
                let g = p.g[i] + wd * p.v[i];
                p.m[i] = p.m[i] * BETA1 + g * (1.0 - BETA1);
                p.s[i] = p.s[i] * BETA2 + g * g * (1.0 - BETA2);
                p.v[i] -= lr * (p.m[i] * factor / (p.s[i].sqrt() + eps));
            }
        }
    }

    /// Every trainable tensor, in a fixed order.
    fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut out = Vec::new();
        self.inc.params(&mut out);
        for d in &mut self.downs {
            d.params(&mut out);
        }
        for n in &mut self.nodes {
            match &mut n.up {
                UpT::Transpose { w, b, .. } => {
                    out.push(w);
                    out.push(b);
                }
                UpT::Bilinear(l) => l.params(&mut out),
            }
            n.conv.params(&mut out);
        }
        self.outc.params(&mut out);
        out
    }
}

/// Bytes of the activations a training step of `config` on `batch` images keeps for
/// its backward pass (the tape: the input; per block its output, its first
/// convolution's output and, with BatchNorm, both pre-BatchNorm outputs; per decoder
/// node its concatenated input), known before the step. A step's peak adds the
/// gradients of the maps being worked on and per-thread scratch.
pub fn activation_bytes(config: &ModelConfig, batch: usize) -> u64 {
    let s = config.input_size as u64;
    let b = batch as u64;
    let bn = u64::from(config.batch_norm);
    let pixels = |level: usize| b * (s >> level) * (s >> level);
    let widths = config.widths();
    let block = |level: usize| pixels(level) * widths[level] as u64 * (2 + 2 * bn);
    let mut values = pixels(0) * config.in_channels as u64;
    for level in 0..=config.depth {
        values += block(level);
    }
    // Decoder nodes: (level, same-level inputs concatenated with the upsampled one).
    let nodes: Vec<(usize, usize)> = match config.arch {
        Arch::Unet => (0..config.depth).map(|level| (level, 1)).collect(),
        Arch::UnetPlusPlus => node_positions(config.depth).collect(),
    };
    for (level, skips) in nodes {
        values += block(level) + pixels(level) * (skips as u64 + 1) * widths[level] as u64;
    }
    4 * values
}

#[cfg(test)]
mod tests;
