// Grey-scale slice of a CT volume: window/level applied per fragment.
//
// The volume lives in a 3-D texture uploaded once per load (R16Sint for integer
// HU, R32Float otherwise; neither is filterable, so both are read with
// textureLoad and linear sampling is done here). Each view draws one
// full-viewport triangle; `ViewUniforms` maps the viewport's uv (0..1) onto
// continuous voxel coordinates (voxel centres at integers), so slice index,
// orientation, zoom, pan and aspect are all uniforms.

// keep in sync with `ViewUniforms` in src/render/uniforms.rs (and overlay.wgsl)
struct ViewUniforms {
    // Voxel coordinate (i, j, k) at uv = (0, 0), the view's top-left corner.
    origin: vec4<f32>,
    // Voxel step from uv.x = 0 to uv.x = 1 (left to right edge).
    span_u: vec4<f32>,
    // Voxel step from uv.y = 0 to uv.y = 1 (top to bottom edge).
    span_v: vec4<f32>,
    // HU shown black (level - width / 2).
    window_low: f32,
    // Window width in HU (> 0).
    window_width: f32,
    // 0: the volume is in `volume_int`, 1: in `volume_float`.
    volume_is_float: u32,
    // 0: nearest voxel, 1: trilinear interpolation.
    linear: u32,
    // Colour outside the volume (straight alpha).
    background: vec4<f32>,
    // Overlay opacity 0..1.
    overlay_opacity: f32,
    // Overlay bits: 1 = fill, 2 = outline.
    overlay_mode: u32,
    // Size of one framebuffer pixel in uv units.
    uv_per_pixel: vec2<f32>,
}

@group(0) @binding(0) var<uniform> view: ViewUniforms;
@group(0) @binding(1) var volume_int: texture_3d<i32>;
@group(0) @binding(2) var volume_float: texture_3d<f32>;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
}

// One triangle covering the viewport: uv (0,0), (2,0), (0,2).
@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    let uv = vec2<f32>(f32((index << 1u) & 2u), f32(index & 2u));
    var out: VertexOut;
    out.position = vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
    out.uv = uv;
    return out;
}

fn volume_dims() -> vec3<i32> {
    if view.volume_is_float != 0u {
        return vec3<i32>(textureDimensions(volume_float));
    }
    return vec3<i32>(textureDimensions(volume_int));
}

fn load_hu(c: vec3<i32>) -> f32 {
    if view.volume_is_float != 0u {
        return textureLoad(volume_float, c, 0).r;
    }
    return f32(textureLoad(volume_int, c, 0).r);
}

// Trilinear interpolation between the 8 voxels around `p`, clamped at the edges.
fn load_linear(p: vec3<f32>, dims: vec3<i32>) -> f32 {
    let base = floor(p);
    let f = p - base;
    let hi = dims - vec3<i32>(1);
    let c0 = clamp(vec3<i32>(base), vec3<i32>(0), hi);
    let c1 = clamp(vec3<i32>(base) + vec3<i32>(1), vec3<i32>(0), hi);
    let v000 = load_hu(vec3<i32>(c0.x, c0.y, c0.z));
    let v100 = load_hu(vec3<i32>(c1.x, c0.y, c0.z));
    let v010 = load_hu(vec3<i32>(c0.x, c1.y, c0.z));
    let v110 = load_hu(vec3<i32>(c1.x, c1.y, c0.z));
    let v001 = load_hu(vec3<i32>(c0.x, c0.y, c1.z));
    let v101 = load_hu(vec3<i32>(c1.x, c0.y, c1.z));
    let v011 = load_hu(vec3<i32>(c0.x, c1.y, c1.z));
    let v111 = load_hu(vec3<i32>(c1.x, c1.y, c1.z));
    let x00 = mix(v000, v100, f.x);
    let x10 = mix(v010, v110, f.x);
    let x01 = mix(v001, v101, f.x);
    let x11 = mix(v011, v111, f.x);
    return mix(mix(x00, x10, f.y), mix(x01, x11, f.y), f.z);
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let p = view.origin.xyz + in.uv.x * view.span_u.xyz + in.uv.y * view.span_v.xyz;
    let dims = volume_dims();
    if any(p < vec3<f32>(-0.5)) || any(p >= vec3<f32>(dims) - vec3<f32>(0.5)) {
        return view.background;
    }
    var hu: f32;
    if view.linear != 0u {
        hu = load_linear(p, dims);
    } else {
        let c = clamp(vec3<i32>(floor(p + vec3<f32>(0.5))), vec3<i32>(0), dims - vec3<i32>(1));
        hu = load_hu(c);
    }
    let grey = clamp((hu - view.window_low) / view.window_width, 0.0, 1.0);
    return vec4<f32>(grey, grey, grey, 1.0);
}
