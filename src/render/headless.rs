//! A wgpu render state without a window (benchmarks, offscreen use).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Errors creating a headless GPU context.
#[derive(Debug, thiserror::Error)]
pub enum HeadlessError {
    /// No adapter or device could be created.
    #[error(
        "no usable GPU adapter (set WGPU_BACKEND=vulkan and install mesa-vulkan-drivers for lavapipe): {0}"
    )]
    NoDevice(String),
}

/// A render state like eframe's, on the adapter `WGPU_BACKEND` /
/// `WGPU_ADAPTER_NAME` select (default: the first primary-backend adapter),
/// drawing into `Rgba8Unorm` targets.
pub fn create_render_state() -> Result<egui_wgpu::RenderState, HeadlessError> {
    let setup = egui_wgpu::WgpuSetup::without_display_handle();
    let instance = block_on(setup.new_instance());
    let config = egui_wgpu::WgpuConfiguration {
        wgpu_setup: setup,
        ..Default::default()
    };
    block_on(egui_wgpu::RenderState::create(
        &config,
        &instance,
        None,
        egui_wgpu::RendererOptions::default(),
    ))
    .map_err(|e| HeadlessError::NoDevice(e.to_string()))
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on the current thread (wgpu's adapter and
/// device requests are the only futures here).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}
