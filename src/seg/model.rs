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
use burn::tensor::activation::{relu, sigmoid, softmax};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::SegError;

/// Most input channels a model file may declare.
pub const MAX_IN_CHANNELS: usize = 16;
/// Most output channels (sigmoid channels or softmax classes) a model file may declare.
pub const MAX_OUT_CHANNELS: usize = 64;
/// Widest first level (`base`) a model file may declare.
pub const MAX_BASE: usize = 256;
/// Most 2x down-samplings a model file may declare.
pub const MAX_DEPTH: usize = 6;
/// Most channels of the widest (bottleneck) level, `base * 2^depth`.
pub const MAX_WIDTH: usize = 4096;
/// Smallest model input side in pixels.
pub const MIN_INPUT_SIZE: usize = 16;
/// Largest model input side in pixels (a 1024 px float slice batch stays in the hundreds
/// of MB; 4096 px took 7.7 GB).
pub const MAX_INPUT_SIZE: usize = 1024;
/// Most trainable parameters (200 M, 800 MB of f32 weights; the default model has ~2 M, the
/// reference U-Net 7.8 M).
pub const MAX_PARAMS: usize = 200_000_000;

/// Which network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// Classic U-Net: one skip connection per level.
    Unet,
    /// U-Net++: nested, densely connected decoder nodes on every level.
    UnetPlusPlus,
}

/// How the decoder doubles the resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpMode {
    /// `ConvTranspose2d(2C -> C, 2x2, stride 2, bias)`.
    Transpose,
    /// Bilinear x2 (half-pixel, `align_corners = false`) then `Conv2d(2C -> C, 1x1, bias)`.
    Bilinear,
}

/// The output head: what the logits mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Head {
    /// Independent binary channels (sigmoid). The default model has 2: lung, infection.
    Sigmoid {
        /// Number of output channels.
        channels: usize,
    },
    /// Mutually exclusive classes (softmax over channels), e.g. background / ground-glass /
    /// consolidation.
    Softmax {
        /// Number of classes, background included.
        classes: usize,
    },
}

impl Head {
    /// Output channels of the network.
    pub fn out_channels(&self) -> usize {
        match *self {
            Head::Sigmoid { channels } => channels,
            Head::Softmax { classes } => classes,
        }
    }

    /// Logits to probabilities: sigmoid per channel, or softmax over the channel axis.
    pub fn probabilities(&self, logits: Tensor<4>) -> Tensor<4> {
        match self {
            Head::Sigmoid { .. } => sigmoid(logits), // [B, C, S, S] in (0, 1)
            Head::Softmax { .. } => softmax(logits, 1), // [B, C, S, S], sums to 1 over C
        }
    }
}

impl Default for Head {
    fn default() -> Self {
        Head::Sigmoid { channels: 2 }
    }
}

/// Everything needed to rebuild a network; stored as JSON in every model file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// U-Net or U-Net++.
    pub arch: Arch,
    /// Input channels (1: one normalised CT slice).
    pub in_channels: usize,
    /// Width of the first level; level `i` has `base * 2^i` channels.
    pub base: usize,
    /// Number of 2x down-samplings (the bottleneck is at `S / 2^depth`).
    pub depth: usize,
    /// BatchNorm after every 3x3 convolution (the convolutions then have no bias).
    pub batch_norm: bool,
    /// Decoder upsampling.
    pub up: UpMode,
    /// Output head.
    pub head: Head,
    /// Side of the square model input in pixels (a multiple of `2^depth`).
    pub input_size: usize,
}

impl Default for ModelConfig {
    /// A small two-channel (lung, infection) U-Net at 256 px.
    fn default() -> Self {
        Self {
            arch: Arch::Unet,
            in_channels: 1,
            base: 16,
            depth: 4,
            batch_norm: true,
            up: UpMode::Transpose,
            head: Head::default(),
            input_size: 256,
        }
    }
}

impl ModelConfig {
    /// The reference PyTorch U-Net of `shared/bench/unet_torch.py` (one logit channel, 256 px).
    pub fn reference_unet(up: UpMode) -> Self {
        Self {
            arch: Arch::Unet,
            in_channels: 1,
            base: 32,
            depth: 4,
            batch_norm: true,
            up,
            head: Head::Sigmoid { channels: 1 },
            input_size: 256,
        }
    }

    /// What each output channel means: `["lung", "infection"]` for the default two-channel
    /// sigmoid head, `["infection"]` for one channel, `["background", "ground-glass",
    /// "consolidation"]` for a three-class softmax head, `channel<k>` otherwise.
    pub fn output_labels(&self) -> Vec<String> {
        let named: &[&str] = match self.head {
            Head::Sigmoid { channels: 2 } => &["lung", "infection"],
            Head::Sigmoid { channels: 1 } => &["infection"],
            Head::Softmax { classes: 3 } => &["background", "ground-glass", "consolidation"],
            _ => &[],
        };
        if named.is_empty() {
            (0..self.head.out_channels())
                .map(|k| format!("channel{k}"))
                .collect()
        } else {
            named.iter().map(|s| s.to_string()).collect()
        }
    }

    /// One line for humans: `U-Net, base 16, depth 4, BatchNorm, transpose up, 2 sigmoid outputs, 160 px`.
    pub fn describe(&self) -> String {
        format!(
            "{}, base {}, depth {}, {}, {} up, {}, {} px, {} parameters",
            match self.arch {
                Arch::Unet => "U-Net",
                Arch::UnetPlusPlus => "U-Net++",
            },
            self.base,
            self.depth,
            if self.batch_norm {
                "BatchNorm"
            } else {
                "no BatchNorm"
            },
            match self.up {
                UpMode::Transpose => "transposed-conv",
                UpMode::Bilinear => "bilinear",
            },
            match self.head {
                Head::Sigmoid { channels } => format!(
                    "{channels} sigmoid output(s) ({})",
                    self.output_labels().join(", ")
                ),
                Head::Softmax { classes } => format!(
                    "{classes}-class softmax ({})",
                    self.output_labels().join(", ")
                ),
            },
            self.input_size,
            self.num_params()
        )
    }

    /// Channel width of each level, `[c_0, ..., c_depth]`.
    /// Only meaningful for a configuration [`ModelConfig::validate`] accepts (widths
    /// that would overflow saturate at `usize::MAX`).
    pub fn widths(&self) -> Vec<usize> {
        (0..=self.depth)
            .map(|i| {
                u32::try_from(i)
                    .ok()
                    .and_then(|i| 1usize.checked_shl(i))
                    .and_then(|s| self.base.checked_mul(s))
                    .unwrap_or(usize::MAX)
            })
            .collect()
    }

    /// Checks that the configuration can be built within the documented limits
    /// ([`MAX_IN_CHANNELS`], [`MAX_OUT_CHANNELS`], [`MAX_BASE`], [`MAX_DEPTH`],
    /// [`MAX_WIDTH`], [`MIN_INPUT_SIZE`]..=[`MAX_INPUT_SIZE`], [`MAX_PARAMS`]).
    ///
    /// Model files come from colleagues and the internet: every field is bounded here, with
    /// checked arithmetic only, before anything is allocated or built.
    pub fn validate(&self) -> Result<(), SegError> {
        let bad = |m: String| Err(SegError::InvalidConfig(m));
        let out = self.head.out_channels();
        if !(1..=MAX_IN_CHANNELS).contains(&self.in_channels) {
            return bad(format!(
                "in_channels must be 1..={MAX_IN_CHANNELS}, got {}",
                self.in_channels
            ));
        }
        if !(1..=MAX_OUT_CHANNELS).contains(&out) {
            return bad(format!(
                "output channels must be 1..={MAX_OUT_CHANNELS}, got {out}"
            ));
        }
        if !(1..=MAX_BASE).contains(&self.base) {
            return bad(format!("base must be 1..={MAX_BASE}, got {}", self.base));
        }
        if !(1..=MAX_DEPTH).contains(&self.depth) {
            return bad(format!("depth must be 1..={MAX_DEPTH}, got {}", self.depth));
        }
        // base <= 256 and depth <= 6: no bit is shifted out, but stay checked anyway.
        let widest = 1usize
            .checked_shl(self.depth as u32)
            .and_then(|step| self.base.checked_mul(step));
        if widest.is_none_or(|w| w > MAX_WIDTH) {
            return bad(format!(
                "base {} at depth {} is too wide (the widest level may have at most {MAX_WIDTH} channels)",
                self.base, self.depth
            ));
        }
        if let Head::Softmax { classes } = self.head
            && classes < 2
        {
            return bad(format!("a softmax head needs >= 2 classes, got {classes}"));
        }
        if !(MIN_INPUT_SIZE..=MAX_INPUT_SIZE).contains(&self.input_size) {
            return bad(format!(
                "input_size must be {MIN_INPUT_SIZE}..={MAX_INPUT_SIZE} px, got {}",
                self.input_size
            ));
        }
        let step = 1usize << self.depth; // depth <= MAX_DEPTH
        if !self.input_size.is_multiple_of(step) {
            return bad(format!(
                "input_size {} must be a multiple of 2^depth = {step}",
                self.input_size
            ));
        }
        match self.checked_num_params() {
            Some(n) if n <= MAX_PARAMS => Ok(()),
            Some(n) => bad(format!(
                "{n} parameters, more than the {MAX_PARAMS} this build accepts"
            )),
            None => bad(format!(
                "more than the {MAX_PARAMS} parameters this build accepts"
            )),
        }
    }

    /// Builds the network with freshly initialised weights (PyTorch's default
    /// Kaiming-uniform scheme) on `device`.
    pub fn init(&self, device: &Device) -> Result<SegModel, SegError> {
        self.validate()?;
        Ok(match self.arch {
            Arch::Unet => SegModel::Unet(Unet::new(self, device)),
            Arch::UnetPlusPlus => SegModel::UnetPlusPlus(UnetPlusPlus::new(self, device)),
        })
    }

    /// Trainable parameters of the network this configuration builds (BatchNorm running
    /// statistics are buffers, not parameters, as in PyTorch). Saturates at `usize::MAX` for
    /// a configuration too large to count (which [`ModelConfig::validate`] refuses).
    pub fn num_params(&self) -> usize {
        self.checked_num_params().unwrap_or(usize::MAX)
    }

    /// [`ModelConfig::num_params`] with checked arithmetic: `None` on overflow (or a depth
    /// so large the widths cannot be formed).
    pub fn checked_num_params(&self) -> Option<usize> {
        let depth = u32::try_from(self.depth).ok()?;
        let w: Vec<usize> = (0..=depth)
            .map(|i| 1usize.checked_shl(i).and_then(|s| self.base.checked_mul(s)))
            .collect::<Option<_>>()?;
        let bn = self.batch_norm;
        let k = if self.up == UpMode::Transpose { 4 } else { 1 };
        let up = |cin: usize, cout: usize| cin.checked_mul(cout)?.checked_mul(k)?.checked_add(cout);
        let mut n = double_conv_params(self.in_channels, w[0], bn)?;
        for i in 0..self.depth {
            n = n.checked_add(double_conv_params(w[i], w[i + 1], bn)?)?;
        }
        match self.arch {
            Arch::Unet => {
                for i in 0..self.depth {
                    let cin = w[i].checked_mul(2)?;
                    n = n
                        .checked_add(up(w[i + 1], w[i])?)?
                        .checked_add(double_conv_params(cin, w[i], bn)?)?;
                }
            }
            Arch::UnetPlusPlus => {
                for j in 1..=self.depth {
                    for i in 0..=self.depth - j {
                        let cin = w[i].checked_mul(j.checked_add(1)?)?;
                        n = n
                            .checked_add(up(w[i + 1], w[i])?)?
                            .checked_add(double_conv_params(cin, w[i], bn)?)?;
                    }
                }
            }
        }
        let out = self.head.out_channels();
        n.checked_add(w[0].checked_mul(out)?)?.checked_add(out)
    }
}

fn double_conv_params(cin: usize, cout: usize, bn: bool) -> Option<usize> {
    let extra = if bn { cout.checked_mul(2)? } else { cout };
    let conv = |i: usize| i.checked_mul(cout)?.checked_mul(9)?.checked_add(extra);
    conv(cin)?.checked_add(conv(cout)?)
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
}
