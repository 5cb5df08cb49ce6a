//! Coverage-guided fuzzing of the lsm reader: see docs/fuzzing.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lungscope::fuzz_support::lsm(data);
});
