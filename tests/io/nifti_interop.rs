//! Interoperability with nibabel and the real shared data.

use crate::support;

use lungscope::io::{read_mask, read_volume, write_mask};
use lungscope::mask::LabelMask;
use lungscope::volume::Voxels;
use std::path::Path;

fn affine_json(v: &serde_json::Value) -> [[f64; 4]; 4] {
    let mut a = [[0.0; 4]; 4];
    for (r, row) in a.iter_mut().enumerate() {
        for (c, x) in row.iter_mut().enumerate() {
            *x = v[r][c].as_f64().expect("number");
        }
    }
    a
}

fn assert_affine_eq(a: &[[f64; 4]; 4], b: &[[f64; 4]; 4], what: &str) {
    for r in 0..4 {
        for c in 0..4 {
            assert!((a[r][c] - b[r][c]).abs() < 1e-4, "{what}: {a:?} vs {b:?}");
        }
    }
}

#[test]
fn reads_every_file_nibabel_writes() {
    let Some(py) = support::tools::python_with_nibabel() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let dirs = dir.path().to_str().expect("utf-8 temp path");
    let cases = support::tools::nibabel(&py, &["write", dirs]);
    let cases = cases.as_array().expect("list of fixtures");
    assert!(cases.len() >= 13);
    for case in cases {
        let name = case.as_str().expect("name");
        let path = dir.path().join(name);
        let v = read_volume(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let meta: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join(format!("{name}.json"))).expect("json"),
        )
        .expect("json");
        let shape: Vec<usize> = meta["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|x| x.as_u64().expect("int") as usize)
            .collect();
        assert_eq!(v.geometry.dims.to_vec(), shape, "{name}");
        assert_affine_eq(&v.geometry.affine, &affine_json(&meta["affine"]), name);
        assert_eq!(
            v.geometry.orientation_string(),
            meta["axcodes"].as_str().expect("axcodes"),
            "{name}"
        );
        let raw = std::fs::read(dir.path().join(format!("{name}.f64"))).expect("values");
        let expected: Vec<f64> = raw
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        assert_eq!(expected.len(), v.voxels.len(), "{name}");
        for (i, e) in expected.iter().enumerate() {
            let got = f64::from(v.voxels.get(i));
            assert!(
                (got - e).abs() <= 1e-3 * e.abs().max(1.0),
                "{name} voxel {i}: {got} vs nibabel {e}"
            );
        }
        if name.starts_with("four_d") {
            assert!(v.info.warnings.iter().any(|w| w.contains("2 volumes")));
        }
        if name.starts_with("int") || name.starts_with("permuted") {
            assert!(matches!(v.voxels, Voxels::I16(_)), "{name} kept as int16");
        }
    }
}

#[test]
fn mask_written_by_lungscope_reads_in_nibabel_with_source_geometry() {
    let (Some(py), Some(vols)) = (
        support::tools::python_with_nibabel(),
        support::data::volumes_dir(),
    ) else {
        return;
    };
    let ct = vols.join("radiopaedia_group_R06_ct.nii.gz");
    let volume = read_volume(&ct).expect("real volume");
    let lung = read_mask(
        &vols.join("radiopaedia_group_R06_lung.nii.gz"),
        Some(&volume.geometry),
    )
    .expect("lung mask on the volume grid");
    let inf = read_mask(
        &vols.join("radiopaedia_group_R06_infection.nii.gz"),
        Some(&volume.geometry),
    )
    .expect("infection mask");
    let labels = LabelMask::combine(&lung, &inf).expect("same grid");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("R06_seg.nii.gz");
    write_mask(&out, &labels, Some(&volume)).expect("written");
    let ours = support::tools::nibabel(&py, &["read", out.to_str().expect("utf-8")]);
    let src = support::tools::nibabel(&py, &["read", ct.to_str().expect("utf-8")]);
    assert_eq!(ours["shape"], src["shape"]);
    assert_eq!(ours["dtype"], "uint8");
    assert_affine_eq(
        &affine_json(&ours["affine"]),
        &affine_json(&src["affine"]),
        "mask vs source affine",
    );
    assert_eq!(ours["qform_code"], src["qform_code"]);
    assert_eq!(ours["sform_code"], src["sform_code"]);
    assert_eq!(ours["pixdim"], src["pixdim"]);
    let h = labels.histogram();
    for (label, count) in ours["histogram"].as_object().expect("histogram") {
        let l: usize = label.parse().expect("label");
        assert_eq!(count.as_u64(), Some(h[l]), "label {l}");
    }
    assert!(h[3] > 0 && h[1] + h[2] > 0, "real labels present");
}

#[test]
fn writing_over_the_source_is_refused_and_leaves_it_intact() {
    let Some(vols) = support::data::volumes_dir() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let ct = dir.path().join("case_ct.nii.gz");
    std::fs::copy(vols.join("radiopaedia_group_R06_ct.nii.gz"), &ct).expect("copy");
    let before = std::fs::read(&ct).expect("read");
    let volume = read_volume(&ct).expect("volume");
    let mask = LabelMask::empty(volume.geometry.clone());
    let e = write_mask(&ct, &mask, Some(&volume)).expect_err("must refuse");
    assert!(e.to_string().contains("refusing to overwrite"), "{e}");
    // also through another spelling of the same path
    let other = dir.path().join(".").join("case_ct.nii.gz");
    assert!(write_mask(&other, &mask, Some(&volume)).is_err());
    assert_eq!(std::fs::read(&ct).expect("read"), before);
    // no temporary files left behind
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn real_volumes_have_the_documented_geometry_and_mask_counts() {
    let Some(vols) = support::data::volumes_dir() else {
        return;
    };
    let cases = support::data::cases_csv(&vols);
    assert_eq!(cases.len(), 14);
    for row in &cases {
        let case = &row["case"];
        let v = read_volume(&vols.join(format!("{case}_ct.nii.gz"))).expect("ct");
        let dims: Vec<usize> = row["shape"]
            .split('x')
            .map(|d| d.parse().expect("dim"))
            .collect();
        assert_eq!(v.geometry.dims.to_vec(), dims, "{case}");
        assert_eq!(v.geometry.orientation_string(), "LPS", "{case}");
        assert!((v.geometry.spacing[0] - 1.4).abs() < 1e-5);
        let s = v.stats();
        assert!(s.min >= -1250.01 && s.max <= 250.01, "{case}: {s:?}");
        assert!(
            !v.hu_check().looks_like_hu,
            "{case} is pseudo-HU from 8-bit"
        );
        let lung =
            read_mask(&vols.join(format!("{case}_lung.nii.gz")), Some(&v.geometry)).expect("lung");
        let inf = read_mask(
            &vols.join(format!("{case}_infection.nii.gz")),
            Some(&v.geometry),
        )
        .expect("infection");
        let count = |m: &LabelMask| m.labels.iter().filter(|&&l| l != 0).count().to_string();
        assert_eq!(count(&lung), row["lung_voxels"], "{case}");
        assert_eq!(count(&inf), row["infection_voxels"], "{case}");
    }
}

#[test]
fn real_hu_ct_from_totalsegmentator() {
    let Some(data) = support::data::data_dir() else {
        return;
    };
    let p = data.join("totalsegmentator_example_ct_nonCOVID_io_only/example_ct.nii.gz");
    let v = read_volume(Path::new(&p)).expect("real CT");
    assert_eq!(v.geometry.dims, [122, 101, 112]);
    assert_eq!(v.geometry.orientation_string(), "RAS");
    assert_eq!(v.geometry.spacing, [3.0, 3.0, 3.0]);
    assert!((v.geometry.affine[0][3] + 177.956).abs() < 1e-3);
    assert!((v.geometry.affine[1][3] - 11.319).abs() < 1e-3);
    assert!((v.geometry.affine[2][3] - 94.302).abs() < 1e-3);
    assert_eq!(v.info.file_datatype, "int32");
    assert!(matches!(v.voxels, Voxels::I16(_)), "int32 HU fits int16");
    let s = v.stats();
    assert_eq!((s.min, s.max), (-1207.0, 3382.0));
    assert!(v.hu_check().looks_like_hu, "{}", v.hu_check().reason);
}
