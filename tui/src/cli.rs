//! Command-line flags of `glitch-console` (contract §1); every flag is also read from the env
//! var shown in `--help`. The token is read from `GLITCH_ADMIN_TOKEN` only, never from the
//! command line (where other users of the machine could read it). The starting filters can be
//! given as flags too; the filter editor (`f`) changes them while running.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

pub use glitch_process::LogFormat;

use crate::filter::{DEFAULT_PATH, Filters};

/// The env var that holds the token.
pub const TOKEN_ENV: &str = "GLITCH_ADMIN_TOKEN";

/// glitch-console: the terminal console of the Glitch audit log. Browse Claude Code sessions,
/// their requests, and what the gateway saw and blocked.
#[derive(Clone, Parser)]
#[command(
    name = "glitch-console",
    version,
    about,
    long_about = None,
    after_help = "Environment:\n  GLITCH_ADMIN_TOKEN  required: the audit API's admin token, or a project token \
(sent as Authorization: Bearer)\n  NO_COLOR            set to anything to draw without colour\n\nPress ? in the console for every key."
)]
pub struct ConsoleArgs {
    /// Base URL of the audit query API (glitch-audit-consumer).
    #[arg(
        long,
        env = "GLITCH_AUDIT_API",
        default_value = "http://127.0.0.1:8082"
    )]
    pub api: String,

    /// Live-mode refresh period, e.g. 2s, 500ms, 1m.
    #[arg(long, env = "GLITCH_CONSOLE_REFRESH", default_value = "2s", value_parser = parse_refresh)]
    pub refresh: Duration,

    /// Start with live mode off (press a to turn it on).
    #[arg(
        long,
        env = "GLITCH_CONSOLE_NO_LIVE",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub no_live: bool,

    /// Starting filter: exact project id.
    #[arg(long, env = "GLITCH_CONSOLE_PROJECT", default_value = "")]
    pub project: String,

    /// Starting filter: exact request path ("" for every path).
    #[arg(long, env = "GLITCH_CONSOLE_PATH", default_value = DEFAULT_PATH)]
    pub path: String,

    /// Starting filter: detector type (pii/email) or family (secrets/*).
    #[arg(long, env = "GLITCH_CONSOLE_DETECTOR", default_value = "")]
    pub detector: String,

    /// Starting filter: decision (allowed, blocked, flagged, auth_failed, error).
    #[arg(long, env = "GLITCH_CONSOLE_DECISION", default_value = "")]
    pub decision: String,

    /// Starting filter: time range start (15m, 24h, 7d, a date or an RFC 3339 time).
    #[arg(long, env = "GLITCH_CONSOLE_SINCE", default_value = "")]
    pub since: String,

    /// Starting filter: time range end (same forms).
    #[arg(long, env = "GLITCH_CONSOLE_UNTIL", default_value = "")]
    pub until: String,

    /// Starting filter: blocked requests only.
    #[arg(
        long,
        env = "GLITCH_CONSOLE_BLOCKED",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub blocked: bool,

    /// Write logs to this file (the console never logs to the terminal it draws on).
    #[arg(long, env = "GLITCH_CONSOLE_LOG_FILE")]
    pub log_file: Option<PathBuf>,

    /// Log format (filter with RUST_LOG).
    #[arg(long, env = "GLITCH_LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,

    /// The token (from GLITCH_ADMIN_TOKEN; never a flag).
    #[arg(skip)]
    pub token: Option<String>,
}

impl std::fmt::Debug for ConsoleArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleArgs")
            .field("api", &self.api)
            .field("refresh", &self.refresh)
            .field("no_live", &self.no_live)
            .field("filters", &self.filters())
            .field("log_file", &self.log_file)
            .field("log_format", &self.log_format)
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

impl ConsoleArgs {
    /// Fills [`ConsoleArgs::token`] from `GLITCH_ADMIN_TOKEN`.
    pub fn with_token_from_env(mut self) -> Self {
        self.token = std::env::var(TOKEN_ENV)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        self
    }

    /// The starting filters.
    pub fn filters(&self) -> Filters {
        Filters {
            project: self.project.trim().to_owned(),
            path: self.path.trim().to_owned(),
            detector: self.detector.trim().to_owned(),
            decision: self.decision.trim().to_owned(),
            since: self.since.trim().to_owned(),
            until: self.until.trim().to_owned(),
            blocked_only: self.blocked,
            search: String::new(),
        }
    }
}

/// `2s`, `500ms`, `1m`: at least 200 ms.
fn parse_refresh(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let ms = if let Some(n) = t.strip_suffix("ms") {
        n.parse::<u64>().ok()
    } else if let Some(n) = t.strip_suffix('s') {
        n.parse::<u64>().ok().map(|s| s * 1000)
    } else if let Some(n) = t.strip_suffix('m') {
        n.parse::<u64>().ok().map(|m| m * 60_000)
    } else {
        None
    }
    .ok_or_else(|| format!("{t:?} is not a period: use 2s, 500ms or 1m"))?;
    if ms < 200 {
        return Err("the refresh period must be at least 200ms".to_owned());
    }
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags() {
        let args = ConsoleArgs::try_parse_from([
            "glitch-console",
            "--api",
            "http://audit:8082",
            "--refresh",
            "500ms",
            "--blocked",
            "--since",
            "24h",
        ])
        .unwrap();
        assert_eq!(args.refresh, Duration::from_millis(500));
        let f = args.filters();
        assert!(f.blocked_only);
        assert_eq!(f.since, "24h");
        assert_eq!(f.path, DEFAULT_PATH);
        assert!(ConsoleArgs::try_parse_from(["glitch-console", "--refresh", "0s"]).is_err());
        assert!(ConsoleArgs::try_parse_from(["glitch-console", "--refresh", "soon"]).is_err());
    }

    #[test]
    fn debug_hides_the_token() {
        let mut args = ConsoleArgs::try_parse_from(["glitch-console"]).unwrap();
        args.token = Some("secret-token-value".into());
        assert!(!format!("{args:?}").contains("secret-token-value"));
    }
}
