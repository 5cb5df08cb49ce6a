//! Helpers shared by the integration tests, one copy of each. Every test binary
//! that needs one says `mod support;` and calls it by its area:
//!
//! - `data`: where the shared data lie (skipped outside CI when absent), the
//!   Zenodo volumes, `cases.csv` and other simple CSV files;
//! - `tools`: outside programs the tests compare with (python3 with nibabel,
//!   pydicom or SimpleITK) and the check of a finished command;
//! - `seg`: tiny model configurations and model files, synthetic slices;
//! - `analysis`: the box phantom with figures known in closed form;
//! - `gui` (feature `gui`): the viewer under egui_kittest on the software
//!   renderer, dropped files, waiting for background work.
//!
//! The Python scripts beside these files are run by `tools` and by some tests.
// Each test binary uses only part of the module.
#![allow(dead_code)]

pub mod analysis;
pub mod data;
#[cfg(feature = "gui")]
pub mod gui;
pub mod seg;
pub mod tools;
