//! SecurityEvents from request to event log. The request path reserves a queue slot when it
//! starts (so a full queue slows new requests down instead of growing memory or dropping events),
//! fills an [`EventDraft`] as it goes, and hands it over without waiting when it ends. One writer
//! thread turns drafts into protobuf records — building the stored conversation (matched secrets
//! masked, size capped) off the request path — and appends them to the event log in batches,
//! one fsync per batch. A failing disk is retried forever: events are never dropped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use glitch_eventlog::{EventLogError, EventLogWriter, WriterOptions};
use glitch_proto::events::v1::{Conversation, SecurityEvent};
use prost::Message;
use tokio::sync::mpsc;

use crate::conversation::{ConversationBuilder, mask_text};
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
    /// Why the conversation was not kept, when it was not.
    pub omitted_reason: Option<&'static str>,
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
    budget: Arc<BodyBudget>,
    health: Arc<EventSinkHealth>,
    target: String,
}

/// Bytes of request bodies waiting in the queue, bounded so a slow disk cannot make the
/// queue hold gigabytes of prompts.
#[derive(Debug)]
struct BodyBudget {
    queued: AtomicUsize,
    limit: usize,
}

/// A reserved queue slot: sending through it never waits.
#[derive(Debug)]
pub struct EventPermit {
    permit: mpsc::OwnedPermit<EventDraft>,
    budget: Arc<BodyBudget>,
}

/// Why a conversation is left out of an event under memory pressure.
pub const OMITTED_OVER_BUDGET: &str = "event queue over its memory budget";

impl EventPermit {
    /// Hands the draft to the writer. When the queued bodies are over their memory budget the
    /// event keeps every field but its stored conversation (it is never dropped).
    pub fn send(self, mut draft: EventDraft) {
        if let Some(body) = &draft.body {
            let len = body.len();
            let before = self.budget.queued.fetch_add(len, Ordering::Relaxed);
            if before + len > self.budget.limit {
                self.budget.queued.fetch_sub(len, Ordering::Relaxed);
                draft.body = None;
                draft.omitted_reason = Some(OMITTED_OVER_BUDGET);
            }
        }
        self.permit.send(draft);
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
    /// Request-body bytes the queue may hold before conversations are left out.
    pub queue_body_bytes: usize,
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
        let budget = Arc::new(BodyBudget {
            queued: AtomicUsize::new(0),
            limit: options.queue_body_bytes,
        });
        let thread_budget = budget.clone();
        let builder = ConversationBuilder::new(options.conversation_cap);
        let thread = std::thread::Builder::new()
            .name("glitch-event-writer".into())
            .spawn(move || {
                writer_loop(
                    writer,
                    rx,
                    builder,
                    &thread_budget,
                    &metrics,
                    &thread_health,
                )
            })
            .map_err(EventSinkError::Thread)?;
        Ok((
            EventSink {
                tx,
                budget,
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
        let permit = self.tx.clone().reserve_owned().await.ok()?;
        Some(EventPermit {
            permit,
            budget: self.budget.clone(),
        })
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
    mut builder: ConversationBuilder,
    budget: &BodyBudget,
    metrics: &SensorMetrics,
    health: &EventSinkHealth,
) {
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        let mut take = |draft: EventDraft| {
            let body_len = draft.body.as_ref().map_or(0, Bytes::len);
            let record = finish(draft, &mut builder);
            budget.queued.fetch_sub(body_len, Ordering::Relaxed);
            record
        };
        batch.push(take(first));
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(draft) => batch.push(take(draft)),
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
        let result = writer.append_batch(batch);
        if let Err(EventLogError::RecordTooLarge(_) | EventLogError::EmptyRecord) = result {
            // A record the log can never take: write the others one by one, count the rest.
            for record in batch {
                if let Err(e) = writer.append_batch([record]) {
                    metrics.event_write_errors.inc();
                    tracing::error!(error = %e, bytes = record.len(), "event record refused by the event log");
                }
            }
            return;
        }
        match result {
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
fn finish(draft: EventDraft, builder: &mut ConversationBuilder) -> Vec<u8> {
    let EventDraft {
        mut event,
        body,
        body_kind,
        mask_values,
        response_text,
        omitted_reason,
    } = draft;
    let mut conversation = match (body, body_kind) {
        (Some(body), BodyKind::Messages | BodyKind::Batch) => {
            builder.build(&body, body_kind, &mask_values)
        }
        _ => None,
    };
    if !response_text.is_empty() {
        conversation
            .get_or_insert_with(Conversation::default)
            .response_text = mask_text(response_text, &mask_values);
    }
    if let Some(reason) = omitted_reason {
        conversation
            .get_or_insert_with(Conversation::default)
            .omitted_reason = reason.to_owned();
    }
    event.conversation = conversation;
    event.encode_to_vec()
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
}
