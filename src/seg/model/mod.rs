//! The segmentation networks: a 2-D U-Net (Ronneberger et al. 2015) and U-Net++ (Zhou et al.
//! 2018, nested dense skip pathways), both built from one serialisable [`ModelConfig`].
//!
//! The U-Net with `base 32, depth 4, batch_norm, up Transpose, head Sigmoid { channels: 1 }`
//! is layer for layer the reference PyTorch network of `shared/bench/unet_torch.py`
//! (7,762,465 parameters; 7,240,225 with bilinear upsampling).
//!
//! Shapes in comments: `B` batch, `S` input side, `c_i = base * 2^i` the width of level `i`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};

use crate::seg::SegError;
pub mod config;
pub mod weights;

pub use config::*;

impl ModelConfig {
    /// Builds the network with freshly initialised weights (PyTorch's default
    /// Kaiming-uniform scheme) on `device`.
    pub fn init(&self, device: &Device) -> Result<SegModel, SegError> {
        self.validate()?;
        Ok(match self.arch {
            Arch::Unet => SegModel::Unet(Unet::new(self, device)),
            Arch::UnetPlusPlus => SegModel::UnetPlusPlus(UnetPlusPlus::new(self, device)),
        })
    }
}

/// `Conv3x3 -> [BatchNorm] -> ReLU -> Conv3x3 -> [BatchNorm] -> ReLU`, "same" padding.
#[derive(Module, Debug)]
pub struct DoubleConv {
    pub(crate) conv1: Conv2d,
    pub(crate) bn1: Option<BatchNorm>,
    pub(crate) conv2: Conv2d,
    pub(crate) bn2: Option<BatchNorm>,
}

impl DoubleConv {
    fn new(cin: usize, cout: usize, batch_norm: bool, device: &Device) -> Self {
        let conv = |i: usize| {
            Conv2dConfig::new([i, cout], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(!batch_norm)
                .init(device)
        };
        let bn = || batch_norm.then(|| BatchNormConfig::new(cout).init(device));
        Self {
            conv1: conv(cin),
            bn1: bn(),
            conv2: conv(cout),
            bn2: bn(),
        }
    }

    /// `[B, cin, H, W] -> [B, cout, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv1.forward(x); // [B, cout, H, W]
        let x = match &self.bn1 {
            Some(bn) => bn.forward(x),
            None => x,
        };
        let x = self.conv2.forward(relu(x)); // [B, cout, H, W]
        let x = match &self.bn2 {
            Some(bn) => bn.forward(x),
            None => x,
        };
        relu(x)
    }
}

/// x2 upsampling that also halves the channels (`2C -> C`).
#[derive(Module, Debug)]
pub enum Upsample {
    /// Transposed convolution 2x2, stride 2.
    Transpose(ConvTranspose2d),
    /// Bilinear x2 followed by a 1x1 convolution.
    Bilinear(Conv2d),
}

impl Upsample {
    fn new(mode: UpMode, cin: usize, cout: usize, device: &Device) -> Self {
        match mode {
            UpMode::Transpose => Upsample::Transpose(
                ConvTranspose2dConfig::new([cin, cout], [2, 2])
                    .with_stride([2, 2])
                    .init(device),
            ),
            UpMode::Bilinear => {
                Upsample::Bilinear(Conv2dConfig::new([cin, cout], [1, 1]).init(device))
            }
        }
    }

    /// `[B, cin, H, W] -> [B, cout, 2H, 2W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Upsample::Transpose(deconv) => deconv.forward(x), // [B, cout, 2H, 2W]
            Upsample::Bilinear(conv) => {
                let [_, _, h, w] = x.dims();
                let options = InterpolateOptions::new(InterpolateMode::Bilinear)
                    .with_align_corners(false)
                    .with_output_size([2 * h, 2 * w]);
                let x = interpolate(x, options); // [B, cin, 2H, 2W]
                conv.forward(x) // [B, cout, 2H, 2W]
            }
        }
    }
}

/// A decoder node: upsample the deeper map, concatenate `[skips..., upsampled]` (skips
/// first, as in the reference), DoubleConv.
#[derive(Module, Debug)]
pub struct UpBlock {
    pub(crate) up: Upsample,
    pub(crate) conv: DoubleConv,
}

impl UpBlock {
    /// `deeper`: `[B, 2C, H/2, W/2]`, `skips`: k maps `[B, C, H, W]` -> `[B, C, H, W]`.
    pub fn forward(&self, deeper: Tensor<4>, skips: &[Tensor<4>]) -> Tensor<4> {
        let up = self.up.forward(deeper); // [B, C, H, W]
        let mut parts: Vec<Tensor<4>> = skips.to_vec();
        parts.push(up);
        let x = Tensor::cat(parts, 1); // [B, (k+1)C, H, W]
        self.conv.forward(x) // [B, C, H, W]
    }
}

/// The encoder shared by both networks: `inc` then `depth` x (max-pool, DoubleConv).
#[derive(Module, Debug)]
pub struct Encoder {
    pub(crate) inc: DoubleConv,
    pub(crate) downs: Vec<DoubleConv>,
    pool: MaxPool2d,
}

impl Encoder {
    fn new(config: &ModelConfig, device: &Device) -> Self {
        let w = config.widths();
        Self {
            inc: DoubleConv::new(config.in_channels, w[0], config.batch_norm, device),
            downs: (0..config.depth)
                .map(|i| DoubleConv::new(w[i], w[i + 1], config.batch_norm, device))
                .collect(),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
        }
    }

    /// `[B, in, S, S]` -> (skips, bottleneck): the feature map of every level above the
    /// bottleneck, `[B, c_i, S/2^i, S/2^i]` for `i = 0..depth`, and `[B, c_depth, S/2^depth, ..]`.
    pub fn forward(&self, x: Tensor<4>) -> (Vec<Tensor<4>>, Tensor<4>) {
        let mut skips = Vec::with_capacity(self.downs.len());
        let mut x = self.inc.forward(x); // [B, c_0, S, S]
        for down in &self.downs {
            skips.push(x.clone());
            x = down.forward(self.pool.forward(x)); // [B, c_{i+1}, S/2^{i+1}, S/2^{i+1}]
        }
        (skips, x)
    }
}

/// The classic U-Net.
#[derive(Module, Debug)]
pub struct Unet {
    pub(crate) encoder: Encoder,
    /// Decoder blocks from the deepest level up (`ups[0]` works at `S / 2^(depth-1)`).
    pub(crate) ups: Vec<UpBlock>,
    pub(crate) outc: Conv2d,
}

impl Unet {
    fn new(config: &ModelConfig, device: &Device) -> Self {
        let w = config.widths();
        let ups = (0..config.depth)
            .rev()
            .map(|i| UpBlock {
                up: Upsample::new(config.up, w[i + 1], w[i], device),
                conv: DoubleConv::new(2 * w[i], w[i], config.batch_norm, device),
            })
            .collect();
        Self {
            encoder: Encoder::new(config, device),
            ups,
            outc: Conv2dConfig::new([w[0], config.head.out_channels()], [1, 1]).init(device),
        }
    }

    /// `[B, in, S, S] -> [B, out, S, S]` logits.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let (skips, mut x) = self.encoder.forward(x); // x: [B, c_depth, S/2^depth, ..]
        for (up, skip) in self.ups.iter().zip(skips.into_iter().rev()) {
            x = up.forward(x, &[skip]); // [B, c_i, S/2^i, S/2^i]
        }
        self.outc.forward(x) // [B, out, S, S]
    }
}

/// U-Net++: decoder nodes `X(i, j)` for `j = 1..=depth`, `i = 0..=depth-j`, each fed by all
/// earlier nodes of its level and the upsampled node `X(i+1, j-1)`; the head reads `X(0, depth)`.
#[derive(Module, Debug)]
pub struct UnetPlusPlus {
    pub(crate) encoder: Encoder,
    /// Nodes in order `j = 1..=depth`, then `i = 0..=depth-j`.
    pub(crate) nodes: Vec<UpBlock>,
    pub(crate) outc: Conv2d,
    depth: usize,
}

impl UnetPlusPlus {
    fn new(config: &ModelConfig, device: &Device) -> Self {
        let w = config.widths();
        let nodes = node_positions(config.depth)
            .map(|(i, j)| UpBlock {
                up: Upsample::new(config.up, w[i + 1], w[i], device),
                conv: DoubleConv::new((j + 1) * w[i], w[i], config.batch_norm, device),
            })
            .collect();
        Self {
            encoder: Encoder::new(config, device),
            nodes,
            outc: Conv2dConfig::new([w[0], config.head.out_channels()], [1, 1]).init(device),
            depth: config.depth,
        }
    }

    /// `[B, in, S, S] -> [B, out, S, S]` logits.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        // grid[i][j] = X(i, j): [B, c_i, S/2^i, S/2^i]
        let (skips, bottleneck) = self.encoder.forward(x);
        let mut top = skips[0].clone(); // X(0, 0), replaced by X(0, j) as j grows
        let mut grid: Vec<Vec<Tensor<4>>> = skips.into_iter().map(|t| vec![t]).collect();
        grid.push(vec![bottleneck]);
        for (node, (i, j)) in self.nodes.iter().zip(node_positions(self.depth)) {
            let deeper = grid[i + 1][j - 1].clone(); // [B, c_{i+1}, S/2^{i+1}, ..]
            let x = node.forward(deeper, &grid[i]); // [B, c_i, S/2^i, S/2^i]
            if i == 0 {
                top = x.clone();
            }
            grid[i].push(x);
        }
        self.outc.forward(top) // [B, out, S, S]
    }
}

/// `(i, j)` of the U-Net++ decoder nodes in construction order.
pub(crate) fn node_positions(depth: usize) -> impl Iterator<Item = (usize, usize)> {
    (1..=depth).flat_map(move |j| (0..=depth - j).map(move |i| (i, j)))
}

/// Counts tensor elements of parameters, skipping BatchNorm running statistics (which burn
/// stores as module state beside the parameters).
struct ParamCounter {
    path: Vec<String>,
    count: usize,
}

impl burn::module::ModuleVisitor for ParamCounter {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        if !self.path.last().is_some_and(|n| n.starts_with("running_")) {
            self.count += param.lazy_shape().num_elements();
        }
    }
}

/// Finds whether any BatchNorm running statistic differs from its initial value
/// (mean 0, variance 1).
struct EstimatedStats {
    path: Vec<String>,
    estimated: bool,
}

impl burn::module::ModuleVisitor for EstimatedStats {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let initial = match self.path.last().map(String::as_str) {
            Some("running_mean") => 0.0,
            Some("running_var") => 1.0,
            _ => return,
        };
        if self.estimated {
            return;
        }
        let data = param.val().into_data();
        // Statistics that cannot be read as f32 count as estimated (keep them).
        self.estimated = data
            .try_to_vec::<f32>()
            .map_or(true, |v| v.iter().any(|&x| x != initial));
    }
}

/// A network built from a [`ModelConfig`].
#[derive(Module, Debug)]
pub enum SegModel {
    /// Classic U-Net.
    Unet(Unet),
    /// U-Net++.
    UnetPlusPlus(UnetPlusPlus),
}

impl SegModel {
    /// Trainable parameters (as PyTorch counts them: BatchNorm running statistics excluded).
    pub fn trainable_params(&self) -> usize {
        let mut counter = ParamCounter {
            path: Vec::new(),
            count: 0,
        };
        self.visit(&mut counter);
        counter.count
    }

    /// `[B, in, S, S] -> [B, C, S, S]` logits (`C` = the head's output channels).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            SegModel::Unet(net) => net.forward(x),
            SegModel::UnetPlusPlus(net) => net.forward(x),
        }
    }

    /// True if the network has BatchNorm layers whose running statistics were estimated
    /// by training (differ from the initial mean 0, variance 1); false for a network
    /// without BatchNorm or a freshly initialised one.
    pub fn has_estimated_batch_norm_statistics(&self) -> bool {
        let mut v = EstimatedStats {
            path: Vec::new(),
            estimated: false,
        };
        self.visit(&mut v);
        v.estimated
    }

    /// Sets whether the BatchNorm layers behave as in training on an autodiff device.
    ///
    /// `false` keeps the running mean and variance fixed and normalises with them in
    /// training too (the scale and shift stay trainable): what fine-tuning on a few
    /// slices of one case needs, where the statistics of a batch made of one slice are
    /// neither the statistics the network was trained with nor those of the case's
    /// other slices. `true` is burn's default (batch statistics, running statistics
    /// updated). Networks without BatchNorm are unchanged.
    pub fn with_batch_norm_training(mut self, training: bool) -> Self {
        let convs: Vec<&mut DoubleConv> = match &mut self {
            SegModel::Unet(net) => std::iter::once(&mut net.encoder.inc)
                .chain(net.encoder.downs.iter_mut())
                .chain(net.ups.iter_mut().map(|u| &mut u.conv))
                .collect(),
            SegModel::UnetPlusPlus(net) => std::iter::once(&mut net.encoder.inc)
                .chain(net.encoder.downs.iter_mut())
                .chain(net.nodes.iter_mut().map(|u| &mut u.conv))
                .collect(),
        };
        for conv in convs {
            for bn in [&mut conv.bn1, &mut conv.bn2].into_iter().flatten() {
                bn.training = burn::module::Param::from_bool(training);
            }
        }
        self
    }
}
