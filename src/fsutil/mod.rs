//! File-system helpers shared by every writer of the core: the atomic writer
//! ([`write_atomic`]) and the output planner ([`OutputPlan`]) that checks all outputs
//! of a command before the first byte is written, and private scratch folders
//! ([`ScratchDir`]) for benchmarks.
//!
//! No GUI dependency; each module that writes keeps its own error type and maps
//! [`AtomicWriteError`] into it.

mod atomic;
mod paths;
mod plan;
mod scratch;

pub use atomic::{AtomicWriteError, write_atomic, write_atomic_with};
pub use paths::{is_same_or_inside, resolve, same_file};
pub use plan::{Conflict, OutputPlan, PlanError, over_input, stem_problem};
pub use scratch::ScratchDir;
