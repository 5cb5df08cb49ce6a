//! Offscreen rendering of one view into CPU memory (tests, benchmarks, exports).

use super::renderer::SliceRenderer;
use super::uniforms::ViewUniforms;

/// Errors of offscreen rendering.
#[derive(Debug, thiserror::Error)]
pub enum OffscreenError {
    /// The renderer draws into a format this read-back does not decode.
    #[error("offscreen read-back supports Rgba8Unorm/Bgra8Unorm targets, not {0:?}")]
    Format(wgpu::TextureFormat),
    /// Waiting for the GPU failed.
    #[error("waiting for the GPU failed: {0}")]
    Poll(#[from] wgpu::PollError),
    /// Mapping the read-back buffer failed.
    #[error("reading the rendered image back failed: {0}")]
    Map(String),
}

/// Renders one view of `size` pixels with `renderer` (slot `slot`) and returns
/// its pixels as tightly packed RGBA8, top row first.
pub fn render_rgba(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    renderer: &mut SliceRenderer,
    slot: usize,
    size: [u32; 2],
    uniforms: &ViewUniforms,
    overlay: bool,
) -> Result<Vec<u8>, OffscreenError> {
    let format = renderer.target_format();
    let bgra = match format {
        wgpu::TextureFormat::Rgba8Unorm => false,
        wgpu::TextureFormat::Bgra8Unorm => true,
        other => return Err(OffscreenError::Format(other)),
    };
    let target = device.create_texture(&wgpu::TextureDescriptor {
        label: Some("lungscope offscreen"),
        size: wgpu::Extent3d {
            width: size[0],
            height: size[1],
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let view = target.create_view(&wgpu::TextureViewDescriptor::default());
    renderer.prepare(device, queue, slot, uniforms);
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("lungscope offscreen"),
    });
    {
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("lungscope offscreen"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &view,
                resolve_target: None,
                depth_slice: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                    store: wgpu::StoreOp::Store,
                },
            })],
            ..Default::default()
        });
        renderer.paint(&mut pass, slot, overlay);
    }
    let unpadded = size[0] as usize * 4;
    let align = wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as usize;
    let padded = unpadded.div_ceil(align) * align;
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("lungscope read-back"),
        size: (padded * size[1] as usize) as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    encoder.copy_texture_to_buffer(
        target.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded as u32),
                rows_per_image: None,
            },
        },
        wgpu::Extent3d {
            width: size[0],
            height: size[1],
            depth_or_array_layers: 1,
        },
    );
    let submission = queue.submit(std::iter::once(encoder.finish()));
    let (tx, rx) = std::sync::mpsc::channel();
    buffer
        .slice(..)
        .map_async(wgpu::MapMode::Read, move |r| drop(tx.send(r)));
    device.poll(wgpu::PollType::Wait {
        submission_index: Some(submission),
        timeout: Some(std::time::Duration::from_secs(30)),
    })?;
    rx.recv()
        .map_err(|e| OffscreenError::Map(e.to_string()))?
        .map_err(|e| OffscreenError::Map(e.to_string()))?;
    let mapped = buffer
        .slice(..)
        .get_mapped_range()
        .map_err(|e| OffscreenError::Map(e.to_string()))?;
    let mut out = Vec::with_capacity(unpadded * size[1] as usize);
    for row in mapped.chunks_exact(padded) {
        out.extend_from_slice(&row[..unpadded]);
    }
    drop(mapped);
    buffer.unmap();
    if bgra {
        for px in out.chunks_exact_mut(4) {
            px.swap(0, 2);
        }
    }
    Ok(out)
}
