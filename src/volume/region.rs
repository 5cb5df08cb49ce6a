//! [`Region`]: a box of voxels on a grid, in storage coordinates. The one box type
//! of the crate: what an edit touched, a slice of segmentation preview, a part of
//! a mask layer to recomposite and upload to the GPU.

/// A box of voxels: `origin` and `size` along the storage axes `i, j, k`.
///
/// Voxel data "of a box" are in storage order, `i` fastest (as in
/// [`Region::for_each`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First voxel.
    pub origin: [usize; 3],
    /// Extent (each > 0 for a non-empty box).
    pub size: [usize; 3],
}

impl Region {
    /// The whole grid.
    pub fn all(dims: [usize; 3]) -> Self {
        Self {
            origin: [0; 3],
            size: dims,
        }
    }

    /// Slice `index` across storage axis `axis`.
    pub fn slice(dims: [usize; 3], axis: usize, index: usize) -> Self {
        let mut r = Self::all(dims);
        r.origin[axis] = index;
        r.size[axis] = 1;
        r
    }

    /// The box holding one voxel.
    pub fn voxel(v: [usize; 3]) -> Self {
        Self {
            origin: v,
            size: [1; 3],
        }
    }

    /// One past the last voxel per axis (`origin + size`).
    pub fn end(&self) -> [usize; 3] {
        [0, 1, 2].map(|a| self.origin[a] + self.size[a])
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.size.iter().product()
    }

    /// True if the box holds no voxel.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if the box lies inside a grid of `dims`.
    pub fn fits(&self, dims: [usize; 3]) -> bool {
        (0..3).all(|a| self.origin[a] + self.size[a] <= dims[a])
    }

    /// The smallest box holding both.
    pub fn union(self, other: Region) -> Region {
        let (end, other_end) = (self.end(), other.end());
        let origin = [0, 1, 2].map(|a| self.origin[a].min(other.origin[a]));
        Region {
            origin,
            size: [0, 1, 2].map(|a| end[a].max(other_end[a]) - origin[a]),
        }
    }

    /// Calls `f(index_in_grid, index_in_box)` for every voxel, box order `i` fastest.
    pub fn for_each(&self, dims: [usize; 3], mut f: impl FnMut(usize, usize)) {
        let mut n = 0;
        for k in self.origin[2]..self.origin[2] + self.size[2] {
            for j in self.origin[1]..self.origin[1] + self.size[1] {
                let row = dims[0] * (j + dims[1] * k);
                for i in self.origin[0]..self.origin[0] + self.size[0] {
                    f(row + i, n);
                    n += 1;
                }
            }
        }
    }
}
