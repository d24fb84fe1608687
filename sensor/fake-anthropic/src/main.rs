//! `glitch-fake-anthropic`: runs the fake Anthropic API until SIGINT/SIGTERM,
//! printing `listening on http://ADDR` on stdout once it is ready.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use glitch_fake_anthropic::{FakeAnthropic, FakeOptions};
use tracing_subscriber::EnvFilter;

/// A deterministic fake of the Anthropic API, for tests and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "glitch-fake-anthropic", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "GLITCH_FAKE_LISTEN", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Milliseconds between SSE events of every stream.
    #[arg(long, env = "GLITCH_FAKE_STREAM_EVENT_DELAY_MS", default_value_t = 0)]
    stream_event_delay_ms: u64,
    /// Don't keep request bodies (requests are still counted and recorded).
    #[arg(long, env = "GLITCH_FAKE_NO_RECORD")]
    no_record: bool,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let options = FakeOptions {
        record_bodies: !args.no_record,
        stream_event_delay: Duration::from_millis(args.stream_event_delay_ms),
        tls: None,
    };
    let fake = FakeAnthropic::start_on(args.listen, options).await?;
    announce(&fake)?;
    tracing::info!(url = %fake.url(), "fake anthropic serving");
    wait_for_signal().await?;
    tracing::info!(stats = ?fake.stats(), "shutting down");
    fake.shutdown().await;
    Ok(())
}

/// Tells the parent process where we listen: the one line it reads.
#[allow(
    clippy::print_stdout,
    reason = "the listening address on stdout is the binary's interface"
)]
fn announce(fake: &FakeAnthropic) -> std::io::Result<()> {
    println!("listening on {}", fake.url());
    std::io::stdout().flush()
}

#[cfg(unix)]
async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}
