//! The box phantom of the analysis and report tests: two box lungs with infected
//! boxes, stored in any axis orientation, with figures known in closed form.

use lungscope::mask::{INFECTION, LEFT_LUNG, LabelMask, RIGHT_LUNG};
use lungscope::volume::{Geometry, Volume, Voxels};

/// Grid of the box phantom.
pub const DIMS: [usize; 3] = [40, 30, 30];
/// Voxel size of the box phantom (mm).
pub const SPACING: [f64; 3] = [1.5, 1.5, 2.0];

/// A box in canonical RAS voxel indices (x towards the patient's right,
/// y anterior, z superior), `lo..hi`.
#[derive(Debug, Clone, Copy)]
pub struct CBox {
    pub lo: [usize; 3],
    pub hi: [usize; 3],
}

impl CBox {
    pub fn voxels(&self) -> usize {
        (0..3).map(|a| self.hi[a] - self.lo[a]).product()
    }
}

/// The box phantom, stored with per-axis signs (e.g. LPS = [-1, -1, 1]).
///
/// Right lung (world +x): 12 × 20 × 27 voxels, z 1..28 (thirds of 9 slices);
/// upper third fully infected at −600 HU, half of the lower third at −200 HU.
/// Left lung: 10 × 20 × 24 voxels, z 3..27 (thirds of 8 slices); a quarter of
/// the middle third infected at −600 HU. Healthy lung −900…−801 HU, body 0…399 HU,
/// air −1000 HU.
pub struct Phantom {
    pub geometry: Geometry,
    /// 1 left, 2 right, 3 infection.
    pub labels: LabelMask,
    /// 1 = lung (no sides), infection included.
    pub lung: LabelMask,
    /// 1 = infection.
    pub infection: LabelMask,
    /// HU volume (int16, real-HU-like).
    pub volume: Volume,
}

pub const RIGHT: CBox = CBox {
    lo: [22, 5, 1],
    hi: [34, 25, 28],
};
pub const LEFT: CBox = CBox {
    lo: [4, 5, 3],
    hi: [14, 25, 27],
};
/// Right upper third (z 19..28).
pub const RIGHT_UPPER_INF: CBox = CBox {
    lo: [22, 5, 19],
    hi: [34, 25, 28],
};
/// Half of the right lower third (y 5..15, z 1..10).
pub const RIGHT_LOWER_INF: CBox = CBox {
    lo: [22, 5, 1],
    hi: [34, 15, 10],
};
/// A quarter of the left middle third (y 5..10, z 11..19).
pub const LEFT_MIDDLE_INF: CBox = CBox {
    lo: [4, 5, 11],
    hi: [14, 10, 19],
};

/// Storage index of canonical RAS voxel `c` on a grid made by `with_signs`.
pub fn storage(c: [usize; 3], signs: [f64; 3]) -> [usize; 3] {
    let mut v = c;
    for a in 0..3 {
        if signs[a] < 0.0 {
            v[a] = DIMS[a] - 1 - c[a];
        }
    }
    v
}

fn paint(g: &Geometry, data: &mut [u8], b: CBox, signs: [f64; 3], value: u8) {
    for z in b.lo[2]..b.hi[2] {
        for y in b.lo[1]..b.hi[1] {
            for x in b.lo[0]..b.hi[0] {
                let [i, j, k] = storage([x, y, z], signs);
                data[g.index(i, j, k)] = value;
            }
        }
    }
}

impl Phantom {
    pub fn new(signs: [f64; 3]) -> Self {
        let g = Geometry::with_signs(DIMS, SPACING, signs);
        let mut labels = vec![0u8; g.len()];
        paint(&g, &mut labels, RIGHT, signs, RIGHT_LUNG);
        paint(&g, &mut labels, LEFT, signs, LEFT_LUNG);
        let mut hu_inf = vec![0i16; g.len()];
        let mut inf = vec![0u8; g.len()];
        for (b, hu) in [
            (RIGHT_UPPER_INF, -600i16),
            (RIGHT_LOWER_INF, -200),
            (LEFT_MIDDLE_INF, -600),
        ] {
            paint(&g, &mut inf, b, signs, 1);
            let mut tmp = vec![0u8; g.len()];
            paint(&g, &mut tmp, b, signs, 1);
            for (h, t) in hu_inf.iter_mut().zip(&tmp) {
                if *t != 0 {
                    *h = hu;
                }
            }
        }
        let mut hu = vec![0i16; g.len()];
        let [nx, ny, _] = DIMS;
        for (idx, h) in hu.iter_mut().enumerate() {
            let (i, j) = (idx % nx, (idx / nx) % ny);
            *h = if inf[idx] != 0 {
                hu_inf[idx]
            } else if labels[idx] != 0 {
                -900 + (idx % 100) as i16
            } else if (1..nx - 1).contains(&i) && (2..ny - 2).contains(&j) {
                (idx % 400) as i16
            } else {
                -1000
            };
        }
        let map: Vec<u8> = labels
            .iter()
            .zip(&inf)
            .map(|(&l, &f)| if f != 0 { INFECTION } else { l })
            .collect();
        let lung: Vec<u8> = labels.iter().map(|&l| u8::from(l != 0)).collect();
        Self {
            labels: LabelMask::new(g.clone(), map).expect("size"),
            lung: LabelMask::new(g.clone(), lung).expect("size"),
            infection: LabelMask::new(g.clone(), inf).expect("size"),
            volume: Volume::new(g.clone(), Voxels::I16(hu)).expect("size"),
            geometry: g,
        }
    }
}
