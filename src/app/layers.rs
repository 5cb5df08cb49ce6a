//! Mask overlay layers and the composite label map the GPU shows.
//!
//! Each layer is a label mask on the volume grid (a file, a segmentation result,
//! an edited mask). The composite is what the overlay texture holds: where
//! visible layers overlap, the larger label value wins, so findings (infection 3,
//! ground-glass 4, consolidation 5) show over the lungs (1, 2) whatever order the
//! files were opened in. Changing a box of one layer recomposites only that box,
//! so the GPU update stays small.

use crate::mask::LabelMask;
use crate::volume::{Geometry, Region};
use std::path::PathBuf;

/// One overlay layer.
#[derive(Debug, Clone)]
pub struct MaskLayer {
    /// Display name (file name or job name).
    pub name: String,
    /// The file it came from, if any.
    pub path: Option<PathBuf>,
    /// The labels.
    pub mask: LabelMask,
    /// Drawn in the composite.
    pub visible: bool,
}

/// Copies a box out of a column-major label grid.
pub fn extract_region(geometry: &Geometry, labels: &[u8], region: &Region) -> Vec<u8> {
    let mut out = vec![0u8; region.len()];
    region.for_each(geometry.dims, |g, b| out[b] = labels[g]);
    out
}

/// Recomputes `composite` inside `region` from the visible `layers` (largest
/// label wins).
pub fn composite_region(composite: &mut LabelMask, layers: &[MaskLayer], region: &Region) {
    let dims = composite.geometry.dims;
    let visible: Vec<&[u8]> = layers
        .iter()
        .filter(|l| l.visible)
        .map(|l| l.mask.labels.as_slice())
        .collect();
    region.for_each(dims, |g, _| {
        composite.labels[g] = visible.iter().map(|l| l[g]).max().unwrap_or(0);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(labels: Vec<u8>, visible: bool) -> MaskLayer {
        let g = Geometry::with_signs([2, 2, 1], [1.0; 3], [1.0; 3]);
        MaskLayer {
            name: "t".into(),
            path: None,
            mask: LabelMask::new(g, labels).expect("size"),
            visible,
        }
    }

    #[test]
    fn findings_show_over_lungs_in_any_order_and_hidden_layers_drop_out() {
        let lungs = layer(vec![1, 1, 2, 0], true);
        let infection = layer(vec![0, 3, 3, 0], true);
        let mut c = LabelMask::empty(lungs.mask.geometry.clone());
        for layers in [
            vec![lungs.clone(), infection.clone()],
            vec![infection.clone(), lungs.clone()],
        ] {
            composite_region(&mut c, &layers, &Region::all([2, 2, 1]));
            assert_eq!(c.labels, vec![1, 3, 3, 0]);
        }
        let mut hidden = infection.clone();
        hidden.visible = false;
        composite_region(&mut c, &[lungs, hidden], &Region::all([2, 2, 1]));
        assert_eq!(c.labels, vec![1, 1, 2, 0]);
    }

    #[test]
    fn region_iteration_and_extract() {
        let g = Geometry::with_signs([3, 2, 2], [1.0; 3], [1.0; 3]);
        let labels: Vec<u8> = (0..12).collect();
        let r = Region {
            origin: [1, 1, 0],
            size: [2, 1, 2],
        };
        assert_eq!(extract_region(&g, &labels, &r), vec![4, 5, 10, 11]);
        assert_eq!(Region::slice([3, 2, 2], 2, 1).len(), 6);
        let u = r.union(Region::slice([3, 2, 2], 0, 0));
        assert_eq!(u, Region::all([3, 2, 2]));
    }
}
