//! Fast 3-D connected components on run-length encoded masks.
//!
//! The mask is scanned once into runs of foreground voxels along `i` (the fastest
//! storage axis). Runs are merged with a union-find over runs, not voxels: each run
//! is compared only with the runs of the previous rows that can touch it (one row
//! for 6-connectivity in-plane, four rows for 26-connectivity). Lung masks have a
//! few runs per row, so labelling a 512×512×300 mask costs little more than reading
//! it once, and no per-voxel label volume is allocated unless asked for
//! ([`Components::label_volume`]).

use crate::mask::LabelMask;

/// Which neighbours touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Connectivity {
    /// Voxels sharing a face (6 neighbours).
    #[default]
    Face6,
    /// Voxels sharing a face, an edge or a corner (26 neighbours).
    Full26,
}

/// A run of foreground voxels `start..end` along `i` in one row `(j, k)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Row number `j + dims[1] * k`.
    pub row: u32,
    /// First `i` of the run.
    pub start: u32,
    /// One past the last `i` of the run.
    pub end: u32,
    /// Component number (1-based; 1 is the largest component).
    pub component: u32,
}

impl Run {
    /// Number of voxels in the run.
    pub fn len(&self) -> u64 {
        u64::from(self.end - self.start)
    }

    /// True if the run is empty (never the case for runs of [`Components`]).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Connected components of a mask, numbered 1..=`count()` by decreasing size (ties
/// in scan order), stored as labelled runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Components {
    /// Grid dimensions `(i, j, k)`.
    pub dims: [usize; 3],
    /// Foreground runs in storage order (`k`, then `j`, then `i`).
    pub runs: Vec<Run>,
    /// Voxel count of component `c` at index `c - 1`.
    pub sizes: Vec<u64>,
    /// Sum of voxel indices `(i, j, k)` of component `c` at index `c - 1`
    /// (divide by the size for the centroid).
    pub index_sums: Vec<[f64; 3]>,
}

impl Components {
    /// Components of the voxels of `data` (column-major on `dims`) for which
    /// `foreground` is true.
    ///
    /// # Panics
    /// If `data.len()` differs from the product of `dims` (a programming error: the
    /// mask types check their sizes on construction).
    pub fn of<T: Copy>(
        dims: [usize; 3],
        data: &[T],
        connectivity: Connectivity,
        foreground: impl Fn(T) -> bool,
    ) -> Self {
        assert_eq!(data.len(), dims[0] * dims[1] * dims[2], "data size vs dims");
        let runs = scan_runs(dims, data, foreground);
        Self::from_runs(dims, runs, connectivity)
    }

    /// Components of a boolean mask.
    pub fn of_bool(dims: [usize; 3], mask: &[bool], connectivity: Connectivity) -> Self {
        Self::of(dims, mask, connectivity, |b| b)
    }

    /// Components of the voxels of a label mask whose label is in `labels`
    /// (all non-zero labels if `labels` is empty).
    pub fn of_labels(mask: &LabelMask, labels: &[u8], connectivity: Connectivity) -> Self {
        let mut table = [labels.is_empty(); 256];
        table[0] = false;
        for &l in labels {
            table[l as usize] = true;
        }
        Self::of(mask.geometry.dims, &mask.labels, connectivity, |l| {
            table[l as usize]
        })
    }

    /// Number of components.
    pub fn count(&self) -> usize {
        self.sizes.len()
    }

    /// Voxels of component `c` (0 for a number that is not a component).
    pub fn size(&self, c: u32) -> u64 {
        c.checked_sub(1)
            .and_then(|i| self.sizes.get(i as usize))
            .copied()
            .unwrap_or(0)
    }

    /// Total foreground voxels.
    pub fn total(&self) -> u64 {
        self.sizes.iter().sum()
    }

    /// Centroid of component `c` in (fractional) voxel indices.
    pub fn centroid_vox(&self, c: u32) -> Option<[f64; 3]> {
        let i = c.checked_sub(1)? as usize;
        let n = *self.sizes.get(i)? as f64;
        let s = self.index_sums[i];
        Some([s[0] / n, s[1] / n, s[2] / n])
    }

    /// `(j, k)` of a row number.
    pub fn row_jk(&self, row: u32) -> (usize, usize) {
        let r = row as usize;
        (r % self.dims[1].max(1), r / self.dims[1].max(1))
    }

    /// A column-major volume of component numbers (0 = background).
    pub fn label_volume(&self) -> Vec<u32> {
        let mut out = vec![0u32; self.dims[0] * self.dims[1] * self.dims[2]];
        self.paint(&mut out, |c| c);
        out
    }

    /// Writes `value(component)` into every foreground voxel of `out`
    /// (column-major on `dims`); background voxels are left untouched.
    pub fn paint<T: Copy>(&self, out: &mut [T], value: impl Fn(u32) -> T) {
        let nx = self.dims[0];
        for run in &self.runs {
            let base = run.row as usize * nx;
            let v = value(run.component);
            out[base + run.start as usize..base + run.end as usize].fill(v);
        }
    }

    /// A boolean mask of the components for which `keep` is true.
    pub fn select(&self, keep: impl Fn(u32) -> bool) -> Vec<bool> {
        let mut out = vec![false; self.dims[0] * self.dims[1] * self.dims[2]];
        let nx = self.dims[0];
        for run in self.runs.iter().filter(|r| keep(r.component)) {
            let base = run.row as usize * nx;
            out[base + run.start as usize..base + run.end as usize].fill(true);
        }
        out
    }

    /// Labels runs already extracted in storage order (component fields ignored).
    fn from_runs(dims: [usize; 3], mut runs: Vec<Run>, connectivity: Connectivity) -> Self {
        let rows = dims[1] * dims[2];
        // row_start[r]..row_start[r + 1] are the runs of row r.
        let mut row_start = vec![0u32; rows + 1];
        for run in &runs {
            row_start[run.row as usize + 1] += 1;
        }
        for r in 0..rows {
            row_start[r + 1] += row_start[r];
        }
        let mut parent: Vec<u32> = (0..runs.len() as u32).collect();
        let reach = match connectivity {
            Connectivity::Face6 => 0,
            Connectivity::Full26 => 1,
        };
        let (ny, nz) = (dims[1], dims[2]);
        for k in 0..nz {
            for j in 0..ny {
                let row = j + ny * k;
                let cur = row_start[row] as usize..row_start[row + 1] as usize;
                if cur.is_empty() {
                    continue;
                }
                // Previous rows that can touch this one.
                let mut prev = [usize::MAX; 4];
                if j > 0 {
                    prev[0] = row - 1;
                }
                if k > 0 {
                    prev[1] = row - ny;
                    if reach == 1 {
                        if j > 0 {
                            prev[2] = row - ny - 1;
                        }
                        if j + 1 < ny {
                            prev[3] = row - ny + 1;
                        }
                    }
                }
                for &p in prev.iter().filter(|&&p| p != usize::MAX) {
                    let other = row_start[p] as usize..row_start[p + 1] as usize;
                    merge_rows(&runs, cur.clone(), other, reach, &mut parent);
                }
            }
        }
        // Resolve roots, sizes and index sums per root.
        let n = runs.len();
        let root_of: Vec<u32> = (0..n as u32).map(|r| find(&mut parent, r)).collect();
        let mut root_id = vec![u32::MAX; n];
        let mut sizes: Vec<u64> = Vec::new();
        let mut sums: Vec<[f64; 3]> = Vec::new();
        for (r, run) in runs.iter().enumerate() {
            let root = root_of[r] as usize;
            if root_id[root] == u32::MAX {
                root_id[root] = sizes.len() as u32;
                sizes.push(0);
                sums.push([0.0; 3]);
            }
            let id = root_id[root] as usize;
            let len = run.len();
            let (j, k) = (run.row as usize % ny, run.row as usize / ny);
            sizes[id] += len;
            let i_sum = (u64::from(run.start) + u64::from(run.end) - 1) * len / 2;
            sums[id][0] += i_sum as f64;
            sums[id][1] += (j as u64 * len) as f64;
            sums[id][2] += (k as u64 * len) as f64;
        }
        // Number by decreasing size; stable sort keeps scan order for ties.
        let mut order: Vec<u32> = (0..sizes.len() as u32).collect();
        order.sort_by_key(|&c| std::cmp::Reverse(sizes[c as usize]));
        let mut rank = vec![0u32; sizes.len()];
        for (new, &old) in order.iter().enumerate() {
            rank[old as usize] = new as u32 + 1;
        }
        for (r, run) in runs.iter_mut().enumerate() {
            run.component = rank[root_id[root_of[r] as usize] as usize];
        }
        Self {
            dims,
            runs,
            sizes: order.iter().map(|&c| sizes[c as usize]).collect(),
            index_sums: order.iter().map(|&c| sums[c as usize]).collect(),
        }
    }
}

/// Extracts the foreground runs of every row.
fn scan_runs<T: Copy>(dims: [usize; 3], data: &[T], foreground: impl Fn(T) -> bool) -> Vec<Run> {
    let nx = dims[0];
    let mut runs = Vec::new();
    if nx == 0 {
        return runs;
    }
    for (row, line) in data.chunks_exact(nx).enumerate() {
        let mut i = 0;
        while i < nx {
            if !foreground(line[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < nx && foreground(line[i]) {
                i += 1;
            }
            runs.push(Run {
                row: row as u32,
                start: start as u32,
                end: i as u32,
                component: 0,
            });
        }
    }
    runs
}

/// Unions the runs of two rows that touch (overlap in `i`, widened by `reach`).
fn merge_rows(
    runs: &[Run],
    cur: std::ops::Range<usize>,
    other: std::ops::Range<usize>,
    reach: u32,
    parent: &mut [u32],
) {
    let (mut a, mut b) = (cur.start, other.start);
    while a < cur.end && b < other.end {
        let (ra, rb) = (&runs[a], &runs[b]);
        // Touch if [ra.start, ra.end) and [rb.start - reach, rb.end + reach) overlap.
        if ra.start < rb.end + reach && rb.start < ra.end + reach {
            union(parent, a as u32, b as u32);
        }
        // Advance the run that ends first.
        if ra.end < rb.end {
            a += 1;
        } else {
            b += 1;
        }
    }
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let p = parent[x as usize];
        parent[x as usize] = parent[p as usize];
        x = p;
    }
    x
}

fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        // Keep the smaller index as root: roots stay in scan order.
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[hi as usize] = lo;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute-force flood fill for comparison.
    fn flood(dims: [usize; 3], mask: &[bool], conn: Connectivity) -> (Vec<u32>, usize) {
        let idx = |i: usize, j: usize, k: usize| i + dims[0] * (j + dims[1] * k);
        let mut lab = vec![0u32; mask.len()];
        let mut n = 0;
        for start in 0..mask.len() {
            if !mask[start] || lab[start] != 0 {
                continue;
            }
            n += 1;
            let mut stack = vec![start];
            lab[start] = n as u32;
            while let Some(v) = stack.pop() {
                let (i, j, k) = (
                    v % dims[0],
                    (v / dims[0]) % dims[1],
                    v / (dims[0] * dims[1]),
                );
                for dk in -1i64..=1 {
                    for dj in -1i64..=1 {
                        for di in -1i64..=1 {
                            let m = di.abs() + dj.abs() + dk.abs();
                            if m == 0 || (conn == Connectivity::Face6 && m > 1) {
                                continue;
                            }
                            let (x, y, z) = (i as i64 + di, j as i64 + dj, k as i64 + dk);
                            if x < 0
                                || y < 0
                                || z < 0
                                || x >= dims[0] as i64
                                || y >= dims[1] as i64
                                || z >= dims[2] as i64
                            {
                                continue;
                            }
                            let w = idx(x as usize, y as usize, z as usize);
                            if mask[w] && lab[w] == 0 {
                                lab[w] = n as u32;
                                stack.push(w);
                            }
                        }
                    }
                }
            }
        }
        (lab, n)
    }

    /// A deterministic pseudo-random mask.
    fn random_mask(dims: [usize; 3], density: u32, seed: u64) -> Vec<bool> {
        let mut s = seed;
        (0..dims[0] * dims[1] * dims[2])
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((s >> 33) % 100) < u64::from(density)
            })
            .collect()
    }

    /// Same partition as the flood fill (component numbers may differ).
    fn same_partition(a: &[u32], b: &[u32]) -> bool {
        let mut map = std::collections::HashMap::new();
        let mut back = std::collections::HashMap::new();
        a.iter().zip(b).all(|(&x, &y)| {
            (x == 0) == (y == 0)
                && *map.entry(x).or_insert(y) == y
                && *back.entry(y).or_insert(x) == x
        })
    }

    #[test]
    fn matches_flood_fill_on_random_masks() {
        let dims = [13, 9, 7];
        for (seed, density) in [(1, 20), (2, 35), (3, 50), (4, 65)] {
            let mask = random_mask(dims, density, seed);
            for conn in [Connectivity::Face6, Connectivity::Full26] {
                let c = Components::of_bool(dims, &mask, conn);
                let (lab, n) = flood(dims, &mask, conn);
                assert_eq!(c.count(), n, "seed {seed} {conn:?}");
                assert!(
                    same_partition(&c.label_volume(), &lab),
                    "seed {seed} {conn:?}"
                );
                assert_eq!(c.total(), mask.iter().filter(|&&b| b).count() as u64);
                assert!(c.sizes.windows(2).all(|w| w[0] >= w[1]), "sorted by size");
            }
        }
    }

    #[test]
    fn diagonal_neighbours_depend_on_connectivity() {
        // Two voxels touching only at a corner.
        let dims = [2, 2, 2];
        let mut mask = vec![false; 8];
        mask[0] = true; // (0,0,0)
        mask[7] = true; // (1,1,1)
        assert_eq!(
            Components::of_bool(dims, &mask, Connectivity::Face6).count(),
            2
        );
        assert_eq!(
            Components::of_bool(dims, &mask, Connectivity::Full26).count(),
            1
        );
    }

    #[test]
    fn sizes_and_centroids_of_boxes() {
        let dims = [10, 6, 4];
        let mut mask = vec![false; 240];
        let idx = |i: usize, j: usize, k: usize| i + 10 * (j + 6 * k);
        // A 3x2x2 box at (0..3, 0..2, 0..2) and a 4x4x3 box at (5..9, 1..5, 1..4).
        for k in 0..2 {
            for j in 0..2 {
                for i in 0..3 {
                    mask[idx(i, j, k)] = true;
                }
            }
        }
        for k in 1..4 {
            for j in 1..5 {
                for i in 5..9 {
                    mask[idx(i, j, k)] = true;
                }
            }
        }
        let c = Components::of_bool(dims, &mask, Connectivity::Face6);
        assert_eq!(c.sizes, vec![48, 12]);
        assert_eq!(c.centroid_vox(1), Some([6.5, 2.5, 2.0]));
        assert_eq!(c.centroid_vox(2), Some([1.0, 0.5, 0.5]));
        assert_eq!(c.size(3), 0);
        assert_eq!(c.centroid_vox(0), None);
        let big = c.select(|comp| comp == 1);
        assert_eq!(big.iter().filter(|&&b| b).count(), 48);
        assert!(big[idx(5, 1, 1)] && !big[idx(0, 0, 0)]);
    }

    #[test]
    fn label_masks_select_labels() {
        use crate::volume::Geometry;
        let g = Geometry::with_signs([5, 1, 1], [1.0; 3], [1.0; 3]);
        let m = LabelMask::new(g, vec![1, 1, 2, 0, 3]).expect("size");
        assert_eq!(
            Components::of_labels(&m, &[], Connectivity::Face6).sizes,
            vec![3, 1]
        );
        assert_eq!(
            Components::of_labels(&m, &[1, 3], Connectivity::Face6).sizes,
            vec![2, 1]
        );
        assert_eq!(
            Components::of_labels(&m, &[4], Connectivity::Face6).count(),
            0
        );
    }

    #[test]
    fn empty_grids_are_fine() {
        let c = Components::of_bool([0, 3, 3], &[], Connectivity::Full26);
        assert_eq!(c.count(), 0);
        let c = Components::of_bool([3, 3, 3], &[false; 27], Connectivity::Full26);
        assert_eq!(c.count(), 0);
        assert_eq!(c.label_volume(), vec![0; 27]);
    }
}
