//! The egui side of mask editing: the tool bar, painting in the views, the brush
//! circle, the editing keys, the File-menu entries, the unsaved-edits question and
//! the window title. State changes go through [`EditCommand`]s.

use super::commands::Command;
use super::edit_guard::Choice;
use super::edit_state::{EditCommand, HU_PRESETS, InterpolateRange, Tool, brush_screen_radius};
use super::finetune_state::FineTuneCommand;
use super::state::AppState;
use crate::edit::Brush;
use crate::render::ViewMapping;
use crate::volume::View;
use egui::{Color32, Key, Modifiers, PointerButton, Pos2, RichText, Stroke};

/// Keys of the editing tools, for Help → Mouse and keys.
pub const BINDINGS: &[(&str, &str)] = &[
    ("N / Esc", "navigate: left click moves the crosshair"),
    ("B", "brush: left drag paints the current label"),
    ("E", "eraser: left drag removes the current label"),
    ("G", "fill: click fills within the HU range (2-D)"),
    ("T", "threshold paint: paints only inside the HU range"),
    ("I", "interpolate between two edited slices"),
    ("[ / ]", "smaller / larger brush"),
    ("Ctrl + Z", "undo a stroke"),
    ("Ctrl + Shift + Z, Ctrl + Y", "redo"),
    ("M", "mark / unmark the axial slice as reviewed"),
    ("Ctrl + S", "save the mask next to the volume"),
];

fn edit(state: &mut AppState, c: EditCommand) {
    state.apply(Command::Edit(c));
}

/// Editing keys (tools, radius, undo/redo, reviewed, save). Keys typed into a text
/// field are left alone; a focused button (e.g. the tool just clicked) does not
/// block them.
pub fn keys_ui(ctx: &egui::Context, state: &mut AppState) {
    if ctx.text_edit_focused() || state.pending_question().is_some() {
        return;
    }
    let mut commands = Vec::new();
    ctx.input_mut(|i| {
        // Most specific first: Ctrl+Shift+Z before Ctrl+Z.
        if i.consume_key(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z)
            || i.consume_key(Modifiers::COMMAND, Key::Y)
        {
            commands.push(EditCommand::Redo);
        }
        if i.consume_key(Modifiers::COMMAND, Key::Z) {
            commands.push(EditCommand::Undo);
        }
        if i.consume_key(Modifiers::COMMAND, Key::S) {
            commands.push(EditCommand::Save);
        }
        if i.consume_key(Modifiers::NONE, Key::OpenBracket) {
            commands.push(EditCommand::ShrinkRadius);
        }
        if i.consume_key(Modifiers::NONE, Key::CloseBracket) {
            commands.push(EditCommand::GrowRadius);
        }
        if i.consume_key(Modifiers::NONE, Key::Escape) {
            commands.push(EditCommand::SetTool(Tool::Navigate));
        }
        if i.consume_key(Modifiers::NONE, Key::M) {
            commands.push(EditCommand::ToggleReviewed);
        }
        for tool in Tool::ALL {
            if let Some(key) = Key::from_name(&tool.key().to_string())
                && i.consume_key(Modifiers::NONE, key)
            {
                commands.push(EditCommand::SetTool(tool));
            }
        }
    });
    if state.volume().is_none() {
        return;
    }
    for c in commands {
        edit(state, c);
    }
}

/// The editing tool bar (shown with a volume).
pub fn toolbar_ui(ui: &mut egui::Ui, state: &mut AppState) {
    ui.horizontal_wrapped(|ui| {
        for tool in Tool::ALL {
            let selected = state.edit.tool == tool;
            if ui
                .selectable_label(selected, tool.name())
                .on_hover_text(tool.help())
                .clicked()
            {
                edit(state, EditCommand::SetTool(tool));
            }
        }
        ui.separator();
        group(ui, 170.0, |ui| label_ui(ui, state));
        if state.edit.tool.is_brush() {
            group(ui, 230.0, |ui| radius_ui(ui, state));
        }
        if matches!(state.edit.tool, Tool::Fill | Tool::Threshold) {
            group(ui, 290.0, |ui| hu_range_ui(ui, state));
        }
        if state.edit.tool == Tool::Interpolate {
            group(ui, 380.0, |ui| interpolate_ui(ui, state));
        }
        ui.separator();
        history_ui(ui, state);
    });
}

/// Widgets that stay on one line: a new row starts when they would not fit.
fn group(ui: &mut egui::Ui, width: f32, add: impl FnOnce(&mut egui::Ui)) {
    if ui.available_size_before_wrap().x < width {
        ui.end_row();
    }
    ui.horizontal(add);
}

fn label_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let current = state.edit.label;
    let name = state
        .settings
        .labels
        .get(current)
        .map_or_else(|| format!("label {current}"), |l| l.name.clone());
    let l = ui.label("Label");
    let mut chosen = None;
    egui::ComboBox::from_id_salt("edit_label")
        .selected_text(name)
        .show_ui(ui, |ui| {
            for info in &state.settings.labels.labels {
                let c = info.color;
                let text = RichText::new(format!("{} ({})", info.name, info.value))
                    .color(Color32::from_rgb(c[0], c[1], c[2]));
                if ui.selectable_label(info.value == current, text).clicked() {
                    chosen = Some(info.value);
                }
            }
        })
        .response
        .labelled_by(l.id);
    if let Some(v) = chosen {
        edit(state, EditCommand::SetLabel(v));
    }
}

fn radius_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let (lo, hi) = Brush::RADIUS_RANGE;
    let mut r = state.edit.radius_mm;
    let l = ui.label("Radius");
    ui.spacing_mut().slider_width = 100.0;
    let changed = ui
        .add(
            egui::Slider::new(&mut r, lo..=hi.min(50.0))
                .logarithmic(true)
                // Display only: rounding the value itself would undo `[` / `]` steps.
                .custom_formatter(|v, _| format!("{v:.1} mm")),
        )
        .labelled_by(l.id)
        .on_hover_text("[ and ] change the radius")
        .changed();
    if changed {
        edit(state, EditCommand::SetRadius(r));
    }
}

fn hu_range_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let (mut a, mut b) = state.edit.hu_range;
    let l = ui.label("HU");
    let r1 = ui
        .add(
            egui::DragValue::new(&mut a)
                .speed(5.0)
                .range(-2000.0..=4000.0),
        )
        .labelled_by(l.id);
    ui.label("…");
    let r2 = ui
        .add(
            egui::DragValue::new(&mut b)
                .speed(5.0)
                .range(-2000.0..=4000.0),
        )
        .labelled_by(l.id);
    if r1.changed() || r2.changed() {
        edit(state, EditCommand::SetHuRange(a, b));
    }
    ui.menu_button("Ranges", |ui| {
        for (name, (lo, hi)) in HU_PRESETS {
            if ui.button(format!("{name} ({lo:.0} … {hi:.0})")).clicked() {
                edit(state, EditCommand::SetHuRange(*lo, *hi));
                ui.close();
            }
        }
    });
}

fn interpolate_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let view = state.edit.interpolate.map_or(state.active_view, |r| r.view);
    let total = state.slice_count(view);
    let current = state.slice_index(view);
    let mut range = state.edit.interpolate.unwrap_or(InterpolateRange {
        view,
        a: current,
        b: current,
    });
    let mut changed = false;
    egui::ComboBox::from_id_salt("interp_view")
        .selected_text(range.view.name())
        .show_ui(ui, |ui| {
            for v in View::ALL {
                if ui.selectable_label(range.view == v, v.name()).clicked() {
                    range.view = v;
                    changed = true;
                }
            }
        });
    for (name, value) in [("from", &mut range.a), ("to", &mut range.b)] {
        let l = ui.label(name);
        let mut shown = *value + 1;
        if ui
            .add(egui::DragValue::new(&mut shown).range(1..=total.max(1)))
            .labelled_by(l.id)
            .changed()
        {
            *value = shown - 1;
            changed = true;
        }
    }
    if changed {
        edit(state, EditCommand::SetInterpolateRange(range));
    }
    let gap = range.a.abs_diff(range.b) >= 2;
    if ui
        .add_enabled(gap, egui::Button::new("Interpolate"))
        .on_hover_text(
            "Fill the current label on the slices between the two (shape-based); \
             the last two edited slices are proposed",
        )
        .clicked()
    {
        edit(state, EditCommand::Interpolate);
    }
}

fn history_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let (undo, redo, next) = state.edit.session().map_or((0, 0, None), |s| {
        (
            s.history().undo_len(),
            s.history().redo_len(),
            s.history().next_undo().map(str::to_string),
        )
    });
    let u = ui
        .add_enabled(undo > 0, egui::Button::new("Undo"))
        .on_hover_text(format!(
            "Ctrl + Z: {} ({undo} steps)",
            next.unwrap_or_default()
        ));
    if u.clicked() {
        edit(state, EditCommand::Undo);
    }
    if ui
        .add_enabled(redo > 0, egui::Button::new("Redo"))
        .on_hover_text("Ctrl + Shift + Z or Ctrl + Y")
        .clicked()
    {
        edit(state, EditCommand::Redo);
    }
    let mut reviewed = state.axial_slice_reviewed();
    if ui
        .checkbox(&mut reviewed, "Slice reviewed")
        .on_hover_text(
            "The current axial slice is correct as it is: use it as a fine-tuning target (M)",
        )
        .changed()
    {
        edit(state, EditCommand::ToggleReviewed);
    }
    let has_session = state.edit.session().is_some();
    if ui
        .add_enabled(
            has_session && !state.is_saving(),
            egui::Button::new("Save mask"),
        )
        .on_hover_text(state.default_save_path().map_or_else(
            || "Use File > Save mask as…".to_string(),
            |p| format!("Ctrl + S: {}", p.display()),
        ))
        .clicked()
    {
        edit(state, EditCommand::Save);
    }
    if let Some((name, secs)) = state.save_progress() {
        ui.add(egui::Spinner::new());
        ui.label(format!("{name} · {secs:.1} s"));
    } else if state.has_unsaved_edits() {
        ui.label(RichText::new("unsaved edits").color(Color32::from_rgb(255, 190, 80)));
    } else if has_session {
        ui.label(RichText::new("saved").weak());
    }
    let n = state.corrected_slices().len();
    if ui
        .selectable_label(state.finetune.open, "Fine-tune…")
        .on_hover_text(format!(
            "Fine-tune the model on the {n} corrected slices or on this case"
        ))
        .clicked()
    {
        let open = !state.finetune.open;
        state.apply(Command::FineTune(FineTuneCommand::SetOpen(open)));
    }
}

/// File-menu entries for the edited mask.
pub fn file_menu_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let can = state.edit.session().is_some() && !state.is_saving();
    if ui
        .add_enabled(can, egui::Button::new("Save mask (Ctrl+S)"))
        .clicked()
    {
        edit(state, EditCommand::Save);
        ui.close();
    }
    if ui
        .add_enabled(can, egui::Button::new("Save mask as…"))
        .clicked()
    {
        edit(state, EditCommand::ChooseSavePath);
        ui.close();
    }
}

fn to_display(mapping: &ViewMapping, p: Pos2) -> [f64; 2] {
    let d = mapping.screen_to_display([p.x, p.y]);
    [f64::from(d[0]), f64::from(d[1])]
}

/// Left-button painting in one view. Returns true when the current tool owns the
/// left button (the viewer must then not move the crosshair).
pub fn view_input_ui(
    ui: &egui::Ui,
    state: &mut AppState,
    view: View,
    mapping: &ViewMapping,
    response: &egui::Response,
) -> bool {
    edit(
        state,
        EditCommand::ViewDrawn {
            view,
            mapping: *mapping,
        },
    );
    let tool = state.edit.tool;
    if !tool.edits_on_click() {
        return false;
    }
    let (pressed, down, pos) = ui.input(|i| {
        (
            i.pointer.button_pressed(PointerButton::Primary),
            i.pointer.button_down(PointerButton::Primary),
            i.pointer.interact_pos(),
        )
    });
    match state.edit.stroke().map(|s| s.view) {
        Some(v) if v == view => {
            if let Some(p) = pos {
                edit(state, EditCommand::StrokeTo(to_display(mapping, p)));
            }
            if !down {
                edit(state, EditCommand::StrokeEnd);
            }
        }
        Some(_) => {
            // The stroke's own view may no longer be drawn (layout changed): any view
            // ends it once the button is up.
            if !down {
                edit(state, EditCommand::StrokeEnd);
            }
        }
        None => {
            let here = pos.filter(|_| pressed && response.contains_pointer());
            if let Some(p) = here {
                let slice = mapping.slice;
                if tool == Tool::Fill {
                    let d = mapping.screen_to_display([p.x, p.y]);
                    let (w, h) = (mapping.map.width as f32, mapping.map.height as f32);
                    if d[0] >= -0.5 && d[1] >= -0.5 && d[0] < w - 0.5 && d[1] < h - 0.5 {
                        let at = [(d[0] + 0.5) as usize, (d[1] + 0.5) as usize];
                        edit(state, EditCommand::Fill { view, slice, at });
                    }
                } else {
                    let at = to_display(mapping, p);
                    edit(state, EditCommand::StrokeBegin { view, slice, at });
                    if !down {
                        edit(state, EditCommand::StrokeEnd);
                    }
                }
                state.apply(Command::SetActiveView(view));
            }
        }
    }
    true
}

/// Draws the brush outline under the pointer with its true size in mm.
pub fn draw_brush(
    painter: &egui::Painter,
    state: &AppState,
    mapping: &ViewMapping,
    hover: Option<Pos2>,
) {
    let (Some(brush), Some(p)) = (state.edit.brush(), hover) else {
        return;
    };
    let [rx, ry] = brush_screen_radius(mapping, &brush);
    let c = state
        .settings
        .labels
        .get(brush.label)
        .map_or([255, 255, 255, 255], |l| l.color);
    let color = Color32::from_rgb(c[0], c[1], c[2]);
    painter.add(egui::Shape::ellipse_stroke(
        p,
        egui::vec2(rx, ry),
        Stroke::new(2.5, Color32::from_black_alpha(160)),
    ));
    painter.add(egui::Shape::ellipse_stroke(
        p,
        egui::vec2(rx, ry),
        Stroke::new(1.2, color),
    ));
}

/// The unsaved-edits question, the window's close request and the window title.
pub fn guard_ui(ctx: &egui::Context, state: &mut AppState) {
    if ctx.input(|i| i.viewport().close_requested()) && state.has_unsaved_edits() {
        ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
        edit(state, EditCommand::RequestClose);
    }
    if state.close_approved() {
        edit(state, EditCommand::CloseHandled);
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }
    if let Some(pending) = state.pending_question() {
        let what = pending.describe();
        let target = state.default_save_path();
        let mut choice = None;
        let modal = egui::Modal::new(egui::Id::unique("unsaved_edits")).show(ctx, |ui| {
            ui.set_max_width(420.0);
            ui.heading("Unsaved edits");
            ui.label(format!(
                "The edited mask has changes that are not saved. {what} anyway?"
            ));
            match &target {
                Some(p) => ui.label(format!("Save writes {}", p.display())),
                None => ui.label("The volume has no file: Save is not possible here."),
            };
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(target.is_some(), egui::Button::new("Save"))
                    .clicked()
                {
                    choice = Some(Choice::Save);
                }
                if ui.button("Discard").clicked() {
                    choice = Some(Choice::Discard);
                }
                if ui.button("Cancel").clicked() {
                    choice = Some(Choice::Cancel);
                }
            });
        });
        if modal.should_close() && choice.is_none() {
            choice = Some(Choice::Cancel);
        }
        if let Some(c) = choice {
            edit(state, EditCommand::Answer(c));
        }
    }
    let title = state.window_title();
    let id = egui::Id::unique("lungscope_window_title");
    if ctx.data(|d| d.get_temp::<String>(id)).as_deref() != Some(title.as_str()) {
        ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
        ctx.data_mut(|d| d.insert_temp(id, title));
    }
}
