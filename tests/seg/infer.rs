//! Whole-volume inference with a tiny model: progress, order, cancel, and the
//! same labels on the wgpu and CPU backends.

use crate::support;

use burn::tensor::{Device, Tensor, TensorData};
use lungscope::seg::infer::{InferOptions, SliceOrder, segment_volume};
use lungscope::seg::model::Head;
use lungscope::seg::model::weights;
use lungscope::seg::{DeviceChoice, SegError, select_device};
use lungscope::volume::{Geometry, View, Volume, Voxels};
use std::sync::atomic::{AtomicBool, Ordering};

/// A small generated CT in HU: body ellipse, two dark lungs, a denser lesion.
fn phantom_ct() -> Volume {
    let g = Geometry::with_signs([40, 32, 5], [1.5, 1.5, 3.0], [-1.0, -1.0, 1.0]);
    let [nx, ny, nz] = g.dims;
    let mut v = Vec::with_capacity(g.len());
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let (x, y) = ((i as f64 - 19.5) / 18.0, (j as f64 - 15.5) / 13.0);
                let body = x * x + y * y < 1.0;
                let lung = ((x.abs() - 0.45).powi(2) / 0.09 + y * y / 0.5) < 1.0;
                let lesion = ((x - 0.45).powi(2) + (y - 0.1).powi(2)) < 0.02 && k > 1;
                let hu = if !body {
                    -1000
                } else if lesion {
                    -300
                } else if lung {
                    -860 + ((i * 7 + j * 3 + k) % 40) as i16
                } else {
                    30 + ((i + 2 * j) % 25) as i16
                };
                v.push(hu);
            }
        }
    }
    Volume::new(g, Voxels::I16(v)).expect("sizes match")
}

#[test]
fn cpu_inference_reports_each_slice_in_order_and_honours_cancel() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = support::seg::tiny_model_file(dir.path(), Head::Sigmoid { channels: 2 }, 32);
    let device = Device::flex();
    let model = weights::load_file(&path, &device).expect("model loads");
    let vol = phantom_ct();
    let options = InferOptions {
        batch: 2,
        order: SliceOrder::OutwardFrom(2),
        ..InferOptions::default()
    };
    let never = AtomicBool::new(false);
    let mut seen = Vec::new();
    let seg = segment_volume(&model, &device, &vol, &options, &never, &mut |u| {
        // The axial box of this grid: the slice's columns and rows, one voxel deep.
        let (width, height) = (u.region.size[0], u.region.size[1]);
        assert_eq!(u.region.size[2], 1);
        assert_eq!(u.total, 5);
        assert_eq!(u.done, seen.len() + 1);
        assert_eq!(u.labels.len(), width * height);
        assert_eq!((width, height), (40, 32));
        assert!(u.labels.iter().all(|&l| l <= 3));
        seen.push(u.slice);
    })
    .expect("inference runs");
    assert_eq!(seen, vec![2, 3, 1, 4, 0]);
    assert!(seg.mask.geometry.same_grid(&vol.geometry));
    assert_eq!(seg.mask.labels.len(), vol.geometry.len());
    assert!(seg.mask.labels.iter().all(|&l| l <= 3));
    assert_eq!(seg.slices, 5);
    let lung = seg.lung.expect("sigmoid head has a lung map");
    assert!((0.0..=1.0).contains(&lung.mean));

    // Cancelled before the start: no slice is reported.
    let cancelled = AtomicBool::new(true);
    let mut calls = 0;
    let r = segment_volume(&model, &device, &vol, &options, &cancelled, &mut |_| {
        calls += 1
    });
    assert!(matches!(r, Err(SegError::Cancelled)));
    assert_eq!(calls, 0);

    // Cancelled from the progress callback: the job stops early.
    let cancel = AtomicBool::new(false);
    let mut calls = 0;
    let one = InferOptions {
        batch: 1,
        ..options
    };
    let r = segment_volume(&model, &device, &vol, &one, &cancel, &mut |_| {
        calls += 1;
        cancel.store(true, Ordering::Relaxed);
    });
    assert!(matches!(r, Err(SegError::Cancelled)));
    assert!(calls < 5, "{calls} slices after cancel");
}

#[test]
fn softmax_head_runs_through_the_same_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = support::seg::tiny_model_file(dir.path(), Head::Softmax { classes: 3 }, 32);
    let device = Device::flex();
    let model = weights::load_file(&path, &device).expect("model loads");
    let vol = phantom_ct();
    let seg = segment_volume(
        &model,
        &device,
        &vol,
        &InferOptions::default(),
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .expect("inference runs");
    assert!(seg.lung.is_none() && seg.infection.is_some());
    // No lung output: only background and infection labels.
    assert!(seg.mask.labels.iter().all(|&l| l == 0 || l == 3));
}

#[test]
fn wgpu_and_cpu_backends_give_the_same_output() {
    let gpu = match select_device(DeviceChoice::Gpu) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("no wgpu adapter ({e}); skipping the wgpu/CPU comparison");
            return;
        }
    };
    eprintln!("wgpu device: {}", gpu.description);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = support::seg::tiny_model_file(dir.path(), Head::Sigmoid { channels: 2 }, 32);
    let cpu = Device::flex();
    let on_cpu = weights::load_file(&path, &cpu).expect("loads on CPU");
    let on_gpu = weights::load_file(&path, &gpu.device).expect("loads on wgpu");

    // Raw network output on one input.
    let vol = phantom_ct();
    let pre = lungscope::seg::data::preprocess::Preprocessor::new(
        &vol,
        &lungscope::seg::data::preprocess::PreprocessConfig::for_size(32),
    );
    let input = pre.batch_input(&vol, &[0, 3]);
    let run = |m: &lungscope::seg::LoadedModel, d: &Device| -> Vec<f32> {
        let x = Tensor::<4>::from_data(TensorData::new(input.clone(), [2, 1, 32, 32]), d);
        let y = m.model.forward(x);
        y.into_data()
            .as_slice::<f32>()
            .expect("f32 output")
            .to_vec()
    };
    let (a, b) = (run(&on_cpu, &cpu), run(&on_gpu, &gpu.device));
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    eprintln!("largest logit difference wgpu vs CPU: {worst:e}");
    assert!(worst < 1e-3, "logits differ by {worst}");

    // Whole-volume labels. An untrained network's probabilities sit in a narrow
    // band, so the threshold is put at the mean lung probability of a first CPU run:
    // then both classes occur and the comparison means something.
    let never = AtomicBool::new(false);
    let probe = segment_volume(
        &on_cpu,
        &cpu,
        &vol,
        &InferOptions::default(),
        &never,
        &mut |_| {},
    )
    .expect("CPU run");
    let mut opts = InferOptions::default();
    opts.post.threshold = probe.lung.expect("lung stats").mean as f32;
    let la = segment_volume(&on_cpu, &cpu, &vol, &opts, &never, &mut |_| {}).expect("CPU run");
    let lb =
        segment_volume(&on_gpu, &gpu.device, &vol, &opts, &never, &mut |_| {}).expect("wgpu run");
    let same = la
        .mask
        .labels
        .iter()
        .zip(&lb.mask.labels)
        .filter(|(x, y)| x == y)
        .count();
    let frac = same as f64 / la.mask.labels.len() as f64;
    let h = la.mask.histogram();
    eprintln!(
        "threshold {:.4}: labels equal on {:.4} % of voxels; CPU labels 0..=3: {:?}",
        opts.post.threshold,
        100.0 * frac,
        &h[..4]
    );
    assert!(
        h[0] > 0 && h[1] + h[2] + h[3] > 0,
        "background and foreground must both occur: {:?}",
        &h[..4]
    );
    assert!(frac >= 0.995, "only {:.3} % of labels agree", 100.0 * frac);
    assert_eq!(vol.slice_count(View::Axial), la.slices);
}

#[test]
fn background_job_streams_slices_then_the_result() {
    use lungscope::seg::infer::job::{SegEvent, SegJob};
    use std::sync::Arc;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = support::seg::tiny_model_file(dir.path(), Head::Sigmoid { channels: 2 }, 32);
    let device = Device::flex();
    let model = Arc::new(weights::load_file(&path, &device).expect("model loads"));
    let vol = Arc::new(phantom_ct());
    let wakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let w = Arc::clone(&wakes);
    let options = InferOptions {
        batch: 2,
        order: SliceOrder::OutwardFrom(4),
        ..InferOptions::default()
    };
    let job = SegJob::spawn(
        Arc::clone(&model),
        device.clone(),
        Arc::clone(&vol),
        options,
        move || {
            w.fetch_add(1, Ordering::Relaxed);
        },
    );
    let mut slices = Vec::new();
    let result = loop {
        match job.wait_event().expect("the job ends with Finished") {
            SegEvent::Slice {
                slice,
                labels,
                region,
                ..
            } => {
                let (width, height) = (region.size[0], region.size[1]);
                assert_eq!(labels.len(), width * height);
                slices.push(slice);
            }
            SegEvent::Finished(r) => break r,
        }
    };
    let seg = result.expect("job succeeds");
    assert_eq!(slices, vec![4, 3, 2, 1, 0]);
    assert!(seg.mask.geometry.same_grid(&vol.geometry));
    // wake runs right after each message is sent; the channel closes when the
    // worker ends, so after `None` every wake has happened
    assert!(job.wait_event().is_none());
    assert_eq!(
        wakes.load(Ordering::Relaxed),
        6,
        "one wake per slice and one at the end"
    );

    // A cancelled job still ends with exactly one Finished message.
    let job = SegJob::spawn(
        model,
        device,
        vol,
        InferOptions {
            batch: 1,
            ..options
        },
        || {},
    );
    job.cancel();
    let mut finished = 0;
    while let Some(e) = job.wait_event() {
        if let SegEvent::Finished(r) = e {
            finished += 1;
            assert!(matches!(r, Ok(_) | Err(SegError::Cancelled)));
        }
    }
    assert_eq!(finished, 1);
}
