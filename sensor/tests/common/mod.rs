//! Test harness: a fake Anthropic upstream, a sensor started in-process on free ports with a
//! temporary policy file and event log, a client, and a reader for the events written.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the harness"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test harness: failing loudly is the point"
)]

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use glitch_eventlog::{EventLogReader, Position};
use glitch_fake_anthropic::FakeAnthropic;
use glitch_proto::events::v1::SecurityEvent;
use glitch_sensor::{RunningSensor, SensorArgs};
use prost::Message;
use tempfile::TempDir;

pub const KEY: &str = "glitch_sk_test0000000000000000001";
pub const OTHER_KEY: &str = "glitch_sk_test0000000000000000002";

pub const POLICY: &str = r#"
policies:
  - id: pol_test
    name: Test policy
    custom_detectors:
      - {name: codename, pattern: "(?i)\\bbluebird\\b", action: block, scope: input}
      - {name: ticket, pattern: "\\bSEC-\\d+\\b", action: log, scope: input}
  - id: pol_limited
    name: Rate limited
    rate_limits: {enabled: true, requests_per_minute: 2, tokens_per_minute: 1000000, max_input_tokens: 50000}
projects:
  - {id: proj_test, name: Test, policy_id: pol_test}
  - {id: proj_limited, name: Limited, policy_id: pol_limited}
keys:
  - {id: key_test, project_id: proj_test, key: glitch_sk_test0000000000000000001}
  - {id: key_limited, project_id: proj_limited, key: glitch_sk_test0000000000000000002}
"#;

/// An Anthropic API key that looks real, built at run time (never written in the repo).
pub fn anthropic_key() -> String {
    format!("sk-ant-api03-{}AA", "Zq9".repeat(31))
}

/// A Claude OAuth token that looks real, built at run time.
pub fn oauth_token() -> String {
    format!("sk-ant-oat01-{}AA", "Xw7".repeat(31))
}

pub struct Harness {
    pub fake: FakeAnthropic,
    pub sensor: Option<RunningSensor>,
    pub dir: TempDir,
    pub client: reqwest::Client,
    pub base: String,
    pub admin: String,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(POLICY, &[], None).await
    }

    /// `extra` flags are appended; `upstream` overrides the fake's URL.
    pub async fn start_with(policy: &str, extra: &[&str], upstream: Option<String>) -> Self {
        let fake = FakeAnthropic::start().await.expect("fake upstream");
        Self::start_with_fake(fake, policy, extra, upstream).await
    }

    /// Like `start_with`, with a fake upstream started by the caller.
    pub async fn start_with_fake(
        fake: FakeAnthropic,
        policy: &str,
        extra: &[&str],
        upstream: Option<String>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let policy_path = dir.path().join("policy.yaml");
        std::fs::write(&policy_path, policy).unwrap();
        let events = format!("file:{}", dir.path().join("events").display());
        let upstream = upstream.unwrap_or_else(|| fake.url());
        let mut args = vec![
            "glitch-sensor".to_owned(),
            "--listen=127.0.0.1:0".into(),
            "--admin-listen=127.0.0.1:0".into(),
            format!("--policy-file={}", policy_path.display()),
            format!("--events={events}"),
            format!("--state-dir={}", dir.path().join("state").display()),
            format!("--upstream={upstream}"),
            "--policy-reload-ms=100".into(),
            "--sensor-id=sensor-test".into(),
            "--region=test-region".into(),
            "--shutdown-grace-secs=5".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let sensor = glitch_sensor::start(SensorArgs::parse_from(args))
            .await
            .expect("sensor starts");
        let base = format!("http://{}", sensor.addr);
        let admin = format!("http://{}", sensor.admin_addr);
        Harness {
            fake,
            sensor: Some(sensor),
            dir,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base,
            admin,
        }
    }

    pub fn policy_path(&self) -> PathBuf {
        self.dir.path().join("policy.yaml")
    }

    pub fn events_dir(&self) -> PathBuf {
        self.dir.path().join("events")
    }

    /// A `/v1/messages?beta=true` request as Claude Code sends it.
    pub fn messages(&self, key: &str, body: &serde_json::Value) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}/v1/messages?beta=true", self.base))
            .header("x-api-key", anthropic_key())
            .header("anthropic-version", "2023-06-01")
            .header(
                "anthropic-beta",
                "claude-code-20250219,fine-grained-tool-streaming-2025-05-14",
            )
            .header("x-glitch-key", key)
            .header(
                "x-claude-code-session-id",
                "11111111-2222-3333-4444-555555555555",
            )
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap())
    }

    /// Stops the sensor (flushing events) and returns every event written, in order.
    pub async fn stop(&mut self) -> Vec<SecurityEvent> {
        if let Some(sensor) = self.sensor.take() {
            sensor.shutdown().await;
        }
        read_events(&self.events_dir())
    }
}

pub fn read_events(dir: &std::path::Path) -> Vec<SecurityEvent> {
    let mut reader = EventLogReader::open(dir, Position::default()).unwrap();
    let mut out = Vec::new();
    while let Some((bytes, _)) = reader.next_record().unwrap() {
        out.push(SecurityEvent::decode(bytes.as_slice()).unwrap());
    }
    out
}

/// Every byte the event log holds, for redaction checks.
pub fn event_log_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        all.extend(std::fs::read(path).unwrap());
    }
    all
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

pub fn simple_body(text: &str, stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 64,
        "stream": stream,
        "system": [{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
        "metadata": {"user_id": "user_abc_account_def_session_99999999-8888-7777-6666-555555555555"}
    })
}

/// Polls until `f` is true or the timeout passes.
pub async fn eventually(timeout: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// GETs a URL and parses the JSON answer.
pub async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}
