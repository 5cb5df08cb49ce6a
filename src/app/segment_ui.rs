//! The analysis panel (left side): device, model, Segment with progress and
//! Cancel, then the report figures and exports; the models window; the Segment
//! shortcut.

use super::commands::Command;
use super::segment::SegCommand;
use super::state::AppState;
use super::ui_common::{WARN, capitalise};
use crate::seg::device::DeviceChoice;
use egui::{Key, Modifiers, RichText};

/// The panel: segmentation, then the report. Also shows the models window when open.
pub fn analysis_panel_ui(ui: &mut egui::Ui, state: &mut AppState) {
    // Scrolling both ways (no shrinking to the content) keeps the panel's width
    // independent of what it shows, so the views do not move when figures change.
    egui::ScrollArea::both()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            segmentation_ui(ui, state);
            ui.separator();
            super::report_ui::report_ui(ui, state);
        });
    super::models_ui::models_window_ui(ui.ctx(), state);
}

/// Ctrl + Shift + S segments the volume (an error says why when it cannot).
pub fn handle_keys(ctx: &egui::Context, state: &mut AppState) {
    if ctx.egui_wants_keyboard_input() {
        return;
    }
    let pressed = ctx.input_mut(|i| i.consume_key(Modifiers::COMMAND | Modifiers::SHIFT, Key::S));
    if pressed && !state.is_segmenting() {
        state.apply(Command::Seg(SegCommand::Segment));
    }
}

fn device_name(choice: DeviceChoice) -> &'static str {
    match choice {
        DeviceChoice::Auto => "Auto",
        DeviceChoice::Gpu => "GPU",
        DeviceChoice::Cpu => "CPU",
    }
}

fn segmentation_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let mut commands = Vec::new();
    ui.heading("Segmentation");
    let current = state.seg.models.device_choice;
    let mut choice = current;
    ui.horizontal(|ui| {
        let label = ui.label("Device");
        egui::ComboBox::from_id_salt("seg_device")
            .selected_text(device_name(choice))
            .show_ui(ui, |ui| {
                for c in [DeviceChoice::Auto, DeviceChoice::Gpu, DeviceChoice::Cpu] {
                    ui.selectable_value(&mut choice, c, device_name(c));
                }
            })
            .response
            .labelled_by(label.id)
            .on_hover_text(
                "Auto: the viewer's GPU when it is a hardware GPU, else the CPU. \
                 GPU: the viewer's GPU. CPU: the flex CPU backend.",
            );
    });
    if choice != current {
        commands.push(SegCommand::SetDevice(choice));
    }
    let models = &state.seg.models;
    match models.active() {
        Some(active) => {
            ui.label(format!("Runs on: {}", active.device.description));
            if let Some(n) = &active.device.notice {
                ui.label(RichText::new(n).color(WARN).small());
            }
            ui.label(format!("Model: {}", active.model.id))
                .on_hover_text(format!(
                    "{}\n{}\nweights sha256 {}",
                    active.source.describe(),
                    active.model.card.architecture,
                    active.model.weights_sha256
                ));
        }
        None => {
            match models.gpu() {
                Some(g) => {
                    let kind = if g.is_hardware() {
                        "hardware"
                    } else {
                        "software rasteriser"
                    };
                    ui.label(format!("Viewer GPU: {kind}"))
                        .on_hover_text(g.adapter_summary());
                }
                None => {
                    ui.label("No GPU shared with the viewer: the CPU is used");
                }
            }
            if !models.is_loading() {
                let reason = models.unavailable_reason().unwrap_or_default();
                ui.label(RichText::new(capitalise(&reason)).color(WARN));
            }
        }
    }
    if let Some(msg) = models.loading_message() {
        ui.horizontal(|ui| {
            ui.add(egui::Spinner::new());
            ui.label(format!("Loading model: {msg}"));
        });
    }
    ui.horizontal(|ui| {
        if ui
            .button("Open model file…")
            .on_hover_text("Load a lungscope model (.lsm) for this session")
            .clicked()
        {
            commands.push(SegCommand::OpenModelDialog);
        }
        if ui
            .button("Models…")
            .on_hover_text("Stored versions, switch, back to default")
            .clicked()
        {
            commands.push(SegCommand::ShowModels(true));
        }
    });
    let mut threshold = state.seg.threshold;
    ui.horizontal(|ui| {
        let label = ui.label("Threshold");
        ui.add(
            egui::DragValue::new(&mut threshold)
                .range(0.01..=0.99)
                .speed(0.01)
                .fixed_decimals(2),
        )
        .labelled_by(label.id)
        .on_hover_text("Probability at or above which a pixel is lung / infection");
    });
    if threshold != state.seg.threshold {
        commands.push(SegCommand::SetThreshold(threshold));
    }
    match state.segmentation_progress() {
        Some((done, total, secs)) => {
            let fraction = if total > 0 {
                done as f32 / total as f32
            } else {
                0.0
            };
            ui.add(
                egui::ProgressBar::new(fraction)
                    .text(format!("{done} / {total} slices · {secs:.1} s")),
            );
            if ui.button("Cancel segmentation").clicked() {
                commands.push(SegCommand::Cancel);
            }
        }
        None => {
            let reason = state.segment_block_reason();
            let button = ui.add_enabled(
                reason.is_none(),
                egui::Button::new("Segment").min_size(egui::vec2(120.0, 0.0)),
            );
            let button = match &reason {
                Some(r) => button.on_disabled_hover_text(capitalise(r)),
                None => button.on_hover_text(
                    "Segment lungs and infection with the active model (Ctrl + Shift + S)",
                ),
            };
            if button.clicked() {
                commands.push(SegCommand::Segment);
            }
        }
    }
    if let Some(r) = state.seg.result() {
        ui.label(
            RichText::new(format!(
                "Last: {} in {:.1} s on {}",
                r.stamp.model_id, r.elapsed_s, r.device
            ))
            .small(),
        )
        .on_hover_text(&r.physics);
    }
    for c in commands {
        state.apply(Command::Seg(c));
    }
}
