//! `lungscope report VOLUME (--seg LABELMAP | --lung MASK --infection MASK)
//! [--lobes MASK] --out FILE...`: quantify a segmentation and write reports.

use crate::analysis::{Segmentation, SplitOptions, body_center_x_mm};
use crate::fsutil::OutputPlan;
use crate::io;
use crate::report::{FileStamp, Format, Provenance, Report, SegmentationSource, write_report};
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `lungscope report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The CT volume (.nii or .nii.gz, a DICOM file or a folder of DICOM files).
    pub volume: PathBuf,
    /// For a DICOM folder with several series: the one to read (index or UID).
    #[arg(long, value_name = "INDEX|UID")]
    pub series: Option<io::SeriesChoice>,
    /// Label map on the volume's grid: 1 left lung, 2 right lung, 3 infection.
    #[arg(long, required_unless_present = "lung", conflicts_with_all = ["lung", "infection"])]
    pub seg: Option<PathBuf>,
    /// Lung mask (1/2 = left/right, or any non-zero = lung); needs --infection.
    #[arg(long, requires = "infection")]
    pub lung: Option<PathBuf>,
    /// Infection mask (non-zero = infection; counted inside the lung only); needs --lung.
    #[arg(long, requires = "lung")]
    pub infection: Option<PathBuf>,
    /// Lobe mask (1 LUL, 2 LLL, 3 RUL, 4 RML, 5 RLL) for a true-lobe severity score.
    #[arg(long)]
    pub lobes: Option<PathBuf>,
    /// Output file(s); the format follows the extension: .json, .csv, .html, .pdf.
    #[arg(long, short, required = true)]
    pub out: Vec<PathBuf>,
    /// Remove small lung fragments (specks) instead of assigning them to a side
    /// when the lungs have to be split into left and right.
    #[arg(long)]
    pub drop_specks: bool,
    /// Replace report files that already exist (never an input).
    #[arg(long)]
    pub overwrite: bool,
}

/// Runs the command.
pub fn run(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    // Check the outputs before the work: formats, inputs to protect, duplicates and
    // existing files.
    let inputs = input_paths(args);
    let input_refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let mut plan = OutputPlan::new(args.overwrite);
    for input in &inputs {
        plan.input(input);
    }
    for out in &args.out {
        Format::from_path(out)?;
        plan.output(out, "a report");
    }
    plan.check()?;
    let report = build(args)?;
    let a = &report.analysis;
    let q = &a.quantities;
    // A closed stdout (e.g. piped into `head`) is not an error of the report.
    let mut stdout = std::io::stdout();
    if a.scope.infection_percent_valid {
        let partial = if a.scope.status == crate::analysis::ScopeStatus::Partial {
            format!(" [partial: {}]", a.scope.message)
        } else {
            String::new()
        };
        let _ = writeln!(
            stdout,
            "{}: infection {:.2} % of {:.1} mL lung (left {:.2} %, right {:.2} %), severity {}/25{}{partial}",
            report.header.file_name,
            q.total.infection_percent,
            q.total.lung_ml,
            q.left.infection_percent,
            q.right.infection_percent,
            a.severity.total,
            match a.severity.source {
                crate::analysis::LobeSource::LobeMask => "",
                crate::analysis::LobeSource::ZoneApproximation => " (approximate lobes)",
            }
        );
    } else {
        let _ = writeln!(
            stdout,
            "{}: OUT OF SCOPE: {}; no infection % or severity score given (the report says why)",
            report.header.file_name, a.scope.message
        );
    }
    let mut failed = false;
    for out in &args.out {
        match write_report(&report, out, &input_refs) {
            Ok(()) => {
                let _ = writeln!(stdout, "wrote {}", out.display());
            }
            Err(e) => {
                failed = true;
                eprintln!("error: {e}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn input_paths(args: &ReportArgs) -> Vec<PathBuf> {
    std::iter::once(args.volume.clone())
        .chain(args.seg.clone())
        .chain(args.lung.clone())
        .chain(args.infection.clone())
        .chain(args.lobes.clone())
        .collect()
}

/// Reads the inputs, analyses them and builds the report.
pub fn build(args: &ReportArgs) -> anyhow::Result<Report> {
    let volume = super::input::open_volume(&args.volume, args.series.as_ref())?;
    let grid = Some(&volume.geometry);
    let options = SplitOptions {
        drop_specks: args.drop_specks,
        body_center_x_mm: body_center_x_mm(&volume),
        ..SplitOptions::default()
    };
    let mut stamps = Vec::new();
    let seg = match (&args.seg, &args.lung, &args.infection) {
        (Some(seg), _, _) => {
            let map = io::read_mask(seg, grid)?;
            stamps.push(FileStamp::of(seg)?);
            Segmentation::from_label_map(&map, &options)
                .with_context(|| format!("analysing {}", seg.display()))?
        }
        (None, Some(lung), Some(inf)) => {
            let l = io::read_mask(lung, grid)?;
            let i = io::read_mask(inf, grid)?;
            stamps.push(FileStamp::of(lung)?);
            stamps.push(FileStamp::of(inf)?);
            Segmentation::from_masks(&l, &i, &options)
                .with_context(|| format!("analysing {}", lung.display()))?
        }
        _ => anyhow::bail!(
            "give a label map (--seg) or a lung and an infection mask (--lung, --infection)"
        ),
    };
    let lobes = match &args.lobes {
        Some(p) => {
            stamps.push(FileStamp::of(p)?);
            Some(io::read_mask(p, grid)?)
        }
        None => None,
    };
    let mut provenance = Provenance::new(
        FileStamp::of(&args.volume)?,
        SegmentationSource::UserMasks,
        "none (masks supplied by user)",
    )
    .threshold("split_speck_fraction", options.speck_fraction)
    .threshold(
        "split_drop_specks",
        f64::from(u8::from(options.drop_specks)),
    );
    for s in stamps {
        provenance = provenance.mask_file(s);
    }
    Ok(Report::from_segmentation(
        &volume,
        &seg,
        lobes.as_ref(),
        provenance,
    )?)
}
