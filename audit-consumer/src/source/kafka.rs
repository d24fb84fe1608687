//! The Kafka source: one consumer-group member (`rdkafka::BaseConsumer`, polled on its own
//! thread) with standard librdkafka settings only, so it works against any Kafka-protocol
//! broker. Record key = session id (or event id), value = protobuf `SecurityEvent` bytes.
//!
//! Delivery is at least once: `enable.auto.offset.store=false`, and a batch's offsets are
//! stored (then committed by auto-commit, on rebalance and on shutdown) only after the index
//! writer reports that the batch's transaction committed. The index is idempotent by
//! `event_id`, so a replay after a crash changes nothing.
//!
//! Rebalance: on revoke the callback waits (bounded) for every batch already handed to the
//! writer, stores their offsets and commits synchronously, and the records of revoked
//! partitions still being collected are dropped from the batch in progress (their new owner
//! reads them from the committed offset). Shutdown: the batch in progress is handed over, the
//! thread waits for the writer to finish, stores, commits synchronously and closes the
//! consumer (leaving the group cleanly).
//!
//! A topic that does not exist is reported (log, `/health`) and waited for; it is never
//! created.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::{BatchBuilder, RateLimit, SourceStatus};
use crate::body::BodyEncoder;
use crate::metrics::Metrics;
use crate::record::{Batch, DeadLetter, Decoded, KafkaOffsets, RecordRef, decode_record_with};
use crate::time::now_ms;

/// How long a revoke waits for batches already handed to the writer.
const REVOKE_WAIT: Duration = Duration::from_secs(30);

/// How often librdkafka reports statistics (for the lag in `/health` and `/metrics`).
const STATS_INTERVAL_MS: &str = "5000";

/// What the index writer reports back for each batch it was given.
#[derive(Debug)]
pub struct KafkaAck {
    /// The batch's offsets when its transaction committed; `None` when it was given up
    /// (shutdown while the index was failing): nothing is stored for it.
    pub committed: Option<KafkaOffsets>,
}

/// Why the Kafka consumer could not be created.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSourceError {
    /// librdkafka refused the configuration.
    #[error("kafka consumer: {0}")]
    Client(#[from] KafkaError),
    /// The thread could not be started.
    #[error("cannot start the kafka source thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Acks received from the writer that still need storing, and how many batches are out.
#[derive(Debug)]
struct AckState {
    rx: std_mpsc::Receiver<KafkaAck>,
    /// Batches handed to the writer and not yet acked.
    outstanding: usize,
    /// Set once the writer is gone.
    writer_gone: bool,
}

/// The consumer's context: rebalance, statistics and error callbacks.
struct Ctx {
    topic: String,
    acks: Mutex<AckState>,
    /// Partitions revoked since the poll loop last looked.
    revoked: Mutex<Vec<i32>>,
    status: Arc<SourceStatus>,
    metrics: Arc<Metrics>,
}

impl Ctx {
    fn acks(&self) -> std::sync::MutexGuard<'_, AckState> {
        self.acks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores the offsets of every ack waiting, without blocking; with `wait_all`, first waits
    /// (up to `REVOKE_WAIT`) until no batch is outstanding.
    fn store_acks(&self, consumer: &BaseConsumer<Ctx>, wait_all: bool) {
        let mut acks = self.acks();
        let deadline = Instant::now() + REVOKE_WAIT;
        loop {
            let next = if wait_all && acks.outstanding > 0 && !acks.writer_gone {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    tracing::warn!(
                        outstanding = acks.outstanding,
                        "kafka: batches still being written after {}s; their records will be read again",
                        REVOKE_WAIT.as_secs()
                    );
                    return;
                }
                acks.rx.recv_timeout(left).map_err(|e| match e {
                    std_mpsc::RecvTimeoutError::Timeout => std_mpsc::TryRecvError::Empty,
                    std_mpsc::RecvTimeoutError::Disconnected => {
                        std_mpsc::TryRecvError::Disconnected
                    }
                })
            } else {
                acks.rx.try_recv()
            };
            match next {
                Ok(ack) => {
                    acks.outstanding = acks.outstanding.saturating_sub(1);
                    if let Some(offsets) = ack.committed {
                        self.store(consumer, &offsets);
                    }
                }
                Err(std_mpsc::TryRecvError::Empty) => {
                    if !(wait_all && acks.outstanding > 0) {
                        return;
                    }
                }
                Err(std_mpsc::TryRecvError::Disconnected) => {
                    acks.writer_gone = true;
                    return;
                }
            }
        }
    }

    /// Stores `offsets` for the next commit (partitions no longer assigned are skipped by
    /// librdkafka: their new owner re-reads those records, which changes nothing).
    fn store(&self, consumer: &BaseConsumer<Ctx>, offsets: &KafkaOffsets) {
        let mut tpl = TopicPartitionList::new();
        for (partition, next) in &offsets.next {
            if let Err(e) = tpl.add_partition_offset(&self.topic, *partition, Offset::Offset(*next))
            {
                tracing::warn!(error = %e, partition, "kafka: cannot store offset");
            }
        }
        match consumer.store_offsets(&tpl) {
            Ok(()) => self.status.set_kafka_committed(&offsets.next),
            Err(e) => {
                tracing::debug!(error = %e, "kafka: offsets not stored (partition no longer assigned?)");
            }
        }
    }

    fn commit_sync(&self, consumer: &BaseConsumer<Ctx>, why: &str) {
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => tracing::debug!(why, "kafka: offsets committed"),
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => tracing::warn!(error = %e, why, "kafka: offset commit failed"),
        }
    }
}

impl ClientContext for Ctx {
    fn stats_raw(&self, statistics: &[u8]) {
        let Ok(stats) = serde_json::from_slice::<serde_json::Value>(statistics) else {
            return;
        };
        let mut lag = 0i64;
        let mut known = false;
        if let Some(partitions) = stats["topics"][&self.topic]["partitions"].as_object() {
            for p in partitions.values() {
                let id = p["partition"].as_i64().unwrap_or(-1);
                let assigned = p["fetch_state"].as_str().is_some_and(|s| s != "none");
                if let (true, true, Some(l)) = (id >= 0, assigned, p["consumer_lag"].as_i64())
                    && l >= 0
                {
                    lag = lag.saturating_add(l);
                    known = true;
                }
            }
        }
        let lag = known.then_some(lag);
        self.status.set_lag(lag);
        self.metrics.consumer_lag.set(lag.unwrap_or(-1));
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(error = %error, reason, "kafka client error");
        self.status
            .set_problem(Some(format!("kafka: {error}: {reason}")));
    }
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(
                    ?partitions,
                    "kafka: partitions revoked; committing what is indexed"
                );
                self.store_acks(consumer, true);
                self.commit_sync(consumer, "revoke");
                self.revoked
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(partitions);
            }
            Rebalance::Assign(tpl) => {
                let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(?partitions, "kafka: partitions assigned");
                self.status.set_problem(None);
            }
            Rebalance::Error(e) => {
                tracing::warn!(error = %e, "kafka: rebalance error");
            }
        }
    }
}

/// What the Kafka source thread needs.
#[derive(Debug, Clone)]
pub struct KafkaSource {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Topic.
    pub topic: String,
    /// `group.id`.
    pub group: String,
    /// Records per batch at most.
    pub batch_size: usize,
}

impl KafkaSource {
    /// The dead letters' `source` label.
    pub fn label(&self) -> String {
        format!("kafka:{}", self.topic)
    }

    /// The consumer configuration (standard librdkafka properties only).
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group)
            .set("client.id", "glitch-audit-consumer")
            .set("enable.auto.offset.store", "false")
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("auto.offset.reset", "earliest")
            .set("allow.auto.create.topics", "false")
            .set("enable.partition.eof", "false")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .set("topic.metadata.refresh.interval.ms", "10000")
            // Large fetches: fewer round trips while catching up on a backlog.
            .set("max.partition.fetch.bytes", "8388608")
            .set("fetch.wait.max.ms", "10")
            .set("statistics.interval.ms", STATS_INTERVAL_MS);
        c
    }
}

/// The running source: its thread, and the sender the writer acks batches with.
#[derive(Debug)]
pub struct KafkaHandle {
    /// The poll thread.
    pub thread: JoinHandle<()>,
    /// Give every batch back here once written (or given up).
    pub acks: std_mpsc::Sender<KafkaAck>,
}

/// Creates the consumer, subscribes and starts the poll thread. Configuration errors surface
/// here; an unreachable broker or a missing topic does not (they are waited for).
pub fn spawn(
    source: KafkaSource,
    tx: mpsc::Sender<Batch>,
    stop: Arc<AtomicBool>,
    status: Arc<SourceStatus>,
    metrics: Arc<Metrics>,
) -> Result<KafkaHandle, KafkaSourceError> {
    let (ack_tx, ack_rx) = std_mpsc::channel();
    let ctx = Ctx {
        topic: source.topic.clone(),
        acks: Mutex::new(AckState {
            rx: ack_rx,
            outstanding: 0,
            writer_gone: false,
        }),
        revoked: Mutex::new(Vec::new()),
        status: status.clone(),
        metrics,
    };
    let consumer: BaseConsumer<Ctx> = source.client_config().create_with_context(ctx)?;
    consumer.subscribe(&[source.topic.as_str()])?;
    let thread = std::thread::Builder::new()
        .name("audit-kafka-source".into())
        .spawn(move || run(&source, consumer, tx, &stop, &status))?;
    Ok(KafkaHandle {
        thread,
        acks: ack_tx,
    })
}

/// Checks the topic once at start, to say clearly when it does not exist.
fn check_topic(consumer: &BaseConsumer<Ctx>, topic: &str, status: &SourceStatus) {
    match consumer.fetch_metadata(Some(topic), Duration::from_secs(10)) {
        Ok(metadata) => {
            let found = metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .filter(|t| t.error().is_none() && !t.partitions().is_empty());
            match found {
                Some(t) => tracing::info!(
                    topic,
                    partitions = t.partitions().len(),
                    "kafka: topic found"
                ),
                None => report_missing_topic(topic, status),
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, topic, "kafka: cannot fetch metadata yet (broker unreachable?); retrying in the background");
            status.set_problem(Some(format!("kafka: cannot fetch metadata: {e}")));
        }
    }
}

fn report_missing_topic(topic: &str, status: &SourceStatus) {
    tracing::warn!(
        topic,
        "kafka: topic {topic:?} does not exist; create it (the consumer never creates topics), \
         e.g. `kafka-topics.sh --create --topic {topic}`; waiting for it"
    );
    status.set_problem(Some(format!(
        "kafka topic {topic:?} does not exist; create it"
    )));
}

fn run(
    source: &KafkaSource,
    consumer: BaseConsumer<Ctx>,
    tx: mpsc::Sender<Batch>,
    stop: &AtomicBool,
    status: &SourceStatus,
) {
    check_topic(&consumer, &source.topic, status);
    let label: Arc<str> = Arc::from(source.label());
    let mut builder = BatchBuilder::new(label, source.batch_size);
    let mut offsets = KafkaOffsets::default();
    let mut missing_topic_log = RateLimit::new(Duration::from_secs(30));
    let mut error_log = RateLimit::new(Duration::from_secs(10));
    let mut encoder = BodyEncoder::new();
    loop {
        let stopping = stop.load(Ordering::Acquire);
        if !stopping {
            consumer.context().store_acks(&consumer, false);
            let wait = if builder.is_empty() {
                Duration::from_millis(100)
            } else {
                builder.time_left()
            };
            match consumer.poll(wait) {
                Some(Ok(m)) => {
                    let origin = RecordRef::Kafka {
                        partition: m.partition(),
                        offset: m.offset(),
                    };
                    offsets.record(m.partition(), m.offset());
                    let decoded = match m.payload() {
                        Some(payload) if !payload.is_empty() => {
                            decode_record_with(&mut encoder, payload, m.key(), origin, now_ms())
                        }
                        _ => Decoded::Dead(DeadLetter::new(
                            origin,
                            m.key(),
                            &[],
                            "empty Kafka record value",
                            now_ms(),
                        )),
                    };
                    builder.push(decoded);
                }
                Some(Err(KafkaError::MessageConsumption(
                    RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic,
                ))) => {
                    // Reported at most every 30 s; the subscription keeps looking for it.
                    let due = missing_topic_log.ready();
                    if due {
                        report_missing_topic(&source.topic, status);
                    }
                }
                Some(Err(e)) => {
                    if error_log.ready() {
                        tracing::warn!(error = %e, "kafka: consume error; retrying");
                    }
                    status.set_problem(Some(format!("kafka: {e}")));
                }
                None => {}
            }
            drop_revoked(&consumer, &mut builder, &mut offsets);
        }
        let flush = if stopping {
            !builder.is_empty()
        } else {
            builder.is_due()
        };
        if flush {
            let mut batch = builder.take();
            batch.kafka = Some(std::mem::take(&mut offsets));
            consumer.context().acks().outstanding += 1;
            if tx.blocking_send(batch).is_err() {
                consumer.context().acks().outstanding -= 1;
                break;
            }
        }
        if stopping {
            break;
        }
    }
    // The writer ends once every batch is handed over and written; store what it acks.
    drop(tx);
    finish_acks(&consumer);
    consumer.context().commit_sync(&consumer, "shutdown");
    consumer.unsubscribe();
    drop(consumer);
    tracing::info!("kafka: consumer closed");
}

/// Waits until the writer is gone (it ends once the batch channel is closed and drained),
/// storing the offsets of every batch it acks.
fn finish_acks(consumer: &BaseConsumer<Ctx>) {
    let ctx = consumer.context();
    let mut acks = ctx.acks();
    while !acks.writer_gone {
        match acks.rx.recv() {
            Ok(ack) => {
                acks.outstanding = acks.outstanding.saturating_sub(1);
                if let Some(offsets) = ack.committed {
                    ctx.store(consumer, &offsets);
                }
            }
            Err(_) => acks.writer_gone = true,
        }
    }
}

/// Removes records of partitions revoked since the last look from the batch in progress.
fn drop_revoked(
    consumer: &BaseConsumer<Ctx>,
    builder: &mut BatchBuilder,
    offsets: &mut KafkaOffsets,
) {
    let revoked = std::mem::take(
        &mut *consumer
            .context()
            .revoked
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    if revoked.is_empty() || builder.is_empty() {
        return;
    }
    let gone = |origin: &RecordRef| matches!(origin, RecordRef::Kafka { partition, .. } if revoked.contains(partition));
    let batch = builder.batch_mut();
    let before = batch.records;
    batch.events.retain(|e| !gone(&e.origin));
    batch.dead_letters.retain(|d| !gone(&d.origin));
    batch.records = batch.events.len() + batch.dead_letters.len();
    offsets.next.retain(|(p, _)| !revoked.contains(p));
    let dropped = before - batch.records;
    if dropped > 0 {
        tracing::info!(
            dropped,
            "kafka: records of revoked partitions left for their new owner"
        );
    }
}
