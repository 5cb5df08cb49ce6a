//! Seeded on-the-fly augmentation of square training samples: dihedral transforms (flips
//! and 90-degree rotations), a small rotation with scaling and a random crop offset (one
//! affine warp), and intensity jitter (contrast, brightness, gamma).
//!
//! Every random draw comes from [`Rng`] seeded from `(seed, epoch, sample index)`, so a
//! run is reproducible whatever the order in which samples are processed.

use serde::{Deserialize, Serialize};

/// A small, fast, seedable generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// A generator for one item of a seeded stream (mixes all parts).
    pub fn for_item(seed: u64, parts: &[u64]) -> Self {
        let mut r = Rng::new(seed);
        for &p in parts {
            let x = r.next_u64() ^ p.wrapping_mul(0xD1B5_4A32_D192_ED03);
            r = Rng::new(x);
        }
        r
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// How strongly to augment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AugmentSettings {
    /// Random flips and 90-degree rotations (the 8 symmetries of the square).
    pub dihedral: bool,
    /// Probability of the affine warp below.
    pub warp_probability: f64,
    /// Largest rotation of the warp, degrees.
    pub max_rotation_deg: f64,
    /// Scale range of the warp (`1 - s ..= 1 + s`).
    pub max_scale: f64,
    /// Largest shift of the warp as a fraction of the side (crop offset).
    pub max_shift: f64,
    /// Largest contrast / brightness change (`x' = a x + b`, `a` in `1 +- c`, `b` in `+- c/2`).
    pub intensity: f64,
    /// Largest gamma exponent change (`x' = x^g`, `g` in `1 +- gamma`).
    pub gamma: f64,
}

impl Default for AugmentSettings {
    fn default() -> Self {
        Self {
            dihedral: true,
            warp_probability: 0.6,
            max_rotation_deg: 15.0,
            max_scale: 0.15,
            max_shift: 0.08,
            intensity: 0.1,
            gamma: 0.2,
        }
    }
}

impl AugmentSettings {
    /// No augmentation at all.
    pub fn none() -> Self {
        Self {
            dihedral: false,
            warp_probability: 0.0,
            max_rotation_deg: 0.0,
            max_scale: 0.0,
            max_shift: 0.0,
            intensity: 0.0,
            gamma: 0.0,
        }
    }
}

/// Augments one square sample in place: `image` is `s x s`, `masks` holds any number of
/// `s x s` 0/1 planes that get the same geometric transform.
pub fn augment(
    image: &mut Vec<f32>,
    masks: &mut [Vec<u8>],
    s: usize,
    settings: &AugmentSettings,
    rng: &mut Rng,
) {
    if settings.dihedral {
        let op = rng.below(8);
        *image = dihedral(image, s, op);
        for m in masks.iter_mut() {
            *m = dihedral(m, s, op);
        }
    }
    if settings.warp_probability > 0.0 && rng.chance(settings.warp_probability) {
        let angle = rng
            .range(-settings.max_rotation_deg, settings.max_rotation_deg)
            .to_radians();
        let scale = rng.range(1.0 - settings.max_scale, 1.0 + settings.max_scale);
        let shift = [
            rng.range(-settings.max_shift, settings.max_shift) * s as f64,
            rng.range(-settings.max_shift, settings.max_shift) * s as f64,
        ];
        let warp = Warp::new(s, angle, scale, shift);
        *image = warp.apply_image(image);
        for m in masks.iter_mut() {
            *m = warp.apply_mask(m);
        }
    }
    if settings.intensity > 0.0 || settings.gamma > 0.0 {
        let a = rng.range(1.0 - settings.intensity, 1.0 + settings.intensity) as f32;
        let b = rng.range(-settings.intensity / 2.0, settings.intensity / 2.0) as f32;
        let g = rng.range(1.0 - settings.gamma, 1.0 + settings.gamma) as f32;
        for v in image.iter_mut() {
            *v = (a * v.clamp(0.0, 1.0).powf(g) + b).clamp(0.0, 1.0);
        }
    }
}

/// One of the 8 symmetries of the square applied to an `s x s` row-major plane:
/// `op & 1` flips horizontally, then `op >> 1` quarter turns counter-clockwise.
pub fn dihedral<T: Copy>(src: &[T], s: usize, op: usize) -> Vec<T> {
    let mut out = src.to_vec();
    for y in 0..s {
        for x in 0..s {
            let (mut sx, mut sy) = (x, y);
            // Invert the rotation: output (x, y) comes from the rotated position.
            for _ in 0..(op >> 1) & 3 {
                let (nx, ny) = (s - 1 - sy, sx);
                sx = nx;
                sy = ny;
            }
            if op & 1 == 1 {
                sx = s - 1 - sx;
            }
            out[y * s + x] = src[sy * s + sx];
        }
    }
    out
}

/// Rotation + scale + shift about the centre of an `s x s` plane (inverse mapping).
struct Warp {
    s: usize,
    /// Output -> source: `src = m * (dst - c - shift) + c`.
    m: [[f64; 2]; 2],
    shift: [f64; 2],
}

impl Warp {
    fn new(s: usize, angle: f64, scale: f64, shift: [f64; 2]) -> Self {
        let (sin, cos) = angle.sin_cos();
        // Inverse of (rotate by angle, then scale): rotate by -angle, divide by scale.
        let m = [[cos / scale, sin / scale], [-sin / scale, cos / scale]];
        Self { s, m, shift }
    }

    fn source(&self, x: usize, y: usize) -> (f64, f64) {
        let c = (self.s as f64 - 1.0) / 2.0;
        let dx = x as f64 - c - self.shift[0];
        let dy = y as f64 - c - self.shift[1];
        (
            self.m[0][0] * dx + self.m[0][1] * dy + c,
            self.m[1][0] * dx + self.m[1][1] * dy + c,
        )
    }

    /// Bilinear, 0 outside.
    fn apply_image(&self, src: &[f32]) -> Vec<f32> {
        let s = self.s;
        let at = |x: i64, y: i64| -> f32 {
            if x < 0 || y < 0 || x >= s as i64 || y >= s as i64 {
                0.0
            } else {
                src[y as usize * s + x as usize]
            }
        };
        let mut out = vec![0.0; s * s];
        for y in 0..s {
            for x in 0..s {
                let (fx, fy) = self.source(x, y);
                let (x0, y0) = (fx.floor(), fy.floor());
                let (tx, ty) = ((fx - x0) as f32, (fy - y0) as f32);
                let (x0, y0) = (x0 as i64, y0 as i64);
                let top = at(x0, y0) * (1.0 - tx) + at(x0 + 1, y0) * tx;
                let bottom = at(x0, y0 + 1) * (1.0 - tx) + at(x0 + 1, y0 + 1) * tx;
                out[y * s + x] = top * (1.0 - ty) + bottom * ty;
            }
        }
        out
    }

    /// Nearest neighbour, 0 outside.
    fn apply_mask(&self, src: &[u8]) -> Vec<u8> {
        let s = self.s;
        let mut out = vec![0; s * s];
        for y in 0..s {
            for x in 0..s {
                let (fx, fy) = self.source(x, y);
                let (ix, iy) = (fx.round(), fy.round());
                if ix >= 0.0 && iy >= 0.0 && (ix as usize) < s && (iy as usize) < s {
                    out[y * s + x] = src[iy as usize * s + ix as usize];
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eight_dihedral_ops_are_distinct_permutations() {
        let s = 4;
        let src: Vec<u32> = (0..16).collect();
        let mut seen = Vec::new();
        for op in 0..8 {
            let out = dihedral(&src, s, op);
            let mut sorted = out.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, src, "op {op} is a permutation");
            assert!(!seen.contains(&out), "op {op} repeats another");
            seen.push(out);
        }
        assert_eq!(dihedral(&src, s, 0), src);
        // A horizontal flip mirrors each row.
        assert_eq!(&dihedral(&src, s, 1)[..4], &[3, 2, 1, 0]);
    }

    #[test]
    fn augmentation_is_reproducible_and_keeps_masks_aligned() {
        let s = 32;
        let image: Vec<f32> = (0..s * s)
            .map(|i| if (i % s) < 10 { 1.0 } else { 0.0 })
            .collect();
        let mask: Vec<u8> = image.iter().map(|&v| u8::from(v > 0.5)).collect();
        let run = |seed| {
            let mut img = image.clone();
            let mut masks = vec![mask.clone()];
            let settings = AugmentSettings {
                intensity: 0.0,
                gamma: 0.0,
                warp_probability: 1.0,
                ..AugmentSettings::default()
            };
            augment(
                &mut img,
                &mut masks,
                s,
                &settings,
                &mut Rng::for_item(seed, &[3, 7]),
            );
            (img, masks.remove(0))
        };
        let (a_img, a_mask) = run(1);
        let (b_img, b_mask) = run(1);
        assert_eq!(a_img, b_img);
        assert_eq!(a_mask, b_mask);
        // Where the mask is set the image is bright (both got the same warp).
        let agree = a_img
            .iter()
            .zip(&a_mask)
            .filter(|(v, m)| (**v > 0.5) == (**m == 1))
            .count();
        assert!(agree as f64 / (s * s) as f64 > 0.95, "{agree}");
    }
}
