//! DICOM through the command line (`info`, `segment` of a slice and of a folder) and
//! the viewer's loader (dropped folders and files), on the shared real data.

use super::dicom_read::{assert_affine_close, dcmqi_series, files_in, open, real_ct};
use crate::support;

use lungscope::io;
use lungscope::volume::Volume;
use std::path::Path;
use std::process::Command;

fn lungscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lungscope"))
}

/// Runs `lungscope segment --device cpu INPUT` and checks that it wrote `mask_path`
/// as a mask of `dims` on the input's grid; returns the input volume.
fn segment_on_the_cpu(input: &Path, mask_path: &Path, dims: [usize; 3]) -> Volume {
    let out = lungscope()
        .args(["segment", "--device", "cpu"])
        .arg(input)
        .output()
        .expect("run");
    support::tools::assert_success(&out);
    let volume = open(input);
    let mask = io::read_mask(mask_path, Some(&volume.geometry)).expect("mask on the grid");
    assert_eq!(mask.geometry.dims, dims);
    volume
}

#[test]
fn cli_info_lists_series_and_segment_writes_a_nifti_mask() {
    let Some(root) = real_ct() else { return };
    let dir = root.join("covid19_ny_sbu_slices/A002304/axial");
    let out = lungscope().arg("info").arg(&dir).output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("2 series") && text.contains("CHEST 1.25 MM"),
        "{text}"
    );

    let series = root.join("totalsegmentator_examples/example_ct_dicom");
    let out = lungscope().arg("info").arg(&series).output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("512 x 512 x 20"), "{text}");
    // The decoding progress bar is for terminals only: a pipe sees none.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("DICOM images"), "{err}");
    for id in ["PatientName", "PatientID"] {
        assert!(!text.contains(id), "{text}");
    }

    // One SBU slice segmented on the CPU: a NIfTI mask on the slice's grid.
    let tmp = tempfile::tempdir().expect("temp dir");
    let slice = files_in(&dir).remove(0);
    let local = tmp.path().join("slice.dcm");
    std::fs::copy(&slice, &local).expect("copy");
    let mask_path = tmp.path().join("slice_seg.nii.gz");
    let volume = segment_on_the_cpu(&local, &mask_path, [512, 512, 1]);

    // nibabel reads the mask with the DICOM geometry's affine.
    if let Some(py) = support::tools::python_with_nibabel() {
        let got = support::tools::nibabel(&py, &["read", mask_path.to_str().expect("utf-8")]);
        let aff: [[f64; 4]; 4] = serde_json::from_value(got["affine"].clone()).expect("affine");
        assert_affine_close(&aff, &volume.geometry.affine, "nibabel mask affine");
    }
}

#[test]
fn cli_segment_of_a_folder_writes_folder_seg_beside_it() {
    let Some(root) = real_ct() else { return };
    let tmp = tempfile::tempdir().expect("temp dir");
    let series = tmp.path().join("study 1");
    std::fs::create_dir(&series).expect("mkdir");
    dcmqi_series(&root, &series, |i, p| [p[0], p[1], 2.5 * i as f64]);
    segment_on_the_cpu(
        &series,
        &tmp.path().join("study 1_seg.nii.gz"),
        [512, 512, 3],
    );
}

/// The viewer's loader: a dropped folder or DICOM file is a volume, even when a
/// volume on another grid is shown (it is never taken for a NIfTI mask).
#[cfg(feature = "gui")]
#[test]
fn the_viewer_loads_dropped_dicom_folders_and_files_as_volumes() {
    use lungscope::app::loading::{Loaded, load_one};
    let Some(root) = real_ct() else { return };
    let folder = root.join("totalsegmentator_examples/example_ct_dicom");
    let file = root.join("chest_slices_lungmask/0.dcm");
    let other = lungscope::volume::Geometry::with_signs([4, 4, 4], [1.0; 3], [1.0; 3]);
    for path in [&folder, &file] {
        for grid in [None, Some(&other)] {
            match load_one(path, grid, false) {
                Loaded::Volume { volume, .. } => assert!(volume.dims()[0] == 512),
                Loaded::Failed { message, .. } => panic!("{}: {message}", path.display()),
                Loaded::Mask { .. } => panic!("{} loaded as a mask", path.display()),
                Loaded::ChooseSeries(_) => panic!("{} holds one series", path.display()),
            }
        }
    }
    // A folder with two series is never read as one: the viewer asks which.
    let several = root.join("covid19_ny_sbu_slices/A002304/axial");
    match load_one(&several, None, false) {
        Loaded::ChooseSeries(prompt) => {
            assert_eq!(prompt.series.len(), 2);
            assert_eq!(prompt.source, several);
        }
        other => panic!("a folder with two series must ask for a choice, got {other:?}"),
    }
}
