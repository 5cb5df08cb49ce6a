//! The CT severity score (0–25): five lobes, each scored 0–5 by its involvement.
//!
//! Bands (Pan et al., Radiology 2020; Chung et al.): 0 none, 1 < 5 %, 2 5–25 %,
//! 3 26–50 %, 4 51–75 %, 5 > 75 %. Involvement is measured to fractions of a
//! percent, so the bands are read as half-open intervals: 1 for (0, 5), 2 for
//! [5, 25], 3 for (25, 50], 4 for (50, 75], 5 for (75, 100].
//!
//! With a lobe mask (labels 1–5, the convention of the `lungmask` LTRCLobes
//! model: 1 left upper, 2 left lower, 3 right upper, 4 right middle, 5 right lower)
//! the true lobes are scored. Without one, the lobes are approximated by the
//! cranio-caudal zones: right upper/middle/lower lobe = right upper/middle/lower
//! third; left upper lobe (with the lingula) = left upper + middle thirds; left
//! lower lobe = left lower third. The report says which was used.

use super::AnalysisError;
use super::quantify::{Amounts, Quantities, Side, Zone};
use super::segmentation::{INFECTED, Segmentation};
use crate::mask::LabelMask;
use serde::{Deserialize, Serialize};

/// A pulmonary lobe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lobe {
    /// Left upper lobe (lobe mask label 1).
    LeftUpper,
    /// Left lower lobe (label 2).
    LeftLower,
    /// Right upper lobe (label 3).
    RightUpper,
    /// Right middle lobe (label 4).
    RightMiddle,
    /// Right lower lobe (label 5).
    RightLower,
}

impl Lobe {
    /// The five lobes in lobe-mask label order.
    pub const ALL: [Lobe; 5] = [
        Lobe::LeftUpper,
        Lobe::LeftLower,
        Lobe::RightUpper,
        Lobe::RightMiddle,
        Lobe::RightLower,
    ];

    /// The lobe-mask label (1–5).
    pub fn label(self) -> u8 {
        self as u8 + 1
    }

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Lobe::LeftUpper => "Left upper lobe",
            Lobe::LeftLower => "Left lower lobe",
            Lobe::RightUpper => "Right upper lobe",
            Lobe::RightMiddle => "Right middle lobe",
            Lobe::RightLower => "Right lower lobe",
        }
    }

    /// The snake-case name used in JSON and CSV (`left_upper`, ...).
    pub fn key(self) -> &'static str {
        match self {
            Lobe::LeftUpper => "left_upper",
            Lobe::LeftLower => "left_lower",
            Lobe::RightUpper => "right_upper",
            Lobe::RightMiddle => "right_middle",
            Lobe::RightLower => "right_lower",
        }
    }

    /// The zones approximating this lobe without a lobe mask.
    pub fn approximating_zones(self) -> (Side, &'static [Zone]) {
        match self {
            Lobe::LeftUpper => (Side::Left, &[Zone::Upper, Zone::Middle]),
            Lobe::LeftLower => (Side::Left, &[Zone::Lower]),
            Lobe::RightUpper => (Side::Right, &[Zone::Upper]),
            Lobe::RightMiddle => (Side::Right, &[Zone::Middle]),
            Lobe::RightLower => (Side::Right, &[Zone::Lower]),
        }
    }
}

/// The band score (0–5) of an involvement percentage.
pub fn band_score(involvement_percent: f64) -> u8 {
    let p = involvement_percent;
    if p <= 0.0 {
        0
    } else if p < 5.0 {
        1
    } else if p <= 25.0 {
        2
    } else if p <= 50.0 {
        3
    } else if p <= 75.0 {
        4
    } else {
        5
    }
}

/// Where the lobes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LobeSource {
    /// A lobe mask was supplied.
    LobeMask,
    /// Approximated by cranio-caudal thirds (no lobe mask).
    ZoneApproximation,
}

/// One lobe's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LobeScore {
    /// The lobe.
    pub lobe: Lobe,
    /// Lung and infected amounts; `infection_percent` is the involvement.
    pub amounts: Amounts,
    /// Band score 0–5.
    pub score: u8,
}

/// The CT severity score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Severity {
    /// Sum of the five lobe scores, 0–25.
    pub total: u8,
    /// Per lobe, in label order.
    pub lobes: Vec<LobeScore>,
    /// True lobes or an approximation.
    pub source: LobeSource,
    /// One sentence for the report (says when it is an approximation).
    pub note: String,
    /// Lung voxels outside every lobe of the lobe mask (lobe mask only).
    pub lung_voxels_outside_lobes: u64,
}

impl Severity {
    /// The score from zones (no lobe mask): an approximation.
    pub fn from_zones(q: &Quantities) -> Self {
        let lobes = Lobe::ALL
            .iter()
            .map(|&lobe| {
                let (side, zones) = lobe.approximating_zones();
                let (l, i) = zones
                    .iter()
                    .filter_map(|&z| q.zone(side, z))
                    .fold((0, 0), |a, z| {
                        (a.0 + z.amounts.lung_voxels, a.1 + z.amounts.infected_voxels)
                    });
                score(lobe, Amounts::new(l, i, q.voxel_ml))
            })
            .collect();
        Self::new(
            lobes,
            LobeSource::ZoneApproximation,
            "Approximation: no lobe mask was supplied, so the five lobes are approximated by \
             cranio-caudal thirds of each lung (right upper/middle/lower; left upper+middle, lower)."
                .into(),
            0,
        )
    }

    /// The score from a lobe mask (labels 1–5) on the segmentation's grid. Lobe
    /// volumes count lobe voxels inside the lung mask.
    pub fn from_lobe_mask(seg: &Segmentation, lobes: &LabelMask) -> Result<Self, AnalysisError> {
        if !lobes.geometry.same_grid(&seg.geometry) || lobes.labels.len() != seg.codes.len() {
            return Err(AnalysisError::GridMismatch {
                what: "lobe mask",
                expected: seg.geometry.dims,
                found: lobes.geometry.dims,
            });
        }
        let mut counts = [(0u64, 0u64); 256];
        let mut outside = 0u64;
        for (&c, &l) in seg.codes.iter().zip(&lobes.labels) {
            if c == 0 {
                continue;
            }
            if (1..=5).contains(&l) {
                counts[l as usize].0 += 1;
                counts[l as usize].1 += u64::from(c & INFECTED != 0);
            } else {
                outside += 1;
            }
        }
        if counts[1..=5].iter().all(|c| c.0 == 0) {
            return Err(AnalysisError::NoLobes);
        }
        let vml = seg.geometry.voxel_ml();
        let lobes = Lobe::ALL
            .iter()
            .map(|&lobe| {
                let (l, i) = counts[lobe.label() as usize];
                score(lobe, Amounts::new(l, i, vml))
            })
            .collect();
        Ok(Self::new(
            lobes,
            LobeSource::LobeMask,
            "Lobes from the supplied lobe mask (1 LUL, 2 LLL, 3 RUL, 4 RML, 5 RLL).".into(),
            outside,
        ))
    }

    fn new(lobes: Vec<LobeScore>, source: LobeSource, note: String, outside: u64) -> Self {
        Self {
            total: lobes.iter().map(|l| l.score).sum(),
            lobes,
            source,
            note,
            lung_voxels_outside_lobes: outside,
        }
    }
}

fn score(lobe: Lobe, amounts: Amounts) -> LobeScore {
    LobeScore {
        lobe,
        score: band_score(amounts.infection_percent),
        amounts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_the_usual_cut_points() {
        let cases = [
            (0.0, 0),
            (0.001, 1),
            (4.99, 1),
            (5.0, 2),
            (25.0, 2),
            (25.01, 3),
            (50.0, 3),
            (50.5, 4),
            (75.0, 4),
            (75.1, 5),
            (100.0, 5),
        ];
        for (p, s) in cases {
            assert_eq!(band_score(p), s, "{p} %");
        }
    }

    #[test]
    fn lobe_labels_are_one_to_five() {
        let labels: Vec<u8> = Lobe::ALL.iter().map(|l| l.label()).collect();
        assert_eq!(labels, vec![1, 2, 3, 4, 5]);
        for l in Lobe::ALL {
            assert_eq!(serde_json::to_value(l).expect("json"), l.key());
        }
    }
}
