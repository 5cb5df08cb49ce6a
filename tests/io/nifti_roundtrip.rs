//! Write → read round trips of masks and volumes (both compressions, several
//! orientations, masks large enough to be compressed in several parallel pieces).

use lungscope::io::{read_mask, read_volume, write_mask, write_volume};
use lungscope::mask::LabelMask;
use lungscope::volume::geometry::IDENTITY;
use lungscope::volume::{Geometry, Volume, Voxels};

fn geometries() -> Vec<Geometry> {
    let mut oblique = IDENTITY;
    let t = 0.3f64;
    oblique[0] = [0.8 * t.cos(), -0.8 * t.sin(), 0.0, 12.5];
    oblique[1] = [0.8 * t.sin(), 0.8 * t.cos(), 0.0, -40.0];
    oblique[2] = [0.0, 0.0, -2.0, 88.0];
    let mut permuted = IDENTITY;
    permuted[0] = [0.0, 0.0, 1.5, 0.0];
    permuted[1] = [-0.7, 0.0, 0.0, 5.0];
    permuted[2] = [0.0, 0.7, 0.0, -5.0];
    vec![
        Geometry::with_signs([300, 200, 90], [0.7, 0.7, 1.25], [-1.0, -1.0, 1.0]),
        Geometry::from_affine([40, 30, 20], oblique),
        Geometry::from_affine([40, 30, 20], permuted),
    ]
}

fn close(a: &Geometry, b: &Geometry) {
    assert_eq!(a.dims, b.dims);
    for r in 0..4 {
        for c in 0..4 {
            assert!(
                (a.affine[r][c] - b.affine[r][c]).abs() < 1e-4,
                "{:?} vs {:?}",
                a.affine,
                b.affine
            );
        }
    }
}

#[test]
fn masks_round_trip_exactly() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (n, g) in geometries().into_iter().enumerate() {
        let labels: Vec<u8> = (0..g.len())
            .map(|i| match (i / 97) % 11 {
                0..=5 => 0,
                6 | 7 => 1,
                8 | 9 => 2,
                _ => 3,
            })
            .collect();
        let mask = LabelMask::new(g.clone(), labels).expect("sizes");
        for ext in ["nii.gz", "nii"] {
            let p = dir.path().join(format!("m{n}.{ext}"));
            write_mask(&p, &mask, None).expect("written");
            let back = read_mask(&p, Some(&g)).expect("read back on the same grid");
            assert_eq!(back.labels, mask.labels, "{ext} #{n}");
            close(&back.geometry, &g);
        }
    }
}

#[test]
fn volumes_round_trip_exactly() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (n, g) in geometries().into_iter().enumerate() {
        let i16s: Vec<i16> = (0..g.len())
            .map(|i| ((i * 37) % 3000) as i16 - 1024)
            .collect();
        let f32s: Vec<f32> = (0..g.len())
            .map(|i| (i % 1000) as f32 * 0.25 - 100.0)
            .collect();
        for voxels in [Voxels::I16(i16s), Voxels::F32(f32s)] {
            let v = Volume::new(g.clone(), voxels).expect("sizes");
            let p = dir
                .path()
                .join(format!("v{n}_{}.nii.gz", v.voxels.storage_name()));
            write_volume(&p, &v).expect("written");
            let back = read_volume(&p).expect("read back");
            assert_eq!(back.voxels, v.voxels);
            close(&back.geometry, &g);
        }
    }
}

#[test]
fn a_failed_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let g = Geometry::with_signs([4, 4, 4], [1.0; 3], [1.0; 3]);
    let mask = LabelMask::empty(g);
    // the target's folder does not exist: an error naming it, and no stray files
    let p = dir.path().join("missing").join("m.nii.gz");
    let e = write_mask(&p, &mask, None).expect_err("no folder");
    assert!(e.to_string().contains("missing"), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
}
