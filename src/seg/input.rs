//! The model input contract, shared by training, evaluation and inference.
//!
//! - One channel, values in `[0, 1]`: the lung-window look of the shared slices. For the
//!   PNG slices that is `pixel / 255`; volumes go through
//!   [`Preprocessor`](crate::seg::preprocess::Preprocessor) (for the shared pseudo-HU
//!   volumes that is `(HU + 1250) / 1500` = [`hu_to_unit`]; real HU is windowed and
//!   CLAHE-enhanced the way the training slices were made).
//! - Square `S x S`: the image is scaled by `S / max(w, h)` (aspect preserved) with a
//!   triangle (bilinear, antialiased when shrinking) filter and centred, the rest padded
//!   with 0. [`Letterbox`] does it and undoes it for the network's output.
//! - Orientation is not fixed (the sources differ); the models are trained with dihedral
//!   (flip / 90-degree rotation) augmentation.

/// HU mapped to 0.
pub const HU_LOW: f32 = -1250.0;
/// HU mapped to 1.
pub const HU_HIGH: f32 = 250.0;

/// `(HU + 1250) / 1500`, clamped to `[0, 1]`.
#[inline]
pub fn hu_to_unit(hu: f32) -> f32 {
    ((hu - HU_LOW) / (HU_HIGH - HU_LOW)).clamp(0.0, 1.0)
}

/// Aspect-preserving fit of a `src_w x src_h` image into a `size x size` square.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Source width (columns).
    pub src_w: usize,
    /// Source height (rows).
    pub src_h: usize,
    /// Side of the square.
    pub size: usize,
    /// Width of the scaled image inside the square.
    pub inner_w: usize,
    /// Height of the scaled image inside the square.
    pub inner_h: usize,
    /// Columns of padding on the left.
    pub pad_x: usize,
    /// Rows of padding on top.
    pub pad_y: usize,
}

impl Letterbox {
    /// The fit of `src_w x src_h` into `size x size` (all sizes at least 1).
    pub fn new(src_w: usize, src_h: usize, size: usize) -> Self {
        let (src_w, src_h, size) = (src_w.max(1), src_h.max(1), size.max(1));
        let scale = size as f64 / src_w.max(src_h) as f64;
        let inner_w = ((src_w as f64 * scale).round() as usize).clamp(1, size);
        let inner_h = ((src_h as f64 * scale).round() as usize).clamp(1, size);
        Self {
            src_w,
            src_h,
            size,
            inner_w,
            inner_h,
            pad_x: (size - inner_w) / 2,
            pad_y: (size - inner_h) / 2,
        }
    }

    /// Row-major `src_w x src_h` plane -> row-major `size x size` plane, padded with `pad`.
    pub fn fit(&self, src: &[f32], pad: f32) -> Vec<f32> {
        let inner = resample(src, self.src_w, self.src_h, self.inner_w, self.inner_h);
        let mut out = vec![pad; self.size * self.size];
        for y in 0..self.inner_h {
            let row = &inner[y * self.inner_w..(y + 1) * self.inner_w];
            let start = (y + self.pad_y) * self.size + self.pad_x;
            out[start..start + self.inner_w].copy_from_slice(row);
        }
        out
    }

    /// A 0/1 mask fitted like the image: resampled as a fraction, then `>= 0.5`.
    pub fn fit_mask(&self, src: &[u8]) -> Vec<u8> {
        let f: Vec<f32> = src.iter().map(|&v| f32::from(u8::from(v > 0))).collect();
        self.fit(&f, 0.0)
            .into_iter()
            .map(|v| u8::from(v >= 0.5))
            .collect()
    }

    /// A `size x size` plane (e.g. probabilities) back onto the source grid `src_w x src_h`.
    pub fn unfit(&self, plane: &[f32]) -> Vec<f32> {
        let mut inner = Vec::with_capacity(self.inner_w * self.inner_h);
        for y in 0..self.inner_h {
            let start = (y + self.pad_y) * self.size + self.pad_x;
            inner.extend_from_slice(&plane[start..start + self.inner_w]);
        }
        resample(&inner, self.inner_w, self.inner_h, self.src_w, self.src_h)
    }
}

/// Separable triangle-filter resampling of a row-major plane (half-pixel centres; the
/// filter widens when shrinking, so downscaling averages instead of aliasing).
pub fn resample(src: &[f32], w: usize, h: usize, new_w: usize, new_h: usize) -> Vec<f32> {
    if w == new_w && h == new_h {
        return src.to_vec();
    }
    let wx = weights(w, new_w);
    let wy = weights(h, new_h);
    // Horizontal pass: [h][new_w].
    let mut tmp = vec![0.0f32; h * new_w];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for (x, (start, ws)) in wx.iter().enumerate() {
            tmp[y * new_w + x] = ws
                .iter()
                .enumerate()
                .map(|(k, &c)| c * row[start + k])
                .sum();
        }
    }
    // Vertical pass: [new_h][new_w].
    let mut out = vec![0.0f32; new_h * new_w];
    for (y, (start, ws)) in wy.iter().enumerate() {
        let dst = &mut out[y * new_w..(y + 1) * new_w];
        for (k, &c) in ws.iter().enumerate() {
            let srow = &tmp[(start + k) * new_w..(start + k + 1) * new_w];
            for (d, &s) in dst.iter_mut().zip(srow) {
                *d += c * s;
            }
        }
    }
    out
}

/// For each output index: first source index and normalised filter weights.
fn weights(n_in: usize, n_out: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = n_out as f64 / n_in as f64;
    let support = if scale < 1.0 { 1.0 / scale } else { 1.0 };
    (0..n_out)
        .map(|o| {
            let centre = (o as f64 + 0.5) / scale - 0.5;
            let lo = ((centre - support).floor() as i64 + 1).max(0) as usize;
            let hi = (((centre + support).ceil() as i64 - 1).max(0) as usize).min(n_in - 1);
            let lo = lo.min(hi);
            let mut ws: Vec<f32> = (lo..=hi)
                .map(|i| (1.0 - ((i as f64 - centre).abs() / support)).max(0.0) as f32)
                .collect();
            let sum: f32 = ws.iter().sum();
            if sum > 0.0 {
                ws.iter_mut().for_each(|v| *v /= sum);
            } else {
                // Centre outside the image (tiny sources): take the nearest edge pixel.
                ws = vec![0.0; hi - lo + 1];
                let nearest = (centre.round().clamp(lo as f64, hi as f64) as usize) - lo;
                ws[nearest] = 1.0;
            }
            (lo, ws)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hu_window_maps_the_pseudo_hu_range_onto_unit() {
        assert_eq!(hu_to_unit(-1250.0), 0.0);
        assert_eq!(hu_to_unit(250.0), 1.0);
        assert!((hu_to_unit(-500.0) - 0.5).abs() < 1e-6);
        assert_eq!(hu_to_unit(-3000.0), 0.0);
        assert_eq!(hu_to_unit(3000.0), 1.0);
    }

    #[test]
    fn letterbox_pads_the_short_side_and_round_trips_constants() {
        let lb = Letterbox::new(200, 100, 64);
        assert_eq!(
            (lb.inner_w, lb.inner_h, lb.pad_x, lb.pad_y),
            (64, 32, 0, 16)
        );
        let img = vec![0.7f32; 200 * 100];
        let fitted = lb.fit(&img, 0.0);
        assert_eq!(fitted.len(), 64 * 64);
        assert_eq!(fitted[0], 0.0); // padding row
        assert!((fitted[20 * 64 + 10] - 0.7).abs() < 1e-5);
        let back = lb.unfit(&fitted);
        assert_eq!(back.len(), 200 * 100);
        assert!(back.iter().all(|v| (v - 0.7).abs() < 1e-5));
    }

    #[test]
    fn resampling_preserves_the_mean_of_a_ramp() {
        let (w, h) = (256, 256);
        let src: Vec<f32> = (0..w * h).map(|i| (i % w) as f32 / w as f32).collect();
        for n in [64, 160, 192, 300] {
            let out = resample(&src, w, h, n, n);
            let mean_in = src.iter().sum::<f32>() / src.len() as f32;
            let mean_out = out.iter().sum::<f32>() / out.len() as f32;
            assert!(
                (mean_in - mean_out).abs() < 0.01,
                "{n}: {mean_in} vs {mean_out}"
            );
        }
    }

    #[test]
    fn masks_survive_a_fit_and_unfit() {
        let (w, h) = (256, 256);
        let mut mask = vec![0u8; w * h];
        for y in 64..192 {
            for x in 32..128 {
                mask[y * w + x] = 255;
            }
        }
        let lb = Letterbox::new(w, h, 128);
        let small = lb.fit_mask(&mask);
        assert_eq!(small.iter().map(|&v| v as usize).sum::<usize>(), 64 * 48);
        let back: Vec<f32> = lb.unfit(&small.iter().map(|&v| f32::from(v)).collect::<Vec<_>>());
        let agree = back
            .iter()
            .zip(&mask)
            .filter(|(p, m)| (**p >= 0.5) == (**m > 0))
            .count();
        assert!(agree as f64 / (w * h) as f64 > 0.995);
    }
}
