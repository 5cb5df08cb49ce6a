//! The fine-tuning window: settings, Start / Cancel, progress, live loss and Dice
//! curves (egui_plot), and the before/after Dice with the choice of model.

use super::commands::Command;
use super::finetune_state::FineTuneCommand;
use super::state::AppState;
use crate::seg::DeviceChoice;
use crate::seg::train::corrections::{TargetKind, mean_dice, slice_list};
use egui::{Color32, RichText};
use egui_plot::{Legend, Line, Plot, PlotPoints};

fn command(state: &mut AppState, c: FineTuneCommand) {
    state.apply(Command::FineTune(c));
}

/// Colours of the Dice curves per output label.
const CURVE_COLORS: [Color32; 4] = [
    Color32::from_rgb(90, 170, 255),
    Color32::from_rgb(255, 110, 90),
    Color32::from_rgb(120, 220, 120),
    Color32::from_rgb(230, 200, 80),
];

/// The window (shown while `state.finetune.open`).
pub fn finetune_window_ui(ctx: &egui::Context, state: &mut AppState) {
    let mut open = state.finetune.open;
    if !open {
        return;
    }
    let top_right = ctx.content_rect().right_top() + egui::vec2(-12.0, 70.0);
    egui::Window::new("Fine-tune the model")
        .open(&mut open)
        .pivot(egui::Align2::RIGHT_TOP)
        .default_pos(top_right)
        .default_size([480.0, 640.0])
        .resizable(true)
        .vscroll(true)
        .show(ctx, |ui| body_ui(ui, state));
    if !open {
        command(state, FineTuneCommand::SetOpen(false));
    }
}

fn body_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let running = state.finetune.is_running();
    ui.horizontal(|ui| {
        ui.label("Base model:");
        match state.finetune.base_file.clone() {
            Some(p) => {
                ui.label(super::loading::file_name(&p))
                    .on_hover_text(p.display().to_string());
                if ui
                    .add_enabled(!running, egui::Button::new("Use the active model"))
                    .clicked()
                {
                    command(state, FineTuneCommand::SetBaseFile(None));
                }
            }
            None => {
                ui.label("the active model (a stored version or the default)");
            }
        }
    });
    settings_ui(ui, state, running);
    ui.separator();
    let corrected = state.corrected_slices();
    ui.label(if corrected.is_empty() {
        "No corrected slices yet: edit the mask or mark slices as reviewed.".to_string()
    } else {
        format!(
            "Corrected axial slices ({}): {}",
            corrected.len(),
            slice_list(&corrected)
        )
    });
    let has_mask = state.edited_mask().is_some() || !state.doc.layers.is_empty();
    ui.horizontal(|ui| {
        if ui
            .add_enabled(
                !running && !corrected.is_empty(),
                egui::Button::new(format!("Fine-tune on corrections ({})", corrected.len())),
            )
            .on_hover_text("Train on the slices you edited or marked as reviewed")
            .clicked()
        {
            command(state, FineTuneCommand::Start(TargetKind::Corrections));
        }
        if ui
            .add_enabled(
                !running && has_mask,
                egui::Button::new("Fine-tune on this case"),
            )
            .on_hover_text("Train on the slices of the shown mask that contain lung")
            .clicked()
        {
            command(state, FineTuneCommand::Start(TargetKind::WholeCase));
        }
        if running && ui.button("Cancel").clicked() {
            command(state, FineTuneCommand::Cancel);
        }
    });
    if let Some((fraction, message, secs)) = state.finetune.progress() {
        let bar = match fraction {
            Some(f) => egui::ProgressBar::new(f).show_percentage(),
            None => egui::ProgressBar::new(0.0).animate(true),
        };
        ui.add(bar.text(format!("{message} · {secs:.0} s")));
    }
    if let Some(s) = &state.finetune.curves.started {
        ui.label(RichText::new(s).weak());
    }
    curves_ui(ui, state);
    result_ui(ui, state);
}

fn settings_ui(ui: &mut egui::Ui, state: &mut AppState, running: bool) {
    let ft = &state.finetune;
    let (mut settings, mut max_case_slices, mut device) =
        (ft.settings.clone(), ft.max_case_slices, ft.device);
    ui.add_enabled_ui(!running, |ui| {
        egui::Grid::new("finetune_settings")
            .num_columns(2)
            .show(ui, |ui| {
                let l = ui.label("Steps");
                ui.add(egui::DragValue::new(&mut settings.steps).range(1..=5000))
                    .labelled_by(l.id);
                ui.end_row();
                let l = ui.label("Learning rate");
                ui.add(
                    egui::DragValue::new(&mut settings.lr)
                        .range(1e-6..=1e-1)
                        .speed(1e-5)
                        .custom_formatter(|v, _| format!("{v:.1e}"))
                        .custom_parser(|s| s.trim().parse::<f64>().ok()),
                )
                .labelled_by(l.id);
                ui.end_row();
                let l = ui.label("Batch size");
                ui.add(egui::DragValue::new(&mut settings.batch_size).range(1..=32))
                    .labelled_by(l.id);
                ui.end_row();
                let l = ui.label("Slices (this case)");
                ui.add(egui::DragValue::new(&mut max_case_slices).range(1..=500))
                    .labelled_by(l.id)
                    .on_hover_text("At most this many lung slices, spread evenly");
                ui.end_row();
                let l = ui.label("Anchor slices (corrections)");
                ui.add(egui::DragValue::new(&mut settings.anchor_slices).range(0..=64))
                    .labelled_by(l.id)
                    .on_hover_text(
                        "Uncorrected lung slices of the case, as the mask shows them, mixed \
                         into every batch so the model keeps what it does elsewhere (0: none)",
                    );
                ui.end_row();
                let l = ui.label("Device");
                egui::ComboBox::from_id_salt("finetune_device")
                    .selected_text(device_name(device))
                    .show_ui(ui, |ui| {
                        for d in [DeviceChoice::Auto, DeviceChoice::Gpu, DeviceChoice::Cpu] {
                            ui.selectable_value(&mut device, d, device_name(d));
                        }
                    })
                    .response
                    .labelled_by(l.id);
                ui.end_row();
            });
    });
    let ft = &state.finetune;
    if settings != ft.settings || max_case_slices != ft.max_case_slices || device != ft.device {
        command(
            state,
            FineTuneCommand::Configure {
                settings,
                max_case_slices,
                device,
            },
        );
    }
}

fn device_name(d: DeviceChoice) -> &'static str {
    match d {
        DeviceChoice::Auto => "Auto (GPU if present)",
        DeviceChoice::Gpu => "GPU",
        DeviceChoice::Cpu => "CPU",
    }
}

fn curves_ui(ui: &mut egui::Ui, state: &AppState) {
    let curves = &state.finetune.curves;
    if curves.loss.is_empty() && curves.dice.iter().all(Vec::is_empty) {
        return;
    }
    ui.columns(2, |cols| {
        cols[0].label("Loss by step");
        Plot::new("finetune_loss")
            .height(110.0)
            .allow_scroll(false)
            .include_y(0.0)
            .x_axis_label("step")
            .show(&mut cols[0], |p| {
                p.line(
                    Line::new("loss", PlotPoints::from(curves.loss.clone()))
                        .color(Color32::from_rgb(230, 230, 230)),
                );
            });
        cols[1].label("Dice on the target slices");
        Plot::new("finetune_dice")
            .height(110.0)
            .allow_scroll(false)
            .include_y(0.0)
            .include_y(1.0)
            .x_axis_label("step")
            .legend(Legend::default())
            .show(&mut cols[1], |p| {
                for (n, (label, points)) in curves.labels.iter().zip(&curves.dice).enumerate() {
                    p.line(
                        Line::new(label.clone(), PlotPoints::from(points.clone()))
                            .color(CURVE_COLORS[n % CURVE_COLORS.len()]),
                    );
                }
            });
    });
}

fn result_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let Some(result) = &state.finetune.result else {
        return;
    };
    ui.separator();
    ui.heading("Result");
    ui.label(format!(
        "Dice on the {} target slices ({}), at the model input size:",
        result.slices.len(),
        slice_list(&result.slices)
    ));
    egui::Grid::new("finetune_result")
        .num_columns(3)
        .striped(true)
        .show(ui, |ui| {
            ui.label(RichText::new("output").strong());
            ui.label(RichText::new("before").strong());
            ui.label(RichText::new("after").strong());
            ui.end_row();
            for (label, (b, a)) in result
                .labels
                .iter()
                .zip(result.before.iter().zip(&result.after))
            {
                ui.label(label);
                ui.label(format!("{:.3}", b.dice));
                ui.label(dice_text(b.dice, a.dice));
                ui.end_row();
            }
            ui.label("mean");
            let (b, a) = (mean_dice(&result.before), mean_dice(&result.after));
            ui.label(format!("{b:.3}"));
            ui.label(dice_text(b, a));
            ui.end_row();
        });
    let id = result.version.id.clone();
    ui.label(format!("Stored as version {id} (not yet in use)."));
    let decided = state.finetune.decision.clone();
    ui.horizontal(|ui| {
        if ui
            .button("Use the new version")
            .on_hover_text("Segment with the fine-tuned model from now on")
            .clicked()
        {
            command(state, FineTuneCommand::UseNewVersion);
        }
        if ui.button("Keep the current model").clicked() {
            command(state, FineTuneCommand::KeepCurrent);
        }
        if ui
            .button("Roll back")
            .on_hover_text("Use the model the active version was made from (or the default)")
            .clicked()
        {
            command(state, FineTuneCommand::RollBack);
        }
    });
    if let Some(d) = decided {
        ui.label(RichText::new(d).color(Color32::from_rgb(150, 200, 255)));
    }
}

fn dice_text(before: f64, after: f64) -> RichText {
    let color = if after > before {
        Color32::from_rgb(120, 220, 120)
    } else if after < before {
        Color32::from_rgb(255, 120, 100)
    } else {
        Color32::GRAY
    };
    RichText::new(format!("{after:.3} ({:+.3})", after - before)).color(color)
}
