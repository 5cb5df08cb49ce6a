//! Losses and metrics against values computed by hand (plain f64 formulas).

use burn::tensor::{Device, Tensor, TensorData};
use lungscope::seg::model::Head;
use lungscope::seg::train::loss::{self, LossKind};
use lungscope::seg::train::metrics::{ClassScores, Confusion, MultiConfusion};

const LOGITS: [f64; 8] = [0.0, 2.0, -1.0, 3.0, -2.5, 0.5, 1.5, -0.25];
const TARGET: [f64; 8] = [0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0];

/// `[2 images, 1 channel, 2, 2]`.
fn tensors() -> (Tensor<4>, Tensor<4>) {
    let d = Device::flex();
    let l: Vec<f32> = LOGITS.iter().map(|&v| v as f32).collect();
    let t: Vec<f32> = TARGET.iter().map(|&v| v as f32).collect();
    (
        Tensor::from_data(TensorData::new(l, [2, 1, 2, 2]), &d),
        Tensor::from_data(TensorData::new(t, [2, 1, 2, 2]), &d),
    )
}

fn scalar(t: Tensor<1>) -> f64 {
    f64::from(t.into_scalar::<f32>())
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn bce_by_hand() -> f64 {
    let sum: f64 = LOGITS
        .iter()
        .zip(TARGET)
        .map(|(&x, t)| -(t * sigmoid(x).ln() + (1.0 - t) * (1.0 - sigmoid(x)).ln()))
        .sum();
    sum / 8.0
}

/// The mean over the two images of `per_image(Σpt, Σp, Σt)`.
fn mean_over_images(per_image: impl Fn(f64, f64, f64) -> f64) -> f64 {
    let sums = |r: std::ops::Range<usize>| {
        let (mut pt, mut p, mut t) = (0.0, 0.0, 0.0);
        for i in r {
            let pi = sigmoid(LOGITS[i]);
            pt += pi * TARGET[i];
            p += pi;
            t += TARGET[i];
        }
        per_image(pt, p, t)
    };
    let (a, b) = (sums(0..4), sums(4..8));
    (a + b) / 2.0
}

fn dice_by_hand() -> f64 {
    mean_over_images(|pt, p, t| 1.0 - (2.0 * pt + 1.0) / (p + t + 1.0))
}

/// Tversky with false positives (`Σp − Σpt`) weighted 0.3 and missed pixels
/// (`Σt − Σpt`) 0.7, per image.
fn tversky_by_hand() -> f64 {
    mean_over_images(|pt, p, t| 1.0 - (pt + 1.0) / (pt + 0.3 * (p - pt) + 0.7 * (t - pt) + 1.0))
}

fn focal_by_hand() -> f64 {
    let sum: f64 = LOGITS
        .iter()
        .zip(TARGET)
        .map(|(&x, t)| {
            let p = sigmoid(x);
            let pt = if t > 0.5 { p } else { 1.0 - p };
            -(1.0 - pt).powi(2) * pt.ln()
        })
        .sum();
    sum / 8.0
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-5, "{what}: {a} vs {b} (by hand)");
}

#[test]
fn binary_losses_match_hand_computation() {
    let head = Head::Sigmoid { channels: 1 };
    let (l, t) = tensors();
    close(
        scalar(loss::bce_with_logits(l.clone(), t.clone())),
        bce_by_hand(),
        "bce",
    );
    close(
        scalar(loss::soft_dice_loss(
            head.probabilities(l.clone()),
            t.clone(),
        )),
        dice_by_hand(),
        "dice",
    );
    close(
        scalar(loss::focal_with_logits(l.clone(), t.clone(), 2.0)),
        focal_by_hand(),
        "focal",
    );
    let by_kind = |k| scalar(loss::loss(k, &head, l.clone(), t.clone()));
    close(by_kind(LossKind::Bce), bce_by_hand(), "kind bce");
    close(by_kind(LossKind::Dice), dice_by_hand(), "kind dice");
    close(
        by_kind(LossKind::BceDice),
        bce_by_hand() + dice_by_hand(),
        "kind bce+dice",
    );
    close(by_kind(LossKind::Focal), focal_by_hand(), "kind focal");
    close(
        by_kind(LossKind::FocalDice),
        focal_by_hand() + dice_by_hand(),
        "kind focal+dice",
    );
    close(
        by_kind(LossKind::CrossEntropy),
        bce_by_hand(),
        "kind ce on a sigmoid head",
    );
    close(
        by_kind(LossKind::BceTversky),
        bce_by_hand() + tversky_by_hand(),
        "kind bce+tversky",
    );
}

#[test]
fn tversky_with_equal_weights_is_a_dice() {
    let head = Head::Sigmoid { channels: 1 };
    let (l, t) = tensors();
    let p = head.probabilities(l);
    let both = scalar(loss::tversky_loss(p.clone(), t.clone(), 0.5, 0.5));
    let missing = scalar(loss::tversky_loss(p.clone(), t.clone(), 0.0, 1.0));
    let extra = scalar(loss::tversky_loss(p, t, 1.0, 0.0));
    // (tp + 1) / (tp + (fp + fn) / 2 + 1) = (2 tp + 2) / (Σp + Σt + 2)
    let by_hand = mean_over_images(|pt, p, t| 1.0 - (2.0 * pt + 2.0) / (p + t + 2.0));
    close(both, by_hand, "tversky 0.5/0.5");
    assert!(missing > 0.0 && extra > 0.0 && (missing - extra).abs() > 1e-3);
}

#[test]
fn bce_is_stable_for_large_logits() {
    let d = Device::flex();
    let l = Tensor::<4>::from_data(TensorData::new(vec![80.0f32, -80.0], [1, 1, 1, 2]), &d);
    let t = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 1.0], [1, 1, 1, 2]), &d);
    close(scalar(loss::bce_with_logits(l, t)), 80.0, "bce at +-80");
}

#[test]
fn softmax_cross_entropy_matches_hand_computation() {
    // One image, 3 classes, 2 pixels: logits per pixel and one-hot targets.
    let d = Device::flex();
    let px = [[1.0f64, 0.0, -1.0], [0.2, 0.3, 2.0]];
    let class = [0usize, 2];
    let mut logits = vec![0f32; 6];
    let mut onehot = vec![0f32; 6];
    for p in 0..2 {
        for c in 0..3 {
            logits[c * 2 + p] = px[p][c] as f32;
        }
        onehot[class[p] * 2 + p] = 1.0;
    }
    let l = Tensor::<4>::from_data(TensorData::new(logits, [1, 3, 1, 2]), &d);
    let t = Tensor::<4>::from_data(TensorData::new(onehot, [1, 3, 1, 2]), &d);
    let ce: f64 = (0..2)
        .map(|p| {
            let z: f64 = px[p].iter().map(|v| v.exp()).sum();
            -(px[p][class[p]].exp() / z).ln()
        })
        .sum::<f64>()
        / 2.0;
    close(scalar(loss::cross_entropy(l.clone(), t.clone())), ce, "ce");
    let head = Head::Softmax { classes: 3 };
    close(
        scalar(loss::loss(LossKind::Bce, &head, l.clone(), t.clone())),
        ce,
        "bce kind = ce for softmax",
    );
    let focal: f64 = (0..2)
        .map(|p| {
            let z: f64 = px[p].iter().map(|v| v.exp()).sum();
            let q = px[p][class[p]].exp() / z;
            -(1.0 - q).powi(2) * q.ln()
        })
        .sum::<f64>()
        / 2.0;
    close(
        scalar(loss::focal_softmax(l, t, 2.0)),
        focal,
        "softmax focal",
    );
}

#[test]
fn metrics_match_hand_computation() {
    let pred = [true, true, false, false, true];
    let truth = [true, false, true, false, false];
    let c = Confusion::from_masks(&pred, &truth);
    assert_eq!(
        c,
        Confusion {
            tp: 1,
            fp: 2,
            fn_: 1,
            tn: 1
        }
    );
    close(c.dice(), 2.0 / 5.0, "dice");
    close(c.iou(), 1.0 / 4.0, "iou");
    close(c.sensitivity(), 1.0 / 2.0, "sensitivity");
    close(c.specificity(), 1.0 / 3.0, "specificity");
    close(c.precision(), 1.0 / 3.0, "precision");
}

#[test]
fn empty_truth_and_empty_prediction_is_perfect() {
    let c = Confusion::from_masks(&[false; 4], &[false; 4]);
    assert_eq!(c.dice(), 1.0);
    assert_eq!(c.iou(), 1.0);
    assert_eq!(c.specificity(), 1.0);
    // Anything predicted where nothing is true scores 0.
    let c = Confusion::from_masks(&[true, false], &[false, false]);
    assert_eq!(c.dice(), 0.0);
}

#[test]
fn planes_are_scored_per_class_and_means_average_cases() {
    let mut m = MultiConfusion::new(2);
    // class 0 perfect, class 1 all wrong
    m.add_planes(&[true, false, true, false], &[true, false, false, true], 2);
    let s = m.scores();
    assert_eq!(s[0].dice, 1.0);
    assert_eq!(s[1].dice, 0.0);
    close(m.mean_dice(), 0.5, "mean dice");
    let mean = ClassScores::mean(&[s[0], s[1]]).expect("two items");
    close(mean.dice, 0.5, "mean of cases");
    assert!(ClassScores::mean(&[]).is_none());
}
