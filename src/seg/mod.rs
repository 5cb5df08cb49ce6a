//! Segmentation engine: U-Net / U-Net++ in burn, device choice, model files, the model
//! input contract (preprocessing), inference and postprocessing, losses, metrics,
//! training.

pub mod augment;
pub mod clahe;
pub mod corrections;
pub mod cpu_engine;
pub mod data;
pub mod device;
pub mod error;
pub mod infer;
pub mod input;
pub mod job;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod model_config;
pub mod postprocess;
pub mod preprocess;
pub mod resample;
pub mod stamp;
pub mod train;
pub mod versions;
pub mod weights;

pub use device::{BackendKind, DeviceChoice, SelectedDevice, select_device};
pub use error::SegError;
pub use model::{Arch, Head, ModelConfig, SegModel, UpMode};
pub use weights::{LoadedModel, ModelCard};
