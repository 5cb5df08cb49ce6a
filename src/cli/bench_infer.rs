//! `lungscope bench-infer`: slices per second of the reference U-Net (the network
//! of `shared/bench/unet_torch.py`) on the CPU (lungscope's engine, and burn's flex
//! backend) and wgpu, with the
//! FLOP accounting of that script, so the numbers compare side by side with
//! PyTorch. See `benches/unet_compare.sh` and docs/seg.md.

use crate::seg::cpu_engine::{ConvAlgo, CpuNet};
use crate::seg::model::{Arch, ModelConfig, UpMode};
use crate::seg::{DeviceChoice, SelectedDevice, select_device};
use anyhow::Context;
use burn::tensor::{Device, Distribution, Tensor};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Which backend to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BenchDevice {
    /// The CPU with lungscope's inference engine (what `segment` uses on the CPU).
    Cpu,
    /// The CPU with burn's flex backend (what training uses).
    Flex,
    /// A wgpu adapter (hardware, or a software rasteriser if that is all there is).
    Gpu,
}

/// Decoder upsampling of the benchmarked U-Net.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchUp {
    /// Transposed convolution (the reference default).
    Transpose,
    /// Bilinear x2 then 1x1 convolution.
    Bilinear,
}

/// 3×3 convolution algorithm of the CPU engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchConv {
    /// Winograd F(2×2, 3×3) where it applies (what `segment` uses).
    Auto,
    /// im2col + GEMM everywhere.
    Im2col,
}

/// Arguments of `lungscope bench-infer`.
#[derive(Debug, clap::Args)]
pub struct BenchInferArgs {
    /// Backends to time.
    #[arg(long, value_enum, num_args = 1.., default_values_t = [BenchDevice::Cpu, BenchDevice::Flex, BenchDevice::Gpu])]
    pub device: Vec<BenchDevice>,
    /// Batch sizes.
    #[arg(long, num_args = 1.., default_values_t = [1usize, 8])]
    pub batch: Vec<usize>,
    /// Input side in pixels (a multiple of 2^depth).
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Width of the first level.
    #[arg(long, default_value_t = 32)]
    pub base: usize,
    /// Number of down-samplings.
    #[arg(long, default_value_t = 4)]
    pub depth: usize,
    /// Decoder upsampling.
    #[arg(long, value_enum, default_value_t = BenchUp::Transpose)]
    pub up: BenchUp,
    /// How lungscope's CPU engine computes 3×3 convolutions (`--device cpu`).
    #[arg(long, value_enum, default_value_t = BenchConv::Auto)]
    pub conv: BenchConv,
    /// Timed runs per measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// The CPU's single-precision GEMM peak in GFLOP/s, for the "% of peak" column.
    #[arg(long, default_value_t = 195.0)]
    pub peak_gflops: f64,
    /// Also write the results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also time every convolution / pooling layer shape of the network alone (at
    /// the first batch size), to see where the time goes.
    #[arg(long)]
    pub layers: bool,
}

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// Backend.
    pub device: BenchDevice,
    /// What the backend said it is.
    pub description: String,
    /// Slices per network call.
    pub batch: usize,
    /// Network calls per timed run.
    pub iters_per_run: usize,
    /// Median seconds per timed run.
    pub median_s: f64,
    /// All timed runs.
    pub runs_s: Vec<f64>,
    /// Slices per second.
    pub slices_per_s: f64,
    /// Achieved GFLOP/s (2 × conv MACs × slices/s).
    pub gflops: f64,
    /// Fraction of `peak_gflops`.
    pub frac_of_peak: f64,
    /// First call (warm-up: kernel compilation, autotune) in seconds.
    pub warmup_s: f64,
}

/// Results of a run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Network parameters.
    pub params: usize,
    /// Convolution multiply-accumulates per slice.
    pub conv_macs_per_slice: u64,
    /// GFLOP per slice (2 FLOP per MAC).
    pub gflop_per_slice: f64,
    /// Input side.
    pub size: usize,
    /// Threads of the CPU pool.
    pub threads: usize,
    /// The instruction set of the CPU engine's kernels on this machine.
    pub simd: String,
    /// The peak used for the fractions.
    pub peak_gflops: f64,
    /// Measurements.
    pub rows: Vec<BenchRow>,
    /// Backends that could not be timed, with the reason.
    pub skipped: Vec<String>,
}

/// Convolution MACs per slice of a U-Net, counted as `unet_torch.py` does (every
/// Conv2d / ConvTranspose2d; BatchNorm, pooling and activations excluded).
pub fn unet_conv_macs(cfg: &ModelConfig) -> Option<u64> {
    if cfg.arch != Arch::Unet {
        return None;
    }
    let s = cfg.input_size as u64;
    let c: Vec<u64> = cfg.widths().iter().map(|&w| w as u64).collect();
    let h: Vec<u64> = (0..c.len()).map(|i| s >> i).collect();
    let out = cfg.head.out_channels() as u64;
    let mut macs = s * s * c[0] * 9 * cfg.in_channels as u64 + s * s * c[0] * c[0] * 9;
    for i in 0..cfg.depth {
        macs += h[i + 1] * h[i + 1] * c[i + 1] * 9 * (c[i] + c[i + 1]);
        macs += match cfg.up {
            UpMode::Transpose => h[i + 1] * h[i + 1] * c[i + 1] * c[i] * 4,
            UpMode::Bilinear => h[i] * h[i] * c[i] * c[i + 1],
        };
        macs += h[i] * h[i] * c[i] * 9 * 3 * c[i];
    }
    Some(macs + s * s * out * c[0])
}

/// Runs the benchmark and prints a Markdown table.
pub fn run(args: &BenchInferArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = ModelConfig::reference_unet(match args.up {
        BenchUp::Transpose => UpMode::Transpose,
        BenchUp::Bilinear => UpMode::Bilinear,
    });
    cfg.base = args.base;
    cfg.depth = args.depth;
    cfg.input_size = args.size;
    cfg.validate()?;
    let macs = unet_conv_macs(&cfg).context("FLOP accounting needs a plain U-Net")?;
    let gflop = 2.0 * macs as f64 / 1e9;
    let mut report = BenchReport {
        params: cfg.num_params(),
        conv_macs_per_slice: macs,
        gflop_per_slice: gflop,
        size: args.size,
        threads: rayon::current_num_threads(),
        simd: crate::seg::cpu_engine::simd::level().describe().to_string(),
        peak_gflops: args.peak_gflops,
        rows: Vec::new(),
        skipped: Vec::new(),
    };
    println!(
        "U-Net base {} depth {} {:?}, {}x{}: {} parameters, {:.2} GFLOP per slice, {} CPU threads, engine kernels {}",
        cfg.base,
        cfg.depth,
        args.up,
        args.size,
        args.size,
        report.params,
        gflop,
        report.threads,
        report.simd
    );
    println!(
        "| backend | batch | slices/s | ms/slice | GFLOP/s | % of {:.0} GFLOP/s | first call s |",
        args.peak_gflops
    );
    println!("|---|---|---|---|---|---|---|");
    for &dev in &args.device {
        let choice = match dev {
            BenchDevice::Cpu | BenchDevice::Flex => DeviceChoice::Cpu,
            BenchDevice::Gpu => DeviceChoice::Gpu,
        };
        let selected = match select_device(choice) {
            Ok(s) if dev == BenchDevice::Cpu => SelectedDevice {
                description: format!(
                    "CPU (lungscope engine{}, {} threads)",
                    match args.conv {
                        BenchConv::Auto => "",
                        BenchConv::Im2col => ", im2col only",
                    },
                    rayon::current_num_threads()
                ),
                ..s
            },
            Ok(s) if dev == BenchDevice::Flex => SelectedDevice {
                description: format!(
                    "CPU (burn flex backend, {} threads)",
                    rayon::current_num_threads()
                ),
                ..s
            },
            Ok(s) => s,
            Err(e) => {
                println!("| {dev:?} | skipped: {e} |");
                report.skipped.push(format!("{dev:?}: {e}"));
                continue;
            }
        };
        let model = cfg.init(&selected.device)?;
        let native = match dev {
            BenchDevice::Cpu => Some(CpuNet::from_model(&model, &cfg)?.with_algo(
                match args.conv {
                    BenchConv::Auto => ConvAlgo::Auto,
                    BenchConv::Im2col => ConvAlgo::Im2col,
                },
            )),
            _ => None,
        };
        if args.layers && dev != BenchDevice::Cpu {
            let batch = args.batch.first().copied().unwrap_or(1).max(1);
            layer_profile(
                &cfg,
                &selected.device,
                batch,
                args.repeat.max(1),
                &selected.description,
            )?;
        }
        for &batch in &args.batch {
            let row = time_one(
                &model,
                native.as_ref(),
                &selected.device,
                &cfg,
                batch.max(1),
                args.repeat.max(1),
            )?;
            let sps = row.0;
            let gflops = gflop * sps;
            let r = BenchRow {
                device: dev,
                description: selected.description.clone(),
                batch,
                iters_per_run: row.1,
                median_s: row.2,
                runs_s: row.3,
                slices_per_s: sps,
                gflops,
                frac_of_peak: gflops / args.peak_gflops,
                warmup_s: row.4,
            };
            println!(
                "| {} | {} | {:.2} | {:.1} | {:.1} | {:.1} % | {:.1} |",
                r.description,
                batch,
                sps,
                1e3 / sps,
                gflops,
                100.0 * r.frac_of_peak,
                r.warmup_s
            );
            report.rows.push(r);
        }
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        crate::fsutil::write_atomic(path, text.as_bytes())?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Median seconds of `repeat` runs of `f` after one warm-up call.
fn median_time(repeat: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    f()?;
    let mut runs = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        let t = Instant::now();
        f()?;
        runs.push(t.elapsed().as_secs_f64());
    }
    runs.sort_by(f64::total_cmp);
    Ok(runs[runs.len() / 2])
}

fn sync(t: Tensor<4>) -> anyhow::Result<()> {
    t.try_into_data()
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("reading the output failed: {e:?}"))
}

/// Times each layer shape of the U-Net alone and prints a table.
fn layer_profile(
    cfg: &ModelConfig,
    device: &Device,
    batch: usize,
    repeat: usize,
    name: &str,
) -> anyhow::Result<()> {
    use burn::tensor::module::{conv_transpose2d, conv2d, max_pool2d};
    use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, MaxPoolOptions};
    let widths = cfg.widths();
    let rnd = |shape: [usize; 4]| Tensor::<4>::random(shape, Distribution::Default, device);
    println!("\nper-layer times, {name}, batch {batch} (median of {repeat}):");
    println!("| layer | input [B, C, H, W] | ms | GFLOP/s |");
    println!("|---|---|---|---|");
    let mut total_ms = 0.0;
    let mut row = |label: String, shape: [usize; 4], flop: f64, secs: f64| {
        total_ms += secs * 1e3;
        let rate = if flop > 0.0 {
            format!("{:.1}", flop / secs / 1e9)
        } else {
            "-".into()
        };
        println!("| {label} | {shape:?} | {:.1} | {rate} |", secs * 1e3);
    };
    for (i, &c) in widths.iter().enumerate() {
        let h = cfg.input_size >> i;
        let cin = if i == 0 {
            cfg.in_channels
        } else {
            widths[i - 1]
        };
        let mut convs = vec![(cin, c), (c, c)];
        if i < cfg.depth {
            convs.push((2 * c, c));
        }
        for (ci, co) in convs {
            let x = rnd([batch, ci, h, h]);
            let w = rnd([co, ci, 3, 3]);
            let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
            let secs = median_time(repeat, || {
                sync(conv2d(x.clone(), w.clone(), None, opts.clone()))
            })?;
            let flop = 2.0 * (batch * h * h * co * ci * 9) as f64;
            row(format!("conv3x3 {ci}->{co}"), [batch, ci, h, h], flop, secs);
        }
        if i < cfg.depth {
            let x = rnd([batch, c, h, h]);
            let secs = median_time(repeat, || {
                sync(max_pool2d(x.clone(), MaxPoolOptions::new([2, 2])))
            })?;
            row("maxpool 2x2".into(), [batch, c, h, h], 0.0, secs);
            let (ci, hi) = (widths[i + 1], h / 2);
            let x = rnd([batch, ci, hi, hi]);
            let w = rnd([ci, c, 2, 2]);
            let opts = ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1);
            let secs = median_time(repeat, || {
                sync(conv_transpose2d(x.clone(), w.clone(), None, opts.clone()))
            })?;
            let flop = 2.0 * (batch * hi * hi * ci * c * 4) as f64;
            row(
                format!("convT2x2 {ci}->{c}"),
                [batch, ci, hi, hi],
                flop,
                secs,
            );
        }
        // BatchNorm (eval) + ReLU on a conv output: two element-wise passes.
        let x = rnd([batch, c, h, h]);
        let scale = Tensor::<4>::random([1, c, 1, 1], Distribution::Default, device);
        let secs = median_time(repeat, || {
            sync(burn::tensor::activation::relu(
                x.clone() * scale.clone() + scale.clone(),
            ))
        })?;
        row("bn+relu".into(), [batch, c, h, h], 0.0, secs);
    }
    println!(
        "sum of the rows above: {total_ms:.0} ms (each layer once; the network runs bn+relu twice per level)"
    );
    Ok(())
}

/// `(slices/s, iters per run, median s, runs, warm-up s)` of one batch size.
fn time_one(
    model: &crate::seg::SegModel,
    native: Option<&CpuNet>,
    device: &Device,
    cfg: &ModelConfig,
    batch: usize,
    repeat: usize,
) -> anyhow::Result<(f64, usize, f64, Vec<f64>, f64)> {
    let s = cfg.input_size;
    let x = Tensor::<4>::random([batch, 1, s, s], Distribution::Default, device); // [B, 1, S, S]
    let host: Vec<f32> = x
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading the input failed: {e:?}"))?;
    let forward = |x: Tensor<4>| -> anyhow::Result<()> {
        if let Some(net) = native {
            let y = net.logits(&host, batch)?; // [B, C, S, S]
            std::hint::black_box(y);
            return Ok(());
        }
        let y = model.forward(x); // [B, C, S, S]
        y.try_into_data()
            .map_err(|e| anyhow::anyhow!("reading the output failed: {e:?}"))?;
        Ok(())
    };
    let t = Instant::now();
    forward(x.clone())?;
    let warmup_s = t.elapsed().as_secs_f64();
    // As unet_torch.py: enough calls per timed run for >= 8 slices.
    let iters = (8 / batch).max(1);
    let mut runs = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        let t = Instant::now();
        for _ in 0..iters {
            forward(x.clone())?;
        }
        runs.push(t.elapsed().as_secs_f64());
    }
    let mut sorted = runs.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    Ok((
        (batch * iters) as f64 / median,
        iters,
        median,
        runs,
        warmup_s,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_macs_match_the_pytorch_reference() {
        // unet_torch.py: 12,033,458,176 conv MACs per 256x256 slice (transpose).
        let cfg = ModelConfig::reference_unet(UpMode::Transpose);
        assert_eq!(unet_conv_macs(&cfg), Some(12_033_458_176));
    }
}
