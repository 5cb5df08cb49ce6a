//! The patient's midline from the x-profile of the lung voxels (voxels per
//! millimetre of world x): the gap between two separate lungs, or the valley
//! between two touching ones.

use super::components::Components;
use crate::volume::Geometry;

/// A profile valley at most this fraction of the lower neighbouring peak separates
/// two lungs.
const VALLEY_RATIO: f64 = 0.5;
/// A gap in the profile separates two lungs if each side holds this fraction.
pub(super) const GAP_SIDE_FRACTION: f64 = 0.1;
/// The midline is searched within this fraction of the lung's x-extent around the
/// body centre.
const SEARCH_HALF_WIDTH: f64 = 0.25;
/// Profile smoothing radius in millimetres.
const SMOOTH_MM: f64 = 2.0;

/// World x of voxel `i` in row `(j, k)`: `x0 + dx * i`.
pub(super) fn row_x(geometry: &Geometry, comps: &Components, row: u32) -> (f64, f64) {
    let (j, k) = comps.row_jk(row);
    let a = geometry.affine[0];
    (a[1] * j as f64 + a[2] * k as f64 + a[3], a[0])
}

/// Lung voxels per x bin.
pub(super) struct Profile {
    x_min: f64,
    bin_mm: f64,
    counts: Vec<u64>,
    smooth: Vec<f64>,
}

impl Profile {
    pub(super) fn new(comps: &Components, geometry: &Geometry, bin_mm: f64) -> Self {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for run in &comps.runs {
            let (x0, dx) = row_x(geometry, comps, run.row);
            for i in [run.start, run.end - 1] {
                let x = x0 + dx * f64::from(i);
                lo = lo.min(x);
                hi = hi.max(x);
            }
        }
        // At most 8192 bins, whatever the spacing.
        let bin_mm = bin_mm.max((hi - lo) / 8190.0);
        let bins = ((hi - lo) / bin_mm).floor() as usize + 1;
        let mut counts = vec![0u64; bins];
        for run in &comps.runs {
            let (x0, dx) = row_x(geometry, comps, run.row);
            for i in run.start..run.end {
                let b = ((x0 + dx * f64::from(i) - lo) / bin_mm) as usize;
                counts[b.min(bins - 1)] += 1;
            }
        }
        let r = (SMOOTH_MM / bin_mm).round().max(1.0) as usize;
        let smooth = (0..bins)
            .map(|b| {
                let (a, z) = (b.saturating_sub(r), (b + r).min(bins - 1));
                counts[a..=z].iter().sum::<u64>() as f64 / (z - a + 1) as f64
            })
            .collect();
        Self {
            x_min: lo,
            bin_mm,
            counts,
            smooth,
        }
    }

    fn center_of(&self, b: f64) -> f64 {
        self.x_min + b * self.bin_mm
    }

    fn bin_of(&self, x: f64) -> usize {
        (((x - self.x_min) / self.bin_mm).round().max(0.0) as usize).min(self.counts.len() - 1)
    }

    pub(super) fn mean(&self) -> f64 {
        let n: u64 = self.counts.iter().sum();
        let s: f64 = self
            .counts
            .iter()
            .enumerate()
            .map(|(b, &c)| c as f64 * self.center_of(b as f64))
            .sum();
        s / n.max(1) as f64
    }

    /// The centre of the empty gap nearest `center` with at least `min_side`
    /// voxels on each side.
    pub(super) fn gap_midline(&self, center: f64, min_side: u64) -> Option<f64> {
        let total: u64 = self.counts.iter().sum();
        let mut best: Option<(f64, f64)> = None;
        let mut below = 0u64;
        let mut b = 0;
        while b < self.counts.len() {
            if self.counts[b] != 0 {
                below += self.counts[b];
                b += 1;
                continue;
            }
            let start = b;
            while b < self.counts.len() && self.counts[b] == 0 {
                b += 1;
            }
            if below >= min_side.max(1) && total - below >= min_side.max(1) {
                let x = self.center_of((start + b - 1) as f64 / 2.0);
                if best.is_none_or(|(_, d)| (x - center).abs() < d) {
                    best = Some((x, (x - center).abs()));
                }
            }
        }
        best.map(|(x, _)| x)
    }

    /// The deepest valley of the smoothed profile near `center`, if it is deep
    /// enough to separate two lungs.
    pub(super) fn valley_midline(&self, center: f64) -> Option<f64> {
        let n = self.smooth.len();
        let extent = self.bin_mm * n as f64;
        let half = ((SEARCH_HALF_WIDTH * extent) / self.bin_mm).round() as usize;
        let c = self.bin_of(center);
        let (a, z) = (
            c.saturating_sub(half).max(1),
            (c + half).min(n.saturating_sub(2)),
        );
        if a > z {
            return None;
        }
        let min = self.smooth[a..=z]
            .iter()
            .cloned()
            .fold(f64::INFINITY, f64::min);
        // The run of minimal bins nearest the centre; its middle is the midline.
        let at_min = |b: usize| self.smooth[b] <= min * (1.0 + 1e-9);
        let nearest = (a..=z)
            .filter(|&b| at_min(b))
            .min_by_key(|&b| b.abs_diff(c))?;
        let (mut lo, mut hi) = (nearest, nearest);
        while lo > a && at_min(lo - 1) {
            lo -= 1;
        }
        while hi < z && at_min(hi + 1) {
            hi += 1;
        }
        let left_peak = self.smooth[..lo].iter().cloned().fold(0.0, f64::max);
        let right_peak = self.smooth[hi + 1..].iter().cloned().fold(0.0, f64::max);
        let lower = left_peak.min(right_peak);
        // Both sides must hold a real lung, not an edge or a speck.
        let total: u64 = self.counts.iter().sum();
        let mid_bin = (lo + hi) / 2;
        let below: u64 = self.counts[..mid_bin].iter().sum();
        let side_min = (GAP_SIDE_FRACTION * total as f64) as u64;
        let sides_ok = below >= side_min && total - below >= side_min;
        (sides_ok && lower > 0.0 && min <= VALLEY_RATIO * lower)
            .then(|| self.center_of((lo + hi) as f64 / 2.0))
    }
}
