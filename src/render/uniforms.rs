//! Uniform blocks shared with the WGSL shaders, byte for byte.
//!
//! Layout rules (WGSL uniform address space): `vec4<f32>` aligns to 16 bytes,
//! `vec2<f32>` to 8, scalars to 4; the struct size rounds up to 16. Every field
//! below is placed so that `#[repr(C)]` gives the same offsets with no implicit
//! padding, which `bytemuck::Pod` checks at compile time and the naga layout test
//! (`tests/gui/shaders.rs`) checks against the shader source.

use super::mapping::ViewMapping;
use crate::windowing::WindowLevel;
use bytemuck::{Pod, Zeroable};

/// Overlay drawing mode bit: fill labelled voxels.
pub const MODE_FILL: u32 = 1;
/// Overlay drawing mode bit: outline label boundaries.
pub const MODE_OUTLINE: u32 = 2;

/// Per-view parameters of both shaders.
// keep in sync with `struct ViewUniforms` in shaders/slice.wgsl and shaders/overlay.wgsl
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct ViewUniforms {
    /// Continuous voxel coordinate `(i, j, k, _)` at the view's top-left corner
    /// (voxel centres at integers).
    pub origin: [f32; 4],
    /// Voxel step across the whole view width (left to right edge).
    pub span_u: [f32; 4],
    /// Voxel step across the whole view height (top to bottom edge).
    pub span_v: [f32; 4],
    /// HU shown black (`level - width / 2`).
    pub window_low: f32,
    /// Window width in HU (> 0).
    pub window_width: f32,
    /// 1 if the volume is stored as `R32Float`, 0 for `R16Sint`.
    pub volume_is_float: u32,
    /// 1 for trilinear interpolation, 0 for nearest voxel.
    pub linear: u32,
    /// Colour outside the volume (straight alpha, 0..1).
    pub background: [f32; 4],
    /// Overlay opacity 0..1.
    pub overlay_opacity: f32,
    /// [`MODE_FILL`] | [`MODE_OUTLINE`]; 0 hides the overlay.
    pub overlay_mode: u32,
    /// Size of one framebuffer pixel in the view's uv units (1 / viewport pixels).
    pub uv_per_pixel: [f32; 2],
}

/// What a view shows besides its geometry: window, sampling, overlay style.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DisplayParams {
    /// Window/level.
    pub window: WindowLevel,
    /// True if the volume texture is `R32Float` (else `R16Sint`).
    pub volume_is_float: bool,
    /// Trilinear interpolation instead of nearest voxel.
    pub linear: bool,
    /// Colour outside the volume (straight alpha, 0..1).
    pub background: [f32; 4],
    /// Overlay opacity 0..1.
    pub overlay_opacity: f32,
    /// Overlay mode bits ([`MODE_FILL`], [`MODE_OUTLINE`]).
    pub overlay_mode: u32,
}

impl ViewUniforms {
    /// The uniforms of one view. `pixels_per_point` converts the view's size in
    /// points to framebuffer pixels (for the one-pixel outline).
    pub fn new(mapping: &ViewMapping, params: &DisplayParams, pixels_per_point: f32) -> Self {
        let (origin, span_u, span_v) = mapping.voxel_frame();
        let ext = |v: [f32; 3]| [v[0], v[1], v[2], 0.0];
        let px = |points: f32| 1.0 / (points * pixels_per_point).max(1.0);
        Self {
            origin: ext(origin),
            span_u: ext(span_u),
            span_v: ext(span_v),
            window_low: params.window.low(),
            window_width: params.window.width.max(WindowLevel::MIN_WIDTH),
            volume_is_float: u32::from(params.volume_is_float),
            linear: u32::from(params.linear),
            background: params.background,
            overlay_opacity: params.overlay_opacity.clamp(0.0, 1.0),
            overlay_mode: params.overlay_mode,
            uv_per_pixel: [px(mapping.rect.size[0]), px(mapping.rect.size[1])],
        }
    }
}

/// Number of entries in the label colour table (one per `u8` label value).
pub const LABEL_COUNT: usize = 256;

/// The label colour table as the overlay shader reads it: straight-alpha RGBA in
/// 0..1 per label value.
// keep in sync with `struct LabelColors` in shaders/overlay.wgsl
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct LabelColors {
    /// RGBA per label value.
    pub colors: [[f32; 4]; LABEL_COUNT],
}

impl LabelColors {
    /// A table from 8-bit RGBA colours (`mask::LabelTable::lut`), hiding the labels
    /// for which `visible` returns false. Label 0 is always transparent.
    pub fn from_rgba8(lut: &[[u8; 4]], visible: impl Fn(u8) -> bool) -> Self {
        let mut colors = [[0.0f32; 4]; LABEL_COUNT];
        for (value, (out, c)) in colors.iter_mut().zip(lut).enumerate().skip(1) {
            let shown = u8::try_from(value).is_ok_and(&visible);
            *out = [
                f32::from(c[0]) / 255.0,
                f32::from(c[1]) / 255.0,
                f32::from(c[2]) / 255.0,
                if shown { f32::from(c[3]) / 255.0 } else { 0.0 },
            ];
        }
        Self { colors }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_multiples_of_16() {
        assert_eq!(std::mem::size_of::<ViewUniforms>() % 16, 0);
        assert_eq!(std::mem::size_of::<LabelColors>(), LABEL_COUNT * 16);
    }

    #[test]
    fn hidden_labels_are_transparent() {
        let lut = crate::mask::LabelTable::default().lut();
        let t = LabelColors::from_rgba8(&lut, |v| v != 2);
        assert_eq!(t.colors[0][3], 0.0);
        assert_eq!(t.colors[1][3], 1.0);
        assert_eq!(t.colors[2][3], 0.0);
        assert!((t.colors[3][0] - 1.0).abs() < 1e-6);
    }
}
