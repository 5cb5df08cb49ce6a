//! JPEG-LS input through CharLS: the WG-04 JPEG-LS files (lossless and
//! near-lossless) against their uncompressed reference, and hostile JPEG-LS
//! streams (frame headers that disagree with the DICOM header, cut streams)
//! refused with clear errors.

use crate::dicom_read::{header, open, open_err, real_ct};
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use lungscope::io::{self, DicomError};
use std::path::Path;

/// The encapsulated fragments of a file's pixel data.
fn fragments(obj: &dicom_object::DefaultDicomObject) -> Vec<Vec<u8>> {
    obj.element(tags::PIXEL_DATA)
        .expect("pixel data")
        .value()
        .fragments()
        .expect("encapsulated")
        .to_vec()
}

/// Where marker `FF code` starts in a JPEG-LS stream's header.
fn marker(stream: &[u8], code: u8) -> usize {
    stream
        .windows(2)
        .position(|w| w == [0xFF, code])
        .expect("marker present")
}

/// NEAR of a JPEG-LS stream: in the first scan header (SOS: FF DA, length,
/// Ns, Ns × (component, mapping table), NEAR, ...).
fn jpegls_near(stream: &[u8]) -> u8 {
    let sos = marker(stream, 0xDA);
    let ns = usize::from(stream[sos + 4]);
    stream[sos + 5 + 2 * ns]
}

#[test]
fn wg04_jpegls_matches_its_uncompressed_reference() {
    let Some(root) = real_ct() else { return };
    let wg = root.join("dicom_transfer_syntaxes/wg04");
    for ct in ["CT1", "CT2"] {
        let ref_path = wg.join(format!("REF/{ct}_UNC"));
        let reference = open(&ref_path);
        let slope = header(&ref_path)
            .element(tags::RESCALE_SLOPE)
            .ok()
            .and_then(|e| e.to_float64().ok())
            .unwrap_or(1.0);

        // Lossless: identical, and the stream says NEAR = 0.
        let path = wg.join(format!("JLSL/{ct}_JLSL"));
        assert_eq!(jpegls_near(&fragments(&header_all(&path))[0]), 0);
        let v = open(&path);
        assert_eq!(v.geometry, reference.geometry, "{ct} JLSL");
        assert_eq!(v.voxels, reference.voxels, "{ct} JLSL not lossless");

        // Near-lossless: every pixel within NEAR stored values of the reference
        // (padding, moved by up to NEAR, still reads as padding).
        let path = wg.join(format!("JLSN/{ct}_JLSN"));
        let near = jpegls_near(&fragments(&header_all(&path))[0]);
        assert!(near > 0, "{ct} JLSN declares NEAR = 0");
        let v = open(&path);
        assert_eq!(v.geometry, reference.geometry, "{ct} JLSN");
        let max = (0..reference.voxels.len())
            .map(|i| (v.voxels.get(i) - reference.voxels.get(i)).abs())
            .fold(0.0f32, f32::max);
        eprintln!("{ct} JLSN: NEAR {near}, slope {slope}, max abs error {max} HU");
        assert!(
            f64::from(max) <= f64::from(near) * slope.abs(),
            "{ct} JLSN max abs error {max} HU > NEAR {near} x slope {slope}"
        );
        assert!(max > 0.0, "{ct} JLSN decoded losslessly: is NEAR applied?");
        let padded = header(&path).element(tags::PIXEL_PADDING_VALUE).is_ok();
        assert_eq!(
            v.info.warnings.iter().any(|w| w.contains("NEAR 4")),
            padded,
            "{ct}: {:?}",
            v.info.warnings
        );
    }
}

/// A syntax this build has no decoder for (JPEG XL): a clear per-file error.
#[test]
fn an_undecodable_transfer_syntax_gives_a_clear_error() {
    let Some(root) = real_ct() else { return };
    let mut obj = header_all(&root.join("dicom_transfer_syntaxes/wg04/JLSL/CT2_JLSL"));
    obj.meta_mut()
        .set_transfer_syntax(&dicom_transfer_syntax_registry::entries::JPEG_XL_LOSSLESS);
    let tmp = tempfile::tempdir().expect("temp dir");
    let p = tmp.path().join("jpeg_xl.dcm");
    obj.write_to_file(&p).expect("write");
    let e = open_err(&p, None);
    let msg = e.to_string();
    assert!(
        matches!(e, DicomError::UnsupportedTransferSyntax { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("JPEG XL")
            && msg.contains("1.2.840.10008.1.2.4.110")
            && msg.contains("jpeg_xl.dcm"),
        "{msg}"
    );
}

/// A whole file read with dicom-object directly, pixels included.
fn header_all(path: &Path) -> dicom_object::DefaultDicomObject {
    dicom_object::open_file(path).expect("open")
}

/// Writes `src` with its pixel data replaced by the one fragment `stream`.
fn with_stream(src: &dicom_object::DefaultDicomObject, stream: Vec<u8>, to: &Path) {
    let mut stream = stream;
    if stream.len() % 2 == 1 {
        stream.push(0);
    }
    let mut obj = src.clone();
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        dicom_core::value::Value::from(dicom_core::value::PixelFragmentSequence::new(
            vec![],
            vec![stream],
        )),
    ));
    obj.write_to_file(to).expect("write");
}

/// Hostile JPEG-LS streams in an otherwise valid file: a clear decoding error
/// naming the file, never a panic, an abort on a huge allocation or a hang.
#[test]
fn hostile_jpegls_streams_give_clear_errors() {
    let Some(root) = real_ct() else { return };
    let src_path = root.join("dicom_transfer_syntaxes/wg04/JLSL/CT2_JLSL");
    let src = header_all(&src_path);
    let stream = fragments(&src).concat();
    let tmp = tempfile::tempdir().expect("temp dir");
    let expect_decode_error = |name: &str, stream: Vec<u8>, says: &str| {
        let p = tmp.path().join(name);
        with_stream(&src, stream, &p);
        let e = open_err(&p, None);
        let msg = e.to_string();
        assert!(matches!(e, DicomError::Decode { .. }), "{name}: {msg}");
        assert!(
            msg.contains("JPEG-LS") && msg.contains(name) && msg.contains(says),
            "{name}: {msg}"
        );
    };

    // The stream cut in half: refused before CharLS (which would read zero
    // bits past the end through every remaining pixel, seconds per slice).
    let start = std::time::Instant::now();
    expect_decode_error(
        "truncated.dcm",
        stream[..stream.len() / 2].to_vec(),
        "truncated",
    );
    // Cut, with an end-of-image marker put back: CharLS stops at the marker.
    let mut cut = stream[..stream.len() / 2].to_vec();
    cut.extend_from_slice(&[0xFF, 0xD9]);
    expect_decode_error("cut_with_eoi.dcm", cut, "");
    // Cut inside its header.
    let sos = marker(&stream, 0xDA);
    expect_decode_error("cut_header.dcm", stream[..sos].to_vec(), "header");
    // Corrupted header bytes: no SOI, then a frame header of 0 bits per sample.
    let mut bad = stream.clone();
    bad[..4].copy_from_slice(&[0x12, 0x34, 0x56, 0x78]);
    expect_decode_error("no_soi.dcm", bad, "header");
    let sof = marker(&stream, 0xF7);
    let mut bad = stream.clone();
    bad[sof + 4] = 0;
    expect_decode_error("zero_bits.dcm", bad, "header");
    // Absurd dimensions: 65535 x 65535 in a 117 kB file (8 GiB to decode into).
    let mut bad = stream.clone();
    bad[sof + 5..sof + 9].copy_from_slice(&[0xFF; 4]);
    expect_decode_error("huge.dcm", bad, "65535 x 65535");
    // Fewer rows than the DICOM header.
    let mut bad = stream.clone();
    bad[sof + 5..sof + 7].copy_from_slice(&100u16.to_be_bytes());
    expect_decode_error("short.dcm", bad, "512 x 100");
    // Garbage in the coded data, and many prefixes: an error or an image,
    // never a panic or a hang.
    let mut bad = stream.clone();
    for i in (sos + 20..bad.len()).step_by(37) {
        bad[i] = bad[i].wrapping_mul(31).wrapping_add(7);
    }
    let p = tmp.path().join("scrambled.dcm");
    with_stream(&src, bad, &p);
    let _ = io::open_volume(&p, None);
    for cut in (0..stream.len()).step_by(stream.len() / 23) {
        let p = tmp.path().join("prefix.dcm");
        with_stream(&src, stream[..cut].to_vec(), &p);
        let _ = io::open_volume(&p, None);
    }
    // No hang: every case above fails fast (about 0.1 s in all here).
    let took = start.elapsed();
    assert!(took.as_secs() < 20, "hostile JPEG-LS streams took {took:?}");
}
