//! Hostile model files: a `.lsm` is untrusted input. Every file built
//! here by mutating a valid tiny model file must load cleanly or be refused with an error;
//! never panic, abort or allocate without bound. The loads run in the test process itself,
//! so a panic fails the test.

use crate::support;

use burn::tensor::Device;
use lungscope::seg::SegError;
use lungscope::seg::model::weights::{self, LoadedModel};
use lungscope::seg::model::{
    Arch, Head, MAX_BASE, MAX_DEPTH, MAX_IN_CHANNELS, MAX_OUT_CHANNELS, MAX_PARAMS, ModelConfig,
    UpMode,
};
use lungscope::seg::store::{Active, ModelStore};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const NAME: &str = "hostile.lsm";

/// A valid tiny model file (U-Net base 4, depth 2, 2 sigmoid outputs, 32 px).
fn valid_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = support::seg::tiny_model_file(dir.path(), Head::Sigmoid { channels: 2 }, 32);
    std::fs::read(path).expect("read the tiny model")
}

/// The header JSON and the weights section (burnpack) of a model file.
fn parts(bytes: &[u8]) -> (Value, Vec<u8>) {
    let hlen = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
    let header = serde_json::from_slice(&bytes[16..16 + hlen]).expect("header JSON");
    (header, bytes[24 + hlen..].to_vec())
}

/// A model file from its parts, with consistent lengths.
fn assemble(header: &Value, weights: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(header).expect("serialise header");
    let mut out = b"LSCOPEMD".to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&(weights.len() as u64).to_le_bytes());
    out.extend_from_slice(weights);
    out
}

/// The valid file with its config edited by `edit`.
fn with_config(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let (mut header, weights) = parts(&valid_bytes());
    edit(&mut header["config"]);
    assemble(&header, &weights)
}

fn load(bytes: &[u8]) -> Result<LoadedModel, SegError> {
    weights::load_bytes(bytes, Path::new(NAME), &Device::flex())
}

/// Loads `bytes`; a model that loads must have a configuration within the limits.
fn load_checked(bytes: &[u8]) -> Result<LoadedModel, SegError> {
    let result = load(bytes);
    if let Ok(m) = &result {
        m.config
            .validate()
            .expect("a loaded model has a valid configuration");
    }
    result
}

fn refused(bytes: &[u8], expect: &[&str]) -> String {
    let err = match load(bytes) {
        Ok(_) => panic!("a hostile model file was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(NAME), "the error names the file: {err}");
    for e in expect {
        assert!(err.contains(e), "expected {e:?} in: {err}");
    }
    assert!(!err.contains('\n'), "one line: {err}");
    err
}

/// Start of the burnpack tensor data section inside the weights section.
fn data_start(weights: &[u8]) -> usize {
    let metadata = u32::from_le_bytes(weights[6..10].try_into().expect("4 bytes")) as usize;
    (10 + metadata).div_ceil(256) * 256
}

/// Mutation count of the random loops: `default`, or `$LUNGSCOPE_MODEL_FUZZ_ITERS` for a
/// longer run outside CI.
fn iterations(default: usize) -> usize {
    std::env::var("LUNGSCOPE_MODEL_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn the_valid_tiny_file_loads() {
    let m = load(&valid_bytes()).expect("the unmodified file loads");
    assert_eq!(m.config.base, 4);
}

#[test]
fn base_2_pow_60_at_depth_4_is_refused_without_overflow() {
    let bytes = with_config(|c| {
        c["base"] = Value::from(1u64 << 60);
        c["depth"] = Value::from(4);
    });
    refused(&bytes, &["base"]);
    // The configuration itself: validation and the descriptions never overflow.
    let config = ModelConfig {
        base: 1 << 60,
        depth: 4,
        ..ModelConfig::default()
    };
    assert!(matches!(config.validate(), Err(SegError::InvalidConfig(_))));
    assert_eq!(config.checked_num_params(), None);
    assert_eq!(config.num_params(), usize::MAX);
    let _ = config.describe();
    // read_card (used to list the versions in the data folder) refuses it too.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(NAME);
    std::fs::write(&path, &bytes).expect("write");
    assert!(weights::read_card(&path).is_err());
    assert!(weights::load_file(&path, &Device::flex()).is_err());
}

#[test]
fn huge_input_sizes_are_refused() {
    for size in [
        4096u64,
        1 << 16,
        1 << 20,
        1 << 32,
        1 << 40,
        1 << 62,
        u64::MAX,
    ] {
        let bytes = with_config(|c| c["input_size"] = Value::from(size));
        refused(&bytes, &["input_size"]);
    }
    for size in [0u64, 4, 8, 18] {
        let bytes = with_config(|c| c["input_size"] = Value::from(size));
        refused(&bytes, &["input_size"]);
    }
}

#[test]
fn every_config_field_is_bounded() {
    let big = |v: u64| Value::from(v);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("in_channels", big(0), "in_channels"),
        (
            "in_channels",
            big(MAX_IN_CHANNELS as u64 + 1),
            "in_channels",
        ),
        ("in_channels", big(1 << 40), "in_channels"),
        ("base", big(0), "base"),
        ("base", big(MAX_BASE as u64 + 1), "base"),
        ("base", big(u64::MAX), "base"),
        ("depth", big(0), "depth"),
        ("depth", big(MAX_DEPTH as u64 + 1), "depth"),
        ("depth", big(1 << 60), "depth"),
    ];
    for (field, value, expect) in cases {
        let bytes = with_config(|c| c[field] = value.clone());
        refused(&bytes, &[expect]);
    }
    for channels in [0u64, MAX_OUT_CHANNELS as u64 + 1, 1 << 40, u64::MAX] {
        let bytes = with_config(|c| c["head"]["channels"] = Value::from(channels));
        refused(&bytes, &["output channels"]);
    }
    let bytes = with_config(|c| {
        c["head"] = serde_json::json!({"kind": "softmax", "classes": 1u64 << 62});
    });
    refused(&bytes, &["output channels"]);
    // Too wide at the bottleneck although each field alone is in range.
    let bytes = with_config(|c| {
        c["base"] = Value::from(MAX_BASE);
        c["depth"] = Value::from(MAX_DEPTH);
    });
    refused(&bytes, &["too wide"]);
    // Within every per-field limit but over the parameter cap: U-Net++ 256 wide at depth 4.
    let config = ModelConfig {
        arch: Arch::UnetPlusPlus,
        base: 256,
        depth: 4,
        up: UpMode::Transpose,
        ..ModelConfig::default()
    };
    assert!(config.num_params() > MAX_PARAMS);
    let bytes = with_config(|c| {
        c["arch"] = Value::from("unet_plus_plus");
        c["base"] = Value::from(256);
        c["depth"] = Value::from(4);
    });
    refused(&bytes, &["parameters"]);
    // Wrong JSON types and negative numbers are refused by the header parser.
    for value in [
        serde_json::json!(-1),
        serde_json::json!(1.5),
        serde_json::json!("4"),
    ] {
        let bytes = with_config(|c| c["base"] = value.clone());
        refused(&bytes, &["header"]);
    }
}

#[test]
fn a_config_larger_than_its_weights_is_refused_before_building() {
    // base 64 depth 4 (U-Net, ~31 M parameters) with the tiny file's few kB of weights:
    // refused on sizes alone, before the 124 MB network would be built.
    let bytes = with_config(|c| {
        c["base"] = Value::from(64);
        c["depth"] = Value::from(4);
        c["input_size"] = Value::from(256);
    });
    refused(&bytes, &["too few"]);
    // A narrower config whose shapes do not match the stored tensors.
    let bytes = with_config(|c| c["base"] = Value::from(2));
    assert!(load(&bytes).is_err());
}

#[test]
fn nan_and_infinite_weights_are_refused_naming_the_tensor() {
    let (header, weights) = parts(&valid_bytes());
    let start = data_start(&weights);
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for offset in [start, start + 4, weights.len() - 4] {
            let mut w = weights.clone();
            w[offset..offset + 4].copy_from_slice(&bad.to_le_bytes());
            let err = refused(
                &assemble(&header, &w),
                &["NaN or infinite", "weight tensor `"],
            );
            assert!(err.contains('`'), "{err}");
        }
    }
}

#[test]
fn an_all_nan_model_is_refused() {
    let (header, weights) = parts(&valid_bytes());
    let mut w = weights.clone();
    let start = data_start(&w);
    for chunk in w[start..].chunks_exact_mut(4) {
        chunk.copy_from_slice(&f32::NAN.to_le_bytes());
    }
    refused(&assemble(&header, &w), &["NaN or infinite"]);
}

#[test]
fn negative_batchnorm_variance_is_refused() {
    // Every all-ones float (BatchNorm gamma and running variance) becomes -1.
    let (header, weights) = parts(&valid_bytes());
    let mut w = weights.clone();
    let start = data_start(&w);
    let one = 1.0f32.to_le_bytes();
    for chunk in w[start..].chunks_exact_mut(4) {
        if chunk == one {
            chunk.copy_from_slice(&(-1.0f32).to_le_bytes());
        }
    }
    refused(&assemble(&header, &w), &["running_var"]);
}

#[test]
fn truncated_files_are_refused_at_every_offset() {
    let bytes = valid_bytes();
    for len in 0..bytes.len() {
        assert!(load(&bytes[..len]).is_err(), "truncated at {len}");
    }
    // Truncated weights with a length field that agrees: burnpack itself is cut short.
    let (header, weights) = parts(&bytes);
    for len in (0..weights.len()).step_by(7) {
        assert!(
            load(&assemble(&header, &weights[..len])).is_err(),
            "weights truncated at {len}"
        );
    }
}

#[test]
fn random_byte_flips_over_the_whole_file_never_panic() {
    let bytes = valid_bytes();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..iterations(1000) {
        let mut b = bytes.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(b.len());
            b[at] = rng.next() as u8;
        }
        match load_checked(&b) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
    }
    eprintln!("whole file: {ok} loaded, {err} refused");
    assert!(err > 0);
}

#[test]
fn random_byte_flips_in_the_structured_parts_never_panic() {
    // Mutations aimed at what is parsed: the header JSON, the length fields and the
    // burnpack header and CBOR metadata (the tensor descriptors).
    let bytes = valid_bytes();
    let hlen = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
    let (_, weights) = parts(&bytes);
    let pack_meta_end = 24 + hlen + data_start(&weights);
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..iterations(3000) {
        let mut b = bytes.clone();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(pack_meta_end);
            b[at] = match rng.below(4) {
                0 => b[at] ^ (1 << rng.below(8)),
                1 => 0xFF,
                2 => 0,
                _ => rng.next() as u8,
            };
        }
        match load_checked(&b) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
    }
    eprintln!("structured parts: {ok} loaded, {err} refused");
    assert!(err > 0);
}

#[test]
fn hostile_numbers_in_every_config_field_never_panic() {
    let values: Vec<u64> = vec![
        0,
        1,
        2,
        3,
        7,
        15,
        16,
        17,
        63,
        64,
        65,
        255,
        256,
        257,
        1023,
        1024,
        1025,
        4096,
        1 << 16,
        1 << 31,
        1 << 32,
        1 << 40,
        1 << 60,
        1 << 62,
        1 << 63,
        u64::MAX,
    ];
    for field in ["in_channels", "base", "depth", "input_size"] {
        for &v in &values {
            let _ = load_checked(&with_config(|c| c[field] = Value::from(v)));
        }
    }
    for &v in &values {
        let _ = load_checked(&with_config(|c| c["head"]["channels"] = Value::from(v)));
        let _ = load_checked(&with_config(|c| {
            c["head"] = serde_json::json!({"kind": "softmax", "classes": v});
        }));
    }
}

#[test]
fn hostile_versions_in_the_data_folder_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ModelStore::at(dir.path());
    let version = dir.path().join("evil");
    std::fs::create_dir_all(&version).expect("mkdir");
    let bytes = with_config(|c| c["input_size"] = Value::from(1u64 << 40));
    std::fs::write(version.join("model.lsm"), &bytes).expect("write");
    // Listing skips it; loading it is an error, not a crash.
    assert!(store.list().expect("list").is_empty());
    assert!(store.load("evil", &Device::flex()).is_err());
    std::fs::write(dir.path().join("active.json"), br#"{"active": "evil"}"#).expect("write");
    assert_eq!(
        store.active().expect("active"),
        Active::Version("evil".into())
    );
    assert!(store.load_active(&Device::flex()).is_err());
}

#[test]
fn a_corrupt_active_json_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ModelStore::at(dir.path());
    assert_eq!(store.active_problem(), None);
    std::fs::write(dir.path().join("active.json"), b"{\"active\": ").expect("write");
    assert_eq!(store.active().expect("active"), Active::Default);
    let problem = store.active_problem().expect("a problem is reported");
    assert!(problem.contains("unreadable"), "{problem}");
    assert!(problem.contains("active.json"), "{problem}");
    std::fs::write(dir.path().join("active.json"), br#"{"active": "gone"}"#).expect("write");
    assert_eq!(store.active().expect("active"), Active::Default);
    let problem = store.active_problem().expect("a problem is reported");
    assert!(problem.contains("gone"), "{problem}");
}

#[test]
fn segment_with_a_hostile_model_exits_1_with_one_error_line() {
    let Some(input) = support::data::small_real_volume() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            "base60.lsm",
            with_config(|c| {
                c["base"] = Value::from(1u64 << 60);
                c["depth"] = Value::from(4);
            }),
        ),
        (
            "size2p40.lsm",
            with_config(|c| c["input_size"] = Value::from(1u64 << 40)),
        ),
        ("allnan.lsm", {
            let (header, mut w) = parts(&valid_bytes());
            let start = data_start(&w);
            for chunk in w[start..].chunks_exact_mut(4) {
                chunk.copy_from_slice(&f32::NAN.to_le_bytes());
            }
            assemble(&header, &w)
        }),
    ];
    for (name, bytes) in cases {
        let model = dir.path().join(name);
        std::fs::write(&model, &bytes).expect("write");
        let out_dir = dir.path().join(format!("out-{name}"));
        let out = Command::new(env!("CARGO_BIN_EXE_lungscope"))
            .arg("segment")
            .arg(&input)
            .arg("--weights")
            .arg(&model)
            .args(["--device", "cpu"])
            .arg("--out-dir")
            .arg(&out_dir)
            .output()
            .expect("lungscope runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: stderr:\n{stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
        assert_eq!(errors.len(), 1, "{name}: one error line:\n{stderr}");
        assert!(errors[0].contains(name), "{name}: names the file: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let written = std::fs::read_dir(&out_dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(written, 0, "{name}: nothing is written");
    }
}

#[test]
fn integer_dtype_weights_are_refused() {
    // burn would panic building a float parameter from I32 data: refused beforehand.
    let (header, weights) = parts(&valid_bytes());
    let at = weights
        .windows(4)
        .position(|w| w == b"\x63F32")
        .expect("an F32 dtype in the burnpack metadata");
    for dtype in [&b"I32"[..], b"U32", b"F64", b"F16", b"U08"] {
        let mut w = weights.clone();
        w[at + 1..at + 4].copy_from_slice(dtype);
        refused(&assemble(&header, &w), &["damaged weights"]);
    }
}
