//! Command-line flags of `glitch-control-plane` (contract §1); every flag is also read from the
//! env var shown in `--help`. The admin token is read from `GLITCH_ADMIN_TOKEN` only, never from
//! the command line (where other users of the machine could read it).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// The env var that holds the admin token.
pub const ADMIN_TOKEN_ENV: &str = "GLITCH_ADMIN_TOKEN";

/// Shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

pub use glitch_process::LogFormat;

/// glitch-control-plane: the REST API for Glitch projects, keys and policies, and the gRPC
/// config stream that pushes versioned snapshots to the sensor fleet.
#[derive(Clone, Parser)]
#[command(
    name = "glitch-control-plane",
    version,
    about,
    long_about = None,
    after_help = "Environment:\n  GLITCH_ADMIN_TOKEN  required: the bearer token REST callers send (at least 16 characters)"
)]
pub struct ControlPlaneArgs {
    /// REST API address.
    #[arg(long, env = "GLITCH_CP_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,

    /// gRPC address sensors stream their config from.
    #[arg(long, env = "GLITCH_CP_GRPC_LISTEN", default_value = "127.0.0.1:50051")]
    pub grpc_listen: SocketAddr,

    /// Database: sqlite://PATH (one file, created if missing) or postgres://USER@HOST/DB (for
    /// several replicas sharing one database).
    #[arg(
        long,
        env = "GLITCH_CP_DATABASE",
        default_value = "sqlite://./glitch-data/control-plane.db"
    )]
    pub database: String,

    /// PEM certificate chain; with --tls-key, both listeners serve TLS.
    #[arg(long, env = "GLITCH_CP_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "GLITCH_CP_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Log format (filter with RUST_LOG).
    #[arg(long, env = "GLITCH_LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,

    /// This replica's name in the sensors table [default: hostname + random suffix].
    #[arg(long, env = "GLITCH_CP_REPLICA_ID")]
    pub replica_id: Option<String>,

    /// TEST ONLY: serve POST /v1/_test/push-invalid-policy, which pushes a snapshot with an
    /// invalid policy to every sensor. Never enable it in production.
    #[arg(
        long,
        env = "GLITCH_CP_FAULT_INJECTION",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub fault_injection: bool,

    /// On SIGTERM/SIGINT, how long open requests and streams may take to finish, in seconds.
    #[arg(long, env = "GLITCH_CP_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    /// The admin token (from GLITCH_ADMIN_TOKEN; never a flag).
    #[arg(skip)]
    pub admin_token: Option<String>,
}

impl std::fmt::Debug for ControlPlaneArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlaneArgs")
            .field("listen", &self.listen)
            .field("grpc_listen", &self.grpc_listen)
            .field("database", &redact_url(&self.database))
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("log_format", &self.log_format)
            .field("replica_id", &self.replica_id)
            .field("fault_injection", &self.fault_injection)
            .field("shutdown_grace_secs", &self.shutdown_grace_secs)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

impl ControlPlaneArgs {
    /// Arguments for an embedded or test control plane: the given database and token, both
    /// listeners on an ephemeral loopback port, everything else at its default (env vars are not
    /// read).
    pub fn for_tests(database: impl Into<String>, admin_token: impl Into<String>) -> Self {
        ControlPlaneArgs {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: database.into(),
            tls_cert: None,
            tls_key: None,
            log_format: LogFormat::Pretty,
            replica_id: None,
            fault_injection: false,
            shutdown_grace_secs: 10,
            admin_token: Some(admin_token.into()),
        }
    }

    /// Fills [`ControlPlaneArgs::admin_token`] from `GLITCH_ADMIN_TOKEN`.
    pub fn with_admin_token_from_env(mut self) -> Self {
        self.admin_token = std::env::var(ADMIN_TOKEN_ENV).ok();
        self
    }
}

/// A database URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:[REDACTED]@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_parse() {
        ControlPlaneArgs::command().debug_assert();
        let args = ControlPlaneArgs::parse_from(["x", "--fault-injection", "--log-format", "json"]);
        assert!(args.fault_injection);
        assert_eq!(args.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(args.grpc_listen.to_string(), "127.0.0.1:50051");
        assert!(ControlPlaneArgs::try_parse_from(["x", "--tls-cert", "a.pem"]).is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:[REDACTED]@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://./x.db"), "sqlite://./x.db");
        let mut args = ControlPlaneArgs::for_tests("sqlite://x", "0123456789abcdef0123");
        args.database = "postgres://u:pw@h/db".into();
        let shown = format!("{args:?}");
        assert!(!shown.contains("0123456789abcdef") && !shown.contains("pw@"));
    }
}
