//! `lungscope bench-view`: per-frame CPU time and GPU upload bytes of the viewer
//! while scrolling and changing window/level (needs the `gui` feature; runs
//! offscreen, no display needed).

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `lungscope bench-view`.
#[derive(Debug, clap::Args)]
pub struct BenchViewArgs {
    /// Frames per phase (idle, scroll, window/level).
    #[arg(long, default_value_t = 300)]
    pub frames: usize,
    /// Volume size `IxJxK` of the generated CT.
    #[arg(long, default_value = "512x512x300", value_parser = parse_dims)]
    pub dims: [usize; 3],
    /// Window size `WxH` in pixels.
    #[arg(long, default_value = "1280x800", value_parser = parse_window)]
    pub window: [u32; 2],
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

fn parse_dims(s: &str) -> Result<[usize; 3], String> {
    let v: Vec<usize> = s
        .split('x')
        .map(|p| p.trim().parse::<usize>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match v.as_slice() {
        [a, b, c] if *a > 0 && *b > 0 && *c > 1 => Ok([*a, *b, *c]),
        _ => Err(format!("expected IxJxK with sizes > 0 (K > 1), got {s:?}")),
    }
}

fn parse_window(s: &str) -> Result<[u32; 2], String> {
    let v: Vec<u32> = s
        .split('x')
        .map(|p| p.trim().parse::<u32>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match v.as_slice() {
        [w, h] if *w >= 640 && *h >= 400 => Ok([*w, *h]),
        _ => Err(format!("expected WxH of at least 640x400, got {s:?}")),
    }
}

/// Runs the benchmark and prints a Markdown table.
pub fn run(args: &BenchViewArgs) -> anyhow::Result<ExitCode> {
    let opts = crate::app::bench::BenchOptions {
        frames: args.frames.max(10),
        dims: args.dims,
        window: args.window,
    };
    let report = crate::app::bench::run_bench(&opts)?;
    println!("{}", crate::app::bench::markdown(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        crate::fsutil::write_atomic(path, json.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_dims("512x512x300"), Ok([512, 512, 300]));
        assert!(parse_dims("512x512").is_err());
        assert!(parse_dims("0x1x2").is_err());
        assert_eq!(parse_window("1280x800"), Ok([1280, 800]));
        assert!(parse_window("10x10").is_err());
    }
}
