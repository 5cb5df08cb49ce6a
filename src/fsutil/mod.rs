//! File-system helpers shared by every reader and writer of the core, each in one
//! place: the atomic writer ([`write_atomic`]), the "never overwrite an input"
//! check of a single write ([`refuse_inputs`]) and the output planner
//! ([`OutputPlan`]) that checks all outputs of a command before the first byte is
//! written, SHA-256 of bytes, files and folders ([`sha256_hex`], [`sha256_file`],
//! [`sha256_folder`]), and private scratch folders ([`ScratchDir`]) for benchmarks.
//!
//! No GUI dependency; each module that writes keeps its own error type and maps
//! [`FsError`] (and [`OverInput`]) into it with `From`.

mod atomic;
mod error;
mod hash;
mod paths;
mod plan;
mod scratch;

pub use atomic::{write_atomic, write_atomic_with};
pub use error::{FsError, OverInput};
pub use hash::{sha256_file, sha256_folder, sha256_hex, sha256_path};
pub use paths::{is_same_or_inside, resolve, same_file};
pub use plan::{Conflict, OutputPlan, PlanError, over_input, refuse_inputs, stem_problem};
pub use scratch::ScratchDir;
