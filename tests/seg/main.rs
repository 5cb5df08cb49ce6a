//! Integration tests of segmentation: data and preprocessing, the network and model
//! files (hostile ones included), the CPU engine, training, fine-tuning, inference,
//! post-processing, the shipped model, real-HU checks and the `segment`/`train`/`eval`
//! commands.
//!
//! One test crate per area (each links the library once); the modules are the
//! former one-file test crates.

#[path = "../support/mod.rs"]
mod support;

mod cli;
mod cli_batch;
mod cpu_engine;
mod data;
mod default_model;
mod device;
mod finetune_case;
mod finetune_real;
mod infer;
mod loss_metrics;
mod model;
mod model_files_hostile;
mod postprocess;
mod preprocess;
mod real_hu;
mod train;
mod versions;
