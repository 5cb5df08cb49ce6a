//! Intensity statistics and the HU-validity guard.
//!
//! Many public COVID-19 CT sets (half of the Zenodo volumes among them) are 8-bit
//! screenshots of a lung window, not measured Hounsfield units. HU-based analysis
//! (density bands, HU statistics) is only meaningful on real HU, so every such
//! figure is gated by [`HuCheck`].

use super::{Volume, Voxels};
use serde::{Deserialize, Serialize};

/// At most this many voxels are sampled for percentiles and grey-level counts.
const SAMPLE: usize = 1 << 20;

/// Minimum, maximum and the robust (2–98 %) intensity range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IntensityStats {
    /// Smallest voxel value.
    pub min: f32,
    /// Largest voxel value.
    pub max: f32,
    /// 2nd percentile.
    pub p2: f32,
    /// 98th percentile.
    pub p98: f32,
    /// Mean of all voxels.
    pub mean: f64,
}

impl IntensityStats {
    /// Statistics over all voxels (percentiles on an evenly strided sample of at
    /// most 2^20 voxels).
    pub fn compute(voxels: &Voxels) -> Self {
        let n = voxels.len();
        if n == 0 {
            return Self {
                min: 0.0,
                max: 0.0,
                p2: 0.0,
                p98: 0.0,
                mean: 0.0,
            };
        }
        let (min, max, sum) = match voxels {
            Voxels::I16(v) => {
                let (mut lo, mut hi, mut s) = (i16::MAX, i16::MIN, 0i64);
                for &x in v {
                    lo = lo.min(x);
                    hi = hi.max(x);
                    s += i64::from(x);
                }
                (f32::from(lo), f32::from(hi), s as f64)
            }
            Voxels::F32(v) => {
                let (mut lo, mut hi, mut s) = (f32::INFINITY, f32::NEG_INFINITY, 0f64);
                for &x in v {
                    lo = lo.min(x);
                    hi = hi.max(x);
                    s += f64::from(x);
                }
                (lo, hi, s)
            }
        };
        let mut sample = strided_sample(voxels);
        let p2 = percentile(&mut sample, 0.02);
        let p98 = percentile(&mut sample, 0.98);
        Self {
            min,
            max,
            p2,
            p98,
            mean: sum / n as f64,
        }
    }
}

fn strided_sample(voxels: &Voxels) -> Vec<f32> {
    let n = voxels.len();
    let step = n.div_ceil(SAMPLE).max(1);
    (0..n).step_by(step).map(|i| voxels.get(i)).collect()
}

/// The `q` quantile (0..=1) of `values` (reorders the slice).
pub fn percentile(values: &mut [f32], q: f64) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let k = ((values.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    let (_, v, _) = values.select_nth_unstable_by(k, |a, b| a.total_cmp(b));
    *v
}

/// The verdict of the HU-validity guard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HuCheck {
    /// True if the intensities look like measured Hounsfield units.
    pub looks_like_hu: bool,
    /// One sentence: why.
    pub reason: String,
    /// Distinct grey levels seen in the sample (capped at 4097).
    pub grey_levels: usize,
}

impl HuCheck {
    /// Assess a volume.
    ///
    /// A CT in HU has air near −1000 HU, tissue and bone above 0 HU and thousands of
    /// distinct levels. An 8-bit windowed image has at most 256 levels, whatever
    /// `scl_slope`/`scl_inter` map them onto.
    pub fn assess(volume: &Volume) -> Self {
        let stats = volume.stats();
        let grey_levels = count_levels(&volume.voxels, 4097);
        let file_is_8bit = matches!(volume.info.file_datatype.as_str(), "uint8" | "int8");
        let (ok, reason) = if grey_levels <= 256 || file_is_8bit {
            (
                false,
                format!(
                    "only {grey_levels} grey levels ({}): an 8-bit windowed image rescaled, not measured HU",
                    if volume.info.file_datatype.is_empty() {
                        "no file type"
                    } else {
                        volume.info.file_datatype.as_str()
                    }
                ),
            )
        } else if stats.min > -500.0 {
            (
                false,
                format!(
                    "no air: minimum {:.0} is above -500 HU, so the values are not HU",
                    stats.min
                ),
            )
        } else if stats.max < 100.0 {
            (
                false,
                format!(
                    "no soft tissue or bone: maximum {:.0} is below 100 HU",
                    stats.max
                ),
            )
        } else if stats.min < -3100.0 || stats.max > 40000.0 {
            (
                false,
                format!(
                    "range {:.0}..{:.0} is outside any CT scanner's HU range",
                    stats.min, stats.max
                ),
            )
        } else {
            (
                true,
                format!(
                    "{grey_levels}{} grey levels spanning {:.0}..{:.0} HU, air and tissue present",
                    if grey_levels > 4096 { "+" } else { "" },
                    stats.min,
                    stats.max
                ),
            )
        };
        Self {
            looks_like_hu: ok,
            reason,
            grey_levels,
        }
    }
}

/// Distinct values among a strided sample, stopping at `cap`.
fn count_levels(voxels: &Voxels, cap: usize) -> usize {
    let mut seen = std::collections::HashSet::with_capacity(cap.min(4096));
    let n = voxels.len();
    let step = n.div_ceil(SAMPLE).max(1);
    for i in (0..n).step_by(step) {
        seen.insert(voxels.get(i).to_bits());
        if seen.len() >= cap {
            break;
        }
    }
    seen.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Geometry, Volume};

    fn vol(values: Vec<f32>, ftype: &str) -> Volume {
        let g = Geometry::with_signs([values.len(), 1, 1], [1.0; 3], [1.0; 3]);
        let mut v = Volume::new(g, Voxels::F32(values)).expect("sizes match");
        v.info.file_datatype = ftype.into();
        v
    }

    #[test]
    fn robust_range_ignores_outliers() {
        let mut values: Vec<f32> = (0..1000).map(|x| x as f32).collect();
        values[0] = -30000.0;
        values[999] = 30000.0;
        let s = IntensityStats::compute(&Voxels::F32(values));
        assert_eq!(s.min, -30000.0);
        assert_eq!(s.max, 30000.0);
        assert!((s.p2 - 20.0).abs() <= 1.0, "p2 {}", s.p2);
        assert!((s.p98 - 979.0).abs() <= 1.0, "p98 {}", s.p98);
    }

    #[test]
    fn real_ct_is_hu() {
        let values: Vec<f32> = (0..5000).map(|x| -1024.0 + x as f32 * 0.5).collect();
        assert!(HuCheck::assess(&vol(values, "int16")).looks_like_hu);
    }

    #[test]
    fn rescaled_8bit_is_not_hu() {
        let values: Vec<f32> = (0..5000)
            .map(|x| (x % 256) as f32 * 1500.0 / 255.0 - 1250.0)
            .collect();
        let c = HuCheck::assess(&vol(values, "uint8"));
        assert!(!c.looks_like_hu);
        assert!(c.reason.contains("256 grey levels"), "{}", c.reason);
    }

    #[test]
    fn windowed_png_range_is_not_hu() {
        let values: Vec<f32> = (0..5000).map(|x| (x % 1000) as f32 * 0.255).collect();
        let c = HuCheck::assess(&vol(values, "float32"));
        assert!(!c.looks_like_hu);
        assert!(c.reason.contains("no air"), "{}", c.reason);
    }
}
