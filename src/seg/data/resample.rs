//! Image resampling between a native slice and the model's square input:
//! bilinear resizing and the aspect-preserving "letterbox" that places a slice of
//! any size and pixel spacing in an `S × S` canvas and takes it out again.
//!
//! This is the one geometric path of the input contract ([`crate::seg::data::input`]):
//! training samples ([`SliceSample::fitted`](crate::seg::data::SliceSample::fitted)),
//! evaluation, fine-tuning and inference ([`Preprocessor`](crate::seg::data::preprocess::Preprocessor))
//! all place their slices with [`Letterbox`] and [`resize`].

use serde::{Deserialize, Serialize};

/// Resizes a row-major `f32` image (`sw × sh` → `dw × dh`) with a separable
/// triangle filter on half-pixel centres (`align_corners = false`).
///
/// Enlarging, this is plain bilinear interpolation (PyTorch's
/// `F.interpolate(mode="bilinear")`, edges clamped). Shrinking by a factor `f`,
/// the triangle widens to `f` source pixels on each side (PIL's antialiased
/// `BILINEAR`), so the result is an average rather than an aliased sample. Taps
/// outside the image are left out and the weights renormalised. Equal sizes copy
/// the image exactly. An empty source gives a zero image.
pub fn resize(src: &[f32], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<f32> {
    if dw == 0 || dh == 0 {
        return Vec::new();
    }
    if sw == 0 || sh == 0 || src.len() < sw * sh {
        return vec![0.0; dw * dh];
    }
    if sw == dw && sh == dh {
        return src[..sw * sh].to_vec();
    }
    let xs = filter_taps(sw, dw);
    let ys = filter_taps(sh, dh);
    // Horizontal pass over every source row: [sh, dw].
    let mut tmp = Vec::with_capacity(sh * dw);
    for line in src[..sw * sh].chunks_exact(sw) {
        tmp.extend(xs.iter().map(|(first, w)| {
            w.iter()
                .zip(&line[*first..])
                .map(|(c, v)| c * v)
                .sum::<f32>()
        }));
    }
    // Vertical pass: [dh, dw].
    let mut out = vec![0.0f32; dw * dh];
    for (row, (first, w)) in out.chunks_exact_mut(dw).zip(&ys) {
        for (k, &c) in w.iter().enumerate() {
            let src_row = &tmp[(first + k) * dw..(first + k + 1) * dw];
            for (o, &v) in row.iter_mut().zip(src_row) {
                *o += c * v;
            }
        }
    }
    out
}

/// For each destination index: the first source index and the normalised weights
/// of the consecutive source pixels from there.
fn filter_taps(src: usize, dst: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = dst as f64 / src as f64;
    let support = if scale < 1.0 { 1.0 / scale } else { 1.0 };
    (0..dst)
        .map(|d| {
            let centre = (d as f64 + 0.5) / scale - 0.5;
            let lo = ((centre - support).floor() + 1.0).max(0.0) as usize;
            let hi = (((centre + support).ceil() - 1.0).max(0.0) as usize).min(src - 1);
            let lo = lo.min(hi);
            let mut w: Vec<f32> = (lo..=hi)
                .map(|i| (1.0 - (i as f64 - centre).abs() / support).max(0.0) as f32)
                .collect();
            let sum: f32 = w.iter().sum();
            if sum > 0.0 {
                w.iter_mut().for_each(|v| *v /= sum);
            } else {
                // The centre lies beyond the edge pixel: take the nearest one.
                w.iter_mut().for_each(|v| *v = 0.0);
                let nearest = centre.round().clamp(lo as f64, hi as f64) as usize - lo;
                w[nearest] = 1.0;
            }
            (lo, w)
        })
        .collect()
}

/// Where a native slice sits inside the model's `size × size` input.
///
/// The slice is scaled by the same factor in millimetres on both axes (so anatomy
/// keeps its proportions whatever the pixel spacing), to fit the longer physical
/// side to `size`, and centred; the rest is padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Letterbox {
    /// Side of the model input.
    pub size: usize,
    /// Native slice width (columns).
    pub src_w: usize,
    /// Native slice height (rows).
    pub src_h: usize,
    /// Width of the slice inside the input.
    pub content_w: usize,
    /// Height of the slice inside the input.
    pub content_h: usize,
    /// Columns of padding on the left.
    pub offset_x: usize,
    /// Rows of padding at the top.
    pub offset_y: usize,
}

impl Letterbox {
    /// The letterbox of a `src_w × src_h` slice with pixel size `pixel_mm`
    /// (`[width, height]` in mm; a non-positive or non-finite size counts as 1 mm).
    pub fn new(src_w: usize, src_h: usize, pixel_mm: [f64; 2], size: usize) -> Self {
        let mm = |v: f64| if v.is_finite() && v > 0.0 { v } else { 1.0 };
        let (w_mm, h_mm) = (
            src_w as f64 * mm(pixel_mm[0]),
            src_h as f64 * mm(pixel_mm[1]),
        );
        let longest = w_mm.max(h_mm);
        let fit = |extent: f64| {
            if longest > 0.0 {
                ((extent / longest * size as f64).round() as usize).clamp(1, size.max(1))
            } else {
                size
            }
        };
        let (content_w, content_h) = (fit(w_mm), fit(h_mm));
        Self {
            size,
            src_w,
            src_h,
            content_w,
            content_h,
            offset_x: (size - content_w.min(size)) / 2,
            offset_y: (size - content_h.min(size)) / 2,
        }
    }

    /// Scale from native pixels to input pixels `(x, y)`.
    pub fn scale(&self) -> (f64, f64) {
        (
            self.content_w as f64 / self.src_w.max(1) as f64,
            self.content_h as f64 / self.src_h.max(1) as f64,
        )
    }

    /// Resizes a native slice to the content size ([`resize`]).
    pub fn resize_to_content(&self, native: &[f32]) -> Vec<f32> {
        resize(
            native,
            self.src_w,
            self.src_h,
            self.content_w,
            self.content_h,
        )
    }

    /// Resizes a content-sized image back to the native slice size ([`resize`]).
    pub fn resize_to_native(&self, content: &[f32]) -> Vec<f32> {
        resize(
            content,
            self.content_w,
            self.content_h,
            self.src_w,
            self.src_h,
        )
    }

    /// Places a content-sized image into a `size × size` canvas filled with `fill`.
    pub fn pad(&self, content: &[f32], fill: f32) -> Vec<f32> {
        let mut out = vec![fill; self.size * self.size];
        for (r, line) in content
            .chunks_exact(self.content_w.max(1))
            .take(self.content_h)
            .enumerate()
        {
            let start = (r + self.offset_y) * self.size + self.offset_x;
            out[start..start + line.len()].copy_from_slice(line);
        }
        out
    }

    /// Takes the content region out of a `size × size` image (inverse of [`Self::pad`]).
    pub fn unpad(&self, padded: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.content_w * self.content_h);
        for r in 0..self.content_h {
            let start = (r + self.offset_y) * self.size + self.offset_x;
            out.extend_from_slice(&padded[start..start + self.content_w]);
        }
        out
    }

    /// A native slice to the `size × size` model input: resized to the content
    /// size, then padded with `fill` ([`Self::resize_to_content`] + [`Self::pad`]).
    pub fn fit(&self, native: &[f32], fill: f32) -> Vec<f32> {
        self.pad(&self.resize_to_content(native), fill)
    }

    /// A 0/1 mask fitted like the image: non-zero counts as 1, resampled as a
    /// fraction, then `>= 0.5`.
    pub fn fit_mask(&self, native: &[u8]) -> Vec<u8> {
        let fraction: Vec<f32> = native.iter().map(|&v| f32::from(u8::from(v > 0))).collect();
        self.fit(&fraction, 0.0)
            .into_iter()
            .map(|v| u8::from(v >= 0.5))
            .collect()
    }

    /// A `size × size` plane (e.g. probabilities) back onto the native slice
    /// ([`Self::unpad`] + [`Self::resize_to_native`]).
    pub fn unfit(&self, plane: &[f32]) -> Vec<f32> {
        self.resize_to_native(&self.unpad(plane))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_size_resize_is_exact() {
        let img: Vec<f32> = (0..12).map(|v| v as f32 * 0.37).collect();
        assert_eq!(resize(&img, 4, 3, 4, 3), img);
    }

    #[test]
    fn halving_uses_the_widened_triangle() {
        // Factor 2: centre between pixels 2d and 2d+1, support 2 -> weights
        // 1/8, 3/8, 3/8, 1/8 on 2d-1..=2d+2 (edge taps dropped and renormalised).
        let row = [0.0f32, 8.0, 16.0, 24.0, 32.0, 40.0, 48.0, 56.0];
        let out = resize(&row, 8, 1, 4, 1);
        // d = 1: (8*1 + 16*3 + 24*3 + 32*1) / 8 = 20.
        assert!((out[1] - 20.0).abs() < 1e-5, "{out:?}");
        // d = 0: taps 0..=2 with weights 3, 3, 1 (tap -1 dropped): (0 + 24 + 16) / 7.
        assert!((out[0] - 40.0 / 7.0).abs() < 1e-5, "{out:?}");
        // The mean of a ramp is kept when shrinking by any factor.
        let ramp: Vec<f32> = (0..300).map(|v| v as f32).collect();
        for n in [37, 100, 150, 299] {
            let small = resize(&ramp, 300, 1, n, 1);
            let mean = small.iter().sum::<f32>() / n as f32;
            assert!((mean - 149.5).abs() < 1.5, "{n}: {mean}");
        }
    }

    #[test]
    fn upsampling_keeps_constant_and_linear_ramps() {
        let img = vec![3.0f32; 6];
        assert!(
            resize(&img, 3, 2, 7, 5)
                .iter()
                .all(|&v| (v - 3.0).abs() < 1e-6)
        );
        // A horizontal ramp stays a ramp inside (edges are clamped).
        let ramp: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let up = resize(&ramp, 8, 1, 16, 1);
        for w in up[1..15].windows(2) {
            assert!((w[1] - w[0] - 0.5).abs() < 1e-5, "{:?}", w);
        }
    }

    #[test]
    fn letterbox_keeps_physical_proportions() {
        // 512 x 256 pixels of 0.5 x 1.0 mm = 256 x 256 mm: a square in the input.
        let lb = Letterbox::new(512, 256, [0.5, 1.0], 128);
        assert_eq!((lb.content_w, lb.content_h), (128, 128));
        assert_eq!((lb.offset_x, lb.offset_y), (0, 0));
        // 400 x 200 square pixels: wide; padded above and below.
        let lb = Letterbox::new(400, 200, [0.8, 0.8], 256);
        assert_eq!((lb.content_w, lb.content_h), (256, 128));
        assert_eq!((lb.offset_x, lb.offset_y), (0, 64));
        // Same size and square pixels: identity placement.
        let lb = Letterbox::new(256, 256, [1.4, 1.4], 256);
        assert_eq!(
            (lb.content_w, lb.content_h, lb.offset_x, lb.offset_y),
            (256, 256, 0, 0)
        );
        // Bad spacing counts as 1 mm.
        let lb = Letterbox::new(100, 50, [f64::NAN, 0.0], 64);
        assert_eq!((lb.content_w, lb.content_h), (64, 32));
    }

    #[test]
    fn pad_then_unpad_is_exact() {
        for &(w, h, pmm) in &[
            (37usize, 23usize, [1.0, 1.0]),
            (20, 40, [0.7, 0.7]),
            (30, 30, [1.0, 2.0]),
        ] {
            let lb = Letterbox::new(w, h, pmm, 48);
            let content: Vec<f32> = (0..lb.content_w * lb.content_h)
                .map(|v| v as f32 * 0.5 + 1.0)
                .collect();
            let padded = lb.pad(&content, -7.0);
            assert_eq!(padded.len(), 48 * 48);
            assert_eq!(lb.unpad(&padded), content);
            let fill = padded.iter().filter(|&&v| v == -7.0).count();
            assert_eq!(fill, 48 * 48 - content.len());
        }
    }

    #[test]
    fn native_round_trip_at_model_size_is_exact() {
        let lb = Letterbox::new(32, 32, [1.4, 1.4], 32);
        let img: Vec<f32> = (0..32 * 32).map(|v| (v % 97) as f32).collect();
        let there = lb.pad(&lb.resize_to_content(&img), 0.0);
        assert_eq!(lb.resize_to_native(&lb.unpad(&there)), img);
    }

    #[test]
    fn letterbox_pads_the_short_side_and_round_trips_constants() {
        let lb = Letterbox::new(200, 100, [1.0, 1.0], 64);
        assert_eq!(
            (lb.content_w, lb.content_h, lb.offset_x, lb.offset_y),
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
            let out = resize(&src, w, h, n, n);
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
        let lb = Letterbox::new(w, h, [1.0, 1.0], 128);
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
