//! Where the network runs: a wgpu adapter (Vulkan, Metal, DX12 through burn-wgpu) or the
//! CPU. On the CPU, burn's pure-Rust `flex` backend holds the model (and trains it) and
//! inference runs on lungscope's own engine ([`super::cpu_engine`]).
//!
//! `auto` probes for adapters with wgpu first (no panic when there is none) and takes a
//! hardware GPU when one exists. A *software* adapter (Mesa lavapipe / llvmpipe, wgpu
//! `DeviceType::Cpu`) is slower than the CPU, so `auto` prefers the CPU over it;
//! `gpu` still uses it when it is the only adapter. The GUI registers eframe's own wgpu
//! device with [`register_wgpu_setup`] so inference needs no second device.

use std::sync::Mutex;

use burn::tensor::wgpu::{WgpuSetup, wgpu};
use burn::tensor::{Device, DeviceKind};
use serde::{Deserialize, Serialize};

use super::SegError;

/// The user's backend choice (`--device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// A hardware GPU if there is one, otherwise the CPU.
    #[default]
    Auto,
    /// A wgpu adapter (hardware first, a software rasteriser if that is all there is).
    Gpu,
    /// The CPU (burn flex holds the model; inference runs on lungscope's CPU engine).
    Cpu,
}

/// What kind of device was selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// A hardware wgpu adapter.
    Gpu,
    /// A wgpu adapter that rasterises on the CPU (lavapipe, llvmpipe, WARP).
    SoftwareGpu,
    /// The CPU.
    Cpu,
}

/// A ready burn device and what it is, for the user.
#[derive(Debug, Clone)]
pub struct SelectedDevice {
    /// The device to build models and tensors on (without autodiff; training wraps it).
    pub device: Device,
    /// GPU, software GPU or CPU.
    pub kind: BackendKind,
    /// One line for the user: `GPU: <adapter> (Vulkan)` or `CPU (N threads)`.
    pub description: String,
    /// Why the choice differs from the request (e.g. no GPU found, falling back to the CPU).
    pub notice: Option<String>,
}

/// One wgpu adapter found by [`probe_adapters`].
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterSummary {
    /// Adapter name as the driver reports it.
    pub name: String,
    /// Discrete, integrated, virtual, CPU or other.
    pub device_type: wgpu::DeviceType,
    /// Graphics API (Vulkan, Metal, DX12, GL).
    pub backend: wgpu::Backend,
}

impl AdapterSummary {
    /// A hardware GPU (not a software rasteriser).
    pub fn is_hardware(&self) -> bool {
        matches!(
            self.device_type,
            wgpu::DeviceType::DiscreteGpu
                | wgpu::DeviceType::IntegratedGpu
                | wgpu::DeviceType::VirtualGpu
        )
    }
}

/// Lists the wgpu adapters of this machine (Vulkan, Metal, DX12; not GL, which burn cannot
/// compute on). Never panics: a failing driver yields an empty list.
pub fn probe_adapters() -> Vec<AdapterSummary> {
    let probe = || {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::PRIMARY;
        let instance = wgpu::Instance::new(desc);
        let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY));
        adapters
            .iter()
            .map(|a| {
                let info = a.get_info();
                AdapterSummary {
                    name: info.name,
                    device_type: info.device_type,
                    backend: info.backend,
                }
            })
            .collect::<Vec<_>>()
    };
    std::panic::catch_unwind(probe).unwrap_or_default()
}

/// The CPU device (burn flex).
pub fn cpu_device() -> SelectedDevice {
    SelectedDevice {
        device: Device::flex(),
        kind: BackendKind::Cpu,
        description: format!("CPU ({} threads)", rayon::current_num_threads()),
        notice: None,
    }
}

/// Picks and initialises the device for `choice`.
///
/// `Auto`: a hardware adapter, else the CPU with a notice. `Gpu`: a hardware adapter, else a
/// software adapter, else [`SegError::NoGpu`]. `Cpu`: flex. GPU devices are initialised once
/// per process and reused on later calls.
pub fn select_device(choice: DeviceChoice) -> Result<SelectedDevice, SegError> {
    if choice == DeviceChoice::Cpu {
        return Ok(cpu_device());
    }
    let adapters = probe_adapters();
    let hardware = adapters.iter().find(|a| a.is_hardware());
    let software = adapters
        .iter()
        .find(|a| a.device_type == wgpu::DeviceType::Cpu);
    match (choice, hardware, software) {
        (_, Some(_), _) => match init_wgpu(DeviceKind::DefaultDevice) {
            Ok(dev) => Ok(dev),
            Err(e) if choice == DeviceChoice::Auto => Ok(with_notice(
                cpu_device(),
                format!("{e}; using the CPU instead"),
            )),
            Err(e) => Err(e),
        },
        (DeviceChoice::Gpu, None, Some(_)) => init_wgpu(DeviceKind::Cpu),
        (DeviceChoice::Gpu, None, None) => Err(SegError::NoGpu(format!(
            "wgpu found no Vulkan/Metal/DX12 adapter{}; install a GPU driver (on Linux: mesa-vulkan-drivers) or use --device cpu",
            if adapters.is_empty() {
                String::new()
            } else {
                format!(" it can compute on ({} other adapter(s))", adapters.len())
            }
        ))),
        (_, None, Some(sw)) => Ok(with_notice(
            cpu_device(),
            format!(
                "only a software GPU adapter was found ({}); the CPU backend is faster, using it (--device gpu forces the adapter)",
                sw.name
            ),
        )),
        (_, None, None) => Ok(with_notice(
            cpu_device(),
            "no GPU adapter found; using the CPU".to_string(),
        )),
    }
}

fn with_notice(mut dev: SelectedDevice, notice: String) -> SelectedDevice {
    dev.notice = Some(notice);
    dev
}

/// GPU devices initialised so far in this process, by selector.
static WGPU_DEVICES: Mutex<Vec<(DeviceKind, SelectedDevice)>> = Mutex::new(Vec::new());

fn init_wgpu(kind: DeviceKind) -> Result<SelectedDevice, SegError> {
    let mut cache = WGPU_DEVICES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, dev)) = cache.iter().find(|(k, _)| *k == kind) {
        return Ok(dev.clone());
    }
    let (device, setup) = Device::wgpu_options()
        .device_kind(kind.clone())
        .init_with_setup()
        .map_err(|e| SegError::DeviceInit(e.to_string()))?;
    let selected = describe_wgpu(device, &setup.adapter);
    cache.push((kind, selected.clone()));
    Ok(selected)
}

fn describe_wgpu(device: Device, adapter: &wgpu::Adapter) -> SelectedDevice {
    let info = adapter.get_info();
    let software = info.device_type == wgpu::DeviceType::Cpu;
    SelectedDevice {
        device,
        kind: if software {
            BackendKind::SoftwareGpu
        } else {
            BackendKind::Gpu
        },
        description: format!(
            "{}: {} ({})",
            if software { "software GPU" } else { "GPU" },
            info.name,
            backend_name(info.backend)
        ),
        notice: None,
    }
}

fn backend_name(backend: wgpu::Backend) -> &'static str {
    match backend {
        wgpu::Backend::Vulkan => "Vulkan",
        wgpu::Backend::Metal => "Metal",
        wgpu::Backend::Dx12 => "DX12",
        wgpu::Backend::Gl => "OpenGL",
        wgpu::Backend::BrowserWebGpu => "WebGPU",
        wgpu::Backend::Noop => "no-op",
    }
}

/// Registers an existing wgpu setup (eframe's `RenderState`: instance, adapter, device, queue)
/// with burn, so the model runs on the device that already draws the viewer. Call once and
/// keep (clone) the returned device: every call registers a new runtime.
///
/// The wgpu device must have been created with the adapter's limits and features (see
/// `STACK-NOTES.md`, "One wgpu device for egui and burn").
pub fn register_wgpu_setup(
    instance: wgpu::Instance,
    adapter: wgpu::Adapter,
    device: wgpu::Device,
    queue: wgpu::Queue,
) -> Result<SelectedDevice, SegError> {
    let backend = adapter.get_info().backend;
    let setup = WgpuSetup {
        instance,
        adapter: adapter.clone(),
        device,
        queue,
        backend,
    };
    let burn_device = Device::wgpu_options()
        .setup(setup)
        .init()
        .map_err(|e| SegError::DeviceInit(e.to_string()))?;
    Ok(describe_wgpu(burn_device, &adapter))
}
