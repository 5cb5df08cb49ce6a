//! Paint brush and eraser with a radius in millimetres, optionally limited to an
//! HU interval (threshold painting, Slicer's "editable intensity range").

use crate::mask::{INFECTION, LEFT_LUNG, LabelMask, RIGHT_LUNG};
use crate::volume::{SliceMap, View, Volume};
use serde::{Deserialize, Serialize};

/// What a dab does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BrushMode {
    /// Set voxels to the brush's label.
    Paint,
    /// Remove the brush's label: infection becomes the lung it lies in, other
    /// labels become background.
    Erase,
}

/// A circular brush.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Brush {
    /// Radius in mm in the slice plane (voxel spacing respected per axis).
    pub radius_mm: f64,
    /// The label painted or erased.
    pub label: u8,
    /// Paint or erase.
    pub mode: BrushMode,
    /// Paint only voxels whose HU lies in `[low, high]`.
    pub hu_range: Option<(f32, f32)>,
}

impl Brush {
    /// Smallest and largest radius the UI allows (mm).
    pub const RADIUS_RANGE: (f64, f64) = (0.5, 100.0);

    /// The radius in display pixels along columns and rows for a view's pixel size:
    /// an ellipse in pixels when the spacing is anisotropic.
    pub fn radius_px(&self, pixel_mm: [f64; 2]) -> [f64; 2] {
        [
            self.radius_mm / pixel_mm[0].max(1e-9),
            self.radius_mm / pixel_mm[1].max(1e-9),
        ]
    }

    /// Voxel changes `(linear index, new label)` of one dab centred at display
    /// pixel `center` (fractional `(col, row)`) of `slice` in `view`.
    pub fn dab(
        &self,
        mask: &LabelMask,
        volume: Option<&Volume>,
        view: View,
        slice: usize,
        center: [f64; 2],
    ) -> Vec<(usize, u8)> {
        let g = &mask.geometry;
        let map = SliceMap::new(g, view);
        if slice >= map.depth {
            return Vec::new();
        }
        let [rx, ry] = self.radius_px(map.pixel_mm(g));
        let c0 = (center[0] - rx).floor().max(0.0) as usize;
        let c1 = ((center[0] + rx).ceil() as usize).min(map.width.saturating_sub(1));
        let r0 = (center[1] - ry).floor().max(0.0) as usize;
        let r1 = ((center[1] + ry).ceil() as usize).min(map.height.saturating_sub(1));
        if center[0] + rx < 0.0 || center[1] + ry < 0.0 {
            return Vec::new();
        }
        let erase_side = match (self.mode, self.label) {
            (BrushMode::Erase, INFECTION) => Some(LungSides::of_slice(mask, &map, slice)),
            _ => None,
        };
        let mut out = Vec::new();
        for row in r0..=r1 {
            for col in c0..=c1 {
                // pixel centres inside the ellipse
                let dx = (col as f64 - center[0]) / rx.max(1e-9);
                let dy = (row as f64 - center[1]) / ry.max(1e-9);
                if dx * dx + dy * dy > 1.0 {
                    continue;
                }
                let v = map.voxel(col, row, slice);
                let idx = g.index(v[0], v[1], v[2]);
                match self.mode {
                    BrushMode::Paint => {
                        if let (Some((lo, hi)), Some(vol)) = (self.hu_range, volume) {
                            let hu = vol.voxels.get(idx);
                            if hu < lo || hu > hi {
                                continue;
                            }
                        }
                        out.push((idx, self.label));
                    }
                    BrushMode::Erase => {
                        if mask.labels[idx] == self.label {
                            let under = erase_side
                                .as_ref()
                                .map_or(0, |s| s.lung_at(g.vox2mm(v.map(|x| x as f64))[0]));
                            out.push((idx, under));
                        }
                    }
                }
            }
        }
        out
    }

    /// Dab centres from `from` to `to` (display pixels), spaced a third of the
    /// radius apart, so a fast drag leaves a continuous stroke.
    pub fn segment(&self, from: [f64; 2], to: [f64; 2], pixel_mm: [f64; 2]) -> Vec<[f64; 2]> {
        let [rx, ry] = self.radius_px(pixel_mm);
        let step = (rx.min(ry) / 3.0).max(0.5);
        let (dx, dy) = (to[0] - from[0], to[1] - from[1]);
        let n = ((dx * dx + dy * dy).sqrt() / step).ceil().max(1.0) as usize;
        (1..=n)
            .map(|i| {
                let t = i as f64 / n as f64;
                [from[0] + dx * t, from[1] + dy * t]
            })
            .collect()
    }
}

/// World-x centroids of the left and right lung labels in one slice, to decide
/// which lung an erased infection voxel belongs to.
struct LungSides {
    left_x: Option<f64>,
    right_x: Option<f64>,
}

impl LungSides {
    fn of_slice(mask: &LabelMask, map: &SliceMap, slice: usize) -> Self {
        let g = &mask.geometry;
        let (mut sl, mut nl, mut sr, mut nr) = (0.0, 0usize, 0.0, 0usize);
        for row in 0..map.height {
            for col in 0..map.width {
                let v = map.voxel(col, row, slice);
                let l = mask.labels[g.index(v[0], v[1], v[2])];
                if l == LEFT_LUNG || l == RIGHT_LUNG {
                    let x = g.vox2mm(v.map(|c| c as f64))[0];
                    if l == LEFT_LUNG {
                        sl += x;
                        nl += 1;
                    } else {
                        sr += x;
                        nr += 1;
                    }
                }
            }
        }
        Self {
            left_x: (nl > 0).then(|| sl / nl as f64),
            right_x: (nr > 0).then(|| sr / nr as f64),
        }
    }

    /// The lung label nearest in world x, or background when the slice has no lung.
    fn lung_at(&self, x: f64) -> u8 {
        match (self.left_x, self.right_x) {
            (Some(l), Some(r)) => {
                if (x - l).abs() <= (x - r).abs() {
                    LEFT_LUNG
                } else {
                    RIGHT_LUNG
                }
            }
            (Some(_), None) => LEFT_LUNG,
            (None, Some(_)) => RIGHT_LUNG,
            (None, None) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Geometry, Voxels};

    fn mask(spacing: [f64; 3]) -> LabelMask {
        LabelMask::empty(Geometry::with_signs(
            [41, 41, 5],
            spacing,
            [-1.0, -1.0, 1.0],
        ))
    }

    #[test]
    fn radius_in_mm_respects_anisotropic_spacing() {
        // 0.5 mm columns, 2 mm rows: a 4 mm brush spans 8 px across, 2 px down.
        let m = mask([0.5, 2.0, 1.0]);
        let b = Brush {
            radius_mm: 4.0,
            label: 3,
            mode: BrushMode::Paint,
            hu_range: None,
        };
        let d = b.dab(&m, None, View::Axial, 2, [20.0, 20.0]);
        let cols: Vec<usize> = d.iter().map(|(i, _)| i % 41).collect();
        let rows: Vec<usize> = d.iter().map(|(i, _)| (i / 41) % 41).collect();
        assert_eq!(cols.iter().min(), Some(&12));
        assert_eq!(cols.iter().max(), Some(&28));
        assert_eq!(rows.iter().min(), Some(&18));
        assert_eq!(rows.iter().max(), Some(&22));
        // every changed voxel lies within 4 mm of the centre, in the slice
        for (i, l) in &d {
            assert_eq!(*l, 3);
            assert_eq!(i / (41 * 41), 2);
            let (c, r) = ((i % 41) as f64, ((i / 41) % 41) as f64);
            let mm = (((c - 20.0) * 0.5).powi(2) + ((r - 20.0) * 2.0).powi(2)).sqrt();
            assert!(mm <= 4.0 + 1e-9, "{mm}");
        }
    }

    #[test]
    fn threshold_painting_skips_voxels_outside_the_hu_range() {
        let m = mask([1.0; 3]);
        let n = m.geometry.len();
        let hu: Vec<i16> = (0..n)
            .map(|i| if i % 41 < 20 { -800 } else { 40 })
            .collect();
        let vol = Volume::new(m.geometry.clone(), Voxels::I16(hu)).expect("sizes");
        let b = Brush {
            radius_mm: 5.0,
            label: 3,
            mode: BrushMode::Paint,
            hu_range: Some((-1000.0, -500.0)),
        };
        let d = b.dab(&m, Some(&vol), View::Axial, 0, [20.0, 20.0]);
        assert!(!d.is_empty());
        assert!(d.iter().all(|(i, _)| i % 41 < 20));
    }

    #[test]
    fn erasing_infection_restores_the_lung_it_lies_in() {
        let mut m = mask([1.0; 3]);
        let g = m.geometry.clone();
        // LPS grid: i increases towards patient left. Left lung at high i.
        for j in 10..30 {
            for i in 5..15 {
                m.labels[g.index(i, j, 0)] = RIGHT_LUNG;
            }
            for i in 26..36 {
                m.labels[g.index(i, j, 0)] = LEFT_LUNG;
            }
        }
        for j in 18..22 {
            for i in 8..12 {
                m.labels[g.index(i, j, 0)] = INFECTION;
            }
            for i in 28..32 {
                m.labels[g.index(i, j, 0)] = INFECTION;
            }
        }
        let b = Brush {
            radius_mm: 40.0,
            label: INFECTION,
            mode: BrushMode::Erase,
            hu_range: None,
        };
        let d = b.dab(&m, None, View::Axial, 0, [20.0, 20.0]);
        assert_eq!(d.len(), 32);
        for (idx, l) in d {
            let i = idx % 41;
            assert_eq!(l, if i < 20 { RIGHT_LUNG } else { LEFT_LUNG });
        }
    }

    #[test]
    fn segment_spacing_leaves_no_gaps() {
        let b = Brush {
            radius_mm: 3.0,
            label: 1,
            mode: BrushMode::Paint,
            hu_range: None,
        };
        let pts = b.segment([0.0, 0.0], [30.0, 0.0], [1.0, 1.0]);
        assert_eq!(pts.last(), Some(&[30.0, 0.0]));
        for w in pts.windows(2) {
            assert!((w[1][0] - w[0][0]).abs() <= 1.0 + 1e-9);
        }
    }
}
