//! The CPU training engine: forward with the activations kept, backward passes for
//! every layer of the shipped U-Net / U-Net++ architectures, the training losses and
//! Adam with weight decay, all on channels-last maps and the inference engine's
//! kernels (Winograd and im2col 3×3 convolutions on `gemm`, rayon over both cores).
//!
//! What is shared with inference ([`super::CpuNet`]): the forward of every layer
//! (the 3×3 convolution here without the ReLU, BatchNorm in between), the layout
//! helpers and the GEMM call. What is its own: BatchNorm with batch statistics
//! (running statistics updated with burn's momentum), and the backward kernels in
//! [`kernels`]:
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

mod kernels;
mod loss;

use burn::module::Param as BurnParam;
use burn::nn::BatchNorm;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::{Tensor, TensorData};

use super::super::SegError;
use super::super::loss::LossKind;
use super::super::model::{
    Arch, DoubleConv, Encoder, ModelConfig, SegModel, UpBlock, Upsample, node_positions,
};
use super::buffers::Buffers;
use super::import::param;
use super::layers::{concat, max_pool2, nchw_to_nhwc};
use super::winograd::Winograd3;
use super::{Conv1, Conv3, ConvAlgo, Fmap, Up, WINOGRAD_MIN_CIN};
use kernels::{
    add_into, affine_relu, bn_relu_backward, channel_slice, channel_sums, conv3_weight_grad,
    gather_blocks, max_pool2_backward, mean_var, pixels_t_times, relu_backward, times_weights_t,
    upsample_bilinear2_adjoint,
};

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

impl ConvT {
    /// The convolution as the inference engine runs it: bias (zeros with
    /// BatchNorm), ReLU only without BatchNorm.
    fn engine(&self) -> Conv3 {
        let b = match &self.b {
            Some(b) => b.v.clone(),
            None => vec![0.0; self.cout],
        };
        let relu = self.bn.is_none();
        let wino = (self.cin >= WINOGRAD_MIN_CIN).then(|| {
            let w = Winograd3::new(self.cin, self.cout, &self.w.v, &b);
            if relu { w } else { w.linear() }
        });
        Conv3 {
            cin: self.cin,
            cout: self.cout,
            w: self.w.v.clone(),
            b,
            wino,
            relu,
        }
    }

    /// The convolution that maps the output gradient to the input gradient: the
    /// kernels flipped in space and transposed in channels, no bias, no ReLU.
    fn flipped(&self) -> Conv3 {
        let (cin, cout) = (self.cin, self.cout);
        let mut w = vec![0.0f32; 9 * cin * cout];
        for t in 0..9 {
            for ci in 0..cin {
                for co in 0..cout {
                    w[((8 - t) * cout + co) * cin + ci] = self.w.v[(t * cin + ci) * cout + co];
                }
            }
        }
        let b = vec![0.0; cin];
        let wino = (cout >= WINOGRAD_MIN_CIN).then(|| Winograd3::new(cout, cin, &w, &b).linear());
        Conv3 {
            cin: cout,
            cout: cin,
            w,
            b,
            wino,
            relu: false,
        }
    }

    fn forward(&mut self, x: &Fmap, batch_stats: bool, pool: &Buffers) -> (Fmap, ConvCache) {
        let z = self.engine().forward(x, ConvAlgo::Auto, pool);
        let Some(bn) = &mut self.bn else {
            return (
                z,
                ConvCache {
                    z: Vec::new(),
                    mean: Vec::new(),
                    inv_std: Vec::new(),
                },
            );
        };
        let c = self.cout;
        let (mean, var): (Vec<f32>, Vec<f32>) = if batch_stats {
            let (m, v) = mean_var(&z.data, c);
            let k = bn.momentum;
            for ch in 0..c {
                bn.mean[ch] = (f64::from(bn.mean[ch]) * (1.0 - k) + m[ch] * k) as f32;
                bn.var[ch] = (f64::from(bn.var[ch]) * (1.0 - k) + v[ch] * k) as f32;
            }
            (
                m.iter().map(|&v| v as f32).collect(),
                v.iter().map(|&v| v as f32).collect(),
            )
        } else {
            (bn.mean.clone(), bn.var.clone())
        };
        let inv_std: Vec<f32> = var
            .iter()
            .map(|&v| (1.0 / (f64::from(v) + bn.eps).sqrt()) as f32)
            .collect();
        let scale: Vec<f32> = bn
            .gamma
            .v
            .iter()
            .zip(&inv_std)
            .map(|(g, i)| g * i)
            .collect();
        let shift: Vec<f32> = bn
            .beta
            .v
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        let mut a = Fmap::for_overwrite(pool, z.n, z.h, z.w, c);
        affine_relu(&z.data, c, &scale, &shift, &mut a.data);
        (
            a,
            ConvCache {
                z: z.data,
                mean,
                inv_std,
            },
        )
    }

    /// From the gradient `g` of the output `a` (input `x`): accumulates the
    /// parameter gradients and returns the input's gradient when `need_dx`.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &mut self,
        x: &Fmap,
        a: &Fmap,
        cache: &ConvCache,
        mut g: Vec<f32>,
        batch_stats: bool,
        need_dx: bool,
        pool: &Buffers,
    ) -> Option<Vec<f32>> {
        let c = self.cout;
        match &mut self.bn {
            None => {
                relu_backward(&mut g, &a.data);
                if let Some(b) = &mut self.b {
                    b.add_grad_f64(&channel_sums(&g, c));
                }
            }
            Some(bn) => {
                let (dgamma, dbeta) = bn_relu_backward(
                    &mut g,
                    &a.data,
                    &cache.z,
                    c,
                    &cache.mean,
                    &cache.inv_std,
                    &bn.gamma.v,
                    batch_stats,
                );
                bn.gamma.add_grad(&dgamma);
                bn.beta.add_grad(&dbeta);
                if let Some(b) = &mut self.b {
                    // A bias before batch-statistics BatchNorm has no effect (zero
                    // gradient); before fixed statistics it acts as a shift.
                    b.add_grad_f64(&channel_sums(&g, c));
                }
            }
        }
        self.w.add_grad(&conv3_weight_grad(x, &g, c));
        if !need_dx {
            return None;
        }
        let dz = Fmap {
            n: x.n,
            h: x.h,
            w: x.w,
            c,
            data: g,
        };
        let dx = self.flipped().forward(&dz, ConvAlgo::Auto, pool);
        pool.recycle(dz.data);
        Some(dx.data)
    }

    fn params<'a>(&'a mut self, out: &mut Vec<&'a mut Param>) {
        out.push(&mut self.w);
        if let Some(b) = &mut self.b {
            out.push(b);
        }
        if let Some(bn) = &mut self.bn {
            out.push(&mut bn.gamma);
            out.push(&mut bn.beta);
        }
    }
}

impl DoubleT {
    fn forward(&mut self, x: &Fmap, bs: bool, pool: &Buffers) -> (Fmap, DoubleCache) {
        let (a1, c1) = self.c1.forward(x, bs, pool);
        let (a2, c2) = self.c2.forward(&a1, bs, pool);
        (a2, DoubleCache { c1, a1, c2 })
    }

    #[allow(clippy::too_many_arguments)]
    fn backward(
        &mut self,
        x: &Fmap,
        a2: &Fmap,
        cache: &DoubleCache,
        g: Vec<f32>,
        bs: bool,
        need_dx: bool,
        pool: &Buffers,
    ) -> Option<Vec<f32>> {
        let g1 = self
            .c2
            .backward(&cache.a1, a2, &cache.c2, g, bs, true, pool)?;
        self.c1
            .backward(x, &cache.a1, &cache.c1, g1, bs, need_dx, pool)
    }

    fn params<'a>(&'a mut self, out: &mut Vec<&'a mut Param>) {
        self.c1.params(out);
        self.c2.params(out);
    }
}

impl LinearT {
    fn engine(&self) -> Conv1 {
        Conv1 {
            cin: self.cin,
            cout: self.cout,
            w: self.w.v.clone(),
            b: self.b.v.clone(),
        }
    }

    fn forward(&self, x: &Fmap, pool: &Buffers) -> Fmap {
        self.engine().forward(x, pool)
    }

    /// Accumulates the weight and bias gradients; returns the input gradient.
    fn backward(&mut self, x: &Fmap, g: &[f32], pool: &Buffers) -> Vec<f32> {
        self.w
            .add_grad(&pixels_t_times(&x.data, self.cin, g, self.cout));
        self.b.add_grad_f64(&channel_sums(g, self.cout));
        times_weights_t(g, self.cout, &self.w.v, self.cin, pool)
    }

    fn params<'a>(&'a mut self, out: &mut Vec<&'a mut Param>) {
        out.push(&mut self.w);
        out.push(&mut self.b);
    }
}

impl UpT {
    fn forward(&self, x: &Fmap, pool: &Buffers) -> Fmap {
        let up = match self {
            UpT::Transpose { cin, cout, w, b } => Up::Transpose {
                cout: *cout,
                blocks: Conv1 {
                    cin: *cin,
                    cout: 4 * cout,
                    w: w.v.clone(),
                    b: Vec::new(),
                },
                b: b.v.clone(),
            },
            UpT::Bilinear(l) => Up::Bilinear(l.engine()),
        };
        up.forward(x, pool)
    }

    /// From the gradient `g` of the output (`[n, 2h, 2w, cout]`) and the input `x`:
    /// accumulates the parameter gradients, returns the input's gradient.
    fn backward(&mut self, x: &Fmap, g: Vec<f32>, pool: &Buffers) -> Vec<f32> {
        let dx = match self {
            UpT::Transpose { cin, cout, w, b } => {
                let (cin, cout) = (*cin, *cout);
                b.add_grad_f64(&channel_sums(&g, cout));
                let blocks = gather_blocks(&g, (x.n, x.h, x.w, cout), pool);
                w.add_grad(&pixels_t_times(&x.data, cin, &blocks, 4 * cout));
                let dx = times_weights_t(&blocks, 4 * cout, &w.v, cin, pool);
                pool.recycle(blocks);
                dx
            }
            UpT::Bilinear(l) => {
                let low = upsample_bilinear2_adjoint(&g, x.n, x.h, x.w, l.cout, pool);
                let dx = l.backward(x, &low, pool);
                pool.recycle(low);
                dx
            }
        };
        pool.recycle(g);
        dx
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

// ----- burn ↔ engine -----

fn conv_weights(conv: &Conv2d) -> Result<(usize, usize, Vec<f32>), SegError> {
    let [cout, cin, kh, kw] = conv.weight.val().dims();
    if [kh, kw] != [3, 3] || conv.stride != [1, 1] || conv.dilation != [1, 1] || conv.groups != 1 {
        return Err(SegError::InvalidConfig(
            "training engine: unsupported 3x3 convolution".into(),
        ));
    }
    let w = param(&conv.weight, "convolution weights")?;
    let mut out = vec![0.0f32; 9 * cin * cout];
    for co in 0..cout {
        for ci in 0..cin {
            for t in 0..9 {
                out[(t * cin + ci) * cout + co] = w[(co * cin + ci) * 9 + t];
            }
        }
    }
    Ok((cin, cout, out))
}

fn bn(bn: &BatchNorm) -> Result<Bn, SegError> {
    Ok(Bn {
        gamma: Param::new(param(&bn.gamma, "BatchNorm gamma")?),
        beta: Param::new(param(&bn.beta, "BatchNorm beta")?),
        mean: super::import::values(bn.running_mean.value_sync(), "BatchNorm running mean")?,
        var: super::import::values(bn.running_var.value_sync(), "BatchNorm running variance")?,
        eps: bn.epsilon,
        momentum: bn.momentum,
    })
}

fn conv(conv: &Conv2d, norm: Option<&BatchNorm>) -> Result<ConvT, SegError> {
    let (cin, cout, w) = conv_weights(conv)?;
    Ok(ConvT {
        cin,
        cout,
        w: Param::new(w),
        b: match &conv.bias {
            Some(b) => Some(Param::new(param(b, "convolution bias")?)),
            None => None,
        },
        bn: norm.map(bn).transpose()?,
    })
}

fn double(block: &DoubleConv) -> Result<DoubleT, SegError> {
    Ok(DoubleT {
        c1: conv(&block.conv1, block.bn1.as_ref())?,
        c2: conv(&block.conv2, block.bn2.as_ref())?,
    })
}

fn linear(conv: &Conv2d) -> Result<LinearT, SegError> {
    let [cout, cin, kh, kw] = conv.weight.val().dims();
    if [kh, kw] != [1, 1] || conv.groups != 1 {
        return Err(SegError::InvalidConfig(
            "training engine: unsupported 1x1 convolution".into(),
        ));
    }
    let w = param(&conv.weight, "1x1 convolution weights")?;
    let mut out = vec![0.0f32; cin * cout];
    for co in 0..cout {
        for ci in 0..cin {
            out[ci * cout + co] = w[co * cin + ci];
        }
    }
    let b = match &conv.bias {
        Some(b) => param(b, "1x1 convolution bias")?,
        None => vec![0.0; cout],
    };
    Ok(LinearT {
        cin,
        cout,
        w: Param::new(out),
        b: Param::new(b),
    })
}

fn transpose(d: &ConvTranspose2d) -> Result<UpT, SegError> {
    let [cin, cout, kh, kw] = d.weight.val().dims();
    if [kh, kw] != [2, 2] || d.stride != [2, 2] || d.groups != 1 || d.padding != [0, 0] {
        return Err(SegError::InvalidConfig(
            "training engine: unsupported transposed convolution".into(),
        ));
    }
    let w = param(&d.weight, "transposed convolution weights")?;
    let mut out = vec![0.0f32; cin * 4 * cout];
    for ci in 0..cin {
        for co in 0..cout {
            for t in 0..4 {
                out[ci * 4 * cout + t * cout + co] = w[(ci * cout + co) * 4 + t];
            }
        }
    }
    let b = match &d.bias {
        Some(b) => param(b, "transposed convolution bias")?,
        None => vec![0.0; cout],
    };
    Ok(UpT::Transpose {
        cin,
        cout,
        w: Param::new(out),
        b: Param::new(b),
    })
}

fn node(block: &UpBlock, deeper: usize, skips: Vec<usize>) -> Result<NodeT, SegError> {
    Ok(NodeT {
        up: match &block.up {
            Upsample::Transpose(d) => transpose(d)?,
            Upsample::Bilinear(c) => UpT::Bilinear(linear(c)?),
        },
        conv: double(&block.conv)?,
        deeper,
        skips,
    })
}

fn set4(p: &mut BurnParam<Tensor<4>>, v: Vec<f32>, shape: [usize; 4]) {
    let device = p.val().device();
    *p = p
        .clone()
        .map(|_| Tensor::from_data(TensorData::new(v, shape), &device));
}

fn set1(p: &mut BurnParam<Tensor<1>>, v: Vec<f32>) {
    let device = p.val().device();
    let n = v.len();
    *p = p
        .clone()
        .map(|_| Tensor::from_data(TensorData::new(v, [n]), &device));
}

fn write_conv(c: &ConvT, conv: &mut Conv2d, norm: Option<&mut BatchNorm>) {
    let (cin, cout) = (c.cin, c.cout);
    let mut w = vec![0.0f32; 9 * cin * cout];
    for co in 0..cout {
        for ci in 0..cin {
            for t in 0..9 {
                w[(co * cin + ci) * 9 + t] = c.w.v[(t * cin + ci) * cout + co];
            }
        }
    }
    set4(&mut conv.weight, w, [cout, cin, 3, 3]);
    if let (Some(b), Some(p)) = (&c.b, &mut conv.bias) {
        set1(p, b.v.clone());
    }
    if let (Some(src), Some(dst)) = (&c.bn, norm) {
        set1(&mut dst.gamma, src.gamma.v.clone());
        set1(&mut dst.beta, src.beta.v.clone());
        let device = dst.gamma.val().device();
        let n = src.mean.len();
        dst.running_mean = burn::module::RunningState::new(Tensor::from_data(
            TensorData::new(src.mean.clone(), [n]),
            &device,
        ));
        dst.running_var = burn::module::RunningState::new(Tensor::from_data(
            TensorData::new(src.var.clone(), [n]),
            &device,
        ));
    }
}

fn write_double(d: &DoubleT, block: &mut DoubleConv) {
    write_conv(&d.c1, &mut block.conv1, block.bn1.as_mut());
    write_conv(&d.c2, &mut block.conv2, block.bn2.as_mut());
}

fn write_linear(l: &LinearT, conv: &mut Conv2d) {
    let mut w = vec![0.0f32; l.cin * l.cout];
    for co in 0..l.cout {
        for ci in 0..l.cin {
            w[co * l.cin + ci] = l.w.v[ci * l.cout + co];
        }
    }
    set4(&mut conv.weight, w, [l.cout, l.cin, 1, 1]);
    if let Some(b) = &mut conv.bias {
        set1(b, l.b.v.clone());
    }
}

#[cfg(test)]
mod tests;
