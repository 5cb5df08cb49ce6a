//! Reading NIfTI volumes and label masks.
//!
//! Speed and memory: a `.nii.gz` is memory-mapped and inflated in one call of
//! libdeflate straight into the final voxel buffer (for int16 data no other copy is
//! made; the header bytes in front are shifted out in place). The buffer's pages
//! are faulted in on all cores first, so the single-threaded inflate runs without
//! page faults. Peak memory is the compressed file plus the raw voxels plus, for
//! data that need conversion, the converted voxels (the read budget counts both). Streams libdeflate cannot take in one go
//! (multi-member gzip, 4-D files of which only the first volume is wanted, sizes
//! over 4 GiB) are inflated incrementally with zlib-rs.
//!
//! Safety against bad files: nothing is allocated before the header is validated
//! and its size is checked against what the file can contain (its length for
//! `.nii`, the deflate format's 1032:1 maximum ratio for `.nii.gz`), and the
//! memory the read holds at its peak (raw voxels plus converted voxels) is checked
//! against an absolute budget ([`super::limits::max_read_bytes`]); allocations are
//! fallible. Paths that are not regular files (FIFOs, devices) are refused before
//! they are opened. Zero padding after the last gzip member is ignored, as gzip
//! and nibabel do.

use super::error::NiftiError;
use super::header::{self, Header, datatype_info};
use super::inflate::{Payload, inflate_one_shot};
use super::limits::{check_budget, check_regular_file, try_vec};
use crate::mask::LabelMask;
use crate::volume::{Geometry, Volume, VolumeInfo, Voxels};
use std::fs::File;
use std::io::{BufRead, Read, Seek, SeekFrom};
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
    let (hdr, payload) = read_raw(path)?;
    let datatype = datatype_info(hdr.datatype).map_err(|name| NiftiError::UnsupportedDatatype {
        code: hdr.datatype,
        name,
        path: path.to_path_buf(),
    })?;
    let mut warnings = hdr.warnings.clone();
    let voxels = to_voxels(&hdr, payload, &mut warnings, path)?;
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
    check_grid(&geometry, grid, path)?;
    let mut warnings = Vec::new();
    let voxels = to_voxels(&hdr, payload, &mut warnings, path)?;
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
    check_budget(peak_bytes(&hdr, data_len), path)?;
    file.seek(SeekFrom::Start(hdr.vox_offset))
        .map_err(|e| NiftiError::io("seek", path, e))?;
    let mut payload = alloc_payload(&hdr, data_len as usize, path)?;
    file.read_exact(payload_bytes(&mut payload))
        .map_err(|e| NiftiError::io("read", path, e))?;
    fix_endian(&hdr, &mut payload);
    Ok((hdr, payload))
}

fn alloc_payload(hdr: &Header, data_len: usize, path: &Path) -> Result<Payload, NiftiError> {
    Ok(if hdr.datatype == 4 {
        Payload::I16(try_vec(data_len / 2, path)?)
    } else {
        Payload::Bytes(try_vec(data_len, path)?)
    })
}

/// Bytes a read holds at its peak for `raw` bytes of voxel data: the raw buffer
/// plus the converted voxels (float32 in the worst case; int16 data without
/// scaling are kept as they are).
fn peak_bytes(hdr: &Header, raw: u64) -> u64 {
    let voxels: u64 = hdr.dims.iter().map(|&d| d as u64).product();
    let identity_i16 = hdr.datatype == 4 && hdr.slope == 1.0 && hdr.inter == 0.0;
    let converted = if identity_i16 {
        0
    } else {
        voxels.saturating_mul(4)
    };
    raw.saturating_add(converted)
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
    let comp = strip_zero_padding(comp);
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
    if one_shot {
        let t = std::time::Instant::now();
        let p = inflate_one_shot(comp, &hdr, isize_field as usize, data_len as usize, path)?;
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
    let mut dec = GzMembers::new(comp);
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
    let mut payload = alloc_payload(&hdr, data_len as usize, path)?;
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

/// Gzip members one after the other (as `MultiGzDecoder`), except that zero bytes
/// after a member end the stream, as gzip and nibabel accept them (padding to a
/// block size). Anything else after a member must be another member; data after
/// the zero padding is an error.
struct GzMembers<R: BufRead> {
    dec: Option<flate2::bufread::GzDecoder<R>>,
}

impl<R: BufRead> GzMembers<R> {
    fn new(r: R) -> Self {
        Self {
            dec: Some(flate2::bufread::GzDecoder::new(r)),
        }
    }
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(dec) = self.dec.as_mut() else {
                return Ok(0);
            };
            let n = dec.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            // End of a member: the end of the input, zero padding, or another member.
            let r = dec.get_mut();
            let mut padded = false;
            loop {
                let b = r.fill_buf()?;
                if b.is_empty() {
                    self.dec = None;
                    return Ok(0);
                }
                let zeros = b.iter().take_while(|&&x| x == 0).count();
                if zeros == b.len() {
                    r.consume(zeros);
                    padded = true;
                    continue;
                }
                if zeros > 0 || padded {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "data after the zero padding that follows the gzip stream",
                    ));
                }
                break;
            }
            if let Some(d) = self.dec.take() {
                self.dec = Some(flate2::bufread::GzDecoder::new(d.into_inner()));
            }
        }
    }
}

/// The compressed stream without zero padding after its last member, for the
/// one-shot path (which reads the length field from the last four bytes). When the
/// stream ends in 16 or more zero bytes, it is cut 8 bytes after its last non-zero
/// byte (a trailer may itself end in zeros). If that guess misplaces the trailer,
/// the one-shot inflate fails its size check and the incremental path, which
/// handles the padding exactly, takes over.
fn strip_zero_padding(comp: &[u8]) -> &[u8] {
    let nz = comp.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if comp.len() - nz >= 16 {
        &comp[..(nz + 8).min(comp.len())]
    } else {
        comp
    }
}

/// Converts raw voxels to HU storage, applying slope/intercept.
fn to_voxels(
    hdr: &Header,
    payload: Payload,
    warnings: &mut Vec<String>,
    path: &Path,
) -> Result<Voxels, NiftiError> {
    let (slope, inter) = (hdr.slope, hdr.inter);
    let identity = slope == 1.0 && inter == 0.0;
    let integral_scaling = slope.fract() == 0.0 && inter.fract() == 0.0;
    match payload {
        Payload::I16(mut v) => {
            if identity {
                return Ok(Voxels::I16(v));
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
                Ok(Voxels::I16(v))
            } else {
                // Checked like every other datatype: results beyond float32 are
                // replaced, never stored as infinities.
                convert(
                    bytemuck::cast_slice(v.as_slice()),
                    2,
                    |b| f64::from(i16::from_ne_bytes([b[0], b[1]])),
                    slope,
                    inter,
                    warnings,
                    path,
                )
            }
        }
        Payload::Bytes(bytes) => {
            let be = hdr.big_endian;
            match hdr.datatype {
                2 => convert(&bytes, 1, |b| f64::from(b[0]), slope, inter, warnings, path),
                256 => convert(
                    &bytes,
                    1,
                    |b| f64::from(b[0] as i8),
                    slope,
                    inter,
                    warnings,
                    path,
                ),
                512 => convert(
                    &bytes,
                    2,
                    |b| f64::from(rd::<2, _>(b, be, u16::from_le_bytes)),
                    slope,
                    inter,
                    warnings,
                    path,
                ),
                8 => convert(
                    &bytes,
                    4,
                    |b| f64::from(rd::<4, _>(b, be, i32::from_le_bytes)),
                    slope,
                    inter,
                    warnings,
                    path,
                ),
                768 => convert(
                    &bytes,
                    4,
                    |b| f64::from(rd::<4, _>(b, be, u32::from_le_bytes)),
                    slope,
                    inter,
                    warnings,
                    path,
                ),
                1024 => convert(
                    &bytes,
                    8,
                    |b| rd::<8, _>(b, be, i64::from_le_bytes) as f64,
                    slope,
                    inter,
                    warnings,
                    path,
                ),
                1280 => convert(
                    &bytes,
                    8,
                    |b| rd::<8, _>(b, be, u64::from_le_bytes) as f64,
                    slope,
                    inter,
                    warnings,
                    path,
                ),
                16 => convert(
                    &bytes,
                    4,
                    |b| f64::from(f32::from_bits(rd::<4, _>(b, be, u32::from_le_bytes))),
                    slope,
                    inter,
                    warnings,
                    path,
                ),
                // 64 (float64); other codes were rejected when the header was parsed
                _ => convert(
                    &bytes,
                    8,
                    |b| f64::from_bits(rd::<8, _>(b, be, u64::from_le_bytes)),
                    slope,
                    inter,
                    warnings,
                    path,
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

/// Two passes: find the range, integrality and values that are not finite or do
/// not fit float32, then store as `i16` when every scaled value is an integer that
/// fits, else as `f32`. Values that are NaN, infinite, or beyond float32's range
/// (so infinite after the narrowing cast) are replaced by the smallest valid value
/// and counted in a warning. The output is allocated fallibly.
fn convert(
    bytes: &[u8],
    width: usize,
    get: impl Fn(&[u8]) -> f64,
    slope: f64,
    inter: f64,
    warnings: &mut Vec<String>,
    path: &Path,
) -> Result<Voxels, NiftiError> {
    let valid = |v: f64| v.is_finite() && v.abs() <= f64::from(f32::MAX);
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let mut integral = true;
    let mut bad = 0usize;
    for c in bytes.chunks_exact(width) {
        let v = get(c) * slope + inter;
        if !valid(v) {
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
            "{bad} NaN/Inf voxels (NaN, infinite, or beyond the float32 range after scaling by slope {slope}, intercept {inter}) were replaced by the minimum finite value {fill}"
        ));
    }
    let value = |c: &[u8]| {
        let v = get(c) * slope + inter;
        if valid(v) { v } else { fill }
    };
    let n = bytes.len() / width;
    let reserve_err = |elem: u64| NiftiError::OutOfMemory {
        bytes: (n as u64).saturating_mul(elem),
        path: path.to_path_buf(),
    };
    if integral && (!lo.is_finite() || fits_i16(lo, hi)) {
        let mut out: Vec<i16> = Vec::new();
        out.try_reserve_exact(n).map_err(|_| reserve_err(2))?;
        out.extend(bytes.chunks_exact(width).map(|c| value(c) as i16));
        Ok(Voxels::I16(out))
    } else {
        let mut out: Vec<f32> = Vec::new();
        out.try_reserve_exact(n).map_err(|_| reserve_err(4))?;
        out.extend(bytes.chunks_exact(width).map(|c| value(c) as f32));
        Ok(Voxels::F32(out))
    }
}
