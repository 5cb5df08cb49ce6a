//! Voxel grid geometry: dimensions, spacing and the voxel → millimetre affine.
//!
//! World coordinates follow the NIfTI convention (RAS+): x increases towards the
//! patient's Right, y towards Anterior, z towards Superior. Orientation codes name the
//! direction in which each voxel index increases (`"LPS"`: i towards Left, j towards
//! Posterior, k towards Superior), as nibabel's `aff2axcodes` does.

use serde::{Deserialize, Serialize};

/// A 4×4 affine matrix, row-major, mapping voxel indices `(i, j, k, 1)` to world
/// millimetres `(x, y, z, 1)` in NIfTI RAS+ space.
pub type Affine = [[f64; 4]; 4];

/// The identity affine.
pub const IDENTITY: Affine = [
    [1.0, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 0.0],
    [0.0, 0.0, 0.0, 1.0],
];

/// The grid of a volume: how many voxels, how large, and where they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Geometry {
    /// Number of voxels along the three storage axes `i, j, k` (`i` varies fastest).
    pub dims: [usize; 3],
    /// Voxel size in millimetres along `i, j, k` (always positive).
    pub spacing: [f64; 3],
    /// Voxel → world (RAS+, mm) transform.
    pub affine: Affine,
}

impl Geometry {
    /// A grid with the given dimensions and spacing and an affine that scales by the
    /// spacing with the given per-axis signs (e.g. `[-1, -1, 1]` for an `LPS` grid),
    /// centred on the world origin.
    pub fn with_signs(dims: [usize; 3], spacing: [f64; 3], signs: [f64; 3]) -> Self {
        let mut affine = IDENTITY;
        for a in 0..3 {
            affine[a][a] = spacing[a] * signs[a].signum();
            affine[a][3] = -affine[a][a] * (dims[a] as f64 - 1.0) / 2.0;
        }
        Self {
            dims,
            spacing,
            affine,
        }
    }

    /// A grid from an affine; the spacing is the length of each affine column.
    pub fn from_affine(dims: [usize; 3], affine: Affine) -> Self {
        let spacing = column_norms(&affine);
        Self {
            dims,
            spacing,
            affine,
        }
    }

    /// Total number of voxels.
    pub fn len(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dims[2]
    }

    /// True if the grid holds no voxel.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Linear index of voxel `(i, j, k)` in column-major (NIfTI) order.
    #[inline]
    pub fn index(&self, i: usize, j: usize, k: usize) -> usize {
        i + self.dims[0] * (j + self.dims[1] * k)
    }

    /// Voxel volume in millilitres (cm³).
    pub fn voxel_ml(&self) -> f64 {
        self.spacing[0] * self.spacing[1] * self.spacing[2] / 1000.0
    }

    /// World position (mm, RAS+) of a (possibly fractional) voxel index.
    pub fn vox2mm(&self, v: [f64; 3]) -> [f64; 3] {
        apply(&self.affine, v)
    }

    /// Voxel index (fractional) of a world position; `None` if the affine is singular.
    pub fn mm2vox(&self, p: [f64; 3]) -> Option<[f64; 3]> {
        invert(&self.affine).map(|inv| apply(&inv, p))
    }

    /// Orientation of the storage axes, e.g. `['L', 'P', 'S']`: the anatomical
    /// direction each of `i`, `j`, `k` increases towards (nibabel's `aff2axcodes`).
    pub fn axcodes(&self) -> [char; 3] {
        let o = self.orientation();
        [o[0].code(), o[1].code(), o[2].code()]
    }

    /// [`Self::axcodes`] as a string such as `"LPS"`.
    pub fn orientation_string(&self) -> String {
        self.axcodes().iter().collect()
    }

    /// For each storage axis, the world axis closest to it and its direction.
    ///
    /// Oblique grids are approximated by the closest orthogonal orientation (as
    /// viewers that show slices without reslicing do). Each world axis is used once.
    pub fn orientation(&self) -> [AxisDir; 3] {
        let m = &self.affine;
        // Greedy assignment on the largest absolute normalised component.
        let mut cols = [[0.0f64; 3]; 3];
        for (a, col) in cols.iter_mut().enumerate() {
            let n = (0..3).map(|r| m[r][a] * m[r][a]).sum::<f64>().sqrt();
            for r in 0..3 {
                col[r] = if n > 0.0 { m[r][a] / n } else { 0.0 };
            }
        }
        let mut used_world = [false; 3];
        let mut used_axis = [false; 3];
        let mut out = [AxisDir {
            world: 0,
            positive: true,
        }; 3];
        for _ in 0..3 {
            let mut best = (0usize, 0usize, -1.0f64);
            for (a, col) in cols.iter().enumerate() {
                if used_axis[a] {
                    continue;
                }
                for (w, &c) in col.iter().enumerate() {
                    if !used_world[w] && c.abs() > best.2 {
                        best = (a, w, c.abs());
                    }
                }
            }
            let (a, w, _) = best;
            used_axis[a] = true;
            used_world[w] = true;
            out[a] = AxisDir {
                world: w,
                positive: cols[a][w] >= 0.0,
            };
        }
        out
    }

    /// True if `other` describes the same voxel grid (dims equal, affines equal to
    /// within a small tolerance of the voxel size).
    pub fn same_grid(&self, other: &Geometry) -> bool {
        if self.dims != other.dims {
            return false;
        }
        let tol = 1e-3 * self.spacing.iter().cloned().fold(1.0, f64::min).max(1e-6);
        for r in 0..3 {
            for c in 0..4 {
                if (self.affine[r][c] - other.affine[r][c]).abs() > tol.max(1e-4) {
                    return false;
                }
            }
        }
        true
    }
}

/// Direction of one storage axis in world space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AxisDir {
    /// World axis: 0 = x (left/right), 1 = y (posterior/anterior), 2 = z (inferior/superior).
    pub world: usize,
    /// True if the index increases towards +world (R, A or S).
    pub positive: bool,
}

impl AxisDir {
    /// The anatomical letter this axis increases towards.
    pub fn code(&self) -> char {
        match (self.world, self.positive) {
            (0, true) => 'R',
            (0, false) => 'L',
            (1, true) => 'A',
            (1, false) => 'P',
            (2, true) => 'S',
            _ => 'I',
        }
    }
}

fn column_norms(m: &Affine) -> [f64; 3] {
    let mut s = [0.0; 3];
    for (a, v) in s.iter_mut().enumerate() {
        *v = (0..3).map(|r| m[r][a] * m[r][a]).sum::<f64>().sqrt();
    }
    s
}

/// Apply an affine to a point.
pub fn apply(m: &Affine, v: [f64; 3]) -> [f64; 3] {
    let mut out = [0.0; 3];
    for (r, o) in out.iter_mut().enumerate() {
        *o = m[r][0] * v[0] + m[r][1] * v[1] + m[r][2] * v[2] + m[r][3];
    }
    out
}

/// Inverse of an affine (3×3 part inverted, translation adjusted); `None` if singular.
pub fn invert(m: &Affine) -> Option<Affine> {
    let a = |r: usize, c: usize| m[r][c];
    let det = a(0, 0) * (a(1, 1) * a(2, 2) - a(1, 2) * a(2, 1))
        - a(0, 1) * (a(1, 0) * a(2, 2) - a(1, 2) * a(2, 0))
        + a(0, 2) * (a(1, 0) * a(2, 1) - a(1, 1) * a(2, 0));
    if !det.is_finite() || det.abs() < 1e-12 {
        return None;
    }
    let inv_det = 1.0 / det;
    let mut r = IDENTITY;
    r[0][0] = (a(1, 1) * a(2, 2) - a(1, 2) * a(2, 1)) * inv_det;
    r[0][1] = (a(0, 2) * a(2, 1) - a(0, 1) * a(2, 2)) * inv_det;
    r[0][2] = (a(0, 1) * a(1, 2) - a(0, 2) * a(1, 1)) * inv_det;
    r[1][0] = (a(1, 2) * a(2, 0) - a(1, 0) * a(2, 2)) * inv_det;
    r[1][1] = (a(0, 0) * a(2, 2) - a(0, 2) * a(2, 0)) * inv_det;
    r[1][2] = (a(0, 2) * a(1, 0) - a(0, 0) * a(1, 2)) * inv_det;
    r[2][0] = (a(1, 0) * a(2, 1) - a(1, 1) * a(2, 0)) * inv_det;
    r[2][1] = (a(0, 1) * a(2, 0) - a(0, 0) * a(2, 1)) * inv_det;
    r[2][2] = (a(0, 0) * a(1, 1) - a(0, 1) * a(1, 0)) * inv_det;
    for row in r.iter_mut().take(3) {
        row[3] = -(row[0] * m[0][3] + row[1] * m[1][3] + row[2] * m[2][3]);
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axcodes_match_nibabel_convention() {
        let g = Geometry::with_signs([4, 5, 6], [1.4, 1.4, 1.0], [-1.0, -1.0, 1.0]);
        assert_eq!(g.orientation_string(), "LPS");
        let g = Geometry::with_signs([4, 5, 6], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]);
        assert_eq!(g.orientation_string(), "RAS");
    }

    #[test]
    fn permuted_axes_are_detected() {
        // i -> -z (I), j -> +x (R), k -> -y (P)
        let mut m = [[0.0; 4]; 4];
        m[2][0] = -2.0;
        m[0][1] = 0.5;
        m[1][2] = -3.0;
        m[3][3] = 1.0;
        let g = Geometry::from_affine([3, 3, 3], m);
        assert_eq!(g.orientation_string(), "IRP");
        assert_eq!(g.spacing, [2.0, 0.5, 3.0]);
    }

    #[test]
    fn vox2mm_and_mm2vox_are_inverse() {
        let mut m = [[0.0; 4]; 4];
        m[0] = [0.9, 0.1, 0.0, -10.0];
        m[1] = [-0.1, 0.8, 0.05, 20.0];
        m[2] = [0.0, 0.02, 2.5, 30.0];
        m[3][3] = 1.0;
        let g = Geometry::from_affine([10, 10, 10], m);
        let p = g.vox2mm([3.0, 4.5, 7.0]);
        let v = g.mm2vox(p).expect("invertible");
        for a in 0..3 {
            assert!((v[a] - [3.0, 4.5, 7.0][a]).abs() < 1e-9);
        }
    }

    #[test]
    fn singular_affine_has_no_inverse() {
        let mut m = IDENTITY;
        m[2][2] = 0.0;
        assert!(invert(&m).is_none());
    }
}
