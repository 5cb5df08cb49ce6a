//! Slice order and the voxel → mm affine of a DICOM series.
//!
//! Voxel index `i` is the column, `j` the row, `k` the slice sorted by its
//! position along the slice normal `n = row × column` (ascending, as ITK does).
//! The affine is built in DICOM LPS and converted to NIfTI RAS+ by negating its
//! first two rows.

use super::DicomError;
use crate::volume::Affine;
use std::path::Path;

/// Largest relative difference of a gap from the median gap.
const SPACING_TOLERANCE: f64 = 0.10;
/// Positions closer than this along the normal are the same position (mm).
const SAME_POSITION_MM: f64 = 1e-3;

/// The geometry attributes of one frame.
#[derive(Debug, Clone)]
pub(super) struct FrameGeom {
    /// File name (and frame number) for messages.
    pub label: String,
    pub position: Option<[f64; 3]>,
    pub orientation: Option<[f64; 6]>,
    /// Between rows, between columns (mm).
    pub pixel_spacing: Option<[f64; 2]>,
    /// SpacingBetweenSlices, else SliceThickness (mm).
    pub thickness: Option<f64>,
}

/// The frames in slice order and the grid's affine.
#[derive(Debug)]
pub(super) struct Placed {
    /// Indices into the frames, sorted along the normal.
    pub order: Vec<usize>,
    /// Voxel → RAS+ mm.
    pub affine: Affine,
    /// Assumptions made (missing attributes).
    pub warnings: Vec<String>,
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

fn unit(a: [f64; 3]) -> Option<[f64; 3]> {
    let n = norm(a);
    (n.is_finite() && n > 1e-6).then(|| a.map(|x| x / n))
}

/// Row direction, column direction and normal from an orientation, checked to be
/// (nearly) unit and orthogonal.
fn axes(o: [f64; 6]) -> Option<[[f64; 3]; 3]> {
    let r = [o[0], o[1], o[2]];
    let c = [o[3], o[4], o[5]];
    let (nr, nc) = (norm(r), norm(c));
    if !(0.9..=1.1).contains(&nr) || !(0.9..=1.1).contains(&nc) || dot(r, c).abs() > 0.01 {
        return None;
    }
    let r = unit(r)?;
    let c = unit(c)?;
    let n = unit(cross(r, c))?;
    Some([r, c, n])
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// The median distance between neighbouring slice positions along the normal, if
/// the frames share an orientation and have positions (for listings; no checks).
pub(super) fn median_spacing(frames: &[FrameGeom]) -> Option<f64> {
    let [_, _, n] = axes(frames.first()?.orientation?)?;
    let mut d: Vec<f64> = frames
        .iter()
        .map(|f| f.position.map(|p| dot(p, n)))
        .collect::<Option<_>>()?;
    d.sort_by(f64::total_cmp);
    let mut gaps: Vec<f64> = d.windows(2).map(|w| w[1] - w[0]).collect();
    median(&mut gaps)
}

/// Sorts the frames along the normal, checks the spacing, and builds the affine.
pub(super) fn place(frames: &[FrameGeom], path: &Path) -> Result<Placed, DicomError> {
    let mut warnings = Vec::new();
    let bad = |what: String| DicomError::BadAttribute {
        what,
        path: path.to_path_buf(),
    };
    let first = frames
        .first()
        .ok_or_else(|| bad("no image in the series".into()))?;
    let single = frames.len() == 1;

    // Orientation: identical for all frames (they were grouped by it).
    let orientation = match first.orientation {
        Some(o) => o,
        None if single => {
            warnings.push("no ImageOrientationPatient: assumed axial (1,0,0 / 0,1,0)".into());
            [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        }
        None => {
            return Err(bad(format!(
                "ImageOrientationPatient missing in {}; the slices cannot be placed",
                first.label
            )));
        }
    };
    let [r, c, n] = axes(orientation).ok_or_else(|| {
        bad(format!(
            "ImageOrientationPatient {orientation:?} is not two orthogonal unit vectors ({})",
            first.label
        ))
    })?;

    // Pixel spacing: identical for all frames.
    let pixel_spacing = match first.pixel_spacing {
        Some([dr, dc]) if dr > 0.0 && dc > 0.0 => [dr, dc],
        _ => {
            warnings.push("no valid PixelSpacing: assumed 1 x 1 mm".into());
            [1.0, 1.0]
        }
    };
    if let Some(other) = frames.iter().find(|f| {
        f.pixel_spacing.is_some_and(|p| {
            (p[0] - pixel_spacing[0]).abs() > 1e-4 * pixel_spacing[0]
                || (p[1] - pixel_spacing[1]).abs() > 1e-4 * pixel_spacing[1]
        })
    }) {
        return Err(DicomError::Inconsistent {
            reason: format!(
                "PixelSpacing differs between slices: {:?} in {} vs {:?} in {}",
                first.pixel_spacing, first.label, other.pixel_spacing, other.label
            ),
            path: path.to_path_buf(),
        });
    }

    let (order, origin, step) = if single {
        let origin = first.position.unwrap_or_else(|| {
            warnings.push("no ImagePositionPatient: the image is placed at the origin".into());
            [0.0; 3]
        });
        let thickness = first.thickness.unwrap_or_else(|| {
            warnings.push(
                "single image without SpacingBetweenSlices or SliceThickness: 1 mm assumed".into(),
            );
            1.0
        });
        (vec![0], origin, thickness)
    } else {
        let positions: Vec<[f64; 3]> = frames
            .iter()
            .map(|f| {
                f.position.ok_or_else(|| {
                    bad(format!(
                        "ImagePositionPatient missing in {}; the slices cannot be ordered",
                        f.label
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let dist: Vec<f64> = positions.iter().map(|&p| dot(p, n)).collect();
        let mut order: Vec<usize> = (0..frames.len()).collect();
        order.sort_by(|&a, &b| dist[a].total_cmp(&dist[b]));
        let gaps: Vec<f64> = order.windows(2).map(|w| dist[w[1]] - dist[w[0]]).collect();
        if let Some(k) = gaps.iter().position(|&g| g < SAME_POSITION_MM) {
            return Err(DicomError::DuplicatePosition {
                position_mm: dist[order[k]],
                a: frames[order[k]].label.clone(),
                b: frames[order[k + 1]].label.clone(),
                path: path.to_path_buf(),
            });
        }
        let med = median(&mut gaps.clone()).unwrap_or(1.0);
        if let Some(k) = gaps
            .iter()
            .position(|&g| (g - med).abs() > SPACING_TOLERANCE * med)
        {
            return Err(DicomError::UnevenSpacing {
                gap_mm: gaps[k],
                median_mm: med,
                k,
                a: frames[order[k]].label.clone(),
                b: frames[order[k + 1]].label.clone(),
                path: path.to_path_buf(),
            });
        }
        // Gantry tilt: displacement from the first slice must follow the normal.
        let p0 = positions[order[0]];
        let mut worst = 0.0f64;
        for &i in &order[1..] {
            let d = sub(positions[i], p0);
            let along = dot(d, n);
            let perp = norm(sub(d, n.map(|x| x * along)));
            if perp > 0.01 + 0.002 * along.abs() {
                worst = worst.max(perp.atan2(along.abs()).to_degrees());
            }
        }
        if worst > 0.0 {
            return Err(DicomError::GantryTilt {
                angle_deg: worst,
                path: path.to_path_buf(),
            });
        }
        let last = order[order.len() - 1];
        let step = (dist[last] - dist[order[0]]) / (order.len() - 1) as f64;
        (order, p0, step)
    };

    // LPS affine: i along the row direction (column spacing), j along the column
    // direction (row spacing), k along the normal.
    let cols = [
        r.map(|x| x * pixel_spacing[1]),
        c.map(|x| x * pixel_spacing[0]),
        n.map(|x| x * step),
    ];
    let mut affine = [[0.0; 4]; 4];
    for row in 0..3 {
        for (a, col) in cols.iter().enumerate() {
            affine[row][a] = col[row];
        }
        affine[row][3] = origin[row];
    }
    affine[3][3] = 1.0;
    // LPS → RAS+.
    for row in affine.iter_mut().take(2) {
        for x in row.iter_mut() {
            *x = -*x;
        }
    }
    Ok(Placed {
        order,
        affine,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(z: f64, x: f64) -> FrameGeom {
        FrameGeom {
            label: format!("z{z}"),
            position: Some([x, 0.0, z]),
            orientation: Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
            pixel_spacing: Some([0.5, 0.7]),
            thickness: None,
        }
    }

    #[test]
    fn sorts_by_position_and_builds_ras_affine() {
        let frames = vec![frame(4.0, 0.0), frame(0.0, 0.0), frame(2.0, 0.0)];
        let p = place(&frames, Path::new("x")).expect("placed");
        assert_eq!(p.order, vec![1, 2, 0]);
        // i: +x LPS (left) → -x RAS at 0.7 mm; j: +y LPS (posterior) → -y RAS at 0.5 mm.
        assert_eq!(p.affine[0][0], -0.7);
        assert_eq!(p.affine[1][1], -0.5);
        assert_eq!(p.affine[2][2], 2.0);
        assert_eq!(p.affine[2][3], 0.0);
    }

    #[test]
    fn refuses_duplicates_gaps_and_tilt() {
        let dup = vec![frame(0.0, 0.0), frame(0.0, 0.0), frame(2.0, 0.0)];
        assert!(matches!(
            place(&dup, Path::new("x")),
            Err(DicomError::DuplicatePosition { .. })
        ));
        let gap = vec![
            frame(0.0, 0.0),
            frame(2.0, 0.0),
            frame(4.0, 0.0),
            frame(8.0, 0.0),
        ];
        assert!(matches!(
            place(&gap, Path::new("x")),
            Err(DicomError::UnevenSpacing { k: 2, .. })
        ));
        let tilt = vec![frame(0.0, 0.0), frame(2.0, 0.5), frame(4.0, 1.0)];
        assert!(matches!(
            place(&tilt, Path::new("x")),
            Err(DicomError::GantryTilt { .. })
        ));
    }
}
