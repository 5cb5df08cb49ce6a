//! Gradient equivalence with burn's autodiff: the same weights and batch through
//! burn (flex, autodiff, training mode) and through the engine give the same loss,
//! the same gradient for every parameter, the same running statistics, and the same
//! weights after Adam steps.

use burn::module::{Module, ModuleMapper, Param as BurnParam};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

use super::*;
use crate::seg::model::{Head, UpMode};
use crate::seg::train::loss::loss as burn_loss;

struct GradsAsWeights<'a> {
    grads: &'a GradientsParams,
}

impl ModuleMapper for GradsAsWeights<'_> {
    fn map_float<const D: usize>(&mut self, param: BurnParam<Tensor<D>>) -> BurnParam<Tensor<D>> {
        let g = self.grads.get::<D>(param.id);
        param.map(|t| match g {
            Some(g) => g,
            None => t.zeros_like(),
        })
    }
}

/// Replaces every weight by a deterministic value in the range burn drew it from
/// (constant tensors, BatchNorm's scale and shift, get a small spread): the checks
/// run on the same numbers every time, whatever the tests around them draw.
struct Deterministic {
    param: u64,
}

impl ModuleMapper for Deterministic {
    fn map_float<const D: usize>(&mut self, param: BurnParam<Tensor<D>>) -> BurnParam<Tensor<D>> {
        self.param += 1;
        let k = self.param;
        param.map(|t| {
            let shape = t.shape();
            let device = t.device();
            let v: Vec<f32> = t.into_data().try_to_vec::<f32>().expect("f32 weights");
            let lo = v.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let u = |i: usize| {
                let mut h = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ k.wrapping_mul(0xBF58_476D_1CE4_E5B9);
                h ^= h >> 31;
                h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
                h ^= h >> 29;
                (h >> 40) as f32 / (1u64 << 24) as f32
            };
            let out: Vec<f32> = (0..v.len())
                .map(|i| {
                    if hi > lo {
                        lo + (hi - lo) * u(i)
                    } else {
                        lo + 0.2 * (u(i) - 0.5)
                    }
                })
                .collect();
            Tensor::from_data(TensorData::new(out, shape), &device)
        })
    }
}

/// A network of `config` with deterministic weights, in training mode on flex.
fn init(config: &ModelConfig, device: &Device) -> SegModel {
    config
        .init(device)
        .expect("model")
        .map(&mut Deterministic { param: 0 })
        .train()
}

fn config(arch: Arch, up: UpMode, batch_norm: bool, head: Head) -> ModelConfig {
    ModelConfig {
        arch,
        in_channels: 1,
        base: 8,
        depth: 2,
        batch_norm,
        up,
        head,
        input_size: 16,
    }
}

/// A batch with structure: images in [0, 1], targets 0/1 per channel (sigmoid) or
/// one-hot (softmax).
fn batch(config: &ModelConfig, n: usize, seed: usize) -> (Vec<f32>, Vec<f32>) {
    let s = config.input_size;
    let c = config.head.out_channels();
    let images: Vec<f32> = (0..n * s * s)
        .map(|i| {
            let (b, y, x) = (i / (s * s), (i / s) % s, i % s);
            (0.5 + 0.45 * ((x * 3 + y * 5 + b * 7 + seed) as f32 * 0.37).sin()).clamp(0.0, 1.0)
        })
        .collect();
    let mut targets = vec![0.0f32; n * c * s * s];
    for b in 0..n {
        for p in 0..s * s {
            let (y, x) = (p / s, p % s);
            let r2 = (x as i64 - 8).pow(2) + (y as i64 - 7 - b as i64).pow(2);
            match config.head {
                Head::Sigmoid { .. } => {
                    for ch in 0..c {
                        let on = r2 < 20 + 15 * ch as i64 + seed as i64;
                        targets[(b * c + ch) * s * s + p] = f32::from(u8::from(on));
                    }
                }
                Head::Softmax { .. } => {
                    let class = ((r2 / 12) as usize + seed) % c;
                    targets[(b * c + class) * s * s + p] = 1.0;
                }
            }
        }
    }
    (images, targets)
}

fn tensor4(v: &[f32], shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), device)
}

/// `‖got − want‖ / ‖want‖`.
fn l2_relative(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let (mut d, mut n) = (0.0f64, 0.0f64);
    for (a, b) in got.iter().zip(want) {
        d += f64::from(a - b).powi(2);
        n += f64::from(*b).powi(2);
    }
    (d / n.max(1e-30)).sqrt()
}

/// Largest difference relative to the largest magnitude of `want`.
fn relative_error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max)
        / scale
}

/// Loss and gradients through burn and through the engine; checks they agree.
fn check_gradients(config: &ModelConfig, kind: LossKind, frozen_bn: bool) {
    let ad = Device::flex().autodiff();
    let mut model = init(config, &ad);
    if frozen_bn {
        // Non-trivial running statistics, then kept fixed.
        let (x, _) = batch(config, 2, 5);
        let _ = model.forward(tensor4(&x, [2, 1, 16, 16], &ad));
        model = model.with_batch_norm_training(false);
    }
    let mut engine = TrainNet::from_model(&model, config, 0.0)
        .expect("engine")
        .with_batch_stats(!frozen_bn);
    let n = 2;
    let (x, t) = batch(config, n, 1);
    let s = config.input_size;
    let c = config.head.out_channels();
    let logits = model.forward(tensor4(&x, [n, 1, s, s], &ad));
    let l = burn_loss(kind, &config.head, logits, tensor4(&t, [n, c, s, s], &ad));
    let want_loss: f32 = l.clone().into_scalar();
    let grads = GradientsParams::from_grads(l.backward(), &model);
    // Read before mapping: the mapper also visits (and would overwrite) the shared
    // running statistics.
    let after = TrainNet::from_model(&model, config, 0.0).expect("burn after");
    let grad_model = model.clone().map(&mut GradsAsWeights { grads: &grads });
    let mut want = TrainNet::from_model(&grad_model, config, 0.0).expect("gradients");

    let (got_loss, _) = engine
        .loss_and_gradients(&x, &t, n, kind)
        .expect("engine step");
    let what = format!("{config:?} {kind:?} frozen BN {frozen_bn}");
    assert!(
        (got_loss - f64::from(want_loss)).abs() <= 1e-5 * f64::from(want_loss.abs()).max(1.0),
        "{what}: loss {got_loss} vs burn {want_loss}"
    );
    let got_params = engine.params_mut();
    let want_params = want.params_mut();
    assert_eq!(got_params.len(), want_params.len());
    // Tolerance: with batch-statistics BatchNorm the gradients pass through
    // BatchNorm's backward, whose terms cancel (its gradient sums to zero per
    // channel), so float rounding is amplified there: burn's own result moves by up
    // to about 1e-2 (relative L2) from one process to the next (its reduction order
    // varies with the thread schedule; 2.4e-2 was seen once with the other core
    // busy), and such networks are allowed 5e-2 (a wrong backward is off by far more
    // than that). Networks without BatchNorm or with kept statistics agree to about
    // 1e-6 and are allowed 1e-4.
    let allowed = if config.batch_norm && !frozen_bn {
        5e-2
    } else {
        1e-4
    };
    for (i, (g, w)) in got_params.iter().zip(&want_params).enumerate() {
        let err = l2_relative(&g.g, &w.v);
        assert!(
            err < allowed,
            "{what}: parameter {i} gradient off by {err} (relative, L2; allowed {allowed})"
        );
    }
    // Running statistics updated as burn updates them (or kept).
    let stats = |net: &TrainNet| -> Vec<f32> {
        let mut v = Vec::new();
        let mut push = |d: &DoubleT| {
            for c in [&d.c1, &d.c2] {
                if let Some(bn) = &c.bn {
                    v.extend_from_slice(&bn.mean);
                    v.extend_from_slice(&bn.var);
                }
            }
        };
        push(&net.inc);
        net.downs.iter().for_each(&mut push);
        net.nodes.iter().for_each(|n| push(&n.conv));
        v
    };
    let err = relative_error(&stats(&engine), &stats(&after));
    assert!(err < 1e-4, "{what}: running statistics off by {err}");
}

#[test]
fn every_loss_on_both_heads_matches_burn_autodiff() {
    for head in [Head::Sigmoid { channels: 2 }, Head::Softmax { classes: 3 }] {
        for kind in [
            LossKind::Bce,
            LossKind::Dice,
            LossKind::BceDice,
            LossKind::Focal,
            LossKind::FocalDice,
            LossKind::CrossEntropy,
            LossKind::BceTversky,
        ] {
            check_gradients(
                &config(Arch::Unet, UpMode::Transpose, true, head),
                kind,
                false,
            );
        }
    }
}

#[test]
fn every_architecture_option_matches_burn_autodiff() {
    for arch in [Arch::Unet, Arch::UnetPlusPlus] {
        for up in [UpMode::Transpose, UpMode::Bilinear] {
            for bn in [true, false] {
                let head = Head::Sigmoid { channels: 1 };
                check_gradients(&config(arch, up, bn, head), LossKind::BceDice, false);
            }
        }
    }
}

#[test]
fn fixed_batch_norm_statistics_match_burn_autodiff() {
    for arch in [Arch::Unet, Arch::UnetPlusPlus] {
        let c = config(arch, UpMode::Transpose, true, Head::Sigmoid { channels: 2 });
        check_gradients(&c, LossKind::BceDice, true);
    }
}

#[test]
fn adam_steps_give_burns_weights() {
    // Without BatchNorm: its cancelling weight gradients (see `check_gradients`)
    // would turn float noise into ±lr Adam steps; BatchNorm's gradients are checked
    // there, Adam's arithmetic here.
    let c = config(
        Arch::Unet,
        UpMode::Transpose,
        false,
        Head::Sigmoid { channels: 2 },
    );
    let ad = Device::flex().autodiff();
    let mut model = init(&c, &ad);
    let wd = 1e-2;
    let mut engine = TrainNet::from_model(&model, &c, wd).expect("engine");
    let mut optim = crate::seg::train::optimizer(wd);
    let lr = 1e-2;
    for step in 0..3 {
        let (x, t) = batch(&c, 2, step);
        let logits = model.forward(tensor4(&x, [2, 1, 16, 16], &ad));
        let l = burn_loss(
            LossKind::BceDice,
            &c.head,
            logits,
            tensor4(&t, [2, 2, 16, 16], &ad),
        );
        let grads = GradientsParams::from_grads(l.backward(), &model);
        model = optim.step(lr, model, grads);
        engine
            .step(&x, &t, 2, LossKind::BceDice, lr)
            .expect("engine step");
    }
    let mut want = TrainNet::from_model(&model, &c, wd).expect("burn weights");
    for (i, (g, w)) in engine
        .params_mut()
        .iter()
        .zip(want.params_mut())
        .enumerate()
    {
        // Adam divides by the root of the second moment, so a gradient component
        // that is float noise in both (a direction BatchNorm makes irrelevant) can
        // step by ±lr either way: a few components may differ by up to 2·lr per
        // step; all others agree closely.
        let scale = w.v.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let off =
            g.v.iter()
                .zip(&w.v)
                .filter(|(a, b)| (*a - *b).abs() > 1e-3 * scale)
                .count();
        let worst =
            g.v.iter()
                .zip(&w.v)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
        assert!(
            off * 200 <= g.v.len() && worst <= 6.0 * lr as f32,
            "parameter {i} after 3 Adam steps: {off} of {} values off, worst {worst}",
            g.v.len()
        );
    }
    // And back into burn: the engine's weights become the model's.
    let back = engine.to_model(&model).expect("to model");
    let mut again = TrainNet::from_model(&back, &c, wd).expect("reimport");
    for (g, w) in engine.params_mut().iter().zip(again.params_mut()) {
        assert_eq!(g.v, w.v);
    }
}

#[test]
fn the_tape_size_is_known_before_the_step() {
    for arch in [Arch::Unet, Arch::UnetPlusPlus] {
        for bn in [true, false] {
            let c = config(arch, UpMode::Transpose, bn, Head::Sigmoid { channels: 2 });
            let model = init(&c, &Device::flex().autodiff());
            let mut engine = TrainNet::from_model(&model, &c, 0.0).expect("engine");
            let batch = 3;
            let x = Fmap {
                n: batch,
                h: 16,
                w: 16,
                c: 1,
                data: vec![0.5; batch * 256],
            };
            let (tape, _) = engine.forward(x);
            let mut values = tape.input.data.len();
            values += tape.maps.iter().map(|m| m.data.len()).sum::<usize>();
            let dc = |d: &DoubleCache| d.c1.z.len() + d.a1.data.len() + d.c2.z.len();
            values += tape.enc.iter().map(dc).sum::<usize>();
            values += tape
                .nodes
                .iter()
                .map(|n| n.cat.data.len() + dc(&n.dc))
                .sum::<usize>();
            assert_eq!(
                engine.activation_bytes(batch),
                4 * values as u64,
                "{arch:?} BatchNorm {bn}"
            );
        }
    }
}
