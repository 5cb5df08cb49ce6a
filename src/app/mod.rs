//! The desktop application: state, UI and background jobs.
//!
//! - [`state`]: [`AppState`] (no egui types): the [`document`], the view state
//!   and one state per feature; [`commands`]: the [`Command`]s that change it,
//!   applied by [`apply`]; [`context`]: the [`Ctx`](context::Ctx) a feature's
//!   method gets beside its own state; [`masks`]: what the views draw of the
//!   document; [`background`]: loading and the per-frame poll of every job;
//!   [`queries`]: the questions the UI and tests ask; [`notice`]: messages for
//!   the user; [`gpu_update`]: what the GPU has to catch up with ([`gpu_sync`]
//!   does).
//! - [`jobs`]: background work with progress, cancel and streamed results.
//! - [`loading`]: what a dropped/opened file is, read off the UI thread;
//!   [`series_ui`]: the chooser shown when a DICOM input holds several series.
//! - [`layers`]: mask layers and the composite the GPU shows.
//! - [`settings`]: what persists between runs; [`views`]: per-view arrays.
//! - [`view_ui`], [`panels`], [`shortcuts`]: the egui side (`*_ui` functions).
//! - The features, each a state type whose methods apply its commands on a
//!   `Ctx`: [`edit_state`] (`EditState`), [`edit_guard`], [`edit_ui`]: mask
//!   editing, saving and the unsaved-edits question, carried out by [`editing`]
//!   and [`saving`]; [`finetune_state`] (`FineTuneState`), [`finetune_ui`]:
//!   in-app fine-tuning, run by [`fine_tuning`]; [`segment`] (`SegTools`, with
//!   the [`models`] manager), [`figures`] (`LiveFigures`), [`export`]
//!   (`Exports`): segmentation, the report panel's figures and exports, run by
//!   [`segmenting`], [`measuring`] and [`exporting`].
//!
//! Imports point down these layers (or within one), never up: the data (the
//! feature modules' types, [`commands`], [`context`] and the small modules
//! above); [`state`] (the [`AppState`] struct, whose fields are those types);
//! the feature logic ([`editing`], [`saving`], [`segmenting`], [`measuring`],
//! [`exporting`], [`fine_tuning`]), which imports the data; the app-level
//! `impl AppState` files ([`apply`], [`background`], [`masks`], [`queries`], and
//! the unsaved-edits orchestration in [`saving`]), which hand each command to
//! its feature and one feature's outcome to another; the egui side.
//!
//! [`LungscopeApp`] ties them to eframe and to the GPU renderer.

pub mod apply;
pub mod background;
pub mod bench;
pub mod commands;
pub mod compute;
pub mod context;
pub mod dialog;
pub mod document;
pub mod edit_guard;
pub mod edit_state;
pub mod edit_tool;
pub mod edit_ui;
pub mod editing;
pub mod export;
pub mod exporting;
pub mod figures;
pub mod fine_tuning;
pub mod finetune_state;
pub mod finetune_ui;
pub mod gpu_sync;
pub mod gpu_update;
pub mod jobs;
pub mod layers;
pub mod loading;
pub mod masks;
pub mod measuring;
pub mod models;
pub mod models_ui;
pub mod notice;
pub mod panels;
pub mod queries;
pub mod report_ui;
pub mod saving;
pub mod segment;
pub mod segment_ui;
pub mod segmenting;
pub mod series_ui;
pub mod settings;
pub mod shortcuts;
pub mod state;
pub mod ui_common;
pub mod view_ui;
pub mod views;

pub use commands::Command;
pub use gpu_update::GpuUpdate;
pub use jobs::{Job, JobContext, JobStatus};
pub use layers::MaskLayer;
pub use notice::{Notice, NoticeKind};
pub use settings::{Layout, Settings};
pub use state::AppState;

use crate::render::{SliceRenderer, UploadStats};
use crate::volume::View;
use dialog::{FileDialog, Pick};
use panels::MenuAction;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// Opens the viewer window with the given files and blocks until it closes.
pub fn run(files: Vec<PathBuf>) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Wgpu,
        viewport: egui::ViewportBuilder::default()
            .with_title("lungscope")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([640.0, 400.0])
            .with_drag_and_drop(true),
        multisampling: 0,
        depth_buffer: 0,
        wgpu_options: compute::wgpu_configuration(),
        ..Default::default()
    };
    eframe::run_native(
        "lungscope",
        options,
        Box::new(move |cc| {
            let settings = cc
                .storage
                .and_then(|s| eframe::get_value::<Settings>(s, settings::SETTINGS_KEY))
                .unwrap_or_default();
            let mut app = LungscopeApp::new(cc.wgpu_render_state.clone(), settings);
            if !files.is_empty() {
                app.state_mut().apply(Command::Open(files));
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
}

/// A file dialog running off the UI thread.
struct Dialog {
    job: Job<Vec<PathBuf>>,
    masks: bool,
}

/// The viewer: [`AppState`] plus the GPU renderer and UI-only state.
pub struct LungscopeApp {
    state: AppState,
    render_state: Option<egui_wgpu::RenderState>,
    ctx: Arc<OnceLock<egui::Context>>,
    wheel: view_ui::WheelState,
    hovered_view: Option<View>,
    dialog: Option<Dialog>,
    show_help: bool,
    gpu_sync: gpu_sync::GpuSync,
}

impl LungscopeApp {
    /// An app drawing with `render_state` (eframe's or a test's wgpu state; the
    /// slice renderer is installed into it). Without one, views show a notice.
    pub fn new(render_state: Option<egui_wgpu::RenderState>, settings: Settings) -> Self {
        let ctx: Arc<OnceLock<egui::Context>> = Arc::new(OnceLock::new());
        let waker_ctx = Arc::clone(&ctx);
        let waker: jobs::Waker = Arc::new(move || {
            if let Some(c) = waker_ctx.get() {
                c.request_repaint();
            }
        });
        let mut state = AppState::new(settings, waker);
        if let Some(rs) = &render_state {
            crate::render::callback::install(rs);
            state.max_texture_dim = rs.device.limits().max_texture_dimension_3d as usize;
        }
        let gpu = render_state
            .as_ref()
            .map(compute::SharedGpu::from_render_state);
        state.seg.models.set_gpu(gpu);
        Self {
            state,
            render_state,
            ctx,
            wheel: view_ui::WheelState::default(),
            hovered_view: None,
            dialog: None,
            show_help: false,
            gpu_sync: gpu_sync::GpuSync::default(),
        }
    }

    /// The state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The state, for commands and for jobs that feed it.
    pub fn state_mut(&mut self) -> &mut AppState {
        &mut self.state
    }

    /// Bytes uploaded to the GPU so far (None without a renderer).
    pub fn upload_stats(&self) -> Option<UploadStats> {
        let rs = self.render_state.as_ref()?;
        let guard = rs.renderer.read();
        guard
            .callback_resources
            .get::<SliceRenderer>()
            .map(SliceRenderer::upload_stats)
    }

    /// True while loading, uploading to the GPU, a file dialog is open, or
    /// segmentation, model or report work runs.
    pub fn is_busy(&self) -> bool {
        self.is_loading_or_uploading()
            || self.state.seg_busy()
            || self.state.is_saving()
            || self.state.finetune.is_running()
    }

    /// True while loading, uploading to the GPU, or a file dialog is open.
    pub fn is_loading_or_uploading(&self) -> bool {
        self.state.is_loading() || self.dialog.is_some() || self.gpu_sync.is_pending()
    }

    /// One frame of the whole UI.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let _ = self.ctx.get_or_init(|| ctx.clone());
        self.state.poll_jobs();
        self.poll_dialog();

        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if !dropped.is_empty() {
            self.state.apply(Command::Open(dropped));
        }
        let key_view = self.hovered_view.unwrap_or(self.state.active_view);
        segment_ui::handle_keys(&ctx, &mut self.state);
        for action in shortcuts::handle_keys(&ctx, &mut self.state, key_view) {
            match action {
                shortcuts::UiAction::OpenDialog => self.open_dialog(false),
            }
        }
        edit_ui::keys_ui(&ctx, &mut self.state);

        let menu = egui::Panel::top("menu")
            .show(ui, |ui| panels::menu_bar_ui(ui, &mut self.state))
            .inner;
        match menu {
            Some(MenuAction::OpenDialog) => self.open_dialog(false),
            Some(MenuAction::OpenFolderDialog) => self.open_folder_dialog(),
            Some(MenuAction::AddMaskDialog) => self.open_dialog(true),
            Some(MenuAction::ShowHelp) => self.show_help = true,
            Some(MenuAction::Quit) => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            None => {}
        }
        if self.state.doc.is_open() {
            egui::Panel::top("edit_tools").show(ui, |ui| edit_ui::toolbar_ui(ui, &mut self.state));
        }
        if !self.state.notices.is_empty() {
            egui::Panel::top("notices").show(ui, |ui| panels::notices_ui(ui, &mut self.state));
        }
        egui::Panel::bottom("status").show(ui, |ui| panels::status_bar_ui(ui, &mut self.state));
        egui::Panel::right("controls")
            .default_size(230.0)
            .show(ui, |ui| panels::side_panel_ui(ui, &mut self.state));
        egui::Panel::left("analysis")
            .default_size(250.0)
            .show(ui, |ui| segment_ui::analysis_panel_ui(ui, &mut self.state));
        egui::CentralPanel::default()
            .frame(egui::Frame::central_panel(ui.style()).inner_margin(2.0))
            .show(ui, |ui| self.views_ui(ui));
        panels::help_ui(&ctx, &mut self.show_help);
        finetune_ui::finetune_window_ui(&ctx, &mut self.state);
        series_ui::series_chooser_ui(&ctx, &mut self.state);
        edit_ui::guard_ui(&ctx, &mut self.state);

        if ctx.input(|i| !i.raw.hovered_files.is_empty()) {
            let rect = ctx.content_rect();
            let painter = ctx.layer_painter(egui::LayerId::new(
                egui::Order::Foreground,
                egui::Id::unique("lungscope drop overlay"),
            ));
            painter.rect_filled(rect, 0.0, egui::Color32::from_black_alpha(170));
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "Drop a CT (NIfTI files or a DICOM folder), then masks on its grid",
                egui::FontId::proportional(22.0),
                egui::Color32::WHITE,
            );
        }

        if let Some(rs) = &self.render_state {
            self.gpu_sync
                .sync(&mut self.state, rs, ctx.cumulative_frame_nr());
        }
        if self.gpu_sync.is_pending() {
            ctx.request_repaint();
        } else if self.is_busy() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    fn views_ui(&mut self, ui: &mut egui::Ui) {
        if !self.state.doc.is_open() {
            ui.centered_and_justified(|ui| {
                ui.label(
                    egui::RichText::new(
                        "Drop a CT here (a NIfTI file or a DICOM folder), then its masks, \
                         or use File > Open…",
                    )
                    .size(18.0),
                );
            });
            self.hovered_view = None;
            return;
        }
        let full = ui.available_rect_before_wrap();
        let gap = 4.0;
        let cells: Vec<(egui::Rect, Option<View>)> = match self.state.settings.layout {
            settings::Layout::Grid => {
                let w = (full.width() - gap) / 2.0;
                let h = (full.height() - gap) / 2.0;
                let cell = |c: f32, r: f32| {
                    egui::Rect::from_min_size(
                        full.min + egui::vec2(c * (w + gap), r * (h + gap)),
                        egui::vec2(w, h),
                    )
                };
                vec![
                    (cell(0.0, 0.0), Some(View::Axial)),
                    (cell(1.0, 0.0), Some(View::Sagittal)),
                    (cell(0.0, 1.0), Some(View::Coronal)),
                    (cell(1.0, 1.0), None),
                ]
            }
            settings::Layout::Row => {
                let w = (full.width() - 2.0 * gap) / 3.0;
                [View::Axial, View::Coronal, View::Sagittal]
                    .iter()
                    .enumerate()
                    .map(|(n, v)| {
                        let min = full.min + egui::vec2(n as f32 * (w + gap), 0.0);
                        (
                            egui::Rect::from_min_size(min, egui::vec2(w, full.height())),
                            Some(*v),
                        )
                    })
                    .collect()
            }
            settings::Layout::Single(v) => vec![(full, Some(v))],
        };
        let gpu = match (&self.render_state, self.gpu_sync.volume_ready()) {
            (None, _) => view_ui::Gpu::Missing,
            (Some(_), true) => view_ui::Gpu::Ready,
            (Some(_), false) => view_ui::Gpu::Uploading(self.gpu_sync.volume_progress()),
        };
        let mut hovered = None;
        for (rect, view) in cells {
            ui.scope_builder(egui::UiBuilder::new().max_rect(rect), |ui| match view {
                Some(v) => {
                    if view_ui::slice_view_ui(ui, &mut self.state, &mut self.wheel, v, gpu) {
                        hovered = Some(v);
                    }
                }
                None => {
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        panels::volume_info_ui(ui, &self.state);
                    });
                }
            });
        }
        self.hovered_view = hovered;
    }

    fn open_dialog(&mut self, masks: bool) {
        self.start_dialog(masks, false);
    }

    /// File → Open DICOM folder: the folder goes through `Command::Open` like a
    /// dropped one (the series chooser appears if it holds several series).
    fn open_folder_dialog(&mut self) {
        self.start_dialog(false, true);
    }

    fn start_dialog(&mut self, masks: bool, folder: bool) {
        if self.dialog.is_some() {
            return;
        }
        let dir = self.state.settings.last_dir.clone();
        let title = if masks {
            "Add mask"
        } else if folder {
            "Open a DICOM folder"
        } else {
            "Open NIfTI or DICOM files"
        };
        let dialog = if folder {
            FileDialog::new(title, Pick::Folder)
        } else {
            FileDialog::new(title, Pick::Files)
                .filter("NIfTI", &["nii", "gz"])
                .filter("DICOM", &["dcm"])
                .filter("All files", &["*"])
        };
        self.dialog = Some(Dialog {
            job: dialog.directory(dir).spawn(self.state.waker()),
            masks,
        });
    }

    fn poll_dialog(&mut self) {
        let Some(dialog) = &mut self.dialog else {
            return;
        };
        let masks = dialog.masks;
        match dialog.job.poll() {
            JobStatus::Running => {}
            JobStatus::Done(picked) => {
                self.dialog = None;
                self.handle_picked(picked, masks);
            }
            JobStatus::Cancelled => self.dialog = None,
            JobStatus::Failed(e) => {
                self.dialog = None;
                self.state.push_error(format!("file dialog failed: {e}"));
            }
        }
    }

    fn handle_picked(&mut self, paths: Vec<PathBuf>, masks: bool) {
        if paths.is_empty() {
            return;
        }
        if masks {
            self.state.apply(Command::OpenMasks(paths));
        } else {
            self.state.apply(Command::Open(paths));
        }
    }
}

impl eframe::App for LungscopeApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        LungscopeApp::ui(self, ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, settings::SETTINGS_KEY, &self.state.settings);
    }
}
