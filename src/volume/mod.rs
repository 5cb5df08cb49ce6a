//! The CT volume: voxels in Hounsfield units on a grid with a known geometry.

pub mod geometry;
pub mod hu;
pub mod region;
pub mod slicing;

pub use geometry::{Affine, AxisDir, Geometry};
pub use hu::{HuCheck, IntensityStats};
pub use region::Region;
pub use slicing::{Slice, SliceMap, View};

use std::path::PathBuf;

/// Voxel storage, column-major (`i` fastest). Values are Hounsfield units (or the
/// file's scaled intensity when it is not a CT), already scaled by `scl_slope` /
/// `scl_inter`.
#[derive(Debug, Clone, PartialEq)]
pub enum Voxels {
    /// Integer HU (the common case: int16 CT, or any integer data that fits).
    I16(Vec<i16>),
    /// Non-integer or out-of-range values.
    F32(Vec<f32>),
}

impl Voxels {
    /// Number of voxels.
    pub fn len(&self) -> usize {
        match self {
            Voxels::I16(v) => v.len(),
            Voxels::F32(v) => v.len(),
        }
    }

    /// True if there are no voxels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value of voxel number `idx` as `f32`.
    #[inline]
    pub fn get(&self, idx: usize) -> f32 {
        match self {
            Voxels::I16(v) => v[idx] as f32,
            Voxels::F32(v) => v[idx],
        }
    }

    /// Bytes used by the voxel buffer.
    pub fn byte_len(&self) -> usize {
        match self {
            Voxels::I16(v) => v.len() * 2,
            Voxels::F32(v) => v.len() * 4,
        }
    }

    /// Name of the storage type.
    pub fn storage_name(&self) -> &'static str {
        match self {
            Voxels::I16(_) => "int16",
            Voxels::F32(_) => "float32",
        }
    }
}

/// Where a volume came from and what was noticed while reading it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VolumeInfo {
    /// The file it was read from, if any.
    pub path: Option<PathBuf>,
    /// The on-disk data type (e.g. `"uint8"`, `"int16"`).
    pub file_datatype: String,
    /// The file's description field.
    pub description: String,
    /// Non-fatal problems found while reading (NaN voxels replaced, extra volumes
    /// ignored, suspicious spacing, ...).
    pub warnings: Vec<String>,
    /// The file's NIfTI header, kept so that masks can be written with the same
    /// geometry fields (qform/sform codes, pixdim, units).
    pub header: Option<Box<nifti::NiftiHeader>>,
}

/// A 3-D scalar image in Hounsfield units.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// Grid geometry.
    pub geometry: Geometry,
    /// Voxel values.
    pub voxels: Voxels,
    /// Provenance.
    pub info: VolumeInfo,
}

impl Volume {
    /// A volume from a geometry and voxels; the voxel count must match the grid.
    pub fn new(geometry: Geometry, voxels: Voxels) -> Result<Self, VolumeError> {
        if voxels.len() != geometry.len() {
            return Err(VolumeError::SizeMismatch {
                expected: geometry.len(),
                found: voxels.len(),
            });
        }
        Ok(Self {
            geometry,
            voxels,
            info: VolumeInfo::default(),
        })
    }

    /// Grid dimensions `(i, j, k)`.
    pub fn dims(&self) -> [usize; 3] {
        self.geometry.dims
    }

    /// HU at voxel `(i, j, k)`.
    #[inline]
    pub fn hu(&self, i: usize, j: usize, k: usize) -> f32 {
        self.voxels.get(self.geometry.index(i, j, k))
    }

    /// The display-oriented map of `view`.
    pub fn slice_map(&self, view: View) -> SliceMap {
        SliceMap::new(&self.geometry, view)
    }

    /// Number of slices in `view`.
    pub fn slice_count(&self, view: View) -> usize {
        self.slice_map(view).depth
    }

    /// One slice in display orientation as HU floats. `index` is clamped to the
    /// valid range.
    pub fn slice(&self, view: View, index: usize) -> Slice<f32> {
        let map = self.slice_map(view);
        let index = index.min(map.depth.saturating_sub(1));
        let data = match &self.voxels {
            Voxels::I16(v) => map
                .extract(self.geometry.dims, v, index)
                .into_iter()
                .map(f32::from)
                .collect(),
            Voxels::F32(v) => map.extract(self.geometry.dims, v, index),
        };
        Slice {
            width: map.width,
            height: map.height,
            pixel_mm: map.pixel_mm(&self.geometry),
            data,
        }
    }

    /// Intensity statistics (min, max, robust 2–98 % range).
    pub fn stats(&self) -> IntensityStats {
        IntensityStats::compute(&self.voxels)
    }

    /// Whether the intensities look like measured Hounsfield units.
    pub fn hu_check(&self) -> HuCheck {
        HuCheck::assess(self)
    }
}

/// Errors building volumes and masks.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VolumeError {
    /// Voxel count differs from the grid size.
    #[error("voxel count {found} does not match the grid ({expected} voxels)")]
    SizeMismatch {
        /// Voxels the grid needs.
        expected: usize,
        /// Voxels given.
        found: usize,
    },
    /// A mask's grid differs from the volume's.
    #[error("mask grid {mask:?} does not match the volume grid {volume:?} (dims or affine differ)")]
    GridMismatch {
        /// Volume dims.
        volume: [usize; 3],
        /// Mask dims.
        mask: [usize; 3],
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_voxel_count() {
        let g = Geometry::with_signs([2, 2, 2], [1.0; 3], [1.0; 3]);
        assert!(Volume::new(g.clone(), Voxels::I16(vec![0; 8])).is_ok());
        assert_eq!(
            Volume::new(g, Voxels::I16(vec![0; 7])),
            Err(VolumeError::SizeMismatch {
                expected: 8,
                found: 7
            })
        );
    }

    #[test]
    fn slice_returns_display_oriented_hu() {
        let g = Geometry::with_signs([3, 2, 1], [1.0; 3], [-1.0, -1.0, 1.0]);
        let v = Volume::new(g, Voxels::I16((0..6).collect())).expect("valid");
        let s = v.slice(View::Axial, 0);
        assert_eq!((s.width, s.height), (3, 2));
        assert_eq!(s.data, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }
}
