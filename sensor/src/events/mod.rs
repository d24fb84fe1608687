//! SecurityEvents from request to event log. The request path reserves a queue slot when it
//! starts (so a full queue slows new requests down instead of growing memory or dropping events),
//! fills an [`EventDraft`] as it goes, and hands it over without waiting when it ends. One writer
//! thread turns drafts into protobuf records — building the stored conversation (matched secrets
//! masked, size capped) off the request path — and appends them to the event log in batches,
//! one fsync per batch. A failing disk is retried forever: events are never dropped.
//!
//! With `file:DIR` that log is the event log itself. With `kafka://...` it is the spool in
//! `STATE_DIR/spool` (`spool.rs`), and a forwarder thread (`kafka.rs`) delivers it to Kafka in
//! order, so the request path never waits on Kafka and an outage only grows the spool.

pub mod kafka;
pub mod spool;

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

use self::kafka::KafkaTarget;
use self::spool::{SpoolAdmission, SpoolShared};
use crate::conversation::{ConversationBuilder, mask_text};
use crate::metrics::SensorMetrics;

/// Where events go, parsed from `--events`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventsTarget {
    /// `file:DIR`: the embedded segment log.
    File(PathBuf),
    /// `kafka://HOST:PORT[,HOST:PORT...]/TOPIC`, spooled in the state dir.
    Kafka(KafkaTarget),
}

impl EventsTarget {
    /// Parses `file:DIR` or `kafka://HOST:PORT[,HOST:PORT...]/TOPIC`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        if let Some(dir) = spec.strip_prefix("file:") {
            if dir.is_empty() {
                return Err(
                    "--events file: needs a directory, e.g. file:./glitch-data/events".into(),
                );
            }
            return Ok(EventsTarget::File(PathBuf::from(dir)));
        }
        if let Some(rest) = spec.strip_prefix("kafka://") {
            return KafkaTarget::parse(rest).map(EventsTarget::Kafka);
        }
        Err(format!(
            "--events must be file:DIR or kafka://HOST:PORT/TOPIC, got {spec:?}"
        ))
    }

    /// How /health shows it.
    pub fn label(&self) -> String {
        match self {
            EventsTarget::File(dir) => format!("file:{}", dir.display()),
            EventsTarget::Kafka(target) => target.label(),
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
    /// The request headers as received, redacted into `event.request_headers` by the writer
    /// thread (off the request path); `None` keeps what the event already has.
    pub headers: Option<http::HeaderMap>,
}

/// Gives the calling (background) thread a lower CPU priority (nice 10) than the request
/// workers, so that on a busy machine the event writer and the Kafka forwarder — which parse,
/// mask, encode and ship conversations — yield the CPU to requests instead of delaying them; the
/// bounded queue turns any lag into backpressure. Linux only (`renice` on the thread id, so no
/// unsafe code); best effort: without `renice` nothing changes.
pub fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        let Ok(link) = std::fs::read_link("/proc/thread-self") else {
            return;
        };
        let Some(tid) = link.file_name() else {
            return;
        };
        let _ = std::process::Command::new("renice")
            .args(["-n", "10", "-p"])
            .arg(tid)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Counters shared with /health.
#[derive(Debug, Default)]
pub struct EventSinkHealth {
    failing: AtomicBool,
    spool: Option<Arc<SpoolShared>>,
}

impl EventSinkHealth {
    /// True while writes are failing (events are being retried), or, in Kafka mode, while
    /// deliveries fail or the spool is at its cap.
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
            || self.spool.as_ref().is_some_and(|spool| {
                spool.kafka_failing.load(Ordering::Relaxed) || spool.full.load(Ordering::Relaxed)
            })
    }

    /// The Kafka mode's spool and delivery state for `/health`; `None` for `file:DIR`.
    pub fn spool_json(&self) -> Option<serde_json::Value> {
        let spool = self.spool.as_ref()?;
        Some(serde_json::json!({
            "kafka": spool.label,
            "kafka_status": if spool.kafka_failing.load(Ordering::Relaxed) { "failing" } else { "ok" },
            "kafka_last_error": spool.last_error(),
            "spool_dir": spool.dir.display().to_string(),
            "spool_bytes": spool.bytes.load(Ordering::Relaxed),
            "spool_events": spool.events.load(Ordering::Relaxed),
            "spool_max_bytes": spool.cap,
            "spool_full": spool.full.load(Ordering::Relaxed),
        }))
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
    /// The Kafka producer could not be created (bad client configuration).
    #[error("cannot create the Kafka producer: {0}")]
    Kafka(rdkafka::error::KafkaError),
}

/// The running writer (and forwarder); join it after every [`EventSink`] clone is dropped to
/// flush.
#[derive(Debug)]
pub struct EventWriterHandle {
    thread: Option<JoinHandle<()>>,
    forwarder: Option<JoinHandle<()>>,
}

impl EventWriterHandle {
    /// Waits until every queued event is written (call after dropping all senders); in Kafka
    /// mode also until the spool is delivered (or the forwarder's shutdown deadline passed —
    /// what is left is delivered after the next start).
    pub async fn flush_and_join(mut self) {
        for (name, thread) in [
            ("event writer", self.thread.take()),
            ("Kafka forwarder", self.forwarder.take()),
        ] {
            let Some(thread) = thread else { continue };
            let joined = tokio::task::spawn_blocking(move || thread.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                tracing::error!("{name} thread ended abnormally");
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
    /// Kafka mode: where the spool lives (`STATE_DIR/spool`).
    pub spool_dir: PathBuf,
    /// Kafka mode: the spool's size cap in bytes.
    pub spool_max_bytes: u64,
    /// Kafka mode: the producer's `client.id`.
    pub client_id: String,
}

impl EventSink {
    /// Opens the target and starts the writer thread.
    pub fn start(
        target: &EventsTarget,
        options: EventSinkOptions,
        metrics: Arc<SensorMetrics>,
    ) -> Result<(EventSink, EventWriterHandle), EventSinkError> {
        let (writer, spool, forwarder) = match target {
            EventsTarget::File(dir) => (
                EventLogWriter::open(dir, WriterOptions::default())?,
                None,
                None,
            ),
            EventsTarget::Kafka(kafka) => {
                let (writer, shared, forwarder) =
                    start_spool(kafka, &options, target.label(), metrics.clone())?;
                (writer, Some(shared), Some(forwarder))
            }
        };
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let health = Arc::new(EventSinkHealth {
            failing: AtomicBool::new(false),
            spool: spool.clone(),
        });
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
                lower_this_threads_priority();
                writer_loop(
                    writer,
                    rx,
                    builder,
                    &thread_budget,
                    &metrics,
                    &thread_health,
                    spool.as_deref(),
                );
                if let Some(spool) = &spool {
                    spool.writer_done.store(true, Ordering::Release);
                    spool.doorbell.notify_one();
                }
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
                forwarder,
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
/// A batch also stops growing at this many encoded bytes.
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// Why a conversation is left out of an event when the Kafka spool is at its cap.
pub const OMITTED_SPOOL_FULL: &str = "event spool at its size cap (Kafka unreachable or slow)";

/// Opens the Kafka mode's spool, counts the backlog a previous run left, creates the producer and
/// starts the forwarder.
fn start_spool(
    kafka: &KafkaTarget,
    options: &EventSinkOptions,
    label: String,
    metrics: Arc<SensorMetrics>,
) -> Result<(EventLogWriter, Arc<SpoolShared>, JoinHandle<()>), EventSinkError> {
    let dir = options.spool_dir.clone();
    let writer = EventLogWriter::open(
        &dir,
        WriterOptions {
            segment_bytes: spool::SPOOL_SEGMENT_BYTES,
        },
    )?;
    let shared = Arc::new(SpoolShared::new(
        dir.clone(),
        options.spool_max_bytes,
        label,
    ));
    let backlog = spool::count_records(&dir, spool::read_delivered(&dir))?;
    shared.events.store(backlog, Ordering::Relaxed);
    shared.bytes.store(writer.total_bytes(), Ordering::Relaxed);
    shared
        .full
        .store(writer.total_bytes() >= shared.cap, Ordering::Relaxed);
    metrics.spool_events.set(gauge(backlog));
    metrics.spool_bytes.set(gauge(writer.total_bytes()));
    if backlog > 0 {
        tracing::info!(backlog, spool = %dir.display(), "delivering events spooled by a previous run");
    }
    let producer = kafka::producer(kafka, &options.client_id).map_err(EventSinkError::Kafka)?;
    let forwarder = kafka::spawn_forwarder(
        producer,
        kafka.clone(),
        options.client_id.clone(),
        shared.clone(),
        metrics,
    )
    .map_err(EventSinkError::Thread)?;
    Ok((writer, shared, forwarder))
}

fn gauge(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn writer_loop(
    mut writer: EventLogWriter,
    mut rx: mpsc::Receiver<EventDraft>,
    mut builder: ConversationBuilder,
    budget: &BodyBudget,
    metrics: &SensorMetrics,
    health: &EventSinkHealth,
    spool: Option<&SpoolShared>,
) {
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(MAX_BATCH);
    let mut batch_bytes = 0usize;
    while let Some(first) = rx.blocking_recv() {
        let mut take = |mut draft: EventDraft, pending: usize| -> Option<Vec<u8>> {
            let body_len = draft.body.as_ref().map_or(0, Bytes::len);
            budget.queued.fetch_sub(body_len, Ordering::Relaxed);
            let Some(spool) = spool else {
                return Some(finish(draft, &mut builder));
            };
            match spool.admission(pending as u64) {
                SpoolAdmission::Whole => {}
                SpoolAdmission::WithoutConversation => {
                    draft.body = None;
                    draft.response_text.clear();
                    draft.omitted_reason = Some(OMITTED_SPOOL_FULL);
                    metrics.events_without_conversation.inc();
                }
                SpoolAdmission::Drop => {
                    metrics.events_dropped.inc();
                    return None;
                }
            }
            let key = if draft.event.session_id.is_empty() {
                draft.event.event_id.clone()
            } else {
                draft.event.session_id.clone()
            };
            Some(spool::encode_frame(&key, &finish(draft, &mut builder)))
        };
        if let Some(record) = take(first, batch_bytes) {
            batch_bytes += record.len();
            batch.push(record);
        }
        while batch.len() < MAX_BATCH && batch_bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(draft) => {
                    if let Some(record) = take(draft, batch_bytes) {
                        batch_bytes += record.len();
                        batch.push(record);
                    }
                }
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            write_with_retry(&mut writer, &batch, metrics, health);
            metrics.events_written.inc_by(batch.len() as u64);
            if let Some(spool) = spool {
                after_spool_write(&mut writer, spool, batch.len() as u64, metrics);
            }
        }
        metrics
            .event_queue_depth
            .set(i64::try_from(rx.len()).unwrap_or(i64::MAX));
        batch.clear();
        batch_bytes = 0;
    }
    tracing::debug!(dir = %writer.dir().display(), "event writer drained and stopped");
}

/// Kafka mode: accounts for a written batch and rings the forwarder.
fn after_spool_write(
    writer: &mut EventLogWriter,
    spool: &SpoolShared,
    events: u64,
    metrics: &SensorMetrics,
) {
    let bytes = writer
        .refresh_total_bytes()
        .unwrap_or_else(|_| writer.total_bytes());
    spool.bytes.store(bytes, Ordering::Relaxed);
    let backlog = spool.events.fetch_add(events, Ordering::Relaxed) + events;
    metrics.spool_bytes.set(gauge(bytes));
    metrics.spool_events.set(gauge(backlog));
    let full = bytes >= spool.cap;
    if full != spool.full.swap(full, Ordering::Relaxed) {
        metrics.spool_full.set(i64::from(full));
        if full {
            tracing::error!(
                spool_bytes = bytes,
                cap = spool.cap,
                "event spool reached its size cap: new events are spooled without their conversation, and dropped past 10% over the cap, until Kafka catches up"
            );
        } else {
            tracing::info!(spool_bytes = bytes, "event spool back under its size cap");
        }
    }
    spool.doorbell.notify_one();
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
        headers,
    } = draft;
    if let Some(headers) = headers {
        event.request_headers = redacted_headers(&headers);
    }
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
        assert_eq!(
            EventsTarget::parse("kafka://h:9092,k:9093/t").unwrap(),
            EventsTarget::Kafka(KafkaTarget {
                brokers: "h:9092,k:9093".into(),
                topic: "t".into()
            })
        );
        assert!(EventsTarget::parse("kafka://h/t").is_err());
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
