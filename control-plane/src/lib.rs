//! glitch-control-plane: the REST API for Glitch projects, keys and detection policies
//! ([`api`]), their storage in SQLite or PostgreSQL ([`store`]), and the gRPC config stream
//! that pushes whole, versioned snapshots to the sensor fleet and records their ACK/NACK
//! ([`hub`] builds and shares one snapshot per version, [`grpc`] serves the streams,
//! [`recorder`] writes what sensors report).
//!
//! [`server::start`] runs everything and returns the bound addresses; the binary
//! (`src/main.rs`) only parses flags, sets up logging and calls [`server::run`].

pub mod api;
pub mod cli;
pub mod grpc;
pub mod hub;
pub mod ids;
pub mod metrics;
pub mod recorder;
pub mod server;
pub mod store;
pub mod time;
pub mod tls;

pub use cli::ControlPlaneArgs;
pub use server::{Running, StartError, run, start};
pub use store::{Backend, Store, StoreError};
