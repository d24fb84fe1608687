//! Process plumbing shared by every Glitch binary (sensor, control plane, `glitch`): the
//! `--log-format` choice and log set-up (`RUST_LOG`, to stderr), the SIGTERM/SIGINT future, and
//! the thin `main` wrapper that builds the runtime, runs the service and turns a start-up error
//! into a one-line reason and a non-zero exit code, and OpenTelemetry trace export
//! ([`telemetry`]). Nothing service-specific lives here.

pub mod telemetry;

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// Log output format (`--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Pretty,
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`). Does nothing if logging is already
/// set up (e.g. a second service started in the same process).
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, spaces
/// trimmed), for the REST APIs' token checks.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// The body of a binary's `main`: runs `service` on a multi-threaded runtime; on error logs it
/// and prints `NAME: reason` to stderr, exiting 1.
#[allow(
    clippy::print_stderr,
    reason = "the one-line reason for a failed start goes to stderr"
)]
pub fn run_main<E: Display>(name: &str, service: impl Future<Output = Result<(), E>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(service) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "{name} cannot start");
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
