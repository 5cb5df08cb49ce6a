//! The training engine's layers: forward passes that keep what their backward
//! needs, and the backward passes themselves (3×3 convolution with BatchNorm and
//! ReLU, the double-convolution block, 1×1 convolution, decoder up-sampling).

use super::super::buffers::Buffers;
use super::super::winograd::Winograd3;
use super::super::{Conv1, Conv3, ConvAlgo, Fmap, Up};
use super::channels::{affine_relu, bn_relu_backward, channel_sums, mean_var};
use super::kernels::{
    conv3_weight_grad, gather_blocks, pixels_t_times, relu_backward, times_weights_t,
    upsample_bilinear2_adjoint,
};
use super::{ConvCache, ConvT, DoubleCache, DoubleT, LinearT, Param, UpT};

/// Fewest input channels for which a training step runs a 3×3 convolution (and
/// its input gradient, whose input channels are the convolution's outputs) in the
/// Winograd domain; narrower ones run as im2col GEMMs. Higher than inference's
/// [`super::super::WINOGRAD_MIN_CIN`] (8): a step transforms the weights anew for
/// every call (they change), and at 8–15 channels the transforms and the thin
/// per-position GEMMs cost more than im2col. Measured on the default model's
/// configuration (base 12, 160², batch 8; 2-core AVX-512 Xeon, three alternating
/// rounds): 23.3–24.0 images/s against 21.7–22.9 with the inference threshold.
pub(super) const TRAIN_WINOGRAD_MIN_CIN: usize = 16;

impl ConvT {
    /// The convolution as the inference engine runs it: bias (zeros with
    /// BatchNorm), ReLU only without BatchNorm.
    pub(super) fn engine(&self) -> Conv3 {
        let b = match &self.b {
            Some(b) => b.v.clone(),
            None => vec![0.0; self.cout],
        };
        let relu = self.bn.is_none();
        let wino = (self.cin >= TRAIN_WINOGRAD_MIN_CIN).then(|| {
            let w = Winograd3::new(self.cin, self.cout, &self.w.v, &b);
            if relu { w } else { w.linear() }
        });
        Conv3 {
            cin: self.cin,
            cout: self.cout,
            w: self.w.v.clone(),
            b,
            wino,
            relu,
        }
    }

    /// The convolution that maps the output gradient to the input gradient: the
    /// kernels flipped in space and transposed in channels, no bias, no ReLU.
    pub(super) fn flipped(&self) -> Conv3 {
        let (cin, cout) = (self.cin, self.cout);
        let mut w = vec![0.0f32; 9 * cin * cout];
        for t in 0..9 {
            for ci in 0..cin {
                for co in 0..cout {
                    w[((8 - t) * cout + co) * cin + ci] = self.w.v[(t * cin + ci) * cout + co];
                }
            }
        }
        let b = vec![0.0; cin];
        let wino =
            (cout >= TRAIN_WINOGRAD_MIN_CIN).then(|| Winograd3::new(cout, cin, &w, &b).linear());
        Conv3 {
            cin: cout,
            cout: cin,
            w,
            b,
            wino,
            relu: false,
        }
    }

    pub(super) fn forward(
        &mut self,
        x: &Fmap,
        batch_stats: bool,
        pool: &Buffers,
    ) -> (Fmap, ConvCache) {
        let z = self.engine().forward(x, ConvAlgo::Auto, pool);
        let Some(bn) = &mut self.bn else {
            return (
                z,
                ConvCache {
                    z: Vec::new(),
                    mean: Vec::new(),
                    inv_std: Vec::new(),
                },
            );
        };
        let c = self.cout;
        let (mean, var): (Vec<f32>, Vec<f32>) = if batch_stats {
            let (m, v) = mean_var(&z.data, c);
            let k = bn.momentum;
            for ch in 0..c {
                bn.mean[ch] = (f64::from(bn.mean[ch]) * (1.0 - k) + m[ch] * k) as f32;
                bn.var[ch] = (f64::from(bn.var[ch]) * (1.0 - k) + v[ch] * k) as f32;
            }
            (
                m.iter().map(|&v| v as f32).collect(),
                v.iter().map(|&v| v as f32).collect(),
            )
        } else {
            (bn.mean.clone(), bn.var.clone())
        };
        let inv_std: Vec<f32> = var
            .iter()
            .map(|&v| (1.0 / (f64::from(v) + bn.eps).sqrt()) as f32)
            .collect();
        let scale: Vec<f32> = bn
            .gamma
            .v
            .iter()
            .zip(&inv_std)
            .map(|(g, i)| g * i)
            .collect();
        let shift: Vec<f32> = bn
            .beta
            .v
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        let mut a = Fmap::for_overwrite(pool, z.n, z.h, z.w, c);
        affine_relu(&z.data, c, &scale, &shift, &mut a.data);
        (
            a,
            ConvCache {
                z: z.data,
                mean,
                inv_std,
            },
        )
    }

    /// From the gradient `g` of the output `a` (input `x`): accumulates the
    /// parameter gradients and returns the input's gradient when `need_dx`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn backward(
        &mut self,
        x: &Fmap,
        a: &Fmap,
        cache: &ConvCache,
        mut g: Vec<f32>,
        batch_stats: bool,
        need_dx: bool,
        pool: &Buffers,
    ) -> Option<Vec<f32>> {
        let c = self.cout;
        match &mut self.bn {
            None => {
                relu_backward(&mut g, &a.data);
                if let Some(b) = &mut self.b {
                    b.add_grad_f64(&channel_sums(&g, c));
                }
            }
            Some(bn) => {
                let (dgamma, dbeta) = bn_relu_backward(
                    &mut g,
                    &a.data,
                    &cache.z,
                    c,
                    &cache.mean,
                    &cache.inv_std,
                    &bn.gamma.v,
                    batch_stats,
                );
                bn.gamma.add_grad(&dgamma);
                bn.beta.add_grad(&dbeta);
                if let Some(b) = &mut self.b {
                    // A bias before batch-statistics BatchNorm has no effect (zero
                    // gradient); before fixed statistics it acts as a shift.
                    b.add_grad_f64(&channel_sums(&g, c));
                }
            }
        }
        self.w.add_grad(&conv3_weight_grad(x, &g, c));
        if !need_dx {
            return None;
        }
        let dz = Fmap {
            n: x.n,
            h: x.h,
            w: x.w,
            c,
            data: g,
        };
        let dx = self.flipped().forward(&dz, ConvAlgo::Auto, pool);
        pool.recycle(dz.data);
        Some(dx.data)
    }

    pub(super) fn params<'a>(&'a mut self, out: &mut Vec<&'a mut Param>) {
        out.push(&mut self.w);
        if let Some(b) = &mut self.b {
            out.push(b);
        }
        if let Some(bn) = &mut self.bn {
            out.push(&mut bn.gamma);
            out.push(&mut bn.beta);
        }
    }
}

impl DoubleT {
    pub(super) fn forward(&mut self, x: &Fmap, bs: bool, pool: &Buffers) -> (Fmap, DoubleCache) {
        let (a1, c1) = self.c1.forward(x, bs, pool);
        let (a2, c2) = self.c2.forward(&a1, bs, pool);
        (a2, DoubleCache { c1, a1, c2 })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn backward(
        &mut self,
        x: &Fmap,
        a2: &Fmap,
        cache: &DoubleCache,
        g: Vec<f32>,
        bs: bool,
        need_dx: bool,
        pool: &Buffers,
    ) -> Option<Vec<f32>> {
        let g1 = self
            .c2
            .backward(&cache.a1, a2, &cache.c2, g, bs, true, pool)?;
        self.c1
            .backward(x, &cache.a1, &cache.c1, g1, bs, need_dx, pool)
    }

    pub(super) fn params<'a>(&'a mut self, out: &mut Vec<&'a mut Param>) {
        self.c1.params(out);
        self.c2.params(out);
    }
}

impl LinearT {
    pub(super) fn engine(&self) -> Conv1 {
        Conv1 {
            cin: self.cin,
            cout: self.cout,
            w: self.w.v.clone(),
            b: self.b.v.clone(),
        }
    }

    pub(super) fn forward(&self, x: &Fmap, pool: &Buffers) -> Fmap {
        self.engine().forward(x, pool)
    }

    /// Accumulates the weight and bias gradients; returns the input gradient.
    pub(super) fn backward(&mut self, x: &Fmap, g: &[f32], pool: &Buffers) -> Vec<f32> {
        self.w
            .add_grad(&pixels_t_times(&x.data, self.cin, g, self.cout));
        self.b.add_grad_f64(&channel_sums(g, self.cout));
        times_weights_t(g, self.cout, &self.w.v, self.cin, pool)
    }

    pub(super) fn params<'a>(&'a mut self, out: &mut Vec<&'a mut Param>) {
        out.push(&mut self.w);
        out.push(&mut self.b);
    }
}

impl UpT {
    pub(super) fn forward(&self, x: &Fmap, pool: &Buffers) -> Fmap {
        let up = match self {
            UpT::Transpose { cin, cout, w, b } => Up::Transpose {
                cout: *cout,
                blocks: Conv1 {
                    cin: *cin,
                    cout: 4 * cout,
                    w: w.v.clone(),
                    b: Vec::new(),
                },
                b: b.v.clone(),
            },
            UpT::Bilinear(l) => Up::Bilinear(l.engine()),
        };
        up.forward(x, pool)
    }

    /// From the gradient `g` of the output (`[n, 2h, 2w, cout]`) and the input `x`:
    /// accumulates the parameter gradients, returns the input's gradient.
    pub(super) fn backward(&mut self, x: &Fmap, g: Vec<f32>, pool: &Buffers) -> Vec<f32> {
        let dx = match self {
            UpT::Transpose { cin, cout, w, b } => {
                let (cin, cout) = (*cin, *cout);
                b.add_grad_f64(&channel_sums(&g, cout));
                let blocks = gather_blocks(&g, (x.n, x.h, x.w, cout), pool);
                w.add_grad(&pixels_t_times(&x.data, cin, &blocks, 4 * cout));
                let dx = times_weights_t(&blocks, 4 * cout, &w.v, cin, pool);
                pool.recycle(blocks);
                dx
            }
            UpT::Bilinear(l) => {
                let low = upsample_bilinear2_adjoint(&g, x.n, x.h, x.w, l.cout, pool);
                let dx = l.backward(x, &low, pool);
                pool.recycle(low);
                dx
            }
        };
        pool.recycle(g);
        dx
    }
}
