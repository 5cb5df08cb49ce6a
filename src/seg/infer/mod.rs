//! Whole-volume inference: every axial slice through the network in batches on the
//! selected device, with progress (each finished slice's labels as a storage-order
//! voxel box, for live overlays), cancellation and a choice of processing order (the
//! visible slice first, then outwards).
//!
//! Pipeline per batch: [`Preprocessor::batch_input`] (CPU, parallel over slices)
//! → `[B, 1, S, S]` tensor → network → head probabilities `[B, C, S, S]` → read
//! back → [`SliceDecoder::decode`] (parallel) → volume masks. The next batch is
//! prepared while the device computes the current one. After the last batch,
//! [`postprocess::finish`] cleans the masks in 3-D and splits the lungs.

pub mod job;
pub mod postprocess;
pub mod stamp;

use crate::analysis::{PhysicsReport, body_center_x_mm, physics};
use crate::mask::LabelMask;
use crate::seg::SegError;
use crate::seg::cpu_engine::CpuNet;
use crate::seg::data::preprocess::{Intensity, PreprocessConfig, Preprocessor};
use crate::seg::data::resample::Letterbox;
use crate::seg::model::weights::LoadedModel;
use crate::volume::{HuCheck, Region, SliceMap, View, Volume};
use burn::tensor::{Device, Tensor, TensorData};
use postprocess::{
    CleanupReport, HeadMapping, PostprocessConfig, ProbAccum, ProbStats, SliceDecoder, SliceMasks,
};
use rayon::prelude::*;
use serde::Serialize;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The order in which slices are processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SliceOrder {
    /// Slice 0 first.
    #[default]
    Ascending,
    /// Slice `k` first, then `k + 1, k - 1, k + 2, ...` (the visible slice and its
    /// neighbours appear first in the viewer).
    OutwardFrom(usize),
}

impl SliceOrder {
    /// All slice numbers `0..n` in this order.
    pub fn sequence(self, n: usize) -> Vec<usize> {
        match self {
            SliceOrder::Ascending => (0..n).collect(),
            SliceOrder::OutwardFrom(k) => {
                if n == 0 {
                    return Vec::new();
                }
                let k = k.min(n - 1);
                let mut out = Vec::with_capacity(n);
                out.push(k);
                for d in 1..n {
                    if k + d < n {
                        out.push(k + d);
                    }
                    if d <= k {
                        out.push(k - d);
                    }
                }
                out
            }
        }
    }
}

/// Which code runs the network when the device is the CPU.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum CpuEngine {
    /// lungscope's own channels-last engine ([`crate::seg::cpu_engine`]): the fast path.
    #[default]
    Native,
    /// burn's flex backend, layer for layer as burn's training graph (for comparison).
    Flex,
}

/// Inference settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InferOptions {
    /// Slices per network call.
    pub batch: usize,
    /// Thresholds and 3-D cleanup.
    pub post: PostprocessConfig,
    /// Processing order.
    pub order: SliceOrder,
    /// The engine used on a CPU device (ignored on a GPU).
    pub cpu_engine: CpuEngine,
}

impl Default for InferOptions {
    fn default() -> Self {
        Self {
            batch: 4,
            post: PostprocessConfig::default(),
            order: SliceOrder::Ascending,
            cpu_engine: CpuEngine::default(),
        }
    }
}

/// One finished slice, reported while the volume is being segmented.
#[derive(Debug, Clone, Copy)]
pub struct SliceUpdate<'a> {
    /// Slices finished so far (this one included).
    pub done: usize,
    /// Slices in the volume.
    pub total: usize,
    /// Axial slice number of this slice.
    pub slice: usize,
    /// The voxels of this slice on the volume's grid: one voxel thick across the
    /// axial axis.
    pub region: Region,
    /// Preview labels of `region`, in storage order (`i` fastest, as
    /// [`Region::for_each`]): ready to write into a label mask of the volume's
    /// grid. See [`postprocess::preview_labels`].
    pub labels: &'a [u8],
}

/// What the model made of a volume: the final label map with the model's
/// probability statistics and provenance. (The analysis reads a label map as
/// [`analysis::Segmentation`](crate::analysis::Segmentation): lung voxels with
/// their side.)
#[derive(Debug, Clone, Serialize)]
pub struct ModelSegmentation {
    /// Labels on the volume's grid: 0 background, 1 left lung, 2 right lung, 3 infection.
    #[serde(skip)]
    pub mask: LabelMask,
    /// Lung probability statistics (none if the head has no lung output).
    pub lung: Option<ProbStats>,
    /// Infection probability statistics (none if the head has no infection output).
    pub infection: Option<ProbStats>,
    /// What the 3-D cleanup removed and how the lungs were split.
    pub cleanup: CleanupReport,
    /// The intensity path the preprocessing took.
    pub intensity: Intensity,
    /// The HU guard's verdict behind that choice.
    pub hu_check: HuCheck,
    /// Where the slices sat in the model input.
    pub letterbox: Letterbox,
    /// Identifier of the model used.
    pub model_id: String,
    /// Slices processed.
    pub slices: usize,
    /// Wall time of the whole job in seconds.
    pub elapsed_s: f64,
    /// Of which spent in the network and reading its output back.
    pub network_s: f64,
}

/// Segments every axial slice of `volume` with `model` on `device` (the device
/// the model was loaded on).
///
/// `progress` is called on the calling thread once per finished slice, in
/// processing order. Setting `cancel` stops the job before the next batch with
/// [`SegError::Cancelled`].
pub fn segment_volume(
    model: &LoadedModel,
    device: &Device,
    volume: &Volume,
    options: &InferOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(SliceUpdate<'_>),
) -> Result<ModelSegmentation, SegError> {
    let start = Instant::now();
    let cfg = &model.config;
    if cfg.in_channels != 1 {
        return Err(SegError::InvalidConfig(format!(
            "the model expects {} input channels; inference feeds one CT slice",
            cfg.in_channels
        )));
    }
    if volume.geometry.is_empty() {
        return Err(SegError::data(
            "the volume has no voxels",
            volume_path(volume),
        ));
    }
    let pre = Preprocessor::new(volume, &PreprocessConfig::for_size(cfg.input_size));
    let map = volume.slice_map(View::Axial);
    let mapping = HeadMapping::of(&cfg.head);
    let decoder = SliceDecoder {
        mapping,
        letterbox: *pre.letterbox(),
        threshold: options.post.threshold,
    };
    let body_x = body_center_x_mm(volume);
    let midline = body_x.unwrap_or_else(|| grid_center_x(volume));
    let n_vox = volume.geometry.len();
    let mut lung = mapping.lung.map(|_| vec![false; n_vox]);
    let mut infection = mapping.infection.map(|_| vec![false; n_vox]);
    let (mut lung_acc, mut inf_acc) = (ProbAccum::default(), ProbAccum::default());

    let order = options.order.sequence(map.depth);
    let total = order.len();
    let mut done = 0usize;
    let mut network_s = 0.0f64;
    let native = if options.cpu_engine == CpuEngine::Native && *device == Device::flex() {
        Some(CpuNet::from_model(&model.model, cfg)?)
    } else {
        None
    };
    let mut pending: Option<(&[usize], Output)> = None;
    let mut chunks = order.chunks(options.batch.max(1));
    loop {
        // Checked every round, also after the last submission: the results of one
        // batch are read back only after the next is submitted.
        if cancel.load(Ordering::Relaxed) {
            return Err(SegError::Cancelled);
        }
        // Submit the next batch before reading the previous one back, so the CPU
        // work of one overlaps the device work of the other.
        let submitted = match chunks.next() {
            Some(chunk) => {
                let input = pre.batch_input(volume, chunk);
                let t = Instant::now();
                let probs = match &native {
                    Some(net) => Output::Ready(net.probabilities(&input, chunk.len())?),
                    None => {
                        Output::Device(Box::new(run_network(model, device, input, chunk.len())?))
                    }
                };
                network_s += t.elapsed().as_secs_f64();
                Some((chunk, probs))
            }
            None => None,
        };
        let Some((chunk, probs)) = std::mem::replace(&mut pending, submitted) else {
            if pending.is_none() {
                break;
            }
            continue;
        };
        let t = Instant::now();
        let data = match probs {
            Output::Ready(data) => data,
            Output::Device(t) => read_back(*t)?,
        };
        network_s += t.elapsed().as_secs_f64();
        let per_slice = mapping.channels * cfg.input_size * cfg.input_size;
        let decoded: Vec<SliceMasks> = data
            .par_chunks(per_slice.max(1))
            .take(chunk.len())
            .map(|p| decoder.decode(p))
            .collect();
        for (&k, masks) in chunk.iter().zip(&decoded) {
            store(&map, volume, k, masks, &mut lung, &mut infection);
            lung_acc.merge(&masks.lung_stats);
            inf_acc.merge(&masks.infection_stats);
            done += 1;
            let preview = postprocess::preview_labels(masks, &volume.geometry, &map, k, midline);
            let (region, labels) = map.slice_box(k, &preview).ok_or_else(|| {
                SegError::Backend(format!("the preview of slice {k} does not fit the grid"))
            })?;
            progress(SliceUpdate {
                done,
                total,
                slice: k,
                region,
                labels: &labels,
            });
        }
    }

    if cancel.load(Ordering::Relaxed) {
        return Err(SegError::Cancelled);
    }
    let physics = match &options.post.physics {
        Some(cfg) => physics::gate(volume, lung.as_deref_mut(), infection.as_deref_mut(), cfg),
        None => PhysicsReport {
            applied: false,
            note: "HU physics turned off".to_string(),
            ..PhysicsReport::default()
        },
    };
    let (mask, mut cleanup) =
        postprocess::finish(&volume.geometry, lung, infection, &options.post, body_x).map_err(
            |e| SegError::data(format!("postprocessing failed: {e}"), volume_path(volume)),
        )?;
    cleanup.physics = physics;
    Ok(ModelSegmentation {
        mask,
        lung: mapping.lung.map(|_| lung_acc.stats()),
        infection: mapping.infection.map(|_| inf_acc.stats()),
        cleanup,
        intensity: *pre.intensity(),
        hu_check: pre.hu_check().clone(),
        letterbox: *pre.letterbox(),
        model_id: model.id.clone(),
        slices: total,
        elapsed_s: start.elapsed().as_secs_f64(),
        network_s,
    })
}

/// The probabilities of one batch: on the host already (CPU engine), or a tensor
/// still to be read back from the device.
enum Output {
    Ready(Vec<f32>),
    Device(Box<Tensor<4>>),
}

/// `[B, 1, S, S]` input → `[B, C, S, S]` probabilities (not yet read back).
fn run_network(
    model: &LoadedModel,
    device: &Device,
    input: Vec<f32>,
    batch: usize,
) -> Result<Tensor<4>, SegError> {
    let s = model.config.input_size;
    let head = model.config.head;
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        let x = Tensor::<4>::from_data(TensorData::new(input, [batch, 1, s, s]), device); // [B, 1, S, S]
        let logits = model.model.forward(x); // [B, C, S, S]
        head.probabilities(logits) // [B, C, S, S]
    }))
    .map_err(|p| SegError::Backend(format!("the network failed: {}", panic_text(&p))))
}

/// Reads probabilities back to the host as `f32`.
fn read_back(probs: Tensor<4>) -> Result<Vec<f32>, SegError> {
    let data = std::panic::catch_unwind(AssertUnwindSafe(|| probs.try_into_data_as::<f32>()))
        .map_err(|p| SegError::Backend(format!("reading the output failed: {}", panic_text(&p))))?
        .map_err(|e| SegError::Backend(format!("reading the output failed: {e:?}")))?;
    data.as_slice::<f32>()
        .map(<[f32]>::to_vec)
        .map_err(|e| SegError::Backend(format!("unexpected output type: {e:?}")))
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "panic in the tensor backend".to_string())
}

/// Writes one slice's masks into the volume masks.
fn store(
    map: &SliceMap,
    volume: &Volume,
    k: usize,
    masks: &SliceMasks,
    lung: &mut Option<Vec<bool>>,
    infection: &mut Option<Vec<bool>>,
) {
    let dims = volume.geometry.dims;
    if let (Some(vol), Some(m)) = (lung.as_mut(), masks.lung.as_ref()) {
        map.insert(dims, vol, k, m);
    }
    if let (Some(vol), Some(m)) = (infection.as_mut(), masks.infection.as_ref()) {
        map.insert(dims, vol, k, m);
    }
}

fn grid_center_x(volume: &Volume) -> f64 {
    let d = volume.geometry.dims;
    let c = [
        (d[0] as f64 - 1.0) / 2.0,
        (d[1] as f64 - 1.0) / 2.0,
        (d[2] as f64 - 1.0) / 2.0,
    ];
    volume.geometry.vox2mm(c)[0]
}

fn volume_path(volume: &Volume) -> std::path::PathBuf {
    volume
        .info
        .path
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("<volume>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outward_order_visits_every_slice_once_nearest_first() {
        let seq = SliceOrder::OutwardFrom(3).sequence(6);
        assert_eq!(seq, vec![3, 4, 2, 5, 1, 0]);
        let mut sorted = seq.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..6).collect::<Vec<_>>());
        assert_eq!(SliceOrder::OutwardFrom(99).sequence(3), vec![2, 1, 0]);
        assert_eq!(SliceOrder::OutwardFrom(0).sequence(0), Vec::<usize>::new());
        assert_eq!(SliceOrder::Ascending.sequence(3), vec![0, 1, 2]);
    }

    /// The viewer runs inference on a worker thread: the inputs must move there.
    #[test]
    fn inference_inputs_can_move_to_a_worker_thread() {
        fn send<T: Send>() {}
        fn sync<T: Sync>() {}
        send::<LoadedModel>();
        send::<Device>();
        sync::<Volume>();
        send::<ModelSegmentation>();
    }
}
