//! Reports and the batch summary of `lungscope segment` (`--report`, `--summary`).
//!
//! `--report PATH` may be given several times (one file per format). With one input
//! PATH is the file; with several it must contain `{stem}`, replaced by each input's
//! name without `.nii` / `.nii.gz` (e.g. `reports/{stem}.pdf`). `--summary FILE.csv`
//! gets one row per study that was segmented and measured; the file is written with
//! the first row of a run and appended to after each further study, so a long batch
//! that stops keeps the rows done so far. An existing summary (like any existing
//! output) is refused before the work unless `--overwrite` is given.

use crate::analysis::{Segmentation, SplitOptions, body_center_x_mm};
use crate::report::{self, FileStamp, Format, Report};
use crate::seg::infer::ModelSegmentation;
use crate::seg::infer::postprocess::PostprocessConfig;
use crate::seg::infer::stamp::ModelStamp;
use crate::volume::Volume;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

/// The placeholder replaced by the input's stem in `--report` paths.
pub const STEM: &str = "{stem}";

/// Checks `--report` and `--summary` before any work: known formats, `{stem}` with
/// several inputs, a `.csv` summary.
pub fn check_outputs(
    reports: &[PathBuf],
    summary: Option<&Path>,
    n_inputs: usize,
) -> anyhow::Result<()> {
    for r in reports {
        Format::from_path(r)?;
        if n_inputs > 1 && !r.to_string_lossy().contains(STEM) {
            bail!(
                "--report names one file but there are {n_inputs} inputs; put {STEM} in the \
                 path (e.g. reports/{STEM}.pdf): {}",
                r.display()
            );
        }
    }
    if let Some(s) = summary
        && Format::from_path(s).ok() != Some(Format::Csv)
    {
        bail!("--summary must name a .csv file: {}", s.display());
    }
    Ok(())
}

/// The report files of one input: `{stem}` replaced by its NIfTI stem.
pub fn report_paths(reports: &[PathBuf], stem: &str) -> Vec<PathBuf> {
    reports
        .iter()
        .map(|r| PathBuf::from(r.to_string_lossy().replace(STEM, stem)))
        .collect()
}

/// Measures a model's label map and builds the report, stamped with the model
/// (id, weights SHA-256), the preprocessing, the thresholds, the CT and the label
/// map file written for it.
pub fn build_report(
    volume: &Volume,
    input: &Path,
    mask_file: &Path,
    seg: &ModelSegmentation,
    weights_sha256: &str,
    post: &PostprocessConfig,
) -> anyhow::Result<Report> {
    let options = SplitOptions {
        body_center_x_mm: body_center_x_mm(volume),
        ..SplitOptions::default()
    };
    let measured = Segmentation::from_label_map(&seg.mask, &options)
        .with_context(|| format!("cannot measure the segmentation of {}", input.display()))?;
    let provenance = ModelStamp::of(seg, weights_sha256, post)
        .provenance(FileStamp::of(input)?, None)
        .mask_file(FileStamp::of(mask_file)?);
    Report::from_segmentation(volume, &measured, None, provenance)
        .with_context(|| format!("cannot build the report of {}", input.display()))
}

/// Writes the report files (creating their folders); never over `inputs`.
pub fn write_reports(report: &Report, paths: &[PathBuf], inputs: &[&Path]) -> anyhow::Result<()> {
    for path in paths {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the report folder {}", dir.display()))?;
        }
        report::write_report(report, path, inputs)?;
    }
    Ok(())
}

/// The batch summary: the first row of a run replaces the file, later rows append.
#[derive(Debug)]
pub struct Summary {
    path: PathBuf,
    rows: usize,
}

impl Summary {
    /// A summary written to `path` (nothing is written before the first row).
    pub fn new(path: PathBuf) -> Self {
        Self { path, rows: 0 }
    }

    /// Adds the row of one study.
    pub fn add(&mut self, report: &Report, inputs: &[&Path]) -> anyhow::Result<()> {
        if self.rows == 0 {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!("cannot create the summary folder {}", dir.display())
                })?;
            }
            let text = report::csv_document(std::slice::from_ref(report));
            report::write_bytes(&self.path, text.as_bytes(), inputs)?;
        } else {
            report::append_csv_row(&self.path, report, inputs)?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_patterns_need_a_stem_with_several_inputs() {
        let one = [PathBuf::from("out/report.pdf")];
        assert!(check_outputs(&one, None, 1).is_ok());
        let err = check_outputs(&one, None, 2).expect_err("no {stem}");
        assert!(err.to_string().contains("{stem}"), "{err}");
        let pattern = [
            PathBuf::from("out/{stem}.html"),
            PathBuf::from("{stem}.json"),
        ];
        assert!(check_outputs(&pattern, Some(Path::new("s.csv")), 3).is_ok());
        assert!(check_outputs(&[PathBuf::from("r.docx")], None, 1).is_err());
        assert!(check_outputs(&[], Some(Path::new("s.json")), 1).is_err());
        assert_eq!(
            report_paths(&pattern, "case_ct"),
            vec![
                PathBuf::from("out/case_ct.html"),
                PathBuf::from("case_ct.json")
            ]
        );
    }
}
