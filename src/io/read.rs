//! Reading NIfTI volumes and label masks.
//!
//! Speed and memory: int16 volumes without scaling (most CT) are read into their
//! final voxel buffer and kept as they are; a `.nii.gz` of them is memory-mapped
//! and inflated in one call of libdeflate straight into that buffer (the header
//! bytes in front are shifted out in place), its pages faulted in on all cores
//! first so the single-threaded inflate runs without page faults. Every other
//! datatype, and scaled int16, is converted in place in the buffer it is inflated
//! into, or while it streams from the file (`io::convert`): the read never holds
//! the raw voxels and the converted ones at once. Streams libdeflate cannot take in one
//! go (multi-member gzip, 4-D files of which only the first volume is wanted, sizes
//! over 4 GiB) are inflated incrementally with zlib-rs.
//!
//! Safety against bad files: nothing is allocated before the header is validated
//! and its size is checked against what the file can contain (its length for
//! `.nii`, the deflate format's 1032:1 maximum ratio for `.nii.gz`), and the
//! memory the read holds at its peak (the int16 buffer, or the converted voxels
//! counted as float32 plus one chunk) is checked against an absolute budget
//! ([`super::limits::max_read_bytes`]); allocations are fallible. Paths that are not regular files (FIFOs, devices) are refused before
//! they are opened. Zero padding after the last gzip member is ignored, as gzip
//! and nibabel do.

use super::convert::{
    Compressed, Raw, Source, inflate_for_conversion, needs_conversion, one_shot_i16, peak_bytes,
    to_voxels,
};
use super::error::NiftiError;
use super::header::{self, Header, datatype_info};
use super::inflate::{GzMembers, gzip_error, inflate_one_shot};
use super::limits::{check_budget, check_regular_file, try_vec};
use crate::mask::LabelMask;
use crate::volume::{Geometry, Volume, VolumeInfo, Voxels};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// deflate cannot expand data by more than this factor.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Reads the header of a NIfTI file (`.nii` or `.nii.gz`) without its voxels.
pub fn read_header(path: &Path) -> Result<Header, NiftiError> {
    check_regular_file(path)?;
    let mut file = File::open(path).map_err(|e| NiftiError::io("open", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| NiftiError::io("stat", path, e))?
        .len();
    if len == 0 {
        return Err(NiftiError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut head = Vec::with_capacity(header::NIFTI2_HEADER + 4);
    (&mut file)
        .take(header::NIFTI2_HEADER as u64 + 4)
        .read_to_end(&mut head)
        .map_err(|e| NiftiError::io("read", path, e))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        file.seek(SeekFrom::Start(0))
            .map_err(|e| NiftiError::io("seek", path, e))?;
        let mut dec = GzMembers::new(std::io::BufReader::new(file));
        let head = read_up_to(&mut dec, header::NIFTI2_HEADER + 4, path)?;
        header::parse(&head, path)
    } else {
        header::parse(&head, path)
    }
}

/// Reads a volume (`.nii` or `.nii.gz`, NIfTI-1 or NIfTI-2) into Hounsfield units.
///
/// `scl_slope`/`scl_inter` are applied; integer results that fit are kept as
/// `i16`, others become `f32`. NaN/Inf voxels are replaced by the smallest finite
/// value and reported in `info.warnings`, as are extra volumes of a 4-D file.
pub fn read_volume(path: &Path) -> Result<Volume, NiftiError> {
    let (hdr, raw) = read_raw(path)?;
    let datatype = datatype_info(hdr.datatype).map_err(|name| NiftiError::UnsupportedDatatype {
        code: hdr.datatype,
        name,
        path: path.to_path_buf(),
    })?;
    let mut warnings = hdr.warnings.clone();
    let voxels = to_voxels(&hdr, raw, &mut warnings, path)?;
    let geometry = Geometry::from_affine(hdr.dims, hdr.affine);
    let info = VolumeInfo {
        path: Some(path.to_path_buf()),
        file_datatype: datatype.name.to_string(),
        description: hdr.descrip.clone(),
        warnings,
        header: hdr.nifti1.clone().map(Box::new),
    };
    Ok(Volume {
        geometry,
        voxels,
        info,
    })
}

/// Reads a label mask. Values must be integers in 0..=255 after scaling. With
/// `grid`, the mask must lie on that grid exactly (no silent resampling).
pub fn read_mask(path: &Path, grid: Option<&Geometry>) -> Result<LabelMask, NiftiError> {
    let (hdr, raw) = read_raw(path)?;
    let geometry = Geometry::from_affine(hdr.dims, hdr.affine);
    check_grid(&geometry, grid, path)?;
    let mut warnings = Vec::new();
    let voxels = to_voxels(&hdr, raw, &mut warnings, path)?;
    labels_from(geometry, voxels, path)
}

/// The label mask of a volume already read from `path` with [`read_volume`]: the
/// same checks and errors as [`read_mask`], without reading the file again (the
/// viewer reads a dropped file once and then decides whether it is a mask).
pub fn mask_from_volume(
    volume: Volume,
    grid: Option<&Geometry>,
    path: &Path,
) -> Result<LabelMask, NiftiError> {
    check_grid(&volume.geometry, grid, path)?;
    labels_from(volume.geometry, volume.voxels, path)
}

/// Why `voxels` are not a label map (values must be integers in 0..=255), or
/// `None` when they are.
pub fn not_labels_reason(voxels: &Voxels) -> Option<String> {
    match voxels {
        Voxels::I16(v) => {
            let (lo, hi) = v
                .iter()
                .fold((i16::MAX, i16::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            (lo < 0 || hi > 255)
                .then(|| format!("values {lo}..{hi} are outside the label range 0..255"))
        }
        Voxels::F32(v) => v
            .iter()
            .find(|x| x.fract() != 0.0 || **x < 0.0 || **x > 255.0)
            .map(|x| format!("value {x} is not an integer label in 0..255 (a probability map?)")),
    }
}

/// `geometry` must be `grid` exactly (no silent resampling).
fn check_grid(geometry: &Geometry, grid: Option<&Geometry>, path: &Path) -> Result<(), NiftiError> {
    let Some(grid) = grid else {
        return Ok(());
    };
    if geometry.same_grid(grid) {
        return Ok(());
    }
    let detail = if geometry.dims == grid.dims {
        format!(
            " (same dims but the affines differ: mask {} {:?} mm, volume {} {:?} mm)",
            geometry.orientation_string(),
            round3(geometry.spacing),
            grid.orientation_string(),
            round3(grid.spacing)
        )
    } else {
        String::new()
    };
    Err(NiftiError::GridMismatch {
        mask_dims: geometry.dims,
        volume_dims: grid.dims,
        detail,
        path: path.to_path_buf(),
    })
}

fn labels_from(geometry: Geometry, voxels: Voxels, path: &Path) -> Result<LabelMask, NiftiError> {
    let not_labels = |reason: String| NiftiError::NotLabels {
        reason,
        path: path.to_path_buf(),
    };
    if let Some(reason) = not_labels_reason(&voxels) {
        return Err(not_labels(reason));
    }
    let labels: Vec<u8> = match voxels {
        Voxels::I16(v) => v.into_iter().map(|x| x as u8).collect(),
        Voxels::F32(v) => v.into_iter().map(|x| x as u8).collect(),
    };
    LabelMask::new(geometry, labels).map_err(|e| not_labels(e.to_string()))
}

fn round3(v: [f64; 3]) -> [f64; 3] {
    v.map(|x| (x * 1000.0).round() / 1000.0)
}

/// Reads up to `n` bytes from a decoder, mapping gzip errors.
fn read_up_to<R: Read>(r: &mut R, n: usize, path: &Path) -> Result<Vec<u8>, NiftiError> {
    let mut out = Vec::with_capacity(n);
    r.take(n as u64)
        .read_to_end(&mut out)
        .map_err(|e| gzip_error(e, path))?;
    Ok(out)
}

/// Header and raw voxels of the first 3-D volume: read (int16 without scaling) or
/// left in the file to stream through the conversion.
fn read_raw(path: &Path) -> Result<(Header, Raw), NiftiError> {
    check_regular_file(path)?;
    let mut file = File::open(path).map_err(|e| NiftiError::io("open", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| NiftiError::io("stat", path, e))?
        .len();
    if file_len == 0 {
        return Err(NiftiError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut magic = [0u8; 2];
    let got = file
        .read(&mut magic)
        .map_err(|e| NiftiError::io("read", path, e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| NiftiError::io("seek", path, e))?;
    if got == 2 && magic == [0x1f, 0x8b] {
        read_gzip(file, file_len, path)
    } else {
        read_plain(file, file_len, path)
    }
}

/// Bytes of voxel data of the first volume, checked for overflow.
fn voxel_bytes(hdr: &Header, path: &Path) -> Result<u64, NiftiError> {
    let bpv = datatype_info(hdr.datatype)
        .map_err(|name| NiftiError::UnsupportedDatatype {
            code: hdr.datatype,
            name,
            path: path.to_path_buf(),
        })?
        .bytes as u64;
    hdr.dims
        .iter()
        .try_fold(bpv, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| NiftiError::BadDims {
            reason: format!("dims {:?} overflow 64 bits", hdr.dims),
            path: path.to_path_buf(),
        })
}

fn impossible(hdr: &Header, needed: u64, file_bytes: u64, path: &Path) -> NiftiError {
    NiftiError::ImpossibleSize {
        dims: hdr.dims.iter().map(|&d| d as u64).collect(),
        needed,
        file_bytes,
        path: path.to_path_buf(),
    }
}

fn read_plain(mut file: File, file_len: u64, path: &Path) -> Result<(Header, Raw), NiftiError> {
    let mut head = Vec::with_capacity(header::NIFTI2_HEADER);
    (&mut file)
        .take(header::NIFTI2_HEADER as u64)
        .read_to_end(&mut head)
        .map_err(|e| NiftiError::io("read", path, e))?;
    let hdr = header::parse(&head, path)?;
    let data_len = voxel_bytes(&hdr, path)?;
    let needed = hdr.vox_offset.saturating_add(data_len);
    if needed > file_len {
        // Distinguish "slightly short" (truncated) from "absurd dims" (corrupt header).
        if needed > file_len.saturating_mul(2).saturating_add(1 << 20) {
            return Err(impossible(&hdr, needed, file_len, path));
        }
        return Err(NiftiError::Truncated {
            needed,
            available: file_len,
            path: path.to_path_buf(),
        });
    }
    check_budget(peak_bytes(&hdr, data_len), path)?;
    if needs_conversion(&hdr) {
        let offset = hdr.vox_offset;
        let source = Source::Plain {
            file,
            offset,
            len: data_len,
        };
        return Ok((hdr, Raw::Stream(source)));
    }
    file.seek(SeekFrom::Start(hdr.vox_offset))
        .map_err(|e| NiftiError::io("seek", path, e))?;
    let mut v: Vec<i16> = try_vec(data_len as usize / 2, path)?;
    file.read_exact(bytemuck::cast_slice_mut(v.as_mut_slice()))
        .map_err(|e| NiftiError::io("read", path, e))?;
    fix_endian(&hdr, &mut v);
    Ok((hdr, Raw::Read(v)))
}

/// int16 voxels in file byte order to native order.
fn fix_endian(hdr: &Header, v: &mut [i16]) {
    if hdr.big_endian != cfg!(target_endian = "big") {
        for x in v.iter_mut() {
            *x = x.swap_bytes();
        }
    }
}

fn read_gzip(file: File, file_len: u64, path: &Path) -> Result<(Header, Raw), NiftiError> {
    // Map the compressed file instead of copying it: the inflater reads it once
    // per pass.
    // SAFETY: the map is read-only and private to this read; if another process
    // truncates the file meanwhile, reads past the new end would fault, which is
    // the documented risk of memory-mapped reading (the same as a concurrent
    // writer corrupting a buffered read). Small files are read normally.
    let compressed = if file_len >= 1 << 20 {
        Compressed::Map(
            unsafe { memmap2::Mmap::map(&file) }.map_err(|e| NiftiError::io("map", path, e))?,
        )
    } else {
        let mut v = Vec::with_capacity(file_len as usize);
        (&file)
            .read_to_end(&mut v)
            .map_err(|e| NiftiError::io("read", path, e))?;
        Compressed::Bytes(v)
    };
    let comp = compressed.bytes();
    let head = read_up_to(&mut GzMembers::new(comp), header::NIFTI2_HEADER, path)?;
    let hdr = header::parse(&head, path)?;
    let data_len = voxel_bytes(&hdr, path)?;
    let needed = hdr.vox_offset.saturating_add(data_len);
    let max_out = (comp.len() as u64).saturating_mul(MAX_DEFLATE_RATIO);
    if needed > max_out {
        return Err(impossible(&hdr, needed, file_len, path));
    }
    check_budget(peak_bytes(&hdr, needed), path)?;
    // The gzip trailer holds the uncompressed size modulo 2^32.
    let isize_field = if comp.len() >= 18 {
        let t = &comp[comp.len() - 4..];
        u64::from(u32::from_le_bytes([t[0], t[1], t[2], t[3]]))
    } else {
        0
    };
    let one_shot = needed < (1 << 32)
        && isize_field >= needed
        && isize_field - needed <= (needed / 64).max(1 << 16);
    if one_shot && needs_conversion(&hdr) {
        // Integer data known to become int16: inflated into the output and
        // converted in place.
        if let Some(v) = one_shot_i16(comp, &hdr, isize_field as usize, data_len as usize, path)? {
            return Ok((hdr, Raw::Read(v)));
        }
        // Other data up to 4 bytes wide: inflated at once into a buffer the
        // float32 output can take over.
        if let Some(buf) =
            inflate_for_conversion(comp, &hdr, isize_field as usize, data_len as usize, path)?
        {
            let offset = hdr.vox_offset;
            let source = Source::Inflated {
                comp: compressed,
                buf,
                offset,
                len: data_len,
            };
            return Ok((hdr, Raw::Stream(source)));
        }
    } else if one_shot {
        let t = std::time::Instant::now();
        let v = inflate_one_shot(comp, &hdr, isize_field as usize, data_len as usize, path)?;
        tracing::debug!(
            "one-shot inflate of {} bytes: {:.1} ms",
            isize_field,
            t.elapsed().as_secs_f64() * 1e3
        );
        if let Some(mut v) = v {
            fix_endian(&hdr, &mut v);
            return Ok((hdr, Raw::Read(v)));
        }
    }
    if needs_conversion(&hdr) {
        // Converted while streaming (float data, wide integers, or what the
        // one-shot path did not take).
        let offset = hdr.vox_offset;
        let source = Source::Gzip {
            comp: compressed,
            offset,
            len: data_len,
        };
        return Ok((hdr, Raw::Stream(source)));
    }
    // Incremental path (multi-member, 4-D, over 4 GiB, or what libdeflate refused):
    // exact errors for truncated or corrupt streams, and the trailer's CRC checked.
    let mut v: Vec<i16> = try_vec(data_len as usize / 2, path)?;
    let mut filled = 0usize;
    let mut source = Source::Gzip {
        comp: compressed,
        offset: hdr.vox_offset,
        len: data_len,
    };
    let out: &mut [u8] = bytemuck::cast_slice_mut(v.as_mut_slice());
    source.for_each_chunk(2, true, path, &mut |chunk| {
        out[filled..filled + chunk.len()].copy_from_slice(chunk);
        filled += chunk.len();
    })?;
    fix_endian(&hdr, &mut v);
    Ok((hdr, Raw::Read(v)))
}
