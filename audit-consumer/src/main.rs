//! `glitch-audit-consumer` binary: parses flags (tokens from `GLITCH_ADMIN_TOKEN` and
//! `GLITCH_AUDIT_TOKENS`), sets up logging, runs the consumer, exits non-zero with a one-line
//! reason when the configuration is unusable.

use clap::Parser;
use glitch_audit_consumer::AuditArgs;

fn main() -> std::process::ExitCode {
    let args = AuditArgs::parse().with_tokens_from_env();
    glitch_process::init_logging(args.log_format);
    glitch_process::run_main("glitch-audit-consumer", glitch_audit_consumer::run(args))
}
