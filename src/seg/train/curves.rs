//! The run folder's `metrics.csv` (one row per epoch) and `curves.png` (loss and Dice by
//! epoch), drawn with a tiny built-in bitmap font so no plotting library is needed.

use std::path::Path;

use image::{Rgb, RgbImage};

use super::EpochRecord;
use crate::fsutil::write_atomic;
use crate::seg::SegError;

/// Writes `metrics.csv` (atomically).
pub(crate) fn write_metrics_csv(
    path: &Path,
    labels: &[String],
    history: &[EpochRecord],
) -> Result<(), SegError> {
    let mut out = String::from("epoch,lr,train_loss,val_loss,val_mean_dice,images_per_sec,seconds");
    for l in labels {
        for m in ["dice", "iou", "sensitivity", "specificity", "precision"] {
            out.push_str(&format!(",{m}_{l}"));
        }
    }
    out.push('\n');
    for r in history {
        out.push_str(&format!(
            "{},{:.6e},{:.6},{:.6},{:.6},{:.3},{:.1}",
            r.epoch, r.lr, r.train_loss, r.val_loss, r.val_mean_dice, r.images_per_sec, r.seconds
        ));
        for s in &r.val {
            out.push_str(&format!(
                ",{:.6},{:.6},{:.6},{:.6},{:.6}",
                s.dice, s.iou, s.sensitivity, s.specificity, s.precision
            ));
        }
        out.push('\n');
    }
    Ok(write_atomic(path, out.as_bytes())?)
}

const W: u32 = 900;
const H: u32 = 380;
const BG: Rgb<u8> = Rgb([255, 255, 255]);
const AXIS: Rgb<u8> = Rgb([60, 60, 60]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);
const COLOURS: [Rgb<u8>; 4] = [
    Rgb([31, 119, 180]),
    Rgb([214, 39, 40]),
    Rgb([44, 160, 44]),
    Rgb([148, 103, 189]),
];

/// Writes `curves.png`: left, training and validation loss; right, validation Dice per label.
pub(crate) fn write_curves_png(
    path: &Path,
    labels: &[String],
    history: &[EpochRecord],
) -> Result<(), SegError> {
    let mut img = RgbImage::from_pixel(W, H, BG);
    let epochs: Vec<f64> = history.iter().map(|r| r.epoch as f64).collect();
    let train: Vec<f64> = history.iter().map(|r| r.train_loss).collect();
    let val: Vec<f64> = history.iter().map(|r| r.val_loss).collect();
    let loss_max = train
        .iter()
        .chain(&val)
        .cloned()
        .fold(0.0f64, f64::max)
        .max(1e-6)
        * 1.05;
    panel(
        &mut img,
        10,
        "LOSS",
        &epochs,
        &[("TRAIN", &train), ("VAL", &val)],
        0.0,
        loss_max,
    );
    let dice: Vec<(String, Vec<f64>)> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            (
                format!("DICE {}", l.to_uppercase()),
                history
                    .iter()
                    .map(|r| r.val.get(i).map_or(0.0, |s| s.dice))
                    .collect(),
            )
        })
        .collect();
    let dice_refs: Vec<(&str, &Vec<f64>)> = dice.iter().map(|(n, v)| (n.as_str(), v)).collect();
    panel(
        &mut img,
        W / 2 + 10,
        "VALIDATION DICE",
        &epochs,
        &dice_refs,
        0.0,
        1.0,
    );
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| SegError::data(format!("cannot encode the plot ({e})"), path))?;
    Ok(write_atomic(path, &bytes)?)
}

fn panel(
    img: &mut RgbImage,
    x0: u32,
    title: &str,
    xs: &[f64],
    series: &[(&str, &Vec<f64>)],
    y_lo: f64,
    y_hi: f64,
) {
    let (left, top, w, h) = (x0 + 50, 40u32, W / 2 - 80, H - 90);
    text(img, x0 + 50, 12, title, AXIS);
    let x_hi = xs.iter().cloned().fold(1.0f64, f64::max);
    for k in 0..=4 {
        let y = top + h - h * k / 4;
        line(
            img,
            (left as f64, y as f64),
            ((left + w) as f64, y as f64),
            GRID,
        );
        let v = y_lo + (y_hi - y_lo) * k as f64 / 4.0;
        text(img, x0 + 2, y.saturating_sub(3), &format!("{v:.2}"), AXIS);
    }
    line(
        img,
        (left as f64, top as f64),
        (left as f64, (top + h) as f64),
        AXIS,
    );
    line(
        img,
        (left as f64, (top + h) as f64),
        ((left + w) as f64, (top + h) as f64),
        AXIS,
    );
    text(img, left, top + h + 8, "1", AXIS);
    let xl = format!("{}", x_hi as usize);
    text(img, left + w - 6 * xl.len() as u32, top + h + 8, &xl, AXIS);
    text(img, left + w / 2 - 15, top + h + 8, "EPOCH", AXIS);
    let px = |x: f64| {
        left as f64
            + if x_hi > 1.0 {
                (x - 1.0) / (x_hi - 1.0) * w as f64
            } else {
                w as f64 / 2.0
            }
    };
    let py = |y: f64| (top + h) as f64 - ((y - y_lo) / (y_hi - y_lo)).clamp(0.0, 1.0) * h as f64;
    for (si, (name, ys)) in series.iter().enumerate() {
        let c = COLOURS[si % COLOURS.len()];
        for (i, (&x, &y)) in xs.iter().zip(ys.iter()).enumerate() {
            let p = (px(x), py(y));
            dot(img, p, c);
            if i > 0 {
                line(img, (px(xs[i - 1]), py(ys[i - 1])), p, c);
            }
        }
        let ly = top + h + 22 + 10 * si as u32;
        line(
            img,
            (left as f64, ly as f64 + 3.0),
            (left as f64 + 14.0, ly as f64 + 3.0),
            c,
        );
        text(img, left + 20, ly, name, AXIS);
    }
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, c);
    }
}

fn dot(img: &mut RgbImage, (x, y): (f64, f64), c: Rgb<u8>) {
    for dy in -1..=1 {
        for dx in -1..=1 {
            put(img, x.round() as i64 + dx, y.round() as i64 + dy, c);
        }
    }
}

fn line(img: &mut RgbImage, a: (f64, f64), b: (f64, f64), c: Rgb<u8>) {
    let n = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
    for i in 0..=n {
        let t = i as f64 / n as f64;
        put(
            img,
            (a.0 + (b.0 - a.0) * t).round() as i64,
            (a.1 + (b.1 - a.1) * t).round() as i64,
            c,
        );
    }
}

/// Draws upper-case text with a 5x7 font (6 px advance); unknown characters are blank.
fn text(img: &mut RgbImage, x: u32, y: u32, s: &str, c: Rgb<u8>) {
    for (i, ch) in s.chars().enumerate() {
        let rows = glyph(ch.to_ascii_uppercase());
        for (r, bits) in rows.iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) != 0 {
                    put(
                        img,
                        (x + 6 * i as u32 + col) as i64,
                        (y + r as u32) as i64,
                        c,
                    );
                }
            }
        }
    }
}

fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        _ => [0; 7],
    }
}
