// Label-mask overlay, drawn over the slice with premultiplied-alpha blending.
//
// The mask is a 3-D R8Uint texture on the volume grid; each label's colour comes
// from a 256-entry table (alpha 0 hides a label). Fill paints every labelled
// voxel at the overlay opacity; outline paints the fragments whose label differs
// from a neighbour one framebuffer pixel away, so the line stays one pixel wide
// at any zoom.

// keep in sync with `ViewUniforms` in src/render/uniforms.rs (and slice.wgsl)
struct ViewUniforms {
    origin: vec4<f32>,
    span_u: vec4<f32>,
    span_v: vec4<f32>,
    window_low: f32,
    window_width: f32,
    volume_is_float: u32,
    linear: u32,
    background: vec4<f32>,
    overlay_opacity: f32,
    overlay_mode: u32,
    uv_per_pixel: vec2<f32>,
}

// keep in sync with `LabelColors` in src/render/uniforms.rs
struct LabelColors {
    // Straight-alpha RGBA per label value; entry 0 (background) is transparent.
    colors: array<vec4<f32>, 256>,
}

const MODE_FILL: u32 = 1u;
const MODE_OUTLINE: u32 = 2u;

@group(0) @binding(0) var<uniform> view: ViewUniforms;
@group(0) @binding(3) var mask: texture_3d<u32>;
@group(0) @binding(4) var<uniform> lut: LabelColors;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
}

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    let uv = vec2<f32>(f32((index << 1u) & 2u), f32(index & 2u));
    var out: VertexOut;
    out.position = vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
    out.uv = uv;
    return out;
}

fn voxel_at(uv: vec2<f32>) -> vec3<f32> {
    return view.origin.xyz + uv.x * view.span_u.xyz + uv.y * view.span_v.xyz;
}

// Label of the voxel nearest to `p`; 0 outside the grid.
fn label_at(p: vec3<f32>, dims: vec3<i32>) -> u32 {
    if any(p < vec3<f32>(-0.5)) || any(p >= vec3<f32>(dims) - vec3<f32>(0.5)) {
        return 0u;
    }
    let c = clamp(vec3<i32>(floor(p + vec3<f32>(0.5))), vec3<i32>(0), dims - vec3<i32>(1));
    return textureLoad(mask, c, 0).r;
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let dims = vec3<i32>(textureDimensions(mask));
    let label = label_at(voxel_at(in.uv), dims);
    if label == 0u {
        return vec4<f32>(0.0);
    }
    let color = lut.colors[label];
    var alpha = 0.0;
    if (view.overlay_mode & MODE_FILL) != 0u {
        alpha = view.overlay_opacity;
    }
    if (view.overlay_mode & MODE_OUTLINE) != 0u {
        let du = vec2<f32>(view.uv_per_pixel.x, 0.0);
        let dv = vec2<f32>(0.0, view.uv_per_pixel.y);
        let edge = label_at(voxel_at(in.uv + du), dims) != label
            || label_at(voxel_at(in.uv - du), dims) != label
            || label_at(voxel_at(in.uv + dv), dims) != label
            || label_at(voxel_at(in.uv - dv), dims) != label;
        if edge {
            // Outlines stay visible at low fill opacity.
            alpha = min(1.0, 2.0 * view.overlay_opacity);
        }
    }
    let a = alpha * color.a;
    return vec4<f32>(color.rgb * a, a);
}
