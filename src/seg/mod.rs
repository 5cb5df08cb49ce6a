//! Segmentation engine: U-Net / U-Net++ in burn, device choice, model files, the model
//! input contract, losses, metrics, training.

pub mod augment;
pub mod data;
pub mod device;
pub mod error;
pub mod input;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod train;
pub mod versions;
pub mod weights;

pub use device::{BackendKind, DeviceChoice, SelectedDevice, select_device};
pub use error::SegError;
pub use model::{Arch, Head, ModelConfig, SegModel, UpMode};
pub use weights::{LoadedModel, ModelCard};
