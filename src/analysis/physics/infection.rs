//! The infection rules of the HU physics (steps 6 and 7 of [`super`]): infection
//! of aerated-lung density, consolidation density outside the lung's outline, and
//! infection whose parenchymal surroundings are aerated lung.

use super::PhysicsConfig;
use crate::analysis::distance::squared_distance;
use crate::volume::{SliceMap, View, Volume};
use rayon::prelude::*;

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
