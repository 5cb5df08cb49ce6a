//! Menu bar, notices, status bar, side panel and the information cell.

use super::commands::Command;
use super::notice::NoticeKind;
use super::settings::Layout;
use super::state::AppState;
use crate::volume::View;
use crate::windowing::WindowLevel;
use egui::{Color32, RichText};

/// What a menu asks the shell to do (things that need more than the state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuAction {
    /// Open volumes (and masks) with a file dialog.
    OpenDialog,
    /// Open a DICOM folder with a folder dialog.
    OpenFolderDialog,
    /// Add masks with a file dialog.
    AddMaskDialog,
    /// Show the mouse/keyboard reference.
    ShowHelp,
    /// Quit.
    Quit,
}

/// The top menu bar.
pub fn menu_bar_ui(ui: &mut egui::Ui, state: &mut AppState) -> Option<MenuAction> {
    let mut action = None;
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            if ui.button("Open…").clicked() {
                action = Some(MenuAction::OpenDialog);
                ui.close();
            }
            if ui.button("Open DICOM folder…").clicked() {
                action = Some(MenuAction::OpenFolderDialog);
                ui.close();
            }
            let has_volume = state.doc.is_open();
            if ui
                .add_enabled(has_volume, egui::Button::new("Add mask…"))
                .clicked()
            {
                action = Some(MenuAction::AddMaskDialog);
                ui.close();
            }
            super::edit_ui::file_menu_ui(ui, state);
            ui.menu_button("Open recent", |ui| {
                if state.settings.recent.is_empty() {
                    ui.label("No recent files");
                }
                let mut chosen = None;
                for path in &state.settings.recent {
                    let name = super::loading::file_name(path);
                    if ui
                        .button(name)
                        .on_hover_text(path.display().to_string())
                        .clicked()
                    {
                        chosen = Some(path.clone());
                    }
                }
                if let Some(p) = chosen {
                    state.apply(Command::Open(vec![p]));
                    ui.close();
                }
            });
            if ui
                .add_enabled(has_volume, egui::Button::new("Close volume"))
                .clicked()
            {
                state.apply(Command::CloseVolume);
                ui.close();
            }
            ui.separator();
            if ui.button("Quit").clicked() {
                action = Some(MenuAction::Quit);
                ui.close();
            }
        });
        ui.menu_button("View", |ui| {
            let layouts = [
                Layout::Grid,
                Layout::Row,
                Layout::Single(View::Axial),
                Layout::Single(View::Coronal),
                Layout::Single(View::Sagittal),
            ];
            for layout in layouts {
                let selected = state.settings.layout == layout;
                if ui.selectable_label(selected, layout.name()).clicked() {
                    state.apply(Command::SetLayout(layout));
                    ui.close();
                }
            }
            ui.separator();
            if ui.button("Reset zoom and pan (R)").clicked() {
                state.apply(Command::ResetView(None));
                ui.close();
            }
            let mut linear = state.settings.linear;
            if ui
                .checkbox(&mut linear, "Linear interpolation (L)")
                .changed()
            {
                state.apply(Command::SetLinear(linear));
            }
            let mut crosshair = state.settings.crosshair;
            if ui.checkbox(&mut crosshair, "Crosshair").changed() {
                state.apply(Command::SetCrosshair(crosshair));
            }
        });
        ui.menu_button("Help", |ui| {
            if ui.button("Mouse and keys").clicked() {
                action = Some(MenuAction::ShowHelp);
                ui.close();
            }
        });
    });
    action
}

/// Errors and messages, each with a Dismiss button.
pub fn notices_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let mut dismiss = None;
    for (n, notice) in state.notices.iter().enumerate() {
        ui.horizontal_wrapped(|ui| {
            let (prefix, color) = match notice.kind {
                NoticeKind::Error => ("Error:", Color32::from_rgb(255, 110, 100)),
                NoticeKind::Info => ("Note:", Color32::from_rgb(150, 200, 255)),
            };
            if ui.small_button("Dismiss").clicked() {
                dismiss = Some(n);
            }
            ui.label(RichText::new(prefix).color(color).strong());
            ui.label(RichText::new(notice.short_text()).color(color))
                .on_hover_text(&notice.text);
        });
    }
    if let Some(n) = dismiss {
        state.apply(Command::Dismiss(n));
    }
}

/// Value under the pointer, W/L, zoom, and the progress of background work.
pub fn status_bar_ui(ui: &mut egui::Ui, state: &mut AppState) {
    ui.horizontal(|ui| {
        if let Some((name, fraction, message, secs)) = state.load_progress() {
            ui.add(egui::Spinner::new());
            let pct = fraction.map_or(String::new(), |f| format!(" {:.0} %", f * 100.0));
            ui.label(format!("{name}{pct} · {message} · {secs:.1} s"));
            if ui.small_button("Cancel").clicked() {
                state.apply(Command::CancelLoad);
            }
            ui.separator();
        }
        match (&state.hover, state.volume()) {
            (Some(h), Some(_)) => {
                let label = match h.label {
                    0 => String::new(),
                    l => format!(
                        " · label {}",
                        state
                            .settings
                            .labels
                            .get(l)
                            .map_or_else(|| l.to_string(), |i| i.name.clone())
                    ),
                };
                ui.label(format!(
                    "{:.0} HU · voxel ({}, {}, {}) · ({:.1}, {:.1}, {:.1}) mm{label}",
                    h.hu, h.voxel[0], h.voxel[1], h.voxel[2], h.mm[0], h.mm[1], h.mm[2]
                ));
            }
            (None, Some(_)) => {
                ui.label("Point at the image for values");
            }
            _ => {
                ui.label("No volume");
            }
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let zoom_view = state.hover.map_or(state.active_view, |h| h.view);
            let zoom = state.zoom_pan[super::views::view_index(zoom_view)].zoom;
            ui.label(format!(
                "W {:.0}  L {:.0} · zoom {zoom:.2}×",
                state.window.width, state.window.level
            ));
        });
    });
}

/// Right-hand controls: window, display, overlay, layers.
pub fn side_panel_ui(ui: &mut egui::Ui, state: &mut AppState) {
    egui::ScrollArea::vertical().show(ui, |ui| {
        window_ui(ui, state);
        ui.separator();
        overlay_ui(ui, state);
        ui.separator();
        layers_ui(ui, state);
    });
}

fn window_ui(ui: &mut egui::Ui, state: &mut AppState) {
    ui.heading("Window");
    let mut w = state.window;
    egui::Grid::new("window_grid")
        .num_columns(2)
        .show(ui, |ui| {
            let l = ui.label("Width");
            ui.add(
                egui::DragValue::new(&mut w.width)
                    .speed(5.0)
                    .range(WindowLevel::MIN_WIDTH..=100_000.0),
            )
            .labelled_by(l.id);
            ui.end_row();
            let l = ui.label("Level");
            ui.add(egui::DragValue::new(&mut w.level).speed(5.0))
                .labelled_by(l.id);
            ui.end_row();
        });
    if w != state.window {
        state.apply(Command::SetWindow(w));
    }
    ui.horizontal_wrapped(|ui| {
        let presets: Vec<String> = state
            .settings
            .presets
            .iter()
            .map(|p| p.name.clone())
            .collect();
        for (n, name) in presets.iter().enumerate() {
            let hint = state.settings.presets[n].window;
            if ui
                .button(format!("{} {name}", n + 1))
                .on_hover_text(format!("W {:.0} / L {:.0}", hint.width, hint.level))
                .clicked()
            {
                state.apply(Command::Preset(n));
            }
        }
        let auto = ui
            .add_enabled(state.doc.is_open(), egui::Button::new("Auto"))
            .on_hover_text("Robust 2–98 % intensity range (A)");
        if auto.clicked() {
            state.apply(Command::AutoWindow);
        }
    });
    let mut linear = state.settings.linear;
    if ui.checkbox(&mut linear, "Linear interpolation").changed() {
        state.apply(Command::SetLinear(linear));
    }
    presets_editor_ui(ui, state);
}

/// Rename presets, change their window, or store the current window in one.
fn presets_editor_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let current = state.window;
    let mut presets = state.settings.presets.clone();
    egui::CollapsingHeader::new("Edit presets").show(ui, |ui| {
        egui::Grid::new("preset_editor")
            .num_columns(4)
            .show(ui, |ui| {
                for (n, preset) in presets.iter_mut().enumerate() {
                    let key = ui.label(format!("{}", n + 1));
                    ui.add(egui::TextEdit::singleline(&mut preset.name).desired_width(80.0))
                        .labelled_by(key.id);
                    ui.add(
                        egui::DragValue::new(&mut preset.window.width)
                            .prefix("W ")
                            .speed(5.0)
                            .range(WindowLevel::MIN_WIDTH..=100_000.0),
                    )
                    .labelled_by(key.id);
                    ui.add(
                        egui::DragValue::new(&mut preset.window.level)
                            .prefix("L ")
                            .speed(5.0),
                    )
                    .labelled_by(key.id);
                    if ui
                        .small_button("Set")
                        .on_hover_text("Store the current window in this preset")
                        .clicked()
                    {
                        preset.window = current;
                    }
                    ui.end_row();
                }
            });
        if ui.button("Restore standard presets").clicked() {
            presets = super::settings::default_presets();
        }
    });
    if presets != state.settings.presets {
        state.apply(Command::SetPresets(presets));
    }
}

fn overlay_ui(ui: &mut egui::Ui, state: &mut AppState) {
    ui.heading("Overlay");
    let mut style = state.settings.overlay;
    let o = &mut style;
    ui.checkbox(&mut o.visible, "Show overlay");
    ui.horizontal(|ui| {
        ui.checkbox(&mut o.fill, "Fill");
        ui.checkbox(&mut o.outline, "Outline");
    });
    ui.add(egui::Slider::new(&mut o.opacity, 0.0..=1.0).text("Opacity"));
    if style != state.settings.overlay {
        state.apply(Command::SetOverlayStyle(style));
    }
    let mut colors = Vec::new();
    let mut visibility = Vec::new();
    for info in &state.settings.labels.labels {
        ui.horizontal(|ui| {
            let mut visible = !state.settings.hidden_labels.contains(&info.value);
            if ui.checkbox(&mut visible, &info.name).changed() {
                visibility.push((info.value, visible));
            }
            let mut c = Color32::from_rgba_unmultiplied(
                info.color[0],
                info.color[1],
                info.color[2],
                info.color[3],
            );
            if ui.color_edit_button_srgba(&mut c).changed() {
                colors.push((info.value, c.to_srgba_unmultiplied()));
            }
        });
    }
    for (value, visible) in visibility {
        state.apply(Command::SetLabelVisible(value, visible));
    }
    for (value, color) in colors {
        state.apply(Command::SetLabelColor(value, color));
    }
}

fn layers_ui(ui: &mut egui::Ui, state: &mut AppState) {
    ui.heading("Masks");
    if state.doc.layers.is_empty() {
        ui.label("Drop a mask on the same grid to overlay it.");
    }
    let mut commands = Vec::new();
    for layer in state.doc.layers.iter() {
        ui.horizontal(|ui| {
            let mut visible = layer.visible;
            if ui.checkbox(&mut visible, &layer.name).changed() {
                commands.push(Command::SetLayerVisible(layer.id, visible));
            }
            if ui.small_button("Remove").clicked() {
                commands.push(Command::RemoveLayer(layer.id));
            }
        });
    }
    for c in commands {
        state.apply(c);
    }
}

/// Facts about the loaded volume (the fourth cell of the 2 × 2 layout).
pub fn volume_info_ui(ui: &mut egui::Ui, state: &AppState) {
    let Some(entry) = state.doc.entry() else {
        return;
    };
    let v = &entry.volume;
    let g = &v.geometry;
    ui.heading(&entry.name);
    egui::Grid::new("volume_info")
        .num_columns(2)
        .show(ui, |ui| {
            let rows = [
                (
                    "Dimensions",
                    format!("{} × {} × {}", g.dims[0], g.dims[1], g.dims[2]),
                ),
                (
                    "Spacing",
                    format!(
                        "{:.3} × {:.3} × {:.3} mm",
                        g.spacing[0], g.spacing[1], g.spacing[2]
                    ),
                ),
                ("Orientation", g.orientation_string()),
                (
                    "Data",
                    format!(
                        "{} (file {})",
                        v.voxels.storage_name(),
                        v.info.file_datatype
                    ),
                ),
                (
                    "Range",
                    format!(
                        "{:.0} … {:.0} (2–98 %: {:.0} … {:.0})",
                        entry.stats.min, entry.stats.max, entry.stats.p2, entry.stats.p98
                    ),
                ),
                (
                    "Crosshair",
                    format!(
                        "voxel ({}, {}, {})",
                        state.cursor[0], state.cursor[1], state.cursor[2]
                    ),
                ),
            ];
            for (k, val) in rows {
                ui.label(k);
                ui.label(val);
                ui.end_row();
            }
        });
    for w in &v.info.warnings {
        ui.label(RichText::new(w).color(Color32::from_rgb(255, 200, 100)));
    }
}

/// The mouse/keyboard reference window.
pub fn help_ui(ctx: &egui::Context, open: &mut bool) {
    egui::Window::new("Mouse and keys")
        .open(open)
        .resizable(false)
        .show(ctx, |ui| {
            egui::Grid::new("bindings").striped(true).show(ui, |ui| {
                let editing = super::edit_ui::BINDINGS.iter();
                for (input, action) in super::shortcuts::BINDINGS.iter().chain(editing) {
                    ui.label(RichText::new(*input).strong());
                    ui.label(*action);
                    ui.end_row();
                }
            });
        });
}
