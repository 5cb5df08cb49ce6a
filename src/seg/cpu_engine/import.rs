//! Copies a burn model's weights into the engine: convolution kernels re-ordered for
//! channels-last GEMMs, eval-mode BatchNorm folded into the preceding convolution.

use burn::module::Param;
use burn::nn::BatchNorm;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::Tensor;

use super::super::SegError;
use super::super::model::{DoubleConv, UpBlock, Upsample};
use super::winograd::Winograd3;
use super::{Conv1, Conv3, DoubleConv3, Node, Up, WINOGRAD_MIN_CIN};

pub(super) fn values<const D: usize>(t: Tensor<D>, what: &str) -> Result<Vec<f32>, SegError> {
    t.try_into_data_as::<f32>()
        .map_err(|e| SegError::Backend(format!("CPU engine: cannot read {what}: {e:?}")))?
        .try_to_vec::<f32>()
        .map_err(|e| SegError::Backend(format!("CPU engine: cannot read {what}: {e:?}")))
}

pub(super) fn param<const D: usize>(
    p: &Param<Tensor<D>>,
    what: &str,
) -> Result<Vec<f32>, SegError> {
    values(p.val(), what)
}

fn unsupported(what: &str) -> SegError {
    SegError::InvalidConfig(format!("CPU engine: unsupported layer ({what})"))
}

/// Per-output-channel `(scale, shift)` of an eval-mode BatchNorm.
fn bn_affine(bn: &BatchNorm) -> Result<(Vec<f32>, Vec<f32>), SegError> {
    let gamma = param(&bn.gamma, "BatchNorm gamma")?;
    let beta = param(&bn.beta, "BatchNorm beta")?;
    let mean = values(bn.running_mean.value_sync(), "BatchNorm running mean")?;
    let var = values(bn.running_var.value_sync(), "BatchNorm running variance")?;
    let eps = bn.epsilon;
    let scale: Vec<f32> = gamma
        .iter()
        .zip(&var)
        .map(|(&g, &v)| (g as f64 / (v as f64 + eps).sqrt()) as f32)
        .collect();
    let shift = beta
        .iter()
        .zip(&mean)
        .zip(&scale)
        .map(|((&b, &m), &s)| b - m * s)
        .collect();
    Ok((scale, shift))
}

fn conv3(conv: &Conv2d, bn: Option<&BatchNorm>) -> Result<Conv3, SegError> {
    let [cout, cin, kh, kw] = conv.weight.val().dims();
    if [kh, kw] != [3, 3] || conv.stride != [1, 1] || conv.dilation != [1, 1] || conv.groups != 1 {
        return Err(unsupported(
            "a 3x3 convolution with stride, dilation or groups",
        ));
    }
    let w = param(&conv.weight, "convolution weights")?;
    let mut bias = match &conv.bias {
        Some(b) => param(b, "convolution bias")?,
        None => vec![0.0; cout],
    };
    let mut scale = vec![1.0f32; cout];
    if let Some(bn) = bn {
        let (s, shift) = bn_affine(bn)?;
        for co in 0..cout {
            bias[co] = bias[co] * s[co] + shift[co];
        }
        scale = s;
    }
    let mut out = vec![0.0f32; 9 * cin * cout];
    for co in 0..cout {
        for ci in 0..cin {
            for t in 0..9 {
                out[(t * cin + ci) * cout + co] = w[(co * cin + ci) * 9 + t] * scale[co];
            }
        }
    }
    let wino = (cin >= WINOGRAD_MIN_CIN).then(|| Winograd3::new(cin, cout, &out, &bias));
    Ok(Conv3 {
        cin,
        cout,
        w: out,
        b: bias,
        wino,
        relu: true,
    })
}

pub(super) fn conv1(conv: &Conv2d) -> Result<Conv1, SegError> {
    let [cout, cin, kh, kw] = conv.weight.val().dims();
    if [kh, kw] != [1, 1] || conv.groups != 1 {
        return Err(unsupported("a 1x1 convolution with groups"));
    }
    let w = param(&conv.weight, "1x1 convolution weights")?;
    let b = match &conv.bias {
        Some(b) => param(b, "1x1 convolution bias")?,
        None => vec![0.0; cout],
    };
    let mut out = vec![0.0f32; cin * cout];
    for co in 0..cout {
        for ci in 0..cin {
            out[ci * cout + co] = w[co * cin + ci];
        }
    }
    Ok(Conv1 {
        cin,
        cout,
        w: out,
        b,
    })
}

fn transpose2(deconv: &ConvTranspose2d) -> Result<Up, SegError> {
    let [cin, cout, kh, kw] = deconv.weight.val().dims();
    if [kh, kw] != [2, 2]
        || deconv.stride != [2, 2]
        || deconv.groups != 1
        || deconv.padding != [0, 0]
        || deconv.padding_out != [0, 0]
        || deconv.dilation != [1, 1]
    {
        return Err(unsupported(
            "a transposed convolution other than 2x2 stride 2",
        ));
    }
    let w = param(&deconv.weight, "transposed convolution weights")?;
    let b = match &deconv.bias {
        Some(b) => param(b, "transposed convolution bias")?,
        None => vec![0.0; cout],
    };
    let mut out = vec![0.0f32; cin * 4 * cout];
    for ci in 0..cin {
        for co in 0..cout {
            for t in 0..4 {
                out[ci * 4 * cout + t * cout + co] = w[(ci * cout + co) * 4 + t];
            }
        }
    }
    Ok(Up::Transpose {
        cout,
        blocks: Conv1 {
            cin,
            cout: 4 * cout,
            w: out,
            b: Vec::new(),
        },
        b,
    })
}

pub(super) fn double_conv(block: &DoubleConv) -> Result<DoubleConv3, SegError> {
    Ok(DoubleConv3 {
        c1: conv3(&block.conv1, block.bn1.as_ref())?,
        c2: conv3(&block.conv2, block.bn2.as_ref())?,
    })
}

pub(super) fn nodes(blocks: &[UpBlock]) -> Result<Vec<Node>, SegError> {
    blocks
        .iter()
        .map(|b| {
            Ok(Node {
                up: match &b.up {
                    Upsample::Transpose(d) => transpose2(d)?,
                    Upsample::Bilinear(c) => Up::Bilinear(conv1(c)?),
                },
                conv: double_conv(&b.conv)?,
            })
        })
        .collect()
}
