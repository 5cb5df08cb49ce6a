//! Which instruction set the engine's kernels use on this CPU, detected once at run
//! time (the binary itself is built for the baseline `x86-64` / `aarch64` target, so
//! one build runs everywhere and still uses the widest vectors the CPU has).
//!
//! Two kinds of kernels are involved:
//! - the GEMMs (every convolution's products) run on the `gemm` crate, which picks
//!   its micro-kernel by the same detection: AVX-512F (16-lane) kernels when the CPU
//!   has AVX-512F (the crate's `x86-v4` feature, enabled in `Cargo.toml`), AVX2 + FMA
//!   (8-lane) kernels otherwise, NEON on `aarch64`, scalar code as a last resort;
//! - the engine's own element-wise loops that dominate the rest of the time (the
//!   Winograd input and output transforms) are compiled twice more, for
//!   AVX-512F and for AVX2 + FMA, and [`level`] picks the copy to call. The copies
//!   share one source: the loop body is `#[inline(always)]` and each copy is a
//!   `#[target_feature]` wrapper around it, so the compiler vectorises the same code
//!   for the wider registers.

use std::sync::OnceLock;

/// The vector instruction set the engine's kernels run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimdLevel {
    /// x86-64 with AVX-512F (and AVX2 + FMA): 16 `f32` lanes.
    Avx512,
    /// x86-64 with AVX2 and FMA: 8 `f32` lanes.
    Avx2Fma,
    /// The build target's baseline (SSE2 on x86-64, NEON on aarch64).
    Baseline,
}

impl SimdLevel {
    /// A short description for logs and benchmark tables.
    pub fn describe(self) -> &'static str {
        match self {
            SimdLevel::Avx512 => "AVX-512F",
            SimdLevel::Avx2Fma => "AVX2 + FMA",
            SimdLevel::Baseline if cfg!(target_arch = "aarch64") => "NEON",
            SimdLevel::Baseline => "baseline (no AVX2)",
        }
    }
}

/// The level of this CPU (detected on the first call).
pub fn level() -> SimdLevel {
    static LEVEL: OnceLock<SimdLevel> = OnceLock::new();
    *LEVEL.get_or_init(detect)
}

/// Every level this CPU runs, best first (the tests compare the copies).
pub fn available() -> Vec<SimdLevel> {
    match level() {
        SimdLevel::Avx512 => vec![SimdLevel::Avx512, SimdLevel::Avx2Fma, SimdLevel::Baseline],
        SimdLevel::Avx2Fma => vec![SimdLevel::Avx2Fma, SimdLevel::Baseline],
        SimdLevel::Baseline => vec![SimdLevel::Baseline],
    }
}

fn detect() -> SimdLevel {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        if avx2 && std::arch::is_x86_feature_detected!("avx512f") {
            return SimdLevel::Avx512;
        }
        if avx2 {
            return SimdLevel::Avx2Fma;
        }
    }
    SimdLevel::Baseline
}

/// Defines `$name(level, args…)`, a function that runs `$body(args…)` (an
/// `#[inline(always)]` function with the same parameters) compiled for `level`.
/// Callers pass [`level()`]; tests pass every level the CPU has, to check that the
/// copies agree. A level above the CPU's falls back to the next one it has.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident => $body:ident ($($arg:ident: $ty:ty),* $(,)?)) => {
        $(#[$meta])*
        // The body's parameters plus the level.
        #[allow(clippy::too_many_arguments)]
        $vis fn $name(level: $crate::seg::cpu_engine::simd::SimdLevel, $($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                fn v4($($arg: $ty),*) {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn v3($($arg: $ty),*) {
                    $body($($arg),*)
                }
                use $crate::seg::cpu_engine::simd::{self as simd, SimdLevel};
                let cpu = simd::level();
                if level == SimdLevel::Avx512 && cpu == SimdLevel::Avx512 {
                    // SAFETY: the running CPU has AVX-512F, AVX2 and FMA (`simd::level`).
                    return unsafe { v4($($arg),*) };
                }
                if level != SimdLevel::Baseline && cpu != SimdLevel::Baseline {
                    // SAFETY: the running CPU has AVX2 and FMA (`simd::level`).
                    return unsafe { v3($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(super) use multiversion;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_matches_the_cpu() {
        let l = level();
        #[cfg(target_arch = "x86_64")]
        if l == SimdLevel::Avx512 {
            assert!(std::arch::is_x86_feature_detected!("avx512f"));
        }
        assert!(!l.describe().is_empty());
    }
}
