//! The real viewer app driven through egui_kittest with the wgpu renderer
//! (lavapipe in CI, no display): real CT volumes with their infection masks,
//! mouse and keyboard interaction, refusals, and golden snapshots in
//! `tests/snapshots/`.
#![cfg(feature = "gui")]

use crate::support;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use lungscope::app::{Command, Layout, LungscopeApp, Settings};
use lungscope::mask::INFECTION;
use lungscope::volume::View;
use lungscope::windowing::Preset;
use std::sync::Arc;
use support::gui::{drop_files, harness_sized, wait_idle};

const SIZE: egui::Vec2 = egui::vec2(1100.0, 680.0);

fn harness() -> Harness<'static, LungscopeApp> {
    harness_sized(SIZE)
}

/// Moves the crosshair to the middle of the infection on its largest axial slice.
fn cursor_on_infection(h: &mut Harness<'_, LungscopeApp>) {
    let state = h.state().state();
    let mask = state.composite().expect("mask loaded");
    let [ni, nj, nk] = mask.geometry.dims;
    let best = (0..nk)
        .max_by_key(|&k| {
            (0..ni * nj)
                .filter(|&p| mask.labels[p + k * ni * nj] == INFECTION)
                .count()
        })
        .expect("slices");
    let (mut si, mut sj, mut n) = (0usize, 0usize, 0usize);
    for j in 0..nj {
        for i in 0..ni {
            if mask.get(i, j, best) == INFECTION {
                si += i;
                sj += j;
                n += 1;
            }
        }
    }
    assert!(n > 0, "the infection mask is empty");
    h.state_mut()
        .state_mut()
        .apply(Command::SetCursor([si / n, sj / n, best]));
    h.run();
}

/// A point inside the image of `view` (below its header slider).
fn image_point(h: &Harness<'_, LungscopeApp>, view: View) -> egui::Pos2 {
    let header = h
        .get_by_role_and_label(egui::accesskit::Role::Slider, view.name())
        .rect();
    egui::pos2(header.center().x, header.bottom() + 120.0)
}

#[test]
fn real_volume_with_infection_mask_in_three_views() {
    let mut h = harness();
    let ct = support::data::covid_volume("coronacases_003_ct.nii.gz");
    let inf = support::data::covid_volume("coronacases_003_infection.nii.gz");
    drop_files(&mut h, &[ct, inf]);
    {
        let state = h.state().state();
        assert!(state.notices.is_empty(), "{:?}", state.notices);
        let volume = state.volume().expect("volume loaded");
        assert_eq!(volume.dims(), [256, 256, 118]);
        assert_eq!(
            state.doc.layers.len(),
            1,
            "the infection mask is an overlay"
        );
        let infected = state
            .composite()
            .expect("composite")
            .labels
            .iter()
            .filter(|&&l| l == INFECTION)
            .count();
        assert_eq!(infected, 320_302, "cases.csv infection voxels");
        assert_eq!(
            state.window,
            Preset::Lung.window(),
            "CT opens in the lung window"
        );
    }
    let stats = h.state().upload_stats().expect("renderer");
    let volume_bytes = 256 * 256 * 118 * 4;
    assert!(stats.texture_bytes >= volume_bytes as u64);
    cursor_on_infection(&mut h);
    for view in View::ALL {
        let state = h.state().state();
        let expected = format!(
            "{} / {}",
            state.slice_index(view) + 1,
            state.slice_count(view)
        );
        let readout = h
            .get_by_role_and_label(egui::accesskit::Role::SpinButton, view.name())
            .value();
        assert_eq!(readout.as_deref(), Some(expected.as_str()), "{view:?}");
    }
    // Only an infection mask is shown: no headline percentage or severity score
    // computed without the lungs, but what is missing.
    assert!(
        h.query_by_label("Infection % not given").is_some(),
        "the report panel says the infection % is not given"
    );
    assert!(h.query_by_label_contains("Severity score").is_none());
    assert!(h.query_by_label_contains("% of lung").is_none());
    h.snapshot("viewer_three_views_infection");
}

#[test]
fn window_level_by_right_drag_and_keys_uploads_no_texture() {
    let mut h = harness_sized(egui::vec2(1100.0, 480.0));
    drop_files(
        &mut h,
        &[
            support::data::covid_volume("coronacases_003_ct.nii.gz"),
            support::data::covid_volume("coronacases_003_infection.nii.gz"),
        ],
    );
    cursor_on_infection(&mut h);
    h.state_mut()
        .state_mut()
        .apply(Command::SetLayout(Layout::Single(View::Axial)));
    h.run();
    let before = h.state().upload_stats().expect("renderer");
    let w0 = h.state().state().window;
    let per_point = h.state().state().hu_per_point();

    // Right-drag on the axial view: 60 points right, 40 points up.
    let start = image_point(&h, View::Axial);
    let end = start + egui::vec2(60.0, -40.0);
    h.hover_at(start);
    h.event(egui::Event::PointerButton {
        pos: start,
        button: egui::PointerButton::Secondary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    h.step();
    for t in 1..=4 {
        h.event(egui::Event::PointerMoved(
            start + (end - start) * t as f32 / 4.0,
        ));
        h.step();
    }
    h.event(egui::Event::PointerButton {
        pos: end,
        button: egui::PointerButton::Secondary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    h.run();
    let w1 = h.state().state().window;
    assert!(
        (w1.width - w0.width - 60.0 * per_point).abs() < 2.0 * per_point,
        "width {} -> {}",
        w0.width,
        w1.width
    );
    assert!(
        (w1.level - w0.level - 40.0 * per_point).abs() < 2.0 * per_point,
        "level {} -> {}",
        w0.level,
        w1.level
    );
    h.remove_cursor();
    h.run();
    h.snapshot("viewer_window_level_dragged");

    h.key_press(egui::Key::Num2);
    h.run();
    assert_eq!(h.state().state().window, Preset::Mediastinum.window());
    h.key_press(egui::Key::A);
    h.run();
    let auto = h.state().state().window;
    let stats = h.state().state().doc.entry().expect("volume").stats;
    assert!((auto.width - (stats.p98 - stats.p2)).abs() < 1e-3);

    let after = h.state().upload_stats().expect("renderer");
    assert_eq!(
        after.texture_bytes, before.texture_bytes,
        "W/L uploads no texture"
    );
}

#[test]
fn mismatched_mask_is_refused_with_a_message() {
    let mut h = harness_sized(egui::vec2(940.0, 520.0));
    drop_files(
        &mut h,
        &[support::data::covid_volume(
            "radiopaedia_group_R03_ct.nii.gz",
        )],
    );
    drop_files(
        &mut h,
        &[support::data::covid_volume(
            "coronacases_003_infection.nii.gz",
        )],
    );
    let state = h.state().state();
    assert!(
        state.doc.layers.is_empty(),
        "a mask on another grid must not be overlaid"
    );
    assert_eq!(state.volume().expect("volume kept").dims(), [256, 256, 33]);
    let message = h.get_by_label_contains("mask grid does not match the volume");
    let text = format!("{message:?}");
    assert!(
        text.contains("[256, 256, 118]") && text.contains("[256, 256, 33]"),
        "{text}"
    );
    assert!(text.contains("coronacases_003_infection.nii.gz"), "{text}");
    h.snapshot("viewer_mismatched_mask_refused");

    h.get_by_label("Dismiss").click();
    h.run();
    assert!(h.state().state().notices.is_empty());
}

/// A DICOM folder with two series opens the chooser (listed from the headers in
/// the load job); Open on the second row loads that series alone.
#[test]
fn a_dicom_folder_with_two_series_opens_the_series_chooser() {
    let data = support::data::data_dir()
        .expect("test data not found: set LUNGSCOPE_DATA or put the shared data at ../shared/data");
    let folder = data.join("real_ct_hu/covid19_ny_sbu_slices/A002304/axial");
    let mut h = harness_sized(egui::vec2(1000.0, 560.0));
    drop_files(&mut h, std::slice::from_ref(&folder));
    let series = {
        let state = h.state().state();
        assert!(!state.doc.is_open(), "nothing is read before the choice");
        let prompt = state.series_prompt().expect("the chooser is open");
        assert_eq!(prompt.series.len(), 2);
        prompt.series.clone()
    };
    h.get_by_label_contains("axial holds 2 series");
    for s in &series {
        let size = format!("{} × {}", s.size[0], s.size[1]);
        assert!(h.query_all_by_label(&size).count() >= 1, "{size} shown");
        assert!(h.query_all_by_label(&s.images.to_string()).count() >= 1);
    }
    h.snapshot("viewer_dicom_series_chooser");

    {
        let open: Vec<_> = h.get_all_by_label("Open").collect();
        assert_eq!(open.len(), 2, "one Open button per series");
        open[1].click();
    }
    h.step();
    wait_idle(&mut h);
    let state = h.state().state();
    assert!(state.series_prompt().is_none(), "the chooser closed");
    let entry = state.doc.entry().expect("the chosen series is shown");
    assert_eq!(
        entry.volume.dims()[..2],
        [series[1].size[0] as usize, series[1].size[1] as usize]
    );
    assert_eq!(entry.volume.info.description, series[1].description);
    assert_eq!(entry.path.as_deref(), Some(folder.as_path()));
    assert!(state.notices.is_empty(), "{:?}", state.notices);
}

#[test]
fn failed_load_keeps_the_current_volume() {
    let mut h = harness();
    drop_files(
        &mut h,
        &[support::data::covid_volume(
            "radiopaedia_group_R06_ct.nii.gz",
        )],
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let bogus = dir.path().join("not_a_scan.nii");
    std::fs::write(&bogus, b"this is not a NIfTI file").expect("write");
    drop_files(&mut h, &[bogus]);
    let state = h.state().state();
    assert_eq!(
        state.doc.entry().expect("volume kept").name,
        "radiopaedia_group_R06_ct.nii.gz"
    );
    assert_eq!(state.notices.len(), 1);
    assert!(
        state.notices[0].text.contains("not_a_scan.nii"),
        "{:?}",
        state.notices
    );
}

#[test]
fn mouse_and_keys_scroll_zoom_and_move_the_crosshair() {
    let mut h = harness();
    drop_files(
        &mut h,
        &[support::data::covid_volume(
            "radiopaedia_group_R03_ct.nii.gz",
        )],
    );
    h.state_mut()
        .state_mut()
        .apply(Command::SetLayout(Layout::Single(View::Axial)));
    h.run();
    let p = image_point(&h, View::Axial);
    let slice = |h: &Harness<'_, LungscopeApp>| h.state().state().slice_index(View::Axial);
    let wheel = |h: &mut Harness<'_, LungscopeApp>, dy: f32, modifiers: egui::Modifiers| {
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Line,
            delta: egui::vec2(0.0, dy),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Unknown,
            modifiers,
        });
        h.run();
    };
    h.hover_at(p);
    h.run();
    let s0 = slice(&h);
    assert_eq!(s0, 16);
    wheel(&mut h, 1.0, egui::Modifiers::NONE);
    assert_eq!(slice(&h), s0 + 1, "wheel = one slice");
    wheel(&mut h, -1.0, egui::Modifiers::SHIFT);
    assert_eq!(slice(&h), s0 - 9, "shift + wheel = ten slices");
    h.key_press(egui::Key::PageUp);
    h.run();
    assert_eq!(slice(&h), s0 + 1);
    h.key_press(egui::Key::ArrowDown);
    h.run();
    assert_eq!(slice(&h), s0);

    wheel(&mut h, 2.0, egui::Modifiers::CTRL);
    let zoom = h.state().state().zoom_pan[0].zoom;
    assert!(zoom > 1.2, "ctrl + wheel zooms in ({zoom})");

    // A click moves the crosshair to the voxel under the pointer.
    let hovered = h.state().state().hover.expect("pointer over the image");
    h.event(egui::Event::PointerButton {
        pos: p,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    h.event(egui::Event::PointerButton {
        pos: p,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    h.run();
    assert_eq!(h.state().state().cursor, hovered.voxel);
    let status = format!("{:?}", h.get_by_label_contains("HU · voxel"));
    let voxel = format!(
        "voxel ({}, {}, {})",
        hovered.voxel[0], hovered.voxel[1], hovered.voxel[2]
    );
    assert!(status.contains(&voxel), "{status} should show {voxel}");

    h.key_press(egui::Key::R);
    h.run();
    assert_eq!(h.state().state().zoom_pan[0].zoom, 1.0, "R resets zoom");
}

#[test]
fn large_volume_upload_is_spread_over_frames_and_arrives_whole() {
    use lungscope::app::gpu_sync::FRAME_BUDGET;
    use lungscope::render::{
        DisplayParams, ScreenRect, SliceRenderer, ViewMapping, ViewUniforms, ZoomPan,
    };
    use lungscope::volume::{Geometry, Volume, Voxels};
    use lungscope::windowing::WindowLevel;

    let rs = support::gui::render_state();
    let mut app = LungscopeApp::new(Some(rs.clone()), Settings::default());
    let ctx = egui::Context::default();
    let frame = |app: &mut LungscopeApp| {
        let raw = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, SIZE)),
            ..Default::default()
        };
        let mut out = ctx.run_ui(raw, |ui| app.ui(ui));
        out.textures_delta.clear();
    };
    // 192 x 160 x 300 float32 = 36.9 MB, more than one frame's budget.
    let dims = [192, 160, 300];
    let n: usize = dims.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 2600) as f32 - 1100.0)
        .collect();
    let volume = Volume::new(
        Geometry::with_signs(dims, [1.0; 3], [-1.0, -1.0, 1.0]),
        Voxels::F32(values),
    )
    .expect("sizes match");
    let total = (n * 4) as u64;
    let stats = volume.stats();
    app.state_mut()
        .set_volume(lungscope::app::document::VolumeEntry {
            volume: Arc::new(volume.clone()),
            stats,
            path: None,
            name: "generated".into(),
        });
    let mut uploaded = Vec::new();
    let mut frames = 0;
    loop {
        let before = app.upload_stats().expect("renderer").texture_bytes;
        frame(&mut app);
        frames += 1;
        uploaded.push(app.upload_stats().expect("renderer").texture_bytes - before);
        // The upload alone: the default model's background load, which also
        // counts as busy, takes wall time that varies with the machine's load.
        if !app.is_loading_or_uploading() {
            break;
        }
        assert!(frames < 50, "upload never finished");
    }
    assert!(
        frames >= 2,
        "{total} bytes should take more than one frame: {uploaded:?}"
    );
    assert!(
        uploaded.iter().all(|&b| b as usize <= FRAME_BUDGET),
        "{uploaded:?}"
    );
    assert_eq!(uploaded.iter().sum::<u64>(), total);

    // The last slab arrived intact: draw its last slice and compare with the CPU.
    let mut guard = rs.renderer.write();
    let renderer = guard
        .callback_resources
        .get_mut::<SliceRenderer>()
        .expect("installed by the app");
    let slice = dims[2] - 1;
    let rect = ScreenRect {
        min: [0.0, 0.0],
        size: [dims[0] as f32, dims[1] as f32],
    };
    let mapping = ViewMapping::new(
        &volume.geometry,
        View::Axial,
        slice,
        rect,
        &ZoomPan::default(),
    );
    let window = WindowLevel::new(2600.0, 200.0);
    let params = DisplayParams {
        window,
        volume_is_float: true,
        linear: false,
        background: [0.0, 0.0, 0.0, 1.0],
        overlay_opacity: 0.0,
        overlay_mode: 0,
    };
    let pixels = lungscope::render::offscreen::render_rgba(
        &rs.device,
        &rs.queue,
        renderer,
        7,
        [dims[0] as u32, dims[1] as u32],
        &ViewUniforms::new(&mapping, &params, 1.0),
        false,
    )
    .expect("render");
    let expected = volume.slice(View::Axial, slice);
    for (px, &hu) in pixels.chunks_exact(4).zip(&expected.data) {
        assert!(px[0].abs_diff(window.apply_u8(hu)) <= 1);
    }
}

#[test]
fn middle_drag_pans_and_double_click_resets() {
    let mut h = harness();
    drop_files(
        &mut h,
        &[support::data::covid_volume(
            "radiopaedia_group_R07_ct.nii.gz",
        )],
    );
    let p = image_point(&h, View::Coronal);
    h.hover_at(p);
    h.event(egui::Event::PointerButton {
        pos: p,
        button: egui::PointerButton::Middle,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    h.step();
    for t in 1..=3 {
        h.event(egui::Event::PointerMoved(
            p + egui::vec2(10.0 * t as f32, 5.0 * t as f32),
        ));
        h.step();
    }
    let end = p + egui::vec2(30.0, 15.0);
    h.event(egui::Event::PointerButton {
        pos: end,
        button: egui::PointerButton::Middle,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    h.run();
    let pan = h.state().state().zoom_pan[1].pan;
    assert!(
        (pan[0] - 30.0).abs() < 1.0 && (pan[1] - 15.0).abs() < 1.0,
        "coronal pan {pan:?}"
    );
    assert_eq!(
        h.state().state().zoom_pan[0].pan,
        [0.0, 0.0],
        "axial untouched"
    );
    for pressed in [true, false, true, false] {
        h.event(egui::Event::PointerButton {
            pos: end,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
    }
    h.run();
    assert_eq!(
        h.state().state().zoom_pan[1].pan,
        [0.0, 0.0],
        "double click resets"
    );
}
