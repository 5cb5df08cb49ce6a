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
use crate::volume::{View, Volume};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub mod infection;

use infection::{remove_implausible_infection, remove_in_aerated_surroundings};

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
mod tests;
