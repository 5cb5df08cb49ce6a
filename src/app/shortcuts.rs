//! Keyboard shortcuts and the mouse/keyboard reference shown in Help.

use super::commands::Command;
use super::state::AppState;
use crate::volume::View;
use egui::{Key, Modifiers};

/// Mouse and keyboard bindings: (input, action). Shown in Help → Mouse and keys.
pub const BINDINGS: &[(&str, &str)] = &[
    (
        "Left click / drag",
        "move the crosshair; the other views follow",
    ),
    ("Wheel", "next / previous slice"),
    ("Shift + wheel", "10 slices at a time"),
    ("Ctrl + wheel", "zoom at the mouse pointer"),
    (
        "Right drag",
        "window/level: right = wider, up = higher level",
    ),
    ("Middle drag", "pan"),
    ("Double click", "reset zoom and pan of the view"),
    ("Up / Down, Right / Left", "next / previous slice"),
    ("Page Up / Page Down", "10 slices forward / back"),
    ("Home / End", "first / last slice"),
    (
        "1 2 3 4",
        "window presets: lung, mediastinum, bone, soft tissue",
    ),
    ("A", "auto window (robust 2–98 % range)"),
    ("R", "reset zoom and pan of all views"),
    ("F", "maximise the view under the pointer / back"),
    ("L", "nearest / linear sampling"),
    ("O", "overlay on / off"),
    ("Ctrl + O", "open files"),
    (
        "Ctrl + Shift + S",
        "segment the volume with the active model",
    ),
];

/// What a key press asks for beyond [`Command`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiAction {
    /// Show the open-file dialog.
    OpenDialog,
}

/// Reads this frame's key presses and turns them into commands for `view` (the
/// view under the pointer, or the active one). Keys typed into a text field are
/// left alone.
pub fn handle_keys(ctx: &egui::Context, state: &mut AppState, view: View) -> Vec<UiAction> {
    let mut actions = Vec::new();
    if ctx.egui_wants_keyboard_input() {
        return actions;
    }
    let mut commands = Vec::new();
    ctx.input_mut(|i| {
        if i.consume_key(Modifiers::COMMAND, Key::O) {
            actions.push(UiAction::OpenDialog);
        }
        let slice_keys = [
            (Key::ArrowUp, 1),
            (Key::ArrowRight, 1),
            (Key::ArrowDown, -1),
            (Key::ArrowLeft, -1),
            (Key::PageUp, 10),
            (Key::PageDown, -10),
        ];
        for (key, delta) in slice_keys {
            let presses = i.count_and_consume_key(Modifiers::NONE, key) as i32;
            if presses > 0 {
                commands.push(Command::Scroll {
                    view,
                    delta: delta * presses,
                });
            }
        }
        if i.consume_key(Modifiers::NONE, Key::Home) {
            commands.push(Command::SetSlice { view, index: 0 });
        }
        if i.consume_key(Modifiers::NONE, Key::End) {
            commands.push(Command::SetSlice {
                view,
                index: usize::MAX,
            });
        }
        let presets = [Key::Num1, Key::Num2, Key::Num3, Key::Num4];
        for (n, key) in presets.into_iter().enumerate() {
            if i.consume_key(Modifiers::NONE, key) {
                commands.push(Command::Preset(n));
            }
        }
        let simple = [
            (Key::A, Command::AutoWindow),
            (Key::R, Command::ResetView(None)),
            (Key::F, Command::ToggleMaximize(view)),
            (Key::L, Command::ToggleLinear),
            (Key::O, Command::ToggleOverlay),
        ];
        for (key, command) in simple {
            if i.consume_key(Modifiers::NONE, key) {
                commands.push(command);
            }
        }
    });
    for c in commands {
        state.apply(c);
    }
    actions
}
