//! Prometheus metrics of a control-plane replica, served without auth at `GET /metrics` on the
//! REST port, named per Prometheus conventions with the `glitch_control_plane_` prefix.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of `glitch_control_plane_http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// Request method.
    pub method: String,
    /// Status class: 2xx, 3xx, 4xx, 5xx.
    pub status: &'static str,
}

/// Every metric one replica exports.
pub struct ControlPlaneMetrics {
    registry: Registry,
    /// The config version this replica serves.
    pub config_version: Gauge,
    /// Sensors with an open config stream to this replica.
    pub connected_sensors: Gauge,
    /// Config pushes sent to sensors.
    pub config_pushes: Counter,
    /// ACKs received (a sensor applied a version).
    pub config_acks: Counter,
    /// NACKs received (a sensor rejected a version and kept its previous one).
    pub config_nacks: Counter,
    /// REST requests by method and status class.
    pub http_requests: Family<HttpLabels, Counter>,
    /// REST request latency.
    pub http_request_duration: Histogram,
}

impl std::fmt::Debug for ControlPlaneMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlPlaneMetrics")
    }
}

impl Default for ControlPlaneMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ControlPlaneMetrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("glitch_control_plane");
        let config_version = Gauge::default();
        registry.register(
            "config_version",
            "The config version this replica serves to sensors",
            config_version.clone(),
        );
        let connected_sensors = Gauge::default();
        registry.register(
            "connected_sensors",
            "Sensors with an open config stream to this replica",
            connected_sensors.clone(),
        );
        let config_pushes = Counter::default();
        registry.register(
            "config_pushes",
            "Config snapshots pushed to sensors",
            config_pushes.clone(),
        );
        let config_acks = Counter::default();
        registry.register(
            "config_acks",
            "ACKs from sensors (a version applied)",
            config_acks.clone(),
        );
        let config_nacks = Counter::default();
        registry.register(
            "config_nacks",
            "NACKs from sensors (a version rejected; the previous one kept)",
            config_nacks.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "REST API requests by method and status class",
            http_requests.clone(),
        );
        let http_request_duration = Histogram::new(exponential_buckets(0.000_1, 2.0, 18));
        registry.register(
            "http_request_duration_seconds",
            "REST API request latency",
            http_request_duration.clone(),
        );
        ControlPlaneMetrics {
            registry,
            config_version,
            connected_sensors,
            config_pushes,
            config_acks,
            config_nacks,
            http_requests,
            http_request_duration,
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}

/// "2xx" .. "5xx" for a status code.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}
