//! Test support shared by the workspace's integration tests: real PostgreSQL databases
//! ([`postgres`]), a real Kafka-protocol broker ([`kafka`], tansu) and an OTLP trace collector
//! ([`otlp`]). Nothing here is mocked and
//! nothing is skipped: a missing prerequisite fails the test with what to install.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "test support: a missing prerequisite must fail the test loudly, never skip it"
)]

pub mod kafka;
pub mod otlp;
pub mod postgres;
