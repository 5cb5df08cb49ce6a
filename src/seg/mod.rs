//! Segmentation engine, grouped by what each part is for:
//!
//! - [`model`]: the U-Net / U-Net++ in burn, its configuration and the `.lsm` model
//!   files (validated on load);
//! - [`data`]: training data (slices grouped by patient), augmentation, and the model
//!   input contract shared by training and inference (preprocessing, resampling,
//!   CLAHE);
//! - [`infer`]: segmenting a volume, postprocessing to a label map, the background
//!   segmentation job and the reproducibility stamp;
//! - [`train`]: training runs, evaluation, fine-tuning on corrections, losses and
//!   metrics;
//! - [`cpu_engine`]: lungscope's own CPU inference and training engine;
//! - [`store`]: model versions in the user's data folder;
//! - [`device`] and [`error`]: where the network runs, and the one error type.

pub mod cpu_engine;
pub mod data;
pub mod device;
pub mod error;
pub mod infer;
pub mod model;
pub mod store;
pub mod train;

pub use device::{BackendKind, DeviceChoice, SelectedDevice, select_device};
pub use error::SegError;
pub use model::weights::{LoadedModel, ModelCard};
pub use model::{Arch, Head, ModelConfig, SegModel, UpMode};
