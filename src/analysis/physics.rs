//! HU physics of lungs and infection on measured-HU CT.
//!
//! A network trained on lung-window images can call anything lung: bowel gas,
//! fat, muscle. On a CT in measured Hounsfield units the physics says what lung
//! can be, and [`gate`] keeps only the network's voxels that obey it:
//!
//! 1. **Body**: the largest 3-D component denser than −500 HU, its holes filled on
//!    every axial slice (lungs, airways and bowel gas are holes of the body; the
//!    air around the patient and the table are not).
//! 2. **Air inside the body**: voxels of the filled body below −400 HU, split
//!    into 3-D components.
//! 3. **Lung parenchyma is not pure air**: aerated lung is air with tissue, vessels
//!    and bronchial walls in every voxel (−900 to −700 HU in a normal lung; higher
//!    where diseased). A component of which most voxels lie below −950 HU (pure air)
//!    is bowel gas, an air pocket or an airway on its own, and is not lung.
//!    Emphysema that severe (more than half of the lung below −950 HU) is out of
//!    this rule's scope and is said in the docs.
//! 4. **Lung envelope**: the kept components, their holes filled per axial slice
//!    (consolidation and nodules inside the lung), grown by `envelope_margin_mm` in
//!    the slice plane (consolidation at the pleura), inside the filled body.
//! 5. **Lung** = network lung ∩ envelope.
//! 6. **Infection** is ground glass (−750 … −300 HU) or denser, inside the lung: a
//!    voxel whose 3 × 3 in-plane mean is below −750 HU is aerated lung, not
//!    infection, and is removed.
//! 7. **Ground glass raises the parenchyma around it**: in each axial slice,
//!    tissue denser than `solid_min_hu` inside the lung is consolidation where it
//!    is wide (it survives a morphological opening with a disk of
//!    `vessel_open_mm`); narrower dense tissue is vessels, bronchial walls and
//!    fissures. An infection voxel outside such wide consolidation whose
//!    parenchymal surroundings (the mean HU of the lung that is not dense, within
//!    `background_mm` in plane) are at or below `ggo_background_hu` sits in
//!    aerated lung: a vessel, the partial-volume rim around one, or a thin band of
//!    haze; it is removed. Vessels inside ground glass keep their label (their
//!    surroundings are ground glass). The price: ground-glass spots narrower than
//!    about the window (9 mm) in otherwise aerated lung, and the convex corners of
//!    larger patches, can be trimmed.
//!
//! On images that are not measured HU (the 8-bit lung-window images of the public
//! COVID-19 sets) nothing is gated and the report says so.

use super::distance::squared_distance;
use super::{Components, Connectivity};
use crate::volume::{SliceMap, View, Volume};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Thresholds of the HU physics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PhysicsConfig {
    /// Tissue of the body is denser than this (HU).
    pub body_min_hu: f32,
    /// Air-density voxels (lung, airways, gas) are below this (HU).
    pub air_max_hu: f32,
    /// Pure air is below this (HU).
    pub pure_air_hu: f32,
    /// An air component with more than this fraction of pure air is not lung.
    pub pure_air_max_fraction: f64,
    /// Air components smaller than this (mL) are not lung (air trapped in bowel
    /// content, noise below the air threshold).
    pub min_air_component_ml: f64,
    /// The lung envelope grows this far (mm) in the slice plane around the aerated
    /// lung, to keep consolidation at the pleura.
    pub envelope_margin_mm: f64,
    /// Infection is at least this dense (HU, 3 × 3 in-plane mean).
    pub infection_min_hu: f32,
    /// Infection denser than this (HU, 3 × 3 in-plane mean: consolidation
    /// density) must lie within the aerated lung's outline...
    pub solid_min_hu: f32,
    /// ... grown by this much (mm): dense "infection" beyond it is the
    /// diaphragm, chest wall or heart seen through partial volume.
    pub dense_border_mm: f64,
    /// Dense tissue (above `solid_min_hu`) that does not survive an opening with a
    /// disk of this radius (mm) is vessel-like, not consolidation.
    #[serde(default = "default_vessel_open_mm")]
    pub vessel_open_mm: f64,
    /// Half side (mm) of the in-plane square over which the parenchymal background
    /// around an infection voxel is averaged.
    #[serde(default = "default_background_mm")]
    pub background_mm: f64,
    /// Ground glass raises the parenchyma above this (HU): infection whose
    /// background is at or below it lies in aerated lung.
    #[serde(default = "default_ggo_background_hu")]
    pub ggo_background_hu: f32,
}

fn default_vessel_open_mm() -> f64 {
    2.0
}

fn default_background_mm() -> f64 {
    4.0
}

fn default_ggo_background_hu() -> f32 {
    -700.0
}

impl Default for PhysicsConfig {
    fn default() -> Self {
        Self {
            body_min_hu: -500.0,
            air_max_hu: -400.0,
            pure_air_hu: -950.0,
            pure_air_max_fraction: 0.5,
            min_air_component_ml: 0.3,
            envelope_margin_mm: 10.0,
            infection_min_hu: -750.0,
            solid_min_hu: -300.0,
            dense_border_mm: 3.0,
            vessel_open_mm: default_vessel_open_mm(),
            background_mm: default_background_mm(),
            ggo_background_hu: default_ggo_background_hu(),
        }
    }
}

/// What the HU physics did to a segmentation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhysicsReport {
    /// False when the volume is not in measured HU (nothing was gated).
    pub applied: bool,
    /// One sentence: what was done, or why not.
    pub note: String,
    /// Air components inside the body kept as possible lung.
    pub air_components_kept: usize,
    /// Their volume (mL).
    pub air_kept_ml: f64,
    /// Air components refused as pure air (bowel gas, air pockets, airways alone)
    /// or as too small.
    pub air_components_refused: usize,
    /// Their volume (mL).
    pub air_refused_ml: f64,
    /// Network lung outside the lung envelope, removed (mL).
    pub lung_removed_ml: f64,
    /// Lung components entirely above or below the axial range of the largest
    /// lung component (bowel gas under the lung bases), removed (mL).
    pub lung_outside_axial_range_ml: f64,
    /// Network infection on aerated lung (below the infection threshold), removed (mL).
    pub infection_removed_aerated_ml: f64,
    /// Dense network infection outside the aerated lung's outline (diaphragm,
    /// chest wall, heart), removed (mL).
    #[serde(default)]
    pub infection_removed_border_ml: f64,
    /// Network infection in aerated surroundings (vessels, their rims, thin
    /// haze: step 7 of the module docs), removed (mL).
    #[serde(default)]
    pub infection_removed_regional_ml: f64,
}

/// The region where lung can be on a measured-HU volume (column-major on the
/// volume's grid), with the figures of how it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct LungEnvelope {
    /// True where lung can be.
    pub inside: Vec<bool>,
    /// True inside the aerated lung itself (holes filled, grown by
    /// `dense_border_mm`): dense infection must lie here.
    pub core: Vec<bool>,
    /// Air components kept as possible lung and their mL.
    pub kept: (usize, f64),
    /// Air components refused as pure air and their mL.
    pub refused: (usize, f64),
}

/// The lung envelope of a measured-HU volume (steps 1–4 of the module docs).
pub fn lung_envelope(volume: &Volume, cfg: &PhysicsConfig) -> LungEnvelope {
    let g = &volume.geometry;
    let dims = g.dims;
    let n = g.len();
    let map = volume.slice_map(View::Axial);
    let voxel_ml = g.voxel_ml();

    // 1. body: the largest component denser than body_min_hu.
    let dense: Vec<bool> = (0..n)
        .into_par_iter()
        .map(|i| volume.voxels.get(i) > cfg.body_min_hu)
        .collect();
    let body = Components::of_bool(dims, &dense, Connectivity::Face6).select(|c| c == 1);
    drop(dense);

    // 2. the body filled per axial slice, and the air inside it (the filled body
    // is kept: it bounds the envelope in step 4).
    let (body_filled, air_slices): (Vec<Vec<bool>>, Vec<Vec<bool>>) = (0..map.depth)
        .into_par_iter()
        .map(|k| {
            let filled = fill_holes(&map.extract(dims, &body, k), map.width, map.height);
            let hu = volume.slice(View::Axial, k).data;
            let air = filled
                .iter()
                .zip(&hu)
                .map(|(&f, &h)| f && h < cfg.air_max_hu)
                .collect();
            (filled, air)
        })
        .unzip();
    drop(body);
    let mut air = vec![false; n];
    for (k, s) in air_slices.iter().enumerate() {
        map.insert(dims, &mut air, k, s);
    }
    drop(air_slices);

    // 3. components; refuse those mostly of pure air.
    let comps = Components::of_bool(dims, &air, Connectivity::Face6);
    drop(air);
    let mut pure = vec![0u64; comps.count()];
    let nx = dims[0];
    for run in &comps.runs {
        let base = run.row as usize * nx;
        let c = run.component as usize - 1;
        for idx in base + run.start as usize..base + run.end as usize {
            if volume.voxels.get(idx) < cfg.pure_air_hu {
                pure[c] += 1;
            }
        }
    }
    let min_voxels = if voxel_ml > 0.0 {
        (cfg.min_air_component_ml / voxel_ml).ceil() as u64
    } else {
        0
    };
    let lung_like = |c: u32| -> bool {
        let i = c as usize - 1;
        let size = comps.sizes[i].max(1) as f64;
        comps.sizes[i] >= min_voxels && (pure[i] as f64 / size) <= cfg.pure_air_max_fraction
    };
    let (mut kept, mut refused) = ((0usize, 0.0f64), (0usize, 0.0f64));
    for c in 1..=comps.count() as u32 {
        let ml = comps.size(c) as f64 * voxel_ml;
        if lung_like(c) {
            kept.0 += 1;
            kept.1 += ml;
        } else {
            refused.0 += 1;
            refused.1 += ml;
        }
    }
    let lung_air = comps.select(lung_like);
    drop(comps);

    // 4. envelope: holes filled, grown in plane, inside the filled body.
    let px = map.pixel_mm(g);
    let margin2 = cfg.envelope_margin_mm.max(0.0).powi(2);
    let core2 = cfg.dense_border_mm.max(0.0).powi(2);
    let env_slices: Vec<Vec<u8>> = (0..map.depth)
        .into_par_iter()
        .map(|k| {
            let a = map.extract(dims, &lung_air, k);
            if !a.iter().any(|&v| v) {
                return vec![0u8; a.len()];
            }
            let filled = fill_holes(&a, map.width, map.height);
            let d2 = squared_distance(&filled, map.width, map.height, px, true);
            // bit 0: envelope; bit 1: core (hole-filled aerated lung grown by
            // `dense_border_mm` only)
            d2.iter()
                .zip(&body_filled[k])
                .map(|(&d, &b)| u8::from(b && d <= margin2) | (u8::from(b && d <= core2) << 1))
                .collect()
        })
        .collect();
    drop(lung_air);
    let mut bits = vec![0u8; n];
    for (k, s) in env_slices.iter().enumerate() {
        if s.len() == map.width * map.height {
            map.insert(dims, &mut bits, k, s);
        }
    }
    LungEnvelope {
        inside: bits.iter().map(|&b| b & 1 != 0).collect(),
        core: bits.iter().map(|&b| b & 2 != 0).collect(),
        kept,
        refused,
    }
}

/// Applies the HU physics to the network's masks (column-major on the volume's
/// grid, changed in place): lung outside the envelope and infection on aerated
/// lung are removed. Nothing is changed when the volume is not measured HU.
pub fn gate(
    volume: &Volume,
    lung: Option<&mut [bool]>,
    infection: Option<&mut [bool]>,
    cfg: &PhysicsConfig,
) -> PhysicsReport {
    let check = volume.hu_check();
    if !check.looks_like_hu {
        return PhysicsReport {
            applied: false,
            note: format!(
                "HU physics not applied: the volume is not measured HU ({})",
                check.reason
            ),
            ..PhysicsReport::default()
        };
    }
    let voxel_ml = volume.geometry.voxel_ml();
    let mut report = PhysicsReport {
        applied: true,
        ..PhysicsReport::default()
    };
    let env = (lung.is_some() || infection.is_some()).then(|| lung_envelope(volume, cfg));
    let mut lung_after: Option<Vec<bool>> = None;
    if let (Some(lung), Some(env)) = (lung, &env) {
        report.air_components_kept = env.kept.0;
        report.air_kept_ml = env.kept.1;
        report.air_components_refused = env.refused.0;
        report.air_refused_ml = env.refused.1;
        let mut removed = 0u64;
        for (l, &e) in lung.iter_mut().zip(&env.inside) {
            if *l && !e {
                *l = false;
                removed += 1;
            }
        }
        report.lung_removed_ml = removed as f64 * voxel_ml;
        let off = keep_axial_overlap(volume, lung);
        report.lung_outside_axial_range_ml = off as f64 * voxel_ml;
        lung_after = Some(lung.to_vec());
    }
    if let Some(inf) = infection {
        let core = env.as_ref().map(|e| (e.core.as_slice(), cfg.solid_min_hu));
        let (aerated, border) =
            remove_implausible_infection(volume, inf, cfg.infection_min_hu, core);
        report.infection_removed_aerated_ml = aerated as f64 * voxel_ml;
        report.infection_removed_border_ml = border as f64 * voxel_ml;
        let regional = remove_in_aerated_surroundings(volume, lung_after.as_deref(), inf, cfg);
        report.infection_removed_regional_ml = regional as f64 * voxel_ml;
    }
    report.note = format!(
        "HU physics applied: {} air component(s) of {:.0} mL kept as possible lung, {} of pure air or too small ({:.0} mL) refused; {:.1} mL of network lung outside the lung envelope, {:.1} mL of lung above or below the lungs, {:.1} mL of infection on aerated lung (< {:.0} HU), {:.1} mL in aerated surroundings (vessels, their rims; mean of the non-dense lung within {:.0} mm <= {:.0} HU) and {:.1} mL of dense infection outside the aerated lung's outline removed",
        report.air_components_kept,
        report.air_kept_ml,
        report.air_components_refused,
        report.air_refused_ml,
        report.lung_removed_ml,
        report.lung_outside_axial_range_ml,
        report.infection_removed_aerated_ml,
        cfg.infection_min_hu,
        report.infection_removed_regional_ml,
        cfg.background_mm,
        cfg.ggo_background_hu,
        report.infection_removed_border_ml
    );
    report
}

/// Lungs lie side by side: every lung component shares axial slices with the
/// largest one. Components entirely above or below its axial range (bowel gas
/// under the lung bases) are removed; returns the voxels removed.
pub fn keep_axial_overlap(volume: &Volume, lung: &mut [bool]) -> u64 {
    let dims = volume.geometry.dims;
    let axis = volume.slice_map(View::Axial).normal_axis;
    let comps = Components::of_bool(dims, lung, Connectivity::Face6);
    if comps.count() < 2 {
        return 0;
    }
    let mut range = vec![(usize::MAX, 0usize); comps.count()];
    for run in &comps.runs {
        let (j, k) = comps.row_jk(run.row);
        let (lo, hi) = match axis {
            0 => (run.start as usize, run.end as usize - 1),
            1 => (j, j),
            _ => (k, k),
        };
        let r = &mut range[run.component as usize - 1];
        r.0 = r.0.min(lo);
        r.1 = r.1.max(hi);
    }
    let main = range[0];
    let keep = |c: u32| {
        let r = range[c as usize - 1];
        r.0 <= main.1 && r.1 >= main.0
    };
    let mut removed = 0u64;
    for c in 1..=comps.count() as u32 {
        if !keep(c) {
            removed += comps.size(c);
        }
    }
    if removed > 0 {
        let kept = comps.select(keep);
        lung.copy_from_slice(&kept);
    }
    removed
}

/// Removes infection voxels whose 3 × 3 in-plane (axial) mean HU is at or below
/// `min_hu` (aerated lung), and, with `core = Some((core, solid_hu))`, those whose
/// mean is above `solid_hu` (consolidation density) outside `core` (the aerated
/// lung's outline). Returns the voxels removed by each rule.
pub fn remove_implausible_infection(
    volume: &Volume,
    infection: &mut [bool],
    min_hu: f32,
    core: Option<(&[bool], f32)>,
) -> (u64, u64) {
    let dims = volume.geometry.dims;
    let map: SliceMap = volume.slice_map(View::Axial);
    let (w, h) = (map.width, map.height);
    let per_slice: Vec<(usize, Vec<bool>, u64, u64)> = (0..map.depth)
        .into_par_iter()
        .filter_map(|k| {
            let inf = map.extract(dims, infection, k);
            if !inf.iter().any(|&v| v) {
                return None;
            }
            let hu = volume.slice(View::Axial, k).data;
            let core_slice = core.map(|(c, solid)| (map.extract(dims, c, k), solid));
            let mut out = inf.clone();
            let (mut aerated, mut border) = (0u64, 0u64);
            for r in 0..h {
                for c in 0..w {
                    let idx = r * w + c;
                    if !inf[idx] {
                        continue;
                    }
                    let (mut s, mut m) = (0.0f32, 0u32);
                    for rr in r.saturating_sub(1)..(r + 2).min(h) {
                        for cc in c.saturating_sub(1)..(c + 2).min(w) {
                            s += hu[rr * w + cc];
                            m += 1;
                        }
                    }
                    let mean = s / m as f32;
                    if mean <= min_hu {
                        out[idx] = false;
                        aerated += 1;
                    } else if let Some((cs, solid)) = &core_slice
                        && mean > *solid
                        && !cs[idx]
                    {
                        out[idx] = false;
                        border += 1;
                    }
                }
            }
            Some((k, out, aerated, border))
        })
        .collect();
    let (mut total_a, mut total_b) = (0, 0);
    for (k, s, a, b) in per_slice {
        if a + b > 0 {
            map.insert(dims, infection, k, &s);
            total_a += a;
            total_b += b;
        }
    }
    (total_a, total_b)
}

/// Removes infection in aerated surroundings (step 7 of the module docs): per
/// axial slice, infection voxels outside wide dense tissue (consolidation) whose
/// parenchymal surroundings are at or below `cfg.ggo_background_hu`.
/// `lung` (column-major on the volume's grid, may be `None`) and the infection
/// together are the lung region. Returns the voxels removed.
pub fn remove_in_aerated_surroundings(
    volume: &Volume,
    lung: Option<&[bool]>,
    infection: &mut [bool],
    cfg: &PhysicsConfig,
) -> u64 {
    let g = &volume.geometry;
    let dims = g.dims;
    let map: SliceMap = volume.slice_map(View::Axial);
    let (w, h) = (map.width, map.height);
    let px = map.pixel_mm(g);
    let open2 = cfg.vessel_open_mm.max(0.0).powi(2);
    // half sides of the background window in pixels, per axis
    let half = |mm: f64| -> usize {
        if mm > 0.0 {
            (cfg.background_mm.max(0.0) / mm).round() as usize
        } else {
            0
        }
    };
    let (hx, hy) = (half(px[0]), half(px[1]));
    let per_slice: Vec<(usize, Vec<bool>, u64)> = (0..map.depth)
        .into_par_iter()
        .filter_map(|k| {
            let inf = map.extract(dims, infection, k);
            if !inf.iter().any(|&v| v) {
                return None;
            }
            let hu = volume.slice(View::Axial, k).data;
            let region: Vec<bool> = match lung {
                Some(l) => map
                    .extract(dims, l, k)
                    .iter()
                    .zip(&inf)
                    .map(|(&a, &b)| a || b)
                    .collect(),
                None => inf.clone(),
            };
            let solid: Vec<bool> = region
                .iter()
                .zip(&hu)
                .map(|(&r, &v)| r && v > cfg.solid_min_hu)
                .collect();
            // opening = erosion then dilation by a disk (exact, via distances)
            let to_background = squared_distance(&solid, w, h, px, false);
            let eroded: Vec<bool> = to_background.iter().map(|&d| d > open2).collect();
            let wide: Vec<bool> = if eroded.iter().any(|&v| v) {
                squared_distance(&eroded, w, h, px, true)
                    .iter()
                    .map(|&d| d <= open2)
                    .collect()
            } else {
                vec![false; w * h]
            };
            // summed-area tables of the non-dense lung's HU and count
            let (sw, sh) = (w + 1, h + 1);
            let mut sum = vec![0.0f64; sw * sh];
            let mut cnt = vec![0u32; sw * sh];
            for r in 0..h {
                let (mut rs, mut rc) = (0.0f64, 0u32);
                for c in 0..w {
                    let idx = r * w + c;
                    if region[idx] && !solid[idx] {
                        rs += f64::from(hu[idx]);
                        rc += 1;
                    }
                    sum[(r + 1) * sw + c + 1] = sum[r * sw + c + 1] + rs;
                    cnt[(r + 1) * sw + c + 1] = cnt[r * sw + c + 1] + rc;
                }
            }
            let mut out = inf.clone();
            let mut removed = 0u64;
            for r in 0..h {
                for c in 0..w {
                    let idx = r * w + c;
                    if !inf[idx] || wide[idx] {
                        continue;
                    }
                    let (r0, r1) = (r.saturating_sub(hy), (r + hy + 1).min(h));
                    let (c0, c1) = (c.saturating_sub(hx), (c + hx + 1).min(w));
                    let n = cnt[r1 * sw + c1] + cnt[r0 * sw + c0]
                        - cnt[r0 * sw + c1]
                        - cnt[r1 * sw + c0];
                    if n == 0 {
                        continue; // all dense around: consolidation
                    }
                    let s = sum[r1 * sw + c1] + sum[r0 * sw + c0]
                        - sum[r0 * sw + c1]
                        - sum[r1 * sw + c0];
                    if s / f64::from(n) <= f64::from(cfg.ggo_background_hu) {
                        out[idx] = false;
                        removed += 1;
                    }
                }
            }
            (removed > 0).then_some((k, out, removed))
        })
        .collect();
    let mut total = 0;
    for (k, s, n) in per_slice {
        map.insert(dims, infection, k, &s);
        total += n;
    }
    total
}

/// Fills the holes of a row-major binary image: background pixels not connected
/// (4-connectivity) to the image border become foreground.
pub fn fill_holes(mask: &[bool], w: usize, h: usize) -> Vec<bool> {
    let mut outside = vec![false; mask.len()];
    let mut stack: Vec<usize> = Vec::new();
    let seed = |idx: usize, outside: &mut Vec<bool>, stack: &mut Vec<usize>| {
        if !mask[idx] && !outside[idx] {
            outside[idx] = true;
            stack.push(idx);
        }
    };
    for c in 0..w {
        seed(c, &mut outside, &mut stack);
        if h > 0 {
            seed((h - 1) * w + c, &mut outside, &mut stack);
        }
    }
    for r in 0..h {
        seed(r * w, &mut outside, &mut stack);
        if w > 0 {
            seed(r * w + w - 1, &mut outside, &mut stack);
        }
    }
    while let Some(idx) = stack.pop() {
        let (r, c) = (idx / w, idx % w);
        if c > 0 {
            seed(idx - 1, &mut outside, &mut stack);
        }
        if c + 1 < w {
            seed(idx + 1, &mut outside, &mut stack);
        }
        if r > 0 {
            seed(idx - w, &mut outside, &mut stack);
        }
        if r + 1 < h {
            seed(idx + w, &mut outside, &mut stack);
        }
    }
    outside.iter().map(|&o| !o).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Geometry, Voxels};

    #[test]
    fn holes_are_filled_border_background_is_not() {
        // 5x5 ring with a hole in the middle and a notch open to the border.
        let w = 5;
        let mut m = vec![false; 25];
        for r in 1..4 {
            for c in 1..4 {
                m[r * w + c] = !(r == 2 && c == 2);
            }
        }
        let f = fill_holes(&m, w, 5);
        assert!(f[2 * w + 2], "the hole is filled");
        assert!(!f[0], "the border stays background");
        assert_eq!(f.iter().filter(|&&v| v).count(), 9);
    }

    /// A body (water) with two "lungs" of aerated parenchyma (−850 HU) and a pure
    /// air pocket (−1000 HU) standing for bowel gas.
    fn phantom() -> Volume {
        let dims = [40, 40, 6];
        let g = Geometry::with_signs(dims, [2.0, 2.0, 5.0], [-1.0, -1.0, 1.0]);
        let mut v = vec![-1000i16; g.len()];
        for k in 0..6 {
            for j in 0..40 {
                for i in 0..40 {
                    let (x, y) = (i as i32 - 20, j as i32 - 20);
                    let idx = g.index(i, j, k);
                    if x * x + y * y < 18 * 18 {
                        v[idx] = 40;
                    }
                    let left = (x + 8) * (x + 8) + y * y < 36;
                    let right = (x - 8) * (x - 8) + y * y < 36;
                    if left || right {
                        // parenchyma with a vessel pattern: mostly -850
                        v[idx] = if i % 5 == 0 && j % 5 == 0 { -200 } else { -850 };
                    }
                    if (x * x + (y - 12) * (y - 12)) < 6 {
                        v[idx] = -1000;
                    }
                }
            }
        }
        // scanner noise, so the phantom has the grey levels of a measured CT
        for (n, x) in v.iter_mut().enumerate() {
            *x += ((n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57) as i16 - 64;
        }
        Volume::new(g, Voxels::I16(v)).expect("sizes match")
    }

    #[test]
    fn envelope_keeps_parenchyma_and_refuses_pure_air() {
        let vol = phantom();
        let env = lung_envelope(&vol, &PhysicsConfig::default());
        assert_eq!(env.kept.0, 2, "two lungs kept");
        assert_eq!(env.refused.0, 1, "the gas pocket refused");
        let g = &vol.geometry;
        assert!(env.inside[g.index(12, 20, 3)], "left lung centre inside");
        assert!(!env.inside[g.index(20, 32, 3)], "gas pocket outside");
        assert!(!env.inside[g.index(0, 0, 3)], "outside the body");
    }

    #[test]
    fn infection_on_aerated_lung_is_removed_dense_is_kept() {
        let mut vol = phantom();
        let g = vol.geometry.clone();
        // ground glass in the right lung
        if let Voxels::I16(v) = &mut vol.voxels {
            for k in 0..6 {
                for j in 18..23 {
                    for i in 26..31 {
                        v[g.index(i, j, k)] = -500;
                    }
                }
            }
        }
        let n = g.len();
        let mut lung = vec![false; n];
        let mut inf = vec![false; n];
        for k in 0..6 {
            for j in 0..40 {
                for i in 0..40 {
                    let (x, y) = (i as i32 - 20, j as i32 - 20);
                    let l = (x + 8) * (x + 8) + y * y < 36 || (x - 8) * (x - 8) + y * y < 36;
                    lung[g.index(i, j, k)] = l || (x * x + (y - 12) * (y - 12)) < 6;
                    inf[g.index(i, j, k)] = l;
                }
            }
        }
        let r = gate(
            &vol,
            Some(&mut lung),
            Some(&mut inf),
            &PhysicsConfig::default(),
        );
        assert!(r.applied, "{}", r.note);
        assert!(!lung[g.index(20, 32, 3)], "gas pocket is not lung");
        assert!(r.lung_removed_ml > 0.0);
        assert!(
            !inf[g.index(12, 20, 3)],
            "aerated left lung is not infection"
        );
        assert!(inf[g.index(28, 20, 3)], "ground glass stays infection");
        assert!(r.infection_removed_aerated_ml > 0.0);
    }

    /// Aerated lung (−850 HU) crossed by a thin vessel (+40 HU, 2 px = 2 mm wide),
    /// beside a wide consolidation (+20 HU, 16 mm) and a ground-glass patch
    /// (−550 HU, 24 mm) with a vessel through it; the network called all of them
    /// infection. The vessel in aerated lung and its rim go; the consolidation,
    /// the ground glass and the vessel inside it stay (the patch loses at most its
    /// corners).
    #[test]
    fn vessels_in_aerated_lung_are_not_infection() {
        let (w, hgt) = (64usize, 64usize);
        let g = Geometry::with_signs([w, hgt, 1], [1.0, 1.0, 5.0], [-1.0, -1.0, 1.0]);
        let mut v = vec![-850i16; g.len()];
        let mut inf = vec![false; g.len()];
        for j in 0..hgt {
            for i in 0..w {
                let idx = g.index(i, j, 0);
                if (30..32).contains(&j) && i < 20 {
                    v[idx] = 40; // vessel in aerated lung
                    inf[idx] = true;
                } else if (29..33).contains(&j) && i < 20 {
                    v[idx] = -600; // its partial-volume rim
                    inf[idx] = true;
                }
                let (x, y) = (i as i32 - 48, j as i32 - 16);
                if x * x + y * y <= 64 {
                    v[idx] = 20; // consolidation, a disk of 8 mm radius
                    inf[idx] = true;
                }
                if (36..60).contains(&i) && (36..60).contains(&j) {
                    v[idx] = if (47..49).contains(&i) { 40 } else { -550 };
                    inf[idx] = true;
                }
            }
        }
        let vol = Volume::new(g.clone(), Voxels::I16(v)).expect("sizes");
        let lung = vec![true; g.len()];
        let before = inf.clone();
        let removed =
            remove_in_aerated_surroundings(&vol, Some(&lung), &mut inf, &PhysicsConfig::default());
        let vessel_rim = (0..20usize)
            .flat_map(|i| (29..33usize).map(move |j| (i, j)))
            .filter(|&(i, j)| !inf[g.index(i, j, 0)])
            .count();
        assert_eq!(vessel_rim, 80, "the vessel and its rim removed");
        let consolidation_lost = (0..w)
            .flat_map(|i| (0..hgt).map(move |j| (i, j)))
            .filter(|&(i, j)| (i as i32 - 48).pow(2) + (j as i32 - 16).pow(2) <= 64)
            .filter(|&(i, j)| !inf[g.index(i, j, 0)])
            .count();
        // the disk's four one-pixel tips are narrower than the opening
        assert!(
            consolidation_lost <= 8,
            "consolidation kept: {consolidation_lost} lost"
        );
        let patch: Vec<usize> = (36..60usize)
            .flat_map(|i| (36..60usize).map(move |j| (i, j)))
            .map(|(i, j)| g.index(i, j, 0))
            .collect();
        let kept = patch.iter().filter(|&&i| inf[i]).count();
        assert!(
            kept * 100 >= patch.len() * 85,
            "ground glass kept but for corners: {kept} of {}",
            patch.len()
        );
        assert_eq!(
            removed as usize,
            80 + consolidation_lost + patch.len() - kept
        );
        assert!(
            before.iter().zip(&inf).all(|(&b, &a)| b || !a),
            "nothing added"
        );
        assert!(inf[g.index(48, 16, 0)], "consolidation centre kept");
        assert!(inf[g.index(40, 16, 0)], "consolidation edge kept");
        assert!(inf[g.index(40, 40, 0)], "ground glass kept");
        assert!(inf[g.index(47, 48, 0)], "vessel inside ground glass kept");
    }

    #[test]
    fn not_hu_is_not_gated() {
        let g = Geometry::with_signs([8, 8, 2], [1.0; 3], [1.0; 3]);
        let mut vol = Volume::new(g.clone(), Voxels::I16(vec![100; g.len()])).expect("sizes");
        vol.info.file_datatype = "uint8".into();
        let mut lung = vec![true; g.len()];
        let r = gate(&vol, Some(&mut lung), None, &PhysicsConfig::default());
        assert!(!r.applied);
        assert!(r.note.contains("not measured HU"), "{}", r.note);
        assert!(lung.iter().all(|&v| v));
    }
}
