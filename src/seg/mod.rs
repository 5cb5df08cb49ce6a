//! Segmentation engine: U-Net / U-Net++ in burn, device choice, inference, training.

pub mod clahe;
pub mod preprocess;
pub mod resample;
