//! A deterministic fake of the Anthropic API for Glitch's tests and benchmarks.
//!
//! [`FakeAnthropic`] is a real HTTP/1.1 + HTTP/2 (cleartext) server on a local
//! port that speaks Anthropic's wire format: the Messages API (plain and SSE
//! streaming, event by event as Anthropic sends them), `count_tokens`, the
//! models list and message batches. It records every request it receives and
//! can be told to misbehave (errors, mid-stream errors, dropped connections,
//! stalls, slow streams, thinking / tool-use streams, very long streams) with
//! the `x-fake-scenario: NAME` request header or a `[[fake:NAME]]` marker in
//! the last user message; see [`Scenario`] for the names.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let fake = glitch_fake_anthropic::FakeAnthropic::start().await?;
//! let base_url = fake.url(); // e.g. "http://127.0.0.1:41234"
//! # let _ = base_url;
//! fake.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod body;
mod errors;
mod handler;
mod ids;
mod request;
mod scenario;
mod server;
mod sse;
mod wire;

pub use scenario::Scenario;
pub use server::{FakeAnthropic, FakeOptions, FakeStats, RecordedRequest};

/// The reply used when the prompt asks for nothing in particular.
pub const DEFAULT_REPLY: &str = "Hello from the fake Anthropic upstream.";

/// The request header that selects a [`Scenario`].
pub const SCENARIO_HEADER: &str = "x-fake-scenario";
