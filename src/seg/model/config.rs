//! The serialisable network description [`ModelConfig`] (architecture, head,
//! upsampling), its bounds for untrusted model files and its parameter count with
//! checked arithmetic. The layers it builds live in [`crate::seg::model`].

use burn::tensor::Tensor;
use burn::tensor::activation::{sigmoid, softmax};
use serde::{Deserialize, Serialize};

use crate::seg::SegError;

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
