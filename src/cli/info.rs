//! `lungscope info FILE...`: what is in a NIfTI file.

use crate::io;
use crate::volume::{HuCheck, IntensityStats, Volume};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `lungscope info`.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// NIfTI files (.nii or .nii.gz).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print one JSON object per file (an array) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Everything `info` reports about one file.
#[derive(Debug, Serialize)]
pub struct FileInfo {
    /// The file.
    pub path: PathBuf,
    /// NIfTI version (1 or 2).
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
}

/// Reads one file and gathers its facts.
pub fn file_info(path: &Path) -> Result<FileInfo, io::NiftiError> {
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
    })
}

/// Runs the command: every file is reported; a bad file prints a one-line error
/// and makes the exit code non-zero, the others are still reported.
pub fn run(args: &InfoArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let mut infos = Vec::new();
    for path in &args.files {
        match file_info(path) {
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
    s += &format!(
        "  datatype     {} (NIfTI-{}), stored as {}, slope {} inter {}\n",
        i.datatype, i.nifti_version, i.storage, i.scaling[0], i.scaling[1]
    );
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
    s
}
