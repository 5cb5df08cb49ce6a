//! NIfTI-1 / NIfTI-2 header parsing, validation and the qform/sform affine.
//!
//! NIfTI-1 headers are parsed by the `nifti` crate; NIfTI-2 (540-byte header, 64-bit
//! fields), which that crate does not read, is parsed here into the same fields.

use super::error::NiftiError;
use super::qform::quatern_to_affine;
use crate::volume::geometry::{Affine, IDENTITY, invert};
use nifti::NiftiHeader;
use std::path::Path;

/// Bytes of a NIfTI-1 header.
pub const NIFTI1_HEADER: usize = 348;
/// Bytes of a NIfTI-2 header.
pub const NIFTI2_HEADER: usize = 540;

/// A validated header, normalised across NIfTI-1 and NIfTI-2.
#[derive(Debug, Clone)]
pub struct Header {
    /// 1 or 2.
    pub version: u8,
    /// The header in `nifti` crate form (for NIfTI-2 files, converted when the
    /// dimensions fit), kept to write masks with the same geometry fields.
    pub nifti1: Option<NiftiHeader>,
    /// Spatial dimensions (a 2-D image has `dims[2] == 1`).
    pub dims: [usize; 3],
    /// Number of 3-D volumes in the file (product of dims 4..7).
    pub volumes: u64,
    /// Datatype code.
    pub datatype: i16,
    /// Offset of the first voxel byte.
    pub vox_offset: u64,
    /// True if the file is big-endian.
    pub big_endian: bool,
    /// Effective slope (1 when the header has 0 or a non-finite value).
    pub slope: f64,
    /// Effective intercept (0 when no scaling applies).
    pub inter: f64,
    /// Voxel → world affine chosen by the standard's precedence.
    pub affine: Affine,
    /// Which transform was used: `"sform"`, `"qform"` or `"pixdim"`.
    pub affine_source: &'static str,
    /// The description field.
    pub descrip: String,
    /// Non-fatal findings.
    pub warnings: Vec<String>,
}

/// Information about a datatype code.
pub struct DataType {
    /// Bytes per voxel.
    pub bytes: usize,
    /// Name as numpy would say it.
    pub name: &'static str,
}

/// The datatypes this reader converts.
pub fn datatype_info(code: i16) -> Result<DataType, &'static str> {
    let (bytes, name) = match code {
        2 => (1, "uint8"),
        4 => (2, "int16"),
        8 => (4, "int32"),
        16 => (4, "float32"),
        64 => (8, "float64"),
        256 => (1, "int8"),
        512 => (2, "uint16"),
        768 => (4, "uint32"),
        1024 => (8, "int64"),
        1280 => (8, "uint64"),
        1 => return Err("binary"),
        32 => return Err("complex64"),
        128 => return Err("rgb24"),
        1536 => return Err("float128"),
        1792 => return Err("complex128"),
        2048 => return Err("complex256"),
        2304 => return Err("rgba32"),
        _ => return Err("unknown"),
    };
    Ok(DataType { bytes, name })
}

fn bad_header(reason: impl Into<String>, path: &Path) -> NiftiError {
    NiftiError::BadHeader {
        reason: reason.into(),
        path: path.to_path_buf(),
    }
}

/// Raw fields common to both header versions, before validation.
struct Raw {
    version: u8,
    dim: [i64; 8],
    datatype: i16,
    pixdim: [f64; 8],
    vox_offset: f64,
    slope: f64,
    inter: f64,
    qform_code: i32,
    sform_code: i32,
    quatern: [f64; 6],
    srow: [[f64; 4]; 3],
    descrip: String,
    big_endian: bool,
    nifti1: Option<NiftiHeader>,
}

/// Parses and validates a header from the first bytes of a (decompressed) file.
/// `bytes` may be shorter than 540 for NIfTI-1 files.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Header, NiftiError> {
    if bytes.len() < 4 {
        return Err(NiftiError::NotNifti {
            reason: format!("only {} bytes, smaller than any NIfTI header", bytes.len()),
            path: path.to_path_buf(),
        });
    }
    let size_le = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let size_be = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let raw = if size_le == NIFTI1_HEADER as i32 || size_be == NIFTI1_HEADER as i32 {
        parse_v1(bytes, path)?
    } else if size_le == NIFTI2_HEADER as i32 || size_be == NIFTI2_HEADER as i32 {
        parse_v2(bytes, size_be == NIFTI2_HEADER as i32, path)?
    } else {
        let reason = if bytes.starts_with(b"\x1f\x8b") {
            "gzip data inside gzip data".to_string()
        } else if bytes.starts_with(b"\x89PNG") {
            "this is a PNG image".to_string()
        } else if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
            "this is a DICOM file".to_string()
        } else {
            format!("header size field is {size_le}, expected 348 (NIfTI-1) or 540 (NIfTI-2)")
        };
        return Err(NiftiError::NotNifti {
            reason,
            path: path.to_path_buf(),
        });
    };
    validate(raw, path)
}

fn parse_v1(bytes: &[u8], path: &Path) -> Result<Raw, NiftiError> {
    if bytes.len() < NIFTI1_HEADER {
        return Err(NiftiError::Truncated {
            needed: NIFTI1_HEADER as u64,
            available: bytes.len() as u64,
            path: path.to_path_buf(),
        });
    }
    let magic = &bytes[344..348];
    if magic == b"ni1\0" {
        return Err(NiftiError::HeaderPair {
            path: path.to_path_buf(),
        });
    }
    if magic != b"n+1\0" {
        return Err(NiftiError::NotNifti {
            reason: format!(
                "wrong magic {:?}, expected \"n+1\"",
                String::from_utf8_lossy(magic)
            ),
            path: path.to_path_buf(),
        });
    }
    // The dim array as signed 16-bit values (the crate reads them as u16).
    let big_endian = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) != 348;
    let rd16 = |o: usize| {
        let b = [bytes[o], bytes[o + 1]];
        if big_endian {
            i16::from_be_bytes(b)
        } else {
            i16::from_le_bytes(b)
        }
    };
    let mut dim = [0i64; 8];
    for (n, d) in dim.iter_mut().enumerate() {
        *d = i64::from(rd16(40 + 2 * n));
    }
    let h =
        NiftiHeader::from_reader(&bytes[..NIFTI1_HEADER]).map_err(|e| NiftiError::NotNifti {
            reason: format!("unreadable NIfTI-1 header ({e})"),
            path: path.to_path_buf(),
        })?;
    let f = |x: f32| f64::from(x);
    let mut pixdim = [0.0; 8];
    for (p, &x) in pixdim.iter_mut().zip(&h.pixdim) {
        *p = f(x);
    }
    let srow = [
        h.srow_x.map(f64::from),
        h.srow_y.map(f64::from),
        h.srow_z.map(f64::from),
    ];
    let descrip = String::from_utf8_lossy(&h.descrip)
        .trim_end_matches('\0')
        .trim()
        .to_string();
    Ok(Raw {
        version: 1,
        dim,
        datatype: h.datatype,
        pixdim,
        vox_offset: f(h.vox_offset),
        slope: f(h.scl_slope),
        inter: f(h.scl_inter),
        qform_code: i32::from(h.qform_code),
        sform_code: i32::from(h.sform_code),
        quatern: [
            f(h.quatern_b),
            f(h.quatern_c),
            f(h.quatern_d),
            f(h.quatern_x),
            f(h.quatern_y),
            f(h.quatern_z),
        ],
        srow,
        descrip,
        big_endian,
        nifti1: Some(h),
    })
}

fn parse_v2(bytes: &[u8], big_endian: bool, path: &Path) -> Result<Raw, NiftiError> {
    if bytes.len() < NIFTI2_HEADER {
        return Err(NiftiError::Truncated {
            needed: NIFTI2_HEADER as u64,
            available: bytes.len() as u64,
            path: path.to_path_buf(),
        });
    }
    if &bytes[4..8] == b"ni2\0" {
        return Err(NiftiError::HeaderPair {
            path: path.to_path_buf(),
        });
    }
    if &bytes[4..8] != b"n+2\0" {
        return Err(NiftiError::NotNifti {
            reason: format!(
                "wrong magic {:?}, expected \"n+2\"",
                String::from_utf8_lossy(&bytes[4..8])
            ),
            path: path.to_path_buf(),
        });
    }
    let arr = |o: usize, n: usize| -> Vec<u8> {
        let mut v = bytes[o..o + n].to_vec();
        if big_endian {
            v.reverse();
        }
        v
    };
    let i16_at = |o: usize| {
        let v = arr(o, 2);
        i16::from_le_bytes([v[0], v[1]])
    };
    let i32_at = |o: usize| {
        let v = arr(o, 4);
        i32::from_le_bytes([v[0], v[1], v[2], v[3]])
    };
    let i64_at = |o: usize| {
        let v = arr(o, 8);
        i64::from_le_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]])
    };
    let f64_at = |o: usize| f64::from_bits(i64_at(o) as u64);
    let mut dim = [0i64; 8];
    let mut pixdim = [0.0; 8];
    for n in 0..8 {
        dim[n] = i64_at(16 + 8 * n);
        pixdim[n] = f64_at(104 + 8 * n);
    }
    let mut srow = [[0.0; 4]; 3];
    for (r, row) in srow.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = f64_at(400 + 32 * r + 8 * c);
        }
    }
    let descrip = String::from_utf8_lossy(&bytes[240..320])
        .trim_end_matches('\0')
        .trim()
        .to_string();
    let mut raw = Raw {
        version: 2,
        dim,
        datatype: i16_at(12),
        pixdim,
        vox_offset: i64_at(168) as f64,
        slope: f64_at(176),
        inter: f64_at(184),
        qform_code: i32_at(344),
        sform_code: i32_at(348),
        quatern: [
            f64_at(352),
            f64_at(360),
            f64_at(368),
            f64_at(376),
            f64_at(384),
            f64_at(392),
        ],
        srow,
        descrip,
        big_endian,
        nifti1: None,
    };
    raw.nifti1 = to_nifti1(&raw, i32_at(500));
    Ok(raw)
}

/// A NIfTI-1 form of a NIfTI-2 header when its dimensions fit 16 bits.
fn to_nifti1(raw: &Raw, xyzt_units: i32) -> Option<NiftiHeader> {
    let mut h = NiftiHeader::default();
    for n in 0..8 {
        h.dim[n] = u16::try_from(raw.dim[n])
            .ok()
            .filter(|&d| d <= i16::MAX as u16)?;
        h.pixdim[n] = raw.pixdim[n] as f32;
    }
    h.datatype = raw.datatype;
    h.qform_code = i16::try_from(raw.qform_code).ok()?;
    h.sform_code = i16::try_from(raw.sform_code).ok()?;
    h.quatern_b = raw.quatern[0] as f32;
    h.quatern_c = raw.quatern[1] as f32;
    h.quatern_d = raw.quatern[2] as f32;
    h.quatern_x = raw.quatern[3] as f32;
    h.quatern_y = raw.quatern[4] as f32;
    h.quatern_z = raw.quatern[5] as f32;
    h.srow_x = raw.srow[0].map(|x| x as f32);
    h.srow_y = raw.srow[1].map(|x| x as f32);
    h.srow_z = raw.srow[2].map(|x| x as f32);
    h.xyzt_units = u8::try_from(xyzt_units).unwrap_or(0);
    h.magic = *b"n+1\0";
    Some(h)
}

fn validate(raw: Raw, path: &Path) -> Result<Header, NiftiError> {
    let mut warnings = Vec::new();
    let ndim = raw.dim[0];
    if !(1..=7).contains(&ndim) {
        return Err(NiftiError::BadDims {
            reason: format!("dim[0] = {ndim}, must be 1..7"),
            path: path.to_path_buf(),
        });
    }
    let ndim = ndim as usize;
    for n in 1..=ndim {
        let d = raw.dim[n];
        if d == 0 {
            return Err(NiftiError::BadDims {
                reason: format!("dim[{n}] is 0"),
                path: path.to_path_buf(),
            });
        }
        if d < 0 {
            return Err(NiftiError::BadDims {
                reason: format!("dim[{n}] is negative ({d})"),
                path: path.to_path_buf(),
            });
        }
    }
    let get = |n: usize| if n <= ndim { raw.dim[n] as u64 } else { 1 };
    let mut dims = [0usize; 3];
    for (a, d) in dims.iter_mut().enumerate() {
        *d = usize::try_from(get(a + 1)).map_err(|_| NiftiError::BadDims {
            reason: format!("dim[{}] = {} does not fit this machine", a + 1, get(a + 1)),
            path: path.to_path_buf(),
        })?;
    }
    let mut volumes: u64 = 1;
    for n in 4..=7 {
        volumes = volumes.saturating_mul(get(n));
    }
    if volumes > 1 {
        warnings.push(format!(
            "the file holds {volumes} volumes (dims {:?}); only the first is read",
            &raw.dim[1..=ndim]
        ));
    }
    let dt = datatype_info(raw.datatype).map_err(|name| NiftiError::UnsupportedDatatype {
        code: raw.datatype,
        name,
        path: path.to_path_buf(),
    })?;
    let _ = dt;
    if !raw.vox_offset.is_finite() || raw.vox_offset.fract() != 0.0 || raw.vox_offset < 0.0 {
        return Err(bad_header(
            format!("vox_offset {} is not a byte offset", raw.vox_offset),
            path,
        ));
    }
    let min_offset = if raw.version == 1 {
        NIFTI1_HEADER
    } else {
        NIFTI2_HEADER
    } as f64;
    let vox_offset = if raw.vox_offset < min_offset {
        // Some writers leave 0 in single-file headers; the standard says at least
        // the header size (352 with the extension flag).
        let fixed = if raw.version == 1 { 352 } else { 544 };
        warnings.push(format!(
            "vox_offset {} is inside the header; assuming {fixed}",
            raw.vox_offset
        ));
        fixed
    } else {
        raw.vox_offset as u64
    };

    // Scaling: a slope of 0 (or NaN/Inf) means "no scaling" (nibabel does the same).
    let (slope, inter) = if raw.slope != 0.0 && raw.slope.is_finite() {
        let inter = if raw.inter.is_finite() {
            raw.inter
        } else {
            0.0
        };
        (raw.slope, inter)
    } else {
        (1.0, 0.0)
    };

    let (affine, affine_source) = choose_affine(&raw, &mut warnings);
    let spacing = [0, 1, 2].map(|c| {
        (0..3)
            .map(|r| affine[r][c] * affine[r][c])
            .sum::<f64>()
            .sqrt()
    });
    if spacing
        .iter()
        .any(|s| !s.is_finite() || *s <= 1e-6 || *s > 1000.0)
    {
        return Err(NiftiError::AbsurdSpacing {
            spacing,
            path: path.to_path_buf(),
        });
    }
    let (smin, smax) = spacing
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &s| (a.min(s), b.max(s)));
    if smax / smin > MAX_SPACING_RATIO {
        return Err(NiftiError::ExtremeAspect {
            spacing,
            max_ratio: MAX_SPACING_RATIO,
            path: path.to_path_buf(),
        });
    }
    if invert(&affine).is_none() {
        return Err(bad_header(
            format!("the {affine_source} affine is singular"),
            path,
        ));
    }
    Ok(Header {
        version: raw.version,
        nifti1: raw.nifti1,
        dims,
        volumes,
        datatype: raw.datatype,
        vox_offset,
        big_endian: raw.big_endian,
        slope,
        inter,
        affine,
        affine_source,
        descrip: raw.descrip,
        warnings,
    })
}

/// Largest accepted ratio of the largest to the smallest voxel spacing. Real CT has
/// at most ~20 (0.5 mm pixels, 10 mm slices); beyond this, images drawn with
/// square pixels (report key slices, the viewer) would be enormous.
pub const MAX_SPACING_RATIO: f64 = 100.0;

/// sform when `sform_code > 0`, else qform when `qform_code > 0`, else the
/// pixdim-only "method 1" of the standard (as nibabel's `get_best_affine`).
fn choose_affine(raw: &Raw, warnings: &mut Vec<String>) -> (Affine, &'static str) {
    let srow_ok = raw.srow.iter().flatten().all(|v| v.is_finite());
    if raw.sform_code > 0 && srow_ok {
        let mut a = IDENTITY;
        a[..3].copy_from_slice(&raw.srow);
        if invert(&a).is_some() {
            return (a, "sform");
        }
        warnings.push("sform is singular; using the qform".into());
    }
    if raw.qform_code > 0 {
        if let Some(a) = quatern_to_affine(&raw.quatern, &raw.pixdim) {
            return (a, "qform");
        }
        warnings.push("qform is not valid; using pixdim only".into());
    }
    warnings.push("no qform/sform: orientation unknown, assuming RAS with pixdim spacing".into());
    let mut a = IDENTITY;
    for (k, row) in a.iter_mut().take(3).enumerate() {
        row[k] = raw.pixdim[k + 1].abs();
    }
    (a, "pixdim")
}
