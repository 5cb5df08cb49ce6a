//! Tests of the inference engine's kernels: im2col and Winograd against a direct convolution and each other, up-sampling, max-pool.

use super::*;

fn fmap(n: usize, h: usize, w: usize, c: usize) -> Fmap {
    let mut m = Fmap::zeros(&Buffers::default(), n, h, w, c);
    for (i, v) in m.data.iter_mut().enumerate() {
        *v = ((i * 7919) % 97) as f32 / 97.0 - 0.5;
    }
    m
}

#[test]
fn im2col_matches_a_direct_3x3_convolution() {
    let x = fmap(1, 5, 7, 3);
    let cout = 4;
    let w: Vec<f32> = (0..27 * cout)
        .map(|i| (i % 11) as f32 * 0.1 - 0.5)
        .collect();
    let conv = Conv3 {
        cin: 3,
        cout,
        w: w.clone(),
        b: vec![0.0; cout],
        wino: None,
        relu: true,
    };
    let y = conv.forward(&x, ConvAlgo::Auto, &Buffers::default());
    for yy in 0..5 {
        for xx in 0..7 {
            for co in 0..cout {
                let mut s = 0.0f32;
                for ky in 0..3 {
                    for kx in 0..3 {
                        let (iy, ix) = (yy as isize + ky - 1, xx as isize + kx - 1);
                        if iy < 0 || ix < 0 || iy >= 5 || ix >= 7 {
                            continue;
                        }
                        for ci in 0..3 {
                            let v = x.data[((iy as usize) * 7 + ix as usize) * 3 + ci];
                            s += v * w[(((ky * 3 + kx) as usize) * 3 + ci) * cout + co];
                        }
                    }
                }
                let got = y.data[(yy * 7 + xx) * cout + co];
                assert!((got - s.max(0.0)).abs() < 1e-5, "{got} vs {s}");
            }
        }
    }
}

#[test]
fn winograd_matches_im2col_on_even_and_small_maps() {
    for (n, h, w, cin, cout) in [(1, 8, 6, 8, 5), (2, 4, 10, 16, 3), (1, 2, 2, 9, 4)] {
        let x = fmap(n, h, w, cin);
        let wts: Vec<f32> = (0..9 * cin * cout)
            .map(|i| ((i * 31) % 23) as f32 * 0.02 - 0.2)
            .collect();
        let b: Vec<f32> = (0..cout).map(|i| i as f32 * 0.01 - 0.01).collect();
        let conv = Conv3 {
            cin,
            cout,
            wino: Some(Winograd3::new(cin, cout, &wts, &b)),
            w: wts,
            b,
            relu: true,
        };
        let a = conv.forward(&x, ConvAlgo::Im2col, &Buffers::default());
        let c = conv.forward(&x, ConvAlgo::Auto, &Buffers::default());
        let worst = a
            .data
            .iter()
            .zip(&c.data)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "{n}x{h}x{w} {cin}->{cout}: {worst}");
    }
}

#[test]
fn bilinear_x2_keeps_constants_and_interpolates_ramps() {
    let mut x = Fmap::zeros(&Buffers::default(), 1, 2, 3, 1);
    x.data = vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0];
    let y = upsample_bilinear2(&x, &Buffers::default());
    assert_eq!((y.h, y.w), (4, 6));
    let row: Vec<f32> = y.data[..6].to_vec();
    assert_eq!(row, vec![0.0, 0.25, 0.75, 1.25, 1.75, 2.0]);
    let c = Fmap {
        data: vec![3.0; 6],
        ..x
    };
    assert!(
        upsample_bilinear2(&c, &Buffers::default())
            .data
            .iter()
            .all(|&v| v == 3.0)
    );
}

#[test]
fn max_pool_takes_the_largest_of_each_2x2_block() {
    let mut x = Fmap::zeros(&Buffers::default(), 1, 2, 4, 1);
    x.data = vec![1.0, 5.0, -1.0, -2.0, 3.0, 2.0, -3.0, -0.5];
    assert_eq!(max_pool2(&x, &Buffers::default()).data, vec![5.0, -0.5]);
}

#[test]
fn im2col_writes_every_value_whatever_the_buffer_held() {
    // Maps of one and two columns and rows too: the taps outside the image must
    // become zeros even when the buffer held other values.
    for (h, w, c) in [(5, 4, 3), (1, 1, 2), (2, 1, 1), (1, 3, 4)] {
        let x = fmap(1, h, w, c);
        let m = h * w;
        let mut clean = vec![0.0f32; m * 9 * c];
        let mut dirty = vec![f32::NAN; m * 9 * c];
        im2col3(&mut clean, &x.data, h, w, c, 0, m);
        im2col3(&mut dirty, &x.data, h, w, c, 0, m);
        assert!(
            clean
                .iter()
                .zip(&dirty)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{h}x{w}x{c}"
        );
        // A tile starting inside the image: the same rows as the whole.
        let mut part = vec![7.0f32; (m - 1) * 9 * c];
        im2col3(&mut part, &x.data, h, w, c, 1, m - 1);
        assert_eq!(part, clean[9 * c..]);
    }
}
