//! `lungscope bench-load`: timing and peak memory of volume reading (NIfTI, or a
//! DICOM file or folder) and mask writing, for side-by-side comparison with
//! nibabel/SimpleITK/pydicom (`benches/load_vs_python.py` and
//! `benches/dicom_vs_python.py` run both in one go).

use crate::io;
use crate::mask::LabelMask;
use anyhow::Context;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `lungscope bench-load`.
#[derive(Debug, clap::Args)]
pub struct BenchLoadArgs {
    /// The volume to read (e.g. a 512x512x300 int16 .nii.gz, or a DICOM file or
    /// folder holding one series).
    pub file: PathBuf,
    /// Timed repetitions (after one untimed warm-up).
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// Also time writing a uint8 mask of the same grid (.nii.gz) on this folder's disk:
    /// into a fresh private folder made inside it and removed afterwards, so no file
    /// already there is touched.
    #[arg(long)]
    pub write_dir: Option<PathBuf>,
    /// The mask to re-write (read first, on the volume's grid); without it a
    /// generated two-lung mask is written.
    #[arg(long)]
    pub mask: Option<PathBuf>,
}

/// Results of `bench-load`.
#[derive(Debug, Serialize)]
pub struct BenchLoadResult {
    /// The file read.
    pub file: PathBuf,
    /// Per-run read times in ms.
    pub read_ms: Vec<f64>,
    /// Median read time in ms.
    pub read_median_ms: f64,
    /// Bytes of voxels in memory.
    pub voxel_bytes: usize,
    /// Peak resident memory added by the first read (VmHWM - baseline RSS), bytes.
    pub peak_extra_bytes: Option<u64>,
    /// `peak_extra_bytes / voxel_bytes`.
    pub peak_ratio: Option<f64>,
    /// Per-run mask write times in ms (if asked).
    pub write_ms: Vec<f64>,
    /// Median mask write time in ms.
    pub write_median_ms: Option<f64>,
    /// Size of the written mask file.
    pub mask_file_bytes: Option<u64>,
}

fn proc_status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() { 0.0 } else { s[s.len() / 2] }
}

/// Runs the benchmark and prints JSON.
pub fn run(args: &BenchLoadArgs) -> anyhow::Result<ExitCode> {
    let baseline = proc_status_kb("VmRSS:");
    let first = io::open_volume(&args.file, None)?;
    let peak = proc_status_kb("VmHWM:");
    let voxel_bytes = first.voxels.byte_len();
    let geometry = first.geometry.clone();
    drop(first);
    let mut read_ms = Vec::new();
    for _ in 0..args.repeat {
        let t = Instant::now();
        let v = io::open_volume(&args.file, None)?;
        read_ms.push(t.elapsed().as_secs_f64() * 1e3);
        drop(v);
    }
    let mut write_ms = Vec::new();
    let mut mask_file_bytes = None;
    if let Some(dir) = &args.write_dir {
        let mask = match &args.mask {
            Some(p) => io::read_mask(p, Some(&geometry))?,
            None => two_lung_mask(&geometry),
        };
        // A folder of its own: the mask never lands on (nor removes) a user's file.
        let scratch = crate::fsutil::ScratchDir::new_in(dir, ".lungscope-bench-load")
            .with_context(|| format!("cannot make a scratch folder in {}", dir.display()))?;
        let out = scratch.path().join("bench_mask.nii.gz");
        for _ in 0..args.repeat {
            let t = Instant::now();
            io::write_mask(&out, &mask, None)?;
            write_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        mask_file_bytes = std::fs::metadata(&out).ok().map(|m| m.len());
    }
    let peak_extra = match (peak, baseline) {
        (Some(p), Some(b)) => Some(p.saturating_sub(b) * 1024),
        _ => None,
    };
    let result = BenchLoadResult {
        file: args.file.clone(),
        read_median_ms: median(&read_ms),
        read_ms,
        voxel_bytes,
        peak_extra_bytes: peak_extra,
        peak_ratio: peak_extra.map(|p| p as f64 / voxel_bytes.max(1) as f64),
        write_median_ms: (!write_ms.is_empty()).then(|| median(&write_ms)),
        write_ms,
        mask_file_bytes,
    };
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(ExitCode::SUCCESS)
}

/// A generated mask: two box "lungs" with scattered infection, mostly background.
fn two_lung_mask(geometry: &crate::volume::Geometry) -> LabelMask {
    let mut mask = LabelMask::empty(geometry.clone());
    let [nx, ny, nz] = geometry.dims;
    for k in 0..nz {
        for j in ny / 4..3 * ny / 4 {
            for i in nx / 5..2 * nx / 5 {
                mask.labels[geometry.index(i, j, k)] = 1;
            }
            for i in 3 * nx / 5..4 * nx / 5 {
                mask.labels[geometry.index(i, j, k)] = if (i + j + k) % 7 == 0 { 3 } else { 2 };
            }
        }
    }
    mask
}
