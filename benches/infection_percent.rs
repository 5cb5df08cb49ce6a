//! Infection % over a 512×512×300 lung/infection mask pair, against the numpy
//! reference of `../shared/bench/infection_percent.py` (`np.count_nonzero`:
//! 28.9 ms median on this project's 2-core machine).
//!
//! Data: the masks written by `../shared/bench/make_volume.py` in
//! `$LUNGSCOPE_BENCH_DIR` (default `$HOME/.cache/lungscope-bench`), checked
//! against the voxel counts of its JSON; without them, a deterministic phantom of
//! the same size is generated here. See docs/analysis.md.
//!
//! Run: `cargo bench --bench infection_percent`.

use criterion::{Criterion, criterion_group, criterion_main};
use lungscope::analysis::{
    Components, Connectivity, Segmentation, SplitOptions, analyze, count_infection,
    split_left_right,
};
use lungscope::mask::LabelMask;
use lungscope::volume::Geometry;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

/// The lung and infection masks, and where they came from.
struct Masks {
    lung: LabelMask,
    infection: LabelMask,
    source: String,
}

fn bench_dir() -> PathBuf {
    std::env::var_os("LUNGSCOPE_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/lungscope-bench")
        })
}

/// Reads make_volume.py's masks and checks them against its ground truth.
fn load_reference() -> Option<Masks> {
    let dir = bench_dir();
    let stem = dir.join("ct_512x512x300");
    let lung_p = PathBuf::from(format!("{}_lung.nii.gz", stem.display()));
    let inf_p = PathBuf::from(format!("{}_infection.nii.gz", stem.display()));
    if !lung_p.is_file() || !inf_p.is_file() {
        return None;
    }
    let lung = lungscope::io::read_mask(&lung_p, None).expect("lung mask");
    let infection = lungscope::io::read_mask(&inf_p, Some(&lung.geometry)).expect("infection mask");
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}.json", stem.display())).expect("ground-truth JSON"),
    )
    .expect("JSON");
    let c = count_infection(&lung.labels, &infection.labels);
    assert_eq!(Some(c.lung), meta["lung_voxels"].as_u64(), "lung voxels");
    assert_eq!(
        Some(c.infected),
        meta["infected_voxels"].as_u64(),
        "infected voxels"
    );
    Some(Masks {
        lung,
        infection,
        source: format!("make_volume.py masks in {}", dir.display()),
    })
}

/// A deterministic phantom of the same size: two ellipsoid lungs (labels 1, 2)
/// and spherical lesions.
fn generate() -> Masks {
    let g = Geometry::with_signs([512, 512, 300], [0.7, 0.7, 1.5], [-1.0, -1.0, 1.0]);
    let [nx, ny, nz] = g.dims;
    let mut lung = vec![0u8; g.len()];
    let mut inf = vec![0u8; g.len()];
    let lungs = [
        (156.0, 240.0, 150.0, 74.0, 105.0, 120.0),
        (356.0, 240.0, 150.0, 72.0, 102.0, 117.0),
    ];
    let lesions = [
        (166.0, 177.0, 100.0, 20.0),
        (308.0, 257.0, 166.0, 28.0),
        (140.0, 216.0, 226.0, 33.0),
        (344.0, 263.0, 156.0, 35.0),
    ];
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let (x, y, z) = (i as f64, j as f64, k as f64);
                let idx = g.index(i, j, k);
                for (n, &(cx, cy, cz, ax, ay, az)) in lungs.iter().enumerate() {
                    let d =
                        ((x - cx) / ax).powi(2) + ((y - cy) / ay).powi(2) + ((z - cz) / az).powi(2);
                    if d <= 1.0 {
                        lung[idx] = n as u8 + 1;
                    }
                }
                if lung[idx] != 0 {
                    for &(cx, cy, cz, r) in &lesions {
                        let d = (x - cx).powi(2) + (y - cy).powi(2) + ((z - cz) * 0.5).powi(2);
                        if d <= r * r {
                            inf[idx] = 1;
                        }
                    }
                }
            }
        }
    }
    Masks {
        lung: LabelMask::new(g.clone(), lung).expect("size"),
        infection: LabelMask::new(g, inf).expect("size"),
        source: "generated phantom (make_volume.py masks not found)".into(),
    }
}

fn benches(c: &mut Criterion) {
    let m = load_reference().unwrap_or_else(generate);
    let counts = count_infection(&m.lung.labels, &m.infection.labels);
    eprintln!(
        "masks {:?}: {}; lung {} voxels, infected {} = {:.4} %",
        m.lung.geometry.dims,
        m.source,
        counts.lung,
        counts.infected,
        counts.percent()
    );

    let mut g = c.benchmark_group("infection_percent");
    g.sample_size(30).measurement_time(Duration::from_secs(8));
    g.bench_function("count_infection (all threads)", |b| {
        b.iter(|| {
            count_infection(black_box(&m.lung.labels), black_box(&m.infection.labels)).percent()
        })
    });
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("thread pool");
    g.bench_function("count_infection (1 thread)", |b| {
        b.iter(|| {
            one.install(|| {
                count_infection(black_box(&m.lung.labels), black_box(&m.infection.labels)).percent()
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("analysis");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    let unsided: Vec<bool> = m.lung.labels.iter().map(|&l| l != 0).collect();
    g.bench_function("connected components, 6-connectivity", |b| {
        b.iter(|| {
            Components::of_bool(
                m.lung.geometry.dims,
                black_box(&unsided),
                Connectivity::Face6,
            )
            .count()
        })
    });
    g.bench_function("split_left_right", |b| {
        b.iter(|| {
            split_left_right(
                black_box(&unsided),
                &m.lung.geometry,
                &SplitOptions::default(),
            )
            .expect("lungs")
            .info
            .left_voxels
        })
    });
    g.bench_function("from_masks + analyze (no HU)", |b| {
        b.iter(|| {
            let seg = Segmentation::from_masks(&m.lung, &m.infection, &SplitOptions::default())
                .expect("segmentation");
            analyze(&seg, None, None)
                .expect("analysis")
                .quantities
                .total
                .infection_percent
        })
    });
    g.finish();
}

criterion_group!(all, benches);
criterion_main!(all);
