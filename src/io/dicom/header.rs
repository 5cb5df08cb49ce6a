//! Reading one file's header (up to the pixel data) into per-frame facts.

use super::DicomError;
use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, OpenFileOptions, Tag};
use std::path::{Path, PathBuf};

/// SOP class of a DICOMDIR (media storage directory).
const DICOMDIR_SOP_CLASS: &str = "1.2.840.10008.1.3.10";

/// Header facts of one image frame.
#[derive(Debug, Clone, Default)]
pub(super) struct FrameHeader {
    /// ImagePositionPatient (LPS, mm).
    pub position: Option<[f64; 3]>,
    /// ImageOrientationPatient (row cosines, then column cosines).
    pub orientation: Option<[f64; 6]>,
    /// PixelSpacing: between rows, between columns (mm).
    pub pixel_spacing: Option<[f64; 2]>,
    /// SpacingBetweenSlices, else SliceThickness (mm).
    pub thickness: Option<f64>,
    /// RescaleSlope.
    pub slope: f64,
    /// RescaleIntercept.
    pub intercept: f64,
}

/// What the DICOM header says each encapsulated frame holds, for the guards in
/// front of the codecs (`jpegls`, `j2k`, `rle`).
#[derive(Debug, Clone, Copy)]
pub(super) struct FrameShape {
    pub cols: u32,
    pub rows: u32,
    pub samples_per_pixel: u32,
    pub bits_allocated: u32,
}

/// Header facts of one image file.
#[derive(Debug, Clone)]
pub(super) struct FileHeader {
    pub path: PathBuf,
    pub series_uid: String,
    pub series_number: Option<i64>,
    pub description: String,
    pub modality: String,
    pub kernel: String,
    pub date: String,
    pub rows: u32,
    pub cols: u32,
    pub localizer: bool,
    /// One entry per frame (one for classic single-frame images).
    pub frames: Vec<FrameHeader>,
}

/// Opens a file up to (not including) its pixel data; panics in the parser
/// become errors.
fn open_header(path: &Path) -> Result<dicom_object::DefaultDicomObject, DicomError> {
    super::guard::check_lengths(path, true).map_err(|reason| DicomError::NotDicom {
        reason: format!("corrupt file: {reason}"),
        path: path.to_path_buf(),
    })?;
    let opened = std::panic::catch_unwind(|| {
        OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .open_file(path)
    });
    match opened {
        Ok(Ok(obj)) => Ok(obj),
        Ok(Err(e)) => Err(DicomError::NotDicom {
            reason: error_chain(&e),
            path: path.to_path_buf(),
        }),
        Err(_) => Err(DicomError::NotDicom {
            reason: "the DICOM parser failed on this file".into(),
            path: path.to_path_buf(),
        }),
    }
}

/// An error and its sources on one line.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

/// The header of one file; `None` for DICOM objects that are not images.
pub(super) fn read_header(path: &Path) -> Result<Option<FileHeader>, DicomError> {
    let obj = open_header(path)?;
    if obj
        .meta()
        .media_storage_sop_class_uid()
        .trim_end_matches('\0')
        == DICOMDIR_SOP_CLASS
    {
        return Ok(None);
    }
    let (Some(rows), Some(cols)) = (int(&obj, tags::ROWS), int(&obj, tags::COLUMNS)) else {
        return Ok(None);
    };
    let (rows, cols) = match (u32::try_from(rows), u32::try_from(cols)) {
        (Ok(r), Ok(c)) if r > 0 && c > 0 => (r, c),
        _ => {
            return Err(DicomError::BadAttribute {
                what: format!("invalid image size {cols} x {rows}"),
                path: path.to_path_buf(),
            });
        }
    };
    let n_frames = int(&obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1);
    let frames = frame_headers(&obj, n_frames, path)?;
    let date = Some(text(&obj, tags::SERIES_DATE))
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| text(&obj, tags::STUDY_DATE));
    let localizer = obj
        .get(tags::IMAGE_TYPE)
        .and_then(|e| e.to_multi_str().ok())
        .is_some_and(|v| v.iter().any(|s| s.trim().eq_ignore_ascii_case("LOCALIZER")));
    Ok(Some(FileHeader {
        path: path.to_path_buf(),
        series_uid: text(&obj, tags::SERIES_INSTANCE_UID),
        series_number: int(&obj, tags::SERIES_NUMBER),
        description: text(&obj, tags::SERIES_DESCRIPTION),
        modality: text(&obj, tags::MODALITY),
        kernel: text(&obj, tags::CONVOLUTION_KERNEL),
        date,
        rows,
        cols,
        localizer,
        frames,
    }))
}

/// Per-frame geometry and rescale: classic images from the top level, Enhanced
/// (multi-frame) images from their functional groups.
fn frame_headers(
    obj: &InMemDicomObject,
    n_frames: i64,
    path: &Path,
) -> Result<Vec<FrameHeader>, DicomError> {
    let top = FrameHeader {
        position: fixed::<3>(obj, tags::IMAGE_POSITION_PATIENT),
        orientation: fixed::<6>(obj, tags::IMAGE_ORIENTATION_PATIENT),
        pixel_spacing: fixed::<2>(obj, tags::PIXEL_SPACING)
            .or_else(|| fixed::<2>(obj, tags::IMAGER_PIXEL_SPACING)),
        thickness: float(obj, tags::SPACING_BETWEEN_SLICES)
            .or_else(|| float(obj, tags::SLICE_THICKNESS))
            .filter(|t| *t > 0.0),
        slope: float(obj, tags::RESCALE_SLOPE)
            .filter(|s| *s != 0.0)
            .unwrap_or(1.0),
        intercept: float(obj, tags::RESCALE_INTERCEPT).unwrap_or(0.0),
    };
    let shared = obj
        .get(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|e| e.items())
        .and_then(|i| i.first());
    let per_frame = obj
        .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|e| e.items());
    if per_frame.is_none() && shared.is_none() {
        if n_frames > 1 {
            return Err(DicomError::Unsupported {
                reason: format!(
                    "multi-frame image ({n_frames} frames) without per-frame functional groups"
                ),
                path: path.to_path_buf(),
            });
        }
        return Ok(vec![top]);
    }
    let n = usize::try_from(n_frames).unwrap_or(usize::MAX);
    let per_frame = per_frame.unwrap_or(&[]);
    if n > 1 && per_frame.len() != n {
        return Err(DicomError::BadAttribute {
            what: format!(
                "NumberOfFrames is {n} but the per-frame functional groups hold {} item(s)",
                per_frame.len()
            ),
            path: path.to_path_buf(),
        });
    }
    let mut out = Vec::with_capacity(n.min(per_frame.len().max(1)));
    for f in 0..n.min(per_frame.len().max(1)) {
        let item = per_frame.get(f);
        // The functional group `seq`, per-frame first, then shared.
        let group = |seq: Tag| -> Option<&InMemDicomObject> {
            [item, shared]
                .into_iter()
                .flatten()
                .find_map(|g| g.get(seq).and_then(|e| e.items()).and_then(|i| i.first()))
        };
        let measures = group(tags::PIXEL_MEASURES_SEQUENCE);
        let transform = group(tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE);
        out.push(FrameHeader {
            position: group(tags::PLANE_POSITION_SEQUENCE)
                .and_then(|g| fixed::<3>(g, tags::IMAGE_POSITION_PATIENT))
                .or(top.position),
            orientation: group(tags::PLANE_ORIENTATION_SEQUENCE)
                .and_then(|g| fixed::<6>(g, tags::IMAGE_ORIENTATION_PATIENT))
                .or(top.orientation),
            pixel_spacing: measures
                .and_then(|g| fixed::<2>(g, tags::PIXEL_SPACING))
                .or(top.pixel_spacing),
            thickness: measures
                .and_then(|g| {
                    float(g, tags::SPACING_BETWEEN_SLICES)
                        .or_else(|| float(g, tags::SLICE_THICKNESS))
                })
                .filter(|t| *t > 0.0)
                .or(top.thickness),
            slope: transform
                .and_then(|g| float(g, tags::RESCALE_SLOPE))
                .filter(|s| *s != 0.0)
                .unwrap_or(top.slope),
            intercept: transform
                .and_then(|g| float(g, tags::RESCALE_INTERCEPT))
                .unwrap_or(top.intercept),
        });
    }
    Ok(out)
}

fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| {
            s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
                .to_string()
        })
        .unwrap_or_default()
}

fn int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    obj.get(tag).and_then(|e| e.to_int::<i64>().ok())
}

fn float(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    obj.get(tag)
        .and_then(|e| e.to_float64().ok())
        .filter(|v| v.is_finite())
}

fn fixed<const N: usize>(obj: &InMemDicomObject, tag: Tag) -> Option<[f64; N]> {
    let v = obj.get(tag).and_then(|e| e.to_multi_float64().ok())?;
    let arr: [f64; N] = v.get(..N)?.try_into().ok()?;
    arr.iter().all(|x| x.is_finite()).then_some(arr)
}
