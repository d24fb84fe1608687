//! The Kafka side of the event log: the `kafka://HOST:PORT[,HOST:PORT...]/TOPIC` target, the
//! producer's configuration (idempotent, `acks=all`, lz4, key = session id) and the forwarder
//! thread that delivers the spool to Kafka in order. The request path never touches any of this:
//! it hands events to the writer thread, which appends them to the spool (`spool.rs`); the
//! forwarder reads the spool, keeps a bounded window of messages in flight, advances the
//! delivered position over the prefix that Kafka acknowledged, stores it, and reclaims delivered
//! spool segments. When Kafka fails it waits for the window to settle, rewinds to the last
//! delivered position and tries again with backoff, so an outage only grows the spool; after a
//! restart delivery resumes from the stored position. A rewind can send a message twice; the
//! audit index drops duplicates by event id.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use glitch_eventlog::{EventLogError, EventLogReader, Position};
use glitch_proto::events::v1::{Conversation, SecurityEvent};
use prost::Message;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use super::spool::{SpoolShared, decode_frame, write_delivered};
use crate::metrics::SensorMetrics;

/// A parsed `kafka://` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaTarget {
    /// `host:port[,host:port...]` for `bootstrap.servers`.
    pub brokers: String,
    /// The topic events are produced to.
    pub topic: String,
}

impl KafkaTarget {
    /// Parses the part after `kafka://`: `HOST:PORT[,HOST:PORT...]/TOPIC`.
    pub fn parse(rest: &str) -> Result<Self, String> {
        let usage = "--events kafka:// needs HOST:PORT[,HOST:PORT...]/TOPIC, e.g. kafka://127.0.0.1:9092/glitch-events";
        let Some((brokers, topic)) = rest.split_once('/') else {
            return Err(usage.into());
        };
        if brokers.is_empty() {
            return Err(usage.into());
        }
        for broker in brokers.split(',') {
            let valid = broker
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !valid {
                return Err(format!("{usage}; {broker:?} is not HOST:PORT"));
            }
        }
        let topic_ok = !topic.is_empty()
            && topic.len() <= 249
            && topic != "."
            && topic != ".."
            && topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !topic_ok {
            return Err(format!(
                "{usage}; {topic:?} is not a valid Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)"
            ));
        }
        Ok(KafkaTarget {
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
        })
    }

    /// `kafka://brokers/topic`.
    pub fn label(&self) -> String {
        format!("kafka://{}/{}", self.brokers, self.topic)
    }
}

/// How long librdkafka keeps retrying one message before reporting it failed.
const MESSAGE_TIMEOUT_MS: u64 = 30_000;
/// Messages in flight at once.
const WINDOW_MESSAGES: usize = 20_000;
/// Bytes in flight at once (well under librdkafka's 1 GiB queue).
const WINDOW_BYTES: usize = 64 * 1024 * 1024;
/// How often the delivered position is stored while delivering.
const PERSIST_EVERY: Duration = Duration::from_millis(200);
/// After the writer stops (shutdown), how long the forwarder keeps delivering the backlog;
/// whatever is left stays in the spool for the next start.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(10);

/// Builds the producer: idempotent, `acks=all`, lz4, small linger. Only standard librdkafka
/// client configuration, so it works with Apache Kafka and Kafka-compatible brokers alike.
pub fn producer(target: &KafkaTarget, client_id: &str) -> Result<FutureProducer, KafkaError> {
    ClientConfig::new()
        .set("bootstrap.servers", &target.brokers)
        .set("client.id", client_id)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("message.timeout.ms", MESSAGE_TIMEOUT_MS.to_string())
        .set("queue.buffering.max.messages", "100000")
        .set("reconnect.backoff.max.ms", "2000")
        .create()
}

/// Starts the forwarder thread.
pub fn spawn_forwarder(
    producer: FutureProducer,
    target: KafkaTarget,
    client_id: String,
    shared: Arc<SpoolShared>,
    metrics: Arc<SensorMetrics>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("glitch-kafka-forwarder".into())
        .spawn(move || {
            super::lower_this_threads_priority();
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the Kafka forwarder's runtime; events stay in the spool");
                    return;
                }
            };
            let mut forwarder = Forwarder::new(producer, target, client_id, shared, metrics);
            runtime.block_on(forwarder.run());
        })
}

/// One entry of the in-flight window.
enum InFlight {
    /// A message sent to Kafka; the position just after its spool record.
    Sent {
        delivery: DeliveryFuture,
        after: Position,
        bytes: usize,
    },
    /// A spool record that could not be sent (unreadable frame); skipped in order.
    Skipped { after: Position },
}

struct Forwarder {
    producer: FutureProducer,
    target: KafkaTarget,
    client_id: String,
    topic: String,
    shared: Arc<SpoolShared>,
    metrics: Arc<SensorMetrics>,
    reader: Option<EventLogReader>,
    window: VecDeque<InFlight>,
    window_bytes: usize,
    /// Everything before this has been delivered.
    delivered: Position,
    /// The furthest position ever delivered (a rewind re-sends what lies before it).
    high_water: Position,
    persisted: Position,
    last_persist: Instant,
    backoff: Duration,
    buf: Vec<u8>,
    /// Set once the writer has stopped: deliver what is left until then.
    drain_deadline: Option<Instant>,
}

/// Why a fill of the window stopped.
enum Fill {
    /// The window is full.
    Full,
    /// Nothing more in the spool right now.
    CaughtUp,
    /// Producing failed; rewind.
    Failed(String),
}

impl Forwarder {
    fn new(
        producer: FutureProducer,
        target: KafkaTarget,
        client_id: String,
        shared: Arc<SpoolShared>,
        metrics: Arc<SensorMetrics>,
    ) -> Self {
        let delivered = super::spool::read_delivered(&shared.dir);
        Forwarder {
            producer,
            topic: target.topic.clone(),
            target,
            client_id,
            shared,
            metrics,
            reader: None,
            window: VecDeque::new(),
            window_bytes: 0,
            delivered,
            high_water: delivered,
            persisted: delivered,
            last_persist: Instant::now(),
            backoff: Duration::from_millis(100),
            buf: Vec::new(),
            drain_deadline: None,
        }
    }

    async fn run(&mut self) {
        loop {
            if self.shared.writer_done.load(Ordering::Acquire) {
                let deadline = *self
                    .drain_deadline
                    .get_or_insert_with(|| Instant::now() + SHUTDOWN_DRAIN);
                if Instant::now() >= deadline {
                    tracing::warn!(
                        undelivered = self.shared.events.load(Ordering::Relaxed),
                        "shutdown: Kafka delivery did not finish in time; the rest stays in the spool for the next start"
                    );
                    break;
                }
            }
            let fill = self.fill();
            if let Fill::Failed(error) = fill {
                self.fail(error).await;
                continue;
            }
            if self.window.is_empty() {
                self.persist(true);
                if self.shared.writer_done.load(Ordering::Acquire) {
                    // Caught up and nothing more will come.
                    break;
                }
                // Wait for the writer's doorbell (or re-check now and then).
                let _ = tokio::time::timeout(
                    Duration::from_millis(500),
                    self.shared.doorbell.notified(),
                )
                .await;
                continue;
            }
            // Settle the oldest message before reading more.
            if let Err(error) = self.settle_front().await {
                self.fail(error).await;
                continue;
            }
            // Settle everything that is already done without waiting.
            self.persist(false);
        }
        self.persist(true);
        if let Err(e) = self.producer.flush(Duration::from_secs(1)) {
            tracing::debug!(error = %e, "Kafka producer flush at shutdown");
        }
    }

    /// Reads spool records into the window until it is full or the spool is read to its end.
    fn fill(&mut self) -> Fill {
        if self.reader.is_none() {
            match open_reader(&self.shared.dir, self.delivered) {
                Ok(reader) => self.reader = Some(reader),
                Err(e) => return Fill::Failed(format!("cannot read the spool: {e}")),
            }
        }
        let Some(reader) = self.reader.as_mut() else {
            return Fill::CaughtUp;
        };
        while self.window.len() < WINDOW_MESSAGES && self.window_bytes < WINDOW_BYTES {
            let after = match reader.next_record_into(&mut self.buf) {
                Ok(Some(after)) => after,
                Ok(None) => return Fill::CaughtUp,
                Err(e @ (EventLogError::Corrupt { .. } | EventLogError::BadHeader(_))) => {
                    // The reader moves on to the next segment by itself.
                    self.metrics.event_write_errors.inc();
                    tracing::error!(error = %e, "corrupt spool record skipped");
                    continue;
                }
                Err(e) => return Fill::Failed(format!("cannot read the spool: {e}")),
            };
            let Some((key, value)) = decode_frame(&self.buf) else {
                self.metrics.event_write_errors.inc();
                tracing::error!(position = %after, "unreadable spool frame skipped");
                self.window.push_back(InFlight::Skipped { after });
                continue;
            };
            let record = FutureRecord::to(&self.topic).key(key).payload(value);
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    self.window_bytes += value.len();
                    self.window.push_back(InFlight::Sent {
                        delivery,
                        after,
                        bytes: value.len(),
                    });
                }
                Err((e, _)) if is_too_large(&e) => match shrink(value) {
                    Some(smaller) => {
                        match self
                            .producer
                            .send_result(FutureRecord::to(&self.topic).key(key).payload(&smaller))
                        {
                            Ok(delivery) => self.window.push_back(InFlight::Sent {
                                delivery,
                                after,
                                bytes: smaller.len(),
                            }),
                            Err((e, _)) => return Fill::Failed(e.to_string()),
                        }
                    }
                    None => {
                        self.metrics.events_dropped.inc();
                        tracing::error!(error = %e, bytes = value.len(), "event too large for Kafka even without its conversation; dropped");
                        self.window.push_back(InFlight::Skipped { after });
                    }
                },
                Err((e, _)) => return Fill::Failed(e.to_string()),
            }
        }
        Fill::Full
    }

    /// Waits for the oldest in-flight message; advances the delivered position on success.
    async fn settle_front(&mut self) -> Result<(), String> {
        let Some(front) = self.window.pop_front() else {
            return Ok(());
        };
        match front {
            InFlight::Skipped { after } => {
                self.advance(after);
                Ok(())
            }
            InFlight::Sent {
                mut delivery,
                after,
                bytes,
            } => {
                // Also wake for the writer's doorbell (shutdown may have begun) and for the
                // shutdown deadline, so an unreachable broker cannot hold shutdown for the
                // whole message timeout.
                let shared = self.shared.clone();
                let outcome = tokio::select! {
                    result = &mut delivery => Some(result),
                    () = wake(&shared, self.drain_deadline) => None,
                };
                let Some(result) = outcome else {
                    self.window.push_front(InFlight::Sent {
                        delivery,
                        after,
                        bytes,
                    });
                    return Ok(());
                };
                self.window_bytes = self.window_bytes.saturating_sub(bytes);
                match result {
                    Ok(Ok(_)) => {
                        self.advance(after);
                        if self.shared.kafka_failing.swap(false, Ordering::Relaxed) {
                            tracing::info!(topic = %self.topic, "Kafka deliveries recovered; sending the spooled backlog");
                        }
                        self.backoff = Duration::from_millis(100);
                        Ok(())
                    }
                    Ok(Err((e, _))) => Err(e.to_string()),
                    Err(_) => Err("Kafka producer stopped".into()),
                }
            }
        }
    }

    fn advance(&mut self, after: Position) {
        self.delivered = after;
        if after > self.high_water {
            self.high_water = after;
            self.metrics.events_delivered.inc();
            let _ = self
                .shared
                .events
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(1))
                });
            self.metrics
                .spool_events
                .set(i64::try_from(self.shared.events.load(Ordering::Relaxed)).unwrap_or(i64::MAX));
        }
    }

    /// Kafka failed: let the window settle, rewind to the delivered position, back off.
    async fn fail(&mut self, error: String) {
        self.metrics.kafka_delivery_errors.inc();
        if !self.shared.kafka_failing.load(Ordering::Relaxed) {
            tracing::error!(topic = %self.topic, error = %error, "cannot deliver events to Kafka; spooling to disk and retrying");
        }
        self.shared.set_error(error);
        // Everything already sent either lands or fails; a later message may land before an
        // earlier one failed, so all of them are sent again after the rewind.
        let shared = self.shared.clone();
        while let Some(entry) = self.window.pop_front() {
            if let InFlight::Sent { mut delivery, .. } = entry {
                tokio::select! {
                    _ = &mut delivery => {}
                    () = shutdown_deadline(&shared, &mut self.drain_deadline) => {
                        // Shutting down: what is unsettled is sent again after the next start.
                        self.window.clear();
                    }
                }
            }
        }
        self.window_bytes = 0;
        self.reader = None;
        self.persist(true);
        // An idempotent producer that hit a fatal error (e.g. the broker lost its producer
        // state) refuses everything from then on: start a fresh one.
        if let Some((code, reason)) = self.producer.client().fatal_error() {
            tracing::warn!(?code, %reason, "Kafka producer hit a fatal error; creating a new one");
            match producer(&self.target, &self.client_id) {
                Ok(fresh) => self.producer = fresh,
                Err(e) => tracing::error!(error = %e, "cannot create a new Kafka producer"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(self.backoff) => {}
            () = shutdown_deadline(&shared, &mut self.drain_deadline) => {}
        }
        self.backoff = (self.backoff * 2).min(Duration::from_secs(5));
    }

    /// Stores the delivered position (when due or forced) and reclaims delivered segments.
    fn persist(&mut self, force: bool) {
        if self.delivered == self.persisted
            || (!force && self.last_persist.elapsed() < PERSIST_EVERY)
        {
            return;
        }
        if let Err(e) = write_delivered(&self.shared.dir, self.delivered) {
            tracing::error!(error = %e, "cannot store the spool's delivered position; will retry");
            return;
        }
        self.persisted = self.delivered;
        self.last_persist = Instant::now();
        match glitch_eventlog::delete_segments_before(&self.shared.dir, self.delivered) {
            Ok(freed) if freed > 0 => {
                let _ = self
                    .shared
                    .bytes
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                        Some(b.saturating_sub(freed))
                    });
                self.metrics.spool_bytes.set(
                    i64::try_from(self.shared.bytes.load(Ordering::Relaxed)).unwrap_or(i64::MAX),
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot delete delivered spool segments"),
        }
    }
}

/// Resolves at the next doorbell, or at the shutdown deadline once there is one.
async fn wake(shared: &SpoolShared, deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => shared.doorbell.notified().await,
    }
}

/// Resolves when the writer has stopped and the shutdown drain time is over (setting the
/// deadline when the writer's stop is first seen).
async fn shutdown_deadline(shared: &SpoolShared, deadline: &mut Option<Instant>) {
    loop {
        if shared.writer_done.load(Ordering::Acquire) {
            let at = *deadline.get_or_insert_with(|| Instant::now() + SHUTDOWN_DRAIN);
            tokio::time::sleep_until(at.into()).await;
            return;
        }
        shared.doorbell.notified().await;
    }
}

fn open_reader(dir: &Path, from: Position) -> Result<EventLogReader, EventLogError> {
    match EventLogReader::open(dir, from) {
        Err(EventLogError::BadPosition(reason)) => {
            tracing::warn!(%reason, "stored spool position is past the spool's end; delivering the whole spool again");
            EventLogReader::open(dir, Position::default())
        }
        other => other,
    }
}

fn is_too_large(e: &KafkaError) -> bool {
    e.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageSizeTooLarge)
}

/// The event without its stored conversation (for messages the broker refuses as too large).
fn shrink(value: &[u8]) -> Option<Vec<u8>> {
    let mut event = SecurityEvent::decode(value).ok()?;
    let conversation = event.conversation.take().unwrap_or_default();
    event.conversation = Some(Conversation {
        tools_sha256: conversation.tools_sha256,
        tool_names: conversation.tool_names,
        omitted_reason: "event too large for the Kafka broker".into(),
        ..Conversation::default()
    });
    let smaller = event.encode_to_vec();
    (smaller.len() < value.len()).then_some(smaller)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_targets() {
        let t = KafkaTarget::parse("127.0.0.1:9092/glitch-events").unwrap();
        assert_eq!(t.brokers, "127.0.0.1:9092");
        assert_eq!(t.topic, "glitch-events");
        let t = KafkaTarget::parse("k1:9092,k2:9093/a.b_c").unwrap();
        assert_eq!(t.brokers, "k1:9092,k2:9093");
        assert_eq!(t.label(), "kafka://k1:9092,k2:9093/a.b_c");
        for bad in [
            "",
            "/topic",
            "host/topic",
            "host:port/topic",
            "h:1,/t",
            "h:9092/",
            "h:9092/bad topic",
            "h:9092/..",
            "h:9092/a/b",
        ] {
            assert!(KafkaTarget::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn shrink_drops_the_conversation_only() {
        let event = SecurityEvent {
            event_id: "e1".into(),
            session_id: "s1".into(),
            conversation: Some(Conversation {
                messages_json: "x".repeat(10_000),
                tools_sha256: "abc".into(),
                tool_names: vec!["Bash".into()],
                ..Conversation::default()
            }),
            ..SecurityEvent::default()
        };
        let bytes = event.encode_to_vec();
        let smaller = SecurityEvent::decode(shrink(&bytes).unwrap().as_slice()).unwrap();
        assert_eq!(smaller.event_id, "e1");
        let conversation = smaller.conversation.unwrap();
        assert!(conversation.messages_json.is_empty());
        assert_eq!(conversation.tool_names, vec!["Bash".to_owned()]);
        assert_eq!(
            conversation.omitted_reason,
            "event too large for the Kafka broker"
        );
        assert!(shrink(b"\xff\xff\xff").is_none());
    }
}
