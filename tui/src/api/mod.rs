//! Talking to the audit query API: [`client`] (HTTP, one method per endpoint, typed errors),
//! [`model`] (lenient reading of what comes back) and [`loader`] (the background task the UI
//! hands jobs to and takes replies from over bounded channels, so the UI never waits on the
//! network).

pub mod client;
pub mod loader;
pub mod model;

pub use client::{ApiClient, ApiError};
pub use loader::{Job, Loader, Payload, Purpose, Query, Reply, Ticket};
