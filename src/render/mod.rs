//! GPU slice rendering with wgpu (WGSL shaders in `shaders/`).
//!
//! - [`mapping`]: screen ↔ voxel math of a view (fit, zoom, pan, aspect); no GPU.
//! - [`uniforms`]: the uniform blocks mirrored from WGSL.
//! - [`renderer`]: [`SliceRenderer`], the pipelines and textures (volume uploaded
//!   once per load, mask updated by region).
//! - [`callback`]: the egui-wgpu paint callback.
//! - [`offscreen`]: draw a view into CPU memory (pixel tests, benchmarks).
//! - [`headless`]: a wgpu render state without a window.

pub mod callback;
pub mod headless;
pub mod mapping;
pub mod offscreen;
pub mod renderer;
pub mod uniforms;

pub use callback::SliceCallback;
pub use mapping::{ScreenRect, ViewMapping, ZoomPan};
pub use renderer::{RenderError, SliceRenderer, UploadStats};
pub use uniforms::{DisplayParams, LabelColors, MODE_FILL, MODE_OUTLINE, ViewUniforms};
