//! Reads back the pixels the slice pipeline draws and checks them against the
//! windowing formula computed on the CPU (`WindowLevel::apply_u8`) for the same
//! voxels, for integer and float volumes, every view, a permuted storage
//! orientation, linear sampling and the mask overlay. Runs on lavapipe.
#![cfg(feature = "gui")]

use crate::support;

use lungscope::mask::LabelTable;
use lungscope::render::offscreen::render_rgba;
use lungscope::render::{
    DisplayParams, LabelColors, MODE_FILL, ScreenRect, SliceRenderer, ViewMapping, ViewUniforms,
    ZoomPan,
};
use lungscope::volume::{Geometry, View, Volume, Voxels};
use lungscope::windowing::WindowLevel;

/// Deterministic pseudo-random HU in -1200..1800.
fn noise(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1u32 << 24) as f32 * 3000.0 - 1200.0
        })
        .collect()
}

/// A grid whose storage axes are permuted: i -> S, j -> L, k -> P.
fn permuted_geometry(dims: [usize; 3]) -> Geometry {
    let mut a = [[0.0; 4]; 4];
    a[2][0] = 1.0;
    a[0][1] = -1.0;
    a[1][2] = -1.0;
    a[3][3] = 1.0;
    Geometry::from_affine(dims, a)
}

fn params(window: WindowLevel, volume: &Volume) -> DisplayParams {
    DisplayParams {
        window,
        volume_is_float: matches!(volume.voxels, Voxels::F32(_)),
        linear: false,
        background: [0.0, 0.0, 0.0, 1.0],
        overlay_opacity: 0.0,
        overlay_mode: 0,
    }
}

/// The mapping that puts one voxel on one pixel (unit in-plane spacing).
fn one_to_one(volume: &Volume, view: View, slice: usize) -> (ViewMapping, [u32; 2]) {
    let map = volume.slice_map(view);
    let size = [map.width as u32, map.height as u32];
    let rect = ScreenRect {
        min: [0.0, 0.0],
        size: [map.width as f32, map.height as f32],
    };
    let m = ViewMapping::new(&volume.geometry, view, slice, rect, &ZoomPan::default());
    (m, size)
}

struct Gpu {
    rs: egui_wgpu::RenderState,
    renderer: SliceRenderer,
}

impl Gpu {
    fn new() -> Self {
        let rs = support::gui::render_state();
        let renderer = SliceRenderer::new(&rs.device, rs.target_format, 1);
        Self { rs, renderer }
    }

    fn draw(&mut self, size: [u32; 2], u: &ViewUniforms, overlay: bool) -> Vec<u8> {
        render_rgba(
            &self.rs.device,
            &self.rs.queue,
            &mut self.renderer,
            0,
            size,
            u,
            overlay,
        )
        .expect("offscreen render")
    }
}

/// Largest |GPU - CPU| grey difference over a slice, and the grey/alpha checks.
fn compare_slice(pixels: &[u8], expected: &[u8]) -> u8 {
    assert_eq!(pixels.len(), expected.len() * 4);
    let mut worst = 0u8;
    for (px, &e) in pixels.chunks_exact(4).zip(expected) {
        assert_eq!(px[3], 255, "opaque");
        assert!(px[0] == px[1] && px[1] == px[2], "grey pixel {px:?}");
        worst = worst.max(px[0].abs_diff(e));
    }
    worst
}

#[test]
fn windowing_matches_cpu_formula_for_int_and_float_volumes_in_every_view() {
    let mut gpu = Gpu::new();
    let dims = [37, 23, 11];
    let n = dims[0] * dims[1] * dims[2];
    let values = noise(n, 7);
    let int_volume = Volume::new(
        Geometry::with_signs(dims, [1.0; 3], [1.0, 1.0, 1.0]),
        Voxels::I16(values.iter().map(|&v| v.round() as i16).collect()),
    )
    .expect("sizes match");
    let float_volume =
        Volume::new(permuted_geometry(dims), Voxels::F32(values.clone())).expect("sizes match");
    let window = WindowLevel::new(1500.0, -600.0);
    for volume in [&int_volume, &float_volume] {
        gpu.renderer
            .upload_volume(&gpu.rs.device, &gpu.rs.queue, volume)
            .expect("upload");
        for view in View::ALL {
            let depth = volume.slice_count(view);
            for slice in [0, depth / 2, depth - 1] {
                let (mapping, size) = one_to_one(volume, view, slice);
                let u = ViewUniforms::new(&mapping, &params(window, volume), 1.0);
                let pixels = gpu.draw(size, &u, false);
                let expected: Vec<u8> = volume
                    .slice(view, slice)
                    .data
                    .iter()
                    .map(|&hu| window.apply_u8(hu))
                    .collect();
                let worst = compare_slice(&pixels, &expected);
                assert!(
                    worst <= 1,
                    "{} {view:?} slice {slice}: GPU differs from apply_u8 by {worst}",
                    volume.voxels.storage_name()
                );
            }
        }
    }
}

#[test]
fn slices_and_window_changes_upload_no_texture_bytes() {
    let mut gpu = Gpu::new();
    let dims = [32, 24, 16];
    let volume = Volume::new(
        Geometry::with_signs(dims, [1.0; 3], [-1.0, -1.0, 1.0]),
        Voxels::I16(
            noise(dims.iter().product(), 3)
                .iter()
                .map(|&v| v as i16)
                .collect(),
        ),
    )
    .expect("sizes match");
    gpu.renderer
        .upload_volume(&gpu.rs.device, &gpu.rs.queue, &volume)
        .expect("upload");
    let after_load = gpu.renderer.upload_stats();
    assert_eq!(after_load.texture_bytes, (volume.voxels.len() * 2) as u64);
    for slice in 0..dims[2] {
        let (mapping, size) = one_to_one(&volume, View::Axial, slice);
        let w = WindowLevel::new(100.0 + slice as f32 * 50.0, -500.0);
        let u = ViewUniforms::new(&mapping, &params(w, &volume), 1.0);
        let _ = gpu.draw(size, &u, false);
    }
    let after_scroll = gpu.renderer.upload_stats();
    assert_eq!(after_scroll.texture_bytes, after_load.texture_bytes);
    assert_eq!(after_scroll.texture_writes, after_load.texture_writes);
    assert_eq!(
        after_scroll.uniform_bytes - after_load.uniform_bytes,
        (dims[2] * std::mem::size_of::<ViewUniforms>()) as u64
    );
}

/// CPU trilinear reference with edge clamping (what slice.wgsl computes).
fn trilinear(volume: &Volume, p: [f32; 3]) -> f32 {
    let d = volume.dims();
    let base = p.map(f32::floor);
    let f = [p[0] - base[0], p[1] - base[1], p[2] - base[2]];
    let clampi = |x: f32, a: usize| (x.max(0.0) as usize).min(d[a] - 1);
    let mut acc = 0.0;
    for corner in 0..8 {
        let mut w = 1.0;
        let mut idx = [0usize; 3];
        for a in 0..3 {
            let hi = (corner >> a) & 1 == 1;
            w *= if hi { f[a] } else { 1.0 - f[a] };
            idx[a] = clampi(base[a] + if hi { 1.0 } else { 0.0 }, a);
        }
        acc += w * volume.hu(idx[0], idx[1], idx[2]);
    }
    acc
}

#[test]
fn linear_sampling_matches_cpu_trilinear_when_zoomed() {
    let mut gpu = Gpu::new();
    let dims = [9, 7, 3];
    let volume = Volume::new(
        Geometry::with_signs(dims, [1.0; 3], [-1.0, -1.0, 1.0]),
        Voxels::F32(noise(dims.iter().product(), 11)),
    )
    .expect("sizes match");
    gpu.renderer
        .upload_volume(&gpu.rs.device, &gpu.rs.queue, &volume)
        .expect("upload");
    let size = [40u32, 30u32];
    let rect = ScreenRect {
        min: [0.0, 0.0],
        size: [40.0, 30.0],
    };
    let zp = ZoomPan {
        zoom: 1.7,
        pan: [3.0, -2.0],
    };
    let mapping = ViewMapping::new(&volume.geometry, View::Axial, 1, rect, &zp);
    let window = WindowLevel::new(3000.0, 300.0);
    let mut p = params(window, &volume);
    p.linear = true;
    let pixels = gpu.draw(size, &ViewUniforms::new(&mapping, &p, 1.0), false);
    let mut checked = 0;
    for y in 0..size[1] as usize {
        for x in 0..size[0] as usize {
            let centre = [x as f32 + 0.5, y as f32 + 0.5];
            let v = mapping.screen_to_voxel(centre);
            let inside = (0..3).all(|a| v[a] >= -0.5 && v[a] < dims[a] as f32 - 0.5);
            // Skip pixels within a hair of the image edge.
            let margin = (0..2).all(|a| {
                let d = mapping.screen_to_display(centre)[a];
                let n = [mapping.map.width, mapping.map.height][a] as f32;
                (d + 0.5).abs() > 0.05 && (d - (n - 0.5)).abs() > 0.05
            });
            if !inside || !margin {
                continue;
            }
            let expected = window.apply_u8(trilinear(&volume, v));
            let got = pixels[(y * size[0] as usize + x) * 4];
            assert!(
                got.abs_diff(expected) <= 1,
                "pixel ({x}, {y}) voxel {v:?}: GPU {got}, CPU {expected}"
            );
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} pixels inside the image");
}

#[test]
fn overlay_fill_and_region_update_composite_as_expected() {
    let mut gpu = Gpu::new();
    let dims = [16, 12, 4];
    let n: usize = dims.iter().product();
    let volume = Volume::new(
        Geometry::with_signs(dims, [1.0; 3], [-1.0, -1.0, 1.0]),
        Voxels::I16(noise(n, 5).iter().map(|&v| v as i16).collect()),
    )
    .expect("sizes match");
    gpu.renderer
        .upload_volume(&gpu.rs.device, &gpu.rs.queue, &volume)
        .expect("upload");
    let table = LabelTable::default();
    gpu.renderer.set_label_colors(
        &gpu.rs.queue,
        &LabelColors::from_rgba8(&table.lut(), |_| true),
    );
    // Label 3 in a 5 x 4 box of slice 2 only; only that box is uploaded.
    let before = gpu.renderer.upload_stats().texture_bytes;
    gpu.renderer
        .update_mask_region(&gpu.rs.queue, [4, 3, 2], [5, 4, 1], &[3u8; 20])
        .expect("region fits");
    assert_eq!(gpu.renderer.upload_stats().texture_bytes - before, 20);
    assert!(
        gpu.renderer
            .update_mask_region(&gpu.rs.queue, [14, 0, 0], [5, 1, 1], &[1u8; 5])
            .is_err()
    );

    let window = WindowLevel::new(2000.0, 0.0);
    let (mapping, size) = one_to_one(&volume, View::Axial, 2);
    let mut p = params(window, &volume);
    p.overlay_mode = MODE_FILL;
    p.overlay_opacity = 0.5;
    let pixels = gpu.draw(size, &ViewUniforms::new(&mapping, &p, 1.0), true);
    let color = table.get(3).expect("infection colour").color;
    let slice = volume.slice(View::Axial, 2);
    let map = volume.slice_map(View::Axial);
    let mut labelled = 0;
    for row in 0..map.height {
        for col in 0..map.width {
            let v = map.voxel(col, row, 2);
            let in_box = (4..9).contains(&v[0]) && (3..7).contains(&v[1]);
            let grey = f32::from(window.apply_u8(slice.get(col, row)));
            let px = &pixels[(row * map.width + col) * 4..][..4];
            for c in 0..3 {
                let expected = if in_box {
                    0.5 * f32::from(color[c]) + 0.5 * grey
                } else {
                    grey
                };
                assert!(
                    (f32::from(px[c]) - expected).abs() <= 1.5,
                    "({col}, {row}) channel {c}: {} vs {expected}",
                    px[c]
                );
            }
            labelled += usize::from(in_box);
        }
    }
    assert_eq!(labelled, 20);
}
