//! `glitch-console` binary: parses flags (the token from `GLITCH_ADMIN_TOKEN`) and runs the
//! console; exits non-zero with a one-line reason when the configuration is unusable. Logging is
//! set up by the console itself, to `--log-file` only: never to the terminal it draws on.

use clap::Parser;
use glitch_console::ConsoleArgs;

fn main() -> std::process::ExitCode {
    let args = ConsoleArgs::parse().with_token_from_env();
    glitch_process::run_main("glitch-console", glitch_console::run(args))
}
