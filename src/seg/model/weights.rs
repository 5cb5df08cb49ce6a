//! The model file: one file holding the network configuration, its model card and its
//! weights, so a model can never be loaded with the wrong architecture.
//!
//! Layout (little endian):
//!
//! ```text
//! b"LSCOPEMD"            8 bytes magic
//! u32 format version    (1)
//! u32 header length H, then H bytes of JSON: { "config": ModelConfig, "card": ModelCard }
//! u64 weights length W, then W bytes: the burn record (burnpack) of the network
//! ```
//!
//! The default model (`assets/lungscope-default.lsm`, card in `assets/MODEL.md`) is
//! embedded in the binary at compile time. A build without it would make [`load_default`]
//! return [`SegError::NoDefaultModel`]: random weights are never presented as a model.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};

use crate::fsutil::{sha256_hex, write_atomic};
use crate::seg::SegError;
use crate::seg::model::{ModelConfig, SegModel};

const MAGIC: &[u8; 8] = b"LSCOPEMD";
const FORMAT_VERSION: u32 = 1;
/// Header JSON larger than this is not a model file.
const MAX_HEADER: usize = 1 << 20;

/// The default model's file, embedded at build time.
const DEFAULT_MODEL: Option<&[u8]> = Some(include_bytes!("../../../assets/lungscope-default.lsm"));

/// What a model is, where it came from and how good it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// Short unique name, e.g. `lungscope-unet16-192-v1`.
    pub id: String,
    /// Human description of the network (`U-Net, base 16, depth 4, 192 px, 2 sigmoid outputs`).
    pub architecture: String,
    /// Data it was trained on, with licence.
    pub training_data: String,
    /// How it was trained (command line, loss, optimiser, epochs).
    pub recipe: String,
    /// Validation metrics by name (`val_dice_lung`, `val_dice_infection`, ...).
    pub metrics: BTreeMap<String, f64>,
    /// UTC date of creation, `YYYY-MM-DD`.
    pub date: String,
    /// Id of the model this one was fine-tuned from, if any.
    pub base_model: Option<String>,
}

/// The JSON header of a model file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    config: ModelConfig,
    card: ModelCard,
}

/// A model ready to run.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    /// How the network is built (input size, head...).
    pub config: ModelConfig,
    /// The network with its weights, on the device it was loaded to.
    pub model: SegModel,
    /// Its model card.
    pub card: ModelCard,
    /// SHA-256 (hex) of the weight bytes, to tell versions apart.
    pub weights_sha256: String,
    /// The card's id.
    pub id: String,
}

/// Serialises a model file into memory.
pub fn to_bytes(
    config: &ModelConfig,
    model: &SegModel,
    card: &ModelCard,
) -> Result<Vec<u8>, SegError> {
    let header = serde_json::to_vec_pretty(&Header {
        config: config.clone(),
        card: card.clone(),
    })
    .map_err(|e| SegError::InvalidConfig(format!("cannot serialise the model header: {e}")))?;
    let weights = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| SegError::Backend(format!("cannot serialise the weights: {e}")))?;
    let mut out = Vec::with_capacity(24 + header.len() + weights.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&(weights.len() as u64).to_le_bytes());
    out.extend_from_slice(&weights);
    Ok(out)
}

/// Writes a model file atomically (temporary file in the same folder, then rename) and
/// returns the SHA-256 of its weights.
pub fn save(
    path: &Path,
    config: &ModelConfig,
    model: &SegModel,
    card: &ModelCard,
) -> Result<String, SegError> {
    let bytes = to_bytes(config, model, card)?;
    write_atomic(path, &bytes)?;
    let (_, weights) = split(&bytes, path)?;
    Ok(sha256_hex(weights))
}

/// Reads a model file and loads its weights onto `device`.
pub fn load_file(path: &Path, device: &Device) -> Result<LoadedModel, SegError> {
    let bytes = std::fs::read(path).map_err(|e| SegError::io("reading the model file", path, e))?;
    load_bytes(&bytes, path, device)
}

/// Loads the model embedded in this build.
pub fn load_default(device: &Device) -> Result<LoadedModel, SegError> {
    match DEFAULT_MODEL {
        Some(bytes) => load_bytes(bytes, Path::new("<embedded default model>"), device),
        None => Err(SegError::NoDefaultModel),
    }
}

/// Whether this build embeds a default model.
pub fn has_default_model() -> bool {
    DEFAULT_MODEL.is_some()
}

/// Loads a model file held in memory; `source` names it in errors.
///
/// A model file is untrusted input. Before anything is built: the configuration is checked
/// against the limits of [`ModelConfig::validate`] (every field bounded, checked
/// arithmetic), and the weights section must be large enough to hold the parameters the
/// configuration declares (so the network built is never larger than the file). The
/// burnpack record is parsed by burn's hardened reader; its tensors must then match the
/// network's shapes exactly, be `f32`, and be finite (no NaN or infinity; BatchNorm
/// running variances not negative), else the file is refused naming the tensor.
pub fn load_bytes(bytes: &[u8], source: &Path, device: &Device) -> Result<LoadedModel, SegError> {
    let bad = |reason: String| SegError::BadModelFile {
        reason,
        path: source.to_path_buf(),
    };
    let (header, weights) = split(bytes, source)?;
    let Header { config, card } = header;
    config.validate().map_err(|e| bad(e.to_string()))?;
    let needed = config
        .checked_num_params()
        .and_then(|n| n.checked_mul(std::mem::size_of::<f32>()));
    match needed {
        Some(n) if n <= weights.len() => {}
        _ => {
            return Err(SegError::WeightsMismatch {
                reason: format!(
                    "the weights section holds {} bytes, too few for the {} f32 parameters the configuration declares",
                    weights.len(),
                    config.num_params()
                ),
                path: source.to_path_buf(),
            });
        }
    }
    check_pack_dtypes(weights).map_err(|e| bad(format!("damaged weights: {e}")))?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(weights.to_vec()))
        .map_err(|e| bad(format!("damaged weights: {e}")))?;
    let model = config.init(device).map_err(|e| bad(e.to_string()))?;
    let model = model
        .try_load_record(record)
        .map_err(|e| SegError::WeightsMismatch {
            reason: e.to_string(),
            path: source.to_path_buf(),
        })?;
    check_weights(&model).map_err(bad)?;
    let id = card.id.clone();
    Ok(LoadedModel {
        config,
        model,
        card,
        weights_sha256: sha256_hex(weights),
        id,
    })
}

/// Most nesting accepted in the burnpack metadata.
const MAX_CBOR_DEPTH: usize = 16;

/// Checks, before burn reads them, that the burnpack metadata of a weights section is
/// well formed and declares every tensor as `f32` (burn would otherwise panic building a
/// float parameter from integer data). A strict whitelist of what burn's writer emits:
/// top-level keys `tensors` (exactly once), `metadata`, `scalars`; descriptor keys `dtype`
/// (exactly once, the text `F32`), `shape`, `data_offsets`, `param_id`, each at most once.
fn check_pack_dtypes(pack: &[u8]) -> Result<(), String> {
    let size = pack
        .get(6..10)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or("the weights section is too short for a burnpack header")?;
    let meta = usize::try_from(size)
        .ok()
        .and_then(|n| n.checked_add(10))
        .and_then(|end| pack.get(10..end))
        .ok_or("the burnpack metadata runs past the end of the file")?;
    let mut cursor = Cbor { bytes: meta, at: 0 };
    let top = cursor.item(0)?;
    if cursor.at != meta.len() {
        return Err("trailing bytes after the burnpack metadata".into());
    }
    let CborItem::Map(entries) = top else {
        return Err("the burnpack metadata is not a map".into());
    };
    let mut tensors = None;
    for (key, value) in entries {
        match key.text() {
            Some("tensors") if tensors.is_none() => tensors = Some(value),
            Some("metadata" | "scalars") => {}
            _ => return Err("unexpected or repeated key in the burnpack metadata".into()),
        }
    }
    let Some(CborItem::Map(tensors)) = tensors else {
        return Err("the burnpack metadata lists no tensors".into());
    };
    for (name, descriptor) in tensors {
        let name = name.text().ok_or("a tensor name is not text")?.to_string();
        let CborItem::Map(fields) = descriptor else {
            return Err(format!("tensor `{name}` has no descriptor"));
        };
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in &fields {
            let key = match key.text() {
                Some(k @ ("dtype" | "shape" | "data_offsets" | "param_id"))
                    if !seen.contains(&k) =>
                {
                    k
                }
                _ => {
                    return Err(format!(
                        "tensor `{name}`: unexpected or repeated descriptor key"
                    ));
                }
            };
            seen.push(key);
            if key == "dtype" && value.text() != Some("F32") {
                return Err(format!("weight tensor `{name}` is not f32"));
            }
        }
        if !seen.contains(&"dtype") {
            return Err(format!("tensor `{name}` has no dtype"));
        }
    }
    Ok(())
}

/// A decoded CBOR item (the subset burnpack metadata uses; definite lengths only).
enum CborItem<'a> {
    Int,
    Text(&'a [u8]),
    Bytes,
    Array,
    Map(Vec<(CborItem<'a>, CborItem<'a>)>),
    Simple,
}

impl CborItem<'_> {
    fn text(&self) -> Option<&str> {
        match self {
            CborItem::Text(t) => std::str::from_utf8(t).ok(),
            _ => None,
        }
    }
}

/// A bounds-checked CBOR reader: every length is checked against the bytes left before
/// anything is sliced, nesting is limited, nothing is preallocated from a length field.
struct Cbor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cbor<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or("truncated burnpack metadata")?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).map_err(|_| "oversized CBOR length")?;
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or("truncated burnpack metadata")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// The argument of an initial byte with additional information `info`.
    fn argument(&mut self, info: u8) -> Result<u64, String> {
        let width = match info {
            0..=23 => return Ok(u64::from(info)),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => return Err("unsupported CBOR encoding (indefinite length)".into()),
        };
        Ok(self
            .take(width)?
            .iter()
            .fold(0u64, |v, &b| (v << 8) | u64::from(b)))
    }

    fn item(&mut self, depth: usize) -> Result<CborItem<'a>, String> {
        if depth > MAX_CBOR_DEPTH {
            return Err("burnpack metadata nested too deeply".into());
        }
        let initial = self.byte()?;
        let (major, info) = (initial >> 5, initial & 0x1f);
        let arg = self.argument(info)?;
        Ok(match major {
            0 | 1 => CborItem::Int,
            2 => {
                self.take(arg)?;
                CborItem::Bytes
            }
            3 => CborItem::Text(self.take(arg)?),
            4 => {
                for _ in 0..arg {
                    self.item(depth + 1)?;
                }
                CborItem::Array
            }
            5 => {
                let mut entries = Vec::new();
                for _ in 0..arg {
                    let key = self.item(depth + 1)?;
                    let value = self.item(depth + 1)?;
                    entries.push((key, value));
                }
                CborItem::Map(entries)
            }
            6 => return Err("unsupported CBOR tag in the burnpack metadata".into()),
            _ => CborItem::Simple,
        })
    }
}

/// Refuses a network whose tensors are not `f32`, hold NaN or infinite values, or whose
/// BatchNorm running variance is negative; the reason names the tensor.
fn check_weights(model: &SegModel) -> Result<(), String> {
    let mut checker = WeightChecker {
        path: Vec::new(),
        error: None,
    };
    model.visit(&mut checker);
    checker.error.map_or(Ok(()), Err)
}

/// Visits every float tensor of a network (parameters and BatchNorm running statistics)
/// and keeps the first problem found.
struct WeightChecker {
    path: Vec<String>,
    error: Option<String>,
}

impl burn::module::ModuleVisitor for WeightChecker {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(
        &mut self,
        param: &burn::module::Param<burn::tensor::Tensor<D>>,
    ) {
        if self.error.is_some() {
            return;
        }
        let name = self.path.join(".");
        let data = param.val().into_data();
        if data.dtype() != burn::tensor::DType::F32 {
            self.error = Some(format!(
                "weight tensor `{name}` is {:?}, expected f32",
                data.dtype()
            ));
            return;
        }
        let values = match data.as_slice::<f32>() {
            Ok(v) => v,
            Err(e) => {
                self.error = Some(format!("weight tensor `{name}` cannot be read: {e:?}"));
                return;
            }
        };
        let non_finite = values.iter().filter(|v| !v.is_finite()).count();
        if non_finite > 0 {
            self.error = Some(format!(
                "weight tensor `{name}` holds {non_finite} NaN or infinite value(s) of {}",
                values.len()
            ));
        } else if self.path.last().is_some_and(|n| n == "running_var")
            && values.iter().any(|&v| v < 0.0)
        {
            self.error = Some(format!(
                "weight tensor `{name}` (a BatchNorm variance) holds negative values"
            ));
        }
    }
}

/// Reads only the configuration and card of a model file (no weights are built); a
/// configuration outside the limits of [`ModelConfig::validate`] is refused.
pub fn read_card(path: &Path) -> Result<(ModelConfig, ModelCard), SegError> {
    let bytes = std::fs::read(path).map_err(|e| SegError::io("reading the model file", path, e))?;
    let (h, _) = split(&bytes, path)?;
    h.config.validate().map_err(|e| SegError::BadModelFile {
        reason: e.to_string(),
        path: path.to_path_buf(),
    })?;
    Ok((h.config, h.card))
}

fn split<'a>(bytes: &'a [u8], source: &Path) -> Result<(Header, &'a [u8]), SegError> {
    let bad = |reason: String| SegError::BadModelFile {
        reason,
        path: source.to_path_buf(),
    };
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(bad("wrong magic bytes".into()));
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != FORMAT_VERSION {
        return Err(bad(format!(
            "format version {version}, this build reads version {FORMAT_VERSION}"
        )));
    }
    let hlen = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
    if hlen > MAX_HEADER || bytes.len() < 16 + hlen + 8 {
        return Err(bad("truncated header".into()));
    }
    let header: Header = serde_json::from_slice(&bytes[16..16 + hlen])
        .map_err(|e| bad(format!("bad header JSON: {e}")))?;
    let mut wlen_bytes = [0u8; 8];
    wlen_bytes.copy_from_slice(&bytes[16 + hlen..24 + hlen]);
    let wlen = u64::from_le_bytes(wlen_bytes);
    let rest = &bytes[24 + hlen..];
    if wlen != rest.len() as u64 {
        return Err(bad(format!(
            "weights section announces {wlen} bytes but {} follow (truncated or padded file)",
            rest.len()
        )));
    }
    Ok((header, rest))
}
