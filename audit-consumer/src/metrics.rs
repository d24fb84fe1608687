//! Prometheus metrics of the consumer (served unauthenticated at `GET /metrics`), named per
//! Prometheus conventions with the `glitch_audit_` prefix. The counters also feed `/health`
//! and [`crate::Running::progress`].

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of `glitch_audit_retention_deleted_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RetentionLabels {
    /// events, event_detectors, sessions, dead_letters.
    pub table: &'static str,
}

/// Every metric the consumer exports.
pub struct Metrics {
    registry: Registry,
    /// Records read from the source whose batch has committed (events, duplicates and dead
    /// letters).
    pub records_read: Counter,
    /// Events newly inserted into the index.
    pub events_indexed: Counter,
    /// Events skipped because the index already had them.
    pub duplicates_skipped: Counter,
    /// Records written to the dead-letter table.
    pub dead_letters: Counter,
    /// Batch transactions committed.
    pub batches: Counter,
    /// Time to write and commit one batch.
    pub batch_write_seconds: Histogram,
    /// Failed batch writes (retried; nothing is lost).
    pub index_write_errors: Counter,
    /// Rows removed by retention, by table.
    pub retention_deleted: Family<RetentionLabels, Counter>,
    /// Kafka: records behind the end of the assigned partitions (-1 when unknown).
    pub consumer_lag: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("glitch_audit");
        let m = Metrics {
            registry: Registry::default(),
            records_read: Counter::default(),
            events_indexed: Counter::default(),
            duplicates_skipped: Counter::default(),
            dead_letters: Counter::default(),
            batches: Counter::default(),
            // 0.5 ms .. ~16 s
            batch_write_seconds: Histogram::new(exponential_buckets(0.000_5, 2.0, 16)),
            index_write_errors: Counter::default(),
            retention_deleted: Family::default(),
            consumer_lag: Gauge::default(),
        };
        m.consumer_lag.set(-1);
        registry.register(
            "records_read",
            "Records read from the event log whose batch has committed (events, duplicates, dead letters)",
            m.records_read.clone(),
        );
        registry.register(
            "events_indexed",
            "Events newly inserted into the index",
            m.events_indexed.clone(),
        );
        registry.register(
            "duplicates_skipped",
            "Events skipped because the index already held their event_id",
            m.duplicates_skipped.clone(),
        );
        registry.register(
            "dead_letters",
            "Records stored in the dead-letter table",
            m.dead_letters.clone(),
        );
        registry.register(
            "batches",
            "Index batch transactions committed",
            m.batches.clone(),
        );
        registry.register(
            "batch_write_seconds",
            "Time to write and commit one index batch",
            m.batch_write_seconds.clone(),
        );
        registry.register(
            "index_write_errors",
            "Failed index batch writes (retried)",
            m.index_write_errors.clone(),
        );
        registry.register(
            "retention_deleted",
            "Rows removed by retention",
            m.retention_deleted.clone(),
        );
        registry.register(
            "consumer_lag",
            "Kafka records not yet consumed on the assigned partitions (-1 when unknown)",
            m.consumer_lag.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names() {
        let m = Metrics::new();
        m.events_indexed.inc_by(3);
        m.batch_write_seconds.observe(0.01);
        let text = m.encode();
        for name in [
            "glitch_audit_events_indexed_total 3",
            "glitch_audit_dead_letters_total",
            "glitch_audit_batches_total",
            "glitch_audit_duplicates_skipped_total",
            "glitch_audit_batch_write_seconds_bucket",
            "glitch_audit_consumer_lag -1",
        ] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
    }
}
