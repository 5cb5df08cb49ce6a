//! The input of the analysis: every lung voxel with its side, and which of them
//! are infected.
//!
//! Built either from a label map (1 left lung, 2 right lung, 3 infection; 4
//! ground-glass and 5 consolidation also count as infection; infection voxels are
//! lung) or from separate lung and infection masks (infection counted only inside
//! the lung mask, as the ground truth of the shared data defines it). Where the
//! lungs carry no side (one lung label, or infection voxels of a label map), the
//! sides come from [`super::lungs::split_label_mask`] or from the
//! lung an infected region touches.

use super::AnalysisError;
use super::components::{Components, Connectivity};
use super::lungs::{SplitInfo, SplitOptions, split_label_mask};
use crate::mask::{BACKGROUND, INFECTION, LEFT_LUNG, LabelMask, RIGHT_LUNG};
use crate::volume::Geometry;
use serde::{Deserialize, Serialize};

/// Flag added to a side code for an infected lung voxel.
pub const INFECTED: u8 = 0x80;

/// Label-map values counted as infection (infection, ground-glass, consolidation).
pub const INFECTION_LABELS: [u8; 3] = [INFECTION, 4, 5];

/// What was noticed while building a [`Segmentation`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SegmentationNotes {
    /// Set when the lungs were split into left and right here.
    pub split: Option<SplitInfo>,
    /// Infection voxels outside the lung mask (separate masks only); not counted.
    pub infection_outside_lung_voxels: u64,
    /// Voxels with labels that mean nothing here (not 0–5); ignored.
    pub unknown_label_voxels: u64,
    /// Infected voxels whose side came from the lung they touch or their position.
    pub infection_sided_voxels: u64,
    /// True if the given lung labels contradict the affine: the "left" lung
    /// (label 1) lies on the patient's right of the "right" lung (label 2).
    /// The labels are used as given; the report warns.
    #[serde(default)]
    pub lung_labels_look_swapped: bool,
    /// Set by a caller that knows the masks hold infection but no lung (the
    /// viewer showing only an infection mask): every labelled voxel was counted as
    /// lung, so the infection % is meaningless. A label map of label 3 alone is
    /// otherwise valid (infection lies inside the lung: all of the lung infected).
    #[serde(default)]
    pub no_lung_label: bool,
}

/// Lung voxels with their side and infection state.
#[derive(Debug, Clone, PartialEq)]
pub struct Segmentation {
    /// The grid.
    pub geometry: Geometry,
    /// Per voxel (column-major): 0, [`LEFT_LUNG`] or [`RIGHT_LUNG`], plus
    /// [`INFECTED`] for infected lung voxels.
    pub codes: Vec<u8>,
    /// What was noticed.
    pub notes: SegmentationNotes,
}

impl Segmentation {
    /// From a label map: 1 left lung, 2 right lung, 3/4/5 infection (lung too).
    /// If the map does not hold both lung labels, all lung voxels (infection
    /// included) are split into left and right.
    pub fn from_label_map(map: &LabelMask, options: &SplitOptions) -> Result<Self, AnalysisError> {
        check_len("label map", map)?;
        let hist = map.histogram();
        let mut notes = SegmentationNotes {
            unknown_label_voxels: hist[6..].iter().sum(),
            ..SegmentationNotes::default()
        };
        let is_inf = |l: u8| INFECTION_LABELS.contains(&l);
        let codes = if hist[LEFT_LUNG as usize] > 0 && hist[RIGHT_LUNG as usize] > 0 {
            let mut codes: Vec<u8> = map
                .labels
                .iter()
                .map(|&l| match l {
                    LEFT_LUNG | RIGHT_LUNG => l,
                    _ => BACKGROUND,
                })
                .collect();
            notes.infection_sided_voxels = side_infection(map, &mut codes, is_inf);
            codes
        } else {
            let lung = LabelMask {
                geometry: map.geometry.clone(),
                labels: map
                    .labels
                    .iter()
                    .map(|&l| u8::from(l != 0 && l <= 5))
                    .collect(),
            };
            let split = split_label_mask(&lung, options)?;
            notes.split = Some(split.info);
            let mut codes = split.mask.labels;
            for (c, &l) in codes.iter_mut().zip(&map.labels) {
                if *c != 0 && is_inf(l) {
                    *c |= INFECTED;
                }
            }
            codes
        };
        let mut seg = Self {
            geometry: map.geometry.clone(),
            codes,
            notes,
        };
        if seg.notes.split.is_none() {
            seg.notes.lung_labels_look_swapped = seg.labels_look_swapped();
        }
        seg.non_empty()
    }

    /// From a lung mask (1/2 = left/right, or any non-zero = lung) and an infection
    /// mask (non-zero = infection). Infection outside the lung mask is not counted
    /// (see [`SegmentationNotes::infection_outside_lung_voxels`]).
    pub fn from_masks(
        lung: &LabelMask,
        infection: &LabelMask,
        options: &SplitOptions,
    ) -> Result<Self, AnalysisError> {
        check_len("lung mask", lung)?;
        check_len("infection mask", infection)?;
        if !infection.geometry.same_grid(&lung.geometry) {
            return Err(AnalysisError::GridMismatch {
                what: "infection mask",
                expected: lung.geometry.dims,
                found: infection.geometry.dims,
            });
        }
        let hist = lung.histogram();
        let mut notes = SegmentationNotes::default();
        let mut codes = if hist[LEFT_LUNG as usize] > 0
            && hist[RIGHT_LUNG as usize] > 0
            && hist[3..].iter().all(|&n| n == 0)
        {
            lung.labels.clone()
        } else {
            let split = split_label_mask(lung, options)?;
            notes.split = Some(split.info);
            split.mask.labels
        };
        for (c, &f) in codes.iter_mut().zip(&infection.labels) {
            if f != 0 {
                if *c != 0 {
                    *c |= INFECTED;
                } else {
                    notes.infection_outside_lung_voxels += 1;
                }
            }
        }
        let mut seg = Self {
            geometry: lung.geometry.clone(),
            codes,
            notes,
        };
        if seg.notes.split.is_none() {
            seg.notes.lung_labels_look_swapped = seg.labels_look_swapped();
        }
        seg.non_empty()
    }

    /// The standard label map (1 left, 2 right, 3 infection) for display and export.
    pub fn to_label_map(&self) -> LabelMask {
        LabelMask {
            geometry: self.geometry.clone(),
            labels: self
                .codes
                .iter()
                .map(|&c| if c & INFECTED != 0 { INFECTION } else { c })
                .collect(),
        }
    }

    /// Side of a code (0, [`LEFT_LUNG`] or [`RIGHT_LUNG`]).
    #[inline]
    pub fn side(code: u8) -> u8 {
        code & !INFECTED
    }

    /// True if the mean world x of the left lung exceeds the right lung's (RAS+:
    /// the patient's left is at smaller x).
    fn labels_look_swapped(&self) -> bool {
        let g = &self.geometry;
        let [nx, ny, _] = g.dims;
        if nx == 0 || ny == 0 {
            return false;
        }
        let a = g.affine[0];
        let mut sums = [(0.0f64, 0u64); 3];
        for (row, line) in self.codes.chunks_exact(nx).enumerate() {
            let base = a[1] * (row % ny) as f64 + a[2] * (row / ny) as f64 + a[3];
            for (i, &c) in line.iter().enumerate() {
                let s = Self::side(c) as usize;
                if s == 1 || s == 2 {
                    sums[s].0 += base + a[0] * i as f64;
                    sums[s].1 += 1;
                }
            }
        }
        sums[1].1 > 0
            && sums[2].1 > 0
            && sums[1].0 / sums[1].1 as f64 > sums[2].0 / sums[2].1 as f64
    }

    fn non_empty(self) -> Result<Self, AnalysisError> {
        if self.codes.iter().all(|&c| c == 0) {
            Err(AnalysisError::NoLung)
        } else {
            Ok(self)
        }
    }
}

fn check_len(what: &'static str, m: &LabelMask) -> Result<(), AnalysisError> {
    if m.labels.len() != m.geometry.len() {
        return Err(AnalysisError::SizeMismatch {
            what,
            expected: m.geometry.len(),
            found: m.labels.len(),
        });
    }
    Ok(())
}

/// Gives every infected region of `map` the side of the lung it touches most
/// (face neighbours), or, touching none, the side of the nearer lung centroid in
/// world x. Writes sided, infected codes; returns the voxels sided.
fn side_infection(map: &LabelMask, codes: &mut [u8], is_inf: impl Fn(u8) -> bool) -> u64 {
    let g = &map.geometry;
    let comps = Components::of(g.dims, &map.labels, Connectivity::Full26, &is_inf);
    if comps.count() == 0 {
        return 0;
    }
    let [nx, ny, nz] = g.dims;
    // touches[c] = (left, right) face contacts.
    let mut touches = vec![(0u64, 0u64); comps.count() + 1];
    for run in &comps.runs {
        let (j, k) = comps.row_jk(run.row);
        let t = &mut touches[run.component as usize];
        let mut look = |idx: usize| match map.labels[idx] {
            LEFT_LUNG => t.0 += 1,
            RIGHT_LUNG => t.1 += 1,
            _ => {}
        };
        let (s, e) = (run.start as usize, run.end as usize);
        if s > 0 {
            look(g.index(s - 1, j, k));
        }
        if e < nx {
            look(g.index(e, j, k));
        }
        for i in s..e {
            if j > 0 {
                look(g.index(i, j - 1, k));
            }
            if j + 1 < ny {
                look(g.index(i, j + 1, k));
            }
            if k > 0 {
                look(g.index(i, j, k - 1));
            }
            if k + 1 < nz {
                look(g.index(i, j, k + 1));
            }
        }
    }
    // World-x centroids of the lungs for regions that touch neither.
    let mut sums = [(0.0f64, 0u64); 3];
    for (idx, &c) in codes.iter().enumerate() {
        if c == LEFT_LUNG || c == RIGHT_LUNG {
            let x = g.vox2mm(voxel_of(g, idx))[0];
            sums[c as usize].0 += x;
            sums[c as usize].1 += 1;
        }
    }
    let mean = |s: (f64, u64)| s.0 / s.1.max(1) as f64;
    let midline = (mean(sums[1]) + mean(sums[2])) / 2.0;
    let left_is_low = mean(sums[1]) <= mean(sums[2]);
    let mut side = vec![BACKGROUND; comps.count() + 1];
    for c in 1..=comps.count() {
        let (l, r) = touches[c];
        side[c] = if l != r {
            if l > r { LEFT_LUNG } else { RIGHT_LUNG }
        } else {
            let centroid = comps.centroid_vox(c as u32).unwrap_or([0.0; 3]);
            let x = g.vox2mm(centroid)[0];
            if (x < midline) == left_is_low {
                LEFT_LUNG
            } else {
                RIGHT_LUNG
            }
        };
    }
    comps.paint(codes, |c| side[c as usize] | INFECTED);
    comps.total()
}

fn voxel_of(g: &Geometry, idx: usize) -> [f64; 3] {
    let [nx, ny, _] = g.dims;
    [
        (idx % nx) as f64,
        ((idx / nx) % ny) as f64,
        (idx / (nx * ny)) as f64,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::phantom::paint_box;

    fn grid() -> Geometry {
        Geometry::with_signs([20, 6, 6], [2.0; 3], [-1.0, -1.0, 1.0])
    }

    #[test]
    fn label_map_with_both_lungs_sides_infection_by_contact() {
        let g = grid();
        let mut l = vec![0u8; g.len()];
        // LPS: small i is the patient's right (world +x).
        paint_box(&g, &mut l, [1, 1, 1], [8, 5, 5], RIGHT_LUNG);
        paint_box(&g, &mut l, [12, 1, 1], [19, 5, 5], LEFT_LUNG);
        paint_box(&g, &mut l, [6, 2, 2], [8, 4, 4], INFECTION); // inside the right lung
        paint_box(&g, &mut l, [12, 2, 2], [13, 3, 3], 4); // ground-glass, left lung
        l[0] = 9; // unknown label
        let map = LabelMask::new(g, l).expect("size");
        let s = Segmentation::from_label_map(&map, &SplitOptions::default()).expect("lungs");
        let count = |code: u8| s.codes.iter().filter(|&&c| c == code).count();
        assert_eq!(count(RIGHT_LUNG | INFECTED), 8);
        assert_eq!(count(LEFT_LUNG | INFECTED), 1);
        assert_eq!(count(RIGHT_LUNG), 7 * 4 * 4 - 8);
        assert_eq!(count(LEFT_LUNG), 7 * 4 * 4 - 1);
        assert_eq!(s.notes.unknown_label_voxels, 1);
        assert_eq!(s.notes.infection_sided_voxels, 9);
        assert!(s.notes.split.is_none());
        assert!(!s.notes.lung_labels_look_swapped);
        let back = s.to_label_map();
        assert_eq!(back.histogram()[INFECTION as usize], 9);
    }

    #[test]
    fn swapped_lung_labels_are_noticed() {
        let g = grid();
        let mut l = vec![0u8; g.len()];
        // LPS: low i is the patient's right, but labelled left here.
        paint_box(&g, &mut l, [1, 1, 1], [8, 5, 5], LEFT_LUNG);
        paint_box(&g, &mut l, [12, 1, 1], [19, 5, 5], RIGHT_LUNG);
        let map = LabelMask::new(g, l).expect("size");
        let s = Segmentation::from_label_map(&map, &SplitOptions::default()).expect("lungs");
        assert!(s.notes.lung_labels_look_swapped);
    }

    #[test]
    fn single_label_maps_are_split() {
        let g = grid();
        let mut l = vec![0u8; g.len()];
        paint_box(&g, &mut l, [1, 1, 1], [8, 5, 5], LEFT_LUNG);
        paint_box(&g, &mut l, [12, 1, 1], [19, 5, 5], LEFT_LUNG);
        paint_box(&g, &mut l, [2, 2, 2], [3, 3, 3], INFECTION);
        let map = LabelMask::new(g.clone(), l).expect("size");
        let s = Segmentation::from_label_map(&map, &SplitOptions::default()).expect("lungs");
        assert!(s.notes.split.is_some());
        // i = 2 is on the patient's right in LPS.
        assert_eq!(s.codes[g.index(2, 2, 2)], RIGHT_LUNG | INFECTED);
        assert_eq!(s.codes[g.index(15, 2, 2)], LEFT_LUNG);
    }

    #[test]
    fn separate_masks_count_infection_inside_the_lung_only() {
        let g = grid();
        let mut lung = vec![0u8; g.len()];
        paint_box(&g, &mut lung, [1, 1, 1], [8, 5, 5], 1);
        paint_box(&g, &mut lung, [12, 1, 1], [19, 5, 5], 1);
        let mut inf = vec![0u8; g.len()];
        paint_box(&g, &mut inf, [6, 1, 1], [10, 2, 2], 1); // i 6,7 inside, 8,9 outside
        let lung = LabelMask::new(g.clone(), lung).expect("size");
        let inf = LabelMask::new(g.clone(), inf).expect("size");
        let s = Segmentation::from_masks(&lung, &inf, &SplitOptions::default()).expect("lungs");
        assert_eq!(s.notes.infection_outside_lung_voxels, 2);
        assert_eq!(s.codes.iter().filter(|&&c| c & INFECTED != 0).count(), 2);
        let other = LabelMask::empty(Geometry::with_signs([20, 6, 5], [2.0; 3], [1.0; 3]));
        assert!(matches!(
            Segmentation::from_masks(&lung, &other, &SplitOptions::default()),
            Err(AnalysisError::GridMismatch { .. })
        ));
        let empty = LabelMask::empty(g);
        assert_eq!(
            Segmentation::from_masks(&empty, &inf, &SplitOptions::default()),
            Err(AnalysisError::NoLung)
        );
    }
}
