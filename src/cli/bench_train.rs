//! `lungscope bench-train`: training throughput (images/s) of a U-Net configuration on
//! fixed random inputs, measured like `shared/bench/unet_torch.py` does for PyTorch
//! (BCE + soft Dice, Adam, `zero_grad -> forward -> loss -> backward -> step`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use crate::seg::data::SliceSample;
use crate::seg::data::augment::Rng;
use crate::seg::device::{DeviceChoice, select_device};
use crate::seg::infer::CpuEngine;
use crate::seg::model::weights::ModelCard;
use crate::seg::model::{Arch, Head, ModelConfig, UpMode};
use crate::seg::train::loss::LossKind;
use crate::seg::train::{StartFrom, TrainJob, TrainSettings, train};

/// Arguments of `lungscope bench-train`.
#[derive(Debug, clap::Args)]
pub struct BenchTrainArgs {
    /// Input side in pixels.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Images per optimiser step.
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
    /// Width of the first level.
    #[arg(long, default_value_t = 32)]
    pub base: usize,
    /// Down-samplings.
    #[arg(long, default_value_t = 4)]
    pub depth: usize,
    /// Decoder upsampling.
    #[arg(long, value_enum, default_value_t = UpArg::Transpose)]
    pub up: UpArg,
    /// Network.
    #[arg(long, value_enum, default_value_t = ArchArg::Unet)]
    pub arch: ArchArg,
    /// Output channels (1 as the reference).
    #[arg(long, default_value_t = 1)]
    pub out_channels: usize,
    /// Timed optimiser steps (after one warm-up step).
    #[arg(long, default_value_t = 6)]
    pub steps: usize,
    /// Backend.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// On the CPU: lungscope's training engine (`native`) or burn's flex backend.
    #[arg(long, value_enum, default_value_t = CpuEngine::Native)]
    pub cpu_engine: CpuEngine,
    /// Write the result as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `--arch` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArchArg {
    /// U-Net.
    Unet,
    /// U-Net++.
    Unetpp,
}

impl From<ArchArg> for Arch {
    fn from(a: ArchArg) -> Self {
        match a {
            ArchArg::Unet => Arch::Unet,
            ArchArg::Unetpp => Arch::UnetPlusPlus,
        }
    }
}

/// `--up` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UpArg {
    /// Transposed convolution.
    Transpose,
    /// Bilinear + 1x1 convolution.
    Bilinear,
}

impl From<UpArg> for UpMode {
    fn from(u: UpArg) -> Self {
        match u {
            UpArg::Transpose => UpMode::Transpose,
            UpArg::Bilinear => UpMode::Bilinear,
        }
    }
}

#[derive(Debug, Serialize)]
struct BenchResult {
    config: ModelConfig,
    params: usize,
    device: String,
    trainer: String,
    activation_bytes: u64,
    batch_size: usize,
    steps: usize,
    seconds_per_step: Vec<f64>,
    median_seconds_per_step: f64,
    images_per_sec: f64,
    threads: usize,
}

/// Runs the benchmark through the real training step (`seg::train`), one epoch of
/// `steps + 1` batches of fixed random data per measurement.
pub fn run(args: &BenchTrainArgs) -> anyhow::Result<ExitCode> {
    let config = ModelConfig {
        arch: args.arch.into(),
        in_channels: 1,
        base: args.base,
        depth: args.depth,
        batch_norm: true,
        up: args.up.into(),
        head: Head::Sigmoid {
            channels: args.out_channels,
        },
        input_size: args.size,
    };
    config.validate()?;
    let dev = select_device(args.device)?;
    eprintln!("device: {}", dev.description);
    eprintln!("model: {}", config.describe());
    let tape = crate::seg::cpu_engine::train::activation_bytes(&config, args.batch_size);
    if dev.device == burn::tensor::Device::flex() && args.cpu_engine == CpuEngine::Native {
        eprintln!(
            "activations kept per step (CPU training engine): {:.0} MiB",
            tape as f64 / (1 << 20) as f64
        );
    }
    let labels = config.output_labels();
    // Fixed random data: N(0,1)-like image, ~10 % positive targets (as unet_torch.py).
    let mut rng = Rng::new(1);
    let n = args.batch_size * (args.steps + 1);
    let plane = args.size * args.size;
    let samples: Vec<SliceSample> = (0..n)
        .map(|i| {
            let mask: Vec<u8> = (0..plane).map(|_| u8::from(rng.unit() > 0.9)).collect();
            SliceSample {
                case: format!("bench{}", i % 2),
                name: format!("bench{i}"),
                width: args.size,
                height: args.size,
                image: (0..plane).map(|_| rng.unit() as f32).collect(),
                lung: labels.iter().any(|l| l == "lung").then(|| mask.clone()),
                infection: Some(mask),
            }
        })
        .collect();
    // A fresh private folder for the run's checkpoints, removed when done.
    let scratch = crate::fsutil::ScratchDir::new("lungscope-bench-train")
        .context("cannot make a scratch folder for the benchmark run")?;
    let out_dir = scratch.path().to_path_buf();
    let mut step_times = Vec::new();
    let mut last = Instant::now();
    let settings = TrainSettings {
        epochs: 1,
        batch_size: args.batch_size,
        lr: 1e-4,
        weight_decay: 0.0,
        schedule: crate::seg::train::Schedule::Constant,
        loss: LossKind::BceDice,
        patience: None,
        seed: 0,
        augment: crate::seg::data::augment::AugmentSettings::none(),
        val_batch_size: 1,
        cpu_engine: args.cpu_engine,
    };
    let job = TrainJob {
        config: config.clone(),
        start: StartFrom::Fresh,
        train: samples.clone(),
        val: samples[..1].to_vec(),
        out_dir: out_dir.clone(),
        device: dev.device.clone(),
        settings,
        card: ModelCard::default(),
    };
    let cancel = AtomicBool::new(false);
    let mut trainer = "";
    let mut on_event = |e: crate::seg::train::TrainEvent| {
        if let crate::seg::train::TrainEvent::Step { step, loss, .. } = e {
            let now = Instant::now();
            if step > 1 {
                step_times.push((now - last).as_secs_f64());
                eprintln!(
                    "step {step}: {:.3} s, loss {loss:.4}",
                    (now - last).as_secs_f64()
                );
            }
            last = now;
        }
        if let crate::seg::train::TrainEvent::Started { trainer: t, .. } = e {
            eprintln!("trainer: {t}");
            trainer = t;
            last = Instant::now();
        }
    };
    let result = train(job, &mut on_event, &cancel);
    drop(scratch);
    result.context("benchmark training run")?;
    let mut sorted = step_times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    let res = BenchResult {
        params: config.num_params(),
        config,
        device: dev.description,
        trainer: trainer.to_string(),
        activation_bytes: tape,
        batch_size: args.batch_size,
        steps: step_times.len(),
        seconds_per_step: step_times,
        median_seconds_per_step: median,
        images_per_sec: args.batch_size as f64 / median,
        threads: rayon::current_num_threads(),
    };
    println!(
        "train {}x{} batch {} (BCE+Dice, Adam): {:.2} images/s ({:.3} s/step, median of {})",
        args.size,
        args.size,
        args.batch_size,
        res.images_per_sec,
        res.median_seconds_per_step,
        res.steps
    );
    if let Some(path) = &args.json {
        crate::fsutil::write_atomic(path, &serde_json::to_vec_pretty(&res)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
