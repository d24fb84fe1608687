//! Prometheus metrics of the sensor (served on the admin port at /metrics), named per
//! Prometheus conventions with the `glitch_sensor_` prefix.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of `glitch_sensor_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route class: messages, count_tokens, models, batches, detect, other.
    pub route: &'static str,
    /// allowed, blocked, flagged, auth_failed, error.
    pub decision: &'static str,
}

/// Labels of per-route histograms.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Route class.
    pub route: &'static str,
}

/// Labels of `glitch_sensor_phase_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    /// authenticate, read_body, parse, rate_limit, detect, classifier, upstream, relay, record
    /// (and the detect.* families while traces are exported).
    pub phase: &'static str,
}

/// Labels of `glitch_sensor_llm_stage_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmStageLabels {
    /// ok, cancelled, timeout, failed, unavailable, pending.
    pub status: &'static str,
}

/// Labels of `glitch_sensor_upstream_errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamErrorLabels {
    /// connect, timeout, protocol, idle_timeout, body.
    pub kind: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 50 µs .. ~26 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

/// Every metric the sensor exports.
pub struct SensorMetrics {
    registry: Registry,
    /// Requests by route and decision.
    pub requests: Family<RequestLabels, Counter>,
    /// Whole request time until the response head is sent, by route.
    pub request_duration: HistogramFamily<RouteLabels>,
    /// Time spent in detection.
    pub detection_duration: Histogram,
    /// Time from forwarding to upstream response headers.
    pub upstream_first_byte: Histogram,
    /// Upstream failures by kind.
    pub upstream_errors: Family<UpstreamErrorLabels, Counter>,
    /// Requests being served (streams included).
    pub inflight: Gauge,
    /// Version of the live config snapshot.
    pub config_version: Gauge,
    /// Config updates rejected (the old config stayed live).
    pub config_reload_failures: Counter,
    /// Events waiting for the event log.
    pub event_queue_depth: Gauge,
    /// Events durably written.
    pub events_written: Counter,
    /// Failed event-log writes (retried; the events are kept).
    pub event_write_errors: Counter,
    /// Kafka mode: bytes held by the event spool.
    pub spool_bytes: Gauge,
    /// Kafka mode: events spooled and not yet delivered to Kafka.
    pub spool_events: Gauge,
    /// Kafka mode: 1 while the spool is at its size cap.
    pub spool_full: Gauge,
    /// Kafka mode: events acknowledged by Kafka.
    pub events_delivered: Counter,
    /// Kafka mode: failed deliveries (retried from the spool).
    pub kafka_delivery_errors: Counter,
    /// Events spooled without their conversation because the spool was at its cap.
    pub events_without_conversation: Counter,
    /// Events dropped: spool past its cap's headroom, or refused by Kafka as too large.
    pub events_dropped: Counter,
    /// Text segments whose findings came from the scan cache.
    pub scan_cache_hits: Counter,
    /// Text segments scanned.
    pub scan_cache_misses: Counter,
    /// Alerts delivered to the webhook.
    pub alerts_sent: Counter,
    /// 1 while the config stream to the control plane is up (fleet mode).
    pub config_stream_connected: Gauge,
    /// Alerts given up on (queue full or every retry failed).
    pub alerts_dropped: Counter,
    /// 1 while the sensor is ready (0 while draining).
    pub ready: Gauge,
    /// Time per request phase.
    pub phase_duration: HistogramFamily<PhaseLabels>,
    /// LLM classifier stages by outcome.
    pub llm_stage: Family<LlmStageLabels, Counter>,
    /// Time requests waited for the LLM classifier stage (sync mode).
    pub llm_wait: Histogram,
    /// Async-mode follow-up events written.
    pub llm_follow_ups: Counter,
    /// The classifier endpoints' own metrics (calls, latency, errors, cache, breaker).
    pub classifier: glitch_classify::ClassifierMetrics,
}

impl std::fmt::Debug for SensorMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SensorMetrics")
    }
}

impl Default for SensorMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl SensorMetrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("glitch_sensor");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests to /v1/ routes by route and decision",
            requests.clone(),
        );
        let request_duration: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "request_duration_seconds",
            "Time from request arrival to response head, by route",
            request_duration.clone(),
        );
        let detection_duration = latency_histogram();
        registry.register(
            "detection_duration_seconds",
            "Time spent parsing and scanning request bodies",
            detection_duration.clone(),
        );
        let upstream_first_byte = latency_histogram();
        registry.register(
            "upstream_first_byte_seconds",
            "Time from forwarding a request to the upstream's response head",
            upstream_first_byte.clone(),
        );
        let upstream_errors = Family::<UpstreamErrorLabels, Counter>::default();
        registry.register(
            "upstream_errors",
            "Upstream failures by kind",
            upstream_errors.clone(),
        );
        let inflight = Gauge::default();
        registry.register(
            "inflight_requests",
            "Requests and streams being served",
            inflight.clone(),
        );
        let config_version = Gauge::default();
        registry.register(
            "config_version",
            "Version of the live config snapshot",
            config_version.clone(),
        );
        let config_reload_failures = Counter::default();
        registry.register(
            "config_reload_failures",
            "Config updates rejected while the previous config stayed live",
            config_reload_failures.clone(),
        );
        let event_queue_depth = Gauge::default();
        registry.register(
            "event_queue_depth",
            "SecurityEvents waiting to be written to the event log",
            event_queue_depth.clone(),
        );
        let events_written = Counter::default();
        registry.register(
            "events_written",
            "SecurityEvents durably written",
            events_written.clone(),
        );
        let event_write_errors = Counter::default();
        registry.register(
            "event_write_errors",
            "Failed event-log writes (retried, events kept)",
            event_write_errors.clone(),
        );
        let spool_bytes = Gauge::default();
        registry.register(
            "spool_bytes",
            "Bytes held by the Kafka event spool",
            spool_bytes.clone(),
        );
        let spool_events = Gauge::default();
        registry.register(
            "spool_events",
            "SecurityEvents spooled and not yet delivered to Kafka",
            spool_events.clone(),
        );
        let spool_full = Gauge::default();
        registry.register(
            "spool_full",
            "1 while the event spool is at its size cap",
            spool_full.clone(),
        );
        let events_delivered = Counter::default();
        registry.register(
            "events_delivered",
            "SecurityEvents acknowledged by Kafka",
            events_delivered.clone(),
        );
        let kafka_delivery_errors = Counter::default();
        registry.register(
            "kafka_delivery_errors",
            "Failed Kafka deliveries (retried from the spool)",
            kafka_delivery_errors.clone(),
        );
        let events_without_conversation = Counter::default();
        registry.register(
            "events_without_conversation",
            "SecurityEvents spooled without their conversation because the spool was at its cap",
            events_without_conversation.clone(),
        );
        let events_dropped = Counter::default();
        registry.register(
            "events_dropped",
            "SecurityEvents dropped (spool past its cap's headroom, or too large for Kafka)",
            events_dropped.clone(),
        );
        let scan_cache_hits = Counter::default();
        registry.register(
            "scan_cache_hits",
            "Text segments whose findings came from the scan cache",
            scan_cache_hits.clone(),
        );
        let scan_cache_misses = Counter::default();
        registry.register(
            "scan_cache_misses",
            "Text segments scanned (not in the scan cache)",
            scan_cache_misses.clone(),
        );
        let alerts_sent = Counter::default();
        registry.register(
            "alerts_sent",
            "Alerts delivered to the alert webhook",
            alerts_sent.clone(),
        );
        let alerts_dropped = Counter::default();
        registry.register(
            "alerts_dropped",
            "Alerts given up on (queue full or retries exhausted)",
            alerts_dropped.clone(),
        );
        let config_stream_connected = Gauge::default();
        registry.register(
            "config_stream_connected",
            "1 while the config stream to the control plane is up (fleet mode)",
            config_stream_connected.clone(),
        );
        let phase_duration: HistogramFamily<PhaseLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "phase_duration_seconds",
            "Time per request phase (authenticate, read_body, parse, rate_limit, detect, classifier, upstream, relay, record)",
            phase_duration.clone(),
        );
        let ready = Gauge::default();
        registry.register(
            "ready",
            "1 while the sensor accepts traffic, 0 while it drains on shutdown",
            ready.clone(),
        );
        let llm_stage = Family::<LlmStageLabels, Counter>::default();
        registry.register(
            "llm_stage",
            "LLM classifier stages by outcome (ok, cancelled, timeout, failed, unavailable, pending)",
            llm_stage.clone(),
        );
        let llm_wait = latency_histogram();
        registry.register(
            "llm_wait_seconds",
            "Time requests waited for the LLM classifier stage",
            llm_wait.clone(),
        );
        let llm_follow_ups = Counter::default();
        registry.register(
            "llm_follow_up_events",
            "Follow-up events written with an async classifier verdict",
            llm_follow_ups.clone(),
        );
        let classifier = glitch_classify::ClassifierMetrics::register(&mut registry);
        SensorMetrics {
            registry,
            ready,
            phase_duration,
            llm_stage,
            llm_wait,
            llm_follow_ups,
            classifier,
            config_stream_connected,
            scan_cache_hits,
            scan_cache_misses,
            alerts_sent,
            alerts_dropped,
            requests,
            request_duration,
            detection_duration,
            upstream_first_byte,
            upstream_errors,
            inflight,
            config_version,
            config_reload_failures,
            event_queue_depth,
            events_written,
            event_write_errors,
            spool_bytes,
            spool_events,
            spool_full,
            events_delivered,
            kafka_delivery_errors,
            events_without_conversation,
            events_dropped,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}
