//! `lungscope bench-view`: CPU time and GPU upload bytes per frame of the real
//! app while scrolling and changing window/level on a generated 512×512×300 CT.
//!
//! Each frame runs exactly what eframe runs: the app's `ui` (input handling,
//! layout, paint callbacks), tessellation, egui-wgpu buffer updates (our
//! `prepare`, i.e. uniform writes) and render-pass encoding into an offscreen
//! target, then submission. "CPU" is the sum of those; "GPU" is the wait for
//! the device afterwards (on lavapipe that rasterisation also runs on the CPU).

use super::LungscopeApp;
use super::document::VolumeEntry;
use super::settings::Settings;
use crate::mask::{self, LabelMask};
use crate::render::UploadStats;
use crate::volume::{Geometry, View, Volume, Voxels};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Frames per phase.
    pub frames: usize,
    /// Volume dimensions.
    pub dims: [usize; 3],
    /// Window size in pixels.
    pub window: [u32; 2],
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            frames: 300,
            dims: [512, 512, 300],
            window: [1280, 800],
        }
    }
}

/// Median, 95th percentile and mean of a sample, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Millis {
    /// Median.
    pub median: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Mean.
    pub mean: f64,
}

impl Millis {
    fn of(samples: &[Duration]) -> Self {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| {
            ms.get(((ms.len().saturating_sub(1)) as f64 * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        Self {
            median: at(0.5),
            p95: at(0.95),
            mean: ms.iter().sum::<f64>() / ms.len().max(1) as f64,
        }
    }
}

/// Results of one phase (scroll, window/level, idle).
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// Phase name.
    pub name: String,
    /// Frames measured.
    pub frames: usize,
    /// App `ui` (input, layout, commands, paint callbacks).
    pub ui: Millis,
    /// Tessellation.
    pub tessellate: Millis,
    /// egui-wgpu prepare (uniform writes) + encoding + submit.
    pub encode: Millis,
    /// Total CPU time of the frame (ui + tessellate + encode).
    pub cpu: Millis,
    /// Waiting for the device to finish the frame.
    pub gpu_wait: Millis,
    /// Mean bytes written into our textures (volume, mask) per frame.
    pub texture_bytes_per_frame: f64,
    /// Mean bytes written into our uniform buffers per frame.
    pub uniform_bytes_per_frame: f64,
    /// Mean bytes of egui texture updates (font atlas) per frame.
    pub egui_texture_bytes_per_frame: f64,
    /// What changed: slices moved or window width/level at the end.
    pub effect: String,
}

/// The whole benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The GPU adapter.
    pub adapter: String,
    /// Volume dimensions.
    pub dims: [usize; 3],
    /// Window size.
    pub window: [u32; 2],
    /// Bytes uploaded by the load (volume texture, mask).
    pub load_texture_bytes: u64,
    /// Frames the upload was spread over.
    pub load_frames: usize,
    /// Wall time from the first to the last upload frame (ms).
    pub load_ms: f64,
    /// Largest CPU time of one upload frame (ms).
    pub load_max_frame_cpu_ms: f64,
    /// Per-phase results.
    pub phases: Vec<PhaseReport>,
}

struct FrameTimes {
    ui: Duration,
    tessellate: Duration,
    encode: Duration,
    gpu_wait: Duration,
    egui_texture_bytes: u64,
}

/// Drives frames of the app into an offscreen target, as eframe would.
struct FrameDriver {
    ctx: egui::Context,
    rs: egui_wgpu::RenderState,
    size: [u32; 2],
    view: wgpu::TextureView,
    time: f64,
}

impl FrameDriver {
    fn new(rs: egui_wgpu::RenderState, size: [u32; 2]) -> Self {
        let target = rs.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("bench frame"),
            size: wgpu::Extent3d {
                width: size[0],
                height: size[1],
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: rs.target_format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            view_formats: &[],
        });
        let view = target.create_view(&wgpu::TextureViewDescriptor::default());
        Self {
            ctx: egui::Context::default(),
            rs,
            size,
            view,
            time: 0.0,
        }
    }

    fn frame(
        &mut self,
        app: &mut LungscopeApp,
        events: Vec<egui::Event>,
    ) -> anyhow::Result<FrameTimes> {
        let t0 = Instant::now();
        let raw = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(self.size[0] as f32, self.size[1] as f32),
            )),
            time: Some(self.time),
            events,
            ..Default::default()
        };
        self.time += 1.0 / 60.0;
        let mut output = self.ctx.run_ui(raw, |ui| app.ui(ui));
        let t1 = Instant::now();
        let shapes = std::mem::take(&mut output.shapes);
        let primitives = self.ctx.tessellate(shapes, output.pixels_per_point);
        let t2 = Instant::now();
        let (device, queue) = (&self.rs.device, &self.rs.queue);
        let screen = egui_wgpu::ScreenDescriptor {
            size_in_pixels: self.size,
            pixels_per_point: output.pixels_per_point,
        };
        let mut egui_texture_bytes = 0u64;
        let mut renderer = self.rs.renderer.write();
        for (id, deltas) in output.textures_delta.set.drain() {
            for delta in &deltas {
                egui_texture_bytes += (delta.image.width() * delta.image.height() * 4) as u64;
                renderer.update_texture(device, queue, id, delta);
            }
        }
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("bench frame"),
        });
        let user = renderer.update_buffers(device, queue, &mut encoder, &primitives, &screen);
        {
            let mut pass = encoder
                .begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("bench frame"),
                    color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                        view: &self.view,
                        resolve_target: None,
                        depth_slice: None,
                        ops: wgpu::Operations {
                            load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                            store: wgpu::StoreOp::Store,
                        },
                    })],
                    ..Default::default()
                })
                .forget_lifetime();
            renderer.render(&mut pass, &primitives, &screen);
        }
        for id in output.textures_delta.free.drain() {
            renderer.free_texture(&id);
        }
        drop(renderer);
        let submission = queue.submit(user.into_iter().chain(std::iter::once(encoder.finish())));
        let t3 = Instant::now();
        device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: Some(Duration::from_secs(60)),
            })
            .map_err(|e| anyhow::anyhow!("waiting for the GPU failed: {e}"))?;
        let t4 = Instant::now();
        Ok(FrameTimes {
            ui: t1 - t0,
            tessellate: t2 - t1,
            encode: t3 - t2,
            gpu_wait: t4 - t3,
            egui_texture_bytes,
        })
    }
}

/// A synthetic chest CT: air, an elliptic body (soft tissue), two lungs (-850
/// HU), a spine (700 HU), with noise; and its mask (lungs 1/2, an infection
/// blob 3).
pub fn synthetic_chest(dims: [usize; 3]) -> (Volume, LabelMask) {
    let geometry = Geometry::with_signs(dims, [0.7, 0.7, 1.0], [-1.0, -1.0, 1.0]);
    let n = geometry.len();
    let mut hu = vec![-1000i16; n];
    let mut labels = vec![0u8; n];
    let (w, h) = (dims[0] as f32, dims[1] as f32);
    let mut seed = 12_345u32;
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = ((seed >> 16) % 61) as i16 - 30;
                let x = (i as f32 - w / 2.0) / (w * 0.42);
                let y = (j as f32 - h / 2.0) / (h * 0.32);
                let idx = geometry.index(i, j, k);
                if x * x + y * y > 1.0 {
                    continue;
                }
                let mut v = 40;
                let lung = |cx: f32| {
                    let lx = (x - cx) / 0.33;
                    let ly = y / 0.7;
                    lx * lx + ly * ly < 1.0
                };
                let spine = (x * x) / 0.01 + ((y - 0.75) * (y - 0.75)) / 0.02 < 1.0;
                if lung(-0.45) || lung(0.45) {
                    v = -850;
                    // On an LPS grid i increases towards the patient's left.
                    labels[idx] = if x > 0.0 {
                        mask::LEFT_LUNG
                    } else {
                        mask::RIGHT_LUNG
                    };
                    let bx = x - 0.45;
                    let by = y + 0.2;
                    let bz = (k as f32 / dims[2] as f32) - 0.5;
                    if bx * bx + by * by + bz * bz < 0.04 {
                        v = -300;
                        labels[idx] = mask::INFECTION;
                    }
                } else if spine {
                    v = 700;
                }
                hu[idx] = v + noise;
            }
        }
    }
    let volume = Volume {
        geometry: geometry.clone(),
        voxels: Voxels::I16(hu),
        info: Default::default(),
    };
    let mask = LabelMask { geometry, labels };
    (volume, mask)
}

fn phase(
    name: &str,
    times: &[FrameTimes],
    before: UploadStats,
    after: UploadStats,
    effect: String,
) -> PhaseReport {
    let pick = |f: fn(&FrameTimes) -> Duration| times.iter().map(f).collect::<Vec<_>>();
    let frames = times.len().max(1) as f64;
    PhaseReport {
        name: name.to_string(),
        frames: times.len(),
        ui: Millis::of(&pick(|t| t.ui)),
        tessellate: Millis::of(&pick(|t| t.tessellate)),
        encode: Millis::of(&pick(|t| t.encode)),
        cpu: Millis::of(&pick(|t| t.ui + t.tessellate + t.encode)),
        gpu_wait: Millis::of(&pick(|t| t.gpu_wait)),
        texture_bytes_per_frame: (after.texture_bytes - before.texture_bytes) as f64 / frames,
        uniform_bytes_per_frame: (after.uniform_bytes - before.uniform_bytes) as f64 / frames,
        egui_texture_bytes_per_frame: times.iter().map(|t| t.egui_texture_bytes).sum::<u64>()
            as f64
            / frames,
        effect,
    }
}

/// Runs the benchmark: load, idle, scroll (wheel over the axial view, one slice
/// per frame), window/level (right-drag, a few points per frame).
pub fn run_bench(opts: &BenchOptions) -> anyhow::Result<BenchReport> {
    let rs = crate::render::headless::create_render_state()?;
    let adapter = {
        let info = rs.adapter.get_info();
        format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
    };
    let mut app = LungscopeApp::new(Some(rs.clone()), Settings::default());
    let mut driver = FrameDriver::new(rs, opts.window);
    let stats = |app: &LungscopeApp| app.upload_stats().unwrap_or_default();

    // Warm-up frames: fonts, pipelines.
    for _ in 0..5 {
        driver.frame(&mut app, Vec::new())?;
    }
    let (volume, mask) = synthetic_chest(opts.dims);
    let volume_stats = volume.stats();
    {
        let state = app.state_mut();
        state.set_volume(VolumeEntry {
            volume: Arc::new(volume),
            stats: volume_stats,
            path: None,
            name: "synthetic chest".into(),
        });
        state.doc.add_layer("synthetic mask", None, mask)?;
    }
    let before_load = stats(&app);
    let t = Instant::now();
    let mut load_frames = Vec::new();
    while app.is_loading_or_uploading() || load_frames.is_empty() {
        load_frames.push(driver.frame(&mut app, Vec::new())?);
        if load_frames.len() > 10_000 {
            anyhow::bail!("the volume upload did not finish");
        }
    }
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let load_texture_bytes = stats(&app).texture_bytes - before_load.texture_bytes;
    let load_max_cpu_ms = load_frames
        .iter()
        .map(|f| (f.ui + f.tessellate + f.encode).as_secs_f64() * 1e3)
        .fold(0.0, f64::max);
    for _ in 0..5 {
        driver.frame(&mut app, Vec::new())?;
    }
    // The report panel measures the new mask in the background: let it finish so
    // it does not share the CPU with the timed phases.
    while app.is_busy() {
        driver.frame(&mut app, Vec::new())?;
        std::thread::sleep(std::time::Duration::from_millis(5));
    }

    // A point inside the axial view (top-left cell of the 2 × 2 layout, between
    // the analysis panel on the left and the controls on the right).
    let w = opts.window[0] as f32;
    let h = opts.window[1] as f32;
    let pointer = egui::pos2(250.0 + (w - 490.0) * 0.25, h * 0.25);
    let mut phases = Vec::new();

    // Idle: the three views and the overlay redrawn with no input.
    let before = stats(&app);
    let mut times = Vec::new();
    for _ in 0..opts.frames {
        times.push(driver.frame(&mut app, vec![egui::Event::PointerMoved(pointer)])?);
    }
    phases.push(phase("idle", &times, before, stats(&app), "none".into()));

    // Scroll: one wheel notch per frame over the axial view.
    app.state_mut().apply(super::Command::SetSlice {
        view: View::Axial,
        index: 0,
    });
    driver.frame(&mut app, vec![egui::Event::PointerMoved(pointer)])?;
    let start_slice = app.state().slice_index(View::Axial);
    let before = stats(&app);
    let mut times = Vec::new();
    for _ in 0..opts.frames {
        let wheel = egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Line,
            delta: egui::vec2(0.0, 1.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: egui::Modifiers::NONE,
        };
        times.push(driver.frame(&mut app, vec![egui::Event::PointerMoved(pointer), wheel])?);
    }
    let moved = app
        .state()
        .slice_index(View::Axial)
        .saturating_sub(start_slice);
    if moved == 0 {
        anyhow::bail!("the wheel did not scroll the axial view (pointer at {pointer:?})");
    }
    phases.push(phase(
        "scroll",
        &times,
        before,
        stats(&app),
        format!("axial slice {start_slice} -> {}", start_slice + moved),
    ));

    // Window/level: right-drag, 2 points right and 1 up per frame.
    let w0 = app.state().window;
    let before = stats(&app);
    let mut times = Vec::new();
    let press = |pressed: bool, pos: egui::Pos2| egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Secondary,
        pressed,
        modifiers: egui::Modifiers::NONE,
    };
    let mut pos = pointer;
    times.push(driver.frame(&mut app, vec![press(true, pos)])?);
    for _ in 1..opts.frames {
        pos += egui::vec2(2.0, -1.0);
        times.push(driver.frame(&mut app, vec![egui::Event::PointerMoved(pos)])?);
    }
    let after = stats(&app);
    driver.frame(&mut app, vec![press(false, pos)])?;
    let w1 = app.state().window;
    if w1 == w0 {
        anyhow::bail!("right-drag did not change the window");
    }
    phases.push(phase(
        "window/level",
        &times,
        before,
        after,
        format!(
            "W/L {:.0}/{:.0} -> {:.0}/{:.0}",
            w0.width, w0.level, w1.width, w1.level
        ),
    ));

    Ok(BenchReport {
        adapter,
        dims: opts.dims,
        window: opts.window,
        load_texture_bytes,
        load_frames: load_frames.len(),
        load_ms,
        load_max_frame_cpu_ms: load_max_cpu_ms,
        phases,
    })
}

/// The report as a Markdown table.
pub fn markdown(report: &BenchReport) -> String {
    let mut s = format!(
        "adapter: {}\nvolume {}×{}×{} int16 + label mask, window {}×{} px\n\
         load: {:.1} MB uploaded over {} frames in {:.0} ms (largest frame CPU {:.1} ms)\n\n",
        report.adapter,
        report.dims[0],
        report.dims[1],
        report.dims[2],
        report.window[0],
        report.window[1],
        report.load_texture_bytes as f64 / 1e6,
        report.load_frames,
        report.load_ms,
        report.load_max_frame_cpu_ms
    );
    s.push_str("| phase | frames | CPU/frame median (p95) ms | ui | tessellate | encode+submit | GPU wait median ms | texture bytes/frame | uniform bytes/frame | effect |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for p in &report.phases {
        s.push_str(&format!(
            "| {} | {} | {:.2} ({:.2}) | {:.2} | {:.2} | {:.2} | {:.1} | {:.0} | {:.0} | {} |\n",
            p.name,
            p.frames,
            p.cpu.median,
            p.cpu.p95,
            p.ui.median,
            p.tessellate.median,
            p.encode.median,
            p.gpu_wait.median,
            p.texture_bytes_per_frame,
            p.uniform_bytes_per_frame,
            p.effect
        ));
    }
    s
}
