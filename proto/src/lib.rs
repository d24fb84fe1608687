//! Glitch's protobuf wire types, generated from `proto/` at build time:
//! [`events::v1::SecurityEvent`] (the audit record) and [`config::v1::ConfigSnapshot`] with the
//! config-push stream messages. No logic lives here.

/// `glitch.events.v1`
pub mod events {
    /// Version 1 of the event schema.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/glitch.events.v1.rs"));
    }
}

/// `glitch.config.v1`
pub mod config {
    /// Version 1 of the config snapshot schema.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/glitch.config.v1.rs"));
    }
}

pub use prost;
pub use prost_types;
