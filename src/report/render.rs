//! CPU rendering of key slices for reports: an axial slice in the lung window,
//! radiological orientation (patient right on the image's left), the label overlay
//! in the colours of [`LabelTable`], and orientation letters at the edges.

use super::ReportError;
use crate::mask::{INFECTION, LabelMask, LabelTable};
use crate::volume::{View, Volume};
use crate::windowing::WindowLevel;

/// An 8-bit RGB image, row-major, top row first.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` bytes.
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// A black image.
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            pixels: vec![0; width * height * 3],
        }
    }

    /// The pixel at `(x, y)`.
    pub fn get(&self, x: usize, y: usize) -> [u8; 3] {
        let o = (y * self.width + x) * 3;
        [self.pixels[o], self.pixels[o + 1], self.pixels[o + 2]]
    }

    fn set(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.width && y < self.height {
            let o = (y * self.width + x) * 3;
            self.pixels[o..o + 3].copy_from_slice(&c);
        }
    }

    /// PNG bytes of the image.
    pub fn to_png(&self) -> Result<Vec<u8>, ReportError> {
        use image::ImageEncoder;
        let mut out = Vec::new();
        let w =
            u32::try_from(self.width).map_err(|_| ReportError::Image("image too wide".into()))?;
        let h =
            u32::try_from(self.height).map_err(|_| ReportError::Image("image too tall".into()))?;
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(&self.pixels, w, h, image::ExtendedColorType::Rgb8)
            .map_err(|e| ReportError::Image(e.to_string()))?;
        Ok(out)
    }
}

/// Opacity of the infection fill.
const INFECTION_ALPHA: f32 = 0.45;
/// Images smaller than this (longest side, pixels) are enlarged by an integer factor.
const MIN_SIDE: usize = 400;
/// Rendered images are at most this many pixels on their longest side (very
/// anisotropic grids are shrunk to fit instead of allocating gigabytes).
pub const MAX_SIDE: usize = 4096;

/// Renders axial slice `slice` of `volume` with `labels` on top: infection filled
/// and outlined, other labels (the lungs) outlined.
///
/// Anisotropic pixels are resampled (nearest neighbour) to square ones, and small
/// slices are enlarged so the image is at least `MIN_SIDE` pixels wide or tall;
/// images are never larger than [`MAX_SIDE`] pixels on a side (shrunk to fit).
pub fn render_axial(
    volume: &Volume,
    labels: &LabelMask,
    slice: usize,
    window: WindowLevel,
    table: &LabelTable,
) -> Result<RgbImage, ReportError> {
    if !labels.geometry.same_grid(&volume.geometry) {
        return Err(ReportError::Image(
            "the label map is not on the volume's grid".into(),
        ));
    }
    let hu = volume.slice(View::Axial, slice);
    let lab = labels.slice(View::Axial, slice);
    let (w, h) = (hu.width, hu.height);
    if w == 0 || h == 0 {
        return Err(ReportError::Image("empty slice".into()));
    }
    let lut = table.lut();
    // Base image at native resolution.
    let mut base = RgbImage::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let g = window.apply_u8(hu.get(x, y));
            let mut c = [g, g, g];
            let l = lab.get(x, y);
            let edge = l != 0 && is_edge(&lab.data, w, h, x, y);
            if l != 0 {
                let col = lut[l as usize];
                let rgb = [col[0], col[1], col[2]];
                if edge {
                    c = rgb;
                } else if l == INFECTION {
                    c = blend(c, rgb, INFECTION_ALPHA);
                }
            }
            base.set(x, y, c);
        }
    }
    // Square pixels, then enlarge.
    let [pw, ph] = hu.pixel_mm;
    let unit = pw.min(ph).max(1e-6);
    let (fw, fh) = (w as f64 * pw / unit, h as f64 * ph / unit);
    let longest = fw.max(fh);
    let shrink = if longest.is_finite() && longest > MAX_SIDE as f64 {
        MAX_SIDE as f64 / longest
    } else if longest.is_finite() {
        1.0
    } else {
        return Err(ReportError::Image("non-finite pixel size".into()));
    };
    let (sw, sh) = (
        ((fw * shrink).round() as usize).clamp(1, MAX_SIDE),
        ((fh * shrink).round() as usize).clamp(1, MAX_SIDE),
    );
    let factor = MIN_SIDE.div_ceil(sw.max(sh)).max(1);
    let (ow, oh) = (sw * factor, sh * factor);
    let mut out = RgbImage::new(ow, oh);
    for y in 0..oh {
        let sy = (y * h / oh).min(h - 1);
        for x in 0..ow {
            let sx = (x * w / ow).min(w - 1);
            out.set(x, y, base.get(sx, sy));
        }
    }
    draw_orientation_letters(&mut out, View::Axial.edge_labels());
    Ok(out)
}

fn blend(a: [u8; 3], b: [u8; 3], alpha: f32) -> [u8; 3] {
    let m = |x: u8, y: u8| (f32::from(x) * (1.0 - alpha) + f32::from(y) * alpha).round() as u8;
    [m(a[0], b[0]), m(a[1], b[1]), m(a[2], b[2])]
}

/// True if a 4-neighbour of `(x, y)` has another label (or lies outside).
fn is_edge(data: &[u8], w: usize, h: usize, x: usize, y: usize) -> bool {
    let l = data[y * w + x];
    let differs = |xx: usize, yy: usize| data[yy * w + xx] != l;
    x == 0
        || y == 0
        || x + 1 == w
        || y + 1 == h
        || differs(x - 1, y)
        || differs(x + 1, y)
        || differs(x, y - 1)
        || differs(x, y + 1)
}

/// Draws `[left, right, top, bottom]` letters at the edge centres.
fn draw_orientation_letters(img: &mut RgbImage, letters: [char; 4]) {
    let scale = (img.width.min(img.height) / 160).clamp(2, 6);
    let (cw, ch) = (5 * scale, 7 * scale);
    let margin = scale * 2;
    let (w, h) = (img.width, img.height);
    let spots = [
        (margin, (h.saturating_sub(ch)) / 2),
        (w.saturating_sub(cw + margin), (h.saturating_sub(ch)) / 2),
        ((w.saturating_sub(cw)) / 2, margin),
        ((w.saturating_sub(cw)) / 2, h.saturating_sub(ch + margin)),
    ];
    for (letter, (x, y)) in letters.iter().zip(spots) {
        draw_char(img, *letter, x, y, scale);
    }
}

/// 5×7 glyphs (one byte per row, bit 4 = leftmost column) of the letters used.
fn glyph(c: char) -> [u8; 7] {
    match c {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        _ => [0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F],
    }
}

/// A letter in yellow with a one-pixel black shadow, for legibility on any image.
fn draw_char(img: &mut RgbImage, c: char, x0: usize, y0: usize, scale: usize) {
    let g = glyph(c);
    for (colour, off) in [([0, 0, 0], 1usize), ([255, 230, 0], 0)] {
        for (row, bits) in g.iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        img.set(
                            x0 + col * scale + dx + off * scale / 2,
                            y0 + row * scale + dy + off * scale / 2,
                            colour,
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::{LEFT_LUNG, RIGHT_LUNG};
    use crate::volume::{Geometry, Voxels};

    /// An LPS volume whose patient-right half (low i) is bright.
    fn setup() -> (Volume, LabelMask) {
        let g = Geometry::with_signs([40, 30, 3], [1.0, 1.0, 2.0], [-1.0, -1.0, 1.0]);
        let mut v = vec![-1000i16; g.len()];
        let mut l = vec![0u8; g.len()];
        for k in 0..3 {
            for j in 0..30 {
                for i in 0..40 {
                    let idx = g.index(i, j, k);
                    if i < 20 {
                        v[idx] = 100;
                    }
                    if (5..15).contains(&i) && (10..20).contains(&j) {
                        l[idx] = RIGHT_LUNG;
                    }
                    if (25..35).contains(&i) && (10..20).contains(&j) {
                        l[idx] = if (28..32).contains(&i) && (13..17).contains(&j) {
                            INFECTION
                        } else {
                            LEFT_LUNG
                        };
                    }
                }
            }
        }
        let vol = Volume::new(g.clone(), Voxels::I16(v)).expect("size");
        (vol, LabelMask::new(g, l).expect("size"))
    }

    #[test]
    fn radiological_orientation_with_overlay() {
        let (vol, lab) = setup();
        let table = LabelTable::default();
        let img =
            render_axial(&vol, &lab, 1, WindowLevel::new(1500.0, -600.0), &table).expect("render");
        // 40 x 30 pixels enlarged by ceil(400 / 40) = 10.
        assert_eq!((img.width, img.height), (400, 300));
        // LPS storage is already radiological: patient right (bright) on the left.
        let left = img.get(100, 30);
        let right = img.get(300, 30);
        assert!(left[0] > 200 && right[0] < 80, "{left:?} {right:?}");
        // Infection interior is tinted red; lung interior keeps its grey.
        let inf = img.get(300, 150);
        assert!(inf[0] > inf[1] + 50, "{inf:?}");
        let lung_inside = img.get(265, 125);
        assert_eq!(lung_inside[0], lung_inside[1]);
        // The lung outline carries the label colour.
        let c = table.get(LEFT_LUNG).expect("named").color;
        assert_eq!(img.get(255, 150), [c[0], c[1], c[2]]);
        let png = img.to_png().expect("png");
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn letters_are_drawn() {
        let (vol, lab) = setup();
        let img = render_axial(
            &vol,
            &lab,
            0,
            WindowLevel::new(1500.0, -600.0),
            &LabelTable::default(),
        )
        .expect("render");
        let yellow = img.pixels.chunks(3).filter(|p| p == &[255, 230, 0]).count();
        assert!(yellow > 4 * 20, "{yellow} yellow pixels");
    }

    #[test]
    fn extreme_aspect_ratio_is_bounded_in_pixels() {
        // Regression: spacing 0.001 x 1000 mm asked for a 12.3 GB key-slice image.
        let g = Geometry::with_signs([40, 30, 1], [0.001, 1000.0, 1.0], [1.0; 3]);
        let vol = Volume::new(g.clone(), Voxels::I16(vec![0; g.len()])).expect("volume");
        let lab = LabelMask::empty(g);
        let img = render_axial(
            &vol,
            &lab,
            0,
            WindowLevel::new(1500.0, -600.0),
            &LabelTable::default(),
        )
        .expect("render");
        assert!(img.width <= MAX_SIDE && img.height <= MAX_SIDE);
        assert!(img.width >= 1 && img.height >= 1);
    }

    #[test]
    fn mismatched_grids_are_refused() {
        let (vol, _) = setup();
        let other = LabelMask::empty(Geometry::with_signs([4, 3, 3], [1.0; 3], [1.0; 3]));
        assert!(
            render_axial(
                &vol,
                &other,
                0,
                WindowLevel::new(1.0, 0.0),
                &LabelTable::default()
            )
            .is_err()
        );
    }
}
