//! Preprocessing: a CT volume (or a training image) to the model's input.
//!
//! # The contract (identical in training and inference)
//!
//! The model sees single-channel `S × S` images with values in `[0, 1]` that look
//! like the shared training slices: per-slice min–max normalised, 8-bit, contrast
//! enhanced with OpenCV's CLAHE (clip limit 7, 8 × 8 tiles), stored as `grey / 255`.
//!
//! 1. **Slices.** Axial slices in display orientation (`volume.slice(View::Axial,
//!    k)`: patient right on the image's left, anterior at the top), so the model
//!    sees every file the same way whatever its storage orientation.
//! 2. **Intensities**, chosen once per volume by the HU-validity guard
//!    ([`Volume::hu_check`]):
//!    - *8-bit windowed image* (not HU; e.g. the shared pseudo-HU volumes, whose
//!      `uint8` voxels are the CLAHE images mapped to `[-1250, 250]`): mapped
//!      linearly from the file's grey range to `[0, 1]` ([`grey_range`]); for the
//!      shared volumes this is `(HU + 1250) / 1500 = grey / 255`, exactly the
//!      training image.
//!    - *Real HU*: clipped to the lung window (default `[-1250, 250]` HU, the range
//!      the pseudo-HU volumes use), resized to the content size (step 3), min–max
//!      normalised over the slice, quantised to 8 bits by truncation
//!      (`np.uint8(x * 255)`, as the training slices were), CLAHE with
//!      [`ClaheParams::TRAINING`], then `/ 255`. The resize comes *before* the
//!      normalisation and CLAHE because that is the order the training slices were
//!      made in (resize to 256², min–max, CLAHE), so CLAHE tiles cover the same
//!      number of pixels as in training.
//! 3. **Geometry.** The slice is resized ([`resize`](crate::seg::data::resample::resize): a
//!    triangle filter on half-pixel centres, antialiased when shrinking) by the
//!    same factor in mm on both axes so that its longer physical side spans `S`
//!    pixels, and centred in the `S × S` canvas ([`Letterbox`]); the padding is 0.
//!    The letterbox is kept to undo it on the model's output. A 256 × 256 slice
//!    with square pixels at `S = 256` is not resampled at all.
//!
//! Training images (the shared 256² PNGs, no spacing known) go through
//! [`gray8_to_input`], i.e. steps 2 (windowed) and 3 with square pixels.

use crate::seg::data::clahe::{ClaheParams, clahe};
use crate::seg::data::resample::Letterbox;
use crate::volume::{HuCheck, View, Volume};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The lung window real-HU slices are clipped to, in HU.
pub const LUNG_WINDOW: [f32; 2] = [-1250.0, 250.0];

/// Preprocessing parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PreprocessConfig {
    /// Side `S` of the square model input.
    pub size: usize,
    /// `[low, high]` HU window for real-HU volumes.
    pub lung_window: [f32; 2],
    /// CLAHE for real-HU volumes.
    pub clahe: ClaheParams,
}

impl PreprocessConfig {
    /// The training contract at input size `size`.
    pub fn for_size(size: usize) -> Self {
        Self {
            size,
            lung_window: LUNG_WINDOW,
            clahe: ClaheParams::TRAINING,
        }
    }
}

/// How a volume's intensities are brought to the training look.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Intensity {
    /// An 8-bit windowed image: `[lo, hi]` maps linearly onto `[0, 1]`.
    Windowed {
        /// Value that becomes 0.
        lo: f32,
        /// Value that becomes 1.
        hi: f32,
    },
    /// Measured HU: window clip, min–max, 8-bit, CLAHE.
    HuClahe {
        /// `[low, high]` clip window in HU.
        window: [f32; 2],
        /// CLAHE parameters.
        clahe: ClaheParams,
    },
}

/// The grey range of a volume that is not HU: for an 8-bit file, its type's range
/// through `scl_slope`/`scl_inter` (`[-1250, 250]` for the shared volumes); for
/// integer data within 0..=255, `[0, 255]`; otherwise the volume's min..max.
pub fn grey_range(volume: &Volume) -> [f32; 2] {
    let scaling = volume.info.header.as_deref().map(|h| {
        let (s, i) = (f64::from(h.scl_slope), f64::from(h.scl_inter));
        if s != 0.0 && s.is_finite() {
            (s, if i.is_finite() { i } else { 0.0 })
        } else {
            (1.0, 0.0)
        }
    });
    let typed = match volume.info.file_datatype.as_str() {
        "uint8" => Some((0.0, 255.0)),
        "int8" => Some((-128.0, 127.0)),
        _ => None,
    };
    if let Some((lo, hi)) = typed {
        let (s, i) = scaling.unwrap_or((1.0, 0.0));
        let (a, b) = ((lo * s + i) as f32, (hi * s + i) as f32);
        return [a.min(b), a.max(b)];
    }
    let stats = volume.stats();
    let integral = matches!(volume.voxels, crate::volume::Voxels::I16(_));
    if integral && stats.min >= 0.0 && stats.max <= 255.0 {
        [0.0, 255.0]
    } else {
        [stats.min, stats.max]
    }
}

/// Turns the axial slices of one volume into model inputs.
#[derive(Debug, Clone)]
pub struct Preprocessor {
    intensity: Intensity,
    letterbox: Letterbox,
    hu: HuCheck,
}

impl Preprocessor {
    /// Chooses the intensity path with the HU guard and the letterbox of the
    /// volume's axial slices.
    pub fn new(volume: &Volume, config: &PreprocessConfig) -> Self {
        let hu = volume.hu_check();
        let intensity = if hu.looks_like_hu {
            Intensity::HuClahe {
                window: config.lung_window,
                clahe: config.clahe,
            }
        } else {
            let [lo, hi] = grey_range(volume);
            Intensity::Windowed { lo, hi }
        };
        let map = volume.slice_map(View::Axial);
        let letterbox = Letterbox::new(
            map.width,
            map.height,
            map.pixel_mm(&volume.geometry),
            config.size,
        );
        Self {
            intensity,
            letterbox,
            hu,
        }
    }

    /// The intensity path in use.
    pub fn intensity(&self) -> &Intensity {
        &self.intensity
    }

    /// The HU guard's verdict the choice was made on.
    pub fn hu_check(&self) -> &HuCheck {
        &self.hu
    }

    /// Where the slices sit in the model input.
    pub fn letterbox(&self) -> &Letterbox {
        &self.letterbox
    }

    /// Model input of axial slice `k`: `[S * S]`, row-major.
    pub fn slice_input(&self, volume: &Volume, k: usize) -> Vec<f32> {
        let slice = volume.slice(View::Axial, k);
        let lb = &self.letterbox;
        let content = match self.intensity {
            Intensity::Windowed { lo, hi } => {
                let span = hi - lo;
                let unit: Vec<f32> = slice
                    .data
                    .iter()
                    .map(|&v| {
                        if span > 0.0 {
                            ((v - lo) / span).clamp(0.0, 1.0)
                        } else {
                            0.0
                        }
                    })
                    .collect();
                lb.resize_to_content(&unit)
            }
            Intensity::HuClahe { window, clahe } => hu_to_unit(&slice.data, lb, window, clahe),
        };
        pad(lb, &content)
    }

    /// Axial slice `k` through the same intensity path as [`slice_input`](Self::slice_input)
    /// but at its own resolution, neither resized nor padded: training samples cut
    /// from a volume, which the batcher letterboxes afterwards like any image.
    pub fn slice_unit_native(&self, volume: &Volume, k: usize) -> Vec<f32> {
        let slice = volume.slice(View::Axial, k);
        match self.intensity {
            Intensity::Windowed { lo, hi } => {
                let span = hi - lo;
                slice
                    .data
                    .iter()
                    .map(|&v| {
                        if span > 0.0 {
                            ((v - lo) / span).clamp(0.0, 1.0)
                        } else {
                            0.0
                        }
                    })
                    .collect()
            }
            Intensity::HuClahe { window, clahe } => {
                let side = slice.width.max(slice.height);
                let native = Letterbox::new(slice.width, slice.height, [1.0, 1.0], side);
                hu_to_unit(&slice.data, &native, window, clahe)
            }
        }
    }

    /// Model inputs of several slices, computed in parallel: `[n, 1, S, S]` flat.
    pub fn batch_input(&self, volume: &Volume, slices: &[usize]) -> Vec<f32> {
        let parts: Vec<Vec<f32>> = slices
            .par_iter()
            .map(|&k| self.slice_input(volume, k))
            .collect();
        parts.concat()
    }
}

/// Real-HU slice to a unit image at the letterbox's content size: clip, resize,
/// min–max, truncate to 8 bits, CLAHE, `/ 255`.
fn hu_to_unit(hu: &[f32], lb: &Letterbox, window: [f32; 2], params: ClaheParams) -> Vec<f32> {
    let (lo, hi) = (window[0].min(window[1]), window[0].max(window[1]));
    let clipped: Vec<f32> = hu.iter().map(|&v| v.clamp(lo, hi)).collect();
    let resized = lb.resize_to_content(&clipped);
    let (min, max) = resized
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let span = max - min;
    let bytes: Vec<u8> = resized
        .iter()
        .map(|&v| {
            if span > 0.0 {
                // Truncation, as numpy's uint8 cast of x * 255.
                (((v - min) / span) * 255.0).clamp(0.0, 255.0) as u8
            } else {
                0
            }
        })
        .collect();
    clahe(&bytes, lb.content_w, lb.content_h, params)
        .into_iter()
        .map(|g| f32::from(g) / 255.0)
        .collect()
}

/// The value of the letterbox padding.
pub const PAD_VALUE: f32 = 0.0;

fn pad(lb: &Letterbox, content: &[f32]) -> Vec<f32> {
    lb.pad(content, PAD_VALUE)
}

/// The training side of the contract: an 8-bit training image (`grey / 255`, as
/// the shared PNG slices, already CLAHE-enhanced) of `width × height` square
/// pixels to model input `[S * S]`, with its letterbox.
///
/// # Panics
/// If `img.len() != width * height`.
pub fn gray8_to_input(
    img: &[u8],
    width: usize,
    height: usize,
    size: usize,
) -> (Vec<f32>, Letterbox) {
    assert_eq!(
        img.len(),
        width * height,
        "gray8_to_input: image buffer size"
    );
    let lb = Letterbox::new(width, height, [1.0, 1.0], size);
    let unit: Vec<f32> = img.iter().map(|&g| f32::from(g) / 255.0).collect();
    (lb.fit(&unit, PAD_VALUE), lb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Geometry, Voxels};

    fn pseudo_hu_volume(w: usize, h: usize, d: usize) -> (Volume, Vec<u8>) {
        let grey: Vec<u8> = (0..w * h * d).map(|i| ((i * 37) % 256) as u8).collect();
        let g = Geometry::with_signs([w, h, d], [1.4, 1.4, 1.0], [-1.0, -1.0, 1.0]);
        let vox: Vec<f32> = grey
            .iter()
            .map(|&v| f32::from(v) * 1500.0 / 255.0 - 1250.0)
            .collect();
        let mut v = Volume::new(g, Voxels::F32(vox)).expect("sizes match");
        v.info.file_datatype = "uint8".into();
        let header = nifti::NiftiHeader {
            scl_slope: 1500.0 / 255.0,
            scl_inter: -1250.0,
            ..nifti::NiftiHeader::default()
        };
        v.info.header = Some(Box::new(header));
        (v, grey)
    }

    #[test]
    fn pseudo_hu_slices_give_back_the_training_image() {
        let (vol, grey) = pseudo_hu_volume(16, 16, 2);
        let pre = Preprocessor::new(&vol, &PreprocessConfig::for_size(16));
        let Intensity::Windowed { lo, hi } = *pre.intensity() else {
            panic!("an 8-bit volume takes the windowed path");
        };
        assert!(
            (lo + 1250.0).abs() < 1e-3 && (hi - 250.0).abs() < 1e-3,
            "{lo}..{hi}"
        );
        let input = pre.slice_input(&vol, 1);
        // LPS storage = display order: slice 1 is the second 16x16 block.
        let want: Vec<u8> = grey[256..512].to_vec();
        let (train, _) = gray8_to_input(&want, 16, 16, 16);
        for (a, b) in input.iter().zip(&train) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn real_hu_goes_through_clahe_into_unit_range() {
        let (w, h) = (40, 24);
        let g = Geometry::with_signs([w, h, 1], [0.8, 0.8, 2.0], [-1.0, -1.0, 1.0]);
        let mut vox: Vec<i16> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as i32, (i / w) as i32);
                if (x - 20).pow(2) + (y - 12).pow(2) < 64 {
                    40
                } else {
                    (-900 + (x * 13 + y * 7) % 300) as i16
                }
            })
            .collect();
        vox[0] = -1024;
        let mut vol = Volume::new(g, Voxels::I16(vox)).expect("sizes");
        vol.info.file_datatype = "int16".into();
        // Force the HU path regardless of the small sample's grey-level count.
        let pre = Preprocessor {
            intensity: Intensity::HuClahe {
                window: LUNG_WINDOW,
                clahe: ClaheParams::TRAINING,
            },
            ..Preprocessor::new(&vol, &PreprocessConfig::for_size(32))
        };
        let lb = *pre.letterbox();
        assert_eq!((lb.content_w, lb.content_h), (32, 19));
        let input = pre.slice_input(&vol, 0);
        assert_eq!(input.len(), 32 * 32);
        assert!(input.iter().all(|&v| (0.0..=1.0).contains(&v)));
        // Values are multiples of 1/255 (8-bit CLAHE output).
        assert!(
            input
                .iter()
                .all(|&v| ((v * 255.0).round() - v * 255.0).abs() < 1e-3)
        );
        // Padding rows are 0, the content spans the range after CLAHE.
        assert!(input[..32 * 6].iter().all(|&v| v == PAD_VALUE));
        let max = input.iter().copied().fold(0.0f32, f32::max);
        assert!(max > 0.9, "max {max}");
    }

    #[test]
    fn batch_matches_single_slices() {
        let (vol, _) = pseudo_hu_volume(8, 8, 3);
        let pre = Preprocessor::new(&vol, &PreprocessConfig::for_size(8));
        let batch = pre.batch_input(&vol, &[2, 0]);
        assert_eq!(&batch[..64], &pre.slice_input(&vol, 2)[..]);
        assert_eq!(&batch[64..], &pre.slice_input(&vol, 0)[..]);
    }
}
