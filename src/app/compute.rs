//! One wgpu device for the viewer and the model.
//!
//! eframe creates the wgpu device; [`wgpu_configuration`] makes it ask for the
//! adapter's limits and features (minus `MAPPABLE_PRIMARY_BUFFERS`, which burn's
//! runtime does not want, and minus wgpu's experimental features, which would need
//! an unsafe opt-in and make device creation fail without it) instead of wgpu's
//! defaults, so burn can compute on the
//! same device ([`SharedGpu::register`], once per process) and the segmentation
//! needs no second device. [`resolve_device`] turns the user's Auto | GPU | CPU
//! choice into a burn device, falling back to the CPU with a message whenever the
//! GPU is missing, a software rasteriser (under Auto) or fails.

use crate::seg::device::{BackendKind, DeviceChoice, SelectedDevice, cpu_device};
use std::sync::{Arc, Mutex};

/// The device descriptor lungscope asks eframe for: the adapter's own limits and
/// features (minus `MAPPABLE_PRIMARY_BUFFERS` and the experimental ones) so burn
/// can share the device. On OpenGL, which burn cannot compute on, eframe's defaults.
pub fn compute_device_descriptor(adapter: &wgpu::Adapter) -> wgpu::DeviceDescriptor<'static> {
    if adapter.get_info().backend == wgpu::Backend::Gl {
        return wgpu::DeviceDescriptor {
            label: Some("lungscope viewer device (OpenGL)"),
            required_limits: wgpu::Limits {
                max_texture_dimension_2d: 8192,
                ..wgpu::Limits::downlevel_webgl2_defaults()
            },
            ..Default::default()
        };
    }
    wgpu::DeviceDescriptor {
        label: Some("lungscope shared device"),
        required_features: adapter.features()
            - wgpu::Features::MAPPABLE_PRIMARY_BUFFERS
            - wgpu::Features::all_experimental_mask(),
        required_limits: adapter.limits(),
        ..Default::default()
    }
}

/// `setup` with [`compute_device_descriptor`] (an existing device is left alone).
pub fn with_compute_device(setup: egui_wgpu::WgpuSetup) -> egui_wgpu::WgpuSetup {
    match setup {
        egui_wgpu::WgpuSetup::CreateNew(mut s) => {
            s.device_descriptor = Arc::new(compute_device_descriptor);
            egui_wgpu::WgpuSetup::CreateNew(s)
        }
        other => other,
    }
}

/// eframe's wgpu configuration with a device burn can share.
pub fn wgpu_configuration() -> egui_wgpu::WgpuConfiguration {
    let mut config = egui_wgpu::WgpuConfiguration::default();
    config.wgpu_setup = with_compute_device(config.wgpu_setup);
    config
}

/// The viewer's wgpu handles, and burn's registration of them (made once, on
/// first use, then cloned).
#[derive(Clone)]
pub struct SharedGpu {
    instance: wgpu::Instance,
    adapter: wgpu::Adapter,
    device: wgpu::Device,
    queue: wgpu::Queue,
    registered: Arc<Mutex<Option<Result<SelectedDevice, String>>>>,
}

impl std::fmt::Debug for SharedGpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedGpu")
            .field("adapter", &self.adapter.get_info().name)
            .finish_non_exhaustive()
    }
}

impl SharedGpu {
    /// The handles of eframe's (or a test's) render state.
    pub fn from_render_state(rs: &egui_wgpu::RenderState) -> Self {
        Self {
            instance: rs.instance.clone(),
            adapter: rs.adapter.clone(),
            device: rs.device.clone(),
            queue: rs.queue.clone(),
            registered: Arc::new(Mutex::new(None)),
        }
    }

    /// The adapter's name, type and API in words.
    pub fn adapter_summary(&self) -> String {
        let info = self.adapter.get_info();
        format!("{} ({:?}, {:?})", info.name, info.device_type, info.backend)
    }

    /// True for a hardware GPU (not a software rasteriser such as llvmpipe).
    pub fn is_hardware(&self) -> bool {
        matches!(
            self.adapter.get_info().device_type,
            wgpu::DeviceType::DiscreteGpu
                | wgpu::DeviceType::IntegratedGpu
                | wgpu::DeviceType::VirtualGpu
        )
    }

    /// True when burn can compute on this adapter's API (not OpenGL).
    pub fn can_compute(&self) -> bool {
        !matches!(
            self.adapter.get_info().backend,
            wgpu::Backend::Gl | wgpu::Backend::Noop | wgpu::Backend::BrowserWebGpu
        )
    }

    /// burn's device on the viewer's wgpu device, registered on the first call (a
    /// failure, panics included, is kept and returned as a message).
    pub fn register(&self) -> Result<SelectedDevice, String> {
        let mut slot = self.registered.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(done) = slot.as_ref() {
            return done.clone();
        }
        let result = if self.can_compute() {
            let (i, a, d, q) = (
                self.instance.clone(),
                self.adapter.clone(),
                self.device.clone(),
                self.queue.clone(),
            );
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                crate::seg::device::register_wgpu_setup(i, a, d, q)
            })) {
                Ok(Ok(dev)) => Ok(dev),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("the GPU runtime panicked while starting".to_string()),
            }
        } else {
            Err(format!(
                "the viewer draws with {:?}, which burn cannot compute on",
                self.adapter.get_info().backend
            ))
        };
        *slot = Some(result.clone());
        result
    }
}

/// The burn device for `choice`: Auto takes the shared device when it is a
/// hardware GPU and the CPU otherwise; GPU takes the shared device whatever it is;
/// a missing or failing GPU falls back to the CPU. The returned device's `notice`
/// says why it differs from the request.
pub fn resolve_device(choice: DeviceChoice, gpu: Option<&SharedGpu>) -> SelectedDevice {
    let cpu_because = |why: String| SelectedDevice {
        notice: Some(why),
        ..cpu_device()
    };
    match (choice, gpu) {
        (DeviceChoice::Cpu, _) => cpu_device(),
        (_, None) => cpu_because("no GPU device is available to the viewer; using the CPU".into()),
        (DeviceChoice::Auto, Some(g)) if !g.is_hardware() => cpu_because(format!(
            "the display adapter {} is a software rasteriser; the CPU backend is faster, using it \
             (choose GPU to force the adapter)",
            g.adapter_summary()
        )),
        (_, Some(g)) => match g.register() {
            Ok(mut dev) => {
                if dev.kind == BackendKind::SoftwareGpu {
                    dev.notice = Some(
                        "this GPU is a software rasteriser: segmentation will be slow".to_string(),
                    );
                }
                dev
            }
            Err(e) => cpu_because(format!("the GPU could not be used ({e}); using the CPU")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_missing_gpu_resolve_to_the_cpu_with_a_reason() {
        let cpu = resolve_device(DeviceChoice::Cpu, None);
        assert_eq!(cpu.kind, BackendKind::Cpu);
        assert!(cpu.notice.is_none());
        for choice in [DeviceChoice::Auto, DeviceChoice::Gpu] {
            let d = resolve_device(choice, None);
            assert_eq!(d.kind, BackendKind::Cpu);
            assert!(d.notice.as_deref().is_some_and(|n| n.contains("CPU")));
        }
    }
}
