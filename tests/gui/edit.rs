//! Mask editing in the real app (egui_kittest + wgpu, no display): a brush stroke
//! painted with the mouse on a real CT slice changes the rendered overlay only under
//! the brush and Ctrl+Z restores the pixels; unsaved edits ask before another volume
//! opens or the window closes; the fine-tuning window trains a tiny model on the
//! corrected slices and offers the new version.
#![cfg(feature = "gui")]

use crate::support;

use egui::{Key, Modifiers, Pos2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use lungscope::app::edit_guard::Pending;
use lungscope::app::edit_state::Tool;
use lungscope::app::{Command, Layout, LungscopeApp};
use lungscope::render::ViewMapping;
use lungscope::volume::View;
use std::path::{Path, PathBuf};
use support::gui::{drop_files, harness_sized, wait_idle};

const SIZE: egui::Vec2 = egui::vec2(1100.0, 700.0);

fn harness() -> Harness<'static, LungscopeApp> {
    harness_sized(SIZE)
}

fn axial_mapping(h: &Harness<'_, LungscopeApp>) -> ViewMapping {
    *h.state()
        .state()
        .edit
        .view_mapping(View::Axial)
        .expect("the axial view was drawn")
}

fn screen(m: &ViewMapping, display: [f32; 2]) -> Pos2 {
    let p = m.display_to_screen(display);
    Pos2::new(p[0], p[1])
}

/// Presses the left button at `from`, drags through `steps` moves to `to`, releases.
fn drag(h: &mut Harness<'_, LungscopeApp>, from: Pos2, to: Pos2, steps: usize) {
    h.hover_at(from);
    h.step();
    h.event(egui::Event::PointerButton {
        pos: from,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: Modifiers::NONE,
    });
    h.step();
    for t in 1..=steps {
        h.event(egui::Event::PointerMoved(
            from + (to - from) * t as f32 / steps as f32,
        ));
        h.step();
    }
    h.event(egui::Event::PointerButton {
        pos: to,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: Modifiers::NONE,
    });
    h.step();
    h.remove_cursor();
    wait_idle(h);
}

fn distance_to_segment(p: Pos2, a: Pos2, b: Pos2) -> f32 {
    let ab = b - a;
    let t = ((p - a).dot(ab) / ab.length_sq()).clamp(0.0, 1.0);
    (a + ab * t - p).length()
}

/// Pixels (physical) of the view's image area that differ between two renders.
fn changed_pixels(
    a: &image::RgbaImage,
    b: &image::RgbaImage,
    m: &ViewMapping,
    ppp: f32,
) -> (Vec<Pos2>, usize) {
    let img = m.image_rect();
    let x0 = img.min[0].max(m.rect.min[0]);
    let y0 = img.min[1].max(m.rect.min[1]);
    let x1 = (img.min[0] + img.size[0]).min(m.rect.min[0] + m.rect.size[0]);
    let y1 = (img.min[1] + img.size[1]).min(m.rect.min[1] + m.rect.size[1]);
    let mut changed = Vec::new();
    let mut total = 0;
    for py in (y0 * ppp).ceil() as u32..(y1 * ppp).floor() as u32 {
        for px in (x0 * ppp).ceil() as u32..(x1 * ppp).floor() as u32 {
            total += 1;
            if a.get_pixel(px, py) != b.get_pixel(px, py) {
                changed.push(Pos2::new((px as f32 + 0.5) / ppp, (py as f32 + 0.5) / ppp));
            }
        }
    }
    (changed, total)
}

#[test]
fn a_brush_stroke_changes_the_overlay_only_under_the_brush_and_undo_restores_it() {
    let mut h = harness();
    drop_files(
        &mut h,
        &[support::data::covid_volume(
            "radiopaedia_group_R06_ct.nii.gz",
        )],
    );
    h.state_mut()
        .state_mut()
        .apply(Command::SetLayout(Layout::Single(View::Axial)));
    wait_idle(&mut h);
    h.get_by_label("Brush").click();
    wait_idle(&mut h);
    assert_eq!(h.state().state().edit.tool, Tool::Brush);
    h.key_press(Key::CloseBracket);
    wait_idle(&mut h);
    let radius_mm = h.state().state().edit.radius_mm;
    assert!(
        (radius_mm - 6.25).abs() < 1e-9,
        "] grows 5 mm by 1.25: {radius_mm}"
    );

    let m = axial_mapping(&h);
    let ppp = h.ctx.pixels_per_point();
    h.remove_cursor();
    wait_idle(&mut h);
    let before = h.render().expect("render");
    // A stroke across the right lung of the middle slice.
    let (a, b) = (screen(&m, [70.0, 120.0]), screen(&m, [110.0, 140.0]));
    drag(&mut h, a, b, 6);
    let after = h.render().expect("render");
    {
        let state = h.state().state();
        let session = state.edit.session().expect("editing started");
        assert_eq!(session.history().undo_len(), 1, "one stroke, one undo step");
        assert_eq!(session.touched_slices().len(), 1);
        assert!(state.has_unsaved_edits());
    }
    assert_eq!(axial_mapping(&h), m, "the view did not move");

    let r = radius_mm as f32 * m.points_per_mm;
    let voxel = m.points_per_pixel[0].max(m.points_per_pixel[1]);
    // Overlay pixels lie on voxels whose centres are within the radius; a voxel
    // square reaches 0.71 voxel beyond its centre, the outline one voxel more.
    let reach = r + 1.75 * voxel + 1.5 / ppp;
    let (changed, total) = changed_pixels(&before, &after, &m, ppp);
    assert!(total > 100_000, "{total} pixels compared");
    for p in &changed {
        let d = distance_to_segment(*p, a, b);
        assert!(
            d <= reach,
            "pixel at {p:?} changed {d:.1} points from the stroke (brush {r:.1}, reach {reach:.1})"
        );
    }
    // Inside the brush (away from its edge) every pixel took the overlay colour.
    let core_r = r - 1.5 * voxel;
    let core: Vec<Pos2> = (0..=(200.0 * ppp) as u32)
        .flat_map(|i| {
            let t = i as f32 / (200.0 * ppp);
            let c = a + (b - a) * t;
            [
                c,
                c + egui::vec2(0.0, core_r * 0.9),
                c - egui::vec2(0.0, core_r * 0.9),
            ]
        })
        .collect();
    let changed_core = core
        .iter()
        .filter(|p| {
            let (px, py) = ((p.x * ppp) as u32, (p.y * ppp) as u32);
            before.get_pixel(px, py) != after.get_pixel(px, py)
        })
        .count();
    assert!(
        changed_core as f32 >= 0.98 * core.len() as f32,
        "{changed_core} of {} pixels along the stroke changed",
        core.len()
    );
    assert!(changed.len() > 200, "{} pixels changed", changed.len());
    h.snapshot("edit_brush_stroke");

    let uploaded = h.state().upload_stats().expect("renderer").texture_bytes;
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    wait_idle(&mut h);
    let undone = h.render().expect("render");
    let (still_changed, _) = changed_pixels(&before, &undone, &m, ppp);
    assert!(
        still_changed.is_empty(),
        "{} pixels differ after Ctrl+Z",
        still_changed.len()
    );
    assert_eq!(
        h.state()
            .state()
            .edit
            .session()
            .expect("session")
            .history()
            .redo_len(),
        1
    );
    // Undo uploaded the stroke's box, not the volume's mask (256 x 256 x 9 bytes).
    let box_bytes = h.state().upload_stats().expect("renderer").texture_bytes - uploaded;
    assert!(
        box_bytes > 0 && box_bytes < 256 * 256 / 4,
        "{box_bytes} bytes"
    );

    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    wait_idle(&mut h);
    let redone = h.render().expect("render");
    let (diff, _) = changed_pixels(&after, &redone, &m, ppp);
    assert!(
        diff.is_empty(),
        "redo restores the stroke ({} pixels)",
        diff.len()
    );
}

/// Paints one short stroke with the brush on the axial view.
fn paint_something(h: &mut Harness<'_, LungscopeApp>) {
    h.state_mut()
        .state_mut()
        .apply(Command::SetLayout(Layout::Single(View::Axial)));
    wait_idle(h);
    h.key_press(Key::B);
    wait_idle(h);
    let m = axial_mapping(h);
    drag(h, screen(&m, [90.0, 110.0]), screen(&m, [120.0, 115.0]), 3);
    assert!(h.state().state().has_unsaved_edits());
}

#[test]
fn unsaved_edits_ask_before_another_volume_opens_or_the_window_closes() {
    let mut h = harness();
    // The question shows the save path: use copies at a fixed place so the
    // snapshot does not depend on where the shared data lie.
    let r06 =
        support::data::covid_volume_copy("radiopaedia_group_R06_ct.nii.gz", "unsaved-question");
    let r03 =
        support::data::covid_volume_copy("radiopaedia_group_R03_ct.nii.gz", "unsaved-question");
    drop_files(&mut h, std::slice::from_ref(&r06));
    paint_something(&mut h);
    let name =
        |h: &Harness<'_, LungscopeApp>| h.state().state().doc.entry().expect("volume").name.clone();

    drop_files(&mut h, std::slice::from_ref(&r03));
    h.get_by_label_contains("changes that are not saved");
    h.get_by_label_contains("Open radiopaedia_group_R03_ct.nii.gz anyway?");
    assert_eq!(name(&h), "radiopaedia_group_R06_ct.nii.gz", "held back");
    h.snapshot("edit_unsaved_question");
    h.get_by_label("Cancel").click();
    wait_idle(&mut h);
    assert!(h.state().state().pending_question().is_none());
    assert_eq!(name(&h), "radiopaedia_group_R06_ct.nii.gz");
    assert!(h.state().state().has_unsaved_edits(), "the edits stay");

    // The window's close button asks the same question.
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    h.step();
    let commands = |h: &Harness<'_, LungscopeApp>| {
        h.output()
            .viewport_output
            .get(&egui::ViewportId::ROOT)
            .map(|v| v.commands.clone())
            .unwrap_or_default()
    };
    assert!(
        commands(&h).contains(&egui::ViewportCommand::CancelClose),
        "closing is held back"
    );
    assert!(matches!(
        h.state().state().pending_question(),
        Some(Pending::CloseWindow)
    ));
    wait_idle(&mut h);
    h.get_by_label_contains("Close lungscope anyway?");
    h.get_by_label("Discard").click();
    h.step();
    h.step();
    assert!(
        commands(&h).contains(&egui::ViewportCommand::Close),
        "Discard lets the window close"
    );
    assert!(!h.state().state().has_unsaved_edits());

    // After Discard nothing is unsaved: another volume opens without a question.
    drop_files(&mut h, std::slice::from_ref(&r03));
    assert_eq!(name(&h), "radiopaedia_group_R03_ct.nii.gz");
    // With new edits, Discard in the question opens the other volume.
    paint_something(&mut h);
    drop_files(&mut h, std::slice::from_ref(&r06));
    h.get_by_label("Discard").click();
    wait_idle(&mut h);
    assert_eq!(name(&h), "radiopaedia_group_R06_ct.nii.gz");
    assert!(h.state().state().pending_question().is_none());
}

/// A freshly initialised tiny lung + infection model file at 64 px.
fn tiny_model(dir: &Path) -> PathBuf {
    use lungscope::seg::model::Head;
    let config = support::seg::tiny_config(Head::Sigmoid { channels: 2 }, 64);
    support::seg::model_file(dir, "tiny.lsm", "tiny-base", &config)
}

#[test]
fn fine_tuning_window_trains_on_the_corrected_slices_and_offers_the_new_version() {
    use lungscope::app::models::ModelSource;
    use lungscope::seg::store::{Active, ModelStore};
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = harness_sized(egui::vec2(1100.0, 820.0));
    drop_files(
        &mut h,
        &[
            support::data::covid_volume("radiopaedia_group_R06_ct.nii.gz"),
            support::data::covid_volume("radiopaedia_group_R06_lung.nii.gz"),
            support::data::covid_volume("radiopaedia_group_R06_infection.nii.gz"),
        ],
    );
    {
        let state = h.state_mut().state_mut();
        assert_eq!(state.doc.layers.len(), 2, "{:?}", state.notices);
        let ft = &mut state.finetune;
        ft.store = Some(ModelStore::at(dir.path().join("models")));
        ft.base_file = Some(tiny_model(dir.path()));
        ft.device = lungscope::seg::DeviceChoice::Cpu;
        ft.settings.steps = 80;
        ft.settings.batch_size = 3;
        ft.settings.lr = 2e-2;
        ft.settings.eval_every = 20;
        ft.settings.augment = lungscope::seg::data::augment::AugmentSettings::none();
    }
    // Corrections: slices 3 and 5 reviewed (M), a stroke on slice 7.
    for (slice, review) in [(2usize, true), (4, true)] {
        h.state_mut().state_mut().apply(Command::SetSlice {
            view: View::Axial,
            index: slice,
        });
        if review {
            h.key_press(Key::M);
        }
        wait_idle(&mut h);
    }
    h.state_mut().state_mut().apply(Command::SetSlice {
        view: View::Axial,
        index: 6,
    });
    paint_something(&mut h);
    assert_eq!(h.state().state().corrected_slices(), vec![2, 4, 6]);

    h.get_by_label("Fine-tune…").click();
    wait_idle(&mut h);
    h.get_by_label_contains("Corrected axial slices (3): 3, 5, 7");
    h.get_by_label("Fine-tune on corrections (3)").click();
    // The progress bar animates while the job runs: step, do not settle.
    h.step();
    wait_idle(&mut h);
    let (before, after, id) = {
        let ft = &h.state().state().finetune;
        let r = ft
            .result
            .as_ref()
            .unwrap_or_else(|| panic!("no result: {:?}", h.state().state().notices));
        assert_eq!(r.slices, vec![2, 4, 6]);
        assert_eq!(ft.curves.loss.len(), 80, "a loss point per step");
        assert_eq!(
            ft.curves.dice[0].len(),
            5,
            "Dice before, every 20 steps and after"
        );
        let (b, a) = r.mean_dice();
        (b, a, r.version.id.clone())
    };
    assert!(after > before, "mean Dice {before:.3} -> {after:.3}");
    h.get_by_label("Result");
    h.get_by_label_contains(&format!("Stored as version {id}"));
    let store = ModelStore::at(dir.path().join("models"));
    assert_eq!(store.active().expect("active"), Active::Default);
    h.get_by_label("Use the new version").click();
    wait_idle(&mut h);
    assert_eq!(store.active().expect("active"), Active::Version(id.clone()));
    h.get_by_label_contains(&format!("Now using {id}"));
    let segmenting_with = |h: &Harness<'_, LungscopeApp>| {
        h.state()
            .state()
            .seg
            .models
            .active()
            .map(|a| a.source.describe())
    };
    let version_source = ModelSource::Version(id.clone()).describe();
    assert_eq!(
        segmenting_with(&h),
        Some(version_source.clone()),
        "Segment uses the new version"
    );
    h.get_by_label("Roll back").click();
    wait_idle(&mut h);
    assert_eq!(store.active().expect("active"), Active::Default);
    assert_ne!(
        segmenting_with(&h),
        Some(version_source),
        "Segment no longer uses the version"
    );
    let version = store.list().expect("list");
    assert_eq!(version.len(), 1);
    assert_eq!(version[0].card.base_model.as_deref(), Some("tiny-base"));
}
