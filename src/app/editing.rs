//! Mask editing: [`EditState::apply`] runs the [`EditCommand`]s (tools, strokes,
//! fill, interpolation, undo and redo) on the edit session that `edit_state`
//! holds, and copies each touched box into the document's [`EDIT_LAYER_NAME`]
//! layer through the [`Ctx`]. Saving and the unsaved-edits question are in
//! `saving`.

use super::context::Ctx;
use super::document::Document;
use super::edit_state::{
    ActiveStroke, EDIT_LAYER_NAME, EditCommand, EditState, InterpolateRange, RADIUS_STEP,
};
use super::layers::{LayerId, LayerRole, StateError, extract_region};
use super::views::view_index;
use crate::edit::interpolate::interpolate;
use crate::edit::{Brush, BrushMode, EditSession};
use crate::mask::LabelMask;
use crate::volume::{Region, View};

/// The layer showing the edited mask.
pub fn edit_layer(doc: &Document) -> Option<LayerId> {
    doc.layers.find(LayerRole::Edited)
}

impl EditState {
    /// The mask being edited (None before the first edit).
    pub fn edited_mask(&self) -> Option<&LabelMask> {
        self.session.as_ref().map(EditSession::mask)
    }

    /// Starts an edit session on what the overlay shows, unless one is running.
    pub fn ensure_session(&mut self, doc: &mut Document) -> Result<(), StateError> {
        if self.session.is_some()
            && let Some(i) = edit_layer(doc)
        {
            // A hidden edit layer (e.g. kept aside by a new segmentation) is shown
            // again before it is painted on, alone, as when the session began.
            if !doc.layers[i].visible {
                doc.layers.set_visibility(|l| l.id == i);
            }
            return Ok(());
        }
        let geometry = doc.volume().ok_or(StateError::NoVolume)?.geometry.clone();
        let mask = match doc.layers.composite() {
            Some(c) if c.geometry.same_grid(&geometry) => c.clone(),
            _ => LabelMask::empty(geometry),
        };
        doc.layers.set_visibility(|_| false);
        doc.layers
            .add(LayerRole::Edited, EDIT_LAYER_NAME, None, mask.clone())?;
        self.session = Some(EditSession::new(mask));
        self.stroke = None;
        self.generation += 1;
        Ok(())
    }

    /// Drops the session when its layer or the volume is gone. Called every frame.
    pub fn check_session(&mut self, doc: &Document) {
        if self.session.is_some() && edit_layer(doc).is_none() {
            self.session = None;
            self.stroke = None;
            self.interpolate = None;
        }
    }

    /// A new segmentation replaces what an edit session started from. Without
    /// unsaved edits the session ends, so the next stroke edits the new result;
    /// with unsaved edits the edited layer is kept (hidden) and nothing is lost.
    pub fn settle_after_segmentation(&mut self, cx: &mut Ctx<'_>) {
        let Some(id) = edit_layer(cx.doc) else {
            return;
        };
        if self.is_modified() {
            cx.doc.layers.set_visible(id, false);
            let name = cx.doc.layers[id].name.clone();
            cx.push_info(format!(
                "Your unsaved edits stay in the hidden layer \"{name}\": show it to go on editing it, \
                 or remove it to edit the new segmentation"
            ));
        } else {
            cx.doc.layers.remove(id);
            self.check_session(cx.doc);
        }
    }

    /// True if axial slice `k` is marked as reviewed.
    pub fn slice_reviewed(&self, k: usize) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.reviewed_slices().contains(&k))
    }

    /// Applies one tool command (the guard's commands are the app's: see
    /// [`EditCommand::is_guard`]).
    pub fn apply(&mut self, command: EditCommand, cx: &mut Ctx<'_>) {
        let result = match command {
            EditCommand::SetTool(tool) => {
                self.end_stroke();
                self.tool = tool;
                Ok(())
            }
            EditCommand::SetLabel(label) => {
                self.label = label;
                Ok(())
            }
            EditCommand::SetRadius(r) => {
                self.set_radius(r);
                Ok(())
            }
            EditCommand::GrowRadius => {
                self.set_radius(self.radius_mm * RADIUS_STEP);
                Ok(())
            }
            EditCommand::ShrinkRadius => {
                self.set_radius(self.radius_mm / RADIUS_STEP);
                Ok(())
            }
            EditCommand::SetHuRange(a, b) => {
                self.hu_range = (a.min(b), a.max(b));
                Ok(())
            }
            EditCommand::StrokeBegin { view, slice, at } => self.begin_stroke(view, slice, at, cx),
            EditCommand::StrokeTo(at) => {
                self.continue_stroke(at, cx);
                Ok(())
            }
            EditCommand::StrokeEnd => {
                self.end_stroke();
                Ok(())
            }
            EditCommand::Fill { view, slice, at } => self.fill(view, slice, at, cx),
            EditCommand::SetInterpolateRange(r) => {
                self.interpolate = Some(r);
                Ok(())
            }
            EditCommand::Interpolate => self.interpolate_range(cx),
            EditCommand::Undo => {
                self.end_stroke();
                let region = self.session.as_mut().and_then(EditSession::undo);
                self.show_edit(region, cx);
                Ok(())
            }
            EditCommand::Redo => {
                self.end_stroke();
                let region = self.session.as_mut().and_then(EditSession::redo);
                self.show_edit(region, cx);
                Ok(())
            }
            EditCommand::ToggleReviewed => self.toggle_reviewed(cx),
            EditCommand::ViewDrawn { view, mapping } => {
                self.mappings[view_index(view)] = Some(mapping);
                Ok(())
            }
            EditCommand::Save
            | EditCommand::SaveTo(_)
            | EditCommand::ChooseSavePath
            | EditCommand::Answer(_)
            | EditCommand::RequestClose
            | EditCommand::CloseHandled => Ok(()),
        };
        if let Err(e) = result {
            cx.push_error(format!("editing: {e}"));
        }
    }

    fn set_radius(&mut self, r: f64) {
        let (lo, hi) = Brush::RADIUS_RANGE;
        if r.is_finite() {
            self.radius_mm = r.clamp(lo, hi);
        }
    }

    /// Copies the box an edit touched from the session into the edit layer (only
    /// that box is recomposited and uploaded).
    fn show_edit(&mut self, region: Option<Region>, cx: &mut Ctx<'_>) {
        let Some(region) = region else {
            return;
        };
        self.generation += 1;
        let (Some(layer), Some(session)) = (edit_layer(cx.doc), self.session.as_ref()) else {
            return;
        };
        let mask = session.mask();
        let labels = extract_region(&mask.geometry, &mask.labels, &region);
        if let Err(e) = cx.doc.layers.write_region(layer, region, &labels) {
            cx.push_error(format!("editing: {e}"));
        }
    }

    fn begin_stroke(
        &mut self,
        view: View,
        slice: usize,
        at: [f64; 2],
        cx: &mut Ctx<'_>,
    ) -> Result<(), StateError> {
        self.end_stroke();
        let Some(brush) = self.brush() else {
            return Ok(());
        };
        self.ensure_session(cx.doc)?;
        if let Some(s) = self.session.as_mut() {
            s.begin_stroke(self.tool.name());
        }
        self.stroke = Some(ActiveStroke {
            view,
            slice,
            last: at,
            brush,
        });
        self.dab_along(&[at], cx);
        Ok(())
    }

    fn continue_stroke(&mut self, at: [f64; 2], cx: &mut Ctx<'_>) {
        let Some(stroke) = self.stroke else {
            return;
        };
        if stroke.last == at {
            return;
        }
        let Some(map) = cx.slice_map(stroke.view) else {
            return;
        };
        let Some(geometry) = cx.doc.volume().map(|v| v.geometry.clone()) else {
            return;
        };
        let centres = stroke
            .brush
            .segment(stroke.last, at, map.pixel_mm(&geometry));
        if let Some(s) = self.stroke.as_mut() {
            s.last = at;
        }
        self.dab_along(&centres, cx);
    }

    /// Dabs the active stroke's brush at `centres` and shows the touched box.
    fn dab_along(&mut self, centres: &[[f64; 2]], cx: &mut Ctx<'_>) {
        let Some(stroke) = self.stroke else {
            return;
        };
        let volume = cx.doc.volume_arc();
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let mut touched: Option<Region> = None;
        for &c in centres {
            let changes = stroke.brush.dab(
                session.mask(),
                volume.as_deref(),
                stroke.view,
                stroke.slice,
                c,
            );
            if let Some(r) = session.set_voxels(step_name(&stroke.brush), changes) {
                touched = Some(touched.map_or(r, |t| t.union(r)));
            }
        }
        self.show_edit(touched, cx);
    }

    fn end_stroke(&mut self) {
        let Some(stroke) = self.stroke.take() else {
            return;
        };
        if let Some(s) = self.session.as_mut() {
            s.end_stroke();
        }
        self.remember_edited_slice(stroke.view, stroke.slice);
    }

    /// Keeps the last two distinct edited slices of a view as the interpolation range.
    fn remember_edited_slice(&mut self, view: View, slice: usize) {
        self.interpolate = Some(match self.interpolate {
            Some(r) if r.view == view && r.b != slice => InterpolateRange {
                view,
                a: r.b,
                b: slice,
            },
            Some(r) if r.view == view => r,
            _ => InterpolateRange {
                view,
                a: slice,
                b: slice,
            },
        });
    }

    fn fill(
        &mut self,
        view: View,
        slice: usize,
        at: [usize; 2],
        cx: &mut Ctx<'_>,
    ) -> Result<(), StateError> {
        self.end_stroke();
        let Some(volume) = cx.doc.volume_arc() else {
            return Err(StateError::NoVolume);
        };
        self.ensure_session(cx.doc)?;
        let (label, range) = (self.label, self.hu_range);
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        let changes =
            crate::edit::fill::flood_fill(session.mask(), &volume, view, slice, at, range, label);
        if changes.is_empty() {
            cx.push_info(format!(
                "Fill: the clicked pixel is outside the HU range {:.0} … {:.0}",
                range.0, range.1
            ));
            return Ok(());
        }
        let region = session.set_voxels("fill", changes);
        self.show_edit(region, cx);
        self.remember_edited_slice(view, slice);
        Ok(())
    }

    fn interpolate_range(&mut self, cx: &mut Ctx<'_>) -> Result<(), StateError> {
        self.end_stroke();
        let Some(range) = self.interpolate else {
            cx.push_info("Interpolate: draw the label on two slices first");
            return Ok(());
        };
        self.ensure_session(cx.doc)?;
        let label = self.label;
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        match interpolate(session.mask(), range.view, range.a, range.b, label) {
            Ok(changes) => {
                let region = session.set_voxels("interpolate", changes);
                self.show_edit(region, cx);
            }
            Err(e) => cx.push_error(format!("Interpolate: {e}")),
        }
        Ok(())
    }

    fn toggle_reviewed(&mut self, cx: &mut Ctx<'_>) -> Result<(), StateError> {
        self.ensure_session(cx.doc)?;
        let k = cx.slice_index(View::Axial);
        if let Some(s) = self.session.as_mut() {
            let reviewed = s.reviewed_slices().contains(&k);
            s.set_reviewed(k, !reviewed);
        }
        Ok(())
    }
}

/// Undo description of a brush step.
fn step_name(brush: &Brush) -> &'static str {
    match (brush.mode, brush.hu_range.is_some()) {
        (BrushMode::Erase, _) => "eraser",
        (BrushMode::Paint, true) => "threshold paint",
        (BrushMode::Paint, false) => "brush",
    }
}
