//! Contrast-limited adaptive histogram equalisation (CLAHE) of 8-bit images, with
//! the semantics of OpenCV's `cv::createCLAHE(clipLimit, tileGridSize).apply(src)`.
//!
//! The training slices of the shared data were made with OpenCV's CLAHE (clip
//! limit 7, 8 × 8 tiles), so a real CT slice must go through the very same
//! operation to look like them. What OpenCV does, step by step, and what this
//! module reproduces:
//!
//! 1. If the width or the height is not a multiple of the tile count, the image
//!    used for the histograms is extended at the right and the bottom by
//!    `tiles - (size % tiles)` pixels on *both* axes (so an axis that already
//!    divides evenly still gains a whole `tiles` pixels), mirrored without
//!    repeating the edge (`BORDER_REFLECT_101`). The tile size is the extended size
//!    divided by the tile count.
//! 2. Per tile, a 256-bin histogram. The clip limit in counts is
//!    `max(1, floor(clip_limit * tile_area / 256))`; counts above it are cut, their
//!    sum is spread evenly over all bins (`clipped / 256` each) and the remainder
//!    adds one count to every `max(256 / remainder, 1)`-th bin from bin 0.
//! 3. The tile's look-up table is the cumulative histogram times
//!    `255 / tile_area` (single precision), rounded half to even and saturated.
//! 4. Every pixel of the *original* image is mapped through the four nearest
//!    tiles' tables and blended bilinearly, with tile centres at
//!    `(t + 0.5) * tile_size`; weights are computed in single precision exactly as
//!    OpenCV does, so outputs agree bit for bit.

/// CLAHE parameters (OpenCV names: `clipLimit`, `tileGridSize`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClaheParams {
    /// Contrast limit relative to a flat histogram; `<= 0` disables clipping.
    pub clip_limit: f64,
    /// Tiles across (columns).
    pub tiles_x: usize,
    /// Tiles down (rows).
    pub tiles_y: usize,
}

impl ClaheParams {
    /// The parameters the shared training slices were made with: clip limit 7,
    /// 8 × 8 tiles.
    pub const TRAINING: ClaheParams = ClaheParams {
        clip_limit: 7.0,
        tiles_x: 8,
        tiles_y: 8,
    };
}

impl Default for ClaheParams {
    fn default() -> Self {
        Self::TRAINING
    }
}

const BINS: usize = 256;

/// Applies CLAHE to a row-major 8-bit image of `width × height` pixels.
///
/// An empty image (or a zero tile count) is returned unchanged.
///
/// # Panics
/// If `src.len() != width * height` (a caller bug, not a data condition).
pub fn clahe(src: &[u8], width: usize, height: usize, params: ClaheParams) -> Vec<u8> {
    assert_eq!(src.len(), width * height, "clahe: image buffer size");
    let (tx, ty) = (params.tiles_x, params.tiles_y);
    if width == 0 || height == 0 || tx == 0 || ty == 0 {
        return src.to_vec();
    }
    let luts = tile_luts(src, width, height, params);
    let (tile_w, tile_h) = tile_size(width, height, tx, ty);
    interpolate(src, width, height, &luts, (tile_w, tile_h), (tx, ty))
}

/// Tile size after OpenCV's border extension.
fn tile_size(width: usize, height: usize, tx: usize, ty: usize) -> (usize, usize) {
    if width.is_multiple_of(tx) && height.is_multiple_of(ty) {
        (width / tx, height / ty)
    } else {
        let ext_w = width + tx - width % tx;
        let ext_h = height + ty - height % ty;
        (ext_w / tx, ext_h / ty)
    }
}

/// `BORDER_REFLECT_101` index into `0..n` for `i >= 0` (mirror without repeating
/// the edge; repeated for offsets longer than the image).
fn reflect101(i: usize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let r = i % period;
    if r < n { r } else { period - r }
}

/// One look-up table of 256 entries per tile, tiles row-major.
fn tile_luts(src: &[u8], width: usize, height: usize, params: ClaheParams) -> Vec<[u8; BINS]> {
    let (tx, ty) = (params.tiles_x, params.tiles_y);
    let (tile_w, tile_h) = tile_size(width, height, tx, ty);
    let area = tile_w * tile_h;
    let lut_scale = (BINS - 1) as f32 / area as f32;
    let clip = if params.clip_limit > 0.0 {
        ((params.clip_limit * area as f64 / BINS as f64) as i64).max(1)
    } else {
        0
    };
    let mut luts = vec![[0u8; BINS]; tx * ty];
    for (t, lut) in luts.iter_mut().enumerate() {
        let (cx, cy) = (t % tx, t / tx);
        let mut hist = [0i64; BINS];
        for y in cy * tile_h..(cy + 1) * tile_h {
            let row = reflect101(y, height) * width;
            for x in cx * tile_w..(cx + 1) * tile_w {
                hist[usize::from(src[row + reflect101(x, width)])] += 1;
            }
        }
        if clip > 0 {
            clip_histogram(&mut hist, clip);
        }
        let mut sum = 0i64;
        for (entry, &h) in lut.iter_mut().zip(hist.iter()) {
            sum += h;
            *entry = saturate_round(sum as f32 * lut_scale);
        }
    }
    luts
}

/// Cuts counts above `limit` and redistributes them as OpenCV does.
fn clip_histogram(hist: &mut [i64; BINS], limit: i64) {
    let mut clipped = 0i64;
    for h in hist.iter_mut() {
        if *h > limit {
            clipped += *h - limit;
            *h = limit;
        }
    }
    let batch = clipped / BINS as i64;
    let mut residual = clipped - batch * BINS as i64;
    for h in hist.iter_mut() {
        *h += batch;
    }
    if residual != 0 {
        let step = (BINS as i64 / residual).max(1) as usize;
        let mut i = 0usize;
        while i < BINS && residual > 0 {
            hist[i] += 1;
            i += step;
            residual -= 1;
        }
    }
}

/// OpenCV's `saturate_cast<uchar>(float)`: round half to even, clamp to 0..=255.
#[inline]
fn saturate_round(v: f32) -> u8 {
    v.round_ties_even().clamp(0.0, 255.0) as u8
}

/// Bilinear blend of the four nearest tiles' tables for every pixel.
fn interpolate(
    src: &[u8],
    width: usize,
    height: usize,
    luts: &[[u8; BINS]],
    (tile_w, tile_h): (usize, usize),
    (tx, ty): (usize, usize),
) -> Vec<u8> {
    // Per column: the two tile columns and their weights (OpenCV's ind1_p/xa_p).
    let inv_tw = 1.0f32 / tile_w as f32;
    let cols: Vec<(usize, usize, f32, f32)> = (0..width)
        .map(|x| {
            let txf = x as f32 * inv_tw - 0.5;
            let t1 = txf.floor();
            let xa = txf - t1;
            let t1 = t1 as i64;
            let c1 = t1.max(0) as usize;
            let c2 = ((t1 + 1) as usize).min(tx - 1);
            (c1, c2, xa, 1.0 - xa)
        })
        .collect();
    let inv_th = 1.0f32 / tile_h as f32;
    let mut dst = vec![0u8; src.len()];
    for y in 0..height {
        let tyf = y as f32 * inv_th - 0.5;
        let t1 = tyf.floor();
        let ya = tyf - t1;
        let ya1 = 1.0 - ya;
        let t1 = t1 as i64;
        let r1 = t1.max(0) as usize;
        let r2 = ((t1 + 1) as usize).min(ty - 1);
        let (plane1, plane2) = (&luts[r1 * tx..(r1 + 1) * tx], &luts[r2 * tx..(r2 + 1) * tx]);
        let row = y * width;
        for (x, &(c1, c2, xa, xa1)) in cols.iter().enumerate() {
            let v = usize::from(src[row + x]);
            let top = f32::from(plane1[c1][v]) * xa1 + f32::from(plane1[c2][v]) * xa;
            let bottom = f32::from(plane2[c1][v]) * xa1 + f32::from(plane2[c2][v]) * xa;
            dst[row + x] = saturate_round(top * ya1 + bottom * ya);
        }
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(clip: f64, tiles: usize) -> ClaheParams {
        ClaheParams {
            clip_limit: clip,
            tiles_x: tiles,
            tiles_y: tiles,
        }
    }

    /// Hand-checked: a 4 × 4 image, one tile, no clipping, is plain histogram
    /// equalisation: value v maps to round(255 * #(pixels <= v) / 16).
    #[test]
    fn single_tile_without_clip_is_histogram_equalisation() {
        // 8 pixels of 10, 4 of 20, 4 of 30.
        let src: Vec<u8> = [10u8; 8]
            .into_iter()
            .chain([20; 4])
            .chain([30; 4])
            .collect();
        let out = clahe(&src, 4, 4, params(0.0, 1));
        // cdf: 10 -> 8/16 -> 127.5 -> 128 (half to even); 20 -> 12/16 -> 191.25 -> 191;
        // 30 -> 16/16 -> 255.
        let expect: Vec<u8> = [128u8; 8]
            .into_iter()
            .chain([191; 4])
            .chain([255; 4])
            .collect();
        assert_eq!(out, expect);
    }

    /// Hand-checked clipping: a uniform 16 × 16 tile of value 0 with clip limit 2.
    /// area 256 -> limit floor(2 * 256 / 256) = 2; bin 0 holds 256, 254 are cut and
    /// spread: 254 / 256 = 0 per bin, remainder 254 -> step max(256/254, 1) = 1, so
    /// the 254 bins 0..=253 gain one count each. Bin 0 ends at 3 -> lut[0] = round(3 * 255 /
    /// 256) = round(2.988) = 3.
    #[test]
    fn clip_limit_redistributes_like_opencv() {
        let src = vec![0u8; 256];
        let out = clahe(&src, 16, 16, params(2.0, 1));
        assert!(out.iter().all(|&v| v == 3), "{:?}", &out[..4]);
        let mut hist = [0i64; BINS];
        hist[0] = 256;
        clip_histogram(&mut hist, 2);
        assert_eq!(hist[0], 3);
        assert_eq!(hist[253], 1);
        assert_eq!(hist[254], 0);
        assert_eq!(hist.iter().sum::<i64>(), 256);
    }

    #[test]
    fn reflect101_mirrors_without_repeating_edge() {
        // OpenCV: fedcb|abcdefgh|gfedcba
        let n = 8;
        let got: Vec<usize> = (8..11).map(|i| reflect101(i, n)).collect();
        assert_eq!(got, vec![6, 5, 4]);
        assert_eq!(reflect101(3, n), 3);
        assert_eq!(reflect101(5, 1), 0);
    }

    #[test]
    fn tile_size_follows_opencv_padding_quirk() {
        assert_eq!(tile_size(256, 256, 8, 8), (32, 32));
        // Width divides, height does not: both axes are extended.
        assert_eq!(tile_size(256, 250, 8, 8), (33, 32));
        assert_eq!(tile_size(100, 100, 8, 8), (13, 13));
    }

    fn pseudo_random_image(w: usize, h: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..w * h)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = (s >> 58) as usize;
                let x = i % w;
                ((x * 160 / w.max(1)) + noise + 20).min(255) as u8
            })
            .collect()
    }

    #[test]
    fn output_is_monotone_in_input_within_a_tile_region() {
        // Within one tile and no neighbour blending (single tile), the mapping is a
        // monotone look-up table.
        let src = pseudo_random_image(32, 32, 7);
        let out = clahe(&src, 32, 32, params(7.0, 1));
        let mut pairs: Vec<(u8, u8)> = src.iter().copied().zip(out.iter().copied()).collect();
        pairs.sort_unstable();
        for w in pairs.windows(2) {
            assert!(w[0].1 <= w[1].1, "not monotone: {:?}", w);
        }
    }

    #[test]
    fn clip_limit_bounds_the_slope_of_the_mapping() {
        // With clip limit c the per-tile table rises by at most
        // (limit + spread) * 255 / area per grey level, far less than plain
        // equalisation on a spiky histogram.
        let (w, h) = (64, 64);
        let mut src = vec![100u8; w * h];
        for (i, v) in src.iter_mut().enumerate().take(200) {
            *v = (i % 200) as u8 + 20;
        }
        let p = params(2.0, 1);
        let luts = tile_luts(&src, w, h, p);
        let area = (w * h) as f32;
        let limit = (2.0 * area / 256.0).floor();
        let max_step = ((limit + 1.0 + (area / 256.0)) * 255.0 / area).ceil() as i32 + 1;
        for pair in luts[0].windows(2) {
            let step = i32::from(pair[1]) - i32::from(pair[0]);
            assert!(step >= 0 && step <= max_step, "step {step} > {max_step}");
        }
        // Without a limit the spike at 100 jumps by most of the range.
        let free = tile_luts(&src, w, h, params(0.0, 1));
        assert!(i32::from(free[0][100]) - i32::from(free[0][99]) > 200);
    }

    #[test]
    fn output_keeps_size_and_uses_the_range() {
        for &(w, h) in &[(37usize, 23usize), (64, 64), (7, 9)] {
            let src = pseudo_random_image(w, h, 11);
            let out = clahe(&src, w, h, ClaheParams::TRAINING);
            assert_eq!(out.len(), w * h);
            let max = out.iter().copied().max().unwrap_or(0);
            assert!(max >= 200, "{w}x{h}: max {max}");
        }
        assert!(clahe(&[], 0, 0, ClaheParams::TRAINING).is_empty());
    }
}
