//! `glitch-control-plane` binary: parses flags (the admin token from `GLITCH_ADMIN_TOKEN`),
//! sets up logging, runs the control plane, exits non-zero with a one-line reason when the
//! configuration is unusable.

use clap::Parser;
use glitch_control_plane::ControlPlaneArgs;

fn main() -> std::process::ExitCode {
    let args = ControlPlaneArgs::parse().with_admin_token_from_env();
    glitch_process::init_logging(args.log_format);
    glitch_process::run_main("glitch-control-plane", glitch_control_plane::run(args))
}
