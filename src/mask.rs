//! Label masks: one `u8` label per voxel on the grid of a volume.

use crate::volume::{Geometry, Slice, SliceMap, View, VolumeError};
use serde::{Deserialize, Serialize};

/// Background.
pub const BACKGROUND: u8 = 0;
/// Left lung (Zenodo `Lung_and_Infection_Mask` convention).
pub const LEFT_LUNG: u8 = 1;
/// Right lung.
pub const RIGHT_LUNG: u8 = 2;
/// COVID-19 infection (ground-glass and consolidation).
pub const INFECTION: u8 = 3;

/// A label volume on a grid.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelMask {
    /// The grid (equal to the volume's).
    pub geometry: Geometry,
    /// Column-major labels.
    pub labels: Vec<u8>,
}

impl LabelMask {
    /// An all-background mask on `geometry`.
    pub fn empty(geometry: Geometry) -> Self {
        let n = geometry.len();
        Self {
            geometry,
            labels: vec![BACKGROUND; n],
        }
    }

    /// A mask from labels; the count must match the grid.
    pub fn new(geometry: Geometry, labels: Vec<u8>) -> Result<Self, VolumeError> {
        if labels.len() != geometry.len() {
            return Err(VolumeError::SizeMismatch {
                expected: geometry.len(),
                found: labels.len(),
            });
        }
        Ok(Self { geometry, labels })
    }

    /// Checks that this mask lies on `grid`.
    pub fn check_grid(&self, grid: &Geometry) -> Result<(), VolumeError> {
        if self.geometry.same_grid(grid) {
            Ok(())
        } else {
            Err(VolumeError::GridMismatch {
                volume: grid.dims,
                mask: self.geometry.dims,
            })
        }
    }

    /// Label at voxel `(i, j, k)`.
    #[inline]
    pub fn get(&self, i: usize, j: usize, k: usize) -> u8 {
        self.labels[self.geometry.index(i, j, k)]
    }

    /// One slice in display orientation.
    pub fn slice(&self, view: View, index: usize) -> Slice<u8> {
        let map = SliceMap::new(&self.geometry, view);
        let index = index.min(map.depth.saturating_sub(1));
        Slice {
            width: map.width,
            height: map.height,
            pixel_mm: map.pixel_mm(&self.geometry),
            data: map.extract(self.geometry.dims, &self.labels, index),
        }
    }

    /// Number of voxels per label value (index = label).
    pub fn histogram(&self) -> [u64; 256] {
        let mut h = [0u64; 256];
        for &l in &self.labels {
            h[l as usize] += 1;
        }
        h
    }

    /// Sorted distinct labels present, background excluded.
    pub fn labels_present(&self) -> Vec<u8> {
        let h = self.histogram();
        (1..=255u8).filter(|&l| h[l as usize] > 0).collect()
    }

    /// Combines a lung mask (any non-zero = lung, or 1/2 = left/right) and an
    /// infection mask (non-zero = infection) into the standard label map:
    /// 1 left lung, 2 right lung, 3 infection. Infection is kept where marked, inside
    /// or outside the lung, as the annotators drew it.
    pub fn combine(lung: &LabelMask, infection: &LabelMask) -> Result<Self, VolumeError> {
        infection.check_grid(&lung.geometry)?;
        let labels = lung
            .labels
            .iter()
            .zip(&infection.labels)
            .map(|(&l, &inf)| {
                if inf != 0 {
                    INFECTION
                } else if l == RIGHT_LUNG {
                    RIGHT_LUNG
                } else if l != 0 {
                    LEFT_LUNG
                } else {
                    BACKGROUND
                }
            })
            .collect();
        Ok(Self {
            geometry: lung.geometry.clone(),
            labels,
        })
    }
}

/// A named label with a display colour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelInfo {
    /// Label value in the mask.
    pub value: u8,
    /// Display name.
    pub name: String,
    /// RGBA colour (straight alpha).
    pub color: [u8; 4],
}

/// The table of known labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelTable {
    /// Labels in display order.
    pub labels: Vec<LabelInfo>,
}

impl Default for LabelTable {
    fn default() -> Self {
        let l = |value, name: &str, color| LabelInfo {
            value,
            name: name.to_string(),
            color,
        };
        Self {
            labels: vec![
                l(LEFT_LUNG, "Left lung", [64, 160, 255, 255]),
                l(RIGHT_LUNG, "Right lung", [80, 220, 120, 255]),
                l(INFECTION, "Infection", [255, 70, 50, 255]),
                l(4, "Ground-glass", [255, 200, 40, 255]),
                l(5, "Consolidation", [200, 60, 255, 255]),
            ],
        }
    }
}

impl LabelTable {
    /// The entry for a label value, if named.
    pub fn get(&self, value: u8) -> Option<&LabelInfo> {
        self.labels.iter().find(|l| l.value == value)
    }

    /// A 256-entry RGBA lookup table (unnamed labels get a generated colour,
    /// background is transparent).
    pub fn lut(&self) -> Vec<[u8; 4]> {
        (0..=255u8)
            .map(|v| {
                if v == 0 {
                    [0, 0, 0, 0]
                } else if let Some(l) = self.get(v) {
                    l.color
                } else {
                    let h = u32::from(v).wrapping_mul(2_654_435_761);
                    [(h >> 24) as u8, (h >> 16) as u8, (h >> 8) as u8, 255]
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combine_follows_zenodo_convention() {
        let g = Geometry::with_signs([4, 1, 1], [1.0; 3], [1.0; 3]);
        let lung = LabelMask::new(g.clone(), vec![0, 1, 2, 1]).expect("size");
        let inf = LabelMask::new(g, vec![0, 0, 1, 1]).expect("size");
        let c = LabelMask::combine(&lung, &inf).expect("same grid");
        assert_eq!(c.labels, vec![0, 1, 3, 3]);
    }

    #[test]
    fn grid_mismatch_is_reported() {
        let a = LabelMask::empty(Geometry::with_signs([4, 1, 1], [1.0; 3], [1.0; 3]));
        let b = LabelMask::empty(Geometry::with_signs([3, 1, 1], [1.0; 3], [1.0; 3]));
        assert!(matches!(
            a.check_grid(&b.geometry),
            Err(VolumeError::GridMismatch { .. })
        ));
    }

    #[test]
    fn lut_has_transparent_background() {
        let lut = LabelTable::default().lut();
        assert_eq!(lut.len(), 256);
        assert_eq!(lut[0][3], 0);
        assert_eq!(lut[3], [255, 70, 50, 255]);
    }
}
