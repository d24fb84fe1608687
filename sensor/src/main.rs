//! `glitch-sensor` binary: parses flags, sets up logging, runs the sensor, exits non-zero with a
//! one-line reason when the configuration is unusable.

use clap::Parser;
use glitch_sensor::SensorArgs;
use glitch_sensor::cli::LogFormat;
use tracing_subscriber::EnvFilter;

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

#[allow(
    clippy::print_stderr,
    reason = "the one-line reason for a failed start goes to stderr"
)]
fn main() -> std::process::ExitCode {
    let args = SensorArgs::parse();
    init_logging(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("glitch-sensor: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(glitch_sensor::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "glitch-sensor cannot start");
            eprintln!("glitch-sensor: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
