//! The desktop application: state, UI and background jobs.

use std::path::PathBuf;

/// Opens the viewer window with the given files and blocks until it closes.
pub fn run(files: Vec<PathBuf>) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Wgpu,
        viewport: egui::ViewportBuilder::default()
            .with_title("lungscope")
            .with_inner_size([1280.0, 800.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "lungscope",
        options,
        Box::new(move |_cc| Ok(Box::new(Shell { files }))),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
}

struct Shell {
    files: Vec<PathBuf>,
}

impl eframe::App for Shell {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading("lungscope");
            for f in &self.files {
                ui.label(f.display().to_string());
            }
        });
    }
}
