//! The slice renderer: pipelines, the volume and mask textures, per-view uniforms.
//!
//! The volume is uploaded once per load into a 3-D texture (`R16Sint` for integer
//! HU, `R32Float` otherwise) and a zero-filled `R8Uint` mask texture of the same
//! size is created with it. Drawing a view writes only its uniform block (96
//! bytes): slice, window/level, zoom/pan and overlay style never touch a texture.
//! Mask edits and streamed segmentation results go through
//! [`SliceRenderer::update_mask_region`], which writes only the touched box.

use super::uniforms::{LabelColors, ViewUniforms};
use crate::volume::{Volume, Voxels};
use wgpu::util::DeviceExt;

/// Largest slab written by one `write_texture` call while uploading a volume
/// (also the app's per-frame upload budget unit).
pub const UPLOAD_CHUNK_BYTES: usize = 16 << 20;

/// Errors of the GPU renderer (bad sizes, no volume, limits).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    /// A volume dimension exceeds the device's 3-D texture limit.
    #[error(
        "volume {dims:?} is larger than this GPU's 3-D texture limit ({limit} voxels per axis)"
    )]
    TooLarge {
        /// Volume dimensions.
        dims: [usize; 3],
        /// `max_texture_dimension_3d`.
        limit: u32,
    },
    /// A volume with no voxels.
    #[error("volume {dims:?} has no voxels")]
    Empty {
        /// Volume dimensions.
        dims: [usize; 3],
    },
    /// No volume has been uploaded yet.
    #[error("no volume is loaded on the GPU")]
    NoVolume,
    /// A mask region outside the grid.
    #[error("mask region at {origin:?} of size {size:?} lies outside the grid {dims:?}")]
    RegionOutOfBounds {
        /// Region origin.
        origin: [usize; 3],
        /// Region size.
        size: [usize; 3],
        /// Grid dimensions.
        dims: [usize; 3],
    },
    /// Label data whose length does not match the region.
    #[error("mask data has {found} labels, the region needs {expected}")]
    DataSize {
        /// Labels needed.
        expected: usize,
        /// Labels given.
        found: usize,
    },
}

/// Bytes written to the GPU since the renderer was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadStats {
    /// Bytes written into textures (volume and mask).
    pub texture_bytes: u64,
    /// Number of texture writes.
    pub texture_writes: u64,
    /// Bytes written into uniform buffers (view parameters, label colours).
    pub uniform_bytes: u64,
}

struct GpuVolume {
    texture: wgpu::Texture,
    dims: [usize; 3],
    is_float: bool,
}

struct Slot {
    buffer: wgpu::Buffer,
    bind_group: Option<wgpu::BindGroup>,
}

/// GPU resources for drawing slices. One per wgpu device; stored in egui-wgpu's
/// callback resources by the app, or used directly for offscreen rendering.
pub struct SliceRenderer {
    slice_pipeline: wgpu::RenderPipeline,
    overlay_pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    lut_buffer: wgpu::Buffer,
    dummy_int: wgpu::Texture,
    dummy_float: wgpu::Texture,
    volume: Option<GpuVolume>,
    mask: Option<wgpu::Texture>,
    slots: Vec<Slot>,
    target_format: wgpu::TextureFormat,
    stats: UploadStats,
}

impl SliceRenderer {
    /// Builds the pipelines for a colour target of `target_format` with
    /// `msaa_samples` samples (1 for none) and no depth buffer.
    pub fn new(
        device: &wgpu::Device,
        target_format: wgpu::TextureFormat,
        msaa_samples: u32,
    ) -> Self {
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("lungscope slice"),
            entries: &[
                uniform_entry(0, std::mem::size_of::<ViewUniforms>()),
                texture_entry(1, wgpu::TextureSampleType::Sint),
                texture_entry(2, wgpu::TextureSampleType::Float { filterable: false }),
                texture_entry(3, wgpu::TextureSampleType::Uint),
                uniform_entry(4, std::mem::size_of::<LabelColors>()),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("lungscope slice"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let slice_pipeline = pipeline(
            device,
            &pipeline_layout,
            "lungscope slice",
            include_str!("../../shaders/slice.wgsl"),
            target_format,
            msaa_samples,
            None,
        );
        let overlay_pipeline = pipeline(
            device,
            &pipeline_layout,
            "lungscope overlay",
            include_str!("../../shaders/overlay.wgsl"),
            target_format,
            msaa_samples,
            Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING),
        );
        let lut_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("lungscope label colours"),
            contents: bytemuck::bytes_of(&LabelColors::from_rgba8(
                &crate::mask::LabelTable::default().lut(),
                |_| true,
            )),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        Self {
            slice_pipeline,
            overlay_pipeline,
            layout,
            lut_buffer,
            dummy_int: texture_3d(device, [1, 1, 1], wgpu::TextureFormat::R16Sint, "dummy int"),
            dummy_float: texture_3d(
                device,
                [1, 1, 1],
                wgpu::TextureFormat::R32Float,
                "dummy f32",
            ),
            volume: None,
            mask: None,
            slots: Vec::new(),
            target_format,
            stats: UploadStats::default(),
        }
    }

    /// The colour format the pipelines draw into.
    pub fn target_format(&self) -> wgpu::TextureFormat {
        self.target_format
    }

    /// Uploads a volume (replacing any previous one) and creates an empty mask
    /// texture on its grid, all at once. The app spreads the same work over
    /// frames with [`Self::create_volume`] and [`Self::write_volume_slab`].
    pub fn upload_volume(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        volume: &Volume,
    ) -> Result<(), RenderError> {
        self.create_volume(device, volume)?;
        let dims = volume.dims();
        let slab = slab_depth(dims, volume.voxels.byte_len() / volume.voxels.len().max(1));
        let mut z = 0;
        while z < dims[2] {
            let depth = slab.min(dims[2] - z);
            self.write_volume_slab(queue, volume, z, depth)?;
            z += depth;
        }
        Ok(())
    }

    /// Creates the volume texture for `volume` (contents zero until written with
    /// [`Self::write_volume_slab`]) and a zero-filled mask texture of the same
    /// size (wgpu zero-fills new textures: an empty mask costs no upload).
    pub fn create_volume(
        &mut self,
        device: &wgpu::Device,
        volume: &Volume,
    ) -> Result<(), RenderError> {
        let dims = volume.dims();
        if dims.contains(&0) {
            return Err(RenderError::Empty { dims });
        }
        let limit = device.limits().max_texture_dimension_3d;
        if dims.iter().any(|&d| d > limit as usize) {
            return Err(RenderError::TooLarge { dims, limit });
        }
        let (format, is_float) = match &volume.voxels {
            Voxels::I16(_) => (wgpu::TextureFormat::R16Sint, false),
            Voxels::F32(_) => (wgpu::TextureFormat::R32Float, true),
        };
        let texture = texture_3d(device, dims, format, "volume");
        self.mask = Some(texture_3d(
            device,
            dims,
            wgpu::TextureFormat::R8Uint,
            "mask",
        ));
        self.volume = Some(GpuVolume {
            texture,
            dims,
            is_float,
        });
        self.rebuild_bind_groups(device);
        Ok(())
    }

    /// Writes slices `z0 .. z0 + depth` (storage axis `k`) of `volume` into the
    /// volume texture made by [`Self::create_volume`] for it.
    pub fn write_volume_slab(
        &mut self,
        queue: &wgpu::Queue,
        volume: &Volume,
        z0: usize,
        depth: usize,
    ) -> Result<(), RenderError> {
        let gpu = self.volume.as_ref().ok_or(RenderError::NoVolume)?;
        let dims = gpu.dims;
        let matches =
            dims == volume.dims() && gpu.is_float == matches!(volume.voxels, Voxels::F32(_));
        if !matches || z0 + depth > dims[2] {
            return Err(RenderError::RegionOutOfBounds {
                origin: [0, 0, z0],
                size: [volume.dims()[0], volume.dims()[1], depth],
                dims,
            });
        }
        let (bytes, bpv): (&[u8], usize) = match &volume.voxels {
            Voxels::I16(v) => (bytemuck::cast_slice(v), 2),
            Voxels::F32(v) => (bytemuck::cast_slice(v), 4),
        };
        let slice_bytes = dims[0] * dims[1] * bpv;
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &gpu.texture,
                mip_level: 0,
                origin: wgpu::Origin3d {
                    x: 0,
                    y: 0,
                    z: z0 as u32,
                },
                aspect: wgpu::TextureAspect::All,
            },
            &bytes[z0 * slice_bytes..(z0 + depth) * slice_bytes],
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some((dims[0] * bpv) as u32),
                rows_per_image: Some(dims[1] as u32),
            },
            extent([dims[0], dims[1], depth]),
        );
        self.stats.texture_bytes += (depth * slice_bytes) as u64;
        self.stats.texture_writes += 1;
        Ok(())
    }

    /// Drops the volume and mask textures.
    pub fn clear_volume(&mut self, device: &wgpu::Device) {
        self.volume = None;
        self.mask = None;
        self.rebuild_bind_groups(device);
    }

    /// Dimensions of the uploaded volume.
    pub fn volume_dims(&self) -> Option<[usize; 3]> {
        self.volume.as_ref().map(|v| v.dims)
    }

    /// True if the uploaded volume is stored as `R32Float`.
    pub fn volume_is_float(&self) -> bool {
        self.volume.as_ref().is_some_and(|v| v.is_float)
    }

    /// Replaces the whole mask (column-major labels on the volume grid).
    pub fn upload_mask(&mut self, queue: &wgpu::Queue, labels: &[u8]) -> Result<(), RenderError> {
        let dims = self.volume_dims().ok_or(RenderError::NoVolume)?;
        self.update_mask_region(queue, [0, 0, 0], dims, labels)
    }

    /// Writes labels into the box at `origin` of size `size` (column-major
    /// within the box, `i` fastest). Only the box's bytes are uploaded.
    pub fn update_mask_region(
        &mut self,
        queue: &wgpu::Queue,
        origin: [usize; 3],
        size: [usize; 3],
        labels: &[u8],
    ) -> Result<(), RenderError> {
        let dims = self.volume_dims().ok_or(RenderError::NoVolume)?;
        if (0..3).any(|a| origin[a] + size[a] > dims[a]) {
            return Err(RenderError::RegionOutOfBounds { origin, size, dims });
        }
        let expected = size[0] * size[1] * size[2];
        if labels.len() != expected {
            return Err(RenderError::DataSize {
                expected,
                found: labels.len(),
            });
        }
        if expected == 0 {
            return Ok(());
        }
        let Some(mask) = &self.mask else {
            return Err(RenderError::NoVolume);
        };
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: mask,
                mip_level: 0,
                origin: wgpu::Origin3d {
                    x: origin[0] as u32,
                    y: origin[1] as u32,
                    z: origin[2] as u32,
                },
                aspect: wgpu::TextureAspect::All,
            },
            labels,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(size[0] as u32),
                rows_per_image: Some(size[1] as u32),
            },
            extent(size),
        );
        self.stats.texture_bytes += expected as u64;
        self.stats.texture_writes += 1;
        Ok(())
    }

    /// Sets the label colour table (visibility is its alpha).
    pub fn set_label_colors(&mut self, queue: &wgpu::Queue, colors: &LabelColors) {
        queue.write_buffer(&self.lut_buffer, 0, bytemuck::bytes_of(colors));
        self.stats.uniform_bytes += std::mem::size_of::<LabelColors>() as u64;
    }

    /// Writes the uniforms of view slot `slot` (creating the slot on first use).
    /// Call before [`Self::paint`] in the same frame; each view drawn in one frame
    /// needs its own slot.
    pub fn prepare(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        slot: usize,
        uniforms: &ViewUniforms,
    ) {
        while self.slots.len() <= slot {
            let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("lungscope view uniforms"),
                size: std::mem::size_of::<ViewUniforms>() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let bind_group = self.bind_group(device, &buffer);
            self.slots.push(Slot { buffer, bind_group });
        }
        queue.write_buffer(&self.slots[slot].buffer, 0, bytemuck::bytes_of(uniforms));
        self.stats.uniform_bytes += std::mem::size_of::<ViewUniforms>() as u64;
    }

    /// Draws slot `slot` into the current viewport: the slice, then the overlay
    /// if `overlay` is set. Draws nothing before a volume is uploaded.
    pub fn paint(&self, pass: &mut wgpu::RenderPass<'_>, slot: usize, overlay: bool) {
        let Some(bind_group) = self.slots.get(slot).and_then(|s| s.bind_group.as_ref()) else {
            return;
        };
        pass.set_bind_group(0, bind_group, &[]);
        pass.set_pipeline(&self.slice_pipeline);
        pass.draw(0..3, 0..1);
        if overlay {
            pass.set_pipeline(&self.overlay_pipeline);
            pass.draw(0..3, 0..1);
        }
    }

    /// Bytes uploaded so far.
    pub fn upload_stats(&self) -> UploadStats {
        self.stats
    }

    fn rebuild_bind_groups(&mut self, device: &wgpu::Device) {
        let groups: Vec<_> = self
            .slots
            .iter()
            .map(|s| self.bind_group(device, &s.buffer))
            .collect();
        for (slot, group) in self.slots.iter_mut().zip(groups) {
            slot.bind_group = group;
        }
    }

    fn bind_group(
        &self,
        device: &wgpu::Device,
        uniforms: &wgpu::Buffer,
    ) -> Option<wgpu::BindGroup> {
        let volume = self.volume.as_ref()?;
        let mask = self.mask.as_ref()?;
        let (int_tex, float_tex) = if volume.is_float {
            (&self.dummy_int, &volume.texture)
        } else {
            (&volume.texture, &self.dummy_float)
        };
        let view = |t: &wgpu::Texture| t.create_view(&wgpu::TextureViewDescriptor::default());
        let (int_view, float_view, mask_view) = (view(int_tex), view(float_tex), view(mask));
        Some(device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("lungscope slice"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniforms.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&int_view),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(&float_view),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::TextureView(&mask_view),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: self.lut_buffer.as_entire_binding(),
                },
            ],
        }))
    }
}

/// Slices per upload slab: as many as fit in [`UPLOAD_CHUNK_BYTES`], at least one.
pub fn slab_depth(dims: [usize; 3], bytes_per_voxel: usize) -> usize {
    (UPLOAD_CHUNK_BYTES / (dims[0] * dims[1] * bytes_per_voxel).max(1)).max(1)
}

fn extent(size: [usize; 3]) -> wgpu::Extent3d {
    wgpu::Extent3d {
        width: size[0] as u32,
        height: size[1] as u32,
        depth_or_array_layers: size[2] as u32,
    }
}

fn texture_3d(
    device: &wgpu::Device,
    dims: [usize; 3],
    format: wgpu::TextureFormat,
    label: &str,
) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: extent(dims),
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D3,
        format,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    })
}

fn uniform_entry(binding: u32, size: usize) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: wgpu::BufferSize::new(size as u64),
        },
        count: None,
    }
}

fn texture_entry(binding: u32, sample_type: wgpu::TextureSampleType) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Texture {
            sample_type,
            view_dimension: wgpu::TextureViewDimension::D3,
            multisampled: false,
        },
        count: None,
    }
}

fn pipeline(
    device: &wgpu::Device,
    layout: &wgpu::PipelineLayout,
    label: &str,
    source: &str,
    format: wgpu::TextureFormat,
    msaa_samples: u32,
    blend: Option<wgpu::BlendState>,
) -> wgpu::RenderPipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module: &module,
            entry_point: Some("vs_main"),
            compilation_options: Default::default(),
            buffers: &[],
        },
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState {
            count: msaa_samples.max(1),
            ..Default::default()
        },
        fragment: Some(wgpu::FragmentState {
            module: &module,
            entry_point: Some("fs_main"),
            compilation_options: Default::default(),
            targets: &[Some(wgpu::ColorTargetState {
                format,
                blend,
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        multiview_mask: None,
        cache: None,
    })
}
