//! The absolute read budget: the most bytes one read may hold at its peak (the
//! voxel buffer of int16 data kept as they are, or the converted voxels counted as
//! float32 plus one chunk of raw bytes), whatever the compressed size of the file. The default is [`DEFAULT_MAX_READ_BYTES`] or half of the physical memory,
//! whichever is smaller; the environment variable [`MAX_READ_BYTES_ENV`] overrides
//! it (bytes, or with a `K`, `M`, `G` suffix in powers of 1024). The NIfTI reader
//! checks it through [`super::limits`], the DICOM reader directly.

/// Default read budget: 8 GiB (capped at half of the physical memory).
pub const DEFAULT_MAX_READ_BYTES: u64 = 8 << 30;

/// Environment variable that overrides the read budget.
pub const MAX_READ_BYTES_ENV: &str = "LUNGSCOPE_MAX_READ_BYTES";

/// Parses a byte count: digits with an optional `K`/`M`/`G`/`T` suffix (powers of
/// 1024, an optional trailing `B` or `iB`). `None` if it is not one.
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s
        .strip_suffix("iB")
        .or_else(|| s.strip_suffix('B'))
        .unwrap_or(s);
    let (num, shift) = match s.chars().last()?.to_ascii_uppercase() {
        'K' => (&s[..s.len() - 1], 10),
        'M' => (&s[..s.len() - 1], 20),
        'G' => (&s[..s.len() - 1], 30),
        'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(1u64 << shift)
}

/// Physical memory in bytes, where the platform says.
fn physical_memory() -> Option<u64> {
    #[cfg(unix)]
    {
        // SAFETY: sysconf only reads system configuration values.
        let (pages, size) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        if pages > 0 && size > 0 {
            return (pages as u64).checked_mul(size as u64);
        }
    }
    None
}

/// The read budget in bytes: [`MAX_READ_BYTES_ENV`] when set to a valid size,
/// else the smaller of [`DEFAULT_MAX_READ_BYTES`] and half of the physical memory.
pub fn max_read_bytes() -> u64 {
    if let Ok(v) = std::env::var(MAX_READ_BYTES_ENV) {
        match parse_bytes(&v) {
            Some(b) => return b,
            None => tracing::warn!("ignoring {MAX_READ_BYTES_ENV}={v:?}: not a byte count"),
        }
    }
    let half = physical_memory().map_or(u64::MAX, |m| m / 2);
    DEFAULT_MAX_READ_BYTES.min(half)
}
