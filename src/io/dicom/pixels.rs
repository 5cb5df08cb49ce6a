//! Decoding pixel data (in parallel over files) into Hounsfield units.

use super::header::{FileHeader, FrameShape, error_chain};
use super::series::FrameRef;
use super::{DicomError, ReadProgress};
use super::{j2k, jpegls, rle};
use crate::volume::Voxels;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;
use dicom_pixeldata::{PhotometricInterpretation, PixelDecoder, PixelRepresentation};
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// HU written for padding pixels (air).
const PADDING_HU: i16 = -1024;

/// The decoded volume.
pub(super) struct Decoded {
    pub voxels: Voxels,
    /// e.g. `int16`, `uint16`.
    pub stored_type: String,
}

/// One decoded frame.
enum Frame {
    I16(Vec<i16>),
    F32(Vec<f32>),
}

/// What one file gave.
struct FileOut {
    /// (slice index, values).
    frames: Vec<(usize, Frame)>,
    stored_type: String,
    notes: Vec<String>,
}

/// How stored values map to HU in one file.
#[derive(Debug, Clone, Copy)]
struct Coding {
    bytes: usize,
    bits_stored: u32,
    shift: u32,
    signed: bool,
    /// Inclusive range of stored values that are padding.
    padding: Option<(i64, i64)>,
    monochrome1: bool,
}

impl Coding {
    /// The stored value of the little-endian sample `raw`.
    #[inline]
    fn stored(&self, raw: u32) -> i64 {
        let bs = self.bits_stored;
        let v = (raw >> self.shift) as u64 & ((1u64 << bs) - 1);
        if self.signed && (v >> (bs - 1)) & 1 == 1 {
            v as i64 - (1i64 << bs)
        } else {
            v as i64
        }
    }

    /// Stored value after padding and MONOCHROME1 handling; `None` for padding.
    #[inline]
    fn value(&self, raw: u32) -> Option<i64> {
        let v = self.stored(raw);
        if let Some((lo, hi)) = self.padding
            && v >= lo
            && v <= hi
        {
            return None;
        }
        Some(if !self.monochrome1 {
            v
        } else if self.signed {
            -1 - v
        } else {
            ((1i64 << self.bits_stored) - 1) - v
        })
    }
}

/// Decodes the frames `sorted` (slice order) of `files` into one voxel buffer
/// of `dims` (columns, rows, slices), reporting the images decoded to
/// `progress`. Once its cancel flag is set, the files not yet started are
/// skipped and the result is [`DicomError::Cancelled`].
pub(super) fn decode(
    files: &[FileHeader],
    sorted: &[FrameRef],
    dims: [usize; 3],
    warnings: &mut Vec<String>,
    progress: &ReadProgress<'_>,
) -> Result<Decoded, DicomError> {
    let frame_len = dims[0] * dims[1];
    // File → its (frame number, slice index) pairs, files in slice order.
    let mut by_file: BTreeMap<usize, Vec<(u32, usize)>> = BTreeMap::new();
    for (k, r) in sorted.iter().enumerate() {
        by_file.entry(r.file).or_default().push((r.frame, k));
    }
    let mut jobs: Vec<(usize, Vec<(u32, usize)>)> = by_file.into_iter().collect();
    jobs.sort_by_key(|(_, frames)| frames.iter().map(|f| f.1).min());
    let images = sorted.len();
    let done = AtomicUsize::new(0);
    (progress.progress)(0, images);
    let results: Vec<Result<FileOut, DicomError>> = jobs
        .par_iter()
        .map(|(file, frames)| {
            progress.check()?;
            let out = decode_file(&files[*file], frames, frame_len);
            let now = done.fetch_add(frames.len(), Ordering::Relaxed) + frames.len();
            (progress.progress)(now, images);
            out
        })
        .collect();
    // A cancelled read is cancelled, whatever the files decoded before gave.
    progress.check()?;
    let mut slices: Vec<Option<Frame>> = (0..sorted.len()).map(|_| None).collect();
    let mut stored_type = String::new();
    for r in results {
        let out = r?;
        if stored_type.is_empty() {
            stored_type = out.stored_type;
        } else if stored_type != out.stored_type && !stored_type.contains("mixed") {
            stored_type = format!("{stored_type} (mixed)");
        }
        for n in out.notes {
            if !warnings.contains(&n) {
                warnings.push(n);
            }
        }
        for (k, f) in out.frames {
            slices[k] = Some(f);
        }
    }
    let all_i16 = slices.iter().all(|s| matches!(s, Some(Frame::I16(_))));
    let total = frame_len * sorted.len();
    let voxels = if all_i16 {
        let mut v = Vec::with_capacity(total);
        for s in slices.into_iter().flatten() {
            if let Frame::I16(x) = s {
                v.extend_from_slice(&x);
            }
        }
        Voxels::I16(v)
    } else {
        let mut v = Vec::with_capacity(total);
        for s in slices.into_iter().flatten() {
            match s {
                Frame::I16(x) => v.extend(x.iter().map(|&a| f32::from(a))),
                Frame::F32(x) => v.extend_from_slice(&x),
            }
        }
        Voxels::F32(v)
    };
    Ok(Decoded {
        voxels,
        stored_type,
    })
}

/// Reads and decodes one file; panics inside the codecs become errors.
fn decode_file(
    h: &FileHeader,
    frames: &[(u32, usize)],
    frame_len: usize,
) -> Result<FileOut, DicomError> {
    let path = h.path.as_path();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_file_inner(h, frames, frame_len)
    }));
    caught.unwrap_or_else(|_| {
        Err(DicomError::Decode {
            syntax: "?".into(),
            reason: "the decoder failed on this file".into(),
            path: path.to_path_buf(),
        })
    })
}

fn decode_file_inner(
    h: &FileHeader,
    frames: &[(u32, usize)],
    frame_len: usize,
) -> Result<FileOut, DicomError> {
    let path = h.path.as_path();
    super::guard::check_lengths(path, false).map_err(|reason| DicomError::NotDicom {
        reason: format!("corrupt file: {reason}"),
        path: path.to_path_buf(),
    })?;
    let mut obj = OpenFileOptions::new()
        .open_file(path)
        .map_err(|e| DicomError::NotDicom {
            reason: error_chain(&e),
            path: path.to_path_buf(),
        })?;
    let uid = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_string();
    let Some(ts) = TransferSyntaxRegistry.get(&uid) else {
        return Err(DicomError::UnsupportedTransferSyntax {
            name: "unknown".into(),
            uid,
            path: path.to_path_buf(),
        });
    };
    let syntax = ts.name().to_string();
    if obj.get(tags::PIXEL_DATA).is_none() {
        return Err(DicomError::NoPixelData {
            path: path.to_path_buf(),
        });
    }
    if !ts.can_decode_all() {
        return Err(DicomError::UnsupportedTransferSyntax {
            name: syntax,
            uid,
            path: path.to_path_buf(),
        });
    }
    complete_image_attributes(&mut obj, path)?;
    // The codecs trust their streams: each frame is checked against the header
    // first. JPEG-LS also gives the largest NEAR of its frames.
    let near = if jpegls::is_jpegls(&uid) {
        guard_frames(&obj, h, &syntax, jpegls::check_frames)?
    } else {
        0
    };
    if rle::is_rle(&uid) {
        guard_frames(&obj, h, &syntax, rle::check_frames)?;
    }
    if j2k::is_j2k(&uid) {
        guard_frames(&obj, h, &syntax, j2k::check_frames)?;
    }
    let px = obj.decode_pixel_data().map_err(|e| DicomError::Decode {
        syntax: syntax.clone(),
        reason: error_chain(&e),
        path: path.to_path_buf(),
    })?;
    let unsupported = |reason: String| DicomError::Unsupported {
        reason,
        path: path.to_path_buf(),
    };
    if px.samples_per_pixel() != 1 {
        return Err(unsupported(format!(
            "{} samples per pixel (colour images are not CT)",
            px.samples_per_pixel()
        )));
    }
    if (px.rows(), px.columns()) != (h.rows, h.cols) {
        return Err(DicomError::Inconsistent {
            reason: format!(
                "decoded image is {} x {}, the header says {} x {}",
                px.columns(),
                px.rows(),
                h.cols,
                h.rows
            ),
            path: path.to_path_buf(),
        });
    }
    let bits_allocated = u32::from(px.bits_allocated());
    if !matches!(bits_allocated, 8 | 16 | 32) {
        return Err(unsupported(format!("BitsAllocated {bits_allocated}")));
    }
    let mut bits_stored = u32::from(px.bits_stored());
    if bits_stored == 0 || bits_stored > bits_allocated {
        bits_stored = bits_allocated;
    }
    let high_bit = u32::from(px.high_bit());
    let shift = if high_bit < bits_allocated && high_bit + 1 >= bits_stored {
        high_bit + 1 - bits_stored
    } else {
        0
    };
    let signed = px.pixel_representation() == PixelRepresentation::Signed;
    let monochrome1 = *px.photometric_interpretation() == PhotometricInterpretation::Monochrome1;
    let mut padding = padding_range(&obj, signed, bits_allocated);
    let mut notes = Vec::new();
    if near > 0
        && let Some((lo, hi)) = padding
    {
        // Near-lossless coding moves padding by up to NEAR stored values; they
        // are still padding (air), not values below the padding value's HU.
        let near = i64::from(near);
        padding = Some((lo - near, hi + near));
        notes.push(format!(
            "JPEG-LS near-lossless (NEAR {near}): stored values within {near} of PixelPaddingValue read as padding"
        ));
    }
    let coding = Coding {
        bytes: (bits_allocated / 8) as usize,
        bits_stored,
        shift,
        signed,
        padding,
        monochrome1,
    };
    let data = px.data();
    let frame_bytes = frame_len * coding.bytes;
    if monochrome1 {
        notes.push("MONOCHROME1 pixels inverted".to_string());
    }
    let mut out = Vec::with_capacity(frames.len());
    for &(f, k) in frames {
        let start = f as usize * frame_bytes;
        let raw = data
            .get(start..start + frame_bytes)
            .ok_or_else(|| DicomError::Decode {
                syntax: syntax.clone(),
                reason: format!(
                    "the pixel data hold {} bytes, frame {} needs bytes {start}..{} (truncated?)",
                    data.len(),
                    f + 1,
                    start + frame_bytes
                ),
                path: path.to_path_buf(),
            })?;
        let fr = &h.frames[f as usize];
        out.push((k, convert(raw, &coding, fr.slope, fr.intercept)));
    }
    Ok(FileOut {
        frames: out,
        stored_type: format!("{}int{bits_allocated}", if signed { "" } else { "u" }),
        notes,
    })
}

/// Runs one of the guards in front of the codecs (`jpegls`, `j2k`, `rle`) over
/// the encapsulated frames, with the frame shape the DICOM header declares; its
/// refusal becomes a [`DicomError::Decode`] naming the syntax and the file.
fn guard_frames<T>(
    obj: &dicom_object::DefaultDicomObject,
    h: &FileHeader,
    syntax: &str,
    guard: impl FnOnce(&[Vec<u8>], FrameShape) -> Result<T, String>,
) -> Result<T, DicomError> {
    let read = |tag| {
        obj.get(tag)
            .and_then(|e| e.to_int::<u32>().ok())
            .unwrap_or(0)
    };
    let shape = FrameShape {
        cols: h.cols,
        rows: h.rows,
        samples_per_pixel: read(tags::SAMPLES_PER_PIXEL),
        bits_allocated: read(tags::BITS_ALLOCATED),
    };
    let fragments = obj
        .get(tags::PIXEL_DATA)
        .and_then(|e| e.value().fragments())
        .unwrap_or(&[]);
    guard(fragments, shape).map_err(|reason| DicomError::Decode {
        syntax: syntax.to_string(),
        reason,
        path: h.path.clone(),
    })
}

/// Rewrites the image pixel attributes the decoder needs as `US` values, with
/// the standard's defaults where they are missing (older files omit HighBit or
/// BitsStored, some write them with another VR).
fn complete_image_attributes(
    obj: &mut dicom_object::DefaultDicomObject,
    path: &Path,
) -> Result<(), DicomError> {
    let read = |obj: &dicom_object::DefaultDicomObject, tag| {
        obj.get(tag).and_then(|e| e.to_int::<u16>().ok())
    };
    let bits_allocated =
        read(obj, tags::BITS_ALLOCATED).ok_or_else(|| DicomError::BadAttribute {
            what: "BitsAllocated missing or invalid".into(),
            path: path.to_path_buf(),
        })?;
    let bits_stored = read(obj, tags::BITS_STORED)
        .filter(|b| (1..=bits_allocated).contains(b))
        .unwrap_or(bits_allocated);
    let high_bit = read(obj, tags::HIGH_BIT)
        .filter(|h| *h < bits_allocated)
        .unwrap_or(bits_stored.saturating_sub(1));
    let values = [
        (
            tags::SAMPLES_PER_PIXEL,
            read(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1),
        ),
        (tags::BITS_ALLOCATED, bits_allocated),
        (tags::BITS_STORED, bits_stored),
        (tags::HIGH_BIT, high_bit),
        (
            tags::PIXEL_REPRESENTATION,
            read(obj, tags::PIXEL_REPRESENTATION)
                .filter(|p| *p <= 1)
                .unwrap_or(0),
        ),
    ];
    for (tag, v) in values {
        obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
    }
    if obj.get(tags::PHOTOMETRIC_INTERPRETATION).is_none() {
        obj.put(DataElement::new(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            PrimitiveValue::from("MONOCHROME2"),
        ));
    }
    Ok(())
}

/// PixelPaddingValue (and PixelPaddingRangeLimit) as a range of stored values.
fn padding_range(
    obj: &dicom_object::DefaultDicomObject,
    signed: bool,
    bits_allocated: u32,
) -> Option<(i64, i64)> {
    let read = |tag| {
        obj.get(tag).and_then(|e| e.to_int::<i64>().ok()).map(|v| {
            // A signed image's padding written as US: reinterpret the bits.
            if signed && bits_allocated < 64 && v >= 1i64 << (bits_allocated - 1) {
                v - (1i64 << bits_allocated)
            } else {
                v
            }
        })
    };
    let pad = read(tags::PIXEL_PADDING_VALUE)?;
    let limit = read(tags::PIXEL_PADDING_RANGE_LIMIT).unwrap_or(pad);
    Some((pad.min(limit), pad.max(limit)))
}

/// One frame's raw little-endian samples to HU.
fn convert(raw: &[u8], coding: &Coding, slope: f64, intercept: f64) -> Frame {
    let samples: Box<dyn Iterator<Item = u32> + '_> = match coding.bytes {
        1 => Box::new(raw.iter().map(|&b| u32::from(b))),
        2 => Box::new(
            raw.chunks_exact(2)
                .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]]))),
        ),
        _ => Box::new(
            raw.chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ),
    };
    let integer = slope.fract() == 0.0
        && intercept.fract() == 0.0
        && slope.abs() <= 65536.0
        && intercept.abs() <= 1e9;
    if integer {
        let (s, i) = (slope as i64, intercept as i64);
        let mut v = Vec::with_capacity(raw.len() / coding.bytes);
        let mut fits = true;
        for x in samples {
            let hu = match coding.value(x) {
                None => PADDING_HU,
                Some(stored) => match i16::try_from(stored * s + i) {
                    Ok(h) => h,
                    Err(_) => {
                        fits = false;
                        break;
                    }
                },
            };
            v.push(hu);
        }
        if fits {
            return Frame::I16(v);
        }
        return convert_f32(raw, coding, slope, intercept);
    }
    convert_f32(raw, coding, slope, intercept)
}

fn convert_f32(raw: &[u8], coding: &Coding, slope: f64, intercept: f64) -> Frame {
    let value = |x: u32| match coding.value(x) {
        None => f32::from(PADDING_HU),
        Some(v) => (v as f64 * slope + intercept) as f32,
    };
    Frame::F32(match coding.bytes {
        1 => raw.iter().map(|&b| value(u32::from(b))).collect(),
        2 => raw
            .chunks_exact(2)
            .map(|b| value(u32::from(u16::from_le_bytes([b[0], b[1]]))))
            .collect(),
        _ => raw
            .chunks_exact(4)
            .map(|b| value(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coding(bits_stored: u32, signed: bool) -> Coding {
        Coding {
            bytes: 2,
            bits_stored,
            shift: 0,
            signed,
            padding: Some((-2000, -2000)),
            monochrome1: false,
        }
    }

    #[test]
    fn stored_values_are_masked_and_sign_extended() {
        let c = coding(12, true);
        assert_eq!(c.stored(0x0FFF), -1);
        assert_eq!(c.stored(0xF7FF), 2047); // garbage above bit 11 ignored
        assert_eq!(coding(16, true).stored(0xF830), -2000);
        assert_eq!(coding(12, false).stored(0xFFFF), 4095);
    }

    #[test]
    fn padding_becomes_air_and_rescale_applies() {
        let raw: Vec<u8> = [-2000i16, 0, 1024, 100]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let Frame::I16(v) = convert(&raw, &coding(16, true), 1.0, -1024.0) else {
            panic!("expected int16");
        };
        assert_eq!(v, vec![-1024, -1024, 0, -924]);
        let Frame::F32(v) = convert(&raw, &coding(16, true), 0.5, 0.25) else {
            panic!("expected float");
        };
        assert_eq!(v, vec![-1024.0, 0.25, 512.25, 50.25]);
    }

    #[test]
    fn monochrome1_is_inverted() {
        let mut c = coding(12, false);
        c.monochrome1 = true;
        c.padding = None;
        assert_eq!(c.value(0), Some(4095));
        assert_eq!(c.value(4095), Some(0));
    }
}
