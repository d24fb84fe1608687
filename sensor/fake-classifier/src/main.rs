//! `glitch-fake-classifier`: runs the fake LLM classifier endpoints until SIGINT/SIGTERM,
//! printing `glitch-fake-classifier listening on http://ADDR` on stdout once it is ready.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use glitch_fake_classifier::{FakeClassifier, FakeClassifierOptions, Mode};

/// A deterministic fake of LLM classifier endpoints (OpenAI chat completions, Anthropic
/// Messages, text classification), for tests and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "glitch-fake-classifier", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Milliseconds to wait before every answer.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// normal, hang, fail, malformed, flapping or flapping:N.
    #[arg(long, default_value = "normal")]
    mode: Mode,
    /// Require the API key held by this environment variable (x-api-key on /v1/messages,
    /// Authorization: Bearer on /v1/chat/completions).
    #[arg(long)]
    api_key_env: Option<String>,
}

fn main() -> ExitCode {
    glitch_process::init_logging(glitch_process::LogFormat::Pretty);
    let args = Args::parse();
    glitch_process::run_main("glitch-fake-classifier", serve(args))
}

async fn serve(args: Args) -> Result<(), String> {
    let api_key = match &args.api_key_env {
        Some(var) => Some(
            std::env::var(var)
                .ok()
                .filter(|k| !k.trim().is_empty())
                .ok_or_else(|| format!("environment variable {var} is not set"))?,
        ),
        None => None,
    };
    let options = FakeClassifierOptions {
        listen: args.listen,
        mode: args.mode,
        delay: Duration::from_millis(args.delay_ms),
        api_key,
    };
    let fake = FakeClassifier::start(options)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    announce(&fake).map_err(|e| format!("cannot write to stdout: {e}"))?;
    tracing::info!(url = %fake.url(), "fake classifier serving");
    glitch_process::shutdown_signal().await;
    tracing::info!(stats = ?fake.stats().calls_by_route, "shutting down");
    fake.shutdown().await;
    Ok(())
}

/// Tells the parent process where we listen: the one line it reads.
#[allow(
    clippy::print_stdout,
    reason = "the listening address on stdout is the binary's interface"
)]
fn announce(fake: &FakeClassifier) -> std::io::Result<()> {
    println!("glitch-fake-classifier listening on {}", fake.url());
    std::io::stdout().flush()
}
