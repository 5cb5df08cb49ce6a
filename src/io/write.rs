//! Writing label masks (and volumes) as NIfTI-1, atomically.
//!
//! A mask is written with the geometry fields of the volume it belongs to (pixdim,
//! qform/sform codes, quaternion, srow, units), so other tools overlay it exactly.
//! The file is written through [`crate::fsutil::write_atomic_with`] (an unguessable
//! temporary name in the same folder, synced, renamed, folder synced): a crash never
//! leaves a half-written file under the target name. The source image itself is never
//! overwritten.

use super::error::NiftiError;
use super::qform::affine_to_quatern;
use crate::fsutil::{refuse_inputs, write_atomic_with};
use crate::mask::LabelMask;
use crate::volume::{Geometry, Volume, Voxels};
use nifti::NiftiHeader;
use std::io::Write;
use std::path::Path;

/// NIFTI_INTENT_LABEL.
const INTENT_LABEL: i16 = 1002;

/// Writes a label mask as `uint8` NIfTI-1 (`.nii.gz` compresses, `.nii` does not).
///
/// With `source`, the mask must be on the source's grid; the output takes the
/// source header's geometry fields, and writing over the source file is refused.
pub fn write_mask(
    path: &Path,
    mask: &LabelMask,
    source: Option<&Volume>,
) -> Result<(), NiftiError> {
    let reference = match source {
        Some(v) => {
            if !mask.geometry.same_grid(&v.geometry) {
                return Err(NiftiError::GridMismatch {
                    mask_dims: mask.geometry.dims,
                    volume_dims: v.geometry.dims,
                    detail: String::new(),
                    path: path.to_path_buf(),
                });
            }
            refuse_inputs(path, v.info.path.as_deref().as_slice())?;
            v.info.header.as_deref()
        }
        None => None,
    };
    let mut h = build_header(&mask.geometry, reference, path)?;
    h.datatype = 2;
    h.bitpix = 8;
    h.intent_code = INTENT_LABEL;
    h.cal_min = 0.0;
    h.cal_max = f32::from(mask.labels.iter().copied().max().unwrap_or(0));
    set_descrip(&mut h, "lungscope label map");
    write_nifti(path, &h, &mask.labels)
}

/// Writes a volume (`int16` or `float32` as stored) as NIfTI-1. Used to export
/// volumes and to generate test data; refuses to overwrite the volume's own file.
pub fn write_volume(path: &Path, volume: &Volume) -> Result<(), NiftiError> {
    refuse_inputs(path, volume.info.path.as_deref().as_slice())?;
    let mut h = build_header(&volume.geometry, volume.info.header.as_deref(), path)?;
    set_descrip(&mut h, &volume.info.description);
    match &volume.voxels {
        Voxels::I16(v) => {
            h.datatype = 4;
            h.bitpix = 16;
            write_nifti(path, &h, &le_bytes(v.iter().map(|x| x.to_le_bytes())))
        }
        Voxels::F32(v) => {
            h.datatype = 16;
            h.bitpix = 32;
            write_nifti(path, &h, &le_bytes(v.iter().map(|x| x.to_le_bytes())))
        }
    }
}

fn le_bytes<const N: usize>(it: impl Iterator<Item = [u8; N]>) -> Vec<u8> {
    it.flatten().collect()
}

fn set_descrip(h: &mut NiftiHeader, text: &str) {
    let mut d = vec![0u8; 80];
    let b = text.as_bytes();
    let n = b.len().min(79);
    d[..n].copy_from_slice(&b[..n]);
    h.descrip = d;
}

/// A NIfTI-1 header for `geometry`, copying geometry fields from `reference`.
fn build_header(
    geometry: &Geometry,
    reference: Option<&NiftiHeader>,
    path: &Path,
) -> Result<NiftiHeader, NiftiError> {
    let mut h = NiftiHeader::default();
    for (a, &d) in geometry.dims.iter().enumerate() {
        h.dim[a + 1] = u16::try_from(d)
            .ok()
            .filter(|&d| d <= i16::MAX as u16)
            .ok_or_else(|| NiftiError::CannotWrite {
                reason: format!("dimension {d} does not fit NIfTI-1 (max 32767)"),
                path: path.to_path_buf(),
            })?;
    }
    h.dim[0] = 3;
    for n in 4..8 {
        h.dim[n] = 1;
    }
    h.vox_offset = 352.0;
    h.scl_slope = 1.0;
    h.scl_inter = 0.0;
    h.magic = *b"n+1\0";
    match reference {
        Some(r) => {
            h.pixdim = r.pixdim;
            h.xyzt_units = r.xyzt_units;
            h.qform_code = r.qform_code;
            h.sform_code = r.sform_code;
            h.quatern_b = r.quatern_b;
            h.quatern_c = r.quatern_c;
            h.quatern_d = r.quatern_d;
            h.quatern_x = r.quatern_x;
            h.quatern_y = r.quatern_y;
            h.quatern_z = r.quatern_z;
            h.srow_x = r.srow_x;
            h.srow_y = r.srow_y;
            h.srow_z = r.srow_z;
            h.dim_info = r.dim_info;
            // Only a usable affine is written: a non-finite sform (which the reader
            // refuses to use) is dropped, so masks never carry one.
            let srow_finite = [h.srow_x, h.srow_y, h.srow_z]
                .iter()
                .flatten()
                .all(|v| v.is_finite());
            if !srow_finite {
                h.sform_code = 0;
                h.srow_x = [0.0; 4];
                h.srow_y = [0.0; 4];
                h.srow_z = [0.0; 4];
            }
            let qform_finite = [
                h.quatern_b,
                h.quatern_c,
                h.quatern_d,
                h.quatern_x,
                h.quatern_y,
                h.quatern_z,
            ]
            .iter()
            .chain(&h.pixdim[..4])
            .all(|v| v.is_finite());
            if !qform_finite {
                h.qform_code = 0;
            }
            for n in 4..8 {
                h.pixdim[n] = if r.pixdim[n].is_finite() {
                    r.pixdim[n]
                } else {
                    0.0
                };
            }
        }
        None => {
            let a = &geometry.affine;
            let (b, c, d, qfac) = affine_to_quatern(a);
            h.pixdim = [
                qfac as f32,
                geometry.spacing[0] as f32,
                geometry.spacing[1] as f32,
                geometry.spacing[2] as f32,
                0.0,
                0.0,
                0.0,
                0.0,
            ];
            h.quatern_b = b as f32;
            h.quatern_c = c as f32;
            h.quatern_d = d as f32;
            h.quatern_x = a[0][3] as f32;
            h.quatern_y = a[1][3] as f32;
            h.quatern_z = a[2][3] as f32;
            h.srow_x = a[0].map(|x| x as f32);
            h.srow_y = a[1].map(|x| x as f32);
            h.srow_z = a[2].map(|x| x as f32);
            h.qform_code = 1;
            h.sform_code = 1;
            h.xyzt_units = 2; // millimetres
        }
    }
    Ok(h)
}

/// Serialises a NIfTI-1 header (little-endian) plus the 4-byte extension flag.
fn header_bytes(h: &NiftiHeader) -> Vec<u8> {
    let mut b = Vec::with_capacity(352);
    let i16s = |b: &mut Vec<u8>, v: i16| b.extend_from_slice(&v.to_le_bytes());
    let f32s = |b: &mut Vec<u8>, v: f32| b.extend_from_slice(&v.to_le_bytes());
    b.extend_from_slice(&348i32.to_le_bytes());
    b.extend_from_slice(&h.data_type);
    b.extend_from_slice(&h.db_name);
    b.extend_from_slice(&h.extents.to_le_bytes());
    i16s(&mut b, h.session_error);
    b.push(h.regular);
    b.push(h.dim_info);
    for &d in &h.dim {
        i16s(&mut b, d as i16);
    }
    f32s(&mut b, h.intent_p1);
    f32s(&mut b, h.intent_p2);
    f32s(&mut b, h.intent_p3);
    i16s(&mut b, h.intent_code);
    i16s(&mut b, h.datatype);
    i16s(&mut b, h.bitpix);
    i16s(&mut b, h.slice_start);
    for &p in &h.pixdim {
        f32s(&mut b, p);
    }
    f32s(&mut b, h.vox_offset);
    f32s(&mut b, h.scl_slope);
    f32s(&mut b, h.scl_inter);
    i16s(&mut b, h.slice_end);
    b.push(h.slice_code);
    b.push(h.xyzt_units);
    f32s(&mut b, h.cal_max);
    f32s(&mut b, h.cal_min);
    f32s(&mut b, h.slice_duration);
    f32s(&mut b, h.toffset);
    b.extend_from_slice(&h.glmax.to_le_bytes());
    b.extend_from_slice(&h.glmin.to_le_bytes());
    let mut descrip = h.descrip.clone();
    descrip.resize(80, 0);
    b.extend_from_slice(&descrip);
    b.extend_from_slice(&h.aux_file);
    i16s(&mut b, h.qform_code);
    i16s(&mut b, h.sform_code);
    for v in [
        h.quatern_b,
        h.quatern_c,
        h.quatern_d,
        h.quatern_x,
        h.quatern_y,
        h.quatern_z,
    ] {
        f32s(&mut b, v);
    }
    for row in [&h.srow_x, &h.srow_y, &h.srow_z] {
        for &v in row.iter() {
            f32s(&mut b, v);
        }
    }
    b.extend_from_slice(&h.intent_name);
    b.extend_from_slice(&h.magic);
    debug_assert_eq!(b.len(), 348);
    b.extend_from_slice(&[0, 0, 0, 0]);
    b
}

/// Writes header + data atomically (see [`crate::fsutil::write_atomic_with`]).
fn write_nifti(path: &Path, h: &NiftiHeader, data: &[u8]) -> Result<(), NiftiError> {
    let gz = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.to_ascii_lowercase().ends_with(".gz"));
    let header = header_bytes(h);
    let bytes = if gz {
        Some(
            gzip_parallel(&header, data, GZIP_LEVEL)
                .map_err(|e| NiftiError::io("compress", path, e))?,
        )
    } else {
        None
    };
    write_atomic_with(path, |f| match &bytes {
        Some(compressed) => f.write_all(compressed),
        None => f.write_all(&header).and_then(|()| f.write_all(data)),
    })?;
    Ok(())
}

/// zlib level for written masks: label maps are long runs, so level 6 gives files
/// as small as nibabel's level-6 ones at little cost.
const GZIP_LEVEL: u32 = 6;
/// Bytes per independently compressed piece.
const CHUNK: usize = 4 << 20;

/// One gzip member holding `header` then `data`, compressed in parallel pieces
/// (as pigz does): each piece is a raw deflate stream ended by a sync flush (the last
/// one by the final block), so the concatenation is one valid deflate stream that any
/// gzip reader inflates. The CRC-32 of the pieces is combined in order.
fn gzip_parallel(header: &[u8], data: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    use rayon::prelude::*;
    let mut pieces: Vec<&[u8]> = vec![header];
    pieces.extend(data.chunks(CHUNK));
    let last = pieces.len() - 1;
    let compressed: Vec<std::io::Result<(Vec<u8>, flate2::Crc)>> = pieces
        .par_iter()
        .enumerate()
        .map(|(n, piece)| {
            let mut crc = flate2::Crc::new();
            crc.update(piece);
            let mut c = flate2::Compress::new(flate2::Compression::new(level), false);
            let mut out = Vec::with_capacity(piece.len() / 8 + 1024);
            let flush = if n == last {
                flate2::FlushCompress::Finish
            } else {
                flate2::FlushCompress::Sync
            };
            let mut input = *piece;
            loop {
                if out.capacity() - out.len() < 64 {
                    out.reserve(out.capacity().max(1024));
                }
                let before_in = c.total_in();
                let status = c
                    .compress_vec(input, &mut out, flush)
                    .map_err(std::io::Error::other)?;
                input = &input[(c.total_in() - before_in) as usize..];
                let done = match flush {
                    flate2::FlushCompress::Finish => status == flate2::Status::StreamEnd,
                    // a sync flush is complete once all input is taken and the
                    // output buffer was not filled to the brim
                    _ => input.is_empty() && out.len() < out.capacity(),
                };
                if done {
                    break;
                }
            }
            Ok((out, crc))
        })
        .collect();
    let mut out = Vec::new();
    // gzip header: magic, deflate, no flags, no mtime, no extra flags, unknown OS
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    let mut crc = flate2::Crc::new();
    for piece in compressed {
        let (bytes, piece_crc) = piece?;
        out.extend_from_slice(&bytes);
        crc.combine(&piece_crc);
    }
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&crc.amount().to_le_bytes()); // ISIZE: length mod 2^32
    Ok(out)
}
