//! The consumer's configuration checked as a whole before anything starts: [`Config::from_args`]
//! turns [`AuditArgs`] into typed values (the event source, the token set, limits) or a one-line
//! reason. Nothing here touches the network or the disk.

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::TokenSet;
use crate::cli::AuditArgs;

/// Largest `--batch-size` accepted.
pub const MAX_BATCH_SIZE: usize = 50_000;

/// Where events come from, parsed from `--events`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventsSource {
    /// `file:DIR`: the sensor's segment log.
    File(PathBuf),
    /// `kafka://HOST:PORT[,HOST:PORT...]/TOPIC`.
    Kafka {
        /// `bootstrap.servers`.
        brokers: String,
        /// The topic.
        topic: String,
    },
}

impl EventsSource {
    /// Parses `file:DIR` or `kafka://HOST:PORT[,HOST:PORT...]/TOPIC`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        if let Some(dir) = spec.strip_prefix("file:") {
            if dir.is_empty() {
                return Err(
                    "--events file: needs a directory, e.g. file:./glitch-data/events".into(),
                );
            }
            return Ok(EventsSource::File(PathBuf::from(dir)));
        }
        if let Some(rest) = spec.strip_prefix("kafka://") {
            let usage =
                || format!("--events {spec:?} is not kafka://HOST:PORT[,HOST:PORT...]/TOPIC");
            let (brokers, topic) = rest.split_once('/').ok_or_else(usage)?;
            if brokers.is_empty() {
                return Err(usage());
            }
            for broker in brokers.split(',') {
                let (host, port) = broker.rsplit_once(':').ok_or_else(usage)?;
                if host.is_empty() || port.parse::<u16>().is_err() {
                    return Err(usage());
                }
            }
            if topic.is_empty()
                || topic.len() > 249
                || topic == "."
                || topic == ".."
                || !topic
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            {
                return Err(format!(
                    "--events {spec:?}: {topic:?} is not a valid Kafka topic name (letters, digits, '.', '_', '-')"
                ));
            }
            return Ok(EventsSource::Kafka {
                brokers: brokers.to_owned(),
                topic: topic.to_owned(),
            });
        }
        Err(format!(
            "--events must be file:DIR or kafka://HOST:PORT[,HOST:PORT...]/TOPIC, got {spec:?}"
        ))
    }

    /// How `/health` and the logs show it.
    pub fn label(&self) -> String {
        match self {
            EventsSource::File(dir) => format!("file:{}", dir.display()),
            EventsSource::Kafka { brokers, topic } => format!("kafka://{brokers}/{topic}"),
        }
    }
}

/// Everything [`crate::start`] needs, checked.
#[derive(Clone, Debug)]
pub struct Config {
    /// The event source.
    pub source: EventsSource,
    /// Kafka consumer group.
    pub group: String,
    /// Index URL (may hold a password: never log it as is).
    pub index_url: String,
    /// Records per batch at most.
    pub batch_size: usize,
    /// How long rows are kept, if not forever.
    pub retention: Option<Duration>,
    /// Who may call the API.
    pub tokens: TokenSet,
}

impl Config {
    /// Checks every flag; the error is a one-line reason.
    pub fn from_args(args: &AuditArgs) -> Result<Config, String> {
        let tokens =
            TokenSet::from_env_values(args.admin_token.as_deref(), args.audit_tokens.as_deref())?;
        let source = EventsSource::parse(&args.events)?;
        if args.group.trim().is_empty() || args.group.len() > 255 {
            return Err("--group must be 1-255 characters".into());
        }
        if args.batch_size == 0 || args.batch_size > MAX_BATCH_SIZE {
            return Err(format!(
                "--batch-size must be between 1 and {MAX_BATCH_SIZE}, got {}",
                args.batch_size
            ));
        }
        if let Some(r) = args.retention
            && r < Duration::from_secs(1)
        {
            return Err("--retention must be at least 1s".into());
        }
        Ok(Config {
            source,
            group: args.group.clone(),
            index_url: args.index.clone(),
            batch_size: args.batch_size,
            retention: args.retention,
            tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_specs() {
        assert_eq!(
            EventsSource::parse("file:./glitch-data/events"),
            Ok(EventsSource::File(PathBuf::from("./glitch-data/events")))
        );
        assert_eq!(
            EventsSource::parse("kafka://a:9092,b:9093/glitch.events"),
            Ok(EventsSource::Kafka {
                brokers: "a:9092,b:9093".into(),
                topic: "glitch.events".into()
            })
        );
        for bad in [
            "file:",
            "dir",
            "kafka://",
            "kafka://a:9092",
            "kafka://a:9092/",
            "kafka://a/t",
            "kafka://a:x/t",
            "kafka://:9092/t",
            "kafka://a:9092/bad topic",
            "kafka://a:9092/t/u",
        ] {
            assert!(EventsSource::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            EventsSource::parse("kafka://h:1/t").map(|s| s.label()),
            Ok("kafka://h:1/t".to_owned())
        );
    }

    #[test]
    fn whole_config() {
        let args = AuditArgs::for_tests("file:/tmp/x", "sqlite://x.db", "admin-token-0123456789");
        let config = Config::from_args(&args).unwrap();
        assert_eq!(config.batch_size, 1000);
        let mut bad = args.clone();
        bad.batch_size = 0;
        assert!(
            Config::from_args(&bad)
                .unwrap_err()
                .contains("--batch-size")
        );
        let mut bad = args.clone();
        bad.admin_token = None;
        assert!(
            Config::from_args(&bad)
                .unwrap_err()
                .contains("GLITCH_ADMIN_TOKEN")
        );
        let mut bad = args;
        bad.events = "nope".into();
        assert!(Config::from_args(&bad).unwrap_err().contains("--events"));
    }
}
