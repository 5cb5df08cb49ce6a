//! Reports: a serde [`Report`] (schema-versioned) built from an [`Analysis`], and
//! its JSON, CSV, HTML and PDF writers. Every file is written atomically
//! (temporary file + rename) and never over an input.

pub mod csv;
pub mod html;
pub mod pdf;
pub mod render;
pub mod stamp;
pub mod tables;
pub mod write;

pub use csv::{append_csv_row, csv_document, csv_header, csv_row};
pub use stamp::{FileStamp, Provenance, SegmentationSource};
pub use write::{Format, write_bytes, write_report};

use crate::analysis::{Analysis, AnalysisError, Segmentation, Zone};
use crate::fsutil::{FsError, OverInput};
use crate::mask::LabelTable;
use crate::volume::{HuCheck, Volume};
use crate::windowing::{Preset, WindowLevel};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Version of the JSON schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 2;

/// Errors of report building and writing.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The analysis failed.
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
    /// Rendering or encoding an image failed.
    #[error("cannot render the key slice image: {0}")]
    Image(String),
    /// The operating system refused.
    #[error("{action} failed: {source}: {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An output path that names an input file.
    #[error("refusing to write the report over an input file; choose another output name: {path}")]
    WouldOverwriteInput {
        /// The output path.
        path: PathBuf,
    },
    /// An output extension that is not a report format.
    #[error("unknown report format (use .json, .csv, .html or .pdf): {path}")]
    UnknownFormat {
        /// The output path.
        path: PathBuf,
    },
    /// Appending to a CSV written with other columns.
    #[error(
        "the CSV file has other columns than this report (schema {SCHEMA_VERSION}); write to a new file: {path}"
    )]
    CsvHeaderMismatch {
        /// The CSV file.
        path: PathBuf,
    },
    /// JSON (de)serialisation failed.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}

impl ReportError {
    /// An I/O error with context.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<FsError> for ReportError {
    fn from(e: FsError) -> Self {
        Self::io(e.action, e.path, e.source)
    }
}

impl From<OverInput> for ReportError {
    fn from(e: OverInput) -> Self {
        Self::WouldOverwriteInput { path: e.path }
    }
}

/// The patient-free study header: file name only, never folders or DICOM tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyHeader {
    /// The CT file's name (without its folder).
    pub file_name: String,
    /// When the report was made (UTC, ISO 8601).
    pub created_utc: String,
    /// Voxels along i, j, k.
    pub dims: [usize; 3],
    /// Voxel size in mm.
    pub spacing_mm: [f64; 3],
    /// Orientation code of the storage axes, e.g. `LPS`.
    pub orientation: String,
    /// The HU-validity guard's verdict on the volume.
    pub hu_check: HuCheck,
}

/// A rendered key slice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySliceImage {
    /// The zone level it represents.
    pub zone: Zone,
    /// Axial slice number.
    pub slice: usize,
    /// Infected voxels of the zone on this slice.
    pub infected_voxels: u64,
    /// Lung voxels of the zone on this slice.
    pub lung_voxels: u64,
    /// The display window used.
    pub window: WindowLevel,
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// PNG file bytes (base64 in JSON).
    #[serde(with = "base64_bytes")]
    pub png: Vec<u8>,
}

/// A complete report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`] at writing time.
    pub schema_version: u32,
    /// The study.
    pub header: StudyHeader,
    /// All figures.
    pub analysis: Analysis,
    /// The most involved axial slice per zone level, rendered.
    pub key_slices: Vec<KeySliceImage>,
    /// How the figures were made.
    pub provenance: Provenance,
}

impl Report {
    /// Builds a report: renders the key slices of `analysis` from `volume` with the
    /// segmentation's label map in the lung window.
    pub fn build(
        volume: &Volume,
        segmentation: &Segmentation,
        analysis: Analysis,
        provenance: Provenance,
    ) -> Result<Self, ReportError> {
        let file_name = volume
            .info
            .path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "(in memory)".into());
        let header = StudyHeader {
            file_name,
            created_utc: crate::utc::utc_now(),
            dims: volume.geometry.dims,
            spacing_mm: volume.geometry.spacing,
            orientation: volume.geometry.orientation_string(),
            hu_check: volume.hu_check(),
        };
        let labels = segmentation.to_label_map();
        let table = LabelTable::default();
        let window = Preset::Lung.window();
        let key_slices = analysis
            .key_slices
            .iter()
            .map(|k| {
                let img = render::render_axial(volume, &labels, k.slice, window, &table)?;
                Ok(KeySliceImage {
                    zone: k.zone,
                    slice: k.slice,
                    infected_voxels: k.infected_voxels,
                    lung_voxels: k.lung_voxels,
                    window,
                    width: img.width,
                    height: img.height,
                    png: img.to_png()?,
                })
            })
            .collect::<Result<Vec<_>, ReportError>>()?;
        Ok(Self {
            schema_version: SCHEMA_VERSION,
            header,
            analysis,
            key_slices,
            provenance,
        })
    }

    /// Analyses `segmentation` (with `lobes` for the true-lobe score) on `volume`
    /// and builds the report: [`analyze`](fn@crate::analysis::analyze) followed by
    /// [`Report::build`].
    pub fn from_segmentation(
        volume: &Volume,
        segmentation: &Segmentation,
        lobes: Option<&crate::mask::LabelMask>,
        provenance: Provenance,
    ) -> Result<Self, ReportError> {
        let analysis = crate::analysis::analyze(segmentation, Some(volume), lobes)?;
        Self::build(volume, segmentation, analysis, provenance)
    }

    /// The JSON text of the report (pretty-printed).
    pub fn to_json(&self) -> Result<String, ReportError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// A report from its JSON text.
    pub fn from_json(text: &str) -> Result<Self, ReportError> {
        Ok(serde_json::from_str(text)?)
    }
}

/// Base64 (RFC 4648, padded) for byte fields in JSON.
pub mod base64_bytes {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /// Encodes bytes.
    pub fn encode(data: &[u8]) -> String {
        let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// Decodes padded base64; `None` if malformed.
    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let t = text.as_bytes();
        if !t.len().is_multiple_of(4) {
            return None;
        }
        let val = |c: u8| ALPHABET.iter().position(|&a| a == c).map(|v| v as u32);
        let mut out = Vec::with_capacity(t.len() / 4 * 3);
        for (ci, chunk) in t.chunks(4).enumerate() {
            let last = ci + 1 == t.len() / 4;
            let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
            if pad > 2 || (pad > 0 && !last) {
                return None;
            }
            let mut n = 0u32;
            for &c in &chunk[..4 - pad] {
                n = (n << 6) | val(c)?;
            }
            n <<= 6 * pad as u32;
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.extend_from_slice(&bytes[..3 - pad]);
        }
        Some(out)
    }

    /// serde: serialise bytes as a base64 string.
    pub fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(data))
    }

    /// serde: deserialise bytes from a base64 string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        decode(&text).ok_or_else(|| D::Error::custom("invalid base64"))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn rfc4648_vectors() {
            for (plain, enc) in [
                ("", ""),
                ("f", "Zg=="),
                ("fo", "Zm8="),
                ("foo", "Zm9v"),
                ("foob", "Zm9vYg=="),
                ("fooba", "Zm9vYmE="),
                ("foobar", "Zm9vYmFy"),
            ] {
                assert_eq!(encode(plain.as_bytes()), enc);
                assert_eq!(decode(enc).as_deref(), Some(plain.as_bytes()));
            }
            assert_eq!(decode("Zm9"), None);
            assert_eq!(decode("Zg==Zg=="), None);
            assert_eq!(decode("Z!=="), None);
        }
    }
}
