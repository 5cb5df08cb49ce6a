//! The DICOM series chooser: a window listing the series of a dropped or opened
//! folder (filled by the load job from the headers alone), where the user opens
//! one or cancels. Answers go through [`Command::ChooseSeries`] and
//! [`Command::CancelSeriesChoice`].

use super::commands::Command;
use super::loading::file_name;
use super::state::AppState;
use crate::io::SeriesSummary;
use crate::io::dicom::short_uid;

/// The column titles of the listing.
pub const COLUMNS: [&str; 9] = [
    "#",
    "Description",
    "Modality",
    "Images",
    "Image size",
    "Spacing",
    "Kernel",
    "Date",
    "Series UID",
];

/// The cells of one series' row, in [`COLUMNS`] order.
pub fn row_cells(s: &SeriesSummary) -> [String; 9] {
    let or_dash = |t: &str| {
        if t.trim().is_empty() {
            "—".to_string()
        } else {
            t.trim().to_string()
        }
    };
    [
        s.index.to_string(),
        if s.description.trim().is_empty() {
            "(no description)".to_string()
        } else {
            s.description.trim().to_string()
        },
        or_dash(&s.modality),
        s.images.to_string(),
        format!("{} × {}", s.size[0], s.size[1]),
        s.slice_spacing_mm
            .map_or_else(|| "—".to_string(), |d| format!("{d:.2} mm")),
        or_dash(&s.kernel),
        format_date(&s.date),
        short_uid(&s.uid),
    ]
}

/// `YYYYMMDD` as `YYYY-MM-DD`; anything else as written ("—" when empty).
pub fn format_date(date: &str) -> String {
    let d = date.trim();
    if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..])
    } else if d.is_empty() {
        "—".to_string()
    } else {
        d.to_string()
    }
}

/// Shows the chooser while a DICOM input with several series waits for a choice.
pub fn series_chooser_ui(ctx: &egui::Context, state: &mut AppState) {
    let Some(prompt) = state.series_prompt() else {
        return;
    };
    let mut answer = None;
    let modal = egui::Modal::new(egui::Id::unique("dicom_series_chooser")).show(ctx, |ui| {
        ui.set_max_width(900.0);
        ui.heading("Choose a DICOM series");
        ui.label(format!(
            "{} holds {} series. Open one; the others are not read.",
            file_name(&prompt.source),
            prompt.series.len()
        ));
        if !prompt.rest.is_empty() {
            ui.label(format!(
                "The {} file(s) opened after it load on the chosen series' grid.",
                prompt.rest.len()
            ));
        }
        ui.add_space(6.0);
        egui::ScrollArea::both().max_height(360.0).show(ui, |ui| {
            egui::Grid::new("dicom_series_grid")
                .striped(true)
                .spacing([14.0, 6.0])
                .show(ui, |ui| {
                    ui.label("");
                    for title in COLUMNS {
                        ui.strong(title);
                    }
                    ui.end_row();
                    for s in &prompt.series {
                        if ui
                            .button("Open")
                            .on_hover_text(format!("Series UID {}", s.uid))
                            .clicked()
                        {
                            answer = Some(Command::ChooseSeries(s.index));
                        }
                        for cell in row_cells(s) {
                            ui.label(cell);
                        }
                        ui.end_row();
                    }
                });
        });
        ui.add_space(6.0);
        if ui.button("Cancel").clicked() {
            answer = Some(Command::CancelSeriesChoice);
        }
    });
    if modal.should_close() && answer.is_none() {
        answer = Some(Command::CancelSeriesChoice);
    }
    if let Some(command) = answer {
        state.apply(command);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> SeriesSummary {
        SeriesSummary {
            index: 2,
            uid: "1.3.6.1.4.1.14519.5.2.1.99.1071.12985984391743921024065199671".into(),
            number: Some(3),
            description: " Lung 1.0 ".into(),
            modality: "CT".into(),
            images: 120,
            size: [512, 512],
            slice_spacing_mm: Some(1.25),
            kernel: String::new(),
            date: "20200314".into(),
        }
    }

    #[test]
    fn rows_show_every_field_of_the_summary() {
        let cells = row_cells(&summary());
        assert_eq!(cells[0], "2");
        assert_eq!(cells[1], "Lung 1.0");
        assert_eq!(cells[2], "CT");
        assert_eq!(cells[3], "120");
        assert_eq!(cells[4], "512 × 512");
        assert_eq!(cells[5], "1.25 mm");
        assert_eq!(cells[6], "—");
        assert_eq!(cells[7], "2020-03-14");
        assert!(cells[8].starts_with("1.3.6.1.4.") && cells[8].contains('…'));
    }

    #[test]
    fn dates_are_shown_readably() {
        assert_eq!(format_date("20200314"), "2020-03-14");
        assert_eq!(format_date(""), "—");
        assert_eq!(format_date("2020"), "2020");
    }
}
