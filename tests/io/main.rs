//! Integration tests of reading and writing: NIfTI (round trips, nibabel
//! interoperability, malformed and hostile files), DICOM (decoding,
//! series, SimpleITK, the series chooser), output planning, and the fuzz corpus smoke
//! run.
//!
//! One test crate per area (each links the library once); the modules are the
//! former one-file test crates.

#[path = "../support/mod.rs"]
mod support;

mod dicom_chooser;
mod dicom_cli;
mod dicom_corpus;
mod dicom_jpegls;
mod dicom_read;
mod dicom_sitk;
mod fuzz_corpus;
mod nifti_hardening;
mod nifti_interop;
mod nifti_malformed;
mod nifti_roundtrip;
mod output_plan;
