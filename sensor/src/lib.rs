//! glitch-sensor: Glitch's data plane. An Anthropic-compatible reverse proxy that authenticates
//! teams by `X-Glitch-Key`, runs the project's detection policy on every request, forwards
//! allowed requests byte for byte and relays the answer as it streams, refuses the rest with a
//! 403 in Anthropic's error shape, and records one SecurityEvent per request.
//!
//! Modules follow the request path: [`auth`] → [`proxy`] (phases) → [`upstream`] → [`relay`],
//! the LLM classifier stage in [`llm_stage`],
//! with [`context`] carrying what each phase learned to the event ([`events`]). Config lives in
//! one immutable [`snapshot`] loaded from the policy file ([`config`], [`file_source`]).

pub mod alerts;
pub mod auth;
pub mod cli;
pub mod config;
pub mod context;
pub mod conversation;
pub mod errors;
pub mod events;
pub mod file_source;
pub mod fleet;
pub mod llm_stage;
pub mod metrics;
pub mod proxy;
pub mod ratelimit;
pub mod relay;
pub mod server;
pub mod session;
pub mod snapshot;
pub mod state;
pub mod upstream;

pub use cli::SensorArgs;
pub use server::{RunningSensor, run, start};
