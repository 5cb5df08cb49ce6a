//! Segmentation metrics from pixel counts: Dice, IoU, sensitivity, specificity, precision.
//!
//! Counts are accumulated over whatever region is being scored (a slice, a case, a whole
//! validation set), so "per case" Dice is the Dice of the case's pooled pixels, not a mean
//! of slice Dice values. When a ratio's denominator is zero (nothing to find and nothing
//! found) the metric is 1: the prediction is perfect.

use serde::{Deserialize, Serialize};

/// Confusion counts of one binary class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Predicted and true.
    pub tp: u64,
    /// Predicted, not true.
    pub fp: u64,
    /// True, not predicted.
    pub fn_: u64,
    /// Neither.
    pub tn: u64,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

impl Confusion {
    /// Counts from a predicted and a true mask of equal length (non-zero = positive).
    pub fn from_masks(pred: &[bool], truth: &[bool]) -> Self {
        let mut c = Self::default();
        c.add_masks(pred, truth);
        c
    }

    /// Adds the pixels of another mask pair.
    pub fn add_masks(&mut self, pred: &[bool], truth: &[bool]) {
        for (&p, &t) in pred.iter().zip(truth) {
            match (p, t) {
                (true, true) => self.tp += 1,
                (true, false) => self.fp += 1,
                (false, true) => self.fn_ += 1,
                (false, false) => self.tn += 1,
            }
        }
    }

    /// Adds another set of counts.
    pub fn add(&mut self, other: &Confusion) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
        self.tn += other.tn;
    }

    /// `2 TP / (2 TP + FP + FN)`.
    pub fn dice(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    /// Jaccard index `TP / (TP + FP + FN)`.
    pub fn iou(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp + self.fn_)
    }

    /// Recall, `TP / (TP + FN)`.
    pub fn sensitivity(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// `TN / (TN + FP)`.
    pub fn specificity(&self) -> f64 {
        ratio(self.tn, self.tn + self.fp)
    }

    /// `TP / (TP + FP)`.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// All five metrics.
    pub fn scores(&self) -> ClassScores {
        ClassScores {
            dice: self.dice(),
            iou: self.iou(),
            sensitivity: self.sensitivity(),
            specificity: self.specificity(),
            precision: self.precision(),
        }
    }
}

/// The metrics of one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// Dice similarity coefficient.
    pub dice: f64,
    /// Intersection over union.
    pub iou: f64,
    /// Sensitivity (recall).
    pub sensitivity: f64,
    /// Specificity.
    pub specificity: f64,
    /// Precision (positive predictive value).
    pub precision: f64,
}

impl ClassScores {
    /// Mean of several score sets (e.g. over cases); `None` for an empty list.
    pub fn mean(items: &[ClassScores]) -> Option<ClassScores> {
        if items.is_empty() {
            return None;
        }
        let n = items.len() as f64;
        let sum = |f: fn(&ClassScores) -> f64| items.iter().map(f).sum::<f64>() / n;
        Some(ClassScores {
            dice: sum(|s| s.dice),
            iou: sum(|s| s.iou),
            sensitivity: sum(|s| s.sensitivity),
            specificity: sum(|s| s.specificity),
            precision: sum(|s| s.precision),
        })
    }
}

/// Confusion counts for every output class of a model (e.g. lung, infection).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiConfusion {
    /// One entry per class, in output-channel order.
    pub classes: Vec<Confusion>,
}

impl MultiConfusion {
    /// Zero counts for `n` classes.
    pub fn new(n: usize) -> Self {
        Self {
            classes: vec![Confusion::default(); n],
        }
    }

    /// Adds binary predictions and truths laid out `[class][pixel]` (each `n_classes * len`).
    pub fn add_planes(&mut self, pred: &[bool], truth: &[bool], plane_len: usize) {
        for (c, conf) in self.classes.iter_mut().enumerate() {
            let range = c * plane_len..(c + 1) * plane_len;
            if range.end <= pred.len() && range.end <= truth.len() {
                conf.add_masks(&pred[range.clone()], &truth[range]);
            }
        }
    }

    /// Adds another set of counts (same number of classes).
    pub fn add(&mut self, other: &MultiConfusion) {
        for (a, b) in self.classes.iter_mut().zip(&other.classes) {
            a.add(b);
        }
    }

    /// Scores per class.
    pub fn scores(&self) -> Vec<ClassScores> {
        self.classes.iter().map(Confusion::scores).collect()
    }

    /// Mean Dice over classes.
    pub fn mean_dice(&self) -> f64 {
        if self.classes.is_empty() {
            return 0.0;
        }
        self.classes.iter().map(Confusion::dice).sum::<f64>() / self.classes.len() as f64
    }
}
