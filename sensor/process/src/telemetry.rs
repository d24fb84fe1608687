//! OpenTelemetry traces over OTLP for every Glitch process, configured by the standard
//! `OTEL_*` environment variables and off when no exporter endpoint is set.
//!
//! Services build spans from timings they already keep (a span's start and end are known when it
//! is recorded), so nothing on a request path waits: [`Tracer::record`] is a non-blocking
//! `try_send` into a bounded queue (a full queue drops the span and counts it), and one
//! background task batches spans and exports them with OTLP over gRPC or HTTP/protobuf.
//! Incoming W3C `traceparent` headers are continued ([`TraceParent::parse`]).
//!
//! Variables read: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, the
//! default, or `grpc`), `OTEL_EXPORTER_OTLP_TRACES_HEADERS` / `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` / `OTEL_EXPORTER_OTLP_TIMEOUT` (ms), `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER` (`none` turns it off).

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};
use prost::Message;
use tokio::sync::{mpsc, oneshot};

/// Spans waiting for export before new ones are dropped.
const QUEUE: usize = 8192;
/// Spans per export call.
const BATCH: usize = 512;
/// Longest a span waits in the exporter before its batch is sent.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// A W3C trace context from a `traceparent` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    /// 16-byte trace id (never all zero).
    pub trace_id: [u8; 16],
    /// The caller's span id (never all zero).
    pub span_id: [u8; 8],
    /// The `sampled` flag.
    pub sampled: bool,
}

impl TraceParent {
    /// Parses `00-<32 hex>-<16 hex>-<2 hex>` (other versions are read the same way, as the spec
    /// asks for future versions); `None` for anything malformed or all-zero ids.
    pub fn parse(value: &str) -> Option<TraceParent> {
        let value = value.trim();
        let mut parts = value.split('-');
        let version = parts.next()?;
        let trace = parts.next()?;
        let parent = parts.next()?;
        let flags = parts.next()?;
        if version.len() != 2 || version == "ff" || trace.len() != 32 || parent.len() != 16 {
            return None;
        }
        if flags.len() != 2 || (version == "00" && parts.next().is_some()) {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        decode_hex(trace, &mut trace_id)?;
        decode_hex(parent, &mut span_id)?;
        let mut flag = [0u8; 1];
        decode_hex(flags, &mut flag)?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceParent {
            trace_id,
            span_id,
            sampled: flag[0] & 1 == 1,
        })
    }
}

fn decode_hex(s: &str, out: &mut [u8]) -> Option<()> {
    let bytes = s.as_bytes();
    if bytes.len() != out.len() * 2 {
        return None;
    }
    for (i, pair) in bytes.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        if pair.iter().any(u8::is_ascii_uppercase) {
            return None;
        }
        out[i] = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(())
}

/// Lowercase hex of a trace or span id.
pub fn hex_id(id: &[u8]) -> String {
    let mut out = String::with_capacity(id.len() * 2);
    for b in id {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    out
}

/// A new random trace id.
pub fn new_trace_id() -> [u8; 16] {
    loop {
        let id: [u8; 16] = rand::random();
        if id != [0; 16] {
            return id;
        }
    }
}

/// A new random span id.
pub fn new_span_id() -> [u8; 8] {
    loop {
        let id: [u8; 8] = rand::random();
        if id != [0; 8] {
            return id;
        }
    }
}

/// What a span is, in OTLP's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    /// Handling an incoming request.
    Server,
    /// A call to another service.
    Client,
    /// Work inside the process.
    Internal,
}

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// Text.
    Str(Cow<'static, str>),
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean.
    Bool(bool),
}

impl From<&'static str> for AttrValue {
    fn from(s: &'static str) -> Self {
        AttrValue::Str(Cow::Borrowed(s))
    }
}
impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::Str(Cow::Owned(s))
    }
}
impl From<i64> for AttrValue {
    fn from(v: i64) -> Self {
        AttrValue::Int(v)
    }
}
impl From<u64> for AttrValue {
    fn from(v: u64) -> Self {
        AttrValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<f64> for AttrValue {
    fn from(v: f64) -> Self {
        AttrValue::Float(v)
    }
}
impl From<bool> for AttrValue {
    fn from(v: bool) -> Self {
        AttrValue::Bool(v)
    }
}

/// A finished span.
#[derive(Clone, Debug)]
pub struct SpanRecord {
    /// Trace it belongs to.
    pub trace_id: [u8; 16],
    /// Its own id.
    pub span_id: [u8; 8],
    /// Parent span, if any (a remote caller's span for a continued trace).
    pub parent: Option<[u8; 8]>,
    /// e.g. `glitch.sensor.request`, `detect.secrets`.
    pub name: Cow<'static, str>,
    /// Server, client or internal.
    pub kind: SpanKind,
    /// Start time.
    pub start: SystemTime,
    /// End time.
    pub end: SystemTime,
    /// Attributes (never credentials or request content).
    pub attributes: Vec<(&'static str, AttrValue)>,
    /// An error description when the span failed.
    pub error: Option<String>,
}

impl SpanRecord {
    /// A span with no attributes.
    pub fn new(
        trace_id: [u8; 16],
        parent: Option<[u8; 8]>,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        start: SystemTime,
        end: SystemTime,
    ) -> Self {
        SpanRecord {
            trace_id,
            span_id: new_span_id(),
            parent,
            name: name.into(),
            kind,
            start,
            end: end.max(start),
            attributes: Vec::new(),
            error: None,
        }
    }

    /// Adds an attribute.
    pub fn attr(mut self, key: &'static str, value: impl Into<AttrValue>) -> Self {
        self.attributes.push((key, value.into()));
        self
    }
}

/// Where finished spans go; cheap to clone. Disabled when no exporter is configured.
#[derive(Clone, Debug, Default)]
pub struct Tracer {
    tx: Option<mpsc::Sender<SpanRecord>>,
    dropped: Arc<AtomicU64>,
}

impl Tracer {
    /// A tracer that records nothing.
    pub fn disabled() -> Self {
        Tracer::default()
    }

    /// True when spans are exported.
    pub fn is_enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queues a finished span without waiting; drops it (and counts it) when the queue is full.
    pub fn record(&self, span: SpanRecord) {
        if let Some(tx) = &self.tx
            && tx.try_send(span).is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Spans dropped because the export queue was full or the exporter stopped.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// One HTTP request being handled, to be recorded as a server span when it is answered (only
/// exists while traces are exported): the caller's `traceparent` continued, `METHOD route` as
/// its name, the standard HTTP attributes, an error status for 5xx answers.
#[derive(Debug)]
pub struct HttpTrace {
    parent: Option<TraceParent>,
    method: String,
    route: String,
    started: std::time::Instant,
    started_at: SystemTime,
}

impl HttpTrace {
    /// Starts timing a request (`None` when traces are off).
    pub fn start(
        tracer: &Tracer,
        headers: &http::HeaderMap,
        method: &http::Method,
        route: impl FnOnce() -> String,
    ) -> Option<HttpTrace> {
        tracer.is_enabled().then(|| HttpTrace {
            parent: headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .and_then(TraceParent::parse),
            method: method.as_str().to_owned(),
            route: route(),
            started: std::time::Instant::now(),
            started_at: SystemTime::now(),
        })
    }

    /// Starts timing an axum request, named by the route template that matched
    /// (`/v1/projects/{id}`), else its path.
    pub fn start_request<B>(tracer: &Tracer, request: &http::Request<B>) -> Option<HttpTrace> {
        HttpTrace::start(tracer, request.headers(), request.method(), || {
            request
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or_else(
                    || request.uri().path().to_owned(),
                    |m| m.as_str().to_owned(),
                )
        })
    }

    /// Records the span with the answer's status and `extra` attributes.
    pub fn finish(self, tracer: &Tracer, status: u16, extra: Vec<(&'static str, AttrValue)>) {
        let mut span = SpanRecord::new(
            self.parent.map_or_else(new_trace_id, |p| p.trace_id),
            self.parent.map(|p| p.span_id),
            format!("{} {}", self.method, self.route),
            SpanKind::Server,
            self.started_at,
            self.started_at + self.started.elapsed(),
        )
        .attr("http.request.method", self.method)
        .attr("http.route", self.route)
        .attr("http.response.status_code", i64::from(status));
        span.attributes.extend(extra);
        if status >= 500 {
            span.error = Some(format!("HTTP {status}"));
        }
        tracer.record(span);
    }
}

/// A configuration problem in the `OTEL_*` variables.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// An endpoint that is not an http(s) URL.
    #[error("{var}: {message}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `grpc`.
    Grpc,
    /// `http/protobuf`.
    HttpProtobuf,
}

/// The exporter settings read from the environment.
#[derive(Clone, Debug)]
pub struct ExportSettings {
    /// gRPC target, or the full HTTP URL including `/v1/traces`.
    pub endpoint: http::Uri,
    /// Transport.
    pub protocol: Protocol,
    /// Extra headers (e.g. an API key for a hosted backend); values never logged.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Per-export timeout.
    pub timeout: Duration,
    /// `service.name` and the other resource attributes.
    pub resource: Vec<(String, String)>,
}

impl ExportSettings {
    /// Reads the settings through `var` (the process environment in production); `Ok(None)`
    /// when traces are off.
    pub fn from_vars(
        service_name: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ExportSettings>, TelemetryError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if get("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        if get("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim().eq_ignore_ascii_case("none")) {
            return Ok(None);
        }
        let protocol_var = if get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").is_some() {
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
        } else {
            "OTEL_EXPORTER_OTLP_PROTOCOL"
        };
        let protocol = match get(protocol_var).as_deref().map(str::trim) {
            None | Some("http/protobuf") => Protocol::HttpProtobuf,
            Some("grpc") => Protocol::Grpc,
            Some(other) => {
                return Err(TelemetryError::Invalid {
                    var: if protocol_var == "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" {
                        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
                    } else {
                        "OTEL_EXPORTER_OTLP_PROTOCOL"
                    },
                    message: format!("{other:?} is not supported (use grpc or http/protobuf)"),
                });
            }
        };
        let (endpoint_var, endpoint, signal_specific) =
            if let Some(e) = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", e, true)
            } else if let Some(e) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
                ("OTEL_EXPORTER_OTLP_ENDPOINT", e, false)
            } else {
                return Ok(None);
            };
        let mut endpoint = endpoint.trim().to_owned();
        if protocol == Protocol::HttpProtobuf && !signal_specific {
            // The generic endpoint is a base URL: traces go to <base>/v1/traces.
            endpoint = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        }
        let uri: http::Uri = endpoint.parse().map_err(|e| TelemetryError::Invalid {
            var: endpoint_var,
            message: format!("not a URL: {e}"),
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(TelemetryError::Invalid {
                var: endpoint_var,
                message: "must be an http:// or https:// URL".into(),
            });
        }
        let headers_var = if get("OTEL_EXPORTER_OTLP_TRACES_HEADERS").is_some() {
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
        } else {
            "OTEL_EXPORTER_OTLP_HEADERS"
        };
        let mut headers = Vec::new();
        for pair in get(headers_var).unwrap_or_default().split(',') {
            let Some((k, v)) = pair.split_once('=') else {
                continue;
            };
            let name = http::HeaderName::from_bytes(k.trim().to_ascii_lowercase().as_bytes())
                .map_err(|_| TelemetryError::Invalid {
                    var: "OTEL_EXPORTER_OTLP_HEADERS",
                    message: format!("{:?} is not a header name", k.trim()),
                })?;
            let mut value =
                http::HeaderValue::from_str(&percent_decode(v.trim())).map_err(|_| {
                    TelemetryError::Invalid {
                        var: "OTEL_EXPORTER_OTLP_HEADERS",
                        message: format!("the value of {name} is not a valid header value"),
                    }
                })?;
            value.set_sensitive(true);
            headers.push((name, value));
        }
        let timeout_ms = get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
            .or_else(|| get("OTEL_EXPORTER_OTLP_TIMEOUT"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(10_000);
        let mut resource: Vec<(String, String)> = Vec::new();
        for pair in get("OTEL_RESOURCE_ATTRIBUTES")
            .unwrap_or_default()
            .split(',')
        {
            if let Some((k, v)) = pair.split_once('=')
                && !k.trim().is_empty()
            {
                resource.push((k.trim().to_owned(), percent_decode(v.trim())));
            }
        }
        let name = get("OTEL_SERVICE_NAME").unwrap_or_else(|| service_name.to_owned());
        resource.retain(|(k, _)| k != "service.name");
        resource.insert(0, ("service.name".to_owned(), name));
        if !resource.iter().any(|(k, _)| k == "service.version") {
            resource.push((
                "service.version".to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            ));
        }
        Ok(Some(ExportSettings {
            endpoint: uri,
            protocol,
            headers,
            timeout: Duration::from_millis(timeout_ms.max(1)),
            resource,
        }))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The running exporter; [`shutdown`](Self::shutdown) flushes what is queued.
#[derive(Debug)]
pub struct Exporter {
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Exporter {
    /// Flushes queued spans (at most 5 s) and stops.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

/// Starts exporting when the environment configures it. Must run inside a tokio runtime.
pub fn start_from_env(service_name: &str) -> Result<(Tracer, Option<Exporter>), TelemetryError> {
    match ExportSettings::from_vars(service_name, |name| std::env::var(name).ok())? {
        Some(settings) => {
            tracing::info!(
                endpoint = %settings.endpoint,
                protocol = ?settings.protocol,
                "exporting traces with OTLP"
            );
            let (tracer, exporter) = start(settings);
            Ok((tracer, Some(exporter)))
        }
        None => Ok((Tracer::disabled(), None)),
    }
}

/// Starts the export task with explicit settings.
pub fn start(settings: ExportSettings) -> (Tracer, Exporter) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let (stop_tx, stop_rx) = oneshot::channel();
    let dropped = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(export_loop(settings, rx, stop_rx, dropped.clone()));
    (
        Tracer {
            tx: Some(tx),
            dropped,
        },
        Exporter {
            stop: Some(stop_tx),
            task: Some(task),
        },
    )
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

enum Transport {
    Grpc(Option<TraceServiceClient<tonic::transport::Channel>>),
    Http(Option<HttpClient>),
}

async fn export_loop(
    settings: ExportSettings,
    mut rx: mpsc::Receiver<SpanRecord>,
    mut stop: oneshot::Receiver<()>,
    dropped: Arc<AtomicU64>,
) {
    let resource = Resource {
        attributes: settings
            .resource
            .iter()
            .map(|(k, v)| kv(k.clone(), AttrValue::Str(Cow::Owned(v.clone()))))
            .collect(),
        ..Default::default()
    };
    let mut transport = match settings.protocol {
        Protocol::Grpc => Transport::Grpc(None),
        Protocol::HttpProtobuf => Transport::Http(http_client()),
    };
    let mut batch: Vec<SpanRecord> = Vec::with_capacity(BATCH);
    let mut failures_logged = 0u32;
    let mut stopping = false;
    loop {
        let deadline = tokio::time::sleep(FLUSH_EVERY);
        tokio::pin!(deadline);
        while batch.len() < BATCH {
            tokio::select! {
                span = rx.recv() => match span {
                    Some(span) => batch.push(span),
                    None => { stopping = true; break; }
                },
                () = &mut deadline => break,
                _ = &mut stop, if !stopping => {
                    stopping = true;
                    rx.close();
                }
            }
        }
        if !batch.is_empty() {
            let spans = std::mem::take(&mut batch);
            let count = spans.len() as u64;
            let request = ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(resource.clone()),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: "glitch".into(),
                            version: env!("CARGO_PKG_VERSION").into(),
                            ..Default::default()
                        }),
                        spans: spans.into_iter().map(to_otlp).collect(),
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                }],
            };
            if let Err(e) = export(&settings, &mut transport, request).await {
                dropped.fetch_add(count, Ordering::Relaxed);
                if failures_logged < 5 || failures_logged.is_multiple_of(100) {
                    tracing::warn!(error = %e, spans = count, "OTLP trace export failed; spans dropped");
                }
                failures_logged = failures_logged.saturating_add(1);
            }
        }
        if stopping && rx.is_empty() {
            return;
        }
    }
}

fn http_client() -> Option<HttpClient> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    Some(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector),
    )
}

async fn export(
    settings: &ExportSettings,
    transport: &mut Transport,
    request: ExportTraceServiceRequest,
) -> Result<(), String> {
    match transport {
        Transport::Grpc(client) => {
            if client.is_none() {
                let endpoint = tonic::transport::Endpoint::from(settings.endpoint.clone())
                    .timeout(settings.timeout)
                    .connect_timeout(settings.timeout);
                *client = Some(TraceServiceClient::new(endpoint.connect_lazy()));
            }
            let Some(client) = client.as_mut() else {
                return Err("no gRPC client".into());
            };
            let mut req = tonic::Request::new(request);
            for (name, value) in &settings.headers {
                if let (Ok(k), Ok(v)) = (
                    tonic::metadata::MetadataKey::from_bytes(name.as_str().as_bytes()),
                    tonic::metadata::MetadataValue::try_from(value.as_bytes()),
                ) {
                    req.metadata_mut().insert(k, v);
                }
            }
            req.set_timeout(settings.timeout);
            client
                .export(req)
                .await
                .map(|_| ())
                .map_err(|status| format!("gRPC {}: {}", status.code(), status.message()))
        }
        Transport::Http(client) => {
            let Some(client) = client.as_ref() else {
                return Err("no HTTP client".into());
            };
            let mut builder = http::Request::post(settings.endpoint.clone())
                .header(http::header::CONTENT_TYPE, "application/x-protobuf");
            for (name, value) in &settings.headers {
                builder = builder.header(name, value);
            }
            let req = builder
                .body(Full::new(Bytes::from(request.encode_to_vec())))
                .map_err(|e| e.to_string())?;
            let response = tokio::time::timeout(settings.timeout, client.request(req))
                .await
                .map_err(|_| "timed out".to_owned())?
                .map_err(|e| e.to_string())?;
            let status = response.status();
            let _ = response.into_body().collect().await;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("HTTP {status}"))
            }
        }
    }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn kv(key: impl Into<String>, value: AttrValue) -> KeyValue {
    let value = match value {
        AttrValue::Str(s) => any_value::Value::StringValue(s.into_owned()),
        AttrValue::Int(i) => any_value::Value::IntValue(i),
        AttrValue::Float(f) => any_value::Value::DoubleValue(f),
        AttrValue::Bool(b) => any_value::Value::BoolValue(b),
    };
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn to_otlp(s: SpanRecord) -> Span {
    let kind = match s.kind {
        SpanKind::Server => span::SpanKind::Server,
        SpanKind::Client => span::SpanKind::Client,
        SpanKind::Internal => span::SpanKind::Internal,
    };
    Span {
        trace_id: s.trace_id.to_vec(),
        span_id: s.span_id.to_vec(),
        parent_span_id: s.parent.map(|p| p.to_vec()).unwrap_or_default(),
        name: s.name.into_owned(),
        kind: kind as i32,
        start_time_unix_nano: unix_nanos(s.start),
        end_time_unix_nano: unix_nanos(s.end),
        attributes: s.attributes.into_iter().map(|(k, v)| kv(k, v)).collect(),
        status: Some(match s.error {
            Some(message) => Status {
                message,
                code: status::StatusCode::Error as i32,
            },
            None => Status {
                message: String::new(),
                code: status::StatusCode::Unset as i32,
            },
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_parses_w3c_and_rejects_garbage() {
        let tp =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(hex_id(&tp.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex_id(&tp.span_id), "00f067aa0ba902b7");
        assert!(tp.sampled);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-xyz-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn settings_follow_the_standard_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(ExportSettings::from_vars("s", vars(&[])).unwrap().is_none());
        let s = ExportSettings::from_vars(
            "glitch-sensor",
            vars(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b,x-team=t"),
                ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.protocol, Protocol::HttpProtobuf);
        assert_eq!(s.endpoint.to_string(), "http://collector:4318/v1/traces");
        assert_eq!(s.headers[0].1.to_str().unwrap(), "a b");
        assert_eq!(
            s.resource[0],
            ("service.name".into(), "glitch-sensor".into())
        );
        assert!(
            s.resource
                .contains(&("deployment.environment".into(), "prod".into()))
        );
        let g = ExportSettings::from_vars(
            "x",
            vars(&[
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_SERVICE_NAME", "edge-sensor"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(g.protocol, Protocol::Grpc);
        assert_eq!(g.resource[0].1, "edge-sensor");
        for off in [
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
                ("OTEL_SDK_DISABLED", "true"),
            ][..],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
                ("OTEL_TRACES_EXPORTER", "none"),
            ][..],
        ] {
            let off: &'static [(&'static str, &'static str)] =
                Box::leak(off.to_vec().into_boxed_slice());
            assert!(ExportSettings::from_vars("s", vars(off)).unwrap().is_none());
        }
        let bad: &'static [(&'static str, &'static str)] = &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ];
        assert!(ExportSettings::from_vars("s", vars(bad)).is_err());
        let bad_url: &'static [(&'static str, &'static str)] =
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")];
        assert!(ExportSettings::from_vars("s", vars(bad_url)).is_err());
    }
}
