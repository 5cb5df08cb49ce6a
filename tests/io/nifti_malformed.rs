//! The malformed-file corpus (tests/corpus, made by make_corpus.py): each damaged
//! file gets its own precise, typed error and never a panic or a huge allocation.

use lungscope::io::{NiftiError, read_mask, read_volume};
use lungscope::volume::Voxels;
use std::path::PathBuf;

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name)
}

fn err(name: &str) -> NiftiError {
    match read_volume(&corpus(name)) {
        Ok(_) => panic!("{name} was accepted"),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.ends_with(name), "message must end with the file: {msg}");
            e
        }
    }
}

#[test]
fn valid_files_read_identically_plain_and_gzipped() {
    let a = read_volume(&corpus("valid_int16.nii")).expect("valid file");
    let b = read_volume(&corpus("valid_int16.nii.gz")).expect("valid file");
    assert_eq!(a.geometry, b.geometry);
    assert_eq!(a.voxels, b.voxels);
    assert_eq!(a.geometry.dims, [6, 5, 4]);
    assert_eq!(a.geometry.orientation_string(), "LPS");
    match &a.voxels {
        Voxels::I16(v) => assert_eq!(&v[..4], &[-1000, -963, -926, -889]),
        other => panic!("expected int16 storage, got {}", other.storage_name()),
    }
}

#[test]
fn empty_file() {
    assert!(matches!(err("empty.nii"), NiftiError::Empty { .. }));
}

#[test]
fn gzip_of_something_else() {
    assert!(matches!(
        err("not_nifti.nii.gz"),
        NiftiError::NotNifti { .. }
    ));
}

#[test]
fn png_with_nifti_extension() {
    let e = err("png_renamed.nii");
    assert!(matches!(e, NiftiError::NotNifti { .. }));
    assert!(e.to_string().contains("PNG"), "{e}");
}

#[test]
fn wrong_magic() {
    let e = err("wrong_magic.nii");
    assert!(matches!(e, NiftiError::NotNifti { .. }));
    assert!(e.to_string().contains("magic"), "{e}");
}

#[test]
fn header_pair_magic() {
    assert!(matches!(
        err("header_pair_magic.nii"),
        NiftiError::HeaderPair { .. }
    ));
}

#[test]
fn file_shorter_than_a_header() {
    assert!(matches!(
        err("header_only.nii"),
        NiftiError::Truncated { .. }
    ));
}

#[test]
fn truncated_voxel_data() {
    match err("truncated_data.nii") {
        NiftiError::Truncated {
            needed, available, ..
        } => {
            assert_eq!(needed, 352 + 240);
            assert_eq!(available, 352 + 120);
        }
        e => panic!("wrong error {e}"),
    }
}

#[test]
fn truncated_gzip_stream() {
    assert!(matches!(
        err("truncated_stream.nii.gz"),
        NiftiError::TruncatedGzip { .. } | NiftiError::Truncated { .. }
    ));
}

#[test]
fn corrupt_gzip_stream() {
    assert!(matches!(
        err("corrupt_stream.nii.gz"),
        NiftiError::CorruptGzip { .. }
    ));
}

#[test]
fn dims_the_file_cannot_hold_are_refused_before_allocating() {
    for name in ["impossible_dims.nii.gz", "impossible_dims.nii"] {
        match err(name) {
            NiftiError::ImpossibleSize { needed, .. } => {
                assert_eq!(needed, 352 + 2 * 30000u64.pow(3))
            }
            e => panic!("wrong error for {name}: {e}"),
        }
    }
}

#[test]
fn zero_dim() {
    let e = err("zero_dim.nii");
    assert!(matches!(e, NiftiError::BadDims { .. }));
    assert!(e.to_string().contains("dim[2] is 0"), "{e}");
}

#[test]
fn negative_dim() {
    let e = err("negative_dim.nii");
    assert!(e.to_string().contains("negative"), "{e}");
}

#[test]
fn too_many_dimensions() {
    assert!(matches!(err("bad_dim0.nii"), NiftiError::BadDims { .. }));
}

#[test]
fn unsupported_datatypes() {
    match err("unsupported_complex.nii") {
        NiftiError::UnsupportedDatatype { code, name, .. } => {
            assert_eq!((code, name), (32, "complex64"))
        }
        e => panic!("wrong error {e}"),
    }
    match err("unsupported_rgb.nii") {
        NiftiError::UnsupportedDatatype { code, name, .. } => {
            assert_eq!((code, name), (128, "rgb24"))
        }
        e => panic!("wrong error {e}"),
    }
}

#[test]
fn absurd_spacing() {
    for name in [
        "absurd_spacing_zero.nii",
        "absurd_spacing_huge.nii",
        "absurd_spacing_nan.nii",
    ] {
        assert!(
            matches!(err(name), NiftiError::AbsurdSpacing { .. }),
            "{name}"
        );
    }
}

#[test]
fn nan_and_inf_voxels_are_replaced_and_reported() {
    let v = read_volume(&corpus("nan_voxels.nii")).expect("readable with warnings");
    assert!(
        v.info.warnings.iter().any(|w| w.contains("3 NaN/Inf")),
        "{:?}",
        v.info.warnings
    );
    for i in 0..v.voxels.len() {
        assert!(v.voxels.get(i).is_finite());
    }
    // replaced by the minimum finite value (0), the others kept
    assert_eq!(v.voxels.get(3), 0.0);
    assert_eq!(v.voxels.get(4), 4.0);
}

#[test]
fn four_d_file_reads_the_first_volume_and_says_so() {
    let v = read_volume(&corpus("four_d_three_volumes.nii")).expect("readable");
    let first = read_volume(&corpus("valid_int16.nii")).expect("valid");
    assert_eq!(v.voxels, first.voxels);
    assert!(
        v.info.warnings.iter().any(|w| w.contains("3 volumes")),
        "{:?}",
        v.info.warnings
    );
}

#[test]
fn big_endian_file() {
    let v = read_volume(&corpus("big_endian.nii")).expect("readable");
    let le = read_volume(&corpus("valid_int16.nii")).expect("valid");
    assert_eq!(v.voxels, le.voxels);
    assert_eq!(v.geometry, le.geometry);
}

#[test]
fn missing_file_names_the_path() {
    let e = read_volume(&corpus("does_not_exist.nii.gz")).expect_err("missing");
    assert!(matches!(e, NiftiError::Io { .. }));
    assert!(e.to_string().ends_with("does_not_exist.nii.gz"), "{e}");
}

#[test]
fn mask_on_another_grid_is_refused() {
    let vol = read_volume(&corpus("valid_int16.nii")).expect("valid");
    let mut other = vol.geometry.clone();
    other.dims = [6, 5, 3];
    // the corpus volume is not a label map (values < 0): refused as such on its grid
    let e = read_mask(&corpus("valid_int16.nii"), Some(&vol.geometry)).expect_err("not labels");
    assert!(matches!(e, NiftiError::NotLabels { .. }), "{e}");
    // and on another grid the grid check comes first
    let e = read_mask(&corpus("valid_int16.nii"), Some(&other)).expect_err("grid");
    assert!(matches!(e, NiftiError::GridMismatch { .. }), "{e}");
}
