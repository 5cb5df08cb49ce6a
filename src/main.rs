//! `lungscope`: with no arguments opens the viewer; subcommands run headless.

use clap::Parser;
use lungscope::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    lungscope::cli::init_logging(cli.verbose);
    let result = match cli.command {
        None => open_gui(Vec::new()),
        Some(Command::View(args)) => open_gui(args.files),
        Some(Command::Info(args)) => lungscope::cli::info::run(&args),
        Some(Command::BenchLoad(args)) => lungscope::cli::bench::run(&args),
        Some(Command::Report(args)) => lungscope::cli::report::run(&args),
        Some(Command::Segment(args)) => lungscope::cli::segment::run(&args),
        Some(Command::BenchInfer(args)) => lungscope::cli::bench_infer::run(&args),
        #[cfg(feature = "gui")]
        Some(Command::BenchView(args)) => lungscope::cli::bench_view::run(&args),
        Some(Command::Train(args)) => lungscope::cli::train::run(&args),
        Some(Command::Eval(args)) => lungscope::cli::eval::run(&args),
        Some(Command::BenchTrain(args)) => lungscope::cli::bench_train::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "gui")]
fn open_gui(files: Vec<std::path::PathBuf>) -> anyhow::Result<std::process::ExitCode> {
    lungscope::app::run(files)?;
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(not(feature = "gui"))]
fn open_gui(_files: Vec<std::path::PathBuf>) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!(
        "this build has no viewer (built without the `gui` feature); use a subcommand, see --help"
    )
}
