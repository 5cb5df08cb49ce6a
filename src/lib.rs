//! lungscope: chest-CT viewing, COVID-19 lung/infection segmentation and
//! quantification.
//!
//! The core modules (everything but `render` and `app`) have no GUI dependency
//! and serve the headless CLI; the `gui` feature adds the egui/wgpu viewer.

pub mod io;
pub mod mask;
pub mod volume;
pub mod windowing;
