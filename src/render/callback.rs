//! The egui-wgpu paint callback that draws one view with the [`SliceRenderer`]
//! kept in egui-wgpu's callback resources.

use super::renderer::SliceRenderer;
use super::uniforms::ViewUniforms;

/// Draws one view: `prepare` writes its uniforms, `paint` issues its draws.
///
/// The callback carries everything it needs by value, so a frame that is laid
/// out several times or never painted loses nothing.
#[derive(Debug, Clone, Copy)]
pub struct SliceCallback {
    /// The renderer slot of this view (distinct per view drawn in one frame).
    pub slot: usize,
    /// The view's parameters.
    pub uniforms: ViewUniforms,
    /// Draw the mask overlay too.
    pub overlay: bool,
}

impl egui_wgpu::CallbackTrait for SliceCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &egui_wgpu::ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        if let Some(renderer) = resources.get_mut::<SliceRenderer>() {
            renderer.prepare(device, queue, self.slot, &self.uniforms);
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        if let Some(renderer) = resources.get::<SliceRenderer>() {
            renderer.paint(pass, self.slot, self.overlay);
        }
    }
}

/// Registers a [`SliceRenderer`] in egui-wgpu's callback resources (once per
/// render state; later calls keep the existing one).
pub fn install(render_state: &egui_wgpu::RenderState) {
    let mut renderer = render_state.renderer.write();
    if renderer.callback_resources.get::<SliceRenderer>().is_none() {
        let slice = SliceRenderer::new(&render_state.device, render_state.target_format, 1);
        renderer.callback_resources.insert(slice);
    }
}
