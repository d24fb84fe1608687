//! SecurityEvents from request to event log. The request path reserves a queue slot when it
//! starts (so a full queue slows new requests down instead of growing memory or dropping events),
//! fills an [`EventDraft`] as it goes, and hands it over without waiting when it ends. One writer
//! thread turns drafts into protobuf records — building the stored conversation (matched secrets
//! masked, size capped) off the request path — and appends them to the event log in batches,
//! one fsync per batch. A failing disk is retried forever: events are never dropped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use glitch_detect::engine::mask;
use glitch_eventlog::{EventLogError, EventLogWriter, WriterOptions};
use glitch_proto::events::v1::{Conversation, SecurityEvent};
use prost::Message;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::metrics::SensorMetrics;

/// Where events go, parsed from `--events`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventsTarget {
    /// `file:DIR`: the embedded segment log.
    File(PathBuf),
}

impl EventsTarget {
    /// Parses `file:DIR`. Kafka targets are recognised and refused until the Kafka sink exists.
    pub fn parse(spec: &str) -> Result<Self, String> {
        if let Some(dir) = spec.strip_prefix("file:") {
            if dir.is_empty() {
                return Err(
                    "--events file: needs a directory, e.g. file:./glitch-data/events".into(),
                );
            }
            return Ok(EventsTarget::File(PathBuf::from(dir)));
        }
        if spec.starts_with("kafka://") {
            return Err(
                "--events kafka://... is not supported by this build yet; use file:DIR".into(),
            );
        }
        Err(format!(
            "--events must be file:DIR or kafka://HOST:PORT/TOPIC, got {spec:?}"
        ))
    }

    /// How /health shows it.
    pub fn label(&self) -> String {
        match self {
            EventsTarget::File(dir) => format!("file:{}", dir.display()),
        }
    }
}

/// What kind of body the stored conversation is built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// A Messages request: `system`, `tools`, `messages`.
    Messages,
    /// A batch: `requests`.
    Batch,
    /// Nothing to store.
    None,
}

/// An event as the request path fills it; finished by the writer thread.
#[derive(Debug)]
pub struct EventDraft {
    /// Every field except `conversation`.
    pub event: SecurityEvent,
    /// The request body (reference-counted, not copied) for the stored conversation.
    pub body: Option<Bytes>,
    /// How to read `body`.
    pub body_kind: BodyKind,
    /// Matched values to mask wherever they appear in the stored conversation.
    pub mask_values: Vec<String>,
    /// Assistant text relayed to the client (capped by the relay).
    pub response_text: String,
}

/// Counters shared with /health.
#[derive(Debug, Default)]
pub struct EventSinkHealth {
    failing: AtomicBool,
}

impl EventSinkHealth {
    /// True while writes are failing (events are being retried).
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }
}

/// The request path's handle on the event pipeline.
#[derive(Clone, Debug)]
pub struct EventSink {
    tx: mpsc::Sender<EventDraft>,
    health: Arc<EventSinkHealth>,
    target: String,
}

/// A reserved queue slot: sending through it never waits.
#[derive(Debug)]
pub struct EventPermit(mpsc::OwnedPermit<EventDraft>);

impl EventPermit {
    /// Hands the draft to the writer.
    pub fn send(self, draft: EventDraft) {
        self.0.send(draft);
    }
}

/// Why the event sink could not start.
#[derive(Debug, thiserror::Error)]
pub enum EventSinkError {
    /// The event log could not be opened.
    #[error("cannot open event log: {0}")]
    Open(#[from] EventLogError),
    /// The writer thread could not be started.
    #[error("cannot start event writer thread: {0}")]
    Thread(std::io::Error),
}

/// The running writer; join it after every [`EventSink`] clone is dropped to flush.
#[derive(Debug)]
pub struct EventWriterHandle {
    thread: Option<JoinHandle<()>>,
}

impl EventWriterHandle {
    /// Waits until every queued event is written (call after dropping all senders).
    pub async fn flush_and_join(mut self) {
        if let Some(thread) = self.thread.take() {
            let joined = tokio::task::spawn_blocking(move || thread.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                tracing::error!("event writer thread ended abnormally");
            }
        }
    }
}

/// Settings of the writer.
#[derive(Clone, Debug)]
pub struct EventSinkOptions {
    /// Queue capacity (events in flight + waiting).
    pub queue: usize,
    /// Largest stored conversation, bytes.
    pub conversation_cap: usize,
}

impl EventSink {
    /// Opens the target and starts the writer thread.
    pub fn start(
        target: &EventsTarget,
        options: EventSinkOptions,
        metrics: Arc<SensorMetrics>,
    ) -> Result<(EventSink, EventWriterHandle), EventSinkError> {
        let EventsTarget::File(dir) = target;
        let writer = EventLogWriter::open(dir, WriterOptions::default())?;
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let health = Arc::new(EventSinkHealth::default());
        let thread_health = health.clone();
        let cap = options.conversation_cap;
        let thread = std::thread::Builder::new()
            .name("glitch-event-writer".into())
            .spawn(move || writer_loop(writer, rx, cap, &metrics, &thread_health))
            .map_err(EventSinkError::Thread)?;
        Ok((
            EventSink {
                tx,
                health,
                target: target.label(),
            },
            EventWriterHandle {
                thread: Some(thread),
            },
        ))
    }

    /// Reserves a slot for one event; waits only when the queue is full. `None` once the
    /// writer has stopped (shutdown).
    pub async fn reserve(&self) -> Option<EventPermit> {
        self.tx.clone().reserve_owned().await.ok().map(EventPermit)
    }

    /// Health of the writer.
    pub fn health(&self) -> &EventSinkHealth {
        &self.health
    }

    /// `file:DIR`.
    pub fn target_label(&self) -> &str {
        &self.target
    }
}

const MAX_BATCH: usize = 1024;

fn writer_loop(
    mut writer: EventLogWriter,
    mut rx: mpsc::Receiver<EventDraft>,
    conversation_cap: usize,
    metrics: &SensorMetrics,
    health: &EventSinkHealth,
) {
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(finish(first, conversation_cap));
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(draft) => batch.push(finish(draft, conversation_cap)),
                Err(_) => break,
            }
        }
        write_with_retry(&mut writer, &batch, metrics, health);
        metrics.events_written.inc_by(batch.len() as u64);
        metrics
            .event_queue_depth
            .set(i64::try_from(rx.len()).unwrap_or(i64::MAX));
        batch.clear();
    }
    tracing::debug!(dir = %writer.dir().display(), "event writer drained and stopped");
}

fn write_with_retry(
    writer: &mut EventLogWriter,
    batch: &[Vec<u8>],
    metrics: &SensorMetrics,
    health: &EventSinkHealth,
) {
    let mut delay = Duration::from_millis(50);
    loop {
        match writer.append_batch(batch) {
            Ok(_) => {
                if health.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("event log writes recovered");
                }
                return;
            }
            Err(e) => {
                metrics.event_write_errors.inc();
                if !health.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(error = %e, events = batch.len(), "cannot write events; retrying (requests slow down when the queue fills)");
                }
                std::thread::park_timeout(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Builds the stored conversation and encodes the event.
fn finish(draft: EventDraft, conversation_cap: usize) -> Vec<u8> {
    let EventDraft {
        mut event,
        body,
        body_kind,
        mask_values,
        response_text,
    } = draft;
    let mut conversation = match (body, body_kind) {
        (Some(body), BodyKind::Messages | BodyKind::Batch) => {
            build_conversation(&body, body_kind, &mask_values, conversation_cap)
        }
        _ => None,
    };
    if !response_text.is_empty() {
        let text = mask_all(response_text, &mask_values);
        conversation
            .get_or_insert_with(Conversation::default)
            .response_text = text;
    }
    event.conversation = conversation;
    event.encode_to_vec()
}

fn mask_all(mut text: String, values: &[String]) -> String {
    for value in values {
        if !value.is_empty() && text.contains(value.as_str()) {
            text = text.replace(value.as_str(), &mask(value));
        }
    }
    text
}

fn mask_strings(value: &mut Value, values: &[String]) {
    match value {
        Value::String(s)
            if values
                .iter()
                .any(|v| !v.is_empty() && s.contains(v.as_str())) =>
        {
            *s = mask_all(std::mem::take(s), values);
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mask_strings(v, values)),
        Value::Object(map) => map.values_mut().for_each(|v| mask_strings(v, values)),
        _ => {}
    }
}

/// Cuts every string longer than `max_chars`, marking the cut.
fn truncate_strings(value: &mut Value, max_chars: usize) {
    match value {
        Value::String(s) if s.len() > max_chars => {
            let cut = s
                .char_indices()
                .nth(max_chars)
                .map(|(i, _)| i)
                .unwrap_or(s.len());
            s.truncate(cut);
            s.push_str("…[truncated]");
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| truncate_strings(v, max_chars)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| truncate_strings(v, max_chars)),
        _ => {}
    }
}

fn to_json(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Serializes `value` within `budget` bytes: whole if it fits, else with long strings cut
/// down step by step.
fn fit(mut value: Value, budget: usize, truncated: &mut bool) -> String {
    let mut json = to_json(&value);
    let mut max_chars = 4096;
    while json.len() > budget && max_chars >= 16 {
        *truncated = true;
        truncate_strings(&mut value, max_chars);
        json = to_json(&value);
        max_chars /= 4;
    }
    if json.len() > budget {
        *truncated = true;
        return String::new();
    }
    json
}

fn build_conversation(
    body: &[u8],
    kind: BodyKind,
    mask_values: &[String],
    cap: usize,
) -> Option<Conversation> {
    let Value::Object(mut map) = serde_json::from_slice::<Value>(body).ok()? else {
        return None;
    };
    let mut truncated = false;
    let mut conversation = Conversation::default();
    let system_budget = cap / 4;
    let tools_budget = cap / 8;
    if let Some(mut system) = map.remove("system") {
        mask_strings(&mut system, mask_values);
        conversation.system_json = fit(system, system_budget, &mut truncated);
    }
    if let Some(tools) = map.remove("tools") {
        let json = to_json(&tools);
        conversation.tools_json = if json.len() <= tools_budget {
            json
        } else {
            truncated = true;
            // Keep what a reviewer needs most: which tools were offered.
            let names: Vec<Value> = tools
                .as_array()
                .map(|tools| {
                    tools
                        .iter()
                        .filter_map(|t| t.get("name").cloned())
                        .map(|name| serde_json::json!({ "name": name }))
                        .collect()
                })
                .unwrap_or_default();
            fit(Value::Array(names), tools_budget, &mut truncated)
        };
    }
    let messages_key = if kind == BodyKind::Batch {
        "requests"
    } else {
        "messages"
    };
    let budget = cap
        .saturating_sub(conversation.system_json.len())
        .saturating_sub(conversation.tools_json.len());
    if let Some(mut messages) = map.remove(messages_key) {
        mask_strings(&mut messages, mask_values);
        if let Value::Array(items) = &mut messages {
            // Drop the oldest turns first: the newest ones are what this request added.
            while items.len() > 1 && to_json_len(items) > budget {
                truncated = true;
                let drop = (items.len() / 4).max(1).min(items.len() - 1);
                items.drain(..drop);
            }
        }
        conversation.messages_json = fit(messages, budget, &mut truncated);
    }
    conversation.truncated = truncated;
    Some(conversation)
}

fn to_json_len(items: &[Value]) -> usize {
    serde_json::to_vec(items)
        .map(|v| v.len())
        .unwrap_or(usize::MAX)
}

/// Headers whose values are credentials.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "x-glitch-key",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// The placeholder stored instead of a credential.
pub const REDACTED: &str = "[REDACTED]";

/// Request headers for the event, credentials redacted, values lossily UTF-8.
pub fn redacted_headers(headers: &http::HeaderMap) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = HashMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name = name.as_str();
        let shown = if CREDENTIAL_HEADERS.contains(&name) {
            REDACTED.to_owned()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        out.entry(name.to_owned())
            .and_modify(|existing| {
                existing.push_str(", ");
                existing.push_str(&shown);
            })
            .or_insert(shown);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            EventsTarget::parse("file:/tmp/x").unwrap(),
            EventsTarget::File("/tmp/x".into())
        );
        assert!(EventsTarget::parse("file:").is_err());
        assert!(EventsTarget::parse("kafka://h:9092/t").is_err());
        assert!(EventsTarget::parse("s3://bucket").is_err());
    }

    #[test]
    fn credentials_are_redacted() {
        let mut h = http::HeaderMap::new();
        h.insert("x-api-key", "sk-ant-api03-secret".parse().unwrap());
        h.insert(
            "authorization",
            "Bearer sk-ant-oat01-secret".parse().unwrap(),
        );
        h.insert("x-glitch-key", "glitch_sk_secret".parse().unwrap());
        h.insert("anthropic-version", "2023-06-01".parse().unwrap());
        let out = redacted_headers(&h);
        assert_eq!(out["x-api-key"], REDACTED);
        assert_eq!(out["authorization"], REDACTED);
        assert_eq!(out["x-glitch-key"], REDACTED);
        assert_eq!(out["anthropic-version"], "2023-06-01");
    }

    #[test]
    fn conversation_masks_and_caps() {
        let long = "x".repeat(10_000);
        let body = serde_json::json!({
            "system": "you are helpful",
            "tools": [{"name": "Bash", "description": long, "input_schema": {}}],
            "messages": [
                {"role": "user", "content": format!("old turn {long}")},
                {"role": "user", "content": "my codename is bluebird, ok?"}
            ]
        });
        let body = serde_json::to_vec(&body).unwrap();
        let conv =
            build_conversation(&body, BodyKind::Messages, &["bluebird".into()], 4096).unwrap();
        assert!(conv.truncated);
        assert!(
            !conv.messages_json.contains("bluebird"),
            "{}",
            conv.messages_json
        );
        assert!(
            conv.messages_json.contains("my codename is bl********"),
            "{}",
            conv.messages_json
        );
        assert!(!conv.messages_json.contains("old turn"));
        assert_eq!(conv.tools_json, r#"[{"name":"Bash"}]"#);
        assert_eq!(conv.system_json, r#""you are helpful""#);
        let total = conv.system_json.len() + conv.tools_json.len() + conv.messages_json.len();
        assert!(total <= 4096);
        // Small conversations are stored whole.
        let conv = build_conversation(
            br#"{"messages":[{"role":"user","content":"hi"}]}"#,
            BodyKind::Messages,
            &[],
            4096,
        )
        .unwrap();
        assert!(!conv.truncated);
        assert_eq!(conv.messages_json, r#"[{"content":"hi","role":"user"}]"#);
    }
}
