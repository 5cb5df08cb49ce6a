//! The report panel: live figures of the shown masks (lung volumes, infection %,
//! zones, severity score, HU bands or why they are absent) and the Export mask /
//! Export report buttons.

use super::commands::Command;
use super::export::ExportKind;
use super::figures::{Figures, FiguresStatus};
use super::segment::SegCommand;
use super::state::AppState;
use super::ui_common::{WARN, capitalise};
use crate::analysis::{HuFigures, LobeSource, Side, SplitMethod, Zone};
use egui::{Color32, RichText};

/// The report section of the analysis panel.
pub fn report_ui(ui: &mut egui::Ui, state: &mut AppState) {
    ui.heading("Report");
    let status = state.seg.figures.status();
    match status {
        FiguresStatus::NoVolume => {
            ui.label("Open a CT volume to see its figures.");
        }
        FiguresStatus::NoMask => {
            ui.label("No mask shown: segment the volume or load a mask.");
        }
        FiguresStatus::WaitingForSegmentation => {
            ui.label("Figures follow when the segmentation ends.");
        }
        FiguresStatus::Measuring => {
            ui.horizontal(|ui| {
                ui.add(egui::Spinner::new());
                ui.label("Measuring…");
            });
        }
        FiguresStatus::Failed => {
            let e = state.seg.figures.error().unwrap_or_default();
            ui.label(RichText::new(format!("Cannot measure the masks: {e}")).color(WARN));
        }
        FiguresStatus::Current => {}
    }
    let show = matches!(status, FiguresStatus::Current | FiguresStatus::Measuring);
    if let Some(f) = state.seg.figures.latest().filter(|_| show) {
        let stale = status != FiguresStatus::Current;
        ui.add_enabled_ui(!stale, |ui| figures_ui(ui, f));
    }
    ui.separator();
    exports_ui(ui, state);
}

fn figures_ui(ui: &mut egui::Ui, f: &Figures) {
    let names: Vec<&str> = f.layers.iter().map(|l| l.name.as_str()).collect();
    ui.label(RichText::new(format!("Measured: {}", names.join(" + "))).small())
        .on_hover_text("The visible mask layers, as the overlay shows them");
    let scope = &f.analysis.scope;
    if !scope.infection_percent_valid {
        // No headline percentage or severity score that does not stand: say what
        // is missing instead, and show only the lung volumes.
        ui.label(
            RichText::new("Infection % not given")
                .size(18.0)
                .strong()
                .color(WARN),
        );
        ui.label(RichText::new(format!("Out of scope: {}", scope.message)).color(WARN));
        let q = &f.analysis.quantities;
        if scope.problem == Some(crate::analysis::ScopeProblem::NoLungLabel) {
            ui.label(format!(
                "Labelled (no lung label): {:.1} mL",
                q.total.lung_ml
            ));
        } else {
            ui.label(format!(
                "Lung labelled: {:.1} mL (left {:.1}, right {:.1})",
                q.total.lung_ml, q.left.lung_ml, q.right.lung_ml
            ));
        }
        hu_ui(ui, &f.analysis.hu);
        notes_ui(ui, f);
        return;
    }
    if scope.status == crate::analysis::ScopeStatus::Partial {
        ui.label(
            RichText::new(format!("Partial: {}", scope.message))
                .small()
                .color(WARN),
        );
    }
    let q = &f.analysis.quantities;
    ui.label(
        RichText::new(format!(
            "Infection {:.2} % of lung",
            q.total.infection_percent
        ))
        .size(18.0)
        .strong(),
    );
    egui::Grid::new("report_volumes")
        .striped(true)
        .num_columns(4)
        .show(ui, |ui| {
            for h in ["", "Lung mL", "Infected mL", "Infection %"] {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for (name, a) in [("Left", &q.left), ("Right", &q.right), ("Total", &q.total)] {
                ui.label(name);
                ui.label(format!("{:.1}", a.lung_ml));
                ui.label(format!("{:.1}", a.infected_ml));
                ui.label(format!("{:.2}", a.infection_percent));
                ui.end_row();
            }
        });
    ui.add_space(4.0);
    egui::Grid::new("report_zones")
        .striped(true)
        .num_columns(3)
        .show(ui, |ui| {
            for h in ["Zone", "Left %", "Right %"] {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for zone in Zone::ALL {
                ui.label(zone.name());
                for side in Side::BOTH {
                    ui.label(q.zone(side, zone).map_or_else(
                        || "-".into(),
                        |z| format!("{:.2}", z.amounts.infection_percent),
                    ));
                }
                ui.end_row();
            }
        });
    ui.add_space(4.0);
    let s = &f.analysis.severity;
    ui.label(RichText::new(format!("Severity score {} / 25", s.total)).strong())
        .on_hover_text(&s.note);
    if s.source == LobeSource::ZoneApproximation {
        ui.label(
            RichText::new("Approximation: the five lobes are approximated by lung thirds")
                .small()
                .color(WARN),
        )
        .on_hover_text(&s.note);
    }
    hu_ui(ui, &f.analysis.hu);
    notes_ui(ui, f);
}

fn hu_ui(ui: &mut egui::Ui, hu: &HuFigures) {
    match hu {
        HuFigures::Absent { reason } => {
            ui.label(RichText::new(format!("HU figures absent: {reason}")).small())
                .on_hover_text(
                    "Density figures need measured Hounsfield units; \
                     this volume's intensities are not HU",
                );
        }
        HuFigures::Available {
            infected, bands, ..
        } => {
            for b in bands {
                ui.label(format!(
                    "{} ({:.0} to {:.0} HU): {:.2} % of lung, {:.1} mL",
                    capitalise(&b.name),
                    b.lo_hu,
                    b.hi_hu,
                    b.percent_of_lung,
                    b.ml
                ));
            }
            if let Some(r) = infected {
                ui.label(format!(
                    "Infected region: mean {:.0} HU, median {:.0} HU",
                    r.mean, r.median
                ));
            }
        }
    }
}

fn notes_ui(ui: &mut egui::Ui, f: &Figures) {
    let n = &f.analysis.notes;
    let note = |ui: &mut egui::Ui, text: String| {
        ui.label(RichText::new(text).small().color(Color32::GRAY));
    };
    if let Some(s) = &n.split {
        let how = match s.method {
            SplitMethod::SeparateComponents => "separate lungs",
            SplitMethod::MidlinePlane => "cut at the midline plane",
            SplitMethod::SingleLung => "a single lung",
        };
        note(
            ui,
            format!(
                "Left/right split made here: {how} (midline x = {:.1} mm)",
                s.midline_x_mm
            ),
        );
    }
    if n.lung_labels_look_swapped {
        ui.label(
            RichText::new("Label 1 lies on the patient's right: left and right may be swapped")
                .small()
                .color(WARN),
        );
    }
    if n.unknown_label_voxels > 0 {
        note(
            ui,
            format!(
                "{} voxels with other labels ignored",
                n.unknown_label_voxels
            ),
        );
    }
}

fn exports_ui(ui: &mut egui::Ui, state: &mut AppState) {
    let mut commands = Vec::new();
    ui.horizontal_wrapped(|ui| {
        for (kind, label, tip) in [
            (
                ExportKind::Mask,
                "Export mask…",
                "Save the measured label map as NIfTI (default: <name>_seg.nii.gz next to the CT)",
            ),
            (
                ExportKind::Report,
                "Export report…",
                "Save the report as PDF, HTML, JSON or CSV",
            ),
        ] {
            let reason = state.export_block_reason(kind);
            let b = ui.add_enabled(reason.is_none(), egui::Button::new(label));
            let b = match &reason {
                Some(r) => b.on_disabled_hover_text(capitalise(r)),
                None => b.on_hover_text(tip),
            };
            if b.clicked() {
                commands.push(match kind {
                    ExportKind::Mask => SegCommand::ExportMaskDialog,
                    ExportKind::Report => SegCommand::ExportReportDialog,
                });
            }
        }
    });
    if let Some(kind) = state.seg.exports.running() {
        ui.horizontal(|ui| {
            ui.add(egui::Spinner::new());
            ui.label(match kind {
                ExportKind::Mask => "Writing the mask…",
                ExportKind::Report => "Writing the report…",
            });
        });
    }
    for c in commands {
        state.apply(Command::Seg(c));
    }
}
