//! `lungscope eval`: scores a model on a data set, per case and on average.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::train::{Holdout, load_split};
use crate::fsutil::OutputPlan;
use crate::seg::ModelConfig;
use crate::seg::data::{LoadOptions, PairMasks, load_dataset};
use crate::seg::device::{DeviceChoice, select_device};
use crate::seg::infer::CpuEngine;
use crate::seg::model::weights::{self, ModelCard};
use crate::seg::train::loss::LossKind;
use crate::seg::train::{EvalOptions, EvalReport, evaluate};

/// Arguments of `lungscope eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Data folder (any layout `train` reads).
    #[arg(long)]
    pub data: PathBuf,
    /// Model file (default: the model built into this binary).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Write the full report (per case, mean, pooled) as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Replace the --json file if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// Score only the validation patients `train` holds out with the same --seed and
    /// --val-fraction.
    #[arg(long)]
    pub val_split: bool,
    /// Split seed (with --val-split).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Validation share (with --val-split).
    #[arg(long, default_value_t = 0.2)]
    pub val_fraction: f64,
    /// With --val-split: the patients of fold --fold of this many (as `train --folds`).
    #[arg(long, requires = "fold")]
    pub folds: Option<usize>,
    /// With --val-split and --folds: the fold to score (1 ..= --folds).
    #[arg(long, requires = "folds")]
    pub fold: Option<usize>,
    /// Score only these cases (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub cases: Vec<String>,
    /// Slices per forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Backend.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// On the CPU: lungscope's engine (`native`) or burn's flex backend (`flex`).
    #[arg(long, value_enum, default_value_t = CpuEngine::Native)]
    pub cpu_engine: CpuEngine,
    /// How to read the masks of a train_images/ train_masks/ folder.
    #[arg(long, value_enum, default_value_t = PairMasks::Infection)]
    pub pair_masks: PairMasks,
}

#[derive(Serialize)]
struct EvalOutput<'a> {
    model_id: &'a str,
    weights_sha256: &'a str,
    config: &'a ModelConfig,
    card: &'a ModelCard,
    data: PathBuf,
    report: &'a EvalReport,
}

/// Runs `lungscope eval`.
pub fn run(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    if let Some(json) = &args.json {
        let mut plan = OutputPlan::new(args.overwrite);
        plan.input(&args.data);
        if let Some(w) = &args.weights {
            plan.input(w);
        }
        plan.output(json, "the evaluation report").check()?;
    }
    let dev = select_device(args.device)?;
    if let Some(n) = &dev.notice {
        eprintln!("note: {n}");
    }
    eprintln!("device: {}", dev.description);
    let model = match &args.weights {
        Some(p) => weights::load_file(p, &dev.device)?,
        None => {
            if let Some(problem) = crate::seg::store::user_active_problem() {
                eprintln!("warning: {problem}");
            }
            weights::load_default(&dev.device)?
        }
    };
    eprintln!("model: {} ({})", model.id, model.config.describe());
    let mut samples = if args.val_split {
        load_split(
            &args.data,
            None,
            Holdout::from_args(args.val_fraction, args.folds, args.fold),
            args.seed,
            args.pair_masks,
            false,
        )?
        .2
    } else {
        let options = LoadOptions {
            pair_masks: args.pair_masks,
            include_empty_slices: false,
        };
        let mut ds = load_dataset(&args.data, &options)?;
        let mut all = std::mem::take(&mut ds.samples);
        all.extend(ds.predefined_val.take().unwrap_or_default());
        all
    };
    if !args.cases.is_empty() {
        samples.retain(|s| args.cases.contains(&s.case));
        if samples.is_empty() {
            bail!(
                "none of the cases {:?} is in {}",
                args.cases,
                args.data.display()
            );
        }
    }
    let bar = ProgressBar::new(samples.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "scoring [{bar:30}] {pos}/{len} slices {elapsed_precise}<{eta_precise}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let options = EvalOptions {
        batch_size: args.batch_size,
        loss: LossKind::BceDice,
        cpu_engine: args.cpu_engine,
    };
    let cancel = AtomicBool::new(false);
    let report = evaluate(
        &model.model,
        &model.config,
        &samples,
        &options,
        &dev.device,
        &cancel,
        &mut |done, _| bar.set_position(done as u64),
    )
    .context("evaluation")?;
    bar.finish_and_clear();
    print_report(&report);
    if let Some(path) = &args.json {
        let out = EvalOutput {
            model_id: &model.id,
            weights_sha256: &model.weights_sha256,
            config: &model.config,
            card: &model.card,
            data: args.data.clone(),
            report: &report,
        };
        crate::fsutil::write_atomic(path, &serde_json::to_vec_pretty(&out)?)?;
        eprintln!("report written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &EvalReport) {
    let mut header = format!("{:<24} {:>6}", "case", "slices");
    for l in &r.labels {
        for m in ["Dice", "IoU", "sens", "spec"] {
            header.push_str(&format!(" {:>10}", format!("{m}:{}", &l[..l.len().min(4)])));
        }
    }
    println!("{header}");
    let row = |name: &str, slices: usize, scores: &[crate::seg::train::metrics::ClassScores]| {
        let mut s = format!("{name:<24} {slices:>6}");
        for c in scores {
            for v in [c.dice, c.iou, c.sensitivity, c.specificity] {
                s.push_str(&format!(" {v:>10.4}"));
            }
        }
        s
    };
    for c in &r.cases {
        println!("{}", row(&c.case, c.slices, &c.classes));
    }
    println!("{}", row("MEAN over cases", r.slices, &r.mean));
    println!("{}", row("POOLED pixels", r.slices, &r.pooled));
}
