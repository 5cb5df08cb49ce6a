//! One slice view: header with slider, the GPU-drawn image, crosshair,
//! orientation letters, and the mouse interaction.

use super::commands::Command;
use super::state::AppState;
use crate::render::mapping::view_of_normal;
use crate::render::{ScreenRect, SliceCallback, ViewMapping, ViewUniforms};
use crate::volume::View;
use egui::{Align2, Color32, FontId, PointerButton, Pos2, Rect, Sense, Stroke};

/// Wheel motion kept between frames (fractions of a slice or zoom step).
#[derive(Debug, Default, Clone)]
pub struct WheelState {
    remainder: [f32; 3],
}

/// Points of trackpad/pixel scrolling that count as one wheel notch.
const POINTS_PER_NOTCH: f32 = 40.0;

/// Zoom factor per wheel notch.
const ZOOM_PER_NOTCH: f32 = 1.15;

/// The colour that identifies a view (its header, and crosshair lines showing its plane).
pub fn view_color(view: View) -> Color32 {
    match view {
        View::Axial => Color32::from_rgb(230, 80, 70),
        View::Coronal => Color32::from_rgb(80, 200, 100),
        View::Sagittal => Color32::from_rgb(235, 200, 60),
    }
}

/// Renderer slot of a view (each view drawn in a frame needs its own).
pub fn view_slot(view: View) -> usize {
    super::views::view_index(view)
}

/// Whether views can draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gpu {
    /// The volume texture is complete.
    Ready,
    /// The volume is still being uploaded (fraction done).
    Uploading(f32),
    /// No wgpu renderer (the app was started with another backend).
    Missing,
}

/// Draws one view filling `ui`'s available space; the image area says why when
/// `gpu` is not ready. Returns true if the pointer is over the image.
pub fn slice_view_ui(
    ui: &mut egui::Ui,
    state: &mut AppState,
    wheel: &mut WheelState,
    view: View,
    gpu: Gpu,
) -> bool {
    let total = state.slice_count(view);
    ui.horizontal(|ui| {
        let name = ui.label(
            egui::RichText::new(view.name())
                .color(view_color(view))
                .strong(),
        );
        let maximised = state.settings.layout == super::settings::Layout::Single(view);
        let button_text = if maximised { "Restore" } else { "Maximise" };
        let button_width = 70.0;
        ui.spacing_mut().slider_width = (ui.available_width() - button_width - 80.0).max(40.0);
        let mut index = state.slice_index(view);
        let slider = egui::Slider::new(&mut index, 0..=total.saturating_sub(1))
            .custom_formatter(move |v, _| format!("{} / {}", v as usize + 1, total))
            .custom_parser(|s| {
                let first = s.split('/').next()?.trim().parse::<f64>().ok()?;
                Some(first - 1.0)
            });
        if ui
            .add_enabled(total > 0, slider)
            .labelled_by(name.id)
            .changed()
        {
            state.apply(Command::SetSlice { view, index });
            state.apply(Command::SetActiveView(view));
        }
        if ui
            .small_button(button_text)
            .on_hover_text("Show this view alone (F)")
            .clicked()
        {
            state.apply(Command::ToggleMaximize(view));
        }
    });

    let (rect, response) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, Color32::BLACK);
    let Some(geometry) = state.volume().map(|v| v.geometry.clone()) else {
        return false;
    };
    if rect.width() < 2.0 || rect.height() < 2.0 {
        return false;
    }
    let screen_rect = to_screen_rect(rect);
    let zi = super::views::view_index(view);

    // Interaction first, so this frame draws the result.
    let hover_pos = response.hover_pos();
    if response.hovered() {
        handle_wheel(ui, state, wheel, view, screen_rect, hover_pos);
    }
    if response.dragged_by(PointerButton::Secondary) {
        let d = response.drag_delta();
        state.apply(Command::DragWindow { dx: d.x, dy: d.y });
    }
    if response.dragged_by(PointerButton::Middle) {
        let d = response.drag_delta();
        state.apply(Command::Pan {
            view,
            delta: [d.x, d.y],
        });
    }
    if response.double_clicked() {
        state.apply(Command::ResetView(Some(view)));
    }
    let mapping = ViewMapping::new(
        &geometry,
        view,
        state.slice_index(view),
        screen_rect,
        &state.zoom_pan[zi],
    );
    let editing = super::edit_ui::view_input_ui(ui, state, view, &mapping, &response);
    let primary = !editing && (response.clicked() || response.dragged_by(PointerButton::Primary));
    if let Some(v) = response
        .interact_pointer_pos()
        .filter(|_| primary)
        .and_then(|p| mapping.voxel_at([p.x, p.y]))
    {
        state.apply(Command::SetCursor(v));
    }
    if response.clicked() || response.dragged() || response.double_clicked() {
        state.apply(Command::SetActiveView(view));
    }
    // Recompute: zoom, pan or slice may have changed.
    let mapping = ViewMapping::new(
        &geometry,
        view,
        state.slice_index(view),
        screen_rect,
        &state.zoom_pan[zi],
    );
    if let Some(p) = hover_pos {
        let voxel = mapping.voxel_at([p.x, p.y]);
        state.apply(Command::SetHover { view, voxel });
    } else if state.hover.is_some_and(|h| h.view == view) {
        state.apply(Command::SetHover { view, voxel: None });
    }

    if gpu == Gpu::Ready {
        let uniforms = ViewUniforms::new(
            &mapping,
            &state.display_params(),
            ui.ctx().pixels_per_point(),
        );
        painter.add(egui_wgpu::Callback::new_paint_callback(
            rect,
            SliceCallback {
                slot: view_slot(view),
                uniforms,
                overlay: state.has_overlay(),
            },
        ));
    } else {
        let text = match gpu {
            Gpu::Uploading(f) => format!("Uploading to the GPU {:.0} %", f * 100.0),
            _ => "No GPU renderer (start with the wgpu backend)".to_string(),
        };
        painter.text(
            rect.center(),
            Align2::CENTER_CENTER,
            text,
            FontId::proportional(14.0),
            Color32::LIGHT_GRAY,
        );
    }
    if state.settings.crosshair {
        draw_crosshair(&painter, rect, &mapping, &geometry, state.cursor);
    }
    draw_orientation_letters(&painter, rect, view);
    super::edit_ui::draw_brush(&painter, state, &mapping, hover_pos);
    if state.active_view == view {
        painter.rect_stroke(
            rect.shrink(0.5),
            0.0,
            Stroke::new(1.0, view_color(view).gamma_multiply(0.7)),
            egui::StrokeKind::Inside,
        );
    }
    hover_pos.is_some()
}

fn to_screen_rect(rect: Rect) -> ScreenRect {
    ScreenRect {
        min: [rect.min.x, rect.min.y],
        size: [rect.width(), rect.height()],
    }
}

fn handle_wheel(
    ui: &egui::Ui,
    state: &mut AppState,
    wheel: &mut WheelState,
    view: View,
    rect: ScreenRect,
    pointer: Option<Pos2>,
) {
    let zi = super::views::view_index(view);
    let events = ui.input(|i| i.events.clone());
    for event in events {
        let egui::Event::MouseWheel {
            unit,
            delta,
            modifiers,
            ..
        } = event
        else {
            continue;
        };
        // Shift turns vertical wheels horizontal on some platforms.
        let raw = if delta.y != 0.0 { delta.y } else { delta.x };
        let notches = match unit {
            egui::MouseWheelUnit::Point => raw / POINTS_PER_NOTCH,
            egui::MouseWheelUnit::Line => raw,
            egui::MouseWheelUnit::Page => raw * 10.0,
        };
        if modifiers.ctrl || modifiers.command {
            if let Some(p) = pointer {
                state.apply(Command::Zoom {
                    view,
                    rect,
                    cursor: [p.x, p.y],
                    factor: ZOOM_PER_NOTCH.powf(notches),
                });
            }
            continue;
        }
        let step = if modifiers.shift { 10.0 } else { 1.0 };
        wheel.remainder[zi] += notches;
        let whole = wheel.remainder[zi].trunc();
        wheel.remainder[zi] -= whole;
        if whole != 0.0 {
            state.apply(Command::Scroll {
                view,
                delta: (whole * step) as i32,
            });
            state.apply(Command::SetActiveView(view));
        }
    }
}

fn draw_crosshair(
    painter: &egui::Painter,
    rect: Rect,
    mapping: &ViewMapping,
    geometry: &crate::volume::Geometry,
    cursor: [usize; 3],
) {
    let c = mapping.voxel_to_screen(cursor);
    let vertical = view_color(view_of_normal(geometry, mapping.map.col_axis)).gamma_multiply(0.8);
    let horizontal = view_color(view_of_normal(geometry, mapping.map.row_axis)).gamma_multiply(0.8);
    let gap = 6.0;
    let (x, y) = (c[0], c[1]);
    let segments = [
        ([x, rect.top()], [x, y - gap], vertical),
        ([x, y + gap], [x, rect.bottom()], vertical),
        ([rect.left(), y], [x - gap, y], horizontal),
        ([x + gap, y], [rect.right(), y], horizontal),
    ];
    for (a, b, color) in segments {
        painter.line_segment(
            [Pos2::new(a[0], a[1]), Pos2::new(b[0], b[1])],
            Stroke::new(1.0, color),
        );
    }
}

fn draw_orientation_letters(painter: &egui::Painter, rect: Rect, view: View) {
    let [left, right, top, bottom] = view.edge_labels();
    let font = FontId::proportional(15.0);
    let color = Color32::from_rgb(255, 225, 140);
    let m = 6.0;
    let places = [
        (
            Pos2::new(rect.left() + m, rect.center().y),
            Align2::LEFT_CENTER,
            left,
        ),
        (
            Pos2::new(rect.right() - m, rect.center().y),
            Align2::RIGHT_CENTER,
            right,
        ),
        (
            Pos2::new(rect.center().x, rect.top() + m),
            Align2::CENTER_TOP,
            top,
        ),
        (
            Pos2::new(rect.center().x, rect.bottom() - m),
            Align2::CENTER_BOTTOM,
            bottom,
        ),
    ];
    for (pos, align, letter) in places {
        painter.text(
            pos + egui::vec2(1.0, 1.0),
            align,
            letter,
            font.clone(),
            Color32::BLACK,
        );
        painter.text(pos, align, letter, font.clone(), color);
    }
}
