//! File input/output: NIfTI-1/NIfTI-2 volumes and label masks.

pub mod error;
pub mod header;
mod inflate;
pub mod qform;
pub mod read;
pub mod write;

pub use error::NiftiError;
pub use header::Header;
pub use read::{read_header, read_mask, read_volume};
pub use write::{write_mask, write_volume};
