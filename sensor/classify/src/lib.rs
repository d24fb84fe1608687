//! Glitch's second detection stage: LLM classifier endpoints (OpenAI-compatible chat,
//! Anthropic Messages, text-classification models) asked about windows of the scanned text, and
//! their answers turned into per-detector-type confidences.
//!
//! A [`ClassifierSet`] is built once from the endpoint configs (keys resolved from the
//! environment or files then, one pooled HTTPS client). Per request the sensor calls
//! [`ClassifierSet::plan`] — synchronous and cheap: every window of every text is looked up in
//! the verdict cache, so only new text is sent — then awaits (or spawns, or aborts)
//! [`ClassifierSet::run`], which makes the pending calls in parallel under each endpoint's
//! concurrency limit, per-call timeout and circuit breaker.

mod backend;
mod breaker;
mod cache;
mod client;
pub mod config;
mod metrics;
mod window;

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use http::{HeaderMap, HeaderValue, Uri};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Semaphore;

pub use breaker::BreakerState;
pub use config::{BackendKind, ClassifiersFile, ConfigError, EndpointConfig, load_file, parse_str};
pub use metrics::{CallLabels, ClassifierMetrics, EndpointLabels};

/// Every detector type an LLM classifier can serve (defined with the policy model).
pub use glitch_detect::llm::LLM_DETECTOR_TYPES;

/// Set-wide settings.
#[derive(Clone, Debug)]
pub struct SetOptions {
    /// Verdicts per cache generation (about twice as many are held). Default 100 000; 0
    /// disables the cache.
    pub cache_capacity: usize,
    /// How long a verdict stays valid. Default one hour.
    pub cache_ttl: Duration,
    /// Calls one plan may make at most (default 64); beyond, the windows of the last texts are
    /// kept and the rest counted in [`Plan::skipped_windows`].
    pub max_windows: usize,
    /// Where calls, cache hits, breaker states... are counted.
    pub metrics: ClassifierMetrics,
    /// Extra trusted CA certificates (PEM file) for HTTPS endpoints.
    pub extra_ca_file: Option<PathBuf>,
}

impl Default for SetOptions {
    fn default() -> Self {
        SetOptions {
            cache_capacity: 100_000,
            cache_ttl: Duration::from_secs(3600),
            max_windows: 64,
            metrics: ClassifierMetrics::unregistered(),
            extra_ca_file: None,
        }
    }
}

/// One confidence of one detector type, from one endpoint, for one window of one text.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    /// Index of the text in the `texts` given to [`ClassifierSet::plan`].
    pub text_index: usize,
    /// Byte range of the window in that text.
    pub window: Range<usize>,
    /// The detector type.
    pub detector_type: Arc<str>,
    /// In (0, 1].
    pub confidence: f32,
    /// The endpoint's name.
    pub endpoint: Arc<str>,
}

/// What kind of failure a call had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The call took longer than the endpoint's `timeout_ms`.
    Timeout,
    /// No connection, or it broke before the whole answer arrived.
    Connect,
    /// A non-2xx status.
    Http(u16),
    /// A 2xx answer that is not what the protocol says (or larger than 1 MiB).
    Malformed,
    /// The endpoint's circuit breaker is open: no call was made.
    BreakerOpen,
}

impl FailureKind {
    /// `timeout`, `connect`, `http`, `malformed` or `breaker_open` (the `outcome` label of the
    /// calls metric). `Display` gives `http_<status>` for HTTP failures.
    pub fn as_str(&self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Connect => "connect",
            FailureKind::Http(_) => "http",
            FailureKind::Malformed => "malformed",
            FailureKind::BreakerOpen => "breaker_open",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureKind::Http(status) => write!(f, "http_{status}"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// One failed (or refused) call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The endpoint's name.
    pub endpoint: Arc<str>,
    /// What went wrong.
    pub kind: FailureKind,
    /// A description without key material or request content.
    pub detail: String,
}

/// Everything a run found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Cached and new scores (only confidences > 0). Several may name the same type: take the
    /// maximum.
    pub scores: Vec<Score>,
    /// HTTP calls made (breaker rejections not included).
    pub calls: u32,
    /// Windows answered from the verdict cache.
    pub cache_hits: u32,
    /// Windows left out because the plan had more than `max_windows` calls to make.
    pub skipped_windows: u32,
    /// Failed calls, one per window and endpoint.
    pub failures: Vec<Failure>,
}

/// One call to make: one window to one endpoint (identical windows of a plan share a call).
struct Job {
    endpoint: Arc<Endpoint>,
    key: cache::Key,
    text: String,
    asked: Arc<[Arc<str>]>,
    /// Where the window occurs: (text index, byte range).
    targets: Vec<(usize, Range<usize>)>,
}

impl Job {
    /// Position of the newest occurrence, for keeping the last texts' windows.
    fn newest(&self) -> (usize, usize) {
        self.targets
            .iter()
            .map(|(i, r)| (*i, r.start))
            .max()
            .unwrap_or_default()
    }
}

/// What [`ClassifierSet::plan`] found: cached scores and the calls still to make.
pub struct Plan {
    /// Scores from the verdict cache.
    pub cached: Vec<Score>,
    /// Windows answered from the cache.
    pub cache_hits: u32,
    /// Windows left out (more than `max_windows` calls).
    pub skipped_windows: u32,
    jobs: Vec<Job>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("cached", &self.cached.len())
            .field("cache_hits", &self.cache_hits)
            .field("skipped_windows", &self.skipped_windows)
            .field("pending_calls", &self.jobs.len())
            .finish()
    }
}

impl Plan {
    /// Calls [`ClassifierSet::run`] would make.
    pub fn pending_calls(&self) -> usize {
        self.jobs.len()
    }

    /// The outcome without running anything: the cached scores only.
    pub fn into_outcome(self) -> Outcome {
        Outcome {
            scores: self.cached,
            calls: 0,
            cache_hits: self.cache_hits,
            skipped_windows: self.skipped_windows,
            failures: Vec::new(),
        }
    }
}

/// One endpoint, ready to call.
struct Endpoint {
    name: Arc<str>,
    kind: BackendKind,
    uri: Uri,
    model: Option<String>,
    /// Request headers, the key included (marked sensitive).
    headers: HeaderMap,
    timeout: Duration,
    /// Sorted.
    types: Vec<Arc<str>>,
    labels: std::collections::BTreeMap<String, String>,
    window_chars: usize,
    overlap_chars: usize,
    semaphore: Semaphore,
    breaker: Arc<breaker::Breaker>,
    metric_labels: EndpointLabels,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

/// The classifier endpoints of one configuration. `Send + Sync`; share it as an `Arc`.
pub struct ClassifierSet {
    endpoints: Vec<Arc<Endpoint>>,
    client: Option<client::HttpClient>,
    cache: cache::VerdictCache,
    max_windows: usize,
    metrics: ClassifierMetrics,
}

impl std::fmt::Debug for ClassifierSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassifierSet")
            .field("endpoints", &self.endpoint_names())
            .field("max_windows", &self.max_windows)
            .finish_non_exhaustive()
    }
}

/// Reads an endpoint's key from its env var or file (trimmed); errors name the endpoint and
/// the variable or file, never the value.
fn resolve_key(config: &EndpointConfig) -> Result<Option<String>, ConfigError> {
    if let Some(var) = &config.api_key_env {
        let key = std::env::var(var)
            .ok()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ConfigError::MissingKeyEnv {
                endpoint: config.name.clone(),
                var: var.clone(),
            })?;
        return Ok(Some(key));
    }
    if let Some(path) = &config.api_key_file {
        let key_file_error = |reason: String| ConfigError::KeyFile {
            endpoint: config.name.clone(),
            path: path.clone(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| key_file_error(e.to_string()))?;
        let key = text.trim();
        if key.is_empty() {
            return Err(key_file_error("the file is empty".to_owned()));
        }
        return Ok(Some(key.to_owned()));
    }
    Ok(None)
}

fn endpoint_uri(config: &EndpointConfig) -> Result<Uri, ConfigError> {
    let base = config.url.trim_end_matches('/');
    let url = match config.kind {
        BackendKind::Openai => format!("{base}/chat/completions"),
        BackendKind::Anthropic => format!("{base}/v1/messages"),
        BackendKind::TextClassification => config.url.clone(),
    };
    url.parse().map_err(|_| ConfigError::Invalid {
        field: format!("classifier {:?}: url", config.name),
        message: format!("{url:?} is not a URL"),
    })
}

fn endpoint_headers(config: &EndpointConfig, key: Option<&str>) -> Result<HeaderMap, ConfigError> {
    use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("glitch-classify/", env!("CARGO_PKG_VERSION"))),
    );
    if config.kind == BackendKind::Anthropic {
        headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
    }
    if let Some(key) = key {
        let bad = || ConfigError::BadKey {
            endpoint: config.name.clone(),
        };
        let (name, value) = match config.kind {
            BackendKind::Anthropic => (
                http::HeaderName::from_static("x-api-key"),
                HeaderValue::from_str(key).map_err(|_| bad())?,
            ),
            BackendKind::Openai | BackendKind::TextClassification => (
                AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| bad())?,
            ),
        };
        let mut value = value;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(headers)
}

/// The result of one job.
enum JobResult {
    Verdict(cache::Verdict),
    Failed { kind: FailureKind, detail: String },
}

/// Decrements the in-flight gauge when a call ends, however it ends.
struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl ClassifierSet {
    /// Validates the configs, resolves every key (from its env var or file) and builds the
    /// HTTPS client.
    pub fn new(configs: Vec<EndpointConfig>, options: SetOptions) -> Result<Self, ConfigError> {
        let configs = config::validate(configs)?;
        let mut endpoints = Vec::with_capacity(configs.len());
        for config in &configs {
            let key = resolve_key(config)?;
            let headers = endpoint_headers(config, key.as_deref())?;
            drop(key);
            let name: Arc<str> = Arc::from(config.name.as_str());
            let metric_labels = ClassifierMetrics::endpoint(&config.name);
            let gauge = options
                .metrics
                .breaker_state
                .get_or_create(&metric_labels)
                .clone();
            endpoints.push(Arc::new(Endpoint {
                name,
                kind: config.kind,
                uri: endpoint_uri(config)?,
                model: config.model.clone(),
                headers,
                timeout: Duration::from_millis(config.timeout_ms),
                types: config
                    .detector_types
                    .iter()
                    .map(|t| Arc::from(t.as_str()))
                    .collect(),
                labels: config.labels.clone(),
                window_chars: config.effective_window_chars(),
                overlap_chars: config.window_overlap_chars,
                semaphore: Semaphore::new(config.max_concurrency),
                breaker: Arc::new(breaker::Breaker::new(
                    config.breaker_failures,
                    Duration::from_millis(config.breaker_open_ms),
                    gauge,
                )),
                metric_labels,
            }));
        }
        let client = if endpoints.is_empty() {
            None
        } else {
            Some(client::build(options.extra_ca_file.as_deref())?)
        };
        Ok(ClassifierSet {
            endpoints,
            client,
            cache: cache::VerdictCache::new(options.cache_capacity, options.cache_ttl),
            max_windows: options.max_windows,
            metrics: options.metrics,
        })
    }

    /// A set without endpoints: serves nothing, plans nothing.
    pub fn empty() -> Self {
        ClassifierSet {
            endpoints: Vec::new(),
            client: None,
            cache: cache::VerdictCache::new(0, Duration::ZERO),
            max_windows: 0,
            metrics: ClassifierMetrics::unregistered(),
        }
    }

    /// True without endpoints.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// The endpoints' names, in config order.
    pub fn endpoint_names(&self) -> Vec<Arc<str>> {
        self.endpoints.iter().map(|e| e.name.clone()).collect()
    }

    fn selected<'a>(&'a self, only: &'a [String]) -> impl Iterator<Item = &'a Arc<Endpoint>> + 'a {
        self.endpoints
            .iter()
            .filter(move |e| only.is_empty() || only.iter().any(|o| o.as_str() == &*e.name))
    }

    /// Some endpoint (restricted to the names in `only` when it is non-empty) serves
    /// `detector_type`.
    pub fn serves(&self, detector_type: &str, only: &[String]) -> bool {
        self.selected(only)
            .any(|e| e.types.iter().any(|t| &**t == detector_type))
    }

    /// Every detector type served by the endpoints (restricted to `only` when non-empty),
    /// sorted and deduplicated.
    pub fn served_types(&self, only: &[String]) -> Vec<Arc<str>> {
        let mut types: Vec<Arc<str>> = self
            .selected(only)
            .flat_map(|e| e.types.iter().cloned())
            .collect();
        types.sort();
        types.dedup();
        types
    }

    /// The breaker state of an endpoint (`None` for an unknown name).
    pub fn breaker_state(&self, endpoint: &str) -> Option<BreakerState> {
        self.endpoints
            .iter()
            .find(|e| &*e.name == endpoint)
            .map(|e| e.breaker.state())
    }

    /// Verdicts held in the cache now.
    pub fn cached_verdicts(&self) -> usize {
        self.cache.len()
    }

    /// The metrics of this set.
    pub fn metrics(&self) -> &ClassifierMetrics {
        &self.metrics
    }

    /// Synchronous and cheap: looks every window of every text up in the verdict cache; what
    /// is cached becomes [`Plan::cached`], the rest becomes pending calls. Only endpoints
    /// (filtered by `only` when non-empty) serving at least one of `wanted` are used, each
    /// asked only for its types ∩ `wanted`.
    pub fn plan(&self, texts: &[&str], wanted: &[Arc<str>], only: &[String]) -> Plan {
        let mut plan = Plan {
            cached: Vec::new(),
            cache_hits: 0,
            skipped_windows: 0,
            jobs: Vec::new(),
        };
        let mut pending: HashMap<cache::Key, usize> = HashMap::new();
        let (mut hits, mut misses) = (0u64, 0u64);
        for endpoint in self.selected(only) {
            let asked: Vec<Arc<str>> = endpoint
                .types
                .iter()
                .filter(|t| wanted.iter().any(|w| w == *t))
                .cloned()
                .collect();
            if asked.is_empty() {
                continue;
            }
            let scope = self.cache.scope(&endpoint.name, &asked);
            let asked: Arc<[Arc<str>]> = Arc::from(asked);
            for (text_index, text) in texts.iter().enumerate() {
                for range in window::windows(text, endpoint.window_chars, endpoint.overlap_chars) {
                    let piece = &text[range.clone()];
                    let key = self.cache.key(scope, piece);
                    if let Some(verdict) = self.cache.get(&key) {
                        hits += 1;
                        plan.cache_hits = plan.cache_hits.saturating_add(1);
                        push_scores(&mut plan.cached, &verdict, text_index, &range, endpoint);
                        continue;
                    }
                    misses += 1;
                    if let Some(&j) = pending.get(&key) {
                        if let Some(job) = plan.jobs.get_mut(j) {
                            job.targets.push((text_index, range));
                        }
                        continue;
                    }
                    pending.insert(key, plan.jobs.len());
                    plan.jobs.push(Job {
                        endpoint: endpoint.clone(),
                        key,
                        text: piece.to_owned(),
                        asked: asked.clone(),
                        targets: vec![(text_index, range)],
                    });
                }
            }
        }
        self.metrics.cache_hits.inc_by(hits);
        self.metrics.cache_misses.inc_by(misses);
        if plan.jobs.len() > self.max_windows {
            plan.jobs.sort_by_key(|job| std::cmp::Reverse(job.newest()));
            let dropped: usize = plan
                .jobs
                .drain(self.max_windows..)
                .map(|job| job.targets.len())
                .sum();
            plan.skipped_windows = u32::try_from(dropped).unwrap_or(u32::MAX);
        }
        plan
    }

    /// Makes the pending calls in parallel (each one window to one endpoint, under the
    /// endpoint's concurrency limit, per-call timeout and breaker), caches the successful
    /// verdicts and returns every score (cached and new). Dropping the future cancels the
    /// calls still running.
    pub async fn run(self: Arc<Self>, plan: Plan) -> Outcome {
        let Plan {
            cached,
            cache_hits,
            skipped_windows,
            jobs,
        } = plan;
        let mut outcome = Outcome {
            scores: cached,
            calls: 0,
            cache_hits,
            skipped_windows,
            failures: Vec::new(),
        };
        let mut running: FuturesUnordered<_> = jobs
            .into_iter()
            .map(|job| {
                let set = self.clone();
                async move {
                    let (called, result) = set.call(&job).await;
                    (job, called, result)
                }
            })
            .collect();
        while let Some((job, called, result)) = running.next().await {
            if called {
                outcome.calls = outcome.calls.saturating_add(1);
            }
            match result {
                JobResult::Verdict(verdict) => {
                    for (text_index, range) in &job.targets {
                        push_scores(
                            &mut outcome.scores,
                            &verdict,
                            *text_index,
                            range,
                            &job.endpoint,
                        );
                    }
                    self.cache.put(job.key, verdict);
                }
                JobResult::Failed { kind, detail } => {
                    tracing::debug!(endpoint = %job.endpoint.name, kind = %kind, %detail, "classifier call failed");
                    outcome.failures.push(Failure {
                        endpoint: job.endpoint.name.clone(),
                        kind,
                        detail,
                    })
                }
            }
        }
        outcome
    }

    /// One call: breaker, concurrency permit, timeout, parse. Returns whether an HTTP call
    /// was made.
    async fn call(&self, job: &Job) -> (bool, JobResult) {
        let endpoint = &job.endpoint;
        let count = |outcome: &'static str| {
            self.metrics
                .calls
                .get_or_create(&CallLabels {
                    endpoint: endpoint.metric_labels.endpoint.clone(),
                    outcome,
                })
                .inc();
        };
        let Some(pass) = endpoint.breaker.try_pass() else {
            count(FailureKind::BreakerOpen.as_str());
            return (
                false,
                JobResult::Failed {
                    kind: FailureKind::BreakerOpen,
                    detail: "circuit breaker open".to_owned(),
                },
            );
        };
        let Some(client) = &self.client else {
            return (
                false,
                JobResult::Failed {
                    kind: FailureKind::Connect,
                    detail: "no HTTP client".to_owned(),
                },
            );
        };
        let Ok(_permit) = endpoint.semaphore.acquire().await else {
            return (
                false,
                JobResult::Failed {
                    kind: FailureKind::Connect,
                    detail: "endpoint closed".to_owned(),
                },
            );
        };
        if !pass.still_valid() {
            // The breaker opened while this call waited for a permit.
            count(FailureKind::BreakerOpen.as_str());
            return (
                false,
                JobResult::Failed {
                    kind: FailureKind::BreakerOpen,
                    detail: "circuit breaker open".to_owned(),
                },
            );
        }
        let gauge = self
            .metrics
            .in_flight
            .get_or_create(&endpoint.metric_labels)
            .clone();
        gauge.inc();
        let _in_flight = InFlight(gauge);
        let body = backend::request_body(
            endpoint.kind,
            endpoint.model.as_deref(),
            &job.asked,
            &job.text,
        );
        let started = Instant::now();
        let answer = tokio::time::timeout(
            endpoint.timeout,
            client::post(client, &endpoint.uri, &endpoint.headers, body),
        )
        .await;
        self.metrics
            .call_duration
            .get_or_create(&endpoint.metric_labels)
            .observe(started.elapsed().as_secs_f64());
        let result = match answer {
            Err(_) => JobResult::Failed {
                kind: FailureKind::Timeout,
                detail: format!("no answer within {} ms", endpoint.timeout.as_millis()),
            },
            Ok(Err(client::PostError::Connect(detail))) => JobResult::Failed {
                kind: FailureKind::Connect,
                detail,
            },
            Ok(Err(client::PostError::Status(status))) => JobResult::Failed {
                kind: FailureKind::Http(status),
                detail: format!("HTTP status {status}"),
            },
            Ok(Err(client::PostError::TooLarge)) => JobResult::Failed {
                kind: FailureKind::Malformed,
                detail: format!(
                    "response body larger than {} bytes",
                    client::MAX_RESPONSE_BYTES
                ),
            },
            Ok(Ok(bytes)) => {
                match backend::parse_response(endpoint.kind, &bytes, &job.asked, &endpoint.labels) {
                    Ok(scores) => JobResult::Verdict(Arc::from(scores)),
                    Err(detail) => JobResult::Failed {
                        kind: FailureKind::Malformed,
                        detail,
                    },
                }
            }
        };
        match &result {
            JobResult::Verdict(_) => {
                pass.finish(true);
                count("ok");
            }
            JobResult::Failed { kind, .. } => {
                pass.finish(false);
                count(kind.as_str());
            }
        }
        (true, result)
    }
}

fn push_scores(
    out: &mut Vec<Score>,
    verdict: &cache::Verdict,
    text_index: usize,
    range: &Range<usize>,
    endpoint: &Endpoint,
) {
    for (detector_type, confidence) in verdict.iter() {
        if *confidence > 0.0 {
            out.push(Score {
                text_index,
                window: range.clone(),
                detector_type: detector_type.clone(),
                confidence: *confidence,
                endpoint: endpoint.name.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(configs: Vec<EndpointConfig>, max_windows: usize) -> ClassifierSet {
        ClassifierSet::new(
            configs,
            SetOptions {
                max_windows,
                ..SetOptions::default()
            },
        )
        .unwrap()
    }

    fn openai(name: &str) -> EndpointConfig {
        let mut c = EndpointConfig::new(name, BackendKind::Openai, "http://127.0.0.1:9/v1");
        c.model = Some("m".to_owned());
        c
    }

    fn types(t: &[&str]) -> Vec<Arc<str>> {
        t.iter().map(|t| Arc::from(*t)).collect()
    }

    #[test]
    fn send_sync_and_static_future() {
        fn assert_send_sync<T: Send + Sync>() {}
        fn assert_send_static<T: Send + 'static>(_: &T) {}
        assert_send_sync::<ClassifierSet>();
        let s = Arc::new(ClassifierSet::empty());
        let plan = s.plan(&["x"], &types(&["jailbreak"]), &[]);
        let fut = s.clone().run(plan);
        assert_send_static(&fut);
    }

    #[test]
    fn serves_and_filters() {
        let mut tc = EndpointConfig::new(
            "tc",
            BackendKind::TextClassification,
            "http://127.0.0.1:9/classify",
        );
        tc.labels.insert("INJECTION".into(), "prompt_attack".into());
        let mut mod_only = openai("mod");
        mod_only.detector_types = vec!["moderated_content/*".into()];
        let s = set(vec![tc, mod_only], 64);
        assert!(s.serves("prompt_attack", &[]));
        assert!(s.serves("moderated_content/hate", &[]));
        assert!(!s.serves("moderated_content/hate", &["tc".to_owned()]));
        assert!(!s.serves("jailbreak", &[]));
        assert!(!s.serves("prompt_attack", &["nope".to_owned()]));
        assert_eq!(s.endpoint_names(), vec![Arc::from("tc"), Arc::from("mod")]);
        assert_eq!(
            s.served_types(&["tc".to_owned()]),
            types(&["prompt_attack"])
        );
        assert!(ClassifierSet::empty().is_empty());
        assert!(!ClassifierSet::empty().serves("prompt_attack", &[]));
    }

    #[test]
    fn plan_uses_only_endpoints_serving_wanted_types() {
        let mut a = openai("a");
        a.detector_types = vec!["jailbreak".into(), "prompt_attack".into()];
        let mut b = openai("b");
        b.detector_types = vec!["pii/name".into()];
        let s = set(vec![a, b], 64);
        let plan = s.plan(&["hello", "   ", "world"], &types(&["jailbreak"]), &[]);
        assert_eq!(plan.pending_calls(), 2);
        assert!(plan.jobs.iter().all(|j| &*j.endpoint.name == "a"));
        assert!(
            plan.jobs
                .iter()
                .all(|j| j.asked.as_ref() == types(&["jailbreak"]).as_slice())
        );
        let plan = s.plan(&["hello"], &types(&["jailbreak"]), &["b".to_owned()]);
        assert_eq!(plan.pending_calls(), 0);
        let outcome = plan.into_outcome();
        assert_eq!(outcome.calls, 0);
        assert!(outcome.scores.is_empty());
    }

    #[test]
    fn identical_windows_share_a_call() {
        let s = set(vec![openai("a")], 64);
        let plan = s.plan(&["same", "same", "other"], &types(&["jailbreak"]), &[]);
        assert_eq!(plan.pending_calls(), 2);
        let shared = plan.jobs.iter().find(|j| j.text == "same").unwrap();
        assert_eq!(shared.targets.len(), 2);
    }

    #[test]
    fn max_windows_keeps_the_last_texts() {
        let mut a = openai("a");
        a.window_chars = Some(16);
        a.window_overlap_chars = 0;
        let s = set(vec![a], 3);
        let texts: Vec<String> = (0..5).map(|i| format!("text number {i}")).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let plan = s.plan(&texts, &types(&["jailbreak"]), &[]);
        assert_eq!(plan.pending_calls(), 3);
        assert_eq!(plan.skipped_windows, 2);
        let mut kept: Vec<usize> = plan.jobs.iter().map(|j| j.targets[0].0).collect();
        kept.sort_unstable();
        assert_eq!(kept, vec![2, 3, 4]);
    }

    #[test]
    fn failure_kind_names() {
        assert_eq!(FailureKind::Http(503).as_str(), "http");
        assert_eq!(FailureKind::Http(503).to_string(), "http_503");
        assert_eq!(FailureKind::BreakerOpen.to_string(), "breaker_open");
        assert_eq!(FailureKind::Timeout.as_str(), "timeout");
    }

    #[test]
    fn keys_resolve_and_never_show() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "  sk-file-secret-42\n").unwrap();
        let mut c = EndpointConfig::new("anth", BackendKind::Anthropic, "http://127.0.0.1:9");
        c.model = Some("m".into());
        c.api_key_file = Some(path.clone());
        let s = set(vec![c.clone()], 64);
        let headers = &s.endpoints[0].headers;
        assert_eq!(headers.get("x-api-key").unwrap(), "sk-file-secret-42");
        assert!(headers.get("x-api-key").unwrap().is_sensitive());
        assert!(headers.get("authorization").is_none());
        assert!(!format!("{s:?}").contains("sk-file"));
        assert!(!format!("{:?}", s.endpoints[0]).contains("sk-file"));
        assert!(!format!("{c:?}").contains("sk-file"));
        // Empty and missing files are errors naming the endpoint and the file.
        std::fs::write(&path, " \n").unwrap();
        let e = ClassifierSet::new(vec![c.clone()], SetOptions::default()).unwrap_err();
        assert!(
            e.to_string().contains("anth") && e.to_string().contains("key"),
            "{e}"
        );
        c.api_key_file = Some(dir.path().join("missing"));
        let e = ClassifierSet::new(vec![c], SetOptions::default()).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }

    #[test]
    fn missing_env_var_names_the_var() {
        let mut c = openai("gpt");
        c.api_key_env = Some("GLITCH_CLASSIFY_TEST_SURELY_UNSET_VAR".into());
        let e = ClassifierSet::new(vec![c], SetOptions::default()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("GLITCH_CLASSIFY_TEST_SURELY_UNSET_VAR"),
            "{msg}"
        );
        assert!(msg.contains("gpt"), "{msg}");
    }

    #[test]
    fn bad_key_is_an_error_without_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "sk-bad\u{1}key").unwrap();
        let mut c = openai("gpt");
        c.api_key_file = Some(path);
        let e = ClassifierSet::new(vec![c], SetOptions::default()).unwrap_err();
        assert!(!e.to_string().contains("sk-bad"));
        assert!(!format!("{e:?}").contains("sk-bad"));
    }
}
