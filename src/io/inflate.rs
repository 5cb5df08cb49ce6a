//! One-shot gzip inflate of a whole NIfTI file into its final voxel buffer
//! (libdeflate), with the buffer's pages faulted in beforehand on all cores.

use super::error::NiftiError;
use super::header::Header;
use super::limits::try_vec;
use std::path::Path;

/// Voxels as read, before scaling to HU.
pub(super) enum Payload {
    /// int16 voxels in native byte order.
    I16(Vec<i16>),
    /// Voxel bytes in file byte order.
    Bytes(Vec<u8>),
}

/// Inflates the whole stream with libdeflate into the final buffer and shifts the
/// header out. `Ok(None)` if libdeflate refuses (the caller then streams and
/// reports the exact problem); an error if the buffers cannot be allocated.
pub(super) fn inflate_one_shot(
    comp: &[u8],
    hdr: &Header,
    total: usize,
    data_len: usize,
    path: &Path,
) -> Result<Option<Payload>, NiftiError> {
    let off = hdr.vox_offset as usize;
    let mut d = libdeflater::Decompressor::new();
    if hdr.datatype == 4 && off.is_multiple_of(2) {
        let mut v: Vec<i16> = try_vec(total.div_ceil(2), path)?;
        prefault(bytemuck::cast_slice_mut(v.as_mut_slice()));
        let t = std::time::Instant::now();
        let Ok(n) = d.gzip_decompress(comp, bytemuck::cast_slice_mut(v.as_mut_slice())) else {
            return Ok(None);
        };
        if n < off + data_len {
            return Ok(None);
        }
        let t2 = std::time::Instant::now();
        v.copy_within(off / 2..off / 2 + data_len / 2, 0);
        tracing::debug!(
            "inflate {:.1} ms, header shift {:.1} ms",
            (t2 - t).as_secs_f64() * 1e3,
            t2.elapsed().as_secs_f64() * 1e3
        );
        v.truncate(data_len / 2);
        v.shrink_to_fit();
        Ok(Some(Payload::I16(v)))
    } else {
        let mut v: Vec<u8> = try_vec(total, path)?;
        prefault(&mut v);
        let Ok(n) = d.gzip_decompress(comp, &mut v) else {
            return Ok(None);
        };
        if n < off + data_len {
            return Ok(None);
        }
        v.copy_within(off..off + data_len, 0);
        v.truncate(data_len);
        v.shrink_to_fit();
        if hdr.datatype == 4 {
            // odd vox_offset: realign into an i16 buffer
            let mut out: Vec<i16> = try_vec(data_len / 2, path)?;
            bytemuck::cast_slice_mut::<i16, u8>(&mut out).copy_from_slice(&v);
            return Ok(Some(Payload::I16(out)));
        }
        Ok(Some(Payload::Bytes(v)))
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
