//! Segmentation engine: U-Net / U-Net++ in burn, device choice, inference, training.
