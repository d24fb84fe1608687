//! Ingest: starts the configured source thread and the index writer task between them, and
//! stops both in order. The writer takes one [`Batch`] at a time, writes it in one transaction
//! (retrying while the database is unavailable — nothing is dropped), updates metrics and
//! status, and only then acks it to the Kafka source, which stores its offsets.
//!
//! A batch the database refuses because of its data (a value it cannot store, a constraint)
//! is written again one event at a time; each event it still refuses becomes a dead letter, so
//! one bad record never stops the stream.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use glitch_eventlog::Position;
use tokio::sync::mpsc;

use crate::body::decode_body;
use crate::config::EventsSource;
use crate::index::{Index, IndexError, WriteOutcome};
use crate::metrics::Metrics;
use crate::record::{Batch, DeadLetter};
use crate::source::kafka::{KafkaAck, KafkaSource};
use crate::source::{SourceStatus, file, kafka};
use crate::time::now_ms;

/// Batches decoded ahead of the writer at most.
const CHANNEL_BATCHES: usize = 2;

/// Attempts at a batch after shutdown was requested before it is given up (it is read again
/// on the next start: the file position or the Kafka offsets did not move).
const ATTEMPTS_WHILE_STOPPING: u32 = 3;

/// Why ingest could not start.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The index could not be read.
    #[error("{0}")]
    Index(#[from] IndexError),
    /// The event log directory could not be created.
    #[error("cannot create the event log directory {path}: {source}")]
    Dir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The stored position is not a position.
    #[error("the index holds an unreadable position {0:?} for this event log")]
    BadStoredPosition(String),
    /// The Kafka consumer could not be created.
    #[error("{0}")]
    Kafka(#[from] kafka::KafkaSourceError),
    /// A thread could not be started.
    #[error("cannot start the source thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The running source and writer.
#[derive(Debug)]
pub struct Ingest {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    writer: tokio::task::JoinHandle<()>,
}

impl Ingest {
    /// Starts reading `source` into `index`.
    pub async fn start(
        source: &EventsSource,
        group: &str,
        batch_size: usize,
        index: Index,
        metrics: Arc<Metrics>,
        status: Arc<SourceStatus>,
    ) -> Result<Ingest, IngestError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
        let writer_stop = stop.clone();
        let (thread, acks) = match source {
            EventsSource::File(dir) => {
                let (key, start) = file_start(dir, &index).await?;
                tracing::info!(dir = %dir.display(), position = %start, "event log: reading");
                status.set_committed(&start.to_string());
                let thread = file::spawn(
                    file::FileSource {
                        dir: dir.clone(),
                        key: Arc::from(key),
                        start,
                        batch_size,
                    },
                    tx,
                    stop.clone(),
                    status.clone(),
                )?;
                (thread, None)
            }
            EventsSource::Kafka { brokers, topic } => {
                let handle = kafka::spawn(
                    KafkaSource {
                        brokers: brokers.clone(),
                        topic: topic.clone(),
                        group: group.to_owned(),
                        batch_size,
                    },
                    tx,
                    stop.clone(),
                    status.clone(),
                    metrics.clone(),
                )?;
                tracing::info!(%brokers, %topic, group, "kafka: consuming");
                (handle.thread, Some(handle.acks))
            }
        };
        let writer = tokio::spawn(
            Writer {
                index,
                metrics,
                status,
                stop: writer_stop,
                acks,
            }
            .run(rx),
        );
        Ok(Ingest {
            stop,
            thread: Some(thread),
            writer,
        })
    }

    /// Stops reading, writes and commits the batch in progress, commits Kafka offsets and
    /// closes the consumer; returns once all of that is done.
    pub async fn shutdown(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = &self.thread {
            thread.thread().unpark();
        }
        if (&mut self.writer).await.is_err() {
            tracing::error!("index writer task ended abnormally");
        }
        if let Some(thread) = self.thread.take() {
            let joined = tokio::task::spawn_blocking(move || thread.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                tracing::error!("source thread ended abnormally");
            }
        }
    }
}

/// The file source's key and where to start: the position stored in the index, else the
/// beginning. Creates the directory if missing (the sensor writes into it).
async fn file_start(dir: &Path, index: &Index) -> Result<(String, Position), IngestError> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(|source| IngestError::Dir {
            path: dir.display().to_string(),
            source,
        })?;
        tracing::info!(dir = %dir.display(), "event log directory created; waiting for events");
    }
    let key = file::source_key(dir);
    let start = match index.position(&key).await? {
        Some(text) => text
            .parse::<Position>()
            .map_err(|_| IngestError::BadStoredPosition(text.clone()))?,
        None => Position::default(),
    };
    Ok((key, start))
}

/// The index writer task.
struct Writer {
    index: Index,
    metrics: Arc<Metrics>,
    status: Arc<SourceStatus>,
    stop: Arc<AtomicBool>,
    acks: Option<std::sync::mpsc::Sender<KafkaAck>>,
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<Batch>) {
        while let Some(batch) = rx.recv().await {
            let written = self.write_with_retry(&batch).await;
            if written {
                self.metrics.records_read.inc_by(batch.records as u64);
            }
            if let Some(acks) = &self.acks {
                let committed = if written { batch.kafka } else { None };
                // The source may already be gone when it stopped on a send error.
                let _ = acks.send(KafkaAck { committed });
            }
        }
        tracing::debug!("index writer: source finished");
    }

    /// Writes `batch`, retrying until it is stored; `false` if it was given up during
    /// shutdown.
    async fn write_with_retry(&self, batch: &Batch) -> bool {
        let mut attempts = 0u32;
        let mut backoff = Duration::from_millis(100);
        loop {
            attempts += 1;
            let started = Instant::now();
            let result = match self.index.write_batch(batch).await {
                Err(e) if e.is_data_error() => {
                    tracing::warn!(error = %e, events = batch.events.len(), "index refused a batch; writing its events one by one");
                    self.write_one_by_one(batch).await
                }
                other => other,
            };
            match result {
                Ok(outcome) => {
                    self.record(batch, outcome, started.elapsed());
                    return true;
                }
                Err(e) => {
                    self.metrics.index_write_errors.inc();
                    let stopping = self.stop.load(Ordering::Acquire);
                    if stopping && attempts >= ATTEMPTS_WHILE_STOPPING {
                        tracing::error!(error = %e, records = batch.records, "index write failed during shutdown; the batch will be read again on the next start");
                        return false;
                    }
                    tracing::warn!(error = %e, attempt = attempts, retry_in_ms = backoff.as_millis() as u64, "index write failed; retrying");
                    self.status
                        .set_problem(Some(format!("index write failing: {e}")));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    fn record(&self, batch: &Batch, outcome: WriteOutcome, took: Duration) {
        let m = &self.metrics;
        m.batches.inc();
        m.batch_write_seconds.observe(took.as_secs_f64());
        m.events_indexed.inc_by(outcome.inserted as u64);
        m.duplicates_skipped.inc_by(outcome.duplicates as u64);
        m.dead_letters.inc_by(outcome.dead_letters as u64);
        for d in &batch.dead_letters {
            tracing::warn!(
                source = %batch.source, partition = d.origin.partition(), position = %d.origin.position(),
                error = %d.error, bytes = d.raw_len, "record dead-lettered"
            );
        }
        if let Some(c) = &batch.checkpoint {
            self.status.set_committed(&c.position);
        }
        tracing::debug!(
            inserted = outcome.inserted,
            duplicates = outcome.duplicates,
            dead_letters = outcome.dead_letters,
            ms = took.as_millis() as u64,
            "batch indexed"
        );
    }

    /// The fallback for a batch refused for its data: each event alone, refused ones
    /// dead-lettered, then the dead letters and the position.
    async fn write_one_by_one(&self, batch: &Batch) -> Result<WriteOutcome, IndexError> {
        let mut total = WriteOutcome::default();
        let mut dead = batch.dead_letters.clone();
        for event in &batch.events {
            let mut single = Batch::new(batch.source.clone());
            single.events.push(event.clone());
            single.records = 1;
            match self.index.write_batch(&single).await {
                Ok(o) => {
                    total.inserted += o.inserted;
                    total.duplicates += o.duplicates;
                }
                Err(e) if e.is_data_error() => dead.push(DeadLetter::new(
                    event.origin,
                    None,
                    &decode_body(&event.body).unwrap_or_default(),
                    format!("the index refused event {:?}: {e}", event.event_id),
                    now_ms(),
                )),
                Err(e) => return Err(e),
            }
        }
        let mut rest = Batch::new(batch.source.clone());
        rest.dead_letters = dead;
        rest.checkpoint = batch.checkpoint.clone();
        let o = self.index.write_batch(&rest).await?;
        total.dead_letters = o.dead_letters;
        Ok(total)
    }
}
