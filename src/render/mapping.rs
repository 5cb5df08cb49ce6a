//! Screen ↔ voxel mapping of one view: fit, zoom, pan and aspect from voxel spacing.
//!
//! Coordinates used here:
//! - screen points (egui's logical pixels), `[x, y]`, y down;
//! - display pixels `(col, row)` of the radiological slice image
//!   ([`SliceMap`]); continuous, pixel centres at integers, the image spans
//!   `-0.5 ..= width - 0.5`;
//! - storage voxels `(i, j, k)`, continuous, voxel centres at integers.
//!
//! Nothing here depends on egui or wgpu, so the math is tested on its own.

use crate::volume::{Geometry, SliceMap, View};
use serde::{Deserialize, Serialize};

/// An axis-aligned rectangle on screen, in points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScreenRect {
    /// Top-left corner.
    pub min: [f32; 2],
    /// Width and height (> 0).
    pub size: [f32; 2],
}

impl ScreenRect {
    /// Centre point.
    pub fn center(&self) -> [f32; 2] {
        [
            self.min[0] + self.size[0] / 2.0,
            self.min[1] + self.size[1] / 2.0,
        ]
    }

    /// True if `p` lies inside.
    pub fn contains(&self, p: [f32; 2]) -> bool {
        p[0] >= self.min[0]
            && p[1] >= self.min[1]
            && p[0] < self.min[0] + self.size[0]
            && p[1] < self.min[1] + self.size[1]
    }
}

/// Zoom and pan of one view. Zoom 1 fits the whole slice in the view.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ZoomPan {
    /// Magnification relative to "fit to view".
    pub zoom: f32,
    /// Offset of the image centre from the view centre, in points.
    pub pan: [f32; 2],
}

impl Default for ZoomPan {
    fn default() -> Self {
        Self {
            zoom: 1.0,
            pan: [0.0, 0.0],
        }
    }
}

impl ZoomPan {
    /// Smallest zoom.
    pub const MIN_ZOOM: f32 = 0.2;
    /// Largest zoom.
    pub const MAX_ZOOM: f32 = 50.0;

    /// Multiplies the zoom by `factor`, keeping the image point under `cursor`
    /// (screen points) where it is.
    pub fn zoom_at(&mut self, rect: &ScreenRect, cursor: [f32; 2], factor: f32) {
        let new_zoom = (self.zoom * factor).clamp(Self::MIN_ZOOM, Self::MAX_ZOOM);
        let ratio = new_zoom / self.zoom;
        let c = rect.center();
        for a in 0..2 {
            let rel = cursor[a] - c[a] - self.pan[a];
            self.pan[a] = cursor[a] - c[a] - rel * ratio;
        }
        self.zoom = new_zoom;
    }

    /// Moves the image by `delta` points.
    pub fn pan_by(&mut self, delta: [f32; 2]) {
        self.pan[0] += delta[0];
        self.pan[1] += delta[1];
    }
}

/// The mapping of one view of one volume onto a screen rectangle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewMapping {
    /// Display ↔ storage axes.
    pub map: SliceMap,
    /// The view's rectangle.
    pub rect: ScreenRect,
    /// Slice number (storage index along the normal axis).
    pub slice: usize,
    /// Screen points per display column and per display row (they differ when
    /// the in-plane spacing is anisotropic).
    pub points_per_pixel: [f32; 2],
    /// Screen points per millimetre.
    pub points_per_mm: f32,
    /// Screen position of the image centre.
    image_center: [f32; 2],
}

impl ViewMapping {
    /// The mapping of `view` at `slice`, fitted into `rect` and then zoomed/panned.
    pub fn new(
        geometry: &Geometry,
        view: View,
        slice: usize,
        rect: ScreenRect,
        zoom_pan: &ZoomPan,
    ) -> Self {
        let map = SliceMap::new(geometry, view);
        let [sx, sy] = map.pixel_mm(geometry).map(|s| s.max(1e-6) as f32);
        let width_mm = map.width.max(1) as f32 * sx;
        let height_mm = map.height.max(1) as f32 * sy;
        let fit = (rect.size[0] / width_mm).min(rect.size[1] / height_mm);
        let points_per_mm = fit * zoom_pan.zoom;
        let c = rect.center();
        Self {
            map,
            rect,
            slice: slice.min(map.depth.saturating_sub(1)),
            points_per_pixel: [points_per_mm * sx, points_per_mm * sy],
            points_per_mm,
            image_center: [c[0] + zoom_pan.pan[0], c[1] + zoom_pan.pan[1]],
        }
    }

    /// Continuous display `(col, row)` under a screen point.
    pub fn screen_to_display(&self, p: [f32; 2]) -> [f32; 2] {
        let half = self.half_extent();
        [
            half[0] + (p[0] - self.image_center[0]) / self.points_per_pixel[0],
            half[1] + (p[1] - self.image_center[1]) / self.points_per_pixel[1],
        ]
    }

    /// Screen point of a continuous display `(col, row)`.
    pub fn display_to_screen(&self, d: [f32; 2]) -> [f32; 2] {
        let half = self.half_extent();
        [
            self.image_center[0] + (d[0] - half[0]) * self.points_per_pixel[0],
            self.image_center[1] + (d[1] - half[1]) * self.points_per_pixel[1],
        ]
    }

    /// Continuous storage voxel of a continuous display position on this slice.
    pub fn display_to_voxel(&self, d: [f32; 2]) -> [f32; 3] {
        let m = &self.map;
        let mut v = [0.0f32; 3];
        v[m.col_axis] = if m.col_flip {
            (m.width as f32 - 1.0) - d[0]
        } else {
            d[0]
        };
        v[m.row_axis] = if m.row_flip {
            (m.height as f32 - 1.0) - d[1]
        } else {
            d[1]
        };
        v[m.normal_axis] = self.slice as f32;
        v
    }

    /// Continuous storage voxel under a screen point.
    pub fn screen_to_voxel(&self, p: [f32; 2]) -> [f32; 3] {
        self.display_to_voxel(self.screen_to_display(p))
    }

    /// The voxel nearest to a screen point, if the point lies on the image.
    pub fn voxel_at(&self, p: [f32; 2]) -> Option<[usize; 3]> {
        let d = self.screen_to_display(p);
        let (w, h) = (self.map.width as f32, self.map.height as f32);
        if d[0] < -0.5 || d[1] < -0.5 || d[0] >= w - 0.5 || d[1] >= h - 0.5 {
            return None;
        }
        let col = (d[0] + 0.5).floor().clamp(0.0, w - 1.0) as usize;
        let row = (d[1] + 0.5).floor().clamp(0.0, h - 1.0) as usize;
        Some(self.map.voxel(col, row, self.slice))
    }

    /// Screen position of the centre of a voxel's display pixel (its in-plane
    /// position; the voxel's own slice number is ignored).
    pub fn voxel_to_screen(&self, v: [usize; 3]) -> [f32; 2] {
        let m = &self.map;
        let mut v = v;
        v[m.col_axis] = v[m.col_axis].min(m.width.saturating_sub(1));
        v[m.row_axis] = v[m.row_axis].min(m.height.saturating_sub(1));
        v[m.normal_axis] = v[m.normal_axis].min(m.depth.saturating_sub(1));
        let (col, row, _) = m.display(v);
        self.display_to_screen([col as f32, row as f32])
    }

    /// The image's rectangle on screen (may extend beyond the view).
    pub fn image_rect(&self) -> ScreenRect {
        let min = self.display_to_screen([-0.5, -0.5]);
        ScreenRect {
            min,
            size: [
                self.map.width as f32 * self.points_per_pixel[0],
                self.map.height as f32 * self.points_per_pixel[1],
            ],
        }
    }

    /// `(origin, span_u, span_v)`: the voxel at the view's top-left corner and the
    /// voxel steps across its width and height, as the shaders take them.
    pub fn voxel_frame(&self) -> ([f32; 3], [f32; 3], [f32; 3]) {
        let r = &self.rect;
        let origin = self.screen_to_voxel(r.min);
        let right = self.screen_to_voxel([r.min[0] + r.size[0], r.min[1]]);
        let down = self.screen_to_voxel([r.min[0], r.min[1] + r.size[1]]);
        let sub = |a: [f32; 3], b: [f32; 3]| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
        (origin, sub(right, origin), sub(down, origin))
    }

    fn half_extent(&self) -> [f32; 2] {
        [
            (self.map.width as f32 - 1.0) / 2.0,
            (self.map.height as f32 - 1.0) / 2.0,
        ]
    }
}

/// The plane a view shows, by the world axis of its normal.
pub fn view_of_normal(geometry: &Geometry, storage_axis: usize) -> View {
    let world = geometry
        .orientation()
        .get(storage_axis)
        .map_or(2, |o| o.world);
    match world {
        0 => View::Sagittal,
        1 => View::Coronal,
        _ => View::Axial,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect() -> ScreenRect {
        ScreenRect {
            min: [10.0, 20.0],
            size: [200.0, 100.0],
        }
    }

    #[test]
    fn fit_respects_anisotropic_spacing() {
        // 100 x 50 pixels of 1 x 4 mm: 100 mm x 200 mm, fits by height.
        let g = Geometry::with_signs([100, 50, 3], [1.0, 4.0, 1.0], [-1.0, -1.0, 1.0]);
        let m = ViewMapping::new(&g, View::Axial, 1, rect(), &ZoomPan::default());
        assert!((m.points_per_mm - 0.5).abs() < 1e-6);
        assert!((m.points_per_pixel[1] / m.points_per_pixel[0] - 4.0).abs() < 1e-5);
        let img = m.image_rect();
        assert!((img.size[1] - 100.0).abs() < 1e-3);
        assert!((img.size[0] - 50.0).abs() < 1e-3);
    }

    #[test]
    fn screen_voxel_round_trip() {
        let g = Geometry::with_signs([40, 30, 20], [0.8, 0.8, 2.5], [1.0, 1.0, 1.0]);
        for view in View::ALL {
            let zp = ZoomPan {
                zoom: 2.0,
                pan: [7.0, -3.0],
            };
            let m = ViewMapping::new(&g, view, 5, rect(), &zp);
            let v = [12, 9, 5];
            let p = m.voxel_to_screen(v);
            let back = m.voxel_at(p).expect("on image");
            assert_eq!(back[m.map.col_axis], v[m.map.col_axis], "{view:?}");
            assert_eq!(back[m.map.row_axis], v[m.map.row_axis], "{view:?}");
            assert_eq!(back[m.map.normal_axis], m.slice, "{view:?}");
        }
    }

    #[test]
    fn ras_axial_has_patient_right_on_screen_left() {
        // RAS storage: i increases towards the patient's right.
        let g = Geometry::with_signs([10, 10, 4], [1.0; 3], [1.0, 1.0, 1.0]);
        let m = ViewMapping::new(&g, View::Axial, 0, rect(), &ZoomPan::default());
        let left = m.voxel_to_screen([9, 5, 0]);
        let right = m.voxel_to_screen([0, 5, 0]);
        assert!(
            left[0] < right[0],
            "max i (patient right) must be on the left"
        );
        let top = m.voxel_to_screen([5, 9, 0]);
        assert!(
            top[1] < m.voxel_to_screen([5, 0, 0])[1],
            "anterior must be up"
        );
    }

    #[test]
    fn zoom_at_keeps_point_under_cursor() {
        let g = Geometry::with_signs([64, 64, 8], [1.0; 3], [-1.0, -1.0, 1.0]);
        let mut zp = ZoomPan::default();
        let cursor = [60.0, 40.0];
        let before = ViewMapping::new(&g, View::Axial, 0, rect(), &zp).screen_to_voxel(cursor);
        zp.zoom_at(&rect(), cursor, 3.0);
        let after = ViewMapping::new(&g, View::Axial, 0, rect(), &zp).screen_to_voxel(cursor);
        for a in 0..3 {
            assert!(
                (before[a] - after[a]).abs() < 1e-3,
                "{before:?} vs {after:?}"
            );
        }
        assert_eq!(zp.zoom, 3.0);
    }

    #[test]
    fn voxel_frame_spans_the_view() {
        let g = Geometry::with_signs([20, 10, 5], [1.0; 3], [-1.0, -1.0, 1.0]);
        let r = ScreenRect {
            min: [0.0, 0.0],
            size: [20.0, 10.0],
        };
        let m = ViewMapping::new(&g, View::Axial, 2, r, &ZoomPan::default());
        let (o, u, v) = m.voxel_frame();
        assert_eq!(o, [-0.5, -0.5, 2.0]);
        assert_eq!(u, [20.0, 0.0, 0.0]);
        assert_eq!(v, [0.0, 10.0, 0.0]);
    }

    #[test]
    fn normal_axis_names_the_view() {
        let g = Geometry::with_signs([4, 4, 4], [1.0; 3], [-1.0, -1.0, 1.0]);
        assert_eq!(view_of_normal(&g, 0), View::Sagittal);
        assert_eq!(view_of_normal(&g, 1), View::Coronal);
        assert_eq!(view_of_normal(&g, 2), View::Axial);
    }
}
