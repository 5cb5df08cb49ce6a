//! Training losses on logits `[B, C, H, W]` and targets of the same shape (0/1 per channel
//! for a sigmoid head, one-hot over channels for a softmax head).
//!
//! - BCE: binary cross-entropy with logits, mean over all pixels and channels (PyTorch's
//!   `BCEWithLogitsLoss`); for a softmax head the multi-class cross-entropy.
//! - Dice: soft Dice `1 - (2 sum(p t) + 1) / (sum(p) + sum(t) + 1)` per image and channel,
//!   averaged (with one channel this is the reference `unet_torch.py` loss).
//! - Focal: `(1 - p_t)^gamma` times the cross-entropy, `gamma = 2` (Lin et al. 2017).
//! - Tversky: `1 - (sum(p t) + 1) / (sum(p t) + a sum(p (1 - t)) + b sum((1 - p) t) + 1)`
//!   per image and channel, averaged, with `a = 0.3`, `b = 0.7` (Salehi et al. 2017):
//!   a Dice that weighs a missed pixel more than a false one (recall-friendly: faint
//!   ground glass and dense consolidation that a Dice-trained network leaves as lung).
//! - BCE+Dice (default), Focal+Dice, BCE+Tversky: the sums.

use burn::tensor::Tensor;
use burn::tensor::activation::{log_softmax, relu, sigmoid, softmax};
use serde::{Deserialize, Serialize};

use crate::seg::model::Head;

/// Dice smoothing term (numerator and denominator).
pub const DICE_SMOOTH: f64 = 1.0;
/// Focusing exponent of the focal loss.
pub const FOCAL_GAMMA: f64 = 2.0;
/// Weight of false positives in the Tversky loss.
pub const TVERSKY_ALPHA: f64 = 0.3;
/// Weight of false negatives (missed pixels) in the Tversky loss.
pub const TVERSKY_BETA: f64 = 0.7;

/// Which loss to train with (`--loss`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Binary cross-entropy (cross-entropy for a softmax head).
    Bce,
    /// Soft Dice.
    Dice,
    /// BCE + soft Dice.
    #[default]
    BceDice,
    /// Focal loss.
    Focal,
    /// Focal + soft Dice.
    FocalDice,
    /// Multi-class cross-entropy (equals BCE for a sigmoid head).
    CrossEntropy,
    /// BCE + Tversky (false negatives weigh 0.7, false positives 0.3).
    BceTversky,
}

/// The loss `kind` for a network with output `head`: a scalar tensor `[1]`.
pub fn loss(kind: LossKind, head: &Head, logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let dice = |l: Tensor<4>, t: Tensor<4>| soft_dice_loss(head.probabilities(l), t);
    match kind {
        LossKind::Bce | LossKind::CrossEntropy => pixel_ce(head, logits, target),
        LossKind::Dice => dice(logits, target),
        LossKind::BceDice => pixel_ce(head, logits.clone(), target.clone()) + dice(logits, target),
        LossKind::Focal => focal(head, logits, target),
        LossKind::FocalDice => focal(head, logits.clone(), target.clone()) + dice(logits, target),
        LossKind::BceTversky => {
            pixel_ce(head, logits.clone(), target.clone())
                + tversky_loss(
                    head.probabilities(logits),
                    target,
                    TVERSKY_ALPHA,
                    TVERSKY_BETA,
                )
        }
    }
}

fn pixel_ce(head: &Head, logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    match head {
        Head::Sigmoid { .. } => bce_with_logits(logits, target),
        Head::Softmax { .. } => cross_entropy(logits, target),
    }
}

fn focal(head: &Head, logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    match head {
        Head::Sigmoid { .. } => focal_with_logits(logits, target, FOCAL_GAMMA),
        Head::Softmax { .. } => focal_softmax(logits, target, FOCAL_GAMMA),
    }
}

/// Per-element BCE with logits, `max(x, 0) - x t + log(1 + exp(-|x|))` (stable): `[B, C, H, W]`.
fn bce_elements(logits: Tensor<4>, target: Tensor<4>) -> Tensor<4> {
    let softplus_neg_abs = logits.clone().abs().neg().exp().log1p(); // log(1 + e^-|x|)
    relu(logits.clone()) - logits * target + softplus_neg_abs
}

/// Mean binary cross-entropy with logits over every element: `[1]`.
pub fn bce_with_logits(logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    bce_elements(logits, target).mean()
}

/// Multi-class cross-entropy with a one-hot target, mean over pixels: `[1]`.
pub fn cross_entropy(logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let logp = log_softmax(logits, 1); // [B, C, H, W]
    (logp * target).sum_dim(1).neg().mean() // mean over [B, 1, H, W]
}

/// Binary focal loss with logits, mean over every element: `[1]`.
pub fn focal_with_logits(logits: Tensor<4>, target: Tensor<4>, gamma: f64) -> Tensor<1> {
    let p = sigmoid(logits.clone()); // [B, C, H, W]
    // p_t = p for positives, 1 - p for negatives; (1 - p_t) = p + t - 2 p t
    let one_minus_pt = p.clone() + target.clone() - p * target.clone() * 2.0;
    let weight = one_minus_pt.clamp_min(0.0).powf_scalar(gamma);
    (bce_elements(logits, target) * weight).mean()
}

/// Multi-class focal loss with a one-hot target, mean over pixels: `[1]`.
pub fn focal_softmax(logits: Tensor<4>, target: Tensor<4>, gamma: f64) -> Tensor<1> {
    let logp = log_softmax(logits.clone(), 1); // [B, C, H, W]
    let p = softmax(logits, 1);
    let one_minus_p = (p.neg() + 1.0).clamp_min(0.0).powf_scalar(gamma);
    (logp * one_minus_p * target).sum_dim(1).neg().mean()
}

/// Soft Dice loss on probabilities, per image and channel, averaged: `[1]`.
pub fn soft_dice_loss(probs: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let inter = (probs.clone() * target.clone()).sum_dims(&[2, 3]); // [B, C, 1, 1]
    let denom = probs.sum_dims(&[2, 3]) + target.sum_dims(&[2, 3]); // [B, C, 1, 1]
    let dice = (inter * 2.0 + DICE_SMOOTH) / (denom + DICE_SMOOTH);
    (dice.neg() + 1.0).mean()
}

/// Tversky loss on probabilities, per image and channel, averaged: `[1]`.
/// `alpha` weighs false positives, `beta` false negatives; `alpha = beta = 0.5` is
/// the soft Dice loss.
pub fn tversky_loss(probs: Tensor<4>, target: Tensor<4>, alpha: f64, beta: f64) -> Tensor<1> {
    let tp = (probs.clone() * target.clone()).sum_dims(&[2, 3]); // [B, C, 1, 1]
    let sp = probs.sum_dims(&[2, 3]);
    let st = target.sum_dims(&[2, 3]);
    // fp = Σp − tp, fn = Σt − tp
    let fp = sp - tp.clone();
    let fneg = st - tp.clone();
    let index = (tp.clone() + DICE_SMOOTH) / (tp + fp * alpha + fneg * beta + DICE_SMOOTH);
    (index.neg() + 1.0).mean()
}
