//! What the analysis panel's parts (`segment_ui`, `report_ui`, `models_ui`) share:
//! the warning colour and capitalised messages.

use egui::Color32;

/// Warning colour of notices in the panel.
pub const WARN: Color32 = Color32::from_rgb(255, 200, 100);

/// The text with its first letter in upper case.
pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
