//! `lungscope train`: trains a segmentation model on a data folder, split by patient.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

use super::bench_train::{ArchArg, UpArg};
use crate::fsutil::OutputPlan;
use crate::seg::data::augment::AugmentSettings;
use crate::seg::data::{
    Dataset, Layout, LoadOptions, PairMasks, SliceSample, distinct_cases, load_dataset,
    split_by_case, split_fold,
};
use crate::seg::device::{DeviceChoice, select_device};
use crate::seg::infer::CpuEngine;
use crate::seg::model::weights::{self, ModelCard};
use crate::seg::model::{Head, ModelConfig};
use crate::seg::train::loss::LossKind;
use crate::seg::train::{
    RUN_FILES, Schedule, StartFrom, TrainEvent, TrainJob, TrainSettings, train,
};

/// `--schedule` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleArg {
    /// Cosine decay to 1 % of the rate.
    Cosine,
    /// Multiply by --step-gamma every --step-every epochs.
    Step,
    /// Constant rate.
    Constant,
}

/// Arguments of `lungscope train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Training data folder (NIfTI CASE_ct/_lung/_infection volumes, Zenodo folders,
    /// ct/ lungs/ covid/ PNGs with slices.csv, or train_images/ train_masks/).
    #[arg(long)]
    pub data: PathBuf,
    /// Separate validation folder (otherwise whole patients of --data are held out).
    #[arg(long)]
    pub val_data: Option<PathBuf>,
    /// Share of the slices held out for validation, taken as whole patients.
    #[arg(long, default_value_t = 0.2)]
    pub val_fraction: f64,
    /// Cross-validation: split the patients of --data into this many folds (shuffled
    /// with --seed) and validate on fold --fold (instead of --val-fraction).
    #[arg(long, requires = "fold", conflicts_with = "val_data")]
    pub folds: Option<usize>,
    /// Cross-validation: the fold that validates (1 ..= --folds).
    #[arg(long, requires = "folds")]
    pub fold: Option<usize>,
    /// Epochs.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Slices per step.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// L2 weight decay.
    #[arg(long, default_value_t = 1e-5)]
    pub weight_decay: f64,
    /// Learning-rate schedule.
    #[arg(long, value_enum, default_value_t = ScheduleArg::Cosine)]
    pub schedule: ScheduleArg,
    /// Step schedule: epochs between decays.
    #[arg(long, default_value_t = 10)]
    pub step_every: usize,
    /// Step schedule: factor per decay.
    #[arg(long, default_value_t = 0.5)]
    pub step_gamma: f64,
    /// Loss.
    #[arg(long, value_enum, default_value_t = LossKind::BceDice)]
    pub loss: LossKind,
    /// Model input side in pixels, a multiple of 2^depth (default 256; with --from, the
    /// model's own size unless given: the weights work at any size).
    #[arg(long)]
    pub size: Option<usize>,
    /// Network.
    #[arg(long, value_enum, default_value_t = ArchArg::Unet)]
    pub arch: ArchArg,
    /// Width of the first level.
    #[arg(long, default_value_t = 16)]
    pub base: usize,
    /// Down-samplings.
    #[arg(long, default_value_t = 4)]
    pub depth: usize,
    /// Decoder upsampling.
    #[arg(long, value_enum, default_value_t = UpArg::Transpose)]
    pub up: UpArg,
    /// Train without BatchNorm.
    #[arg(long)]
    pub no_batch_norm: bool,
    /// Run folder (checkpoints, metrics.csv, curves.png). A folder that already holds
    /// a run is refused unless --resume continues it or --overwrite replaces it.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace the files of an earlier run in --out (best.lsm included).
    #[arg(long)]
    pub overwrite: bool,
    /// Backend.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// On the CPU: lungscope's training engine (`native`, the fast path) or burn's flex
    /// backend (`flex`, for comparison). Checkpoints are the same either way.
    #[arg(long, value_enum, default_value_t = CpuEngine::Native)]
    pub cpu_engine: CpuEngine,
    /// Continue an interrupted run from its last.lsm (train_state.json beside it).
    #[arg(long, conflicts_with = "from")]
    pub resume: Option<PathBuf>,
    /// Start from the weights of a trained model file (fine-tuning).
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Stop after this many epochs without a better validation Dice (0: never).
    #[arg(long, default_value_t = 10)]
    pub patience: usize,
    /// Seed of the split, shuffling and augmentation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Train without augmentation.
    #[arg(long)]
    pub no_augment: bool,
    /// How to read the masks of a train_images/ train_masks/ folder.
    #[arg(long, value_enum, default_value_t = PairMasks::Infection)]
    pub pair_masks: PairMasks,
    /// Model id written into the model card.
    #[arg(long)]
    pub id: Option<String>,
    /// Also train on volume slices with neither lung nor infection (negatives such as
    /// abdomen or head slices); by default such slices are skipped.
    #[arg(long)]
    pub empty_slices: bool,
}

/// Which patients of `--data` validate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Holdout {
    /// At least this share of the slices, as whole patients.
    Fraction(f64),
    /// Fold `fold` (1-based) of `folds` (cross-validation).
    Fold {
        /// Number of folds.
        folds: usize,
        /// The validating fold.
        fold: usize,
    },
}

impl Holdout {
    /// From `--val-fraction`, `--folds` and `--fold`.
    pub(crate) fn from_args(val_fraction: f64, folds: Option<usize>, fold: Option<usize>) -> Self {
        match (folds, fold) {
            (Some(folds), Some(fold)) => Holdout::Fold { folds, fold },
            _ => Holdout::Fraction(val_fraction),
        }
    }
}

/// Loads `--data` / `--val-data` and splits by patient. Shared with `eval`.
pub(crate) fn load_split(
    data: &Path,
    val_data: Option<&Path>,
    holdout: Holdout,
    seed: u64,
    pair_masks: PairMasks,
    include_empty_slices: bool,
) -> anyhow::Result<(Dataset, Vec<SliceSample>, Vec<SliceSample>)> {
    let options = LoadOptions {
        pair_masks,
        include_empty_slices,
    };
    let mut ds = load_dataset(data, &options)?;
    let all = std::mem::take(&mut ds.samples);
    let (train, val) = if let Some(v) = val_data {
        (all, load_dataset(v, &options)?.samples)
    } else if let Some(v) = ds.predefined_val.take() {
        (all, v)
    } else if ds.layout == Layout::PngPairs {
        bail!(
            "{} has train_images/ but no val_images/ and the pairs name no patient, so they cannot be split by patient; give --val-data",
            data.display()
        );
    } else {
        match holdout {
            Holdout::Fraction(f) => split_by_case(all, f, seed)?,
            Holdout::Fold { folds, fold } => split_fold(all, folds, fold, seed)?,
        }
    };
    Ok((ds, train, val))
}

/// Plans the run folder's files before training (see [`crate::fsutil::OutputPlan`]):
/// an earlier run's files are refused unless `--resume` (which continues it) or
/// `--overwrite`; the folder may not be or lie inside the data, and no run file may
/// be the `--from` model.
pub fn plan_run_folder(args: &TrainArgs) -> Result<(), crate::fsutil::PlanError> {
    let mut plan = OutputPlan::new(args.overwrite);
    plan.input(&args.data);
    for input in args.val_data.iter().chain(&args.from) {
        plan.input(input);
    }
    let run_files: Vec<PathBuf> = RUN_FILES.iter().map(|f| args.out.join(f)).collect();
    // The checkpoint being resumed is rewritten by the run it continues; one outside
    // the run folder is an input like any other.
    if let Some(ckpt) = &args.resume
        && !run_files.iter().any(|f| crate::fsutil::same_file(f, ckpt))
    {
        plan.input(ckpt);
    }
    for file in &run_files {
        let what = "a file of the training run";
        if args.resume.is_some() {
            plan.replaceable_output(file, what);
        } else {
            plan.output(file, what);
        }
    }
    plan.check()
}

/// Runs `lungscope train`.
pub fn run(args: &TrainArgs) -> anyhow::Result<ExitCode> {
    plan_run_folder(args)?;
    let dev = select_device(args.device)?;
    if let Some(n) = &dev.notice {
        eprintln!("note: {n}");
    }
    eprintln!("device: {}", dev.description);
    let (ds, train_set, val_set) = load_split(
        &args.data,
        args.val_data.as_deref(),
        Holdout::from_args(args.val_fraction, args.folds, args.fold),
        args.seed,
        args.pair_masks,
        args.empty_slices,
    )?;
    let (train_cases, val_cases) = (distinct_cases(&train_set), distinct_cases(&val_set));
    eprintln!("data: {} ({:?})", ds.root.display(), ds.layout);
    eprintln!(
        "train: {} slices from {} patients: {}",
        train_set.len(),
        train_cases.len(),
        train_cases.join(", ")
    );
    eprintln!(
        "validation: {} slices from {} patients: {}",
        val_set.len(),
        val_cases.len(),
        val_cases.join(", ")
    );
    if train_cases.iter().any(|c| val_cases.contains(c)) && args.val_data.is_none() {
        bail!("a patient is in both the training and the validation set");
    }
    // With --val-data the two sets may share patients (e.g. a final model trained
    // on every patient): its validation Dice is then training fit, and says so.
    let shared = val_cases.iter().filter(|c| train_cases.contains(c)).count();
    let split = if shared == 0 {
        format!(
            "patient-level split; validation cases: {}",
            val_cases.join(", ")
        )
    } else {
        eprintln!(
            "note: {shared} of the {} validation patients are also training patients: \
             the validation Dice is training fit, not a held-out estimate",
            val_cases.len()
        );
        format!(
            "no held-out patients: {shared} of the {} validation cases are training cases, \
             so the validation metrics are training fit ({})",
            val_cases.len(),
            val_cases.join(", ")
        )
    };
    let config = ModelConfig {
        arch: args.arch.into(),
        in_channels: 1,
        base: args.base,
        depth: args.depth,
        batch_norm: !args.no_batch_norm,
        up: args.up.into(),
        head: Head::default(),
        input_size: args.size.unwrap_or(256),
    };
    let start = match (&args.resume, &args.from) {
        (Some(ckpt), _) => StartFrom::Resume(ckpt.clone()),
        (None, Some(from)) => {
            let mut m = weights::load_file(from, &dev.device)?;
            if let Some(size) = args.size {
                m.config.input_size = size;
                m.config.validate()?;
            }
            StartFrom::Model(Box::new(m))
        }
        (None, None) => StartFrom::Fresh,
    };
    let model_config = match &start {
        StartFrom::Model(m) => m.config.clone(),
        _ => config.clone(),
    };
    eprintln!("model: {}", model_config.describe());
    let settings = TrainSettings {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        weight_decay: args.weight_decay,
        schedule: match args.schedule {
            ScheduleArg::Cosine => Schedule::Cosine,
            ScheduleArg::Constant => Schedule::Constant,
            ScheduleArg::Step => Schedule::Step {
                every: args.step_every,
                gamma: args.step_gamma,
            },
        },
        loss: args.loss,
        patience: (args.patience > 0).then_some(args.patience),
        seed: args.seed,
        augment: if args.no_augment {
            AugmentSettings::none()
        } else {
            AugmentSettings::default()
        },
        val_batch_size: args.batch_size,
        cpu_engine: args.cpu_engine,
    };
    let card = ModelCard {
        id: args.id.clone().unwrap_or_else(|| {
            format!(
                "lungscope-{:?}{}-{}px",
                model_config.arch, model_config.base, model_config.input_size
            )
            .to_lowercase()
        }),
        training_data: describe_data(&ds, &train_cases, &val_cases),
        recipe: format!(
            "lungscope {} (Adam, {:?} loss, {:?} schedule, seed {}, {split})",
            std::env::args().skip(1).collect::<Vec<_>>().join(" "),
            args.loss,
            args.schedule,
            args.seed,
        ),
        ..ModelCard::default()
    };
    let job = TrainJob {
        config,
        start,
        train: train_set,
        val: val_set,
        out_dir: args.out.clone(),
        device: dev.device.clone(),
        settings,
        card,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} steps {elapsed_precise}<{eta_precise} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let cancel = AtomicBool::new(false);
    let mut on_event = |e: TrainEvent| match e {
        TrainEvent::Started {
            start_epoch,
            epochs,
            steps_per_epoch,
            trainer,
            ..
        } => {
            bar.println(format!("trainer: {trainer}"));
            bar.set_length(steps_per_epoch as u64);
            bar.set_prefix(format!("{start_epoch}/{epochs}"));
        }
        TrainEvent::Step {
            epoch,
            step,
            mean_loss,
            loss,
            lr,
            images_per_sec,
            ..
        } => {
            bar.set_prefix(format!("{epoch}/{}", args.epochs));
            bar.set_position(step as u64);
            bar.set_message(format!(
                "loss {loss:.4} (mean {mean_loss:.4}) lr {lr:.2e} {images_per_sec:.1} img/s"
            ));
        }
        TrainEvent::Validating { .. } => bar.set_message("validating..."),
        TrainEvent::Epoch(r) => {
            let scores: Vec<String> = r
                .val
                .iter()
                .zip(model_config.output_labels())
                .map(|(s, l)| format!("{l} Dice {:.4} IoU {:.4}", s.dice, s.iou))
                .collect();
            let line = format!(
                "epoch {:>3}: train loss {:.4}, val loss {:.4}, {} | {:.1} img/s, {:.0} s",
                r.epoch,
                r.train_loss,
                r.val_loss,
                scores.join(", "),
                r.images_per_sec,
                r.seconds
            );
            bar.suspend(|| eprintln!("{line}"));
            bar.reset();
        }
        TrainEvent::Checkpoint { path, best: true } => {
            bar.suspend(|| eprintln!("  new best -> {}", path.display()))
        }
        TrainEvent::Checkpoint { .. } => {}
        TrainEvent::EarlyStop { epoch, best_epoch } => {
            bar.suspend(|| eprintln!("early stop at epoch {epoch} (best epoch {best_epoch})"))
        }
    };
    let summary = train(job, &mut on_event, &cancel).context("training")?;
    bar.finish_and_clear();
    println!(
        "best epoch {} (validation mean Dice {:.4}): {}",
        summary.best_epoch,
        summary.best_score,
        summary.best_path.display()
    );
    println!(
        "run folder: {} (metrics.csv, curves.png, last.lsm)",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn describe_data(ds: &Dataset, train_cases: &[String], val_cases: &[String]) -> String {
    let mut s = format!(
        "{} ({:?}); training patients: {}; validation patients: {}",
        ds.root.display(),
        ds.layout,
        train_cases.join(", "),
        val_cases.join(", ")
    );
    if ds.root.to_string_lossy().contains("zenodo3757476") {
        s.push_str(
            ". COVID-19 CT Lung and Infection Segmentation Dataset, Ma J. et al. 2020, doi 10.5281/zenodo.3757476 \
             (attribution, non-commercial, share-alike)",
        );
    }
    s
}
