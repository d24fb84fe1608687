//! A deterministic fake of the LLM classifier endpoints Glitch's second detection stage calls, for
//! tests and benchmarks: OpenAI chat completions, Anthropic Messages and a Hugging-Face-style text
//! classification endpoint, all on one local port.
//!
//! Verdicts come from markers in the classified text: `[[glitch:<detector_type>=<confidence>]]`
//! (e.g. `[[glitch:prompt_attack=0.97]]`) and the shorthands `GLITCH_TEST_ATTACK`,
//! `GLITCH_TEST_JAILBREAK`, `GLITCH_TEST_HATE` and `GLITCH_TEST_NAME`; `[[glitch-delay:<ms>]]`
//! delays that one call. A [`Mode`] makes every call hang, fail, answer garbage or flap.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use glitch_fake_classifier::{FakeClassifier, FakeClassifierOptions};
//! let fake = FakeClassifier::start(FakeClassifierOptions::default()).await?;
//! let openai_base = format!("{}/v1", fake.url());
//! # let _ = openai_base;
//! fake.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod server;
mod verdict;

pub use server::{
    CredentialSeen, FakeClassifier, FakeClassifierOptions, FakeClassifierStats, Mode,
    ModeParseError,
};
pub use verdict::{Verdict, classified_text, text_classification_label, verdict_for};
