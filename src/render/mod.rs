//! GPU slice rendering with wgpu (WGSL shaders in `shaders/`).
