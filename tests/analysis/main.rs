//! Integration tests of analysis, reports and editing in the core: phantoms with
//! closed-form figures, the shared volumes, the report writers, the `report` command,
//! undo/redo.
//!
//! One test crate per area (each links the library once); the modules are the
//! former one-file test crates.

#[path = "../support/mod.rs"]
mod support;

mod cli_report;
mod edit_undo;
mod phantoms;
mod real_volumes;
mod report_writers;
