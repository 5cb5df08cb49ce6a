//! Is the infection percentage of this study valid? The scope check.
//!
//! An infection percentage is a fraction of *both lungs*. It means nothing when
//! there is no lung label, when the lungs found are not a pair of human lungs
//! (only the bases at the top of an abdomen CT, a volume no human lung has, solid
//! tissue called lung) or when the image is not a chest CT at all. [`assess`]
//! says which, in one line, and gives the machine-readable flag
//! [`Scope::infection_percent_valid`] that every report and the viewer follow:
//! when it is false no percentage or severity score is shown as if it were valid.

use super::segmentation::{INFECTED, Segmentation};
use crate::volume::{View, Volume};
use serde::{Deserialize, Serialize};

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeStatus {
    /// A chest CT with both lungs in view: the figures stand.
    InScope,
    /// Valid for what is in view, which is not both whole lungs (a single slice,
    /// lungs cut at the edge of the scan): the figures carry that note.
    Partial,
    /// Not measurable: no infection percentage or severity score is given.
    OutOfScope,
}

/// Why a study is out of scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeProblem {
    /// No lung voxel at all.
    NoLung,
    /// Infection labels but no lung label (1, 2): the percentage would be 100 %.
    NoLungLabel,
    /// Lung only on a few slices at one end of a longer scan (lung bases at the top
    /// of an abdomen CT, apices at the bottom of a neck CT).
    LungOnFewSlices,
    /// A lung volume no human has.
    ImplausibleVolume,
    /// Most of the "lung" is denser than −500 HU: not aerated lung.
    NotAerated,
}

/// The scope check's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    /// The verdict.
    pub status: ScopeStatus,
    /// The machine-readable flag: false when no infection percentage may be given.
    pub infection_percent_valid: bool,
    /// What is wrong, when out of scope.
    pub problem: Option<ScopeProblem>,
    /// One line for people: why, or what the figures cover.
    pub message: String,
    /// Lung volume (mL, infection included).
    pub lung_ml: f64,
    /// Axial slices holding lung, of all axial slices.
    pub lung_slices: [usize; 2],
    /// Superior–inferior extent of the lung and of the scan (mm).
    pub extent_mm: [f64; 2],
    /// Median HU of the lung voxels, on measured-HU volumes.
    pub lung_median_hu: Option<f64>,
}

/// Thresholds of the scope check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScopeLimits {
    /// Less lung than this (mL) is no lung.
    pub min_lung_ml: f64,
    /// More than this (mL) is not a human pair of lungs (total lung capacity is
    /// at most about 9 L).
    pub max_lung_ml: f64,
    /// A lung extent below this (mm) in a scan at least twice as long is "lung on a
    /// few slices".
    pub min_extent_mm: f64,
    /// Lung median above this (HU) is not aerated lung: more than half of it
    /// would be denser than ground glass. (Heavily consolidated single slices of
    /// real COVID-19 patients reach a median of −370 HU, so the bar is not −500.)
    pub max_median_hu: f64,
}

impl Default for ScopeLimits {
    fn default() -> Self {
        Self {
            min_lung_ml: 1.0,
            max_lung_ml: 12_000.0,
            min_extent_mm: 60.0,
            max_median_hu: -300.0,
        }
    }
}

/// Assesses a segmentation (and its CT volume for the HU figure, when the volume is
/// measured HU). `lung_labelled` is false when the masks hold infection but no
/// lung label.
pub fn assess(seg: &Segmentation, volume: Option<&Volume>, lung_labelled: bool) -> Scope {
    assess_with(seg, volume, lung_labelled, &ScopeLimits::default())
}

/// [`assess`] with explicit limits.
pub fn assess_with(
    seg: &Segmentation,
    volume: Option<&Volume>,
    lung_labelled: bool,
    limits: &ScopeLimits,
) -> Scope {
    let g = &seg.geometry;
    let map = crate::volume::SliceMap::new(g, View::Axial);
    let dims = g.dims;
    let stride = [1usize, dims[0], dims[0] * dims[1]];
    let mut per_slice = vec![0u64; map.depth];
    let mut lung_voxels = 0u64;
    for (idx, &c) in seg.codes.iter().enumerate() {
        if c & !INFECTED != 0 {
            lung_voxels += 1;
            let v = [
                idx % dims[0],
                (idx / stride[1]) % dims[1].max(1),
                idx / stride[2].max(1),
            ];
            per_slice[v[map.normal_axis]] += 1;
        }
    }
    let lung_ml = lung_voxels as f64 * g.voxel_ml();
    let with_lung: Vec<usize> = (0..map.depth).filter(|&k| per_slice[k] > 0).collect();
    let slice_mm = g.spacing[map.normal_axis];
    let (first, last) = (
        with_lung.first().copied().unwrap_or(0),
        with_lung.last().copied().unwrap_or(0),
    );
    let lung_extent = if with_lung.is_empty() {
        0.0
    } else {
        (last - first + 1) as f64 * slice_mm
    };
    let scan_extent = map.depth as f64 * slice_mm;
    let lung_median_hu = volume
        .filter(|v| v.geometry.same_grid(g) && v.hu_check().looks_like_hu)
        .and_then(|v| median_lung_hu(seg, v));
    let mut scope = Scope {
        status: ScopeStatus::InScope,
        infection_percent_valid: true,
        problem: None,
        message: String::new(),
        lung_ml,
        lung_slices: [with_lung.len(), map.depth],
        extent_mm: [lung_extent, scan_extent],
        lung_median_hu,
    };
    let out = |scope: &mut Scope, problem: ScopeProblem, message: String| {
        scope.status = ScopeStatus::OutOfScope;
        scope.infection_percent_valid = false;
        scope.problem = Some(problem);
        scope.message = message;
    };
    if !lung_labelled {
        out(
            &mut scope,
            ScopeProblem::NoLungLabel,
            "no lung label (1, 2) in the masks: an infection % needs the lungs; show or load the lung mask, or segment the volume".into(),
        );
    } else if lung_voxels == 0 || lung_ml < limits.min_lung_ml {
        out(
            &mut scope,
            ScopeProblem::NoLung,
            format!(
                "no lungs found ({lung_ml:.1} mL): not a chest CT, or the lungs are outside the field of view"
            ),
        );
    } else if lung_ml > limits.max_lung_ml {
        out(
            &mut scope,
            ScopeProblem::ImplausibleVolume,
            format!(
                "{lung_ml:.0} mL of lung is outside the human range (up to about 9,000 mL): check the voxel size, or this is not a chest CT"
            ),
        );
    } else if lung_extent < limits.min_extent_mm && scan_extent >= 2.0 * lung_extent {
        let edge = if first == 0 || last + 1 == map.depth {
            " at the edge of the scan"
        } else {
            ""
        };
        out(
            &mut scope,
            ScopeProblem::LungOnFewSlices,
            format!(
                "lung only on {} of {} axial slices ({lung_extent:.0} of {scan_extent:.0} mm){edge}: only the lung bases or apices are in view, not a chest CT",
                with_lung.len(),
                map.depth
            ),
        );
    } else if let Some(m) = lung_median_hu.filter(|&m| m > limits.max_median_hu) {
        out(
            &mut scope,
            ScopeProblem::NotAerated,
            format!(
                "what was found as lung has a median of {m:.0} HU (above {:.0} HU): mostly solid tissue, not aerated lung",
                limits.max_median_hu
            ),
        );
    } else if map.depth == 1 {
        scope.status = ScopeStatus::Partial;
        scope.message =
            "a single slice: the figures are of this slice's lung, not of both whole lungs".into();
    } else if per_slice[0] > 0 || per_slice[map.depth - 1] > 0 {
        scope.status = ScopeStatus::Partial;
        scope.message = "the lungs reach the edge of the scan: part of the lungs (apices or bases) may be outside the field of view".into();
    } else {
        scope.message =
            format!("chest CT: both lungs in view ({lung_ml:.0} mL over {lung_extent:.0} mm)");
    }
    scope
}

/// Assesses a label map (1 left lung, 2 right lung, 3/4/5 infection inside the
/// lung) as written by segmentation, without splitting the lungs first.
pub fn assess_label_map(map: &crate::mask::LabelMask, volume: Option<&Volume>) -> Scope {
    let codes = map
        .labels
        .iter()
        .map(|&l| match l {
            1 | 2 => l,
            3..=5 => 1 | INFECTED,
            _ => 0,
        })
        .collect();
    let seg = Segmentation {
        geometry: map.geometry.clone(),
        codes,
        notes: Default::default(),
    };
    assess(&seg, volume, true)
}

/// Median HU of the lung voxels (infection included), from a histogram.
fn median_lung_hu(seg: &Segmentation, volume: &Volume) -> Option<f64> {
    const LO: i32 = -1100;
    const HI: i32 = 1100;
    let mut hist = vec![0u64; (HI - LO + 1) as usize];
    let mut n = 0u64;
    for (idx, &c) in seg.codes.iter().enumerate() {
        if c & !INFECTED != 0 {
            let h = volume.voxels.get(idx).round().clamp(LO as f32, HI as f32) as i32;
            hist[(h - LO) as usize] += 1;
            n += 1;
        }
    }
    if n == 0 {
        return None;
    }
    let half = n.div_ceil(2);
    let mut acc = 0;
    for (i, &c) in hist.iter().enumerate() {
        acc += c;
        if acc >= half {
            return Some(f64::from(i as i32 + LO));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Geometry, Voxels};

    fn seg(
        dims: [usize; 3],
        spacing: [f64; 3],
        fill: impl Fn(usize, usize, usize) -> u8,
    ) -> Segmentation {
        let g = Geometry::with_signs(dims, spacing, [-1.0, -1.0, 1.0]);
        let mut codes = vec![0u8; g.len()];
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    codes[g.index(i, j, k)] = fill(i, j, k);
                }
            }
        }
        Segmentation {
            geometry: g,
            codes,
            notes: Default::default(),
        }
    }

    #[test]
    fn chest_with_both_lungs_is_in_scope() {
        let s = seg([20, 20, 40], [10.0, 10.0, 8.0], |i, _, k| {
            if (3..37).contains(&k) && (2..18).contains(&i) {
                if i < 10 { 1 } else { 2 }
            } else {
                0
            }
        });
        let sc = assess(&s, None, true);
        assert_eq!(sc.status, ScopeStatus::InScope, "{}", sc.message);
        assert!(sc.infection_percent_valid);
    }

    #[test]
    fn lung_bases_at_the_top_of_a_long_scan_are_out_of_scope() {
        let s = seg([20, 20, 100], [10.0, 10.0, 3.0], |i, _, k| {
            u8::from(k >= 90 && i < 5)
        });
        let sc = assess(&s, None, true);
        assert_eq!(
            sc.problem,
            Some(ScopeProblem::LungOnFewSlices),
            "{}",
            sc.message
        );
        assert!(!sc.infection_percent_valid);
        assert!(sc.message.contains("10 of 100"), "{}", sc.message);
    }

    #[test]
    fn a_single_slice_is_partial_not_refused() {
        let s = seg([20, 20, 1], [10.0, 10.0, 5.0], |i, _, _| u8::from(i < 5));
        let sc = assess(&s, None, true);
        assert_eq!(sc.status, ScopeStatus::Partial);
        assert!(sc.infection_percent_valid);
    }

    #[test]
    fn no_lung_and_no_lung_label_and_huge_volumes_are_refused() {
        let empty = seg([4, 4, 4], [1.0; 3], |_, _, _| 0);
        assert_eq!(
            assess(&empty, None, true).problem,
            Some(ScopeProblem::NoLung)
        );
        let inf = seg([10, 10, 10], [10.0; 3], |_, _, _| 1 | INFECTED);
        assert_eq!(
            assess(&inf, None, false).problem,
            Some(ScopeProblem::NoLungLabel)
        );
        let huge = seg([30, 30, 30], [10.0; 3], |_, _, _| 1);
        assert_eq!(
            assess(&huge, None, true).problem,
            Some(ScopeProblem::ImplausibleVolume)
        );
    }

    #[test]
    fn solid_lung_is_not_aerated() {
        let s = seg([10, 10, 20], [10.0, 10.0, 5.0], |_, _, k| {
            u8::from((2..18).contains(&k))
        });
        // Lung voxels at soft-tissue density; the rest air with tissue steps, so the
        // volume is measured HU (thousands of levels, air and tissue).
        let values: Vec<i16> = (0..s.geometry.len())
            .map(|i| {
                if s.codes[i] != 0 {
                    40 + (i % 7) as i16
                } else {
                    (i % 997) as i16 * 2 - 1000
                }
            })
            .collect();
        let vol = Volume::new(s.geometry.clone(), Voxels::I16(values)).expect("sizes");
        let sc = assess(&s, Some(&vol), true);
        assert_eq!(sc.problem, Some(ScopeProblem::NotAerated), "{}", sc.message);
    }
}
