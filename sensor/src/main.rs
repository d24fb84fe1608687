//! `glitch-sensor` binary: parses flags, sets up logging, runs the sensor, exits non-zero with a
//! one-line reason when the configuration is unusable.

use clap::Parser;
use glitch_sensor::SensorArgs;

fn main() -> std::process::ExitCode {
    let args = SensorArgs::parse();
    glitch_process::init_logging(args.log_format);
    glitch_process::run_main("glitch-sensor", glitch_sensor::run(args))
}
