//! The training losses of [`crate::seg::train::loss`] and their gradients with respect to
//! the logits, written out by hand on channels-last values: logits and targets
//! `[B, H·W, C]` (pixel-major, channels fastest). The formulas are those of the
//! burn path term for term (same smoothing, same focusing exponent, same means), so
//! both paths optimise the same function; a test compares values and gradients
//! with burn's autodiff.

use crate::seg::model::Head;
use crate::seg::train::loss::{DICE_SMOOTH, FOCAL_GAMMA, LossKind, TVERSKY_ALPHA, TVERSKY_BETA};

/// Loss value and its gradient `[B, H·W, C]` with respect to the logits.
pub(super) fn loss_and_grad(
    kind: LossKind,
    head: &Head,
    logits: &[f32],
    target: &[f32],
    batch: usize,
    c: usize,
) -> (f64, Vec<f32>) {
    let mut grad = vec![0.0f32; logits.len()];
    let softmax = matches!(head, Head::Softmax { .. });
    let mut total = 0.0;
    let (ce, focal, overlap) = match kind {
        LossKind::Bce | LossKind::CrossEntropy => (true, false, None),
        LossKind::Dice => (false, false, Some(Overlap::Dice)),
        LossKind::BceDice => (true, false, Some(Overlap::Dice)),
        LossKind::Focal => (false, true, None),
        LossKind::FocalDice => (false, true, Some(Overlap::Dice)),
        LossKind::BceTversky => (true, false, Some(Overlap::Tversky)),
    };
    if ce {
        total += if softmax {
            softmax_ce(logits, target, c, None, &mut grad)
        } else {
            sigmoid_bce(logits, target, None, &mut grad)
        };
    }
    if focal {
        total += if softmax {
            softmax_ce(logits, target, c, Some(FOCAL_GAMMA), &mut grad)
        } else {
            sigmoid_bce(logits, target, Some(FOCAL_GAMMA), &mut grad)
        };
    }
    if let Some(overlap) = overlap {
        total += overlap_loss(overlap, logits, target, batch, c, softmax, &mut grad);
    }
    (total, grad)
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Mean BCE with logits over every element (`max(x, 0) − x·t + ln(1 + e^−|x|)`), or
/// with `gamma` the focal loss `(1 − p_t)^γ · BCE` with `1 − p_t = p + t − 2pt`
/// (clamped at 0, the weight differentiated too, as burn's autodiff does); the
/// gradient is added to `grad`.
fn sigmoid_bce(logits: &[f32], target: &[f32], gamma: Option<f64>, grad: &mut [f32]) -> f64 {
    let n = logits.len().max(1) as f64;
    let inv = (1.0 / n) as f32;
    let mut sum = 0.0f64;
    for ((g, &x), &t) in grad.iter_mut().zip(logits).zip(target) {
        let e = x.max(0.0) - x * t + (-x.abs()).exp().ln_1p();
        let p = sigmoid(x);
        match gamma {
            None => {
                sum += f64::from(e);
                *g += (p - t) * inv;
            }
            Some(gamma) => {
                let gamma = gamma as f32;
                let u = p + t - 2.0 * p * t;
                let (w, dw) = if u > 0.0 {
                    (
                        u.powf(gamma),
                        gamma * u.powf(gamma - 1.0) * (1.0 - 2.0 * t) * p * (1.0 - p),
                    )
                } else {
                    (0.0, 0.0)
                };
                sum += f64::from(e * w);
                *g += ((p - t) * w + e * dw) * inv;
            }
        }
    }
    sum / n
}

/// Multi-class cross-entropy with a one-hot target, mean over pixels
/// (`−Σ_c t_c log p_c`), or with `gamma` the focal form `−Σ_c t_c (1 − p_c)^γ log p_c`;
/// the gradient is added to `grad`.
fn softmax_ce(
    logits: &[f32],
    target: &[f32],
    c: usize,
    gamma: Option<f64>,
    grad: &mut [f32],
) -> f64 {
    let pixels = (logits.len() / c.max(1)).max(1) as f64;
    let inv = (1.0 / pixels) as f32;
    let mut sum = 0.0f64;
    let mut p = vec![0.0f32; c];
    let mut a = vec![0.0f32; c];
    let mut b = vec![0.0f32; c];
    for ((g, x), t) in grad
        .chunks_exact_mut(c)
        .zip(logits.chunks_exact(c))
        .zip(target.chunks_exact(c))
    {
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let se: f32 = x.iter().map(|v| (v - max).exp()).sum();
        let lse = max + se.ln();
        for ch in 0..c {
            p[ch] = (x[ch] - lse).exp();
            let logp = x[ch] - lse;
            match gamma {
                None => {
                    sum -= f64::from(t[ch] * logp);
                    a[ch] = -t[ch];
                    b[ch] = 0.0;
                }
                Some(gamma) => {
                    let gamma = gamma as f32;
                    let q = (1.0 - p[ch]).max(0.0);
                    let qg = q.powf(gamma);
                    sum -= f64::from(t[ch] * logp * qg);
                    a[ch] = -t[ch] * qg;
                    b[ch] = if q > 0.0 {
                        t[ch] * logp * gamma * q.powf(gamma - 1.0)
                    } else {
                        0.0
                    };
                }
            }
        }
        // ∂/∂x_j: through log p (a) and through p (b).
        let sa: f32 = a.iter().sum();
        let sbp: f32 = b.iter().zip(&p).map(|(b, p)| b * p).sum();
        for ch in 0..c {
            g[ch] += (a[ch] - p[ch] * sa + p[ch] * (b[ch] - sbp)) * inv;
        }
    }
    sum / pixels
}

/// The overlap term of a loss.
#[derive(Clone, Copy)]
enum Overlap {
    /// Soft Dice `1 − (2·Σpt + s) / (Σp + Σt + s)`.
    Dice,
    /// Tversky `1 − (Σpt + s) / (Σpt + α·Σp(1−t) + β·Σ(1−p)t + s)`.
    Tversky,
}

impl Overlap {
    /// Both terms are `1 − N / D` with `N = n_tp·Σpt + s` and
    /// `D = d_tp·Σpt + d_p·Σp + d_t·Σt + s`: `(n_tp, d_tp, d_p, d_t)`.
    fn coefficients(self) -> (f64, f64, f64, f64) {
        match self {
            Overlap::Dice => (2.0, 0.0, 1.0, 1.0),
            // Σp(1−t) = Σp − Σpt, Σ(1−p)t = Σt − Σpt
            Overlap::Tversky => (
                1.0,
                1.0 - TVERSKY_ALPHA - TVERSKY_BETA,
                TVERSKY_ALPHA,
                TVERSKY_BETA,
            ),
        }
    }
}

/// Overlap loss (soft Dice or Tversky) per image and channel, averaged, on the
/// head's probabilities; the gradient is added to `grad`.
fn overlap_loss(
    overlap: Overlap,
    logits: &[f32],
    target: &[f32],
    batch: usize,
    c: usize,
    softmax: bool,
    grad: &mut [f32],
) -> f64 {
    let probs: Vec<f32> = if softmax {
        let mut p = vec![0.0f32; logits.len()];
        for (o, x) in p.chunks_exact_mut(c).zip(logits.chunks_exact(c)) {
            let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut s = 0.0;
            for (o, &v) in o.iter_mut().zip(x) {
                *o = (v - max).exp();
                s += *o;
            }
            for o in o.iter_mut() {
                *o /= s;
            }
        }
        p
    } else {
        logits.iter().map(|&x| sigmoid(x)).collect()
    };
    let per_image = logits.len() / batch.max(1);
    let smooth = DICE_SMOOTH;
    let (n_tp, d_tp, d_p, d_t) = overlap.coefficients();
    let terms = (batch * c).max(1) as f64;
    let mut loss = 0.0f64;
    let mut dp = vec![0.0f32; logits.len()];
    for img in 0..batch {
        let range = img * per_image..(img + 1) * per_image;
        let (p, t) = (&probs[range.clone()], &target[range.clone()]);
        let dpi = &mut dp[range];
        for ch in 0..c {
            let (mut inter, mut sp, mut st) = (0.0f64, 0.0f64, 0.0f64);
            for (pp, tp) in p.chunks_exact(c).zip(t.chunks_exact(c)) {
                inter += f64::from(pp[ch] * tp[ch]);
                sp += f64::from(pp[ch]);
                st += f64::from(tp[ch]);
            }
            let num = n_tp * inter + smooth;
            let den = d_tp * inter + d_p * sp + d_t * st + smooth;
            loss += 1.0 - num / den;
            // ∂(1 − num/den)/∂p_i = −(∂num · den − num · ∂den) / den², with
            // ∂num = n_tp·t_i and ∂den = d_tp·t_i + d_p, over the mean's terms.
            let k = 1.0 / (den * den * terms);
            for (dpp, tp) in dpi.chunks_exact_mut(c).zip(t.chunks_exact(c)) {
                let ti = f64::from(tp[ch]);
                dpp[ch] = (-(n_tp * ti * den - num * (d_tp * ti + d_p)) * k) as f32;
            }
        }
    }
    // Through the head.
    if softmax {
        for ((g, d), p) in grad
            .chunks_exact_mut(c)
            .zip(dp.chunks_exact(c))
            .zip(probs.chunks_exact(c))
        {
            let s: f32 = d.iter().zip(p).map(|(d, p)| d * p).sum();
            for ch in 0..c {
                g[ch] += p[ch] * (d[ch] - s);
            }
        }
    } else {
        for ((g, d), p) in grad.iter_mut().zip(&dp).zip(&probs) {
            *g += d * p * (1.0 - p);
        }
    }
    loss / terms
}
