//! Prometheus metrics of the classifier stage. Registered into the sensor's registry, which
//! prefixes every name with `glitch_sensor_`, so the exposed names are
//! `glitch_sensor_classifier_calls_total{endpoint,outcome}`,
//! `glitch_sensor_classifier_call_duration_seconds{endpoint}`,
//! `glitch_sensor_classifier_cache_hits_total`, `glitch_sensor_classifier_cache_misses_total`,
//! `glitch_sensor_classifier_breaker_state{endpoint}` (0 closed, 1 open, 2 half-open) and
//! `glitch_sensor_classifier_in_flight{endpoint}`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of `glitch_sensor_classifier_calls_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// The endpoint's name.
    pub endpoint: String,
    /// ok, timeout, connect, http, malformed, breaker_open.
    pub outcome: &'static str,
}

/// Labels of the per-endpoint metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The endpoint's name.
    pub endpoint: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 5 ms .. ~82 s
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// Every metric of the classifier stage. Cloning shares the underlying metrics.
#[derive(Clone)]
pub struct ClassifierMetrics {
    /// Calls by endpoint and outcome (breaker rejections included, as `breaker_open`).
    pub calls: Family<CallLabels, Counter>,
    /// Duration of each HTTP call, by endpoint.
    pub call_duration: HistogramFamily<EndpointLabels>,
    /// Windows whose verdict came from the cache.
    pub cache_hits: Counter,
    /// Windows not in the cache (to be sent).
    pub cache_misses: Counter,
    /// Breaker state by endpoint: 0 closed, 1 open, 2 half-open.
    pub breaker_state: Family<EndpointLabels, Gauge>,
    /// Calls in flight by endpoint.
    pub in_flight: Family<EndpointLabels, Gauge>,
}

impl std::fmt::Debug for ClassifierMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClassifierMetrics")
    }
}

impl Default for ClassifierMetrics {
    fn default() -> Self {
        Self::unregistered()
    }
}

impl ClassifierMetrics {
    /// Metrics that are counted but not exported (tests, tools).
    pub fn unregistered() -> Self {
        ClassifierMetrics {
            calls: Family::default(),
            call_duration: Family::new_with_constructor(duration_histogram),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            breaker_state: Family::default(),
            in_flight: Family::default(),
        }
    }

    /// Creates the metrics and registers them in `registry`, which is expected to carry the
    /// sensor's `glitch_sensor` prefix (`Registry::with_prefix("glitch_sensor")`): names here
    /// are registered as `classifier_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::unregistered();
        registry.register(
            "classifier_calls",
            "LLM classifier calls by endpoint and outcome (ok, timeout, connect, http, malformed, breaker_open)",
            m.calls.clone(),
        );
        registry.register(
            "classifier_call_duration_seconds",
            "Duration of LLM classifier HTTP calls by endpoint",
            m.call_duration.clone(),
        );
        registry.register(
            "classifier_cache_hits",
            "Classifier windows whose verdict came from the verdict cache",
            m.cache_hits.clone(),
        );
        registry.register(
            "classifier_cache_misses",
            "Classifier windows not found in the verdict cache",
            m.cache_misses.clone(),
        );
        registry.register(
            "classifier_breaker_state",
            "Circuit breaker state by classifier endpoint (0 closed, 1 open, 2 half-open)",
            m.breaker_state.clone(),
        );
        registry.register(
            "classifier_in_flight",
            "LLM classifier calls in flight by endpoint",
            m.in_flight.clone(),
        );
        m
    }

    pub(crate) fn endpoint(name: &str) -> EndpointLabels {
        EndpointLabels {
            endpoint: name.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_names_carry_the_sensor_prefix() {
        let mut registry = Registry::with_prefix("glitch_sensor");
        let m = ClassifierMetrics::register(&mut registry);
        m.calls
            .get_or_create(&CallLabels {
                endpoint: "gpt".to_owned(),
                outcome: "ok",
            })
            .inc();
        m.call_duration
            .get_or_create(&ClassifierMetrics::endpoint("gpt"))
            .observe(0.1);
        m.cache_hits.inc();
        m.cache_misses.inc();
        m.breaker_state
            .get_or_create(&ClassifierMetrics::endpoint("gpt"))
            .set(1);
        m.in_flight
            .get_or_create(&ClassifierMetrics::endpoint("gpt"))
            .set(2);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for needle in [
            "glitch_sensor_classifier_calls_total{endpoint=\"gpt\",outcome=\"ok\"} 1",
            "glitch_sensor_classifier_call_duration_seconds_count{endpoint=\"gpt\"} 1",
            "glitch_sensor_classifier_cache_hits_total 1",
            "glitch_sensor_classifier_cache_misses_total 1",
            "glitch_sensor_classifier_breaker_state{endpoint=\"gpt\"} 1",
            "glitch_sensor_classifier_in_flight{endpoint=\"gpt\"} 2",
        ] {
            assert!(text.contains(needle), "{needle} missing in\n{text}");
        }
    }
}
