//! Generated phantoms: label maps and CT-like volumes made of ellipsoids and boxes
//! in world millimetres, for exact tests, benchmarks and demonstrations.

use crate::volume::Geometry;

/// An axis-aligned ellipsoid in world millimetres (RAS+).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ellipsoid {
    /// Centre (mm).
    pub center_mm: [f64; 3],
    /// Semi-axes along world x, y, z (mm).
    pub radii_mm: [f64; 3],
}

impl Ellipsoid {
    /// An ellipsoid from its centre and semi-axes.
    pub fn new(center_mm: [f64; 3], radii_mm: [f64; 3]) -> Self {
        Self {
            center_mm,
            radii_mm,
        }
    }

    /// True if the world point `p` lies inside (or on) the ellipsoid.
    pub fn contains(&self, p: [f64; 3]) -> bool {
        (0..3)
            .map(|a| ((p[a] - self.center_mm[a]) / self.radii_mm[a]).powi(2))
            .sum::<f64>()
            <= 1.0
    }
}

/// A column-major label volume on `geometry` with each ellipsoid painted in its
/// label, later entries over earlier ones (voxel centres decide).
pub fn paint_ellipsoids(geometry: &Geometry, shapes: &[(Ellipsoid, u8)]) -> Vec<u8> {
    let [nx, ny, nz] = geometry.dims;
    let mut out = vec![0u8; geometry.len()];
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let p = geometry.vox2mm([i as f64, j as f64, k as f64]);
                for (e, label) in shapes {
                    if e.contains(p) {
                        out[geometry.index(i, j, k)] = *label;
                    }
                }
            }
        }
    }
    out
}

/// Sets `label` on the voxel box `lo..hi` (exclusive upper corner, storage indices).
pub fn paint_box(
    geometry: &Geometry,
    labels: &mut [u8],
    lo: [usize; 3],
    hi: [usize; 3],
    label: u8,
) {
    for k in lo[2]..hi[2].min(geometry.dims[2]) {
        for j in lo[1]..hi[1].min(geometry.dims[1]) {
            let base = geometry.index(0, j, k);
            labels[base + lo[0]..base + hi[0].min(geometry.dims[0])].fill(label);
        }
    }
}
