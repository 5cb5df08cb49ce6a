//! Raw NIfTI voxels to HU storage (`scl_slope`/`scl_inter` applied), without a
//! second full buffer.
//!
//! int16 data without scaling (most CT) are read into their final buffer and kept
//! as they are. Every other kind is converted:
//!
//! - integer data whose scaled values are known to fit int16 (uint8, int8, and
//!   16-bit data with a scaling that maps their range into int16): one pass writes
//!   the `i16` output; a `.nii.gz` is inflated by libdeflate into the output buffer
//!   itself and converted in place ([`super::inflate::convert_in_place`]);
//! - everything else in two passes: the first finds the range, whether every scaled
//!   value is an integer, and the values that are not finite or do not fit float32;
//!   the second writes `i16` when every value is an integer that fits, else `f32`.
//!   A `.nii.gz` of data up to 4 bytes wide is inflated at once into a buffer sized
//!   for float32 output, which float32 output takes over in place; otherwise the
//!   raw bytes stream through in chunks ([`CHUNK`]) from the file, once per pass
//!   (the first pass also checks the gzip trailer's CRC and length).
//!
//! So a read holds the output (or the one buffer it was inflated into) plus one
//! chunk, never the raw voxels and the converted ones at once.

use super::error::NiftiError;
use super::header::Header;
use super::inflate::{GzMembers, convert_in_place, gzip_error, inflate_one_shot_to_i16};
use crate::volume::Voxels;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Bytes of raw voxels held at a time while converting (a multiple of every
/// voxel width).
pub(super) const CHUNK: usize = 1 << 20;

/// Where the raw voxel bytes of the first volume are.
pub(super) enum Raw {
    /// int16 voxels without scaling (native byte order), already in their final
    /// buffer.
    Read(Vec<i16>),
    /// Bytes still in the file: converted while streaming.
    Stream(Source),
}

/// The file holding the raw voxels, read once per conversion pass.
pub(super) enum Source {
    /// An uncompressed `.nii`: `len` bytes at `offset`.
    Plain { file: File, offset: u64, len: u64 },
    /// A gzip stream (mapped or read): `len` bytes after the first `offset`
    /// inflated bytes.
    Gzip {
        comp: Compressed,
        offset: u64,
        len: u64,
    },
    /// The same stream inflated at once into a buffer big enough for float32
    /// output (`len` raw bytes at byte `offset` of `buf`): the first pass reads
    /// memory, and float32 output is converted in place. Int16 output streams its
    /// second pass from `comp` after `buf` is dropped.
    Inflated {
        comp: Compressed,
        buf: Vec<f32>,
        offset: u64,
        len: u64,
    },
}

/// The compressed file: mapped (large files) or read.
pub(super) enum Compressed {
    /// Memory-mapped (read-only, private to the read).
    Map(memmap2::Mmap),
    /// Read into memory (small files).
    Bytes(Vec<u8>),
}

impl Compressed {
    /// The gzip stream, without zero padding after its last member.
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Compressed::Map(m) => super::inflate::strip_zero_padding(m),
            Compressed::Bytes(v) => super::inflate::strip_zero_padding(v),
        }
    }
}

impl Source {
    /// Bytes of raw voxels.
    fn len(&self) -> usize {
        match self {
            Source::Plain { len, .. } | Source::Gzip { len, .. } | Source::Inflated { len, .. } => {
                *len as usize
            }
        }
    }

    /// Calls `f` with consecutive chunks of the raw voxel bytes (each a multiple
    /// of `width` bytes, the last possibly shorter). With `verify`, a gzip stream
    /// is read to its end so that its CRC and length are checked: damaged data
    /// must not pass as voxels.
    pub(super) fn for_each_chunk(
        &mut self,
        width: usize,
        verify: bool,
        path: &Path,
        f: &mut dyn FnMut(&[u8]),
    ) -> Result<(), NiftiError> {
        let chunk = CHUNK / width * width;
        let mut buf = vec![0u8; chunk];
        match self {
            Source::Plain { file, offset, len } => {
                file.seek(SeekFrom::Start(*offset))
                    .map_err(|e| NiftiError::io("seek", path, e))?;
                let mut left = *len;
                while left > 0 {
                    let n = (left.min(chunk as u64)) as usize;
                    file.read_exact(&mut buf[..n])
                        .map_err(|e| NiftiError::io("read", path, e))?;
                    f(&buf[..n]);
                    left -= n as u64;
                }
                Ok(())
            }
            Source::Inflated {
                buf, offset, len, ..
            } => {
                let bytes: &[u8] = bytemuck::cast_slice(buf.as_slice());
                let (offset, len) = (*offset as usize, *len as usize);
                for piece in bytes[offset..offset + len].chunks(chunk) {
                    f(piece);
                }
                Ok(())
            }
            Source::Gzip { comp, offset, len } => {
                let (offset, len) = (*offset, *len);
                let mut dec = GzMembers::new(comp.bytes());
                let skipped = std::io::copy(&mut (&mut dec).take(offset), &mut std::io::sink())
                    .map_err(|e| gzip_error(e, path))?;
                let truncated = |available: u64| NiftiError::Truncated {
                    needed: offset.saturating_add(len),
                    available,
                    path: path.to_path_buf(),
                };
                if skipped < offset {
                    return Err(truncated(skipped));
                }
                let mut done = 0u64;
                while done < len {
                    let want = (len - done).min(chunk as u64) as usize;
                    let mut filled = 0usize;
                    while filled < want {
                        match dec.read(&mut buf[filled..want]) {
                            Ok(0) => return Err(truncated(offset + done + filled as u64)),
                            Ok(n) => filled += n,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(gzip_error(e, path)),
                        }
                    }
                    f(&buf[..want]);
                    done += want as u64;
                }
                if verify {
                    std::io::copy(&mut dec, &mut std::io::sink())
                        .map_err(|e| gzip_error(e, path))?;
                }
                Ok(())
            }
        }
    }
}

/// Converts raw voxels to HU storage, applying slope/intercept.
pub(super) fn to_voxels(
    hdr: &Header,
    raw: Raw,
    warnings: &mut Vec<String>,
    path: &Path,
) -> Result<Voxels, NiftiError> {
    let (slope, inter) = (hdr.slope, hdr.inter);
    let mut source = match raw {
        // Only int16 without scaling is read into a buffer (see `needs_conversion`).
        Raw::Read(v) => return Ok(Voxels::I16(v)),
        Raw::Stream(s) => s,
    };
    let be = hdr.big_endian;
    // A macro, not a closure, so that each datatype's reader is inlined.
    macro_rules! conv {
        ($width:expr, $get:expr, $range:expr $(,)?) => {
            convert(
                &mut source,
                $width,
                $get,
                $range,
                slope,
                inter,
                warnings,
                path,
            )
        };
    }
    // Integer types pass their value range: when it maps into int16 exactly, one
    // pass suffices.
    match hdr.datatype {
        2 => conv!(1, |b: &[u8]| f64::from(b[0]), int_range(2)),
        256 => conv!(1, |b: &[u8]| f64::from(b[0] as i8), int_range(256)),
        4 => conv!(
            2,
            |b: &[u8]| f64::from(rd::<2, _>(b, be, i16::from_le_bytes)),
            int_range(4),
        ),
        512 => conv!(
            2,
            |b: &[u8]| f64::from(rd::<2, _>(b, be, u16::from_le_bytes)),
            int_range(512),
        ),
        8 => conv!(
            4,
            |b: &[u8]| f64::from(rd::<4, _>(b, be, i32::from_le_bytes)),
            None
        ),
        768 => conv!(
            4,
            |b: &[u8]| f64::from(rd::<4, _>(b, be, u32::from_le_bytes)),
            None
        ),
        1024 => conv!(
            8,
            |b: &[u8]| rd::<8, _>(b, be, i64::from_le_bytes) as f64,
            None
        ),
        1280 => conv!(
            8,
            |b: &[u8]| rd::<8, _>(b, be, u64::from_le_bytes) as f64,
            None
        ),
        16 => conv!(
            4,
            |b: &[u8]| f64::from(f32::from_bits(rd::<4, _>(b, be, u32::from_le_bytes))),
            None,
        ),
        // 64 (float64); other codes were rejected when the header was parsed
        _ => conv!(
            8,
            |b: &[u8]| f64::from_bits(rd::<8, _>(b, be, u64::from_le_bytes)),
            None
        ),
    }
}

/// Value range of the integer datatypes narrow enough for int16 output.
fn int_range(datatype: i16) -> Option<(f64, f64)> {
    match datatype {
        2 => Some((0.0, 255.0)),
        256 => Some((-128.0, 127.0)),
        4 => Some((-32768.0, 32767.0)),
        512 => Some((0.0, 65535.0)),
        _ => None,
    }
}

/// True when every scaled value of the datatype is an integer that fits int16
/// (integral scaling of a range that maps into int16): the output type is known
/// before reading, so one pass (or one in-place inflate) suffices.
fn known_i16(range: Option<(f64, f64)>, slope: f64, inter: f64) -> bool {
    let Some((lo, hi)) = range else {
        return false;
    };
    let (a, b) = (lo * slope + inter, hi * slope + inter);
    slope.fract() == 0.0 && inter.fract() == 0.0 && fits_i16(a.min(b), a.max(b))
}

/// For integer data whose scaled values are known to fit int16: the whole gzip
/// stream inflated by libdeflate into the output buffer and converted in place
/// ([`inflate_one_shot_to_i16`]). `Ok(None)` when the datatype does not qualify or
/// libdeflate refuses (the caller then streams).
pub(super) fn one_shot_i16(
    comp: &[u8],
    hdr: &Header,
    total: usize,
    data_len: usize,
    path: &Path,
) -> Result<Option<Vec<i16>>, NiftiError> {
    let (slope, inter, be) = (hdr.slope, hdr.inter, hdr.big_endian);
    if !known_i16(int_range(hdr.datatype), slope, inter) {
        return Ok(None);
    }
    let scale = move |v: f64| (v * slope + inter) as i16;
    match hdr.datatype {
        2 => inflate_one_shot_to_i16(
            comp,
            hdr,
            total,
            data_len,
            1,
            |b| scale(f64::from(b[0])),
            path,
        ),
        256 => inflate_one_shot_to_i16(
            comp,
            hdr,
            total,
            data_len,
            1,
            |b| scale(f64::from(b[0] as i8)),
            path,
        ),
        4 => inflate_one_shot_to_i16(
            comp,
            hdr,
            total,
            data_len,
            2,
            |b| scale(f64::from(rd::<2, _>(b, be, i16::from_le_bytes))),
            path,
        ),
        _ => inflate_one_shot_to_i16(
            comp,
            hdr,
            total,
            data_len,
            2,
            |b| scale(f64::from(rd::<2, _>(b, be, u16::from_le_bytes))),
            path,
        ),
    }
}

/// True when the voxels must be converted (anything but int16 without scaling):
/// those stream through [`to_voxels`] instead of being read into a buffer.
pub(super) fn needs_conversion(hdr: &Header) -> bool {
    !(hdr.datatype == 4 && hdr.slope == 1.0 && hdr.inter == 0.0)
}

/// Bytes a read holds at its peak for `raw` bytes of file data (the voxels, plus
/// the header in front of them for a `.nii.gz`, which is inflated whole): the raw
/// buffer for int16 data without scaling (kept as they are); otherwise the
/// converted voxels (float32 in the worst case) plus one chunk of raw bytes, or
/// the one buffer a `.nii.gz` is inflated into and converted in place, whichever
/// is larger.
pub(super) fn peak_bytes(hdr: &Header, raw: u64) -> u64 {
    if !needs_conversion(hdr) {
        return raw;
    }
    let voxels: u64 = hdr.dims.iter().map(|&d| d as u64).product();
    voxels
        .saturating_mul(4)
        .saturating_add(CHUNK as u64)
        .max(raw.next_multiple_of(4))
}

/// Inflates a whole gzip stream with libdeflate into a float32-aligned buffer of
/// `max(total, 4·voxels)` bytes, for the conversion to read from memory and, for
/// float32 output, to convert in place. `Ok(None)` if libdeflate refuses or the
/// raw voxels are wider than float32 (they stream instead).
pub(super) fn inflate_for_conversion(
    comp: &[u8],
    hdr: &Header,
    total: usize,
    data_len: usize,
    path: &Path,
) -> Result<Option<Vec<f32>>, NiftiError> {
    let width = super::header::datatype_info(hdr.datatype)
        .map(|d| d.bytes)
        .unwrap_or(8);
    if width > 4 {
        return Ok(None);
    }
    let n = data_len / width;
    let len = total.max(4 * n).div_ceil(4);
    super::inflate::inflate_whole::<f32>(comp, total, len, hdr.vox_offset as usize + data_len, path)
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

/// Converts the streamed raw bytes. When `range` (the datatype's value range) maps
/// into int16 with integral scaling, every value is an integer that fits and one
/// pass writes the `i16` output. Otherwise two passes: find the range,
/// integrality and values that are not finite or do not fit float32, then store as
/// `i16` when every scaled value is an integer that fits, else as `f32`. Values
/// that are NaN, infinite, or beyond float32's range (so infinite after the
/// narrowing cast) are replaced by the smallest valid value and counted in a
/// warning. The output is allocated fallibly before it is written.
#[allow(clippy::too_many_arguments)]
fn convert<G: Fn(&[u8]) -> f64 + Copy>(
    source: &mut Source,
    width: usize,
    get: G,
    range: Option<(f64, f64)>,
    slope: f64,
    inter: f64,
    warnings: &mut Vec<String>,
    path: &Path,
) -> Result<Voxels, NiftiError> {
    let n = source.len() / width;
    let reserve_err = |elem: u64| NiftiError::OutOfMemory {
        bytes: (n as u64).saturating_mul(elem),
        path: path.to_path_buf(),
    };
    if known_i16(range, slope, inter) {
        let mut out: Vec<i16> = Vec::new();
        out.try_reserve_exact(n).map_err(|_| reserve_err(2))?;
        source.for_each_chunk(width, true, path, &mut |bytes| {
            out.extend(
                bytes
                    .chunks_exact(width)
                    .map(|c| (get(c) * slope + inter) as i16),
            );
        })?;
        return Ok(Voxels::I16(out));
    }
    let valid = |v: f64| v.is_finite() && v.abs() <= f64::from(f32::MAX);
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let mut integral = true;
    let mut bad = 0usize;
    let mut note = |v: f64, count: usize| {
        if !valid(v) {
            bad += count;
            return;
        }
        lo = lo.min(v);
        hi = hi.max(v);
        if integral && v.fract() != 0.0 {
            integral = false;
        }
    };
    if width == 1 {
        // One byte per voxel: a histogram, then each of the 256 values once.
        let mut hist = [0usize; 256];
        source.for_each_chunk(width, true, path, &mut |bytes| {
            for &b in bytes {
                hist[usize::from(b)] += 1;
            }
        })?;
        for (b, &count) in hist.iter().enumerate() {
            if count > 0 {
                note(get(&[b as u8]) * slope + inter, count);
            }
        }
    } else {
        source.for_each_chunk(width, true, path, &mut |bytes| {
            for c in bytes.chunks_exact(width) {
                note(get(c) * slope + inter, 1);
            }
        })?;
    }
    let fill = if lo.is_finite() { lo } else { 0.0 };
    if bad > 0 {
        warnings.push(format!(
            "{bad} NaN/Inf voxels (NaN, infinite, or beyond the float32 range after scaling by slope {slope}, intercept {inter}) were replaced by the minimum finite value {fill}"
        ));
    }
    let scaled = move |c: &[u8]| {
        let v = get(c) * slope + inter;
        if valid(v) { v } else { fill }
    };
    // One byte per voxel: the 256 results looked up.
    let lut: Vec<f64> = if width == 1 {
        (0..=255u8).map(|b| scaled(&[b])).collect()
    } else {
        Vec::new()
    };
    let value = |c: &[u8]| {
        if width == 1 {
            lut[usize::from(c[0])]
        } else {
            scaled(c)
        }
    };
    if integral && (!lo.is_finite() || fits_i16(lo, hi)) {
        if let Source::Inflated {
            comp, offset, len, ..
        } = source
        {
            // Int16 output does not fit the float32 buffer's type: drop it and
            // stream the second pass.
            let comp = std::mem::replace(comp, Compressed::Bytes(Vec::new()));
            *source = Source::Gzip {
                comp,
                offset: *offset,
                len: *len,
            };
        }
        let mut out: Vec<i16> = Vec::new();
        out.try_reserve_exact(n).map_err(|_| reserve_err(2))?;
        source.for_each_chunk(width, false, path, &mut |bytes| {
            out.extend(bytes.chunks_exact(width).map(|c| value(c) as i16));
        })?;
        Ok(Voxels::I16(out))
    } else if let Source::Inflated { buf, offset, .. } = source {
        let mut out = std::mem::take(buf);
        convert_in_place::<4>(
            bytemuck::cast_slice_mut(out.as_mut_slice()),
            *offset as usize,
            n,
            width,
            |c| (value(c) as f32).to_ne_bytes(),
        );
        out.truncate(n);
        out.shrink_to_fit();
        Ok(Voxels::F32(out))
    } else {
        let mut out: Vec<f32> = Vec::new();
        out.try_reserve_exact(n).map_err(|_| reserve_err(4))?;
        source.for_each_chunk(width, false, path, &mut |bytes| {
            out.extend(bytes.chunks_exact(width).map(|c| value(c) as f32));
        })?;
        Ok(Voxels::F32(out))
    }
}
