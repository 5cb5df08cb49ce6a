//! Weights between burn's model and the training engine, exactly: convolution
//! kernels re-ordered for channels-last GEMMs (without folding BatchNorm, which
//! trains), BatchNorm parameters and running statistics, and back.

use burn::module::Param as BurnParam;
use burn::nn::BatchNorm;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::{Tensor, TensorData};

use super::super::super::SegError;
use super::super::super::model::{DoubleConv, UpBlock, Upsample};
use super::super::import::param;
use super::{Bn, ConvT, DoubleT, LinearT, NodeT, Param, UpT};

pub(super) fn conv_weights(conv: &Conv2d) -> Result<(usize, usize, Vec<f32>), SegError> {
    let [cout, cin, kh, kw] = conv.weight.val().dims();
    if [kh, kw] != [3, 3] || conv.stride != [1, 1] || conv.dilation != [1, 1] || conv.groups != 1 {
        return Err(SegError::InvalidConfig(
            "training engine: unsupported 3x3 convolution".into(),
        ));
    }
    let w = param(&conv.weight, "convolution weights")?;
    let mut out = vec![0.0f32; 9 * cin * cout];
    for co in 0..cout {
        for ci in 0..cin {
            for t in 0..9 {
                out[(t * cin + ci) * cout + co] = w[(co * cin + ci) * 9 + t];
            }
        }
    }
    Ok((cin, cout, out))
}

pub(super) fn bn(bn: &BatchNorm) -> Result<Bn, SegError> {
    Ok(Bn {
        gamma: Param::new(param(&bn.gamma, "BatchNorm gamma")?),
        beta: Param::new(param(&bn.beta, "BatchNorm beta")?),
        mean: super::super::import::values(bn.running_mean.value_sync(), "BatchNorm running mean")?,
        var: super::super::import::values(
            bn.running_var.value_sync(),
            "BatchNorm running variance",
        )?,
        eps: bn.epsilon,
        momentum: bn.momentum,
    })
}

pub(super) fn conv(conv: &Conv2d, norm: Option<&BatchNorm>) -> Result<ConvT, SegError> {
    let (cin, cout, w) = conv_weights(conv)?;
    Ok(ConvT {
        cin,
        cout,
        w: Param::new(w),
        b: match &conv.bias {
            Some(b) => Some(Param::new(param(b, "convolution bias")?)),
            None => None,
        },
        bn: norm.map(bn).transpose()?,
    })
}

pub(super) fn double(block: &DoubleConv) -> Result<DoubleT, SegError> {
    Ok(DoubleT {
        c1: conv(&block.conv1, block.bn1.as_ref())?,
        c2: conv(&block.conv2, block.bn2.as_ref())?,
    })
}

pub(super) fn linear(conv: &Conv2d) -> Result<LinearT, SegError> {
    let [cout, cin, kh, kw] = conv.weight.val().dims();
    if [kh, kw] != [1, 1] || conv.groups != 1 {
        return Err(SegError::InvalidConfig(
            "training engine: unsupported 1x1 convolution".into(),
        ));
    }
    let w = param(&conv.weight, "1x1 convolution weights")?;
    let mut out = vec![0.0f32; cin * cout];
    for co in 0..cout {
        for ci in 0..cin {
            out[ci * cout + co] = w[co * cin + ci];
        }
    }
    let b = match &conv.bias {
        Some(b) => param(b, "1x1 convolution bias")?,
        None => vec![0.0; cout],
    };
    Ok(LinearT {
        cin,
        cout,
        w: Param::new(out),
        b: Param::new(b),
    })
}

pub(super) fn transpose(d: &ConvTranspose2d) -> Result<UpT, SegError> {
    let [cin, cout, kh, kw] = d.weight.val().dims();
    if [kh, kw] != [2, 2] || d.stride != [2, 2] || d.groups != 1 || d.padding != [0, 0] {
        return Err(SegError::InvalidConfig(
            "training engine: unsupported transposed convolution".into(),
        ));
    }
    let w = param(&d.weight, "transposed convolution weights")?;
    let mut out = vec![0.0f32; cin * 4 * cout];
    for ci in 0..cin {
        for co in 0..cout {
            for t in 0..4 {
                out[ci * 4 * cout + t * cout + co] = w[(ci * cout + co) * 4 + t];
            }
        }
    }
    let b = match &d.bias {
        Some(b) => param(b, "transposed convolution bias")?,
        None => vec![0.0; cout],
    };
    Ok(UpT::Transpose {
        cin,
        cout,
        w: Param::new(out),
        b: Param::new(b),
    })
}

pub(super) fn node(block: &UpBlock, deeper: usize, skips: Vec<usize>) -> Result<NodeT, SegError> {
    Ok(NodeT {
        up: match &block.up {
            Upsample::Transpose(d) => transpose(d)?,
            Upsample::Bilinear(c) => UpT::Bilinear(linear(c)?),
        },
        conv: double(&block.conv)?,
        deeper,
        skips,
    })
}

pub(super) fn set4(p: &mut BurnParam<Tensor<4>>, v: Vec<f32>, shape: [usize; 4]) {
    let device = p.val().device();
    *p = p
        .clone()
        .map(|_| Tensor::from_data(TensorData::new(v, shape), &device));
}

pub(super) fn set1(p: &mut BurnParam<Tensor<1>>, v: Vec<f32>) {
    let device = p.val().device();
    let n = v.len();
    *p = p
        .clone()
        .map(|_| Tensor::from_data(TensorData::new(v, [n]), &device));
}

pub(super) fn write_conv(c: &ConvT, conv: &mut Conv2d, norm: Option<&mut BatchNorm>) {
    let (cin, cout) = (c.cin, c.cout);
    let mut w = vec![0.0f32; 9 * cin * cout];
    for co in 0..cout {
        for ci in 0..cin {
            for t in 0..9 {
                w[(co * cin + ci) * 9 + t] = c.w.v[(t * cin + ci) * cout + co];
            }
        }
    }
    set4(&mut conv.weight, w, [cout, cin, 3, 3]);
    if let (Some(b), Some(p)) = (&c.b, &mut conv.bias) {
        set1(p, b.v.clone());
    }
    if let (Some(src), Some(dst)) = (&c.bn, norm) {
        set1(&mut dst.gamma, src.gamma.v.clone());
        set1(&mut dst.beta, src.beta.v.clone());
        let device = dst.gamma.val().device();
        let n = src.mean.len();
        dst.running_mean = burn::module::RunningState::new(Tensor::from_data(
            TensorData::new(src.mean.clone(), [n]),
            &device,
        ));
        dst.running_var = burn::module::RunningState::new(Tensor::from_data(
            TensorData::new(src.var.clone(), [n]),
            &device,
        ));
    }
}

pub(super) fn write_double(d: &DoubleT, block: &mut DoubleConv) {
    write_conv(&d.c1, &mut block.conv1, block.bn1.as_mut());
    write_conv(&d.c2, &mut block.conv2, block.bn2.as_mut());
}

pub(super) fn write_linear(l: &LinearT, conv: &mut Conv2d) {
    let mut w = vec![0.0f32; l.cin * l.cout];
    for co in 0..l.cout {
        for ci in 0..l.cin {
            w[co * l.cin + ci] = l.w.v[ci * l.cout + co];
        }
    }
    set4(&mut conv.weight, w, [l.cout, l.cin, 1, 1]);
    if let Some(b) = &mut conv.bias {
        set1(b, l.b.v.clone());
    }
}
