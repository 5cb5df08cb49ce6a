//! lungscope: chest-CT viewing, COVID-19 lung/infection segmentation and
//! quantification.
//!
//! The core modules have no GUI dependency and serve the headless CLI; the `gui`
//! feature adds the egui/wgpu viewer (`render`, `app`). See `ARCHITECTURE.md`.

pub mod analysis;
pub mod cli;
pub mod edit;
pub mod fsutil;
pub mod fuzz_support;
pub mod io;
pub mod job;
pub mod mask;
pub mod report;
pub mod seg;
pub mod utc;
pub mod volume;
pub mod windowing;

#[cfg(feature = "gui")]
pub mod app;
#[cfg(feature = "gui")]
pub mod render;
