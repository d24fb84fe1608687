//! The audit pipeline as real processes, for the end-to-end tests and `glitch-bench audit`:
//! a `glitch-sensor` writing to Kafka (or a file log), a `glitch-audit-consumer` indexing into
//! SQLite or PostgreSQL, the fake Anthropic upstream, and small clients for the sensor and the
//! audit API.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{ChildProcess, url_after, workspace_bin};

/// The admin token the pipeline's audit consumer runs with.
pub const AUDIT_TOKEN: &str = "pipeline-admin-token-0123456789";

/// The Glitch key of [`POLICY`]'s project.
pub const KEY: &str = "glitch_sk_pipe00000000000000000000001";

/// A standalone policy: secrets and prompt attacks are logged (so requests carrying secrets
/// pass and are recorded with findings), a custom codename detector blocks.
pub const POLICY: &str = r#"
policies:
  - id: pol_pipe
    name: Pipeline
    input_detectors:
      - {detector_type: "secrets/*", threshold: L2, action: log}
      - {detector_type: prompt_attack, threshold: L2, action: log}
    custom_detectors:
      - {name: project_codename, pattern: "(?i)\\bbluebird\\b", action: block}
projects:
  - {id: proj_pipe, name: Pipeline, policy_id: pol_pipe}
keys:
  - {id: key_pipe, project_id: proj_pipe, key: glitch_sk_pipe00000000000000000000001}
"#;

/// A running sensor.
pub struct Sensor {
    /// The process.
    pub process: ChildProcess,
    /// `http://HOST:PORT` of the proxy.
    pub base: String,
    /// `http://HOST:PORT` of the admin listener.
    pub admin: String,
}

/// Starts `glitch-sensor` with the pipeline policy (written into `dir`), `events`
/// (`file:DIR` or `kafka://...`) and state in `dir/state`.
pub fn start_sensor(dir: &Path, events: &str, upstream: &str, extra: &[String]) -> Sensor {
    let policy = dir.join("policy.yaml");
    if !policy.exists() {
        std::fs::write(&policy, POLICY).unwrap_or_else(|e| panic!("write policy: {e}"));
    }
    let mut args = vec![
        "--listen=127.0.0.1:0".to_owned(),
        "--admin-listen=127.0.0.1:0".into(),
        format!("--policy-file={}", policy.display()),
        format!("--events={events}"),
        format!("--state-dir={}", dir.join("state").display()),
        format!("--upstream={upstream}"),
        "--sensor-id=pipeline-sensor".into(),
    ];
    args.extend_from_slice(extra);
    let (process, ready) = ChildProcess::spawn(
        &workspace_bin("glitch-sensor"),
        &args,
        &[],
        "glitch-sensor listening on ",
    );
    let base = url_after(&ready, "listening on ").unwrap_or_default();
    let admin = url_after(&ready, "(admin ").unwrap_or_default();
    Sensor {
        process,
        base,
        admin,
    }
}

/// A running audit consumer.
pub struct Consumer {
    /// The process.
    pub process: ChildProcess,
    /// `http://HOST:PORT` of the query API.
    pub api: String,
}

/// Starts `glitch-audit-consumer` reading `events` into `index`.
pub fn start_consumer(events: &str, index: &str, extra: &[String]) -> Consumer {
    let mut args = vec![
        format!("--events={events}"),
        format!("--index={index}"),
        "--listen=127.0.0.1:0".into(),
    ];
    args.extend_from_slice(extra);
    let (process, ready) = ChildProcess::spawn(
        &workspace_bin("glitch-audit-consumer"),
        &args,
        &[("GLITCH_ADMIN_TOKEN", AUDIT_TOKEN)],
        "glitch-audit-consumer listening on ",
    );
    let api = url_after(&ready, "listening on ").unwrap_or_default();
    Consumer { process, api }
}

/// Sends one small non-streaming Messages request in `session`; returns the status and the
/// `X-Glitch-Event-Id` the sensor answered with.
pub async fn send_message(
    client: &reqwest::Client,
    base: &str,
    session: &str,
    text: &str,
    api_key: &str,
) -> Result<(u16, String), String> {
    let body = serde_json::json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
    });
    let response = client
        .post(format!("{base}/v1/messages"))
        .header("x-glitch-key", KEY)
        .header("x-api-key", api_key)
        .header("anthropic-version", "2023-06-01")
        .header("x-claude-code-session-id", session)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let event_id = response
        .headers()
        .get("x-glitch-event-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let _ = response.bytes().await;
    Ok((status, event_id))
}

/// GET on the audit API with the admin token; the JSON body, or the status and text on failure.
pub async fn audit_get(client: &reqwest::Client, api: &str, path: &str) -> Result<Value, String> {
    let response = client
        .get(format!("{api}{path}"))
        .bearer_auth(AUDIT_TOKEN)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
}

/// Every event id in the index (paging through `GET /v1/events`), counting repeats.
pub async fn indexed_event_ids(client: &reqwest::Client, api: &str) -> Result<Vec<String>, String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/v1/events?limit=1000".to_owned();
        if let Some(c) = &cursor {
            path.push_str("&cursor=");
            path.push_str(c);
        }
        let page = audit_get(client, api, &path).await?;
        for event in page["results"].as_array().into_iter().flatten() {
            ids.push(event["event_id"].as_str().unwrap_or_default().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) if !next.is_empty() => cursor = Some(next.to_owned()),
            _ => return Ok(ids),
        }
    }
}

/// Waits until the event is queryable by id; returns how long that took.
pub async fn wait_queryable(
    client: &reqwest::Client,
    api: &str,
    event_id: &str,
    timeout: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if audit_get(client, api, &format!("/v1/events/{event_id}"))
            .await
            .is_ok()
        {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// GET a JSON document from the sensor's admin listener (`/health`).
pub async fn sensor_health(client: &reqwest::Client, admin: &str) -> Value {
    match client.get(format!("{admin}/health")).send().await {
        Ok(response) => response.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}
