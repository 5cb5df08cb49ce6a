//! The fuzz targets' smoke run on stable Rust (CI): every file of the committed
//! seed corpora (`fuzz/corpus/<target>/`, and `tests/corpus/` for NIfTI) and a
//! fixed number of deterministic mutations of each (bytes flipped, overwritten with
//! boundary values, inserted, truncated) go through the same entry points as the
//! coverage-guided `cargo fuzz` targets (`lungscope::fuzz_support`). Passing means
//! no panic, abort or hang. `LUNGSCOPE_FUZZ_SMOKE_ITERS` sets the mutations per
//! seed (default 40). The long runs and their figures are in docs/fuzzing.md.

use crate::support;

use std::path::{Path, PathBuf};

use lungscope::fuzz_support;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn seeds(dirs: &[PathBuf]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "py"))
            .collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).expect("seed reads");
            out.push((f.display().to_string(), bytes));
        }
    }
    assert!(!out.is_empty(), "no seeds in {dirs:?}");
    out
}

fn iterations() -> usize {
    std::env::var("LUNGSCOPE_FUZZ_SMOKE_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of `seed`, libFuzzer style.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if b.len() >= 4 => {
                let i = rng.below(b.len() - 3);
                let v: [u8; 4] = match rng.below(4) {
                    0 => [0xFF; 4],
                    1 => [0; 4],
                    2 => [0xFF, 0xFF, 0xFF, 0x7F],
                    _ => [0, 0, 0, 0x80],
                };
                b[i..i + 4].copy_from_slice(&v);
            }
            2 => {
                let i = rng.below(b.len() + 1);
                let n = 1 + rng.below(16);
                let extra: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(i..i, extra);
            }
            3 if !b.is_empty() => b.truncate(rng.below(b.len())),
            _ if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            _ => b.push(rng.next() as u8),
        }
    }
    b
}

fn smoke(target: &str, dirs: &[PathBuf], run: fn(&[u8])) {
    let seeds = seeds(dirs);
    let n = iterations();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ target.len() as u64);
    let mut runs = 0;
    let mut slowest = (std::time::Duration::ZERO, String::new());
    for (name, bytes) in &seeds {
        run(bytes);
        runs += 1;
        for i in 0..n {
            let m = mutate(bytes, &mut rng);
            let t0 = std::time::Instant::now();
            let out = std::panic::catch_unwind(|| run(&m));
            let took = t0.elapsed();
            if took > slowest.0 {
                slowest = (took, format!("mutation {i} of {name}"));
                if std::env::var_os("LUNGSCOPE_FUZZ_SMOKE_SAVE_SLOWEST").is_some() {
                    let _ = std::fs::write(
                        std::env::temp_dir().join(format!("{target}-slowest.bin")),
                        &m,
                    );
                }
            }
            if out.is_err() {
                let dir = std::env::temp_dir().join("lungscope-fuzz-smoke-crashes");
                let _ = std::fs::create_dir_all(&dir);
                let file = dir.join(format!("{target}-{i}.bin"));
                let _ = std::fs::write(&file, &m);
                panic!(
                    "{target}: mutation {i} of {name} panicked; input saved to {}",
                    file.display()
                );
            }
            runs += 1;
        }
    }
    eprintln!(
        "{target}: {runs} inputs from {} seeds, no panic; slowest {:.3} s ({})",
        seeds.len(),
        slowest.0.as_secs_f64(),
        slowest.1
    );
}

#[test]
fn nifti_seeds_and_mutations_never_panic() {
    smoke(
        "nifti",
        &[
            root().join("fuzz/corpus/nifti"),
            root().join("tests/corpus"),
        ],
        fuzz_support::nifti,
    );
}

#[test]
fn dicom_seeds_and_mutations_never_panic() {
    smoke(
        "dicom",
        &[root().join("fuzz/corpus/dicom")],
        fuzz_support::dicom,
    );
}

#[test]
fn lsm_seeds_and_mutations_never_panic() {
    smoke("lsm", &[root().join("fuzz/corpus/lsm")], fuzz_support::lsm);
}

/// Writes the `.lsm` seed (a tiny valid U-Net file): `cargo test --test io
/// fuzz_corpus::write_lsm_seed -- --ignored`.
#[test]
#[ignore = "writes the committed .lsm seed"]
fn write_lsm_seed() {
    let dir = root().join("fuzz/corpus/lsm");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let tmp = tempfile::tempdir().expect("temp");
    let path = support::seg::tiny_model_file(
        tmp.path(),
        lungscope::seg::model::Head::Sigmoid { channels: 2 },
        16,
    );
    std::fs::copy(&path, dir.join("tiny_unet.lsm")).expect("copy");
    assert!(Path::new(&dir.join("tiny_unet.lsm")).is_file());
}
