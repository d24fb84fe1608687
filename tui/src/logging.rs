//! Logging for a program that owns the terminal: never to the screen it draws on. With
//! `--log-file` the console logs there (`RUST_LOG` filter, default `info`; `--log-format`),
//! appending; without it, nowhere.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use glitch_process::LogFormat;
use tracing_subscriber::EnvFilter;

/// Sends logs to `path`. Fails when the file cannot be opened.
pub fn init(path: &Path, format: LogFormat) -> std::io::Result<()> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file));
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    Ok(())
}
