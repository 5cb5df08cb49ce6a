//! The models window: the active model, the stored (fine-tuned) versions with
//! their date, base model, corrected slices and card metrics, one-click switch and
//! "Back to default".

use super::commands::Command;
use super::models::{ModelSource, NO_DEFAULT_MODEL};
use super::segment::SegCommand;
use super::state::AppState;
use super::ui_common::{WARN, capitalise};
use crate::seg::model::weights;
use egui::RichText;

/// Shows the window while `state.seg.show_models` is set.
pub fn models_window_ui(ctx: &egui::Context, state: &mut AppState) {
    if !state.seg.show_models {
        return;
    }
    let mut open = true;
    let mut commands = Vec::new();
    egui::Window::new("Models")
        .open(&mut open)
        .default_width(560.0)
        .show(ctx, |ui| {
            let models = &state.seg.models;
            let in_use = models.active().map(|a| a.source.clone());
            match models.active() {
                Some(a) => ui.label(format!(
                    "In use: {} ({}) on {}",
                    a.model.id,
                    a.source.describe(),
                    a.device.description
                )),
                None => ui.label(
                    RichText::new(capitalise(&models.unavailable_reason().unwrap_or_default()))
                        .color(WARN),
                ),
            };
            ui.horizontal(|ui| {
                let default_tip = if weights::has_default_model() {
                    "Use the model built into lungscope"
                } else {
                    NO_DEFAULT_MODEL
                };
                if ui
                    .add_enabled(
                        in_use != Some(ModelSource::Default),
                        egui::Button::new("Back to default"),
                    )
                    .on_hover_text(default_tip)
                    .clicked()
                {
                    commands.push(SegCommand::UseDefaultModel);
                }
                if ui.button("Open model file…").clicked() {
                    commands.push(SegCommand::OpenModelDialog);
                }
                if ui.button("Refresh").clicked() {
                    commands.push(SegCommand::RefreshVersions);
                }
                if models.is_listing() {
                    ui.add(egui::Spinner::new());
                }
            });
            if let Some(e) = models.store_error() {
                ui.label(RichText::new(e).color(WARN));
            }
            if let Some(store) = models.store() {
                ui.label(
                    RichText::new(format!("Versions folder: {}", store.root().display())).small(),
                );
            }
            ui.separator();
            if models.versions().is_empty() {
                ui.label("No stored versions yet: fine-tuning on a case saves one here.");
                return;
            }
            egui::ScrollArea::vertical()
                .max_height(320.0)
                .show(ui, |ui| {
                    egui::Grid::new("model_versions")
                        .striped(true)
                        .num_columns(6)
                        .show(ui, |ui| {
                            for h in [
                                "Version",
                                "Date",
                                "Base model",
                                "Corrected slices",
                                "Metrics",
                                "",
                            ] {
                                ui.label(RichText::new(h).strong());
                            }
                            ui.end_row();
                            for row in models.versions() {
                                let card = &row.info.card;
                                ui.label(&row.info.id);
                                ui.label(&card.date);
                                ui.label(card.base_model.as_deref().unwrap_or("-"));
                                ui.label(
                                    row.corrected_slices
                                        .map_or_else(|| "-".to_string(), |n| n.to_string()),
                                );
                                let metrics: Vec<String> = card
                                    .metrics
                                    .iter()
                                    .filter(|(k, _)| k.as_str() != "corrected_slices")
                                    .map(|(k, v)| format!("{k} {v:.3}"))
                                    .collect();
                                ui.label(if metrics.is_empty() {
                                    "-".to_string()
                                } else {
                                    metrics.join(", ")
                                });
                                let used =
                                    in_use == Some(ModelSource::Version(row.info.id.clone()));
                                if used {
                                    ui.label(RichText::new("in use").strong());
                                } else if ui.button("Use").clicked() {
                                    commands.push(SegCommand::UseVersion(row.info.id.clone()));
                                }
                                ui.end_row();
                            }
                        });
                });
        });
    if !open {
        commands.push(SegCommand::ShowModels(false));
    }
    for c in commands {
        state.apply(Command::Seg(c));
    }
}
