//! The NIfTI-1 quaternion (qform) representation of an affine, both ways.

use crate::volume::geometry::{Affine, IDENTITY};

/// The qform affine from the quaternion, offsets and pixdim (NIfTI-1 standard).
pub fn quatern_to_affine(q: &[f64; 6], pixdim: &[f64; 8]) -> Option<Affine> {
    let (b, c, d) = (q[0], q[1], q[2]);
    if ![b, c, d, q[3], q[4], q[5]].iter().all(|v| v.is_finite()) {
        return None;
    }
    let aa = 1.0 - (b * b + c * c + d * d);
    let (a, b, c, d) = if aa < 1e-7 {
        let n = (b * b + c * c + d * d).sqrt();
        if n == 0.0 {
            return None;
        }
        (0.0, b / n, c / n, d / n)
    } else {
        (aa.sqrt(), b, c, d)
    };
    let qfac = if pixdim[0] < 0.0 { -1.0 } else { 1.0 };
    let (dx, dy, dz) = (pixdim[1].abs(), pixdim[2].abs(), pixdim[3].abs() * qfac);
    let r = [
        [
            a * a + b * b - c * c - d * d,
            2.0 * (b * c - a * d),
            2.0 * (b * d + a * c),
        ],
        [
            2.0 * (b * c + a * d),
            a * a + c * c - b * b - d * d,
            2.0 * (c * d - a * b),
        ],
        [
            2.0 * (b * d - a * c),
            2.0 * (c * d + a * b),
            a * a + d * d - c * c - b * b,
        ],
    ];
    let mut m = IDENTITY;
    for row in 0..3 {
        m[row][0] = r[row][0] * dx;
        m[row][1] = r[row][1] * dy;
        m[row][2] = r[row][2] * dz;
        m[row][3] = q[3 + row];
    }
    Some(m)
}

/// Quaternion parameters `(b, c, d, qfac)` of the rotation in an affine (the
/// standard's `nifti_mat44_to_quatern`), for writing a qform.
pub fn affine_to_quatern(m: &Affine) -> (f64, f64, f64, f64) {
    let mut r = [[0.0; 3]; 3];
    for (row, rr) in r.iter_mut().enumerate() {
        for (col, v) in rr.iter_mut().enumerate() {
            *v = m[row][col];
        }
    }
    // normalise columns
    for col in 0..3 {
        let n = (0..3).map(|row| r[row][col].powi(2)).sum::<f64>().sqrt();
        if n > 0.0 {
            for rr in r.iter_mut() {
                rr[col] /= n;
            }
        }
    }
    let det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
        - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
        + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
    let qfac = if det < 0.0 { -1.0 } else { 1.0 };
    if qfac < 0.0 {
        for rr in r.iter_mut() {
            rr[2] = -rr[2];
        }
    }
    let (r11, r12, r13) = (r[0][0], r[0][1], r[0][2]);
    let (r21, r22, r23) = (r[1][0], r[1][1], r[1][2]);
    let (r31, r32, r33) = (r[2][0], r[2][1], r[2][2]);
    let trace1 = r11 + r22 + r33 + 1.0;
    let (a, mut b, mut c, mut d): (f64, f64, f64, f64);
    if trace1 > 0.5 {
        a = 0.5 * trace1.sqrt();
        b = 0.25 * (r32 - r23) / a;
        c = 0.25 * (r13 - r31) / a;
        d = 0.25 * (r21 - r12) / a;
    } else {
        let xd = 1.0 + r11 - (r22 + r33);
        let yd = 1.0 + r22 - (r11 + r33);
        let zd = 1.0 + r33 - (r11 + r22);
        if xd > 1.0 {
            b = 0.5 * xd.sqrt();
            c = 0.25 * (r12 + r21) / b;
            d = 0.25 * (r13 + r31) / b;
            a = 0.25 * (r32 - r23) / b;
        } else if yd > 1.0 {
            c = 0.5 * yd.sqrt();
            b = 0.25 * (r12 + r21) / c;
            d = 0.25 * (r23 + r32) / c;
            a = 0.25 * (r13 - r31) / c;
        } else {
            d = 0.5 * zd.sqrt();
            b = 0.25 * (r13 + r31) / d;
            c = 0.25 * (r23 + r32) / d;
            a = 0.25 * (r21 - r12) / d;
        }
        if a < 0.0 {
            b = -b;
            c = -c;
            d = -d;
        }
    }
    (b, c, d, qfac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quaternion_round_trip() {
        // A rotation of 30 degrees about z with a flipped k axis and anisotropic voxels.
        let t = 30f64.to_radians();
        let mut m = IDENTITY;
        m[0] = [t.cos() * 0.7, -t.sin() * 0.8, 0.0, 10.0];
        m[1] = [t.sin() * 0.7, t.cos() * 0.8, 0.0, -5.0];
        m[2] = [0.0, 0.0, -2.5, 3.0];
        let (b, c, d, qfac) = affine_to_quatern(&m);
        let pixdim = [qfac, 0.7, 0.8, 2.5, 0.0, 0.0, 0.0, 0.0];
        let back = quatern_to_affine(&[b, c, d, 10.0, -5.0, 3.0], &pixdim).expect("valid");
        for r in 0..3 {
            for c in 0..4 {
                assert!((back[r][c] - m[r][c]).abs() < 1e-9, "{back:?} vs {m:?}");
            }
        }
    }

    #[test]
    fn identity_quaternion_is_pixdim_scaling() {
        let pixdim = [1.0, 0.5, 0.6, 2.0, 0.0, 0.0, 0.0, 0.0];
        let m = quatern_to_affine(&[0.0; 6], &pixdim).expect("valid");
        assert_eq!(m[0][0], 0.5);
        assert_eq!(m[1][1], 0.6);
        assert_eq!(m[2][2], 2.0);
    }
}
