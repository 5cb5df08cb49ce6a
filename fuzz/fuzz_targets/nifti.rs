//! Coverage-guided fuzzing of the nifti reader: see docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lungscope::fuzz_support::nifti(data);
});
