//! HU statistics of the infected region and the lung density bands.
//!
//! Only meaningful on measured Hounsfield units: [`hu_figures`] returns
//! [`HuFigures::Absent`] with the HU-validity guard's reason otherwise.
//! Bands, as 3D Slicer's Lung CT Analyzer uses them: "infiltrated" −750…−400 HU
//! and "collapsed" −400…0 HU, as half-open intervals `[lo, hi)`.

use super::AnalysisError;
use super::segmentation::{INFECTED, Segmentation};
use crate::volume::Volume;
use serde::{Deserialize, Serialize};

/// Lower edge of the histogram (HU).
pub const HIST_LO: f64 = -1100.0;
/// Bin width of the histogram (HU).
pub const HIST_BIN: f64 = 25.0;
/// Number of bins (−1100 … +300 HU).
pub const HIST_BINS: usize = 56;

/// A density band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// Name ("infiltrated", "collapsed").
    pub name: String,
    /// Lower edge (HU, inclusive).
    pub lo_hu: f64,
    /// Upper edge (HU, exclusive).
    pub hi_hu: f64,
    /// Lung voxels in the band.
    pub lung_voxels: u64,
    /// Volume in mL.
    pub ml: f64,
    /// Percentage of all lung voxels.
    pub percent_of_lung: f64,
}

/// The bands reported.
pub const BANDS: [(&str, f64, f64); 2] =
    [("infiltrated", -750.0, -400.0), ("collapsed", -400.0, 0.0)];

/// Summary statistics of the HU values of a region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionHu {
    /// Voxels.
    pub voxels: u64,
    /// Mean (HU).
    pub mean: f64,
    /// Standard deviation (population, HU).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// 5th percentile (linear interpolation, as numpy's default).
    pub p5: f64,
    /// 25th percentile.
    pub p25: f64,
    /// Median.
    pub median: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Largest value.
    pub max: f64,
}

/// A HU histogram of the lung and of the infected region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HuHistogram {
    /// Lower edge of bin 0 (HU).
    pub lo_hu: f64,
    /// Bin width (HU).
    pub bin_hu: f64,
    /// Lung voxels per bin (all lung, infected included).
    pub lung: Vec<u64>,
    /// Infected voxels per bin.
    pub infected: Vec<u64>,
    /// Lung voxels below / above the histogram range.
    pub lung_outside: [u64; 2],
    /// Infected voxels below / above the histogram range.
    pub infected_outside: [u64; 2],
}

/// HU figures, present only for real HU.
// One per report: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum HuFigures {
    /// The volume is in measured HU.
    Available {
        /// The infected region (`None` if nothing is infected).
        infected: Option<RegionHu>,
        /// The whole lung.
        lung: Option<RegionHu>,
        /// Density bands of the lung.
        bands: Vec<Band>,
        /// Histogram.
        histogram: HuHistogram,
    },
    /// Not computed.
    Absent {
        /// Why (the HU-validity guard's verdict, or no volume given).
        reason: String,
    },
}

impl HuFigures {
    /// The band named `name`, if available.
    pub fn band(&self, name: &str) -> Option<&Band> {
        match self {
            HuFigures::Available { bands, .. } => bands.iter().find(|b| b.name == name),
            HuFigures::Absent { .. } => None,
        }
    }
}

/// HU figures of a segmentation on `volume`'s grid, gated by the HU guard.
pub fn hu_figures(seg: &Segmentation, volume: Option<&Volume>) -> Result<HuFigures, AnalysisError> {
    let Some(volume) = volume else {
        return Ok(HuFigures::Absent {
            reason: "no CT volume was given".into(),
        });
    };
    if !volume.geometry.same_grid(&seg.geometry) || volume.voxels.len() != seg.codes.len() {
        return Err(AnalysisError::GridMismatch {
            what: "segmentation",
            expected: volume.geometry.dims,
            found: seg.geometry.dims,
        });
    }
    let check = volume.hu_check();
    if !check.looks_like_hu {
        return Ok(HuFigures::Absent {
            reason: format!(
                "the volume does not hold measured Hounsfield units ({}), so HU statistics and density bands would be meaningless",
                check.reason
            ),
        });
    }
    let mut lung_vals = Vec::new();
    let mut inf_vals = Vec::new();
    for (idx, &c) in seg.codes.iter().enumerate() {
        if c != 0 {
            let v = volume.voxels.get(idx);
            lung_vals.push(v);
            if c & INFECTED != 0 {
                inf_vals.push(v);
            }
        }
    }
    let mut histogram = HuHistogram {
        lo_hu: HIST_LO,
        bin_hu: HIST_BIN,
        lung: vec![0; HIST_BINS],
        infected: vec![0; HIST_BINS],
        lung_outside: [0; 2],
        infected_outside: [0; 2],
    };
    fill(&lung_vals, &mut histogram.lung, &mut histogram.lung_outside);
    fill(
        &inf_vals,
        &mut histogram.infected,
        &mut histogram.infected_outside,
    );
    let vml = seg.geometry.voxel_ml();
    let n = lung_vals.len() as u64;
    let bands = BANDS
        .iter()
        .map(|&(name, lo, hi)| {
            let k = lung_vals
                .iter()
                .filter(|&&v| f64::from(v) >= lo && f64::from(v) < hi)
                .count() as u64;
            Band {
                name: name.into(),
                lo_hu: lo,
                hi_hu: hi,
                lung_voxels: k,
                ml: k as f64 * vml,
                percent_of_lung: super::quantify::percent(k, n),
            }
        })
        .collect();
    Ok(HuFigures::Available {
        infected: region(&mut inf_vals),
        lung: region(&mut lung_vals),
        bands,
        histogram,
    })
}

fn fill(values: &[f32], bins: &mut [u64], outside: &mut [u64; 2]) {
    for &v in values {
        let b = ((f64::from(v) - HIST_LO) / HIST_BIN).floor();
        if b < 0.0 {
            outside[0] += 1;
        } else if b >= bins.len() as f64 {
            outside[1] += 1;
        } else {
            bins[b as usize] += 1;
        }
    }
}

/// Statistics of `values` (sorts them). `None` when empty.
pub fn region(values: &mut [f32]) -> Option<RegionHu> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(|a, b| a.total_cmp(b));
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let q = |p: f64| quantile_sorted(values, p);
    Some(RegionHu {
        voxels: values.len() as u64,
        mean,
        std: var.sqrt(),
        min: f64::from(values[0]),
        p5: q(0.05),
        p25: q(0.25),
        median: q(0.5),
        p75: q(0.75),
        p95: q(0.95),
        max: f64::from(values[values.len() - 1]),
    })
}

/// The `p` quantile of sorted values, linearly interpolated (numpy's default).
pub fn quantile_sorted(sorted: &[f32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let h = (sorted.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let f = h - lo as f64;
    f64::from(sorted[lo]) + f * (f64::from(sorted[hi]) - f64::from(sorted[lo]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0f32, 2.0, 3.0, 4.0];
        // numpy.percentile([1,2,3,4], [0, 25, 50, 95]) = 1, 1.75, 2.5, 3.85
        assert_eq!(quantile_sorted(&v, 0.0), 1.0);
        assert!((quantile_sorted(&v, 0.25) - 1.75).abs() < 1e-12);
        assert!((quantile_sorted(&v, 0.5) - 2.5).abs() < 1e-12);
        assert!((quantile_sorted(&v, 0.95) - 3.85).abs() < 1e-6);
    }

    #[test]
    fn region_statistics() {
        let mut v = vec![-600.0f32, -200.0, -400.0, -800.0];
        let r = region(&mut v).expect("values");
        assert_eq!(r.mean, -500.0);
        assert!((r.std - 223.606_797_749_979).abs() < 1e-9);
        assert_eq!((r.min, r.max), (-800.0, -200.0));
        assert_eq!(r.median, -500.0);
        assert!(region(&mut []).is_none());
    }

    #[test]
    fn histogram_edges() {
        let mut bins = vec![0u64; HIST_BINS];
        let mut out = [0u64; 2];
        fill(
            &[-1100.0, -1075.1, -1075.0, -1200.0, 300.0, 299.9],
            &mut bins,
            &mut out,
        );
        assert_eq!(bins[0], 2);
        assert_eq!(bins[1], 1);
        assert_eq!(bins[HIST_BINS - 1], 1);
        assert_eq!(out, [1, 1]);
    }
}
