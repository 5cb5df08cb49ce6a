//! Slices in display orientation, whatever the storage orientation of the file.
//!
//! Display follows the radiological convention:
//! - axial: patient right on the screen's left, anterior at the top;
//! - coronal: patient right on the screen's left, superior at the top;
//! - sagittal: anterior on the screen's left, superior at the top.
//!
//! Slice numbers are storage voxel indices along the axis closest to the view's
//! normal, so "slice 45" means the same plane as in other voxel-index based tools.

use super::geometry::Geometry;
use super::region::Region;
use serde::{Deserialize, Serialize};

/// One of the three orthogonal views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum View {
    /// Transverse plane (normal superior/inferior).
    Axial,
    /// Frontal plane (normal anterior/posterior).
    Coronal,
    /// Side plane (normal left/right).
    Sagittal,
}

impl View {
    /// All views in the conventional order.
    pub const ALL: [View; 3] = [View::Axial, View::Coronal, View::Sagittal];

    /// Human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            View::Axial => "Axial",
            View::Coronal => "Coronal",
            View::Sagittal => "Sagittal",
        }
    }

    /// `(world axis, increases towards +world)` of the screen column direction
    /// (left → right on screen), of the screen row direction (top → bottom) and the
    /// world axis of the normal.
    fn display_axes(self) -> ((usize, bool), (usize, bool), usize) {
        match self {
            // columns run R -> L (towards -x), rows A -> P (towards -y)
            View::Axial => ((0, false), (1, false), 2),
            // columns R -> L, rows S -> I (towards -z)
            View::Coronal => ((0, false), (2, false), 1),
            // columns A -> P (towards -y), rows S -> I
            View::Sagittal => ((1, false), (2, false), 0),
        }
    }

    /// Orientation letters at the left, right, top and bottom edges of the view.
    pub fn edge_labels(self) -> [char; 4] {
        let ((cw, cp), (rw, rp), _) = self.display_axes();
        let letter = |w: usize, positive: bool| match (w, positive) {
            (0, true) => 'R',
            (0, false) => 'L',
            (1, true) => 'A',
            (1, false) => 'P',
            (2, true) => 'S',
            _ => 'I',
        };
        // The left edge is where the column direction comes from.
        [
            letter(cw, !cp),
            letter(cw, cp),
            letter(rw, !rp),
            letter(rw, rp),
        ]
    }
}

/// How display pixels of one view map onto storage voxels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceMap {
    /// Storage axis along the screen columns.
    pub col_axis: usize,
    /// True if the column index runs against the storage index.
    pub col_flip: bool,
    /// Storage axis along the screen rows.
    pub row_axis: usize,
    /// True if the row index runs against the storage index.
    pub row_flip: bool,
    /// Storage axis along the view normal (the slice number's axis).
    pub normal_axis: usize,
    /// Width of a slice in pixels (voxels along `col_axis`).
    pub width: usize,
    /// Height of a slice in pixels (voxels along `row_axis`).
    pub height: usize,
    /// Number of slices (voxels along `normal_axis`).
    pub depth: usize,
}

impl SliceMap {
    /// The map of `view` for a grid.
    pub fn new(geometry: &Geometry, view: View) -> Self {
        let orient = geometry.orientation();
        let ((cw, cp), (rw, rp), nw) = view.display_axes();
        let axis_of = |w: usize| orient.iter().position(|o| o.world == w).unwrap_or(w);
        let col_axis = axis_of(cw);
        let row_axis = axis_of(rw);
        let normal_axis = axis_of(nw);
        Self {
            col_axis,
            col_flip: orient[col_axis].positive != cp,
            row_axis,
            row_flip: orient[row_axis].positive != rp,
            normal_axis,
            width: geometry.dims[col_axis],
            height: geometry.dims[row_axis],
            depth: geometry.dims[normal_axis],
        }
    }

    /// Storage voxel `(i, j, k)` shown at display pixel `(col, row)` of slice `slice`.
    #[inline]
    pub fn voxel(&self, col: usize, row: usize, slice: usize) -> [usize; 3] {
        let mut v = [0usize; 3];
        v[self.col_axis] = if self.col_flip {
            self.width - 1 - col
        } else {
            col
        };
        v[self.row_axis] = if self.row_flip {
            self.height - 1 - row
        } else {
            row
        };
        v[self.normal_axis] = slice;
        v
    }

    /// Display `(col, row, slice)` of a storage voxel (inverse of [`Self::voxel`]).
    pub fn display(&self, v: [usize; 3]) -> (usize, usize, usize) {
        let c = v[self.col_axis];
        let r = v[self.row_axis];
        (
            if self.col_flip { self.width - 1 - c } else { c },
            if self.row_flip {
                self.height - 1 - r
            } else {
                r
            },
            v[self.normal_axis],
        )
    }

    /// Physical size of a display pixel `(width, height)` in mm.
    pub fn pixel_mm(&self, geometry: &Geometry) -> [f64; 2] {
        [
            geometry.spacing[self.col_axis],
            geometry.spacing[self.row_axis],
        ]
    }

    /// Copies one slice of a column-major voxel array into a row-major display image.
    pub fn extract<T: Copy>(&self, dims: [usize; 3], data: &[T], slice: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(self.width * self.height);
        let stride = [1, dims[0], dims[0] * dims[1]];
        let base = slice * stride[self.normal_axis];
        let (cs, rs) = (stride[self.col_axis], stride[self.row_axis]);
        for row in 0..self.height {
            let r = if self.row_flip {
                self.height - 1 - row
            } else {
                row
            };
            let row_base = base + r * rs;
            if self.col_flip {
                out.extend((0..self.width).rev().map(|c| data[row_base + c * cs]));
            } else {
                out.extend((0..self.width).map(|c| data[row_base + c * cs]));
            }
        }
        out
    }

    /// Writes a row-major display image back into one slice of a column-major array.
    pub fn insert<T: Copy>(&self, dims: [usize; 3], data: &mut [T], slice: usize, image: &[T]) {
        let stride = [1, dims[0], dims[0] * dims[1]];
        for row in 0..self.height {
            for col in 0..self.width {
                let v = self.voxel(col, row, slice);
                let idx = v[0] * stride[0] + v[1] * stride[1] + v[2] * stride[2];
                data[idx] = image[row * self.width + col];
            }
        }
    }

    /// The storage box of slice `slice` (one voxel thick across `normal_axis`) and a
    /// row-major display image of that slice rearranged into the box's storage
    /// order (`i` fastest), ready to be written into a label grid by box.
    /// `None` if the image is not `width × height` or the slice is out of range.
    pub fn slice_box<T: Copy + Default>(
        &self,
        slice: usize,
        image: &[T],
    ) -> Option<(Region, Vec<T>)> {
        if image.len() != self.width * self.height || slice >= self.depth {
            return None;
        }
        let mut dims = [0; 3];
        dims[self.col_axis] = self.width;
        dims[self.row_axis] = self.height;
        dims[self.normal_axis] = self.depth;
        let region = Region::slice(dims, self.normal_axis, slice);
        let mut data = vec![T::default(); region.len()];
        // The box is a grid of its own with one slice, number 0 along the normal.
        self.insert(region.size, &mut data, 0, image);
        Some((region, data))
    }
}

/// A 2-D image in display orientation (row-major, top row first).
#[derive(Debug, Clone, PartialEq)]
pub struct Slice<T> {
    /// Pixels per row.
    pub width: usize,
    /// Number of rows.
    pub height: usize,
    /// Physical pixel size `(width, height)` in mm.
    pub pixel_mm: [f64; 2],
    /// Row-major pixels.
    pub data: Vec<T>,
}

impl<T: Copy> Slice<T> {
    /// Pixel at `(col, row)`.
    pub fn get(&self, col: usize, row: usize) -> T {
        self.data[row * self.width + col]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::geometry::{Geometry, IDENTITY};

    #[test]
    fn axial_of_ras_grid_is_flipped_left_right_and_up_down() {
        // RAS: i -> R, j -> A. Display columns go R -> L, so col 0 = max i.
        let g = Geometry::with_signs([4, 3, 2], [1.0; 3], [1.0, 1.0, 1.0]);
        let m = SliceMap::new(&g, View::Axial);
        assert_eq!((m.col_axis, m.row_axis, m.normal_axis), (0, 1, 2));
        assert!(m.col_flip && m.row_flip);
        assert_eq!(m.voxel(0, 0, 1), [3, 2, 1]);
    }

    #[test]
    fn axial_of_lps_grid_is_stored_order() {
        let g = Geometry::with_signs([4, 3, 2], [1.0; 3], [-1.0, -1.0, 1.0]);
        let m = SliceMap::new(&g, View::Axial);
        assert!(!m.col_flip && !m.row_flip);
        assert_eq!(m.voxel(1, 2, 0), [1, 2, 0]);
    }

    #[test]
    fn permuted_storage_maps_to_same_display() {
        // Storage axes: i -> S, j -> L, k -> P (a "sagittal-stored" style permutation).
        let mut a = IDENTITY;
        a[0] = [0.0, -1.0, 0.0, 0.0];
        a[1] = [0.0, 0.0, -1.0, 0.0];
        a[2] = [1.0, 0.0, 0.0, 0.0];
        let g = Geometry::from_affine([5, 4, 3], a);
        assert_eq!(g.orientation_string(), "SLP");
        let m = SliceMap::new(&g, View::Axial);
        assert_eq!((m.col_axis, m.row_axis, m.normal_axis), (1, 2, 0));
        assert_eq!((m.width, m.height, m.depth), (4, 3, 5));
        let c = SliceMap::new(&g, View::Coronal);
        // rows go S -> I: the S axis (i) must be flipped.
        assert_eq!(c.row_axis, 0);
        assert!(c.row_flip);
    }

    #[test]
    fn extract_and_display_are_consistent() {
        let g = Geometry::with_signs([4, 3, 2], [1.0; 3], [1.0, -1.0, 1.0]);
        let data: Vec<u32> = (0..24).collect();
        for view in View::ALL {
            let m = SliceMap::new(&g, view);
            for s in 0..m.depth {
                let img = m.extract(g.dims, &data, s);
                for row in 0..m.height {
                    for col in 0..m.width {
                        let v = m.voxel(col, row, s);
                        assert_eq!(img[row * m.width + col], data[g.index(v[0], v[1], v[2])]);
                        assert_eq!(m.display(v), (col, row, s));
                    }
                }
                let mut back = vec![0u32; 24];
                m.insert(g.dims, &mut back, s, &img);
                for (idx, &val) in back.iter().enumerate() {
                    if val != 0 {
                        assert_eq!(val, data[idx]);
                    }
                }
            }
        }
    }

    #[test]
    fn edge_labels_are_radiological() {
        assert_eq!(View::Axial.edge_labels(), ['R', 'L', 'A', 'P']);
        assert_eq!(View::Coronal.edge_labels(), ['R', 'L', 'S', 'I']);
        assert_eq!(View::Sagittal.edge_labels(), ['A', 'P', 'S', 'I']);
    }

    #[test]
    fn display_slices_land_on_their_storage_voxels() {
        // LPS storage: axial display flips nothing or both in-plane axes; whatever
        // the map, each display pixel must land on the voxel `map.voxel` names.
        for signs in [[-1.0, -1.0, 1.0], [1.0, 1.0, 1.0], [1.0, -1.0, -1.0]] {
            let g = Geometry::with_signs([4, 3, 2], [1.0; 3], signs);
            let map = SliceMap::new(&g, View::Axial);
            let labels: Vec<u8> = (0..(map.width * map.height) as u8).collect();
            let (region, out) = map.slice_box(1, &labels).expect("sizes match");
            let mut grid = [255u8; 24];
            region.for_each(g.dims, |gi, b| grid[gi] = out[b]);
            for row in 0..map.height {
                for col in 0..map.width {
                    let v = map.voxel(col, row, 1);
                    assert_eq!(
                        grid[g.index(v[0], v[1], v[2])],
                        labels[row * map.width + col]
                    );
                }
            }
        }
        let g = Geometry::with_signs([4, 3, 2], [1.0; 3], [1.0; 3]);
        let map = SliceMap::new(&g, View::Axial);
        assert!(map.slice_box(1, &[0u8; 9]).is_none());
        assert!(map.slice_box(2, &[0u8; 12]).is_none());
    }
}
