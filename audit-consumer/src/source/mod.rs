//! Event sources: each runs on its own thread (both client libraries are blocking or
//! poll-driven), decodes records into [`Batch`]es off the index writer's path, and hands them
//! over a bounded channel, so reading the next batch overlaps writing the previous one.
//!
//! * [`file`]: the sensor's segment log, position stored in the index with each batch
//!   (exactly once).
//! * [`kafka`]: a consumer group, offsets stored and committed after the batch commits (at least
//!   once; the index is idempotent by `event_id`, so duplicates change nothing).
//!
//! Also [`SourceStatus`], what `/health` shows about the source, and [`BatchBuilder`], the
//! "batch-size records or ~100 ms, whichever first" rule both sources share.

pub mod file;
pub mod kafka;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::record::{Batch, Decoded};

/// A batch is handed over this long after its first record at the latest.
pub const BATCH_MAX_AGE: Duration = Duration::from_millis(100);

/// A batch is handed over once its event bodies reach this many bytes.
pub const BATCH_MAX_BYTES: usize = 32 * 1024 * 1024;

/// What `/health` shows about the source.
#[derive(Debug, Default)]
pub struct SourceStatus {
    inner: Mutex<StatusInner>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct StatusInner {
    committed: Option<String>,
    kafka_committed: BTreeMap<i32, i64>,
    lag: Option<i64>,
    problem: Option<String>,
}

/// A copy of the status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusView {
    /// File: `segment:offset` committed with the last batch. Kafka: `partition:next_offset`
    /// pairs stored after the last batches.
    pub position: Option<String>,
    /// Kafka: records not yet consumed on the assigned partitions.
    pub lag: Option<i64>,
    /// What is wrong right now (e.g. the topic does not exist), if anything.
    pub problem: Option<String>,
}

impl SourceStatus {
    fn with<R>(&self, f: impl FnOnce(&mut StatusInner) -> R) -> R {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    /// A copy for `/health`.
    pub fn view(&self) -> StatusView {
        self.with(|s| {
            let position = if s.kafka_committed.is_empty() {
                s.committed.clone()
            } else {
                Some(
                    s.kafka_committed
                        .iter()
                        .map(|(p, o)| format!("{p}:{o}"))
                        .collect::<Vec<_>>()
                        .join(","),
                )
            };
            StatusView {
                position,
                lag: s.lag,
                problem: s.problem.clone(),
            }
        })
    }

    /// Records the file position committed with a batch.
    pub fn set_committed(&self, position: &str) {
        self.with(|s| s.committed = Some(position.to_owned()));
    }

    /// Records Kafka offsets stored after a batch.
    pub fn set_kafka_committed(&self, next: &[(i32, i64)]) {
        self.with(|s| {
            for (p, o) in next {
                let entry = s.kafka_committed.entry(*p).or_insert(*o);
                *entry = (*entry).max(*o);
            }
        });
    }

    /// Records the Kafka lag.
    pub fn set_lag(&self, lag: Option<i64>) {
        self.with(|s| s.lag = lag);
    }

    /// Sets or clears the current problem.
    pub fn set_problem(&self, problem: Option<String>) {
        self.with(|s| s.problem = problem);
    }
}

/// Builds one batch: full at `batch_size` records or [`BATCH_MAX_BYTES`], due
/// [`BATCH_MAX_AGE`] after its first record.
#[derive(Debug)]
pub struct BatchBuilder {
    source: Arc<str>,
    batch_size: usize,
    batch: Batch,
    bytes: usize,
    started: Option<Instant>,
}

impl BatchBuilder {
    /// An empty builder for `source`.
    pub fn new(source: Arc<str>, batch_size: usize) -> Self {
        BatchBuilder {
            batch: Batch::new(source.clone()),
            source,
            batch_size: batch_size.max(1),
            bytes: 0,
            started: None,
        }
    }

    /// Adds one record.
    pub fn push(&mut self, decoded: Decoded) {
        if let Decoded::Event(e) = &decoded {
            self.bytes += e.body.len();
        }
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
        self.batch.push(decoded);
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.batch.records
    }

    /// True when no record is held.
    pub fn is_empty(&self) -> bool {
        self.batch.records == 0
    }

    /// True when the batch should be handed over now.
    pub fn is_due(&self) -> bool {
        self.batch.records >= self.batch_size
            || self.bytes >= BATCH_MAX_BYTES
            || self.started.is_some_and(|t| t.elapsed() >= BATCH_MAX_AGE)
    }

    /// Time left until the batch is due by age (`BATCH_MAX_AGE` when empty).
    pub fn time_left(&self) -> Duration {
        self.started
            .map_or(BATCH_MAX_AGE, |t| BATCH_MAX_AGE.saturating_sub(t.elapsed()))
    }

    /// The batch being built (for sources that adjust it, e.g. after a Kafka revoke).
    pub fn batch_mut(&mut self) -> &mut Batch {
        &mut self.batch
    }

    /// Takes the batch out, leaving an empty one.
    pub fn take(&mut self) -> Batch {
        self.bytes = 0;
        self.started = None;
        std::mem::replace(&mut self.batch, Batch::new(self.source.clone()))
    }
}

/// Logs a recurring problem at most once per `every`.
#[derive(Debug)]
pub(crate) struct RateLimit {
    every: Duration,
    last: Option<Instant>,
}

impl RateLimit {
    pub(crate) fn new(every: Duration) -> Self {
        RateLimit { every, last: None }
    }

    /// True when it is time to log again.
    pub(crate) fn ready(&mut self) -> bool {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.every)
        {
            return false;
        }
        self.last = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{DeadLetter, RecordRef};

    #[test]
    fn builder_is_due_when_full() {
        let mut b = BatchBuilder::new(Arc::from("test"), 2);
        assert!(!b.is_due());
        assert_eq!(b.time_left(), BATCH_MAX_AGE);
        let dead = || {
            Decoded::Dead(DeadLetter::new(
                RecordRef::Kafka {
                    partition: 0,
                    offset: 0,
                },
                None,
                b"x",
                "bad",
                0,
            ))
        };
        b.push(dead());
        assert!(!b.is_due());
        b.push(dead());
        assert!(b.is_due());
        let batch = b.take();
        assert_eq!(batch.records, 2);
        assert_eq!(&*batch.source, "test");
        assert!(b.is_empty() && !b.is_due());
    }

    #[test]
    fn status_views() {
        let s = SourceStatus::default();
        assert_eq!(s.view(), StatusView::default());
        s.set_committed("0:8");
        assert_eq!(s.view().position.as_deref(), Some("0:8"));
        s.set_kafka_committed(&[(1, 10), (0, 5)]);
        s.set_kafka_committed(&[(1, 7)]);
        assert_eq!(s.view().position.as_deref(), Some("0:5,1:10"));
        s.set_problem(Some("topic missing".into()));
        assert_eq!(s.view().problem.as_deref(), Some("topic missing"));
    }
}
