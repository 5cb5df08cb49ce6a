//! Reading NIfTI volumes and label masks.
//!
//! Speed and memory: a `.nii.gz` is memory-mapped and inflated in one call of
//! libdeflate straight into the final voxel buffer (for int16 data no other copy is
//! made; the header bytes in front are shifted out in place). The buffer's pages
//! are faulted in on all cores first, so the single-threaded inflate runs without
//! page faults. Peak memory is the compressed file plus the voxels. Streams libdeflate cannot take in one go
//! (multi-member gzip, 4-D files of which only the first volume is wanted, sizes
//! over 4 GiB) are inflated incrementally with zlib-rs.
//!
//! Safety against bad files: nothing is allocated before the header is validated
//! and its size is checked against what the file can contain (its length for
//! `.nii`, the deflate format's 1032:1 maximum ratio for `.nii.gz`).

use super::error::NiftiError;
use super::header::{self, Header, datatype_info};
use super::inflate::inflate_one_shot;
use crate::mask::LabelMask;
use crate::volume::{Geometry, Volume, VolumeInfo, Voxels};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// deflate cannot expand data by more than this factor.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Voxels as read, before scaling to HU.
pub(super) enum Payload {
    /// int16 voxels in native byte order.
    I16(Vec<i16>),
    /// Voxel bytes in file byte order.
    Bytes(Vec<u8>),
}

/// Reads the header of a NIfTI file (`.nii` or `.nii.gz`) without its voxels.
pub fn read_header(path: &Path) -> Result<Header, NiftiError> {
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
        let mut dec = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file));
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
    let (hdr, payload) = read_raw(path)?;
    let datatype = datatype_info(hdr.datatype).map_err(|name| NiftiError::UnsupportedDatatype {
        code: hdr.datatype,
        name,
        path: path.to_path_buf(),
    })?;
    let mut warnings = hdr.warnings.clone();
    let voxels = to_voxels(&hdr, payload, &mut warnings);
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
    let (hdr, payload) = read_raw(path)?;
    let geometry = Geometry::from_affine(hdr.dims, hdr.affine);
    if let Some(grid) = grid
        && !geometry.same_grid(grid)
    {
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
        return Err(NiftiError::GridMismatch {
            mask_dims: geometry.dims,
            volume_dims: grid.dims,
            detail,
            path: path.to_path_buf(),
        });
    }
    let mut warnings = Vec::new();
    let voxels = to_voxels(&hdr, payload, &mut warnings);
    let not_labels = |reason: String| NiftiError::NotLabels {
        reason,
        path: path.to_path_buf(),
    };
    let labels: Vec<u8> = match voxels {
        Voxels::I16(v) => {
            let (lo, hi) = v
                .iter()
                .fold((i16::MAX, i16::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            if lo < 0 || hi > 255 {
                return Err(not_labels(format!(
                    "values {lo}..{hi} are outside the label range 0..255"
                )));
            }
            v.into_iter().map(|x| x as u8).collect()
        }
        Voxels::F32(v) => {
            if let Some(x) = v
                .iter()
                .find(|x| x.fract() != 0.0 || **x < 0.0 || **x > 255.0)
            {
                return Err(not_labels(format!(
                    "value {x} is not an integer label in 0..255 (a probability map?)"
                )));
            }
            v.into_iter().map(|x| x as u8).collect()
        }
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

fn gzip_error(e: std::io::Error, path: &Path) -> NiftiError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => NiftiError::TruncatedGzip {
            path: path.to_path_buf(),
        },
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
            NiftiError::CorruptGzip {
                reason: e.to_string(),
                path: path.to_path_buf(),
            }
        }
        _ => NiftiError::io("read", path, e),
    }
}

/// Header and raw voxels of the first 3-D volume.
fn read_raw(path: &Path) -> Result<(Header, Payload), NiftiError> {
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

fn read_plain(mut file: File, file_len: u64, path: &Path) -> Result<(Header, Payload), NiftiError> {
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
    file.seek(SeekFrom::Start(hdr.vox_offset))
        .map_err(|e| NiftiError::io("seek", path, e))?;
    let mut payload = alloc_payload(&hdr, data_len as usize);
    file.read_exact(payload_bytes(&mut payload))
        .map_err(|e| NiftiError::io("read", path, e))?;
    fix_endian(&hdr, &mut payload);
    Ok((hdr, payload))
}

fn alloc_payload(hdr: &Header, data_len: usize) -> Payload {
    if hdr.datatype == 4 {
        Payload::I16(vec![0i16; data_len / 2])
    } else {
        Payload::Bytes(vec![0u8; data_len])
    }
}

fn payload_bytes(p: &mut Payload) -> &mut [u8] {
    match p {
        Payload::I16(v) => bytemuck::cast_slice_mut(v.as_mut_slice()),
        Payload::Bytes(v) => v.as_mut_slice(),
    }
}

fn fix_endian(hdr: &Header, p: &mut Payload) {
    if let Payload::I16(v) = p
        && hdr.big_endian != cfg!(target_endian = "big")
    {
        for x in v.iter_mut() {
            *x = x.swap_bytes();
        }
    }
}

fn read_gzip(file: File, file_len: u64, path: &Path) -> Result<(Header, Payload), NiftiError> {
    // Map the compressed file instead of copying it: the inflater reads it once.
    // SAFETY: the map is read-only and private to this call; if another process
    // truncates the file meanwhile, reads past the new end would fault, which is
    // the documented risk of memory-mapped reading (the same as a concurrent
    // writer corrupting a buffered read). Small files are read normally.
    let comp_map;
    let comp_vec;
    let comp: &[u8] = if file_len >= 1 << 20 {
        comp_map =
            unsafe { memmap2::Mmap::map(&file) }.map_err(|e| NiftiError::io("map", path, e))?;
        &comp_map
    } else {
        let mut v = Vec::with_capacity(file_len as usize);
        (&file)
            .read_to_end(&mut v)
            .map_err(|e| NiftiError::io("read", path, e))?;
        comp_vec = v;
        &comp_vec
    };
    let head = read_up_to(
        &mut flate2::read::MultiGzDecoder::new(comp),
        header::NIFTI2_HEADER,
        path,
    )?;
    let hdr = header::parse(&head, path)?;
    let data_len = voxel_bytes(&hdr, path)?;
    let needed = hdr.vox_offset.saturating_add(data_len);
    let max_out = (comp.len() as u64).saturating_mul(MAX_DEFLATE_RATIO);
    if needed > max_out {
        return Err(impossible(&hdr, needed, file_len, path));
    }
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
    if one_shot {
        let t = std::time::Instant::now();
        let p = inflate_one_shot(comp, &hdr, isize_field as usize, data_len as usize);
        tracing::debug!(
            "one-shot inflate of {} bytes: {:.1} ms",
            isize_field,
            t.elapsed().as_secs_f64() * 1e3
        );
        if let Some(p) = p {
            let mut p = p;
            fix_endian(&hdr, &mut p);
            return Ok((hdr, p));
        }
    }
    // Incremental path: exact errors for truncated/corrupt streams.
    let mut dec = flate2::read::MultiGzDecoder::new(comp);
    let mut skip = std::io::sink();
    let skipped = std::io::copy(&mut (&mut dec).take(hdr.vox_offset), &mut skip)
        .map_err(|e| gzip_error(e, path))?;
    if skipped < hdr.vox_offset {
        return Err(NiftiError::Truncated {
            needed,
            available: skipped,
            path: path.to_path_buf(),
        });
    }
    let mut payload = alloc_payload(&hdr, data_len as usize);
    let buf = payload_bytes(&mut payload);
    let mut filled = 0usize;
    while filled < buf.len() {
        match dec.read(&mut buf[filled..]) {
            Ok(0) => {
                return Err(NiftiError::Truncated {
                    needed,
                    available: hdr.vox_offset + filled as u64,
                    path: path.to_path_buf(),
                });
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(gzip_error(e, path)),
        }
    }
    // Read to the end so the gzip trailer's CRC and length are verified: damaged
    // data must not pass as voxels.
    std::io::copy(&mut dec, &mut std::io::sink()).map_err(|e| gzip_error(e, path))?;
    fix_endian(&hdr, &mut payload);
    Ok((hdr, payload))
}

/// Converts raw voxels to HU storage, applying slope/intercept.
fn to_voxels(hdr: &Header, payload: Payload, warnings: &mut Vec<String>) -> Voxels {
    let (slope, inter) = (hdr.slope, hdr.inter);
    let identity = slope == 1.0 && inter == 0.0;
    let integral_scaling = slope.fract() == 0.0 && inter.fract() == 0.0;
    match payload {
        Payload::I16(mut v) => {
            if identity {
                return Voxels::I16(v);
            }
            let (lo, hi) = v
                .iter()
                .fold((i16::MAX, i16::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            let a = f64::from(lo) * slope + inter;
            let b = f64::from(hi) * slope + inter;
            if integral_scaling && fits_i16(a.min(b), a.max(b)) {
                for x in v.iter_mut() {
                    *x = (f64::from(*x) * slope + inter) as i16;
                }
                Voxels::I16(v)
            } else {
                Voxels::F32(
                    v.iter()
                        .map(|&x| (f64::from(x) * slope + inter) as f32)
                        .collect(),
                )
            }
        }
        Payload::Bytes(bytes) => {
            let be = hdr.big_endian;
            match hdr.datatype {
                2 => convert(&bytes, 1, |b| f64::from(b[0]), slope, inter, warnings),
                256 => convert(&bytes, 1, |b| f64::from(b[0] as i8), slope, inter, warnings),
                512 => convert(
                    &bytes,
                    2,
                    |b| f64::from(rd::<2, _>(b, be, u16::from_le_bytes)),
                    slope,
                    inter,
                    warnings,
                ),
                8 => convert(
                    &bytes,
                    4,
                    |b| f64::from(rd::<4, _>(b, be, i32::from_le_bytes)),
                    slope,
                    inter,
                    warnings,
                ),
                768 => convert(
                    &bytes,
                    4,
                    |b| f64::from(rd::<4, _>(b, be, u32::from_le_bytes)),
                    slope,
                    inter,
                    warnings,
                ),
                1024 => convert(
                    &bytes,
                    8,
                    |b| rd::<8, _>(b, be, i64::from_le_bytes) as f64,
                    slope,
                    inter,
                    warnings,
                ),
                1280 => convert(
                    &bytes,
                    8,
                    |b| rd::<8, _>(b, be, u64::from_le_bytes) as f64,
                    slope,
                    inter,
                    warnings,
                ),
                16 => convert(
                    &bytes,
                    4,
                    |b| f64::from(f32::from_bits(rd::<4, _>(b, be, u32::from_le_bytes))),
                    slope,
                    inter,
                    warnings,
                ),
                // 64 (float64); other codes were rejected when the header was parsed
                _ => convert(
                    &bytes,
                    8,
                    |b| f64::from_bits(rd::<8, _>(b, be, u64::from_le_bytes)),
                    slope,
                    inter,
                    warnings,
                ),
            }
        }
    }
}

#[inline]
fn rd<const N: usize, T>(b: &[u8], big_endian: bool, f: fn([u8; N]) -> T) -> T {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    if big_endian {
        a.reverse();
    }
    f(a)
}

fn fits_i16(lo: f64, hi: f64) -> bool {
    lo >= f64::from(i16::MIN) && hi <= f64::from(i16::MAX)
}

/// Two passes: find the range, integrality and non-finite values, then store as
/// `i16` when every scaled value is an integer that fits, else as `f32`.
fn convert(
    bytes: &[u8],
    width: usize,
    get: impl Fn(&[u8]) -> f64,
    slope: f64,
    inter: f64,
    warnings: &mut Vec<String>,
) -> Voxels {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let mut integral = true;
    let mut bad = 0usize;
    for c in bytes.chunks_exact(width) {
        let v = get(c) * slope + inter;
        if !v.is_finite() {
            bad += 1;
            continue;
        }
        lo = lo.min(v);
        hi = hi.max(v);
        if integral && v.fract() != 0.0 {
            integral = false;
        }
    }
    let fill = if lo.is_finite() { lo } else { 0.0 };
    if bad > 0 {
        warnings.push(format!(
            "{bad} NaN/Inf voxels were replaced by the minimum finite value {fill}"
        ));
    }
    let value = |c: &[u8]| {
        let v = get(c) * slope + inter;
        if v.is_finite() { v } else { fill }
    };
    if integral && (!lo.is_finite() || fits_i16(lo, hi)) {
        Voxels::I16(bytes.chunks_exact(width).map(|c| value(c) as i16).collect())
    } else {
        Voxels::F32(bytes.chunks_exact(width).map(|c| value(c) as f32).collect())
    }
}
