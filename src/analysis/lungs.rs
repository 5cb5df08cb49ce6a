//! Splitting a lung mask into the patient's left and right lung.
//!
//! Positions are world millimetres in NIfTI RAS+ space, where x grows towards the
//! patient's **right**: the left lung is on the −x side of the midline whatever the
//! storage order of the file (LPS, RAS or permuted), so the result is the same for
//! any affine describing the same anatomy.
//!
//! The midline is the patient's, not the image's: it is found in the x-profile of
//! the lung voxels (voxels per millimetre of x). Two lungs give two humps; the
//! midline is the empty gap between them or, when the lungs touch (e.g. at the
//! anterior junction line) and form one connected component, the deepest valley of
//! the profile near the body centre. Every connected component lying on one side
//! goes to that side whole; a large component straddling the midline (fused lungs)
//! is cut along the midline plane. Small specks are assigned by their centroid (or
//! dropped on request). A mask with one hump is one lung, placed by its centroid
//! relative to the body centre.

use super::AnalysisError;
use super::components::{Components, Connectivity};
use super::midline::{GAP_SIDE_FRACTION, Profile, row_x};
use crate::mask::{BACKGROUND, LEFT_LUNG, LabelMask, RIGHT_LUNG};
use crate::volume::{Geometry, Volume, Voxels};
use serde::{Deserialize, Serialize};

/// A component holding at least this fraction of each side counts as a straddler
/// (it is cut by the midline plane instead of being assigned whole).
const STRADDLE_FRACTION: f64 = 0.1;

/// How to split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SplitOptions {
    /// Connectivity of the components (face connectivity separates lungs that touch
    /// only along an edge).
    #[serde(skip)]
    pub connectivity: Connectivity,
    /// Components smaller than this fraction of all lung voxels are specks.
    pub speck_fraction: f64,
    /// Remove specks instead of assigning them to a side.
    pub drop_specks: bool,
    /// The body centre in world x (mm), if known (see [`body_center_x_mm`]);
    /// otherwise the lung mask's centroid guides the midline search, and a single
    /// lung is placed relative to the image centre.
    pub body_center_x_mm: Option<f64>,
}

impl Default for SplitOptions {
    fn default() -> Self {
        Self {
            connectivity: Connectivity::Face6,
            speck_fraction: 0.005,
            drop_specks: false,
            body_center_x_mm: None,
        }
    }
}

/// How the sides were decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitMethod {
    /// The lungs were separate components on either side of the midline.
    SeparateComponents,
    /// At least one component crossed the midline and was cut by the midline plane.
    MidlinePlane,
    /// One lung only; its side comes from its position relative to the body centre.
    SingleLung,
}

impl SplitMethod {
    /// The snake-case name used in JSON and CSV.
    pub fn key(self) -> &'static str {
        match self {
            SplitMethod::SeparateComponents => "separate_components",
            SplitMethod::MidlinePlane => "midline_plane",
            SplitMethod::SingleLung => "single_lung",
        }
    }
}

/// The result of [`split_left_right`].
#[derive(Debug, Clone, PartialEq)]
pub struct LungSplit {
    /// The lungs: [`LEFT_LUNG`], [`RIGHT_LUNG`] or background.
    pub mask: LabelMask,
    /// What was found.
    pub info: SplitInfo,
}

/// Facts about a split, for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitInfo {
    /// How the sides were decided.
    pub method: SplitMethod,
    /// The midline plane's world x in mm (RAS+; left lung at smaller x).
    pub midline_x_mm: f64,
    /// Connected components of the input mask.
    pub components: usize,
    /// Of which specks (below the speck fraction).
    pub specks: usize,
    /// Voxels in specks.
    pub speck_voxels: u64,
    /// True if specks were removed rather than assigned.
    pub specks_dropped: bool,
    /// Left lung voxels.
    pub left_voxels: u64,
    /// Right lung voxels.
    pub right_voxels: u64,
}

/// Splits a boolean lung mask (column-major on `geometry`) into left and right.
pub fn split_left_right(
    lung: &[bool],
    geometry: &Geometry,
    options: &SplitOptions,
) -> Result<LungSplit, AnalysisError> {
    check_len(lung.len(), geometry)?;
    let comps = Components::of_bool(geometry.dims, lung, options.connectivity);
    split_components(&comps, geometry, options)
}

/// Splits the non-zero voxels of a label mask (all labels count as lung).
pub fn split_label_mask(
    mask: &LabelMask,
    options: &SplitOptions,
) -> Result<LungSplit, AnalysisError> {
    check_len(mask.labels.len(), &mask.geometry)?;
    let comps = Components::of_labels(mask, &[], options.connectivity);
    split_components(&comps, &mask.geometry, options)
}

/// The body's centre in world x (mm): the mean x of voxels denser than −400 HU
/// (soft tissue, bone, the table). `None` if there are none.
pub fn body_center_x_mm(volume: &Volume) -> Option<f64> {
    let g = &volume.geometry;
    let [nx, ny, nz] = g.dims;
    let a = g.affine[0];
    let (mut sum, mut n) = (0.0f64, 0u64);
    let mut add_row = |row: usize, dense: &mut dyn Iterator<Item = bool>| {
        let (j, k) = ((row % ny) as f64, (row / ny) as f64);
        let base = a[1] * j + a[2] * k + a[3];
        for (i, d) in dense.enumerate() {
            if d {
                sum += a[0] * i as f64 + base;
                n += 1;
            }
        }
    };
    if nx == 0 || ny == 0 || nz == 0 {
        return None;
    }
    match &volume.voxels {
        Voxels::I16(v) => {
            for (row, line) in v.chunks_exact(nx).enumerate() {
                add_row(row, &mut line.iter().map(|&h| h > -400));
            }
        }
        Voxels::F32(v) => {
            for (row, line) in v.chunks_exact(nx).enumerate() {
                add_row(row, &mut line.iter().map(|&h| h > -400.0));
            }
        }
    }
    (n > 0).then(|| sum / n as f64)
}

fn check_len(len: usize, geometry: &Geometry) -> Result<(), AnalysisError> {
    if len != geometry.len() {
        return Err(AnalysisError::SizeMismatch {
            what: "lung mask",
            expected: geometry.len(),
            found: len,
        });
    }
    Ok(())
}

/// Which side of the midline each component goes to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Left,
    Right,
    Cut,
    Drop,
}

fn split_components(
    comps: &Components,
    geometry: &Geometry,
    options: &SplitOptions,
) -> Result<LungSplit, AnalysisError> {
    let total = comps.total();
    if total == 0 {
        return Err(AnalysisError::NoLung);
    }
    let spacing_x = geometry
        .spacing
        .iter()
        .cloned()
        .fold(f64::INFINITY, f64::min);
    let profile = Profile::new(comps, geometry, spacing_x.clamp(0.25, 5.0));
    let centroid_x = profile.mean();
    let center = options.body_center_x_mm.unwrap_or(centroid_x);
    let speck_limit = (options.speck_fraction * total as f64).ceil() as u64;
    let is_speck = |c: u32| comps.size(c) < speck_limit.max(1);

    let mut midline = profile
        .gap_midline(center, (GAP_SIDE_FRACTION * total as f64) as u64)
        .or_else(|| profile.valley_midline(center));
    let mut method = SplitMethod::SeparateComponents;
    if midline.is_none() {
        method = SplitMethod::SingleLung;
        let image_center = geometry.vox2mm(geometry.dims.map(|d| (d as f64 - 1.0) / 2.0))[0];
        midline = Some(options.body_center_x_mm.unwrap_or(image_center));
    }
    let mid = midline.unwrap_or(center);

    // Voxels of each component on the left (x < mid).
    let n = comps.count();
    let mut left = vec![0u64; n + 1];
    for run in &comps.runs {
        let (x0, dx) = row_x(geometry, comps, run.row);
        left[run.component as usize] += count_below(x0, dx, run.start, run.end, mid);
    }
    let mut fates = vec![Fate::Drop; n + 1];
    let mut specks = (0usize, 0u64);
    for c in 1..=n as u32 {
        let size = comps.size(c);
        let l = left[c as usize];
        let speck = is_speck(c);
        if speck {
            specks.0 += 1;
            specks.1 += size;
        }
        let minority = l.min(size - l) as f64 / size as f64;
        fates[c as usize] = if speck && options.drop_specks {
            Fate::Drop
        } else if method != SplitMethod::SingleLung && !speck && minority >= STRADDLE_FRACTION {
            method = SplitMethod::MidlinePlane;
            Fate::Cut
        } else if 2 * l > size {
            Fate::Left
        } else {
            Fate::Right
        };
    }

    let mut labels = vec![BACKGROUND; geometry.len()];
    let nx = geometry.dims[0];
    let (mut lv, mut rv) = (0u64, 0u64);
    for run in &comps.runs {
        let base = run.row as usize * nx;
        let span = &mut labels[base + run.start as usize..base + run.end as usize];
        match fates[run.component as usize] {
            Fate::Left => {
                span.fill(LEFT_LUNG);
                lv += run.len();
            }
            Fate::Right => {
                span.fill(RIGHT_LUNG);
                rv += run.len();
            }
            Fate::Drop => {}
            Fate::Cut => {
                let (x0, dx) = row_x(geometry, comps, run.row);
                for (o, l) in span.iter_mut().enumerate() {
                    let x = x0 + dx * (run.start as usize + o) as f64;
                    if x < mid {
                        *l = LEFT_LUNG;
                        lv += 1;
                    } else {
                        *l = RIGHT_LUNG;
                        rv += 1;
                    }
                }
            }
        }
    }
    Ok(LungSplit {
        mask: LabelMask {
            geometry: geometry.clone(),
            labels,
        },
        info: SplitInfo {
            method,
            midline_x_mm: mid,
            components: n,
            specks: specks.0,
            speck_voxels: specks.1,
            specks_dropped: options.drop_specks,
            left_voxels: lv,
            right_voxels: rv,
        },
    })
}

/// Voxels `i` in `start..end` with `x0 + dx * i < mid`.
fn count_below(x0: f64, dx: f64, start: u32, end: u32, mid: f64) -> u64 {
    (start..end)
        .filter(|&i| x0 + dx * f64::from(i) < mid)
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::phantom::{Ellipsoid, paint_ellipsoids};

    const BRIDGE: u8 = 7;

    fn grid(signs: [f64; 3]) -> Geometry {
        Geometry::with_signs([72, 40, 30], [3.0, 3.0, 4.0], signs)
    }

    /// Left lung (−x) and a larger right lung (+x).
    fn lungs() -> [(Ellipsoid, u8); 2] {
        [
            (
                Ellipsoid::new([-55.0, 0.0, 0.0], [35.0, 45.0, 50.0]),
                LEFT_LUNG,
            ),
            (
                Ellipsoid::new([58.0, 0.0, 0.0], [40.0, 48.0, 52.0]),
                RIGHT_LUNG,
            ),
        ]
    }

    fn world_x(g: &Geometry, idx: usize) -> f64 {
        let [nx, ny, _] = g.dims;
        g.vox2mm([
            (idx % nx) as f64,
            ((idx / nx) % ny) as f64,
            (idx / (nx * ny)) as f64,
        ])[0]
    }

    #[test]
    fn separate_lungs_in_lps_and_ras() {
        for signs in [[-1.0, -1.0, 1.0], [1.0, 1.0, 1.0], [1.0, -1.0, -1.0]] {
            let g = grid(signs);
            let truth = paint_ellipsoids(&g, &lungs());
            let lung: Vec<bool> = truth.iter().map(|&l| l != 0).collect();
            let s = split_left_right(&lung, &g, &SplitOptions::default()).expect("lungs");
            assert_eq!(s.mask.labels, truth, "signs {signs:?}");
            assert_eq!(s.info.method, SplitMethod::SeparateComponents);
            assert!(s.info.midline_x_mm.abs() < 20.0, "{}", s.info.midline_x_mm);
            for (idx, &l) in s.mask.labels.iter().enumerate() {
                match l {
                    LEFT_LUNG => assert!(world_x(&g, idx) < 0.0),
                    RIGHT_LUNG => assert!(world_x(&g, idx) > 0.0),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn fused_lungs_are_cut_at_the_midline() {
        for signs in [[-1.0, -1.0, 1.0], [1.0, 1.0, 1.0]] {
            let g = grid(signs);
            let [l, r] = lungs();
            // An anterior bridge across the midline joins the lungs.
            let bridge = (Ellipsoid::new([0.0, 30.0, 0.0], [40.0, 6.0, 20.0]), BRIDGE);
            let truth = paint_ellipsoids(&g, &[l, r]);
            let with_bridge = paint_ellipsoids(&g, &[bridge, l, r]);
            let lung: Vec<bool> = with_bridge.iter().map(|&v| v != 0).collect();
            let c = Components::of_bool(g.dims, &lung, Connectivity::Face6);
            assert_eq!(c.count(), 1, "the phantom must be one component");
            let s = split_left_right(&lung, &g, &SplitOptions::default()).expect("lungs");
            assert_eq!(s.info.method, SplitMethod::MidlinePlane);
            for (idx, (&got, &t)) in s.mask.labels.iter().zip(&truth).enumerate() {
                if t != 0 {
                    assert_eq!(got, t, "lung voxel {idx} mislabelled ({signs:?})");
                } else if got != 0 {
                    // Bridge voxels follow the midline plane.
                    let x = world_x(&g, idx);
                    assert_eq!(got == LEFT_LUNG, x < s.info.midline_x_mm);
                }
            }
        }
    }

    #[test]
    fn specks_go_to_their_side_or_are_dropped() {
        let g = grid([-1.0, -1.0, 1.0]);
        let mut labels = paint_ellipsoids(&g, &lungs());
        // One speck far left, one far right (world x ∓103.5 mm in this LPS grid).
        let (far_left, far_right) = ([70.0, 20.0, 15.0], [1.0, 20.0, 15.0]);
        assert!(g.vox2mm(far_left)[0] < -100.0 && g.vox2mm(far_right)[0] > 100.0);
        let at = |v: [f64; 3]| g.index(v[0] as usize, v[1] as usize, v[2] as usize);
        labels[at(far_left)] = 9;
        labels[at(far_right)] = 9;
        let mask = LabelMask::new(g.clone(), labels).expect("size");
        let s = split_label_mask(&mask, &SplitOptions::default()).expect("lungs");
        assert_eq!(s.info.specks, 2);
        assert_eq!(s.mask.labels[at(far_left)], LEFT_LUNG);
        assert_eq!(s.mask.labels[at(far_right)], RIGHT_LUNG);
        let opts = SplitOptions {
            drop_specks: true,
            ..SplitOptions::default()
        };
        let s = split_label_mask(&mask, &opts).expect("lungs");
        assert_eq!(s.mask.labels[at(far_left)], BACKGROUND);
        assert_eq!(s.mask.labels[at(far_right)], BACKGROUND);
        assert_eq!(s.info.speck_voxels, 2);
    }

    #[test]
    fn a_single_lung_is_placed_by_the_body_centre() {
        for signs in [[-1.0, -1.0, 1.0], [1.0, 1.0, 1.0]] {
            let g = grid(signs);
            let [_, r] = lungs();
            let truth = paint_ellipsoids(&g, &[r]);
            let lung: Vec<bool> = truth.iter().map(|&l| l != 0).collect();
            let s = split_left_right(&lung, &g, &SplitOptions::default()).expect("lung");
            assert_eq!(s.info.method, SplitMethod::SingleLung);
            assert_eq!(s.info.left_voxels, 0);
            assert_eq!(s.mask.labels, truth);
            // With a body centre to the right of the lung, it is the left lung.
            let opts = SplitOptions {
                body_center_x_mm: Some(120.0),
                ..SplitOptions::default()
            };
            let s = split_left_right(&lung, &g, &opts).expect("lung");
            assert_eq!(s.info.right_voxels, 0);
        }
    }

    #[test]
    fn a_small_lung_beside_a_large_one_is_still_found() {
        let g = grid([1.0, 1.0, 1.0]);
        let lungs = [
            (
                Ellipsoid::new([-50.0, 0.0, 0.0], [15.0, 20.0, 25.0]),
                LEFT_LUNG,
            ),
            (
                Ellipsoid::new([45.0, 0.0, 0.0], [50.0, 55.0, 55.0]),
                RIGHT_LUNG,
            ),
        ];
        let truth = paint_ellipsoids(&g, &lungs);
        let lung: Vec<bool> = truth.iter().map(|&l| l != 0).collect();
        let s = split_left_right(&lung, &g, &SplitOptions::default()).expect("lungs");
        assert_eq!(s.mask.labels, truth);
    }

    #[test]
    fn method_keys_match_serde() {
        for m in [
            SplitMethod::SeparateComponents,
            SplitMethod::MidlinePlane,
            SplitMethod::SingleLung,
        ] {
            assert_eq!(serde_json::to_value(m).expect("json"), m.key());
        }
    }

    #[test]
    fn empty_and_wrong_sized_masks_are_errors() {
        let g = grid([1.0; 3]);
        assert!(matches!(
            split_left_right(&vec![false; g.len()], &g, &SplitOptions::default()),
            Err(AnalysisError::NoLung)
        ));
        assert!(matches!(
            split_left_right(&[true; 5], &g, &SplitOptions::default()),
            Err(AnalysisError::SizeMismatch { .. })
        ));
    }

    #[test]
    fn body_centre_follows_dense_voxels() {
        let g = Geometry::with_signs([10, 2, 2], [2.0; 3], [-1.0, 1.0, 1.0]);
        // Dense voxels at i = 0 and 1 only: world x = 9 and 7 (LPS, centred).
        let v: Vec<i16> = (0..40)
            .map(|n| if n % 10 < 2 { 40 } else { -1000 })
            .collect();
        let vol = Volume::new(g, Voxels::I16(v)).expect("size");
        let c = body_center_x_mm(&vol).expect("dense voxels");
        assert!((c - 8.0).abs() < 1e-9, "{c}");
    }
}
