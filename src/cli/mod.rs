//! The command-line interface (clap). Each subcommand lives in its own module and
//! uses only the core (no GUI types), so every command runs headless.

pub mod bench;
pub mod bench_infer;
pub mod bench_train;
#[cfg(feature = "gui")]
pub mod bench_view;
pub mod eval;
pub mod info;
pub mod input;
pub mod report;
pub mod segment;
pub mod train;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Chest-CT viewer with on-device COVID-19 lung and infection segmentation.
#[derive(Debug, Parser)]
#[command(name = "lungscope", version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do; none opens the viewer.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the viewer with files (volumes, then masks on the same grid).
    View(ViewArgs),
    /// Print dimensions, spacing, orientation, affine and intensity facts of NIfTI files.
    Info(info::InfoArgs),
    /// Time reading a NIfTI volume (and writing a mask): JSON with medians and peak memory.
    BenchLoad(bench::BenchLoadArgs),
    /// Quantify a segmentation (volumes, infection %, zones, severity score, HU
    /// statistics) and write JSON / CSV / HTML / PDF reports.
    Report(report::ReportArgs),
    /// Segment lungs (left/right) and infection; writes `<stem>_seg.nii.gz` label maps.
    Segment(segment::SegmentArgs),
    /// Time the reference U-Net's inference on the CPU and wgpu backends.
    BenchInfer(bench_infer::BenchInferArgs),
    /// Measure the viewer's CPU time and GPU uploads per frame (scroll, window/level).
    #[cfg(feature = "gui")]
    BenchView(bench_view::BenchViewArgs),
    /// Train a segmentation model on slices with lung / infection masks.
    Train(train::TrainArgs),
    /// Score a model file on a data set (Dice, IoU, sensitivity, specificity per case).
    Eval(eval::EvalArgs),
    /// Measure training throughput (images/s) of a U-Net configuration.
    BenchTrain(bench_train::BenchTrainArgs),
}

/// Arguments of `lungscope view`.
#[derive(Debug, clap::Args)]
pub struct ViewArgs {
    /// Files to open: the volume first (a NIfTI file, DICOM files or a DICOM
    /// folder; several series open the series chooser), then masks on its grid.
    pub files: Vec<PathBuf>,
}

/// Sets up `tracing` output on stderr (`RUST_LOG` overrides the verbosity).
pub fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
