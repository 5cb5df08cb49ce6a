//! DICOM input on the shared real data: single slices, a JPEG 2000 series checked
//! against an independent reader (tags here, pydicom in CI), the WG-04 transfer
//! syntaxes against their uncompressed reference, an Enhanced CT object, series
//! choice and bad files. JPEG-LS has its own module (`dicom_jpegls`), the CLI and the
//! viewer's loader on DICOM theirs (`dicom_cli`).

use crate::support;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use lungscope::io::{self, DicomError, NiftiError, SeriesChoice};
use lungscope::volume::{Volume, Voxels};
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn real_ct() -> Option<PathBuf> {
    support::data::data_dir().map(|d| d.join("real_ct_hu"))
}

pub(crate) fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

pub(crate) fn open(path: &Path) -> Volume {
    io::open_volume(path, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub(crate) fn open_err(path: &Path, series: Option<&SeriesChoice>) -> DicomError {
    match io::open_volume(path, series) {
        Ok(v) => panic!(
            "{} read as {:?}, expected an error",
            path.display(),
            v.dims()
        ),
        Err(NiftiError::Dicom(e)) => e,
        Err(e) => panic!("{}: not a DICOM error: {e}", path.display()),
    }
}

/// Header of one file read with dicom-object directly (the independent path).
pub(crate) fn header(path: &Path) -> dicom_object::DefaultDicomObject {
    dicom_object::OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .expect("header")
}

fn floats(obj: &dicom_object::DefaultDicomObject, tag: dicom_object::Tag) -> Vec<f64> {
    obj.element(tag)
        .expect("tag present")
        .to_multi_float64()
        .expect("numbers")
}

fn fraction(v: &Volume, lo: f32, hi: f32) -> f64 {
    let n = (0..v.voxels.len())
        .filter(|&i| (lo..=hi).contains(&v.voxels.get(i)))
        .count();
    n as f64 / v.voxels.len() as f64
}

#[test]
fn every_single_slice_reads_as_a_one_slice_hu_volume() {
    let Some(root) = real_ct() else { return };
    let mut files = Vec::new();
    let sbu = root.join("covid19_ny_sbu_slices");
    for patient in files_in_dirs(&sbu) {
        files.extend(files_in(&patient.join("axial")));
    }
    files.extend(files_in(&root.join("chest_slices_lungmask")));
    assert_eq!(files.len(), 12, "10 SBU axial slices and 2 lungmask slices");
    for f in &files {
        let v = open(f);
        let h = header(f);
        let rows = h
            .element(tags::ROWS)
            .expect("rows")
            .to_int::<usize>()
            .expect("int");
        let cols = h
            .element(tags::COLUMNS)
            .expect("cols")
            .to_int::<usize>()
            .expect("int");
        assert_eq!(v.dims(), [cols, rows, 1], "{}", f.display());
        let ps = floats(&h, tags::PIXEL_SPACING);
        assert!(
            (v.geometry.spacing[0] - ps[1]).abs() < 1e-6,
            "{}",
            f.display()
        );
        assert!(
            (v.geometry.spacing[1] - ps[0]).abs() < 1e-6,
            "{}",
            f.display()
        );
        assert!(matches!(v.voxels, Voxels::I16(_)), "{}", f.display());
        assert!(v.info.header.is_none());
        assert!(
            v.info.file_datatype.starts_with("dicom"),
            "{}",
            v.info.file_datatype
        );
        // Air around the body and tissue inside it, in HU.
        assert!(
            fraction(&v, -1100.0, -900.0) > 0.05,
            "air in {}",
            f.display()
        );
        assert!(
            fraction(&v, 0.0, 3000.0) > 0.05,
            "tissue in {}",
            f.display()
        );
        assert!(v.hu_check().looks_like_hu, "{}", f.display());
    }
}

fn files_in_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// The expected RAS+ affine from the files' tags, computed here.
fn affine_from_tags(files: &[PathBuf]) -> ([[f64; 4]; 4], Vec<[f64; 3]>) {
    let heads: Vec<_> = files.iter().map(|f| header(f)).collect();
    let iop = floats(&heads[0], tags::IMAGE_ORIENTATION_PATIENT);
    let ps = floats(&heads[0], tags::PIXEL_SPACING);
    let (r, c) = ([iop[0], iop[1], iop[2]], [iop[3], iop[4], iop[5]]);
    let n = [
        r[1] * c[2] - r[2] * c[1],
        r[2] * c[0] - r[0] * c[2],
        r[0] * c[1] - r[1] * c[0],
    ];
    let mut pos: Vec<[f64; 3]> = heads
        .iter()
        .map(|h| {
            let p = floats(h, tags::IMAGE_POSITION_PATIENT);
            [p[0], p[1], p[2]]
        })
        .collect();
    let d = |p: &[f64; 3]| p[0] * n[0] + p[1] * n[1] + p[2] * n[2];
    pos.sort_by(|a, b| d(a).total_cmp(&d(b)));
    let step = (d(&pos[pos.len() - 1]) - d(&pos[0])) / (pos.len() - 1) as f64;
    let mut a = [[0.0; 4]; 4];
    for row in 0..3 {
        let sign = if row < 2 { -1.0 } else { 1.0 };
        a[row] = [
            sign * r[row] * ps[1],
            sign * c[row] * ps[0],
            sign * n[row] * step,
            sign * pos[0][row],
        ];
    }
    a[3][3] = 1.0;
    let ras = pos.iter().map(|p| [-p[0], -p[1], p[2]]).collect();
    (a, ras)
}

pub(crate) fn assert_affine_close(a: &[[f64; 4]; 4], b: &[[f64; 4]; 4], what: &str) {
    for r in 0..4 {
        for c in 0..4 {
            assert!(
                (a[r][c] - b[r][c]).abs() < 1e-4,
                "{what}: affine differs at [{r}][{c}]: {a:?} vs {b:?}"
            );
        }
    }
}

#[test]
fn jpeg2000_series_reads_sorted_by_position_with_the_tags_affine() {
    let Some(root) = real_ct() else { return };
    let dir = root.join("totalsegmentator_examples/example_ct_dicom");
    let v = open(&dir);
    assert_eq!(v.dims(), [512, 512, 20]);
    assert!(matches!(v.voxels, Voxels::I16(_)));
    let (expected, positions) = affine_from_tags(&files_in(&dir));
    assert_affine_close(&v.geometry.affine, &expected, "example_ct_dicom");
    for (k, p) in positions.iter().enumerate() {
        let w = v.geometry.vox2mm([0.0, 0.0, k as f64]);
        for a in 0..3 {
            assert!((w[a] - p[a]).abs() < 1e-3, "slice {k}: {w:?} vs {p:?}");
        }
    }
    assert!(
        (v.geometry.spacing[2] - 2.0).abs() < 1e-3,
        "{:?}",
        v.geometry.spacing
    );
    assert!(v.hu_check().looks_like_hu);
    assert_eq!(v.info.description, "CT Body 3.0");

    // pydicom (CI installs it with a JPEG 2000 plugin): same voxels, same affine.
    let Some(py) = python_with_pydicom() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let raw = tmp.path().join("vol.f32");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pydicom_read.py");
    let out = Command::new(&py)
        .arg(&script)
        .arg(&dir)
        .arg(&raw)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "pydicom_read.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let dims: Vec<usize> = serde_json::from_value(json["dims"].clone()).expect("dims");
    assert_eq!(dims, v.dims().to_vec());
    let aff: [[f64; 4]; 4] = serde_json::from_value(json["affine"].clone()).expect("affine");
    assert_affine_close(&v.geometry.affine, &aff, "pydicom");
    let bytes = std::fs::read(&raw).expect("raw");
    let theirs: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(theirs.len(), v.voxels.len());
    let diff = (0..theirs.len())
        .filter(|&i| theirs[i] != v.voxels.get(i))
        .count();
    assert_eq!(diff, 0, "voxels differ from pydicom's");
}

/// python3 with pydicom, numpy and a JPEG 2000 decoder; required in CI.
fn python_with_pydicom() -> Option<String> {
    support::tools::python_with(
        "pydicom, numpy, pylibjpeg, openjpeg",
        "pip install pydicom numpy pylibjpeg pylibjpeg-openjpeg",
    )
}

#[test]
fn wg04_syntaxes_match_their_uncompressed_reference() {
    let Some(root) = real_ct() else { return };
    let wg = root.join("dicom_transfer_syntaxes/wg04");
    for ct in ["CT1", "CT2"] {
        let reference = open(&wg.join(format!("REF/{ct}_UNC")));
        for syntax in ["RLE", "JPLL", "J2KR"] {
            let v = open(&wg.join(format!("{syntax}/{ct}_{syntax}")));
            assert_eq!(v.geometry, reference.geometry, "{ct} {syntax}");
            assert_eq!(v.voxels, reference.voxels, "{ct} {syntax} not lossless");
        }
        // Lossy JPEG 2000: close to the reference inside the field of view.
        let lossy = open(&wg.join(format!("J2KI/{ct}_J2KI")));
        assert_eq!(lossy.geometry, reference.geometry);
        let (mut sum, mut n) = (0.0f64, 0usize);
        for i in 0..reference.voxels.len() {
            let r = reference.voxels.get(i);
            if r > -1000.0 {
                sum += f64::from((lossy.voxels.get(i) - r).abs());
                n += 1;
            }
        }
        // OpenJPEG (pydicom) decodes the same files to 28.2 (CT1) and 18.6 (CT2) HU.
        let mae = sum / n as f64;
        assert!(
            mae > 1.0 && mae < 35.0,
            "{ct} J2KI mean abs error {mae:.1} HU"
        );
    }
}

#[test]
fn enhanced_ct_frames_come_from_the_functional_groups() {
    let Some(root) = real_ct() else { return };
    let v = open(&root.join("dicom_transfer_syntaxes/pydicom_data/eCT_Supplemental.dcm"));
    assert_eq!(v.dims(), [512, 512, 2]);
    assert!((v.geometry.spacing[0] - 0.388672).abs() < 1e-6);
    assert!((v.geometry.spacing[2] - 10.0).abs() < 1e-6);
    // Frame positions z = -159 and -149 (LPS = RAS for z); both frames present.
    let z: Vec<f64> = (0..2)
        .map(|k| v.geometry.vox2mm([0.0, 0.0, k as f64])[2])
        .collect();
    let mut sorted = z.clone();
    sorted.sort_by(f64::total_cmp);
    assert!(
        (sorted[0] + 159.0).abs() < 1e-6 && (sorted[1] + 149.0).abs() < 1e-6,
        "{z:?}"
    );
    assert!(v.hu_check().looks_like_hu || v.stats().min >= -1024.0);
}

#[test]
fn several_series_need_a_choice_and_list_themselves() {
    let Some(root) = real_ct() else { return };
    let dir = root.join("covid19_ny_sbu_slices/A002304/axial");
    let list = io::list_series(&dir).expect("list");
    assert_eq!(list.len(), 2);
    let e = open_err(&dir, None);
    let msg = e.to_string();
    assert!(
        matches!(e, DicomError::SeveralSeries { count: 2, .. }),
        "{msg}"
    );
    for s in &list {
        assert!(msg.contains(&s.description), "{msg}");
    }
    assert!(msg.contains("--series"), "{msg}");
    let second = io::open_volume(&dir, Some(&SeriesChoice::Index(2))).expect("index 2");
    let by_uid = io::open_volume(&dir, Some(&SeriesChoice::Uid(list[1].uid.clone()))).expect("uid");
    assert_eq!(second.geometry, by_uid.geometry);
    assert_eq!(second.info.description, list[1].description);
    let e = open_err(&dir, Some(&SeriesChoice::Index(3)));
    assert!(matches!(e, DicomError::NoSuchSeries { .. }), "{e}");
}

/// Copies the three dcmqi slices into `dir`, with positions changed by `edit`
/// (the slice's index, its position) and file names in reverse slice order.
pub(crate) fn dcmqi_series(root: &Path, dir: &Path, edit: impl Fn(usize, [f64; 3]) -> [f64; 3]) {
    let src = root.join("dicom_transfer_syntaxes/dcmqi_ct_3slice");
    for (i, f) in ["01.dcm", "02.dcm", "03.dcm"].iter().enumerate() {
        let mut obj = dicom_object::open_file(src.join(f)).expect("open");
        let p = floats(&obj, tags::IMAGE_POSITION_PATIENT);
        let q = edit(i, [p[0], p[1], p[2]]);
        obj.put(DataElement::new(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            PrimitiveValue::from(format!("{}\\{}\\{}", q[0], q[1], q[2])),
        ));
        obj.write_to_file(dir.join(format!("img{}", 9 - i)))
            .expect("write");
    }
}

#[test]
fn slices_sort_by_position_and_bad_geometry_is_refused() {
    let Some(root) = real_ct() else { return };
    let tmp = tempfile::tempdir().expect("temp dir");

    // Positions 10, 12.5, 15 mm written under names in reverse order, plus a note.
    let ok = tmp.path().join("ok");
    std::fs::create_dir(&ok).expect("mkdir");
    dcmqi_series(&root, &ok, |i, p| [p[0], p[1], 10.0 + 2.5 * i as f64]);
    std::fs::write(ok.join("README.txt"), "not an image").expect("write");
    let v = open(&ok);
    assert_eq!(v.dims()[2], 3);
    assert!((v.geometry.spacing[2] - 2.5).abs() < 1e-6);
    for k in 0..3 {
        let z = v.geometry.vox2mm([0.0, 0.0, k as f64])[2];
        assert!(
            (z - (10.0 + 2.5 * k as f64)).abs() < 1e-6,
            "slice {k} at {z}"
        );
    }
    assert!(
        v.info
            .warnings
            .iter()
            .any(|w| w.contains("README.txt") && w.contains("not DICOM")),
        "{:?}",
        v.info.warnings
    );
    // Slice k holds the pixels of the k-th source file (01, 02, 03).
    let src = root.join("dicom_transfer_syntaxes/dcmqi_ct_3slice");
    for (k, f) in ["01.dcm", "02.dcm", "03.dcm"].iter().enumerate() {
        let one = open(&src.join(f));
        let n = one.voxels.len();
        assert!(
            (0..n).all(|i| one.voxels.get(i) == v.voxels.get(k * n + i)),
            "slice {k} is not {f}"
        );
    }

    type Edit = fn(usize, [f64; 3]) -> [f64; 3];
    let cases: [(&str, Edit); 3] = [
        ("dup", |i, p| {
            [p[0], p[1], if i == 2 { 2.5 } else { 2.5 * i as f64 }]
        }),
        ("gap", |i, p| [p[0], p[1], [0.0, 2.5, 7.5][i]]),
        ("tilt", |i, p| [p[0], p[1] + 0.5 * i as f64, 2.5 * i as f64]),
    ];
    for (name, edit) in cases {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).expect("mkdir");
        dcmqi_series(&root, &dir, edit);
        let e = open_err(&dir, None);
        let good = match name {
            "dup" => matches!(e, DicomError::DuplicatePosition { .. }),
            "gap" => matches!(e, DicomError::UnevenSpacing { .. }),
            _ => matches!(e, DicomError::GantryTilt { .. }),
        };
        assert!(good, "{name}: {e}");
    }
}

#[test]
fn bad_files_give_clear_errors_without_panicking() {
    let Some(root) = real_ct() else { return };
    let tmp = tempfile::tempdir().expect("temp dir");
    let src = root.join("chest_slices_lungmask/0.dcm");
    let bytes = std::fs::read(&src).expect("read");

    // Cut in the middle of the pixel data.
    let truncated = tmp.path().join("truncated.dcm");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100_000]).expect("write");
    let e = open_err(&truncated, None);
    assert!(e.to_string().contains("truncated.dcm"), "{e}");

    // Cut right before the Pixel Data element: a header without pixels.
    let tag = [0xE0u8, 0x7F, 0x10, 0x00];
    let at = bytes
        .windows(4)
        .rposition(|w| w == tag)
        .expect("pixel data tag");
    let no_pixels = tmp.path().join("no_pixels.dcm");
    std::fs::write(&no_pixels, &bytes[..at]).expect("write");
    let e = open_err(&no_pixels, None);
    assert!(matches!(e, DicomError::NoPixelData { .. }), "{e}");
    assert!(e.to_string().contains("no_pixels.dcm"), "{e}");

    // Not DICOM at all, and a DICOM marker followed by garbage.
    let garbage = tmp.path().join("garbage.dcm");
    std::fs::write(&garbage, vec![0x42u8; 4000]).expect("write");
    assert!(matches!(
        open_err(&garbage, None),
        DicomError::NotDicom { .. }
    ));
    let mut fake = vec![0u8; 128];
    fake.extend_from_slice(b"DICM");
    fake.extend_from_slice(&[0xFFu8; 300]);
    let fake_path = tmp.path().join("fake.dcm");
    std::fs::write(&fake_path, &fake).expect("write");
    assert!(matches!(
        open_err(&fake_path, None),
        DicomError::NotDicom { .. }
    ));
    // Every prefix of a real header: an error or a volume, never a panic.
    for cut in (0..at).step_by(97) {
        let p = tmp.path().join("prefix.dcm");
        std::fs::write(&p, &bytes[..cut]).expect("write");
        let _ = io::open_volume(&p, None);
    }

    // A folder with nothing but a text file.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    std::fs::write(empty.join("notes.txt"), "hello").expect("write");
    let e = open_err(&empty, None);
    assert!(matches!(e, DicomError::NoImages { .. }), "{e}");
}

#[test]
fn files_opened_together_read_as_one_series() {
    let Some(root) = real_ct() else { return };
    let dir = root.join("dicom_transfer_syntaxes/dcmqi_ct_3slice");
    let files = files_in(&dir); // 01.dcm, 02.dcm, 03.dcm and LICENSE.txt
    let v = io::dicom::read_dicom_files(&files, None).expect("one series");
    assert_eq!(v.dims(), [512, 512, 3]);
    assert_eq!(v.info.path.as_deref(), Some(dir.as_path()));
    assert!(
        v.info.warnings.iter().any(|w| w.contains("LICENSE.txt")),
        "{:?}",
        v.info.warnings
    );
    assert_eq!(v.geometry, open(&dir).geometry);
}

/// One series (same SeriesInstanceUID) whose files say different modalities is an
/// error naming both, not a volume.
#[test]
fn a_series_that_mixes_modalities_is_refused() {
    let Some(root) = real_ct() else { return };
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("mixed");
    std::fs::create_dir(&dir).expect("mkdir");
    dcmqi_series(&root, &dir, |i, p| [p[0], p[1], 10.0 + 2.5 * i as f64]);
    // The file of the last slice becomes "MR".
    let last = dir.join("img7");
    let mut obj = dicom_object::open_file(&last).expect("open");
    obj.put(DataElement::new(
        tags::MODALITY,
        VR::CS,
        PrimitiveValue::from("MR"),
    ));
    obj.write_to_file(&last).expect("write");
    let e = open_err(&dir, None);
    assert!(
        matches!(&e, DicomError::Inconsistent { reason, .. }
            if reason.contains("mixes modalities") && reason.contains("MR") && reason.contains("CT")),
        "{e}"
    );
}
