//! glitch-audit-consumer: reads `SecurityEvent`s from the event log — the sensor's segment
//! files ([`source::file`], exactly once) or a Kafka consumer group ([`source::kafka`], at least
//! once) — indexes them idempotently by `event_id` in SQLite or PostgreSQL ([`index`]), and
//! serves the audit query API of contract §7 ([`api`]).
//!
//! [`start`] runs everything and returns a [`Running`] handle with the bound address; the
//! binary (`src/main.rs`) only parses flags, sets up logging and calls [`run`]. Decoding of
//! records lives in [`record`], the event's JSON form in [`event_json`], the source-to-index
//! pipeline in [`ingest`], retention in [`retention`], the stored (zstd) form of event bytes in
//! [`body`].

pub mod api;
pub mod auth;
pub mod body;
pub mod cli;
pub mod config;
pub mod event_json;
pub mod index;
pub mod ingest;
pub mod metrics;
pub mod record;
pub mod retention;
pub mod server;
pub mod source;
pub mod time;

pub use cli::AuditArgs;
pub use index::{Backend, Index, IndexError};
pub use server::{Progress, Running, StartError, run, start};
