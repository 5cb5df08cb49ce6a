//! Mask editing through the app state (no window): strokes as undo steps, the edit
//! layer and its GPU box updates, the brush circle against the painted footprint in
//! every view, fill, interpolation, reviewed slices, saving next to the source, and
//! the unsaved-edits question when another volume arrives.
#![cfg(feature = "gui")]

use crate::support;

use lungscope::app::document::VolumeEntry;
use lungscope::app::edit_guard::{Choice, Pending, default_mask_path};
use lungscope::app::edit_state::{EDIT_LAYER_NAME, EditCommand, Tool, brush_screen_radius};
use lungscope::app::jobs::no_waker;
use lungscope::app::{AppState, Command, GpuUpdate, Settings};
use lungscope::mask::{INFECTION, LEFT_LUNG, LabelMask, RIGHT_LUNG};
use lungscope::render::{ScreenRect, ViewMapping, ZoomPan};
use lungscope::volume::{Geometry, View, Volume, Voxels};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 64 × 48 × 10 voxels of 0.7 × 0.7 × 2.5 mm (LPS): air outside a body ellipse,
/// lung HU inside two boxes, soft tissue elsewhere; lungs labelled in a mask layer.
fn state() -> AppState {
    let g = Geometry::with_signs([64, 48, 10], [0.7, 0.7, 2.5], [-1.0, -1.0, 1.0]);
    let mut hu = vec![40i16; g.len()];
    let mut lungs = LabelMask::empty(g.clone());
    for k in 0..10 {
        for j in 10..38 {
            for i in 6..28 {
                hu[g.index(i, j, k)] = -850;
                lungs.labels[g.index(i, j, k)] = RIGHT_LUNG;
            }
            for i in 36..58 {
                hu[g.index(i, j, k)] = -850;
                lungs.labels[g.index(i, j, k)] = LEFT_LUNG;
            }
        }
    }
    let vol = Volume::new(g, Voxels::I16(hu)).expect("sizes match");
    let stats = vol.stats();
    let mut s = AppState::new(Settings::default(), no_waker());
    s.set_volume(VolumeEntry {
        volume: Arc::new(vol),
        stats,
        path: None,
        name: "generated".into(),
    });
    s.doc
        .add_layer("lungs.nii.gz", None, lungs)
        .expect("same grid");
    s
}

fn edit(s: &mut AppState, c: EditCommand) {
    s.apply(Command::Edit(c));
}

fn stroke(s: &mut AppState, view: View, slice: usize, points: &[[f64; 2]]) {
    edit(
        s,
        EditCommand::StrokeBegin {
            view,
            slice,
            at: points[0],
        },
    );
    for p in &points[1..] {
        edit(s, EditCommand::StrokeTo(*p));
    }
    edit(s, EditCommand::StrokeEnd);
}

#[test]
fn a_stroke_is_one_undo_step_and_uploads_only_its_box() {
    let mut s = state();
    let shown_before = s.composite().expect("composite").clone();
    let _ = s.take_gpu_updates();
    edit(&mut s, EditCommand::SetTool(Tool::Brush));
    edit(&mut s, EditCommand::SetLabel(INFECTION));
    edit(&mut s, EditCommand::SetRadius(2.0));
    // Axial slice 4: LPS storage = display order, so (col, row) = (i, j).
    stroke(
        &mut s,
        View::Axial,
        4,
        &[[10.0, 20.0], [14.0, 21.0], [20.0, 22.0]],
    );
    let layer = s.edit_layer().expect("edit layer created");
    assert_eq!(s.doc.layers[layer].name, EDIT_LAYER_NAME);
    assert!(
        s.doc.layers.iter().filter(|l| l.visible).count() == 1,
        "the source layer is hidden: the overlay shows the edited mask"
    );
    let session = s.edit.session().expect("session");
    assert_eq!(session.history().undo_len(), 1, "one stroke, one step");
    assert!(s.has_unsaved_edits());
    let edited = s.edited_mask().expect("mask").clone();
    let g = edited.geometry.clone();
    // Every changed voxel is infection on slice 4 within 2 mm of the stroke's path.
    let mut changed = 0;
    for (idx, (&a, &b)) in shown_before.labels.iter().zip(&edited.labels).enumerate() {
        if a == b {
            continue;
        }
        changed += 1;
        let (i, j, k) = (idx % 64, (idx / 64) % 48, idx / (64 * 48));
        assert_eq!((b, k), (INFECTION, 4));
        let d = distance_to_path(
            [i as f64 * 0.7, j as f64 * 0.7],
            &[[7.0, 14.0], [9.8, 14.7], [14.0, 15.4]],
        );
        assert!(
            d <= 2.0 + 1e-9,
            "voxel ({i}, {j}) is {d:.2} mm from the stroke"
        );
    }
    assert!(changed > 40, "{changed} voxels painted");
    // The whole session start uploads everything once; the stroke's own update is
    // checked on the next one.
    let _ = s.take_gpu_updates();
    stroke(&mut s, View::Axial, 7, &[[40.0, 30.0], [44.0, 30.0]]);
    let updates = s.take_gpu_updates();
    let [GpuUpdate::Mask(region)] = updates.as_slice() else {
        panic!("one box update expected: {updates:?}");
    };
    assert_eq!((region.origin[2], region.size[2]), (7, 1), "{region:?}");
    assert!(region.len() <= 9 * 9, "{region:?}");
    edit(&mut s, EditCommand::Undo);
    edit(&mut s, EditCommand::Undo);
    assert_eq!(s.edited_mask().expect("mask").labels, shown_before.labels);
    let c = s.composite().expect("composite");
    assert_eq!(c.labels, shown_before.labels, "the overlay follows undo");
    edit(&mut s, EditCommand::Redo);
    assert_eq!(s.edited_mask().expect("mask").labels, edited.labels);
    assert_eq!(g.dims, [64, 48, 10]);
}

fn distance_to_path(p: [f64; 2], path: &[[f64; 2]]) -> f64 {
    path.windows(2)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let ab = [b[0] - a[0], b[1] - a[1]];
            let ap = [p[0] - a[0], p[1] - a[1]];
            let t =
                ((ap[0] * ab[0] + ap[1] * ab[1]) / (ab[0] * ab[0] + ab[1] * ab[1])).clamp(0.0, 1.0);
            let q = [a[0] + t * ab[0] - p[0], a[1] + t * ab[1] - p[1]];
            (q[0] * q[0] + q[1] * q[1]).sqrt()
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn the_brush_circle_matches_the_painted_footprint_in_every_view() {
    // Strongly anisotropic voxels: 0.5 x 1.0 x 3.0 mm.
    let g = Geometry::with_signs([80, 60, 30], [0.5, 1.0, 3.0], [1.0, 1.0, 1.0]);
    let mask = LabelMask::empty(g.clone());
    let brush = lungscope::edit::Brush {
        radius_mm: 9.0,
        label: INFECTION,
        mode: lungscope::edit::BrushMode::Paint,
        hu_range: None,
    };
    let rect = ScreenRect {
        min: [10.0, 20.0],
        size: [400.0, 300.0],
    };
    for view in View::ALL {
        let map = lungscope::volume::SliceMap::new(&g, view);
        let slice = map.depth / 2;
        let mapping = ViewMapping::new(&g, view, slice, rect, &ZoomPan::default());
        let [rx, ry] = brush_screen_radius(&mapping, &brush);
        assert!(
            (rx - 9.0 * mapping.points_per_mm).abs() < 1e-3 && (rx - ry).abs() < 1e-3,
            "{view:?}: a circle of 9 mm on screen ({rx}, {ry})"
        );
        let centre = [(map.width / 2) as f64, (map.height / 2) as f64];
        let dab = brush.dab(&mask, None, view, slice, centre);
        let c = mapping.display_to_screen([centre[0] as f32, centre[1] as f32]);
        let (mut max_x, mut max_y) = (0.0f32, 0.0f32);
        for (idx, _) in &dab {
            let v = [idx % 80, (idx / 80) % 60, idx / 4800];
            let p = mapping.voxel_to_screen(v);
            let (dx, dy) = ((p[0] - c[0]).abs(), (p[1] - c[1]).abs());
            assert!(
                (dx / rx).powi(2) + (dy / ry).powi(2) <= 1.0 + 1e-4,
                "{view:?}: painted pixel centre outside the circle"
            );
            max_x = max_x.max(dx);
            max_y = max_y.max(dy);
        }
        // The footprint reaches the circle to within one display pixel on both axes.
        assert!(
            rx - max_x <= mapping.points_per_pixel[0] + 1e-3,
            "{view:?} x"
        );
        assert!(
            ry - max_y <= mapping.points_per_pixel[1] + 1e-3,
            "{view:?} y"
        );
    }
}

#[test]
fn sixty_strokes_in_all_views_undo_and_redo_exactly() {
    let mut s = state();
    let start = s.composite().expect("composite").clone();
    edit(&mut s, EditCommand::SetRadius(1.5));
    edit(&mut s, EditCommand::SetTool(Tool::Brush));
    for n in 0..60 {
        let view = View::ALL[n % 3];
        // Positions repeat every 21 strokes: each round paints another label.
        let label = if (n / 21) % 2 == 0 { INFECTION } else { 5 };
        edit(&mut s, EditCommand::SetLabel(label));
        let slice = s.slice_count(view) / 2 + n % 3;
        let x = 4.0 + (n % 7) as f64 * 2.0;
        stroke(
            &mut s,
            view,
            slice,
            &[[x, 3.0], [x + 6.0, 5.0], [x + 9.0, 8.0]],
        );
    }
    let edited = s.edited_mask().expect("mask").clone();
    let steps = s.edit.session().expect("session").history().undo_len();
    // A stroke that changes no voxel (already covered by earlier ones) records none.
    assert!(steps >= 50, "{steps} undo steps");
    for _ in 0..steps {
        edit(&mut s, EditCommand::Undo);
    }
    assert_eq!(s.edited_mask().expect("mask").labels, start.labels);
    assert_eq!(s.composite().expect("composite").labels, start.labels);
    for _ in 0..steps {
        edit(&mut s, EditCommand::Redo);
    }
    assert_eq!(s.edited_mask().expect("mask").labels, edited.labels);
}

#[test]
fn fill_threshold_paint_interpolate_and_reviewed_slices() {
    let mut s = state();
    edit(&mut s, EditCommand::SetLabel(INFECTION));
    edit(&mut s, EditCommand::SetHuRange(-1000.0, -500.0));
    // Fill from inside the right lung box on axial slice 2: exactly that box.
    edit(&mut s, EditCommand::SetTool(Tool::Fill));
    edit(
        &mut s,
        EditCommand::Fill {
            view: View::Axial,
            slice: 2,
            at: [10, 20],
        },
    );
    let m = s.edited_mask().expect("mask").clone();
    let g = m.geometry.clone();
    let filled: Vec<usize> = (0..g.len()).filter(|&i| m.labels[i] == INFECTION).collect();
    assert_eq!(filled.len(), 22 * 28, "the right lung box on one slice");
    assert!(filled.iter().all(|&i| i / (64 * 48) == 2 && i % 64 < 28));
    // Threshold painting across the soft tissue between the lungs paints only lung HU.
    edit(&mut s, EditCommand::SetTool(Tool::Threshold));
    edit(&mut s, EditCommand::SetRadius(3.0));
    stroke(&mut s, View::Axial, 6, &[[24.0, 20.0], [40.0, 20.0]]);
    let m = s.edited_mask().expect("mask").clone();
    let vol = s.volume().expect("volume");
    let on6: Vec<usize> = (0..g.len())
        .filter(|&i| i / (64 * 48) == 6 && m.labels[i] == INFECTION)
        .collect();
    assert!(!on6.is_empty());
    assert!(on6.iter().all(|&i| vol.voxels.get(i) < -500.0));
    // Interpolation between the last two edited axial slices (2 and 6).
    let range = s.edit.interpolate.expect("range proposed");
    assert_eq!((range.view, range.a, range.b), (View::Axial, 2, 6));
    edit(&mut s, EditCommand::Interpolate);
    let m = s.edited_mask().expect("mask").clone();
    for k in 3..6 {
        let n = (0..64 * 48)
            .filter(|&p| m.labels[p + k * 64 * 48] == INFECTION)
            .count();
        assert!(n > 0, "slice {k} filled by interpolation");
    }
    assert!(
        (0..64 * 48).all(|p| m.labels[p + 8 * 64 * 48] != INFECTION),
        "outside the range nothing changes"
    );
    // Reviewed slices join the corrected ones.
    s.apply(Command::SetSlice {
        view: View::Axial,
        index: 9,
    });
    edit(&mut s, EditCommand::ToggleReviewed);
    assert!(s.axial_slice_reviewed());
    assert_eq!(s.corrected_slices(), vec![2, 3, 4, 5, 6, 9]);
    edit(&mut s, EditCommand::ToggleReviewed);
    assert_eq!(s.corrected_slices(), vec![2, 3, 4, 5, 6]);
}

fn wait(s: &mut AppState) {
    let start = Instant::now();
    while s.is_loading() || s.is_saving() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "job took too long"
        );
        s.poll_jobs();
        std::thread::sleep(Duration::from_millis(5));
    }
    s.poll_jobs();
}

fn copy_case(dir: &Path, name: &str) -> std::path::PathBuf {
    let src = support::data::covid_volume(name);
    let dst = dir.join(name);
    std::fs::copy(&src, &dst).expect("copy test volume");
    dst
}

#[test]
fn another_volume_waits_for_save_discard_or_cancel() {
    let dir = tempfile::tempdir().expect("temp dir");
    let r06 = copy_case(dir.path(), "radiopaedia_group_R06_ct.nii.gz");
    let r03 = copy_case(dir.path(), "radiopaedia_group_R03_ct.nii.gz");
    let r03_inf = copy_case(dir.path(), "radiopaedia_group_R03_infection.nii.gz");
    let mut s = AppState::new(Settings::default(), no_waker());
    s.apply(Command::Open(vec![r06.clone()]));
    wait(&mut s);
    let name = |s: &AppState| s.doc.entry().expect("volume").name.clone();
    assert_eq!(name(&s), "radiopaedia_group_R06_ct.nii.gz");

    // Nothing edited: another volume just replaces it.
    edit(&mut s, EditCommand::SetTool(Tool::Brush));
    s.apply(Command::Open(vec![r03.clone()]));
    wait(&mut s);
    assert_eq!(name(&s), "radiopaedia_group_R03_ct.nii.gz");
    s.apply(Command::Open(vec![r06.clone()]));
    wait(&mut s);

    stroke(&mut s, View::Axial, 4, &[[100.0, 100.0], [140.0, 120.0]]);
    assert!(s.has_unsaved_edits());
    assert!(s.window_title().contains("unsaved edits"));

    // Cancel: the new volume is dropped, the edits stay.
    s.apply(Command::Open(vec![r03.clone()]));
    wait(&mut s);
    assert!(matches!(s.pending_question(), Some(Pending::Loaded(_))));
    assert_eq!(name(&s), "radiopaedia_group_R06_ct.nii.gz", "held back");
    edit(&mut s, EditCommand::Answer(Choice::Cancel));
    assert!(s.pending_question().is_none());
    assert_eq!(name(&s), "radiopaedia_group_R06_ct.nii.gz");
    assert!(s.has_unsaved_edits());

    // Closing the volume or removing the edited layer asks too.
    s.apply(Command::CloseVolume);
    assert!(matches!(s.pending_question(), Some(Pending::CloseVolume)));
    edit(&mut s, EditCommand::Answer(Choice::Cancel));
    assert!(s.doc.is_open());
    let layer = s.edit_layer().expect("edit layer");
    s.apply(Command::RemoveLayer(layer));
    assert!(matches!(
        s.pending_question(),
        Some(Pending::RemoveEditLayer)
    ));
    edit(&mut s, EditCommand::Answer(Choice::Cancel));
    assert_eq!(s.edit_layer(), Some(layer));

    // Save: the mask goes next to the source, then the new volume and its mask open.
    let edited = s.edited_mask().expect("mask").clone();
    s.apply(Command::Open(vec![r03.clone(), r03_inf.clone()]));
    wait(&mut s);
    assert!(s.pending_question().is_some());
    edit(&mut s, EditCommand::Answer(Choice::Save));
    wait(&mut s);
    let saved = default_mask_path(&r06);
    assert_eq!(
        saved,
        dir.path().join("radiopaedia_group_R06_ct_edited.nii.gz")
    );
    assert_eq!(s.last_saved_mask(), Some(saved.as_path()));
    let back = lungscope::io::read_mask(&saved, Some(&edited.geometry)).expect("saved mask");
    assert_eq!(
        back.labels, edited.labels,
        "the saved file is the edited mask"
    );
    assert_eq!(name(&s), "radiopaedia_group_R03_ct.nii.gz");
    assert_eq!(s.doc.layers.len(), 1, "the infection mask loaded with it");
    assert!(s.edit.session().is_none());
    assert!(!s.has_unsaved_edits());

    // Discard: the edits are dropped and the new volume opens.
    stroke(&mut s, View::Coronal, 100, &[[60.0, 10.0], [90.0, 20.0]]);
    assert!(s.has_unsaved_edits());
    s.apply(Command::Open(vec![r06.clone()]));
    wait(&mut s);
    edit(&mut s, EditCommand::Answer(Choice::Discard));
    assert_eq!(name(&s), "radiopaedia_group_R06_ct.nii.gz");
    assert!(!s.has_unsaved_edits());
    assert!(
        !dir.path()
            .join("radiopaedia_group_R03_ct_edited.nii.gz")
            .exists()
    );
}

#[test]
fn saving_never_writes_over_the_source() {
    let dir = tempfile::tempdir().expect("temp dir");
    let r06 = copy_case(dir.path(), "radiopaedia_group_R06_ct.nii.gz");
    let before = std::fs::read(&r06).expect("read");
    let mut s = AppState::new(Settings::default(), no_waker());
    s.apply(Command::Open(vec![r06.clone()]));
    wait(&mut s);
    edit(&mut s, EditCommand::SetTool(Tool::Brush));
    stroke(&mut s, View::Axial, 2, &[[50.0, 50.0], [60.0, 60.0]]);
    edit(&mut s, EditCommand::SaveTo(r06.clone()));
    wait(&mut s);
    assert!(
        s.has_unsaved_edits(),
        "a refused save leaves the edits unsaved"
    );
    assert!(
        s.notices
            .iter()
            .any(|n| n.text.contains("saving the mask failed")),
        "{:?}",
        s.notices
    );
    assert_eq!(
        std::fs::read(&r06).expect("read"),
        before,
        "source untouched"
    );
    edit(&mut s, EditCommand::Save);
    wait(&mut s);
    assert!(!s.has_unsaved_edits());
    assert!(
        dir.path()
            .join("radiopaedia_group_R06_ct_edited.nii.gz")
            .is_file()
    );
}

/// Timing, not a check: brush strokes on a 512 × 512 × 300 volume (run with
/// `cargo test --test gui edit_state::timing -- --ignored --nocapture`).
#[test]
#[ignore = "timing; run with --ignored --nocapture"]
fn timing_brush_strokes_on_a_large_volume() {
    let g = Geometry::with_signs([512, 512, 300], [0.7, 0.7, 1.0], [-1.0, -1.0, 1.0]);
    let hu: Vec<i16> = (0..g.len())
        .map(|i| ((i * 7) % 1400) as i16 - 1000)
        .collect();
    let vol = Volume::new(g.clone(), Voxels::I16(hu)).expect("sizes match");
    let mut lungs = LabelMask::empty(g.clone());
    for l in lungs.labels.iter_mut().step_by(3) {
        *l = LEFT_LUNG;
    }
    let stats = vol.stats();
    let mut s = AppState::new(Settings::default(), no_waker());
    s.set_volume(VolumeEntry {
        volume: Arc::new(vol),
        stats,
        path: None,
        name: "large".into(),
    });
    s.doc.add_layer("lungs", None, lungs).expect("same grid");
    let _ = s.take_gpu_updates();
    let t = Instant::now();
    s.ensure_edit_session().expect("session");
    println!(
        "start editing (copy of the overlay, new layer): {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let _ = s.take_gpu_updates();
    edit(&mut s, EditCommand::SetTool(Tool::Brush));
    edit(&mut s, EditCommand::SetRadius(10.0));
    for view in View::ALL {
        let mut frame_ms = Vec::new();
        let mut frame_bytes = Vec::new();
        let slice = s.slice_count(view) / 2;
        edit(
            &mut s,
            EditCommand::StrokeBegin {
                view,
                slice,
                at: [100.0, 100.0],
            },
        );
        let _ = s.take_gpu_updates();
        for f in 1..=30 {
            let t = Instant::now();
            edit(
                &mut s,
                EditCommand::StrokeTo([100.0 + 8.0 * f as f64, 100.0 + 3.0 * f as f64]),
            );
            frame_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let bytes: usize = s
                .take_gpu_updates()
                .iter()
                .map(|u| match u {
                    GpuUpdate::Mask(r) => r.len(),
                    _ => 0,
                })
                .sum();
            frame_bytes.push(bytes);
        }
        edit(&mut s, EditCommand::StrokeEnd);
        let t = Instant::now();
        edit(&mut s, EditCommand::Undo);
        let undo_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        edit(&mut s, EditCommand::Redo);
        let redo_ms = t.elapsed().as_secs_f64() * 1e3;
        frame_ms.sort_by(f64::total_cmp);
        frame_bytes.sort_unstable();
        println!(
            "{view:?}: stroke frame (8 px drag, 10 mm brush) median {:.2} ms, max {:.2} ms; \
             mask bytes uploaded per frame median {}, max {}; undo {undo_ms:.2} ms, redo {redo_ms:.2} ms",
            frame_ms[15], frame_ms[29], frame_bytes[15], frame_bytes[29]
        );
    }
    let session = s.edit.session().expect("session");
    println!(
        "history: {} steps, {} bytes",
        session.history().undo_len(),
        session.history().bytes()
    );
}
