//! Volumes, infection percentages and cranio-caudal zones.

use super::AnalysisError;
use super::segmentation::{INFECTED, Segmentation};
use crate::mask::{LEFT_LUNG, RIGHT_LUNG};
use crate::volume::{SliceMap, View};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A lung.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The patient's left lung (label 1).
    Left,
    /// The patient's right lung (label 2).
    Right,
}

impl Side {
    /// Both sides, left first.
    pub const BOTH: [Side; 2] = [Side::Left, Side::Right];

    /// The label of this lung.
    pub fn label(self) -> u8 {
        match self {
            Side::Left => LEFT_LUNG,
            Side::Right => RIGHT_LUNG,
        }
    }

    /// "Left" or "Right".
    pub fn name(self) -> &'static str {
        match self {
            Side::Left => "Left",
            Side::Right => "Right",
        }
    }
}

/// A third of a lung along its own cranio-caudal (world z) extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Zone {
    /// The top third (towards the head).
    Upper,
    /// The middle third.
    Middle,
    /// The bottom third (towards the diaphragm).
    Lower,
}

impl Zone {
    /// All zones, top first.
    pub const ALL: [Zone; 3] = [Zone::Upper, Zone::Middle, Zone::Lower];

    /// "Upper", "Middle" or "Lower".
    pub fn name(self) -> &'static str {
        match self {
            Zone::Upper => "Upper",
            Zone::Middle => "Middle",
            Zone::Lower => "Lower",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Lung and infection amounts of a region.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Amounts {
    /// Lung voxels (infected ones included).
    pub lung_voxels: u64,
    /// Infected lung voxels.
    pub infected_voxels: u64,
    /// Lung volume in mL.
    pub lung_ml: f64,
    /// Infected volume in mL.
    pub infected_ml: f64,
    /// `100 × infected / lung` voxels (0 when there is no lung).
    pub infection_percent: f64,
}

impl Amounts {
    /// Amounts from voxel counts and the voxel volume.
    pub fn new(lung_voxels: u64, infected_voxels: u64, voxel_ml: f64) -> Self {
        Self {
            lung_voxels,
            infected_voxels,
            lung_ml: lung_voxels as f64 * voxel_ml,
            infected_ml: infected_voxels as f64 * voxel_ml,
            infection_percent: percent(infected_voxels, lung_voxels),
        }
    }
}

/// `100 × part / whole`, 0 when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// Figures of one zone of one lung.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneFigures {
    /// The lung.
    pub side: Side,
    /// The zone.
    pub zone: Zone,
    /// World z range (mm) of the voxel centres the zone covers, bottom to top.
    pub z_range_mm: [f64; 2],
    /// Amounts; `infection_percent` is the zone's involvement.
    pub amounts: Amounts,
}

/// Volumes, percentages and zones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantities {
    /// Voxel volume in mL.
    pub voxel_ml: f64,
    /// Left lung.
    pub left: Amounts,
    /// Right lung.
    pub right: Amounts,
    /// Both lungs.
    pub total: Amounts,
    /// Six zones: left upper, middle, lower, then right upper, middle, lower.
    pub zones: Vec<ZoneFigures>,
    /// Cranio-caudal extent (world z of voxel centres, mm) of each lung, left then
    /// right; `None` for an absent lung.
    pub z_extent_mm: [Option<[f64; 2]>; 2],
}

impl Quantities {
    /// The amounts of one lung.
    pub fn lung(&self, side: Side) -> &Amounts {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }

    /// The figures of one zone.
    pub fn zone(&self, side: Side, zone: Zone) -> Option<&ZoneFigures> {
        self.zones.iter().find(|z| z.side == side && z.zone == zone)
    }
}

/// Per axial slice and zone level (upper/middle/lower, both lungs together): lung
/// and infected voxels, for choosing key slices.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceZoneCounts {
    /// Axial slices (voxel index along the axial normal).
    pub slices: usize,
    /// `[slice][zone]` lung voxels.
    pub lung: Vec<[u64; 3]>,
    /// `[slice][zone]` infected voxels.
    pub infected: Vec<[u64; 3]>,
}

/// The zone of each lung voxel, by its lung's own world-z extent: the extent of
/// voxel centres is cut into equal thirds (a lung one slice thick is all middle).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZoneCuts {
    /// Per side (left, right): `(z_min, z_max)` of voxel centres.
    pub extent: [Option<(f64, f64)>; 2],
}

impl ZoneCuts {
    /// Zone of a voxel of lung `side_index` (0 left, 1 right) at world `z`.
    #[inline]
    pub fn zone(&self, side_index: usize, z: f64) -> Zone {
        match self.extent[side_index] {
            Some((lo, hi)) if hi > lo => {
                let t = (z - lo) / (hi - lo);
                if t < 1.0 / 3.0 {
                    Zone::Lower
                } else if t < 2.0 / 3.0 {
                    Zone::Middle
                } else {
                    Zone::Upper
                }
            }
            _ => Zone::Middle,
        }
    }
}

/// World z of voxel `i` in row `(j, k)` is `z0 + dz * i`.
fn row_z(seg: &Segmentation, j: usize, k: usize) -> (f64, f64) {
    let a = seg.geometry.affine[2];
    (a[1] * j as f64 + a[2] * k as f64 + a[3], a[0])
}

/// The cranio-caudal extent of each lung.
pub fn zone_cuts(seg: &Segmentation) -> ZoneCuts {
    let [nx, ny, _] = seg.geometry.dims;
    let mut ext = [(f64::INFINITY, f64::NEG_INFINITY); 2];
    if nx == 0 || ny == 0 {
        return ZoneCuts {
            extent: [None, None],
        };
    }
    for (row, line) in seg.codes.chunks_exact(nx).enumerate() {
        let (z0, dz) = row_z(seg, row % ny, row / ny);
        for (i, &c) in line.iter().enumerate() {
            let s = c & !INFECTED;
            if s == LEFT_LUNG || s == RIGHT_LUNG {
                let z = z0 + dz * i as f64;
                let e = &mut ext[s as usize - 1];
                e.0 = e.0.min(z);
                e.1 = e.1.max(z);
            }
        }
    }
    ZoneCuts {
        extent: ext.map(|(lo, hi)| (lo <= hi).then_some((lo, hi))),
    }
}

/// Counts lungs, infection and zones.
pub fn quantify(seg: &Segmentation) -> Result<(Quantities, SliceZoneCounts), AnalysisError> {
    if seg.codes.len() != seg.geometry.len() {
        return Err(AnalysisError::SizeMismatch {
            what: "segmentation",
            expected: seg.geometry.len(),
            found: seg.codes.len(),
        });
    }
    let cuts = zone_cuts(seg);
    let g = &seg.geometry;
    let [nx, ny, _] = g.dims;
    let axial = SliceMap::new(g, View::Axial);
    // [side][zone] = (lung, infected)
    let mut counts = [[(0u64, 0u64); 3]; 2];
    let mut per_slice = SliceZoneCounts {
        slices: axial.depth,
        lung: vec![[0; 3]; axial.depth],
        infected: vec![[0; 3]; axial.depth],
    };
    if nx > 0 && ny > 0 {
        for (row, line) in seg.codes.chunks_exact(nx).enumerate() {
            let (j, k) = (row % ny, row / ny);
            let (z0, dz) = row_z(seg, j, k);
            for (i, &c) in line.iter().enumerate() {
                let s = c & !INFECTED;
                if s != LEFT_LUNG && s != RIGHT_LUNG {
                    continue;
                }
                let side = s as usize - 1;
                let zone = cuts.zone(side, z0 + dz * i as f64).index();
                let inf = u64::from(c & INFECTED != 0);
                counts[side][zone].0 += 1;
                counts[side][zone].1 += inf;
                let slice = [i, j, k][axial.normal_axis];
                per_slice.lung[slice][zone] += 1;
                per_slice.infected[slice][zone] += inf;
            }
        }
    }
    let vml = g.voxel_ml();
    let sum = |side: usize| {
        counts[side]
            .iter()
            .fold((0, 0), |a, &(l, i)| (a.0 + l, a.1 + i))
    };
    let (l, r) = (sum(0), sum(1));
    let mut zones = Vec::with_capacity(6);
    for side in Side::BOTH {
        let si = side.label() as usize - 1;
        for zone in Zone::ALL {
            let (lung, inf) = counts[si][zone.index()];
            zones.push(ZoneFigures {
                side,
                zone,
                z_range_mm: zone_range(cuts.extent[si], zone),
                amounts: Amounts::new(lung, inf, vml),
            });
        }
    }
    let q = Quantities {
        voxel_ml: vml,
        left: Amounts::new(l.0, l.1, vml),
        right: Amounts::new(r.0, r.1, vml),
        total: Amounts::new(l.0 + r.0, l.1 + r.1, vml),
        zones,
        z_extent_mm: cuts.extent.map(|e| e.map(|(lo, hi)| [lo, hi])),
    };
    Ok((q, per_slice))
}

/// The world-z bounds of a zone (thirds of the extent).
fn zone_range(extent: Option<(f64, f64)>, zone: Zone) -> [f64; 2] {
    let Some((lo, hi)) = extent else {
        return [0.0, 0.0];
    };
    let third = (hi - lo) / 3.0;
    match zone {
        Zone::Lower => [lo, lo + third],
        Zone::Middle => [lo + third, lo + 2.0 * third],
        Zone::Upper => [lo + 2.0 * third, hi],
    }
}

/// Voxel counts of a lung/infection mask pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InfectionCounts {
    /// Voxels with a non-zero lung label.
    pub lung: u64,
    /// Of those, voxels with a non-zero infection label.
    pub infected: u64,
    /// Lung label 1 voxels.
    pub left: u64,
    /// Infected lung label 1 voxels.
    pub left_infected: u64,
    /// Lung label 2 voxels.
    pub right: u64,
    /// Infected lung label 2 voxels.
    pub right_infected: u64,
}

impl InfectionCounts {
    /// Infection % of both lungs (`100 × infected / lung`).
    pub fn percent(&self) -> f64 {
        percent(self.infected, self.lung)
    }

    fn add(self, o: Self) -> Self {
        Self {
            lung: self.lung + o.lung,
            infected: self.infected + o.infected,
            left: self.left + o.left,
            left_infected: self.left_infected + o.left_infected,
            right: self.right + o.right,
            right_infected: self.right_infected + o.right_infected,
        }
    }
}

/// Counts lung and infected voxels of a lung mask and an infection mask of the
/// same length (the fast path behind the infection %, parallel and vectorised):
/// infected = infection ≠ 0 and lung ≠ 0, as in `cases.csv`.
///
/// # Panics
/// If the slices differ in length.
pub fn count_infection(lung: &[u8], infection: &[u8]) -> InfectionCounts {
    assert_eq!(lung.len(), infection.len(), "mask lengths differ");
    const CHUNK: usize = 1 << 16;
    lung.par_chunks(CHUNK)
        .zip(infection.par_chunks(CHUNK))
        .map(|(l, f)| count_chunk(l, f))
        .reduce(InfectionCounts::default, InfectionCounts::add)
}

/// Lanes of the byte accumulators.
const LANES: usize = 32;

fn count_chunk(lung: &[u8], inf: &[u8]) -> InfectionCounts {
    let mut total = InfectionCounts::default();
    // Byte accumulators overflow after 255 steps: flush every 255 blocks.
    let block = LANES * 255;
    for (lb, fb) in lung.chunks(block).zip(inf.chunks(block)) {
        let mut acc = [[0u8; LANES]; 6];
        let mut lc = lb.chunks_exact(LANES);
        let mut fc = fb.chunks_exact(LANES);
        for (l, f) in (&mut lc).zip(&mut fc) {
            for x in 0..LANES {
                let (a, b) = (l[x], f[x]);
                let lung = u8::from(a != 0);
                let inf = u8::from(b != 0) & lung;
                let one = u8::from(a == 1);
                let two = u8::from(a == 2);
                // At most 255 additions per flush: wrapping never wraps, and
                // keeps overflow checks out of the vectorised loop.
                acc[0][x] = acc[0][x].wrapping_add(lung);
                acc[1][x] = acc[1][x].wrapping_add(inf);
                acc[2][x] = acc[2][x].wrapping_add(one);
                acc[3][x] = acc[3][x].wrapping_add(one & inf);
                acc[4][x] = acc[4][x].wrapping_add(two);
                acc[5][x] = acc[5][x].wrapping_add(two & inf);
            }
        }
        let s = |a: &[u8; LANES]| a.iter().map(|&v| u64::from(v)).sum::<u64>();
        let mut part = InfectionCounts {
            lung: s(&acc[0]),
            infected: s(&acc[1]),
            left: s(&acc[2]),
            left_infected: s(&acc[3]),
            right: s(&acc[4]),
            right_infected: s(&acc[5]),
        };
        for (&a, &b) in lc.remainder().iter().zip(fc.remainder()) {
            let lung = u64::from(a != 0);
            let inf = u64::from(b != 0) & lung;
            part.lung += lung;
            part.infected += inf;
            part.left += u64::from(a == 1);
            part.left_infected += u64::from(a == 1) & inf;
            part.right += u64::from(a == 2);
            part.right_infected += u64::from(a == 2) & inf;
        }
        total = total.add(part);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_infection_matches_a_plain_loop() {
        // Lengths around the block sizes, labels 0..4.
        for n in [0usize, 1, 31, 32, 33, 8160, 8161, 70_000, 200_003] {
            let lung: Vec<u8> = (0..n).map(|i| ((i * 7 + i / 13) % 5) as u8).collect();
            let inf: Vec<u8> = (0..n)
                .map(|i| ((i * 11 + i / 3) % 3 == 0) as u8 * 255)
                .collect();
            let mut want = InfectionCounts::default();
            for (&a, &b) in lung.iter().zip(&inf) {
                if a != 0 {
                    want.lung += 1;
                    want.infected += u64::from(b != 0);
                }
                if a == 1 {
                    want.left += 1;
                    want.left_infected += u64::from(b != 0);
                }
                if a == 2 {
                    want.right += 1;
                    want.right_infected += u64::from(b != 0);
                }
            }
            assert_eq!(count_infection(&lung, &inf), want, "n = {n}");
        }
    }

    #[test]
    fn zone_cuts_make_thirds() {
        let cuts = ZoneCuts {
            extent: [Some((0.0, 29.0)), None],
        };
        let zones: Vec<Zone> = (0..30).map(|z| cuts.zone(0, z as f64)).collect();
        assert_eq!(zones.iter().filter(|&&z| z == Zone::Lower).count(), 10);
        assert_eq!(zones.iter().filter(|&&z| z == Zone::Middle).count(), 10);
        assert_eq!(zones.iter().filter(|&&z| z == Zone::Upper).count(), 10);
        assert_eq!(cuts.zone(1, 5.0), Zone::Middle);
        assert_eq!(zone_range(Some((0.0, 30.0)), Zone::Upper), [20.0, 30.0]);
    }

    #[test]
    fn percent_of_nothing_is_zero() {
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(Amounts::new(200, 50, 0.5).infected_ml, 25.0);
        assert_eq!(Amounts::new(200, 50, 0.5).infection_percent, 25.0);
    }
}
