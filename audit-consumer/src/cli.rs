//! Command-line flags of `glitch-audit-consumer` (contract §1); every flag is also read from the
//! env var shown in `--help`. Tokens are read from the environment only (`GLITCH_ADMIN_TOKEN`,
//! `GLITCH_AUDIT_TOKENS`), never from the command line where other users could read them.
//! Values are checked as a whole when the consumer starts ([`crate::config`]).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

pub use glitch_process::LogFormat;

/// The env var that holds the admin token (shared with the control plane).
pub const ADMIN_TOKEN_ENV: &str = "GLITCH_ADMIN_TOKEN";

/// The env var that holds project-scoped tokens: `PROJECT_ID=TOKEN[,PROJECT_ID=TOKEN...]`.
pub const AUDIT_TOKENS_ENV: &str = "GLITCH_AUDIT_TOKENS";

/// Default `--batch-size`.
pub const DEFAULT_BATCH_SIZE: usize = 1000;

/// glitch-audit-consumer: reads SecurityEvents from the event log (file or Kafka), indexes them
/// in SQLite or PostgreSQL and serves the audit query API.
#[derive(Clone, Parser)]
#[command(
    name = "glitch-audit-consumer",
    version,
    about,
    long_about = None,
    after_help = "Environment:\n  GLITCH_ADMIN_TOKEN   required: bearer token with full access (the control plane's admin \
token, at least 16 characters)\n  GLITCH_AUDIT_TOKENS  optional: PROJECT_ID=TOKEN[,PROJECT_ID=TOKEN...] tokens that \
see only their project's sessions and events"
)]
pub struct AuditArgs {
    /// Event log to read: file:DIR (the sensor's segment log) or
    /// kafka://HOST:PORT[,HOST:PORT...]/TOPIC (consumer group --group).
    #[arg(
        long,
        env = "GLITCH_EVENTS",
        default_value = "file:./glitch-data/events"
    )]
    pub events: String,

    /// Kafka consumer group id (kafka:// only).
    #[arg(long, env = "GLITCH_AUDIT_GROUP", default_value = "glitch-audit")]
    pub group: String,

    /// Index database: sqlite://PATH (created with its directory if missing) or
    /// postgres://USER[:PASSWORD]@HOST[:PORT]/DB.
    #[arg(
        long,
        env = "GLITCH_AUDIT_INDEX",
        default_value = "sqlite://./glitch-data/audit.db"
    )]
    pub index: String,

    /// Query API address.
    #[arg(long, env = "GLITCH_AUDIT_LISTEN", default_value = "127.0.0.1:8082")]
    pub listen: SocketAddr,

    /// Keep events, sessions and dead letters this long, e.g. 30d, 12h, 90m (units s, m, h, d,
    /// w) [default: keep forever].
    #[arg(long, env = "GLITCH_AUDIT_RETENTION", value_parser = parse_retention)]
    pub retention: Option<Duration>,

    /// Events per index transaction at most (a batch is also written after ~100 ms).
    #[arg(long, env = "GLITCH_AUDIT_BATCH_SIZE", default_value_t = DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,

    /// Log format (filter with RUST_LOG).
    #[arg(long, env = "GLITCH_LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,

    /// The admin token (from GLITCH_ADMIN_TOKEN; never a flag).
    #[arg(skip)]
    pub admin_token: Option<String>,

    /// Project-scoped tokens, `PROJECT_ID=TOKEN[,...]` (from GLITCH_AUDIT_TOKENS; never a flag).
    #[arg(skip)]
    pub audit_tokens: Option<String>,
}

impl std::fmt::Debug for AuditArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditArgs")
            .field("events", &self.events)
            .field("group", &self.group)
            .field("index", &redact_url(&self.index))
            .field("listen", &self.listen)
            .field("retention", &self.retention)
            .field("batch_size", &self.batch_size)
            .field("log_format", &self.log_format)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field(
                "audit_tokens",
                &self.audit_tokens.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

impl AuditArgs {
    /// Arguments for an embedded or test consumer: the given event log, index and admin token,
    /// the API on an ephemeral loopback port, everything else at its default (env vars are not
    /// read).
    pub fn for_tests(events: &str, index: &str, admin_token: &str) -> Self {
        AuditArgs {
            events: events.to_owned(),
            group: "glitch-audit".to_owned(),
            index: index.to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            retention: None,
            batch_size: DEFAULT_BATCH_SIZE,
            log_format: LogFormat::Pretty,
            admin_token: Some(admin_token.to_owned()),
            audit_tokens: None,
        }
    }

    /// Fills [`AuditArgs::admin_token`] and [`AuditArgs::audit_tokens`] from
    /// `GLITCH_ADMIN_TOKEN` and `GLITCH_AUDIT_TOKENS`.
    pub fn with_tokens_from_env(mut self) -> Self {
        self.admin_token = std::env::var(ADMIN_TOKEN_ENV).ok();
        self.audit_tokens = std::env::var(AUDIT_TOKENS_ENV).ok();
        self
    }
}

/// Parses a retention period: a positive whole number and a unit (`s`, `m`, `h`, `d`, `w`).
pub fn parse_retention(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad = || {
        format!("{text:?} is not a retention period: use a number and a unit, e.g. 30d, 12h, 90m")
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let unit_secs: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    if n == 0 {
        return Err(format!("{text:?}: the retention period must be above zero"));
    }
    let secs = n
        .checked_mul(unit_secs)
        .filter(|s| *s <= 100 * 365 * 86_400)
        .ok_or_else(|| format!("{text:?}: the retention period is over 100 years"))?;
    Ok(Duration::from_secs(secs))
}

/// A database URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if let Some((userinfo, host)) = authority.rsplit_once('@')
            && let Some((user, _password)) = userinfo.split_once(':')
        {
            out = format!("{scheme}://{user}:[REDACTED]@{host}{tail}");
        }
    }
    // A password may also come as a query parameter.
    if let Some(at) = out.find("password=") {
        let end = out[at..].find('&').map_or(out.len(), |e| at + e);
        out.replace_range(at..end, "password=[REDACTED]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_parse() {
        AuditArgs::command().debug_assert();
        let args = AuditArgs::parse_from(["x", "--retention", "30d", "--log-format", "json"]);
        assert_eq!(args.retention, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(args.listen.to_string(), "127.0.0.1:8082");
        assert_eq!(args.batch_size, 1000);
        assert!(AuditArgs::try_parse_from(["x", "--retention", "soon"]).is_err());
    }

    #[test]
    fn retention_periods() {
        assert_eq!(parse_retention("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_retention("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_retention("2w"), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(parse_retention("45s"), Ok(Duration::from_secs(45)));
        for bad in [
            "",
            "30",
            "d",
            "0d",
            "-1d",
            "1.5d",
            "30 days",
            "99999999999999999999d",
        ] {
            assert!(parse_retention(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:[REDACTED]@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("postgres://u@h/db?password=pw&sslmode=require"),
            "postgres://u@h/db?password=[REDACTED]&sslmode=require"
        );
        assert_eq!(redact_url("sqlite://./x.db"), "sqlite://./x.db");
        let mut args = AuditArgs::for_tests("file:x", "sqlite://x", "0123456789abcdef0123");
        args.index = "postgres://u:pw@h/db".into();
        args.audit_tokens = Some("p=project-token-0123456789".into());
        let shown = format!("{args:?}");
        assert!(!shown.contains("0123456789abcdef") && !shown.contains("pw@"));
        assert!(!shown.contains("project-token"));
    }
}
