//! `lungscope segment INPUT...`: lung and infection label maps for CT volumes,
//! optionally with reports (`--report`) and a batch summary CSV (`--summary`).

mod reports;

use crate::analysis::ScopeStatus;
use crate::fsutil::OutputPlan;
use crate::io;
/// The name outputs are derived from (re-exported from [`crate::io::names`]).
pub use crate::io::names::nifti_stem;
use crate::seg::infer::postprocess::PostprocessConfig;
use crate::seg::infer::{CpuEngine, InferOptions, SliceOrder, segment_volume};
use crate::seg::model::weights;
use crate::seg::{DeviceChoice, LoadedModel, select_device};
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

/// Arguments of `lungscope segment`.
#[derive(Debug, clap::Args)]
pub struct SegmentArgs {
    /// CT volumes (.nii / .nii.gz), DICOM files, or folders of them (a folder
    /// without NIfTI files is read as one DICOM series).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// For DICOM folders with several series: the one to segment (its index in
    /// `lungscope info FOLDER`, or its SeriesInstanceUID).
    #[arg(long, value_name = "INDEX|UID")]
    pub series: Option<io::SeriesChoice>,
    /// Output file (only with a single input).
    #[arg(long, conflicts_with = "out_dir")]
    pub out: Option<PathBuf>,
    /// Folder for the outputs (`<stem>_seg.nii.gz`); default: next to each input.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Where the network runs.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// A lungscope model file; default: the model built into this program.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Slices per network call.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub batch: u32,
    /// Probability threshold for lung and infection.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f32,
    /// The engine on the CPU: lungscope's own (native, fast) or burn's flex backend
    /// (the code training runs; for comparison).
    #[arg(long, value_enum, default_value_t = CpuEngine::Native)]
    pub cpu_engine: CpuEngine,
    /// Also write a report per input; the format follows the extension (.pdf, .html,
    /// .json, .csv). Repeat for several formats. With several inputs the path must
    /// contain `{stem}` (the input's name without .nii/.nii.gz), e.g. `reports/{stem}.pdf`.
    #[arg(long, value_name = "FILE")]
    pub report: Vec<PathBuf>,
    /// Batch summary: one CSV row per study segmented and measured.
    #[arg(long, value_name = "CSV")]
    pub summary: Option<PathBuf>,
    /// Replace outputs (masks, reports, the summary) that already exist. Never
    /// allowed: writing over or inside an input, two outputs on one file, replacing a
    /// hand-corrected `*_edited` mask.
    #[arg(long)]
    pub overwrite: bool,
}

/// The files one input will get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputOutputs {
    /// The label map.
    pub mask: PathBuf,
    /// The reports (`--report` with `{stem}` replaced).
    pub reports: Vec<PathBuf>,
}

/// Plans every output of the command before anything is written (see
/// [`crate::fsutil::OutputPlan`]): one [`InputOutputs`] per input, or the list of
/// conflicts (duplicate outputs, outputs over or inside an input, existing files
/// without `--overwrite`, hand-corrected masks, unusable names).
pub fn plan_outputs(
    args: &SegmentArgs,
    inputs: &[PathBuf],
) -> Result<Vec<InputOutputs>, crate::fsutil::PlanError> {
    let mut plan = OutputPlan::new(args.overwrite);
    for input in inputs.iter().chain(&args.weights) {
        plan.input(input);
    }
    let stem_used = args.out.is_none()
        || args
            .report
            .iter()
            .any(|r| r.to_string_lossy().contains(reports::STEM));
    let mut planned = Vec::with_capacity(inputs.len());
    for input in inputs {
        let stem = nifti_stem(input);
        if stem_used && !plan.stem(input, &stem) {
            continue;
        }
        let mask = match (&args.out, &args.out_dir) {
            (Some(out), _) => out.clone(),
            (None, Some(dir)) => dir.join(output_name(input)),
            (None, None) => input.with_file_name(output_name(input)),
        };
        let what = format!("the mask of {}", input.display());
        if io::names::is_edited_mask_name(&mask) {
            plan.protected_output(
                &mask,
                what,
                "a hand-corrected mask (the viewer's Save mask), which segment never replaces",
            );
        } else {
            plan.output(&mask, what);
        }
        let paths = reports::report_paths(&args.report, &stem);
        for r in &paths {
            plan.output(r, format!("a report of {}", input.display()));
        }
        planned.push(InputOutputs {
            mask,
            reports: paths,
        });
    }
    if let Some(summary) = &args.summary {
        plan.output(summary, "the summary");
    }
    plan.check()?;
    Ok(planned)
}

/// Runs the command: each input is segmented and written; a failing input is
/// reported and skipped, and makes the exit code non-zero.
pub fn run(args: &SegmentArgs) -> anyhow::Result<ExitCode> {
    if !(args.threshold > 0.0 && args.threshold < 1.0) {
        bail!(
            "--threshold must lie strictly between 0 and 1 (got {})",
            args.threshold
        );
    }
    let (inputs, mut failures) = expand_inputs(&args.inputs);
    if inputs.is_empty() {
        bail!("no NIfTI volume (.nii / .nii.gz) or DICOM series among the inputs");
    }
    if args.out.is_some() && inputs.len() != 1 {
        bail!(
            "--out names one file but there are {} inputs; use --out-dir",
            inputs.len()
        );
    }
    reports::check_outputs(&args.report, args.summary.as_deref(), inputs.len())?;
    let planned = plan_outputs(args, &inputs)?;
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    }

    let selected = select_device(args.device)?;
    if let Some(notice) = &selected.notice {
        eprintln!("note: {notice}");
    }
    eprintln!("device: {}", selected.description);
    if selected.kind == crate::seg::BackendKind::Cpu {
        eprintln!(
            "inference engine: {}",
            match args.cpu_engine {
                CpuEngine::Native => "lungscope CPU engine (channels-last, BatchNorm folded)",
                CpuEngine::Flex => "burn flex backend",
            }
        );
    }
    let model = load_model(args.weights.as_deref(), &selected.device)?;
    eprintln!("model: {} ({})", model.id, model.card.architecture);

    let options = InferOptions {
        batch: args.batch as usize,
        post: PostprocessConfig {
            threshold: args.threshold,
            ..PostprocessConfig::default()
        },
        order: SliceOrder::Ascending,
        cpu_engine: args.cpu_engine,
    };
    let mut summary = args.summary.clone().map(reports::Summary::new);
    let wants_report = !args.report.is_empty() || summary.is_some();
    let n = inputs.len();
    for (i, (input, outputs)) in inputs.iter().zip(&planned).enumerate() {
        let out = &outputs.mask;
        let label = format!("[{}/{n}] {}", i + 1, display_name(input));
        let job = Job {
            input,
            out,
            model: &model,
            device: &selected.device,
            options: &options,
            label: &label,
            series: args.series.as_ref(),
        };
        let done = match segment_one(&job, wants_report) {
            Ok(done) => done,
            Err(e) => {
                eprintln!("error: {e:#}");
                failures += 1;
                continue;
            }
        };
        println!("{}", done.summary);
        let Some(report) = done.report else {
            if wants_report {
                println!("no report for this input: there is no lung to measure");
            }
            continue;
        };
        let inputs_of_study = [input.as_path(), out.as_path()];
        let paths = &outputs.reports;
        let written = reports::write_reports(&report, paths, &inputs_of_study).and_then(|()| {
            match &mut summary {
                Some(s) => s.add(&report, &inputs_of_study),
                None => Ok(()),
            }
        });
        match written {
            Ok(()) => {
                for p in paths {
                    println!("wrote {}", p.display());
                }
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                failures += 1;
            }
        }
    }
    if let Some(s) = &summary {
        println!("summary: {} row(s) in {}", s.rows(), s.path().display());
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("{failures} input(s) failed");
        ExitCode::FAILURE
    })
}

fn load_model(
    weights_file: Option<&Path>,
    device: &burn::tensor::Device,
) -> anyhow::Result<LoadedModel> {
    match weights_file {
        Some(path) => Ok(weights::load_file(path, device)?),
        None => {
            if let Some(problem) = crate::seg::store::user_active_problem() {
                eprintln!("warning: {problem}");
            }
            weights::load_default(device).context("no --weights given")
        }
    }
}

/// One input of the batch and what to segment it with.
struct Job<'a> {
    input: &'a Path,
    out: &'a Path,
    model: &'a LoadedModel,
    device: &'a burn::tensor::Device,
    options: &'a InferOptions,
    /// Progress bar text (`[i/n] name`).
    label: &'a str,
    /// The DICOM series to read, if chosen.
    series: Option<&'a io::SeriesChoice>,
}

/// What one input gave: a summary line and, if asked for, its report.
struct Done {
    summary: String,
    report: Option<crate::report::Report>,
}

/// Segments one file and writes its label map; with `wants_report` also measures it
/// and builds its report.
fn segment_one(job: &Job<'_>, wants_report: bool) -> anyhow::Result<Done> {
    let (input, out) = (job.input, job.out);
    let volume = super::input::open_volume(input, job.series)?;
    let bar = ProgressBar::new(volume.slice_count(crate::volume::View::Axial) as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:30!} [{bar:30}] {pos}/{len} slices {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(job.label.to_string());
    let cancel = AtomicBool::new(false);
    let result = segment_volume(
        job.model,
        job.device,
        &volume,
        job.options,
        &cancel,
        &mut |u| bar.set_position(u.done as u64),
    );
    bar.finish_and_clear();
    let seg = result.with_context(|| format!("segmentation failed: {}", input.display()))?;
    io::write_mask(out, &seg.mask, Some(&volume))?;
    let h = seg.mask.histogram();
    let ml = volume.geometry.voxel_ml();
    let (left, right, inf) = (h[1] as f64 * ml, h[2] as f64 * ml, h[3] as f64 * ml);
    let lung_total = left + right + inf;
    let scope = crate::analysis::scope::assess_label_map(&seg.mask, Some(&volume));
    let physics = &seg.cleanup.physics;
    if physics.applied {
        eprintln!("  {}", physics.note);
    }
    let timing = format!("{} slices in {:.1} s", seg.slices, seg.elapsed_s);
    let summary = if scope.infection_percent_valid {
        let pct = if lung_total > 0.0 {
            100.0 * inf / lung_total
        } else {
            0.0
        };
        let note = if scope.status == ScopeStatus::Partial {
            format!(" [partial: {}]", scope.message)
        } else {
            String::new()
        };
        format!(
            "{} -> {}: lungs {lung_total:.1} mL (uninfected left {left:.1} mL, right {right:.1} mL), \
             infection {inf:.1} mL ({pct:.1} % of lung){note}, {timing}",
            input.display(),
            out.display(),
        )
    } else {
        format!(
            "{} -> {}: OUT OF SCOPE: {}; no infection % given (mask written), {timing}",
            input.display(),
            out.display(),
            scope.message,
        )
    };
    let report = if wants_report && lung_total > 0.0 {
        Some(reports::build_report(
            &volume,
            input,
            out,
            &seg,
            &job.model.weights_sha256,
            &job.options.post,
        )?)
    } else {
        None
    };
    Ok(Done { summary, report })
}

/// `<stem>_seg.nii.gz` for `dir/<stem>.nii[.gz]`.
pub fn output_name(input: &Path) -> String {
    io::names::model_mask_name(&nifti_stem(input))
}

fn is_nifti(path: &Path) -> bool {
    let lower = path.to_string_lossy().to_ascii_lowercase();
    lower.ends_with(".nii") || lower.ends_with(".nii.gz")
}

/// Files as given, folders expanded to the NIfTI files inside (sorted; masks
/// named `*_seg` or `*_edited` skipped). Unreadable folders are reported and counted.
pub fn expand_inputs(inputs: &[PathBuf]) -> (Vec<PathBuf>, usize) {
    let mut files = Vec::new();
    let mut failures = 0usize;
    for input in inputs {
        if input.is_dir() {
            match std::fs::read_dir(input) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.is_file() && is_nifti(p) && !io::names::is_mask_name(p))
                        .collect();
                    found.sort();
                    if found.is_empty() && io::dicom::looks_like_dicom_folder(input) {
                        // A DICOM series: the folder is one input, its mask goes
                        // beside it as `<folder>_seg.nii.gz`.
                        found.push(std::fs::canonicalize(input).unwrap_or_else(|_| input.clone()));
                    } else if found.is_empty() {
                        eprintln!("warning: no NIfTI or DICOM file in {}", input.display());
                    }
                    files.extend(found);
                }
                Err(e) => {
                    eprintln!("error: cannot list the folder: {e}: {}", input.display());
                    failures += 1;
                }
            }
        } else {
            files.push(input.clone());
        }
    }
    (files, failures)
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_strip_nifti_extensions() {
        assert_eq!(
            output_name(Path::new("/d/case_ct.nii.gz")),
            "case_ct_seg.nii.gz"
        );
        assert_eq!(output_name(Path::new("a.NII")), "a_seg.nii.gz");
        assert_eq!(output_name(Path::new("x.y.nii")), "x.y_seg.nii.gz");
    }

    #[test]
    fn folders_expand_to_nifti_files_without_previous_outputs() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in [
            "b.nii.gz",
            "a.nii",
            "a_seg.nii.gz",
            "b_edited.nii.gz",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), b"x").expect("write");
        }
        let (files, failures) = expand_inputs(&[dir.path().to_path_buf(), PathBuf::from("z.nii")]);
        let names: Vec<String> = files.iter().map(|p| display_name(p)).collect();
        assert_eq!(names, vec!["a.nii", "b.nii.gz", "z.nii"]);
        assert_eq!(failures, 0);
    }
}
