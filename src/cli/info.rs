//! `lungscope info FILE...`: what is in a NIfTI file, a DICOM file or a DICOM folder.

use crate::io;
use crate::volume::{HuCheck, IntensityStats, Volume};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `lungscope info`.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// NIfTI files (.nii or .nii.gz), DICOM files or folders of DICOM files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// For a DICOM folder with several series: the one to describe (its index in
    /// the listing, or its SeriesInstanceUID).
    #[arg(long, value_name = "INDEX|UID")]
    pub series: Option<io::SeriesChoice>,
    /// Print one JSON object per file (an array) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Everything `info` reports about one file.
#[derive(Debug, Serialize)]
pub struct FileInfo {
    /// The file.
    pub path: PathBuf,
    /// NIfTI version (1 or 2); 0 for DICOM.
    pub nifti_version: u8,
    /// Voxels along i, j, k.
    pub dims: [usize; 3],
    /// Number of 3-D volumes in the file (only the first is read).
    pub volumes: u64,
    /// Voxel size in mm.
    pub spacing_mm: [f64; 3],
    /// On-disk datatype.
    pub datatype: String,
    /// In-memory storage after scaling.
    pub storage: String,
    /// Orientation code, e.g. `LPS`.
    pub orientation: String,
    /// Which transform defines the affine.
    pub affine_source: String,
    /// Voxel → world (RAS+) affine, row-major 4×4.
    pub affine: [[f64; 4]; 4],
    /// `scl_slope`, `scl_inter` as applied.
    pub scaling: [f64; 2],
    /// Intensity statistics after scaling.
    pub intensity: IntensityStats,
    /// The HU-validity guard's verdict.
    pub hu: HuCheck,
    /// The header's description.
    pub description: String,
    /// Non-fatal findings.
    pub warnings: Vec<String>,
    /// For DICOM inputs: the series found (the volume is the chosen one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<io::SeriesSummary>,
}

/// Reads one file and gathers its facts.
pub fn file_info(path: &Path) -> Result<FileInfo, io::NiftiError> {
    file_info_series(path, None)
}

/// [`file_info`] with a series choice for DICOM folders.
pub fn file_info_series(
    path: &Path,
    series: Option<&io::SeriesChoice>,
) -> Result<FileInfo, io::NiftiError> {
    if io::is_dicom_path(path) {
        return dicom_info(path, series);
    }
    let header = io::read_header(path)?;
    let volume: Volume = io::read_volume(path)?;
    Ok(FileInfo {
        path: path.to_path_buf(),
        nifti_version: header.version,
        dims: volume.geometry.dims,
        volumes: header.volumes,
        spacing_mm: volume.geometry.spacing,
        datatype: volume.info.file_datatype.clone(),
        storage: volume.voxels.storage_name().to_string(),
        orientation: volume.geometry.orientation_string(),
        affine_source: header.affine_source.to_string(),
        affine: volume.geometry.affine,
        scaling: [header.slope, header.inter],
        intensity: volume.stats(),
        hu: volume.hu_check(),
        description: volume.info.description.clone(),
        warnings: volume.info.warnings.clone(),
        series: Vec::new(),
    })
}

/// Facts of a DICOM file or folder: its series and the chosen one's volume.
fn dicom_info(path: &Path, series: Option<&io::SeriesChoice>) -> Result<FileInfo, io::NiftiError> {
    // Before anything opens it: a FIFO or device would block or never end.
    io::limits::check_file_or_dir(path)?;
    // One header index lists the series and reads the chosen one.
    let index = io::SeriesIndex::scan(path)?;
    let list = index.summaries();
    let volume = super::input::read_series(&index, series)?;
    Ok(FileInfo {
        path: path.to_path_buf(),
        nifti_version: 0,
        dims: volume.geometry.dims,
        volumes: 1,
        spacing_mm: volume.geometry.spacing,
        datatype: volume.info.file_datatype.clone(),
        storage: volume.voxels.storage_name().to_string(),
        orientation: volume.geometry.orientation_string(),
        affine_source: "DICOM ImagePositionPatient / ImageOrientationPatient".into(),
        affine: volume.geometry.affine,
        scaling: [1.0, 0.0],
        intensity: volume.stats(),
        hu: volume.hu_check(),
        description: volume.info.description.clone(),
        warnings: volume.info.warnings.clone(),
        series: list,
    })
}

/// The series listing of a DICOM folder that holds several (and no choice).
fn series_listing(path: &Path) -> Option<String> {
    let list = io::list_series(path).ok().filter(|l| l.len() > 1)?;
    let mut s = format!(
        "{}\n  {} series (choose one with --series INDEX|UID):\n",
        path.display(),
        list.len()
    );
    for l in &list {
        s += &format!("  {}\n", l.line());
    }
    Some(s)
}

/// Runs the command: every file is reported; a bad file prints a one-line error
/// and makes the exit code non-zero, the others are still reported.
pub fn run(args: &InfoArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let mut infos = Vec::new();
    for path in &args.files {
        if args.series.is_none()
            && path.is_dir()
            && let Some(listing) = series_listing(path)
        {
            if args.json {
                eprint!("{listing}");
            } else {
                print!("{listing}");
            }
            continue;
        }
        match file_info_series(path, args.series.as_ref()) {
            Ok(info) => {
                if !args.json {
                    print!("{}", format_text(&info));
                }
                infos.push(info);
            }
            Err(e) => {
                failed = true;
                eprintln!("error: {e}");
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&infos)?);
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Human-readable report of one file.
pub fn format_text(i: &FileInfo) -> String {
    let mut s = String::new();
    let f = |x: f64| format!("{x:.4}");
    s += &format!("{}\n", i.path.display());
    s += &format!(
        "  dims         {} x {} x {}{}\n",
        i.dims[0],
        i.dims[1],
        i.dims[2],
        if i.volumes > 1 {
            format!("  ({} volumes, first read)", i.volumes)
        } else {
            String::new()
        }
    );
    s += &format!(
        "  spacing      {} x {} x {} mm\n",
        f(i.spacing_mm[0]),
        f(i.spacing_mm[1]),
        f(i.spacing_mm[2])
    );
    if i.nifti_version == 0 {
        s += &format!("  datatype     {}, stored as {}\n", i.datatype, i.storage);
    } else {
        s += &format!(
            "  datatype     {} (NIfTI-{}), stored as {}, slope {} inter {}\n",
            i.datatype, i.nifti_version, i.storage, i.scaling[0], i.scaling[1]
        );
    }
    s += &format!(
        "  orientation  {} (from {})\n",
        i.orientation, i.affine_source
    );
    for row in &i.affine {
        s += &format!(
            "  affine       [{:>10.4} {:>10.4} {:>10.4} {:>10.4}]\n",
            row[0], row[1], row[2], row[3]
        );
    }
    s += &format!(
        "  intensity    min {:.1}  max {:.1}  robust 2-98% {:.1} .. {:.1}  mean {:.1}\n",
        i.intensity.min, i.intensity.max, i.intensity.p2, i.intensity.p98, i.intensity.mean
    );
    s += &format!(
        "  HU           {}: {}\n",
        if i.hu.looks_like_hu {
            "real HU"
        } else {
            "NOT real HU"
        },
        i.hu.reason
    );
    if !i.description.is_empty() {
        s += &format!("  description  {}\n", i.description);
    }
    for w in &i.warnings {
        s += &format!("  warning      {w}\n");
    }
    for l in &i.series {
        s += &format!("  series       {}\n", l.line());
    }
    s
}
