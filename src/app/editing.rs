//! Mask editing applied to the state: [`AppState::apply_edit`] runs the
//! [`EditCommand`]s (tools, strokes, fill, interpolation, undo and redo) on the
//! edit session that `edit_state` holds, and copies each touched box into the
//! [`EDIT_LAYER_NAME`] layer.

use super::edit_state::{
    ActiveStroke, EDIT_LAYER_NAME, EditCommand, InterpolateRange, RADIUS_STEP,
};
use super::layers::{LayerId, LayerRole, extract_region};
use super::state::{AppState, StateError};
use crate::edit::interpolate::interpolate;
use crate::edit::{Brush, BrushMode, EditSession};
use crate::mask::LabelMask;
use crate::volume::{Region, View};

impl AppState {
    /// The layer showing the edited mask.
    pub fn edit_layer(&self) -> Option<LayerId> {
        self.doc.layers.find(LayerRole::Edited)
    }

    /// The mask being edited (None before the first edit).
    pub fn edited_mask(&self) -> Option<&LabelMask> {
        self.edit.session.as_ref().map(EditSession::mask)
    }

    /// Starts an edit session on what the overlay shows, unless one is running.
    pub fn ensure_edit_session(&mut self) -> Result<(), StateError> {
        if self.edit.session.is_some()
            && let Some(i) = self.edit_layer()
        {
            // A hidden edit layer (e.g. kept aside by a new segmentation) is shown
            // again before it is painted on, alone, as when the session began.
            if !self.doc.layers[i].visible {
                self.doc.layers.set_visibility(|l| l.id == i);
            }
            return Ok(());
        }
        let geometry = self.volume().ok_or(StateError::NoVolume)?.geometry.clone();
        let mask = match self.doc.layers.composite() {
            Some(c) if c.geometry.same_grid(&geometry) => c.clone(),
            _ => LabelMask::empty(geometry),
        };
        self.doc.layers.set_visibility(|_| false);
        self.doc
            .layers
            .add(LayerRole::Edited, EDIT_LAYER_NAME, None, mask.clone())?;
        self.edit.session = Some(EditSession::new(mask));
        self.edit.stroke = None;
        self.edit.generation += 1;
        Ok(())
    }

    /// Drops the session when its layer or the volume is gone. Called every frame.
    pub(super) fn check_edit_session(&mut self) {
        if self.edit.session.is_some() && self.edit_layer().is_none() {
            self.edit.session = None;
            self.edit.stroke = None;
            self.edit.interpolate = None;
        }
    }

    /// Applies one edit command.
    pub fn apply_edit(&mut self, command: EditCommand) {
        if matches!(
            command,
            EditCommand::Save
                | EditCommand::SaveTo(_)
                | EditCommand::ChooseSavePath
                | EditCommand::Answer(_)
        ) {
            self.apply_guard_command(&command);
            return;
        }
        let result = match command {
            EditCommand::SetTool(tool) => {
                self.end_stroke();
                self.edit.tool = tool;
                Ok(())
            }
            EditCommand::SetLabel(label) => {
                self.edit.label = label;
                Ok(())
            }
            EditCommand::SetRadius(r) => {
                self.set_radius(r);
                Ok(())
            }
            EditCommand::GrowRadius => {
                self.set_radius(self.edit.radius_mm * RADIUS_STEP);
                Ok(())
            }
            EditCommand::ShrinkRadius => {
                self.set_radius(self.edit.radius_mm / RADIUS_STEP);
                Ok(())
            }
            EditCommand::SetHuRange(a, b) => {
                self.edit.hu_range = (a.min(b), a.max(b));
                Ok(())
            }
            EditCommand::StrokeBegin { view, slice, at } => self.begin_stroke(view, slice, at),
            EditCommand::StrokeTo(at) => {
                self.continue_stroke(at);
                Ok(())
            }
            EditCommand::StrokeEnd => {
                self.end_stroke();
                Ok(())
            }
            EditCommand::Fill { view, slice, at } => self.fill(view, slice, at),
            EditCommand::SetInterpolateRange(r) => {
                self.edit.interpolate = Some(r);
                Ok(())
            }
            EditCommand::Interpolate => self.interpolate_range(),
            EditCommand::Undo => {
                self.end_stroke();
                let region = self.edit.session.as_mut().and_then(EditSession::undo);
                self.show_edit(region);
                Ok(())
            }
            EditCommand::Redo => {
                self.end_stroke();
                let region = self.edit.session.as_mut().and_then(EditSession::redo);
                self.show_edit(region);
                Ok(())
            }
            EditCommand::ToggleReviewed => self.toggle_reviewed(),
            EditCommand::Save
            | EditCommand::SaveTo(_)
            | EditCommand::ChooseSavePath
            | EditCommand::Answer(_) => Ok(()),
        };
        if let Err(e) = result {
            self.push_error(format!("editing: {e}"));
        }
    }

    fn set_radius(&mut self, r: f64) {
        let (lo, hi) = Brush::RADIUS_RANGE;
        if r.is_finite() {
            self.edit.radius_mm = r.clamp(lo, hi);
        }
    }

    /// Copies the box an edit touched from the session into the edit layer (only
    /// that box is recomposited and uploaded).
    fn show_edit(&mut self, region: Option<Region>) {
        let Some(region) = region else {
            return;
        };
        self.edit.generation += 1;
        let (Some(layer), Some(session)) = (self.edit_layer(), self.edit.session.as_ref()) else {
            return;
        };
        let mask = session.mask();
        let labels = extract_region(&mask.geometry, &mask.labels, &region);
        if let Err(e) = self.doc.layers.write_region(layer, region, &labels) {
            self.push_error(format!("editing: {e}"));
        }
    }

    fn begin_stroke(&mut self, view: View, slice: usize, at: [f64; 2]) -> Result<(), StateError> {
        self.end_stroke();
        let Some(brush) = self.edit.brush() else {
            return Ok(());
        };
        self.ensure_edit_session()?;
        if let Some(s) = self.edit.session.as_mut() {
            s.begin_stroke(self.edit.tool.name());
        }
        self.edit.stroke = Some(ActiveStroke {
            view,
            slice,
            last: at,
            brush,
        });
        self.dab_along(&[at]);
        Ok(())
    }

    fn continue_stroke(&mut self, at: [f64; 2]) {
        let Some(stroke) = self.edit.stroke else {
            return;
        };
        if stroke.last == at {
            return;
        }
        let Some(map) = self.slice_map(stroke.view) else {
            return;
        };
        let Some(geometry) = self.volume().map(|v| v.geometry.clone()) else {
            return;
        };
        let centres = stroke
            .brush
            .segment(stroke.last, at, map.pixel_mm(&geometry));
        if let Some(s) = self.edit.stroke.as_mut() {
            s.last = at;
        }
        self.dab_along(&centres);
    }

    /// Dabs the active stroke's brush at `centres` and shows the touched box.
    fn dab_along(&mut self, centres: &[[f64; 2]]) {
        let Some(stroke) = self.edit.stroke else {
            return;
        };
        let volume = self.doc.volume_arc();
        let Some(session) = self.edit.session.as_mut() else {
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
        self.show_edit(touched);
    }

    fn end_stroke(&mut self) {
        let Some(stroke) = self.edit.stroke.take() else {
            return;
        };
        if let Some(s) = self.edit.session.as_mut() {
            s.end_stroke();
        }
        self.remember_edited_slice(stroke.view, stroke.slice);
    }

    /// Keeps the last two distinct edited slices of a view as the interpolation range.
    fn remember_edited_slice(&mut self, view: View, slice: usize) {
        self.edit.interpolate = Some(match self.edit.interpolate {
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

    fn fill(&mut self, view: View, slice: usize, at: [usize; 2]) -> Result<(), StateError> {
        self.end_stroke();
        let Some(volume) = self.doc.volume_arc() else {
            return Err(StateError::NoVolume);
        };
        self.ensure_edit_session()?;
        let (label, range) = (self.edit.label, self.edit.hu_range);
        let Some(session) = self.edit.session.as_mut() else {
            return Ok(());
        };
        let changes =
            crate::edit::fill::flood_fill(session.mask(), &volume, view, slice, at, range, label);
        if changes.is_empty() {
            self.push_info(format!(
                "Fill: the clicked pixel is outside the HU range {:.0} … {:.0}",
                range.0, range.1
            ));
            return Ok(());
        }
        let region = session.set_voxels("fill", changes);
        self.show_edit(region);
        self.remember_edited_slice(view, slice);
        Ok(())
    }

    fn interpolate_range(&mut self) -> Result<(), StateError> {
        self.end_stroke();
        let Some(range) = self.edit.interpolate else {
            self.push_info("Interpolate: draw the label on two slices first");
            return Ok(());
        };
        self.ensure_edit_session()?;
        let label = self.edit.label;
        let Some(session) = self.edit.session.as_mut() else {
            return Ok(());
        };
        match interpolate(session.mask(), range.view, range.a, range.b, label) {
            Ok(changes) => {
                let region = session.set_voxels("interpolate", changes);
                self.show_edit(region);
            }
            Err(e) => self.push_error(format!("Interpolate: {e}")),
        }
        Ok(())
    }

    fn toggle_reviewed(&mut self) -> Result<(), StateError> {
        self.ensure_edit_session()?;
        let k = self.slice_index(View::Axial);
        if let Some(s) = self.edit.session.as_mut() {
            let reviewed = s.reviewed_slices().contains(&k);
            s.set_reviewed(k, !reviewed);
        }
        Ok(())
    }

    /// True if the current axial slice is marked as reviewed.
    pub fn axial_slice_reviewed(&self) -> bool {
        let k = self.slice_index(View::Axial);
        self.edit
            .session
            .as_ref()
            .is_some_and(|s| s.reviewed_slices().contains(&k))
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
