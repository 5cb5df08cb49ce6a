//! Every WGSL shader in `shaders/` parses and validates with naga, and the Rust
//! uniform structs match the WGSL layouts (size and every member offset).
#![cfg(feature = "gui")]

use lungscope::render::{LabelColors, ViewUniforms};
use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};

fn shader_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("shaders/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "wgsl"))
        .collect();
    files.sort();
    files
}

fn parse(path: &Path) -> naga::Module {
    let src = std::fs::read_to_string(path).expect("readable shader");
    naga::front::wgsl::parse_str(&src)
        .unwrap_or_else(|e| panic!("{}:\n{}", path.display(), e.emit_to_string(&src)))
}

#[test]
fn all_shaders_validate() {
    let files = shader_files();
    assert!(
        files.len() >= 2,
        "expected slice.wgsl and overlay.wgsl, found {files:?}"
    );
    for path in files {
        let module = parse(&path);
        let src = std::fs::read_to_string(&path).expect("readable shader");
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}:\n{}", path.display(), e.emit_to_string(&src)));
        let entry_points: Vec<_> = module
            .entry_points
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert!(
            entry_points.contains(&"vs_main") && entry_points.contains(&"fs_main"),
            "{}: entry points {entry_points:?}",
            path.display()
        );
    }
}

/// `(name, offset)` of every member of WGSL struct `name`, and its size.
fn wgsl_layout(module: &naga::Module, name: &str) -> (Vec<(String, u32)>, u32) {
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).expect("layout");
    for (handle, ty) in module.types.iter() {
        if ty.name.as_deref() != Some(name) {
            continue;
        }
        if let naga::TypeInner::Struct { members, .. } = &ty.inner {
            let m = members
                .iter()
                .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
                .collect();
            return (m, layouter[handle].size);
        }
    }
    panic!("struct {name} not found");
}

#[test]
fn view_uniforms_match_both_shaders() {
    let rust: [(&str, usize); 11] = [
        ("origin", offset_of!(ViewUniforms, origin)),
        ("span_u", offset_of!(ViewUniforms, span_u)),
        ("span_v", offset_of!(ViewUniforms, span_v)),
        ("window_low", offset_of!(ViewUniforms, window_low)),
        ("window_width", offset_of!(ViewUniforms, window_width)),
        ("volume_is_float", offset_of!(ViewUniforms, volume_is_float)),
        ("linear", offset_of!(ViewUniforms, linear)),
        ("background", offset_of!(ViewUniforms, background)),
        ("overlay_opacity", offset_of!(ViewUniforms, overlay_opacity)),
        ("overlay_mode", offset_of!(ViewUniforms, overlay_mode)),
        ("uv_per_pixel", offset_of!(ViewUniforms, uv_per_pixel)),
    ];
    for file in ["slice.wgsl", "overlay.wgsl"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("shaders")
            .join(file);
        let (members, size) = wgsl_layout(&parse(&path), "ViewUniforms");
        assert_eq!(
            size as usize,
            size_of::<ViewUniforms>(),
            "{file}: struct size"
        );
        let wgsl: Vec<(String, usize)> =
            members.into_iter().map(|(n, o)| (n, o as usize)).collect();
        let rust: Vec<(String, usize)> = rust.iter().map(|(n, o)| (n.to_string(), *o)).collect();
        assert_eq!(wgsl, rust, "{file}: member names and offsets");
    }
}

#[test]
fn label_colors_match_overlay_shader() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders/overlay.wgsl");
    let (members, size) = wgsl_layout(&parse(&path), "LabelColors");
    assert_eq!(size as usize, size_of::<LabelColors>());
    assert_eq!(members, vec![("colors".to_string(), 0)]);
}
