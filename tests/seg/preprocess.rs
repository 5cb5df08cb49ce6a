//! Preprocessing contract: CLAHE equals OpenCV's, the shared volumes come back as
//! the training images, pad/unpad round trips.

use crate::support;

use lungscope::seg::data::clahe::{ClaheParams, clahe};
use lungscope::seg::data::preprocess::{Intensity, PreprocessConfig, Preprocessor, gray8_to_input};
use lungscope::seg::data::resample::Letterbox;
use std::path::Path;

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/clahe")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// Outputs of `cv2.createCLAHE(7, (8, 8)).apply` (OpenCV 5.0, see
/// tests/fixtures/clahe/make_fixture.py) must be reproduced bit for bit, including
/// a size that is not a multiple of the tile grid.
#[test]
fn clahe_matches_opencv_outputs() {
    for (name, w, h) in [("random_37x23", 37, 23), ("ct_96x80", 96, 80)] {
        let input = fixture(&format!("{name}.in.u8"));
        let expected = fixture(&format!("{name}.opencv.u8"));
        assert_eq!(input.len(), w * h);
        let got = clahe(&input, w, h, ClaheParams::TRAINING);
        let diff = got.iter().zip(&expected).filter(|(a, b)| a != b).count();
        assert_eq!(diff, 0, "{name}: {diff} pixels differ from OpenCV");
    }
}

/// The shared pseudo-HU volumes store the training PNGs as `(grey * 1500 / 255) -
/// 1250`; preprocessing must give back exactly `png / 255`.
#[test]
fn shared_volume_slices_equal_the_training_pngs() {
    let Some(data) = support::data::data_dir() else {
        return;
    };
    let vol_path =
        data.join("covid19_ct_seg_zenodo3757476_volumes/radiopaedia_group_R06_ct.nii.gz");
    let vol = lungscope::io::read_volume(&vol_path).expect("shared volume reads");
    let pre = Preprocessor::new(&vol, &PreprocessConfig::for_size(256));
    let Intensity::Windowed { lo, hi } = *pre.intensity() else {
        panic!("the pseudo-HU volume takes the windowed path");
    };
    assert!(
        (lo + 1250.0).abs() < 1e-3 && (hi - 250.0).abs() < 1e-3,
        "{lo}..{hi}"
    );
    assert!(!pre.hu_check().looks_like_hu);
    // cases.csv: R06 is 1477.png .. 1485.png.
    for k in [0usize, 4, 8] {
        let png = data.join(format!(
            "covid19_ct_seg_zenodo3757476_png256/ct/{:04}.png",
            1477 + k
        ));
        let img = image::open(&png).expect("training png").to_luma8();
        let (expected, lb) = gray8_to_input(img.as_raw(), 256, 256, 256);
        assert_eq!((lb.content_w, lb.offset_x), (256, 0));
        let got = pre.slice_input(&vol, k);
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "slice {k}: max difference {worst}");
    }
}

#[test]
fn letterbox_pad_unpad_round_trip_is_exact_for_many_shapes() {
    for (w, h, pmm, s) in [
        (512usize, 512usize, [0.7, 0.7], 256usize),
        (512, 400, [0.8, 0.8], 128),
        (300, 512, [0.9, 0.6], 64),
        (17, 5, [1.0, 3.0], 32),
    ] {
        let lb = Letterbox::new(w, h, pmm, s);
        assert!(lb.content_w <= s && lb.content_h <= s);
        assert!(
            lb.content_w == s || lb.content_h == s,
            "the longer side fills the input"
        );
        // Physical aspect ratio is kept to within one pixel.
        let aspect = (w as f64 * pmm[0]) / (h as f64 * pmm[1]);
        let got = lb.content_w as f64 / lb.content_h as f64;
        assert!((got - aspect).abs() <= aspect / lb.content_h.min(lb.content_w) as f64 + 1e-9);
        let content: Vec<f32> = (0..lb.content_w * lb.content_h)
            .map(|v| (v % 251) as f32)
            .collect();
        assert_eq!(lb.unpad(&lb.pad(&content, -1.0)), content);
    }
}

/// Training (the data loader's `SliceSample::fitted`) and inference
/// (`seg::data::preprocess`) must produce the same model input from the same training
/// image, at the shared 256² size and when shrinking or padding.
#[test]
fn training_and_inference_inputs_are_identical() {
    let (w, h) = (300usize, 220usize);
    let img: Vec<u8> = (0..w * h)
        .map(|i| ((i * 7 + i / w * 13) % 256) as u8)
        .collect();
    for (iw, ih, size) in [
        (256usize, 256usize, 256usize),
        (256, 256, 192),
        (w, h, 256),
        (w, h, 128),
    ] {
        let src = &img[..iw * ih];
        let (ours, lb) = gray8_to_input(src, iw, ih, size);
        let unit: Vec<f32> = src.iter().map(|&g| f32::from(g) / 255.0).collect();
        let sample = lungscope::seg::data::SliceSample {
            case: "case".into(),
            name: "slice".into(),
            width: iw,
            height: ih,
            image: unit,
            lung: None,
            infection: None,
        };
        let train_lb = sample.letterbox(size);
        assert_eq!(
            (lb.content_w, lb.content_h, lb.offset_x, lb.offset_y),
            (
                train_lb.content_w,
                train_lb.content_h,
                train_lb.offset_x,
                train_lb.offset_y
            )
        );
        let theirs = sample.fitted(size).image;
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-5,
            "{iw}x{ih} -> {size}: inputs differ by {worst}"
        );
    }
}

/// A real HU volume (the TotalSegmentator example CT, RAS, 3 mm) takes the CLAHE
/// path: 8-bit CLAHE values inside the letterbox content, zero padding outside.
#[test]
fn real_hu_volume_takes_the_clahe_path() {
    let Some(data) = support::data::data_dir() else {
        return;
    };
    let path = data.join("totalsegmentator_example_ct_nonCOVID_io_only/example_ct.nii.gz");
    let vol = lungscope::io::read_volume(&path).expect("example CT reads");
    let pre = Preprocessor::new(&vol, &PreprocessConfig::for_size(64));
    assert!(pre.hu_check().looks_like_hu, "{}", pre.hu_check().reason);
    assert!(matches!(pre.intensity(), Intensity::HuClahe { .. }));
    let lb = *pre.letterbox();
    let k = vol.slice_count(lungscope::volume::View::Axial) / 2;
    let input = pre.slice_input(&vol, k);
    assert_eq!(input.len(), 64 * 64);
    for (idx, &v) in input.iter().enumerate() {
        let (x, y) = (idx % 64, idx / 64);
        let inside = (lb.offset_x..lb.offset_x + lb.content_w).contains(&x)
            && (lb.offset_y..lb.offset_y + lb.content_h).contains(&y);
        if inside {
            assert!((0.0..=1.0).contains(&v));
            assert!(
                ((v * 255.0).round() - v * 255.0).abs() < 1e-3,
                "not an 8-bit level: {v}"
            );
        } else {
            assert_eq!(v, 0.0);
        }
    }
    // CLAHE spreads the grey levels: a good part of the range is used.
    let used: std::collections::BTreeSet<u32> =
        input.iter().map(|v| (v * 255.0).round() as u32).collect();
    assert!(used.len() > 64, "{} grey levels", used.len());
}
