//! The state shared by every request: config store, event sink, upstream client, metrics,
//! limits and identity. Built once at start-up.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use glitch_detect::cache::ScanCache;

use crate::events::EventSink;
use crate::metrics::SensorMetrics;
use crate::ratelimit::RateLimiter;
use crate::snapshot::ConfigStore;
use crate::upstream::{Upstream, UpstreamClient};

/// Who this sensor is, as recorded in events.
#[derive(Clone, Debug)]
pub struct Identity {
    /// `--sensor-id`.
    pub sensor_id: String,
    /// `--region`.
    pub region: String,
}

/// Request-path limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Wait for upstream response headers at most this long.
    pub upstream_timeout: Duration,
    /// Cut a response body that sends nothing for this long.
    pub stream_idle_timeout: Duration,
    /// Wait for the request body at most this long.
    pub body_read_timeout: Duration,
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The live config.
    pub config: Arc<ConfigStore>,
    /// Where events go.
    pub events: EventSink,
    /// Upstream target.
    pub upstream: Upstream,
    /// Pooled upstream client.
    pub client: UpstreamClient,
    /// Metrics.
    pub metrics: Arc<SensorMetrics>,
    /// Limits.
    pub limits: Limits,
    /// Identity.
    pub identity: Identity,
    /// Per-project rate limits.
    pub rate_limiter: RateLimiter,
    /// Set on SIGTERM: /ready fails, new work is refused.
    pub draining: AtomicBool,
    /// Per-project scan caches ("no rescanning"), created on first use.
    pub scan_caches: Mutex<HashMap<String, Arc<ScanCache>>>,
    /// Entries per project scan cache generation.
    pub scan_cache_entries: usize,
    /// Where `alert` findings go, when configured.
    pub alerts: Option<crate::alerts::AlertSink>,
    /// Where request traces go (disabled unless `OTEL_EXPORTER_OTLP_*` is set).
    pub tracer: glitch_process::telemetry::Tracer,
    /// LLM classifier endpoints (empty when none are configured).
    pub classifiers: Arc<glitch_classify::ClassifierSet>,
}

impl AppState {
    /// The scan cache of a project.
    pub fn scan_cache(&self, project_id: &str) -> Arc<ScanCache> {
        let mut caches = self
            .scan_caches
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(cache) = caches.get(project_id) {
            return cache.clone();
        }
        let cache = Arc::new(ScanCache::new(self.scan_cache_entries));
        caches.insert(project_id.to_owned(), cache.clone());
        cache
    }
}
