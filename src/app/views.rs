//! The viewer's per-view arrays (zoom/pan of the state, the view mappings of the
//! edit tools): [`view_index`] is where each view's entry sits.

use crate::volume::View;

/// Index of a view in per-view arrays.
pub fn view_index(view: View) -> usize {
    match view {
        View::Axial => 0,
        View::Coronal => 1,
        View::Sagittal => 2,
    }
}
