//! Undo/redo round trips and the memory bound of the history.

use lungscope::edit::{Brush, BrushMode, EditSession, UndoStack};
use lungscope::mask::LabelMask;
use lungscope::volume::{Geometry, View};

fn big_mask() -> LabelMask {
    // 256 x 256 x 64 labels (4 MiB), with some structure
    let g = Geometry::with_signs([256, 256, 64], [0.8, 0.8, 2.5], [-1.0, -1.0, 1.0]);
    let mut m = LabelMask::empty(g.clone());
    for k in 0..64 {
        for j in 60..200 {
            for i in 30..110 {
                m.labels[g.index(i, j, k)] = 2;
            }
            for i in 146..226 {
                m.labels[g.index(i, j, k)] = 1;
            }
        }
    }
    m
}

fn strokes(session: &mut EditSession, n: usize) {
    for s in 0..n {
        let view = View::ALL[s % 3];
        let brush = Brush {
            radius_mm: 3.0 + (s % 5) as f64,
            label: if s % 4 == 3 { 1 } else { 3 },
            mode: if s % 6 == 5 {
                BrushMode::Erase
            } else {
                BrushMode::Paint
            },
            hu_range: None,
        };
        let slice = (s * 7) % 40;
        session.begin_stroke("brush");
        let mut p = [40.0 + s as f64, 30.0];
        for _ in 0..6 {
            let next = [p[0] + 5.0, p[1] + 3.0];
            for c in brush.segment(p, next, [0.8, 0.8]) {
                let d = brush.dab(session.mask(), None, view, slice, c);
                session.set_voxels("brush", d);
            }
            p = next;
        }
        session.end_stroke();
    }
}

#[test]
fn undo_all_restores_the_exact_mask_and_redo_all_the_edited_one() {
    let original = big_mask();
    let mut s = EditSession::with_history(original.clone(), UndoStack::new(100, 64 << 20));
    strokes(&mut s, 60);
    let edited = s.mask().clone();
    assert_ne!(edited, original);
    let steps = s.history().undo_len();
    assert!(steps >= 40, "{steps} steps recorded");
    for _ in 0..steps {
        assert!(s.undo().is_some());
    }
    assert!(s.undo().is_none());
    assert_eq!(s.mask(), &original);
    for _ in 0..steps {
        assert!(s.redo().is_some());
    }
    assert_eq!(s.mask(), &edited);
}

#[test]
fn history_memory_is_bounded_by_the_edits_not_the_mask() {
    let mask = big_mask();
    let mask_bytes = mask.labels.len();
    let mut s = EditSession::with_history(mask, UndoStack::new(50, 64 << 20));
    strokes(&mut s, 80);
    assert_eq!(s.history().undo_len(), 50, "oldest steps dropped");
    // each step holds only its changed voxels: far less than one mask copy per step
    assert!(
        s.history().bytes() < mask_bytes,
        "{} bytes of history for a {} byte mask",
        s.history().bytes(),
        mask_bytes
    );
    // and a byte cap holds too
    let mut small = EditSession::with_history(big_mask(), UndoStack::new(1000, 20_000));
    strokes(&mut small, 80);
    assert!(small.history().bytes() <= 20_000 + 8_192);
    assert!(small.history().undo_len() < 80);
}
