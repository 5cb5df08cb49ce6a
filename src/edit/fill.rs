//! 2-D flood fill within an HU interval.

use crate::mask::LabelMask;
use crate::volume::{SliceMap, View, Volume};

/// The voxels a 4-connected flood fill from `seed` (display `(col, row)`) reaches
/// on `slice` of `view`, moving only through pixels whose HU lies in
/// `[low, high]`, as `(linear index, label)` changes. Empty if the seed itself is
/// outside the interval or outside the slice.
pub fn flood_fill(
    mask: &LabelMask,
    volume: &Volume,
    view: View,
    slice: usize,
    seed: [usize; 2],
    hu_range: (f32, f32),
    label: u8,
) -> Vec<(usize, u8)> {
    let g = &mask.geometry;
    let map = SliceMap::new(g, view);
    let (w, h) = (map.width, map.height);
    if slice >= map.depth || seed[0] >= w || seed[1] >= h {
        return Vec::new();
    }
    let (lo, hi) = hu_range;
    let index = |col: usize, row: usize| {
        let v = map.voxel(col, row, slice);
        g.index(v[0], v[1], v[2])
    };
    let inside = |idx: usize| {
        let hu = volume.voxels.get(idx);
        hu >= lo && hu <= hi
    };
    if !inside(index(seed[0], seed[1])) {
        return Vec::new();
    }
    let mut seen = vec![false; w * h];
    let mut stack = vec![(seed[0], seed[1])];
    seen[seed[1] * w + seed[0]] = true;
    let mut out = Vec::new();
    while let Some((c, r)) = stack.pop() {
        out.push((index(c, r), label));
        let mut visit = |c: usize, r: usize| {
            let k = r * w + c;
            if !seen[k] {
                seen[k] = true;
                if inside(index(c, r)) {
                    stack.push((c, r));
                }
            }
        };
        if c > 0 {
            visit(c - 1, r);
        }
        if c + 1 < w {
            visit(c + 1, r);
        }
        if r > 0 {
            visit(c, r - 1);
        }
        if r + 1 < h {
            visit(c, r + 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Geometry, Voxels};

    #[test]
    fn fill_stops_at_the_hu_bound() {
        // a -800 HU disc of radius 6 in 20 HU tissue, plus a separate -800 HU blob
        let g = Geometry::with_signs([30, 30, 3], [1.0; 3], [1.0, 1.0, 1.0]);
        let mut hu = vec![20i16; g.len()];
        let mut disc = 0;
        for j in 0..30 {
            for i in 0..30 {
                let (x, y) = (i as f64 - 10.0, j as f64 - 10.0);
                if x * x + y * y <= 36.0 {
                    hu[g.index(i, j, 1)] = -800;
                    disc += 1;
                }
                if i >= 24 && j >= 24 {
                    hu[g.index(i, j, 1)] = -800;
                }
            }
        }
        let vol = Volume::new(g.clone(), Voxels::I16(hu)).expect("sizes");
        let m = LabelMask::empty(g.clone());
        // RAS grid: display column = 29 - i, row = 29 - j
        let seed = [29 - 10, 29 - 10];
        let f = flood_fill(&m, &vol, View::Axial, 1, seed, (-1000.0, -500.0), 3);
        assert_eq!(f.len(), disc);
        for (idx, l) in &f {
            assert_eq!(*l, 3);
            assert_eq!(vol.voxels.get(*idx), -800.0);
            assert_eq!(idx / 900, 1, "stays in its slice");
            assert!(idx % 30 < 24, "does not jump to the separate blob");
        }
        // a seed outside the interval fills nothing
        assert!(flood_fill(&m, &vol, View::Axial, 1, [29, 0], (-1000.0, -500.0), 3).is_empty());
        // display (0, 0) is voxel (29, 29): the separate blob, filled on its own
        assert_eq!(
            flood_fill(&m, &vol, View::Axial, 1, [0, 0], (-1000.0, -500.0), 3).len(),
            36
        );
    }
}
