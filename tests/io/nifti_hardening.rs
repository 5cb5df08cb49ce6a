//! Reproducers of read-hardening defects, built inside the tests and tiny: FIFOs, gzip
//! padding, extreme aspect ratios, scaling that overflows float32, non-finite
//! sforms. The memory budget's child-process checks are in `read_budget.rs`.

use lungscope::io::{NiftiError, read_header, read_volume};
use lungscope::mask::LabelMask;
use std::io::Write;
use std::path::Path;

/// A minimal NIfTI-1 single file: header, 4-byte extension flag, voxels.
struct Nii {
    dims: [i16; 3],
    datatype: i16,
    bitpix: i16,
    spacing: [f32; 3],
    slope: f32,
    sform: Option<[[f32; 4]; 3]>,
    qform: bool,
}

impl Nii {
    fn new(dims: [i16; 3], datatype: i16, bitpix: i16) -> Self {
        Self {
            dims,
            datatype,
            bitpix,
            spacing: [1.0; 3],
            slope: 1.0,
            sform: None,
            qform: true,
        }
    }

    fn bytes(&self, data: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 352];
        h[0..4].copy_from_slice(&348i32.to_le_bytes());
        let mut dim = [1i16; 8];
        dim[0] = 3;
        dim[1..4].copy_from_slice(&self.dims);
        for (i, d) in dim.iter().enumerate() {
            h[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
        }
        h[70..72].copy_from_slice(&self.datatype.to_le_bytes());
        h[72..74].copy_from_slice(&self.bitpix.to_le_bytes());
        let pixdim = [
            1.0,
            self.spacing[0],
            self.spacing[1],
            self.spacing[2],
            0.0,
            0.0,
            0.0,
            0.0,
        ];
        for (i, p) in pixdim.iter().enumerate() {
            h[76 + 4 * i..80 + 4 * i].copy_from_slice(&p.to_le_bytes());
        }
        h[108..112].copy_from_slice(&352f32.to_le_bytes());
        h[112..116].copy_from_slice(&self.slope.to_le_bytes());
        h[123] = 10; // xyzt_units: mm, s
        h[252..254].copy_from_slice(&i16::from(self.qform).to_le_bytes());
        if let Some(rows) = self.sform {
            h[254..256].copy_from_slice(&1i16.to_le_bytes());
            for (r, row) in rows.iter().enumerate() {
                for (c, v) in row.iter().enumerate() {
                    let o = 280 + 16 * r + 4 * c;
                    h[o..o + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
        h[344..348].copy_from_slice(b"n+1\0");
        h.extend_from_slice(data);
        h
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

fn i16_bytes(v: &[i16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

#[cfg(unix)]
#[test]
fn fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("pipe.nii.gz");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    for e in [
        read_volume(&fifo).map(|_| ()).unwrap_err(),
        read_header(&fifo).map(|_| ()).unwrap_err(),
        lungscope::io::open_volume(&fifo, None)
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert!(matches!(e, NiftiError::NotRegularFile { .. }), "{e}");
        assert!(e.to_string().contains("FIFO"), "{e}");
    }
}

#[test]
fn zero_padding_after_the_gzip_member_is_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vox: Vec<i16> = (0..4 * 3 * 2).map(|x| x * 10 - 100).collect();
    let nii = Nii::new([4, 3, 2], 4, 16).bytes(&i16_bytes(&vox));
    let plain = read_volume(&write(dir.path(), "a.nii", &nii)).expect("plain");
    for pad in [1usize, 7, 8, 512, 4096] {
        let mut gz = gzip(&nii);
        gz.extend(std::iter::repeat_n(0u8, pad));
        let p = write(dir.path(), &format!("pad{pad}.nii.gz"), &gz);
        let v = read_volume(&p).unwrap_or_else(|e| panic!("padding {pad}: {e}"));
        assert_eq!(v.voxels, plain.voxels, "padding {pad}");
        read_header(&p).expect("header");
    }
    // Other trailing garbage is still an error.
    let mut gz = gzip(&nii);
    gz.extend_from_slice(b"garbage after the member");
    let p = write(dir.path(), "garbage.nii.gz", &gz);
    let e = read_volume(&p).unwrap_err();
    assert!(matches!(e, NiftiError::CorruptGzip { .. }), "{e}");
}

#[test]
fn extreme_spacing_ratio_is_refused() {
    // Regression: spacing 0.001 x 1000 mm made `report` allocate a 12.3 GB image.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = Nii::new([4, 4, 2], 4, 16);
    h.spacing = [0.001, 1000.0, 1.0];
    let p = write(dir.path(), "aspect.nii.gz", &gzip(&h.bytes(&[0u8; 64])));
    let e = read_volume(&p).unwrap_err();
    assert!(matches!(e, NiftiError::ExtremeAspect { .. }), "{e}");
    // Ordinary anisotropy (0.5 mm pixels, 10 mm slices) is fine.
    h.spacing = [0.5, 0.5, 10.0];
    let p = write(dir.path(), "thick.nii.gz", &gzip(&h.bytes(&[0u8; 64])));
    read_volume(&p).expect("thick slices");
}

fn assert_all_finite(v: &lungscope::volume::Volume) {
    for i in 0..v.voxels.len() {
        assert!(v.voxels.get(i).is_finite(), "voxel {i}");
    }
    let s = lungscope::volume::hu::IntensityStats::compute(&v.voxels);
    assert!(s.mean.is_finite() && s.min.is_finite() && s.max.is_finite());
}

#[test]
fn scaling_beyond_float32_is_replaced_and_reported() {
    // Regression: int16 with scl_slope 1e38 became +-Inf after the f32 cast.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = Nii::new([2, 2, 2], 4, 16);
    h.slope = 1e38;
    let vox = i16_bytes(&[0, 1, -1, 5, 0, 0, 100, 0]); // 5e38 and 1e40 overflow
    let p = write(dir.path(), "slope.nii", &h.bytes(&vox));
    let v = read_volume(&p).expect("readable with a warning");
    assert_all_finite(&v);
    assert!(
        v.info.warnings.iter().any(|w| w.contains("2 NaN/Inf")),
        "{:?}",
        v.info.warnings
    );
    // float64 with a 1e200 voxel
    let f: Vec<u8> = [0.0f64, 1e200, -3.5, 2.0, 0.0, -1e200, 1.0, f64::NAN]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let p = write(
        dir.path(),
        "f64.nii.gz",
        &gzip(&Nii::new([2, 2, 2], 64, 64).bytes(&f)),
    );
    let v = read_volume(&p).expect("readable with a warning");
    assert_all_finite(&v);
    assert!(v.info.warnings.iter().any(|w| w.contains("3 NaN/Inf")));
    assert_eq!(v.voxels.get(2), -3.5);
}

#[test]
fn masks_never_carry_a_non_finite_sform() {
    // Regression: masks copied a NaN sform the reader had refused to use.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = Nii::new([4, 3, 2], 4, 16);
    h.sform = Some([
        [f32::NAN, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
    ]);
    let src = write(dir.path(), "nan_sform.nii", &h.bytes(&[0u8; 48]));
    let vol = read_volume(&src).expect("qform used");
    assert_eq!(read_header(&src).expect("header").affine_source, "qform");
    let out = dir.path().join("mask.nii.gz");
    let mask = LabelMask::empty(vol.geometry.clone());
    lungscope::io::write_mask(&out, &mask, Some(&vol)).expect("mask written");
    let mut raw = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&out).expect("open")),
        &mut raw,
    )
    .expect("inflate");
    let sform_code = i16::from_le_bytes([raw[254], raw[255]]);
    assert_eq!(sform_code, 0, "non-finite sform must not be written");
    for o in (280..328).step_by(4) {
        let v = f32::from_le_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]]);
        assert!(v.is_finite(), "srow value at {o}");
    }
    let back = lungscope::io::read_mask(&out, Some(&vol.geometry)).expect("same grid");
    assert_eq!(back.geometry.dims, [4, 3, 2]);
}
