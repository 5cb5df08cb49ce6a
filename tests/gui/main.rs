//! Integration tests of the viewer under egui_kittest on the software renderer: the
//! app, GPU compute and shaders, editing, rendered pixels, segmentation in the viewer.
//!
//! One test crate per area (each links the library once); the modules are the
//! former one-file test crates.
#![cfg(feature = "gui")]

#[path = "../support/mod.rs"]
mod support;

mod app;
mod compute;
mod edit;
mod edit_state;
mod render_pixels;
mod segment;
mod shaders;
