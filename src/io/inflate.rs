//! Gzip for NIfTI: the one-shot inflate of a whole file into its final voxel buffer
//! (libdeflate, with the buffer's pages faulted in beforehand on all cores) for
//! int16 output, converted in place, and the incremental reader of gzip members
//! (zlib-rs) for everything else.

use super::error::NiftiError;
use super::header::Header;
use super::limits::try_vec;
use std::io::{BufRead, Read};
use std::path::Path;

/// Inflates a whole gzip stream with libdeflate into a fresh buffer of `len`
/// elements (at least `total` bytes), its pages faulted in first. `Ok(None)` when
/// libdeflate refuses or yields fewer than `need` bytes (the caller then streams
/// and reports the exact problem); an error if the buffer cannot be allocated.
pub(super) fn inflate_whole<T: bytemuck::Pod + Default>(
    comp: &[u8],
    total: usize,
    len: usize,
    need: usize,
    path: &Path,
) -> Result<Option<Vec<T>>, NiftiError> {
    let mut v: Vec<T> = try_vec(len, path)?;
    let buf: &mut [u8] = bytemuck::cast_slice_mut(v.as_mut_slice());
    prefault(buf);
    let t = std::time::Instant::now();
    let mut d = libdeflater::Decompressor::new();
    let Ok(got) = d.gzip_decompress(comp, &mut buf[..total]) else {
        return Ok(None);
    };
    tracing::debug!("inflate {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    Ok((got >= need).then_some(v))
}

/// Inflates the whole stream of an int16 volume with libdeflate into the final
/// buffer and shifts the header out. `Ok(None)` if libdeflate refuses (the caller
/// then streams and reports the exact problem); an error if the buffers cannot be
/// allocated.
pub(super) fn inflate_one_shot(
    comp: &[u8],
    hdr: &Header,
    total: usize,
    data_len: usize,
    path: &Path,
) -> Result<Option<Vec<i16>>, NiftiError> {
    let off = hdr.vox_offset as usize;
    if off.is_multiple_of(2) {
        let Some(mut v) =
            inflate_whole::<i16>(comp, total, total.div_ceil(2), off + data_len, path)?
        else {
            return Ok(None);
        };
        v.copy_within(off / 2..off / 2 + data_len / 2, 0);
        v.truncate(data_len / 2);
        v.shrink_to_fit();
        Ok(Some(v))
    } else {
        // Odd vox_offset: inflate bytes, then realign into an i16 buffer.
        let Some(v) = inflate_whole::<u8>(comp, total, total, off + data_len, path)? else {
            return Ok(None);
        };
        let mut out: Vec<i16> = try_vec(data_len / 2, path)?;
        bytemuck::cast_slice_mut::<i16, u8>(&mut out).copy_from_slice(&v[off..off + data_len]);
        Ok(Some(out))
    }
}

/// A gzip read error as the NIfTI error that names the problem.
pub(super) fn gzip_error(e: std::io::Error, path: &Path) -> NiftiError {
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

/// Gzip members one after the other (as `MultiGzDecoder`), except that zero bytes
/// after a member end the stream, as gzip and nibabel accept them (padding to a
/// block size). Anything else after a member must be another member; data after
/// the zero padding is an error.
pub(super) struct GzMembers<R: BufRead> {
    dec: Option<flate2::bufread::GzDecoder<R>>,
}

impl<R: BufRead> GzMembers<R> {
    pub(super) fn new(r: R) -> Self {
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
pub(super) fn strip_zero_padding(comp: &[u8]) -> &[u8] {
    let nz = comp.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if comp.len() - nz >= 16 {
        &comp[..(nz + 8).min(comp.len())]
    } else {
        comp
    }
}

/// Inflates the whole stream of an integer volume whose scaled values are known to
/// be int16 (`width` bytes per raw voxel, `to_i16` scales one) with libdeflate into
/// the output buffer itself, then converts in place
/// ([`convert_in_place`]). One buffer of
/// `max(inflated size, 2 × voxels)` bytes; `Ok(None)` if libdeflate refuses.
pub(super) fn inflate_one_shot_to_i16(
    comp: &[u8],
    hdr: &Header,
    total: usize,
    data_len: usize,
    width: usize,
    to_i16: impl Fn(&[u8]) -> i16,
    path: &Path,
) -> Result<Option<Vec<i16>>, NiftiError> {
    let off = hdr.vox_offset as usize;
    let n = data_len / width;
    let len = total.max(2 * n).div_ceil(2);
    let Some(mut v) = inflate_whole::<i16>(comp, total, len, off + data_len, path)? else {
        return Ok(None);
    };
    let buf: &mut [u8] = bytemuck::cast_slice_mut(v.as_mut_slice());
    convert_in_place::<2>(buf, off, n, width, |c| to_i16(c).to_ne_bytes());
    v.truncate(n);
    v.shrink_to_fit();
    Ok(Some(v))
}

/// Converts `n` raw voxels of `width` bytes each, stored from byte `off` of `buf`,
/// in place into values of `WO` bytes from byte 0 (`buf` holds at least
/// `max(off + n·width, n·WO)` bytes). Same-width data are converted where they lie
/// and moved to the front; narrowing data go front to back (each value lands at or
/// before its raw bytes); widening data back to
/// front, with the raw voxels the lowest values would overwrite (those below
/// `off / (WO − width)`) copied aside first.
pub(super) fn convert_in_place<const WO: usize>(
    buf: &mut [u8],
    off: usize,
    n: usize,
    width: usize,
    f: impl Fn(&[u8]) -> [u8; WO],
) {
    if WO == width {
        // Same width: convert where the raw voxels lie, then move them to the front.
        for c in buf[off..off + width * n].chunks_exact_mut(WO) {
            let x = f(c);
            c.copy_from_slice(&x);
        }
        buf.copy_within(off..off + width * n, 0);
    } else if WO < width {
        for i in 0..n {
            let x = f(&buf[off + width * i..off + width * (i + 1)]);
            buf[WO * i..WO * (i + 1)].copy_from_slice(&x);
        }
    } else {
        // Writing value i covers WO·i .. WO·(i+1); the raw voxels not yet read
        // end at off + width·i. They overlap only while i·(WO − width) < off.
        let k = (off / (WO - width) + 1).min(n);
        let head = buf[off..off + width * k].to_vec();
        for i in (0..n).rev() {
            let x = if i < k {
                f(&head[width * i..width * (i + 1)])
            } else {
                f(&buf[off + width * i..off + width * (i + 1)])
            };
            buf[WO * i..WO * (i + 1)].copy_from_slice(&x);
        }
    }
}

/// Asks the kernel for transparent huge pages (2 MiB) for a large fresh buffer: a few
/// dozen page faults instead of tens of thousands. Only a hint: ignored where the
/// kernel does not offer them.
#[cfg(target_os = "linux")]
fn advise_huge_pages(buf: &mut [u8]) {
    const HUGE: usize = 2 << 20;
    let start = buf.as_mut_ptr() as usize;
    let first = start.next_multiple_of(HUGE);
    let end = (start + buf.len()) / HUGE * HUGE;
    if end > first {
        // SAFETY: the range lies inside `buf`, which this function borrows mutably;
        // MADV_HUGEPAGE changes how pages are backed, never their contents.
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_buf: &mut [u8]) {}

/// Touches every page of a fresh (lazily zeroed) buffer on all cores, so that the
/// single-threaded inflate that follows does not take ~40 000 page faults itself.
fn prefault(buf: &mut [u8]) {
    use rayon::prelude::*;
    const PAGE: usize = 4096;
    advise_huge_pages(buf);
    buf.par_chunks_mut(8 << 20).for_each(|chunk| {
        for page in chunk.chunks_mut(PAGE) {
            page[0] = std::hint::black_box(0);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In-place conversion equals converting into a separate buffer, for every
    /// raw width against 2- and 4-byte output and header offsets around the
    /// boundaries where writes could reach unread raw bytes.
    #[test]
    fn in_place_conversion_equals_out_of_place() {
        fn check<const WO: usize>(width: usize, off: usize, n: usize) {
            let mut x = 0x9e37_79b9u32 ^ (width * 131 + off * 7 + n) as u32;
            let raw: Vec<u8> = (0..off + width * n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            // Any function of all the raw bytes of a voxel.
            let f = |c: &[u8]| {
                let mut h = 0xcbf2_9ce4_8422_2325u64;
                for &b in c {
                    h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
                }
                let mut o = [0u8; WO];
                o.copy_from_slice(&h.to_le_bytes()[..WO]);
                o
            };
            let expected: Vec<u8> = (0..n)
                .flat_map(|i| f(&raw[off + width * i..off + width * (i + 1)]))
                .collect();
            let mut buf = raw.clone();
            buf.resize(raw.len().max(WO * n), 0);
            convert_in_place::<WO>(&mut buf, off, n, width, f);
            assert_eq!(
                &buf[..WO * n],
                &expected[..],
                "width {width} -> {WO}, off {off}, n {n}"
            );
        }
        for width in [1, 2, 4, 8] {
            for off in [0, 1, 2, 3, 7, 348, 352, 355] {
                for n in [0, 1, 2, 5, 100, 1000] {
                    check::<2>(width, off, n);
                    check::<4>(width, off, n);
                }
            }
        }
    }
}
