//! File input/output: NIfTI-1/NIfTI-2 volumes and label masks, DICOM volumes.

mod budget;
mod convert;
pub mod dicom;
pub mod error;
pub mod header;
mod inflate;
pub mod limits;
pub mod names;
pub mod open;
pub mod qform;
pub mod read;
pub mod write;

pub use dicom::{DicomError, ReadProgress, SeriesChoice, SeriesIndex, SeriesSummary, list_series};
pub use error::NiftiError;
pub use header::Header;
pub use open::{is_dicom_path, open_volume, open_volume_with};
pub use read::{mask_from_volume, not_labels_reason, read_header, read_mask, read_volume};
pub use write::{write_mask, write_volume};
