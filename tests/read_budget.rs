//! The absolute read budget, checked on `lungscope info` child
//! processes with `LUNGSCOPE_MAX_READ_BYTES` set small: gzip bombs and headers that
//! claim huge volumes are refused with a clear error, and the peak RSS of each
//! child (its own `ru_maxrss` from `wait4`) stays under the budget plus a constant.
//!
//! A test crate of its own, not a module of `tests/io/`: Linux reports a spawned
//! child's `ru_maxrss` as at least its parent's peak RSS at the moment of `exec`
//! (the child starts on the parent's memory map), so a parent that ran other,
//! memory-hungry tests would inflate every figure. This crate uses only `std`, so
//! its binary is small and cheap to link.
#![cfg(target_os = "linux")]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Memory of the binary itself (code, runtime, thread pools), beyond the budget.
const BASE_RSS: u64 = 96 << 20;

fn header(dims: [i16; 3], datatype: i16, bitpix: i16, slope: f32) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    let dim = [3, dims[0], dims[1], dims[2], 1, 1, 1, 1];
    for (i, d) in dim.iter().enumerate() {
        h[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
    }
    h[70..72].copy_from_slice(&datatype.to_le_bytes());
    h[72..74].copy_from_slice(&bitpix.to_le_bytes());
    for i in 0..4 {
        h[76 + 4 * i..80 + 4 * i].copy_from_slice(&1f32.to_le_bytes());
    }
    h[108..112].copy_from_slice(&352f32.to_le_bytes());
    h[112..116].copy_from_slice(&slope.to_le_bytes());
    h[123] = 10;
    h[252..254].copy_from_slice(&1i16.to_le_bytes());
    h[344..348].copy_from_slice(b"n+1\0");
    h
}

/// Writes `n` zero bytes in 1 MiB blocks.
fn write_zeros(w: &mut impl Write, n: usize) {
    let block = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(block.len());
        w.write_all(&block[..k]).expect("write");
        left -= k;
    }
}

/// gzip of the header followed by `zeros` zero bytes of voxels (a bomb: ~1000:1).
fn bomb(path: &Path, hdr: &[u8], zeros: usize) {
    let f = std::fs::File::create(path).expect("create");
    let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    e.write_all(hdr).expect("write");
    write_zeros(&mut e, zeros);
    e.finish().expect("finish");
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
    max_rss: u64,
}

/// Runs `lungscope info FILE` with the given budget; its peak RSS from `wait4`.
fn info(file: &Path, budget: &str) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let (o, e) = (dir.path().join("out"), dir.path().join("err"));
    let child = Command::new(env!("CARGO_BIN_EXE_lungscope"))
        .arg("info")
        .arg(file)
        .env("LUNGSCOPE_MAX_READ_BYTES", budget)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).expect("out"))
        .stderr(std::fs::File::create(&e).expect("err"))
        .spawn()
        .expect("spawn lungscope");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our un-waited child; the pointers are valid for the call.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid, "wait4");
    std::mem::forget(child); // already reaped
    Run {
        ok: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        stdout: std::fs::read_to_string(&o).unwrap_or_default(),
        stderr: std::fs::read_to_string(&e).unwrap_or_default(),
        max_rss: ru.ru_maxrss as u64 * 1024,
    }
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

#[test]
fn bombs_and_huge_headers_stay_within_the_budget() {
    let dir = tempfile::tempdir().expect("tempdir");

    // Baseline: a tiny valid file.
    let tiny = dir.path().join("tiny.nii.gz");
    bomb(&tiny, &header([4, 4, 4], 4, 16, 1.0), 128);
    let base = info(&tiny, "64M");
    assert!(base.ok, "{}", base.stderr);
    eprintln!("baseline info: peak RSS {:.1} MiB", mib(base.max_rss));

    // A bomb: 128 MiB of int16 zeros in a ~130 KB .nii.gz, budget 32 MiB.
    let b = dir.path().join("bomb.nii.gz");
    bomb(&b, &header([512, 512, 256], 4, 16, 1.0), 128 << 20);
    let size = std::fs::metadata(&b).expect("meta").len();
    let r = info(&b, "32M");
    eprintln!(
        "bomb ({size} bytes -> 128 MiB) with a 32 MiB budget: refused={} peak RSS {:.1} MiB",
        !r.ok,
        mib(r.max_rss)
    );
    assert!(!r.ok);
    assert!(r.stderr.contains("read budget"), "{}", r.stderr);
    assert!(r.stderr.contains("bomb.nii.gz"), "{}", r.stderr);
    assert!(r.max_rss < (32 << 20) + BASE_RSS, "{} MiB", mib(r.max_rss));

    // The same bomb within a 160 MiB budget is read, and peaks under it (+ base).
    let r = info(&b, "160M");
    eprintln!(
        "bomb with a 160 MiB budget: read={} peak RSS {:.1} MiB",
        r.ok,
        mib(r.max_rss)
    );
    assert!(r.ok, "{}", r.stderr);
    assert!(r.max_rss < (160 << 20) + BASE_RSS, "{} MiB", mib(r.max_rss));

    // uint8 converted to int16: the budget counts the worst-case converted
    // output (float32, 128 MiB) plus one chunk; the raw bytes stream through.
    let u = dir.path().join("u8.nii.gz");
    bomb(&u, &header([512, 512, 128], 2, 8, 1.0), 32 << 20);
    let r = info(&u, "100M");
    assert!(!r.ok, "128 MiB worst-case converted exceeds 100 MiB");
    let r = info(&u, "192M");
    eprintln!(
        "uint8 32 MiB with a 192 MiB budget: read={} peak RSS {:.1} MiB",
        r.ok,
        mib(r.max_rss)
    );
    assert!(r.ok, "{}", r.stderr);
    assert!(r.max_rss < (192 << 20) + BASE_RSS, "{} MiB", mib(r.max_rss));

    // Conversion holds no second full buffer: float32 voxels with an intercept
    // of 0.5 (so they stay float32), 64 MiB raw, converted in place: peak about
    // the 64 MiB output plus the baseline, not raw plus output (128 MiB).
    let f = dir.path().join("f32.nii.gz");
    let mut h32 = header([512, 512, 64], 16, 32, 1.0);
    h32[116..120].copy_from_slice(&0.5f32.to_le_bytes());
    bomb(&f, &h32, 64 << 20);
    let r = info(&f, "256M");
    eprintln!(
        "float32 64 MiB, converted in place: read={} peak RSS {:.1} MiB (baseline {:.1} MiB)",
        r.ok,
        mib(r.max_rss),
        mib(base.max_rss)
    );
    assert!(r.ok, "{}", r.stderr);
    assert!(
        r.max_rss < base.max_rss + (64 << 20) + (24 << 20),
        "peak {} MiB: more than the output plus the baseline",
        mib(r.max_rss)
    );

    // A small .nii.gz whose header claims a huge volume (512^3 int16 = 256 MiB)
    // and which is large enough for deflate's 1032:1 bound: refused by the budget
    // before any allocation.
    let h = dir.path().join("claims_huge.nii.gz");
    {
        let f = std::fs::File::create(&h).expect("create");
        let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::none());
        e.write_all(&header([512, 512, 512], 4, 16, 1.0))
            .expect("write");
        let mut x = 0x1234_5678u32;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        e.write_all(&noise).expect("write");
        e.finish().expect("finish");
    }
    let r = info(&h, "64M");
    eprintln!(
        "header claiming 256 MiB in a {} byte file, 64 MiB budget: peak RSS {:.1} MiB: {}",
        std::fs::metadata(&h).expect("meta").len(),
        mib(r.max_rss),
        r.stderr.trim()
    );
    assert!(!r.ok);
    assert!(r.stderr.contains("read budget"), "{}", r.stderr);
    assert!(r.max_rss < (64 << 20) + BASE_RSS);
}

#[test]
fn info_never_prints_nan_for_overflowing_scaling() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("slope.nii.gz");
    let mut hdr = header([4, 4, 2], 4, 16, 1e38);
    hdr.extend((0..32i16).flat_map(|x| (x - 16).to_le_bytes()));
    bomb(&p, &hdr, 0);
    let r = info(&p, "64M");
    assert!(r.ok, "{}", r.stderr);
    let stats = r
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("intensity"))
        .expect("intensity line");
    assert!(!stats.contains("NaN") && !stats.contains("inf"), "{stats}");
    assert!(r.stdout.contains("NaN/Inf voxels"), "{}", r.stdout);
}

/// One explicit-VR little-endian element with a 16-bit length.
fn short_element(out: &mut Vec<u8>, group: u16, elem: u16, vr: &[u8; 2], value: &[u8]) {
    out.extend_from_slice(&group.to_le_bytes());
    out.extend_from_slice(&elem.to_le_bytes());
    out.extend_from_slice(vr);
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
}

/// A deflated DICOM file whose data set is one private OB element of `zeros`
/// zero bytes: a few KB on disk, `zeros` bytes once inflated.
fn deflated_dicom_bomb(path: &Path, zeros: usize) {
    let mut meta = Vec::new();
    short_element(&mut meta, 2, 2, b"UI", b"1.2.840.10008.5.1.4.1.1.2\0");
    short_element(&mut meta, 2, 3, b"UI", b"1.2.3.4\0");
    short_element(&mut meta, 2, 0x10, b"UI", b"1.2.840.10008.1.2.1.99");
    let mut file = vec![0u8; 128];
    file.extend_from_slice(b"DICM");
    short_element(&mut file, 2, 0, b"UL", &(meta.len() as u32).to_le_bytes());
    file.extend_from_slice(&meta);
    let mut e = flate2::write::DeflateEncoder::new(file, flate2::Compression::fast());
    let mut head = Vec::new();
    head.extend_from_slice(&0x0009u16.to_le_bytes());
    head.extend_from_slice(&0x1000u16.to_le_bytes());
    head.extend_from_slice(b"OB\0\0");
    head.extend_from_slice(&(zeros as u32).to_le_bytes());
    e.write_all(&head).expect("write");
    write_zeros(&mut e, zeros);
    let bytes = e.finish().expect("finish");
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn a_deflated_dicom_bomb_is_refused_within_the_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = dir.path().join("bomb.dcm");
    deflated_dicom_bomb(&b, 256 << 20);
    let size = std::fs::metadata(&b).expect("meta").len();
    let r = info(&b, "32M");
    eprintln!(
        "deflated DICOM ({size} bytes -> 256 MiB) with a 32 MiB budget: refused={} peak RSS {:.1} MiB: {}",
        !r.ok,
        mib(r.max_rss),
        r.stderr.trim()
    );
    assert!(!r.ok);
    assert!(r.stderr.contains("inflates to more than"), "{}", r.stderr);
    assert!(r.max_rss < (32 << 20) + BASE_RSS, "{} MiB", mib(r.max_rss));
}
