//! The whole analysis of one study.

use super::AnalysisError;
use super::hu::{HuFigures, hu_figures};
use super::quantify::{Quantities, SliceZoneCounts, Zone, quantify};
use super::scope::{self, Scope};
use super::segmentation::{Segmentation, SegmentationNotes};
use super::severity::Severity;
use crate::mask::LabelMask;
use crate::volume::Volume;
use serde::{Deserialize, Serialize};

/// The most involved axial slice of a zone level (upper, middle or lower thirds of
/// both lungs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySlice {
    /// The zone level.
    pub zone: Zone,
    /// Axial slice number (voxel index along the axial normal, as the viewer shows).
    pub slice: usize,
    /// Infected voxels of that zone on the slice.
    pub infected_voxels: u64,
    /// Lung voxels of that zone on the slice.
    pub lung_voxels: u64,
}

/// Everything measured on one study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Volumes, percentages, zones.
    pub quantities: Quantities,
    /// CT severity score.
    pub severity: Severity,
    /// HU statistics and density bands (or why they are absent).
    pub hu: HuFigures,
    /// The most involved axial slice per zone level (the zone's fullest lung slice
    /// where it has no infection); zones without lung are left out.
    pub key_slices: Vec<KeySlice>,
    /// What was noticed building the input.
    pub notes: SegmentationNotes,
    /// Whether the infection % stands (see [`super::scope`]); reports and the
    /// viewer give no percentage or severity score when it does not.
    pub scope: Scope,
}

/// Analyses a segmentation, with the CT volume for HU figures and a lobe mask
/// (labels 1–5) for the true-lobe severity score; both optional and, when given,
/// on the segmentation's grid.
pub fn analyze(
    seg: &Segmentation,
    volume: Option<&Volume>,
    lobes: Option<&LabelMask>,
) -> Result<Analysis, AnalysisError> {
    let (quantities, per_slice) = quantify(seg)?;
    let severity = match lobes {
        Some(l) => Severity::from_lobe_mask(seg, l)?,
        None => Severity::from_zones(&quantities),
    };
    let hu = hu_figures(seg, volume)?;
    Ok(Analysis {
        key_slices: key_slices(&per_slice),
        quantities,
        severity,
        hu,
        notes: seg.notes.clone(),
        scope: scope::assess(seg, volume, !seg.notes.no_lung_label),
    })
}

/// Picks the key slice of each zone level.
pub fn key_slices(c: &SliceZoneCounts) -> Vec<KeySlice> {
    let mut out = Vec::new();
    for zone in Zone::ALL {
        let z = zone as usize;
        let best = |v: &Vec<[u64; 3]>| {
            // First slice with the maximum count.
            v.iter()
                .enumerate()
                .fold(None, |best: Option<(usize, u64)>, (s, n)| match best {
                    Some((_, m)) if m >= n[z] => best,
                    _ => Some((s, n[z])),
                })
                .filter(|&(_, n)| n > 0)
        };
        let pick = best(&c.infected).or_else(|| best(&c.lung));
        if let Some((slice, _)) = pick {
            out.push(KeySlice {
                zone,
                slice,
                infected_voxels: c.infected[slice][z],
                lung_voxels: c.lung[slice][z],
            });
        }
    }
    out
}
