//! The model input contract, shared by training, evaluation and inference.
//!
//! - One channel, values in `[0, 1]`: the lung-window look of the shared slices. For the
//!   PNG slices that is `pixel / 255`; volumes go through
//!   [`Preprocessor`](crate::seg::data::preprocess::Preprocessor) (for the shared pseudo-HU
//!   volumes that is `(HU + 1250) / 1500` = [`hu_to_unit`]; real HU is windowed and
//!   CLAHE-enhanced the way the training slices were made).
//! - Square `S x S`: the image is scaled to fit its longer physical side to `S`
//!   (aspect preserved) with a triangle (bilinear, antialiased when shrinking) filter
//!   and centred, the rest padded with 0. One type does it for training and
//!   inference alike, and undoes it for the network's output:
//!   [`Letterbox`](crate::seg::data::resample::Letterbox) with [`resize`](crate::seg::data::resample::resize).
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
}
