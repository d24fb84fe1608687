//! `glitch-control-plane` binary: parses flags (the admin token from `GLITCH_ADMIN_TOKEN`),
//! sets up logging, runs the control plane, exits non-zero with a one-line reason when the
//! configuration is unusable.

use clap::Parser;
use glitch_control_plane::ControlPlaneArgs;
use glitch_control_plane::cli::LogFormat;
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
    let args = ControlPlaneArgs::parse().with_admin_token_from_env();
    init_logging(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("glitch-control-plane: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(glitch_control_plane::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "glitch-control-plane cannot start");
            eprintln!("glitch-control-plane: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
