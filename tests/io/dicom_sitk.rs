//! DICOM series against SimpleITK's ImageSeriesReader (GDCM): the same voxels and
//! the same RAS+ affine on series written here with pydicom from the shared NIfTI
//! volumes (shuffled, extension-less file names; an axial chest and a series with
//! flipped in-plane axes) and on the shared real JPEG 2000 series. Python with
//! SimpleITK, pydicom and nibabel is required in CI and skipped without it elsewhere.

use crate::support;

use lungscope::io;
use lungscope::volume::Volume;
use std::path::Path;

/// python3 with SimpleITK, pydicom, nibabel and numpy; required in CI.
fn python_with_sitk() -> Option<String> {
    support::tools::python_with(
        "SimpleITK, pydicom, nibabel, numpy",
        "pip install SimpleITK",
    )
}

/// Writes `nifti` as a pydicom series into `dir` (tests/support/write_dicom_series.py).
fn write_series(py: &str, nifti: &Path, dir: &Path) -> [usize; 3] {
    let json = support::tools::run_json(py, "write_dicom_series.py", &[nifti, dir]);
    serde_json::from_value(json["dims"].clone()).expect("dims")
}

fn open(path: &Path) -> Volume {
    io::open_volume(path, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_affine_close(a: &[[f64; 4]; 4], b: &[[f64; 4]; 4], what: &str) {
    for r in 0..4 {
        for c in 0..4 {
            assert!(
                (a[r][c] - b[r][c]).abs() < 1e-4,
                "{what}: affine differs at [{r}][{c}]: {a:?} vs {b:?}"
            );
        }
    }
}

/// Reads `dir` with SimpleITK and asserts lungscope's `v` has the same dims,
/// affine (within 1e-4 mm) and voxels (exactly).
fn assert_same_as_sitk(py: &str, dir: &Path, v: &Volume, what: &str) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let raw = tmp.path().join("sitk.f32");
    let json = support::tools::run_json(py, "sitk_read.py", &[dir, &raw]);
    let dims: Vec<usize> = serde_json::from_value(json["dims"].clone()).expect("dims");
    assert_eq!(dims, v.dims().to_vec(), "{what}: dims");
    let aff: [[f64; 4]; 4] = serde_json::from_value(json["affine"].clone()).expect("affine");
    assert_affine_close(&v.geometry.affine, &aff, &format!("{what} vs SimpleITK"));
    let bytes = std::fs::read(&raw).expect("raw voxels");
    let theirs: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(theirs.len(), v.voxels.len(), "{what}: voxel count");
    let diff: Vec<usize> = (0..theirs.len())
        .filter(|&i| theirs[i] != v.voxels.get(i))
        .collect();
    assert!(
        diff.is_empty(),
        "{what}: {} voxels differ from SimpleITK's, first at {} ({} vs {})",
        diff.len(),
        diff[0],
        v.voxels.get(diff[0]),
        theirs[diff[0]]
    );
    let sum: f64 = (0..v.voxels.len())
        .map(|i| f64::from(v.voxels.get(i)))
        .sum();
    let their_sum = json["sum"].as_f64().expect("sum");
    assert!(
        (sum - their_sum).abs() < 0.5,
        "{what}: sum {sum} vs {their_sum}"
    );
}

#[test]
fn written_series_match_simpleitk_and_their_nifti() {
    let Some(data) = support::data::data_dir() else {
        return;
    };
    let Some(py) = python_with_sitk() else {
        return;
    };
    let sources = [
        // Axial chest, LPS-aligned axes (RAS affine diag(-1.4, -1.4, 1)).
        data.join("covid19_ct_seg_zenodo3757476_volumes/coronacases_001_ct.nii.gz"),
        // Real HU with flipped in-plane axes (RAS affine diag(3, 3, 3)).
        data.join("real_ct_hu/totalsegmentator_examples/example_ct_sm.nii.gz"),
    ];
    for nifti in &sources {
        let what = nifti.file_name().expect("name").to_string_lossy();
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("series");
        let dims = write_series(&py, nifti, &dir);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), dims[2], "{what}: one file per slice");
        assert!(names.iter().all(|n| !n.contains('.')), "{names:?}");

        let v = open(&dir);
        assert_eq!(v.dims(), dims, "{what}");
        assert!(v.info.warnings.is_empty(), "{what}: {:?}", v.info.warnings);
        assert_same_as_sitk(&py, &dir, &v, &what);

        // Both readers also agree with the source: its affine, its voxels rounded.
        let src = io::read_volume(nifti).expect("nifti");
        assert_affine_close(&v.geometry.affine, &src.geometry.affine, &what);
        let off = (0..src.voxels.len())
            .filter(|&i| src.voxels.get(i).round_ties_even() != v.voxels.get(i))
            .count();
        assert_eq!(off, 0, "{what}: voxels differ from the NIfTI's");
    }
}

#[test]
fn real_jpeg2000_series_matches_simpleitk() {
    let Some(data) = support::data::data_dir() else {
        return;
    };
    let dir = data.join("real_ct_hu/totalsegmentator_examples/example_ct_dicom");
    let v = open(&dir);
    assert_eq!(v.dims(), [512, 512, 20]);
    let Some(py) = python_with_sitk() else {
        return;
    };
    assert_same_as_sitk(&py, &dir, &v, "example_ct_dicom");
}
