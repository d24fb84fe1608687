//! The per-request context: what each phase learned (identity, decision, findings, upstream
//! status, timings), carried to the `record` phase. Recording happens exactly once — when the
//! response body ends, when the sensor answers by itself, or, through `Drop`, when the client
//! goes away — so every /v1/ request becomes one SecurityEvent on every exit path.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use glitch_detect::engine::is_sensitive;
use glitch_detect::{Finding, ScanReport};
use glitch_proto::events::v1::{self as pb, SecurityEvent};
use http::request::Parts;
use uuid::Uuid;

use glitch_process::telemetry::{
    AttrValue, SpanKind, SpanRecord, TraceParent, Tracer, hex_id, new_span_id, new_trace_id,
};

use crate::events::{BodyKind, EventDraft, EventPermit};
use crate::metrics::{PhaseLabels, RequestLabels, RouteLabels, SensorMetrics};
use crate::state::AppState;

/// The decision recorded in the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Forwarded with no finding.
    Allowed,
    /// Refused by the policy.
    Blocked,
    /// Forwarded with log/alert findings.
    Flagged,
    /// Tenant authentication failed.
    AuthFailed,
    /// The sensor or the upstream failed.
    Error,
}

impl Decision {
    /// The event's string.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Blocked => "blocked",
            Decision::Flagged => "flagged",
            Decision::AuthFailed => "auth_failed",
            Decision::Error => "error",
        }
    }
}

/// The route classes of contract §2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/messages`
    Messages,
    /// `POST /v1/messages/count_tokens`
    CountTokens,
    /// `GET /v1/models[/{id}]`
    Models,
    /// `POST /v1/messages/batches`
    Batches,
    /// `POST /v1/detect`
    Detect,
    /// Any other `/v1/...`
    Other,
}

impl Route {
    /// Classifies a request.
    pub fn classify(method: &http::Method, path: &str) -> Route {
        let path = path.trim_end_matches('/');
        match (method.as_str(), path) {
            ("POST", "/v1/messages") => Route::Messages,
            ("POST", "/v1/messages/count_tokens") => Route::CountTokens,
            ("POST", "/v1/messages/batches") => Route::Batches,
            ("POST", "/v1/detect") => Route::Detect,
            ("GET", p) if p == "/v1/models" || p.starts_with("/v1/models/") => Route::Models,
            _ => Route::Other,
        }
    }

    /// Metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Route::Messages => "messages",
            Route::CountTokens => "count_tokens",
            Route::Models => "models",
            Route::Batches => "batches",
            Route::Detect => "detect",
            Route::Other => "other",
        }
    }

    /// The route as a path template, for span names.
    pub fn template(self) -> &'static str {
        match self {
            Route::Messages => "/v1/messages",
            Route::CountTokens => "/v1/messages/count_tokens",
            Route::Models => "/v1/models",
            Route::Batches => "/v1/messages/batches",
            Route::Detect => "/v1/detect",
            Route::Other => "/v1/*",
        }
    }
}

/// What the request path carries from phase to phase.
#[derive(Debug)]
pub struct RequestContext {
    permit: Option<EventPermit>,
    metrics: Arc<SensorMetrics>,
    alerts: Option<crate::alerts::AlertSink>,
    /// The event being filled.
    pub event: SecurityEvent,
    /// Route class.
    pub route: Route,
    /// Decision so far.
    pub decision: Decision,
    /// Arrival time.
    pub started: Instant,
    /// Request body kept for the stored conversation.
    pub body: Option<Bytes>,
    /// How to read it.
    pub body_kind: BodyKind,
    /// Values to mask in the stored conversation.
    pub mask_values: Vec<String>,
    /// Assistant text relayed.
    pub response_text: String,
    /// The request headers, redacted into the event by the writer thread.
    headers: Option<http::HeaderMap>,
    head_recorded: bool,
    /// When the upstream's response head arrived.
    first_byte: Option<Instant>,
    /// The request's trace, when traces are exported.
    trace: Option<Box<RequestTrace>>,
}

/// One request's trace: its ids and the phases timed so far, turned into spans when the event
/// is recorded. Only exists while traces are exported.
#[derive(Debug)]
pub struct RequestTrace {
    tracer: Tracer,
    trace_id: [u8; 16],
    /// The caller's span (from `traceparent`), parent of the request span.
    remote_parent: Option<[u8; 8]>,
    root: [u8; 8],
    started: Instant,
    started_at: SystemTime,
    phases: Vec<Phase>,
}

#[derive(Debug)]
struct Phase {
    name: &'static str,
    parent: Option<usize>,
    kind: SpanKind,
    start: Instant,
    end: Instant,
    attributes: Vec<(&'static str, AttrValue)>,
    error: Option<String>,
}

impl RequestTrace {
    fn at(&self, t: Instant) -> SystemTime {
        self.started_at + t.saturating_duration_since(self.started)
    }
}

/// At most `max` bytes of `s` (cut on a char boundary).
pub fn capped(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s[..cut].to_owned()
}

/// `req_glitch_<event id>`: the request id of the sensor's own responses.
pub fn request_id_for(event_id: &str) -> String {
    format!("req_glitch_{}", event_id.replace('-', ""))
}

impl RequestContext {
    /// Starts the context for a request that reached a /v1/ route.
    pub fn start(
        app: &AppState,
        parts: &Parts,
        route: Route,
        permit: EventPermit,
        started: Instant,
    ) -> Self {
        let now = SystemTime::now();
        let since_epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let event = SecurityEvent {
            event_id: Uuid::now_v7().to_string(),
            time: Some(prost_types::Timestamp {
                seconds: i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(since_epoch.subsec_nanos()).unwrap_or(0),
            }),
            sensor_id: app.identity.sensor_id.clone(),
            region: app.identity.region.clone(),
            method: capped(parts.method.as_str(), 32),
            path: capped(parts.uri.path(), 2048),
            query: capped(parts.uri.query().unwrap_or(""), 2048),
            user_agent: parts
                .headers
                .get(http::header::USER_AGENT)
                .map(|v| capped(&String::from_utf8_lossy(v.as_bytes()), 512))
                .unwrap_or_default(),
            session_id: crate::session::from_headers(&parts.headers).unwrap_or_default(),
            latency_ms: Some(pb::Latency::default()),
            ..Default::default()
        };
        app.metrics.inflight.inc();
        let incoming = parts
            .headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(TraceParent::parse);
        let mut event = event;
        let trace = if app.tracer.is_enabled() {
            let trace_id = incoming.map_or_else(new_trace_id, |p| p.trace_id);
            event.trace_id = hex_id(&trace_id);
            Some(Box::new(RequestTrace {
                tracer: app.tracer.clone(),
                trace_id,
                remote_parent: incoming.map(|p| p.span_id),
                root: new_span_id(),
                started,
                started_at: now - started.elapsed(),
                phases: Vec::with_capacity(12),
            }))
        } else {
            // Not exporting: still record the caller's trace id, for correlation.
            if let Some(p) = incoming {
                event.trace_id = hex_id(&p.trace_id);
            }
            None
        };
        RequestContext {
            trace,
            permit: Some(permit),
            metrics: app.metrics.clone(),
            alerts: app.alerts.clone(),
            event,
            route,
            decision: Decision::Allowed,
            started,
            body: None,
            body_kind: BodyKind::None,
            mask_values: Vec::new(),
            response_text: String::new(),
            // A clone shares the header bytes; redacting them costs allocations, so the writer
            // thread does it.
            headers: Some(parts.headers.clone()),
            head_recorded: false,
            first_byte: None,
        }
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &SensorMetrics {
        &self.metrics
    }

    /// True when this request's phases are being traced.
    pub fn tracing(&self) -> bool {
        self.trace.is_some()
    }

    /// Records a finished phase as a child span of the request (no-op when not tracing);
    /// returns its index, for children.
    pub fn phase(&mut self, name: &'static str, start: Instant) -> Option<usize> {
        self.phase_span(
            name,
            None,
            SpanKind::Internal,
            start,
            Instant::now(),
            Vec::new,
        )
    }

    /// Records a span with everything explicit: its time always goes into the phase histogram;
    /// the span itself, and so its `attributes` (built only then), only while tracing.
    pub fn phase_span(
        &mut self,
        name: &'static str,
        parent: Option<usize>,
        kind: SpanKind,
        start: Instant,
        end: Instant,
        attributes: impl FnOnce() -> Vec<(&'static str, AttrValue)>,
    ) -> Option<usize> {
        self.metrics
            .phase_duration
            .get_or_create(&PhaseLabels { phase: name })
            .observe(end.saturating_duration_since(start).as_secs_f64());
        let trace = self.trace.as_mut()?;
        trace.phases.push(Phase {
            name,
            parent,
            kind,
            start,
            end,
            attributes: attributes(),
            error: None,
        });
        Some(trace.phases.len() - 1)
    }

    /// Marks a recorded phase as failed.
    pub fn phase_error(&mut self, phase: Option<usize>, error: impl Into<String>) {
        if let (Some(trace), Some(i)) = (self.trace.as_mut(), phase)
            && let Some(p) = trace.phases.get_mut(i)
        {
            p.error = Some(error.into());
        }
    }

    /// Records the per-family signature timings of a scan as children of `parent`, laid end to
    /// end from `start` (families interleave per text segment; each span shows its total).
    pub fn family_phases(
        &mut self,
        parent: Option<usize>,
        start: Instant,
        timings: &glitch_detect::FamilyTimings,
    ) {
        let mut at = start;
        for (family, took) in &timings.families {
            let end = at + *took;
            let name = family_span_name(family);
            self.phase_span(name, parent, SpanKind::Internal, at, end, Vec::new);
            at = end;
        }
    }

    /// The request span, from the event as it is about to be recorded.
    fn request_span(&self, trace: &RequestTrace) -> SpanRecord {
        let mut root = SpanRecord::new(
            trace.trace_id,
            trace.remote_parent,
            format!("{} {}", self.event.method, self.route.template()),
            SpanKind::Server,
            trace.started_at,
            trace.started_at,
        )
        .attr("http.request.method", self.event.method.clone())
        .attr("url.path", self.event.path.clone())
        .attr("http.route", self.route.template())
        .attr("http.response.status_code", i64::from(self.event.status))
        .attr("glitch.decision", self.decision.as_str())
        .attr("glitch.event_id", self.event.event_id.clone());
        root.span_id = trace.root;
        if !self.event.project_id.is_empty() {
            root = root.attr("glitch.project_id", self.event.project_id.clone());
        }
        if !self.event.session_id.is_empty() {
            root = root.attr("session.id", self.event.session_id.clone());
        }
        if !self.event.error.is_empty() && self.decision == Decision::Error {
            root.error = Some(self.event.error.clone());
        }
        root
    }

    /// Emits the request's spans (when tracing): the request span and every phase.
    fn emit_trace(&mut self, mut root: SpanRecord, ended: Instant) {
        let Some(trace) = self.trace.take() else {
            return;
        };
        root.end = trace.at(ended).max(root.start);
        let ids: Vec<[u8; 8]> = trace.phases.iter().map(|_| new_span_id()).collect();
        for (i, phase) in trace.phases.iter().enumerate() {
            let parent = phase
                .parent
                .and_then(|p| ids.get(p).copied())
                .unwrap_or(trace.root);
            let mut span = SpanRecord::new(
                trace.trace_id,
                Some(parent),
                phase.name,
                phase.kind,
                trace.at(phase.start),
                trace.at(phase.end),
            );
            span.span_id = ids[i];
            span.attributes = phase.attributes.clone();
            span.error = phase.error.clone();
            trace.tracer.record(span);
        }
        trace.tracer.record(root);
    }

    /// The event id.
    pub fn event_id(&self) -> &str {
        &self.event.event_id
    }

    /// Records the findings of a scan, the risk summary and the values to mask.
    pub fn add_findings(&mut self, report: &ScanReport) {
        for f in &report.findings {
            if is_sensitive(&f.detector_type)
                && !f.matched.is_empty()
                && !self.mask_values.contains(&f.matched)
            {
                self.mask_values.push(f.matched.clone());
            }
            self.event.findings.push(finding_to_pb(f));
        }
        let risk = self.event.risk.get_or_insert_with(pb::Risk::default);
        risk.blocked |= report.blocked();
        for c in report.categories() {
            if !risk.categories.iter().any(|x| **x == *c) {
                risk.categories.push(c.to_string());
            }
        }
        risk.confidence = risk.confidence.max(report.max_confidence());
    }

    /// Sets a latency field (milliseconds).
    pub fn latency(&mut self) -> &mut pb::Latency {
        self.event
            .latency_ms
            .get_or_insert_with(pb::Latency::default)
    }

    /// Records the response head: status and the per-route latency metric.
    pub fn record_head(&mut self, status: u16) {
        self.event.status = u32::from(status);
        if !self.head_recorded {
            self.head_recorded = true;
            self.metrics
                .request_duration
                .get_or_create(&RouteLabels {
                    route: self.route.label(),
                })
                .observe(self.started.elapsed().as_secs_f64());
        }
    }

    /// Writes the event (once). `completion` says how the response ended.
    pub fn finish(&mut self, completion: &str) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let record_started = Instant::now();
        if self.event.completion.is_empty() {
            self.event.completion = completion.to_owned();
        }
        let total = self.started.elapsed().as_secs_f64() * 1000.0;
        self.latency().total = total;
        self.event.decision = self.decision.as_str().to_owned();
        if self.event.risk.is_none() {
            self.event.risk = Some(pb::Risk::default());
        }
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                route: self.route.label(),
                decision: self.decision.as_str(),
            })
            .inc();
        self.metrics.inflight.dec();
        if let Some(alerts) = &self.alerts
            && let Some(alert) = crate::alerts::Alert::for_event(&self.event)
        {
            alerts.send(alert, &self.metrics);
        }
        if let Some(first_byte) = self.first_byte {
            let completion = self
                .tracing()
                .then(|| AttrValue::from(self.event.completion.clone()));
            self.phase_span(
                "relay",
                None,
                SpanKind::Internal,
                first_byte,
                record_started,
                move || {
                    completion
                        .map(|c| ("glitch.completion", c))
                        .into_iter()
                        .collect()
                },
            );
        }
        if self.trace.is_some() {
            let root = self.trace.as_deref().map(|trace| self.request_span(trace));
            // The hand-over to the event queue: what the record phase costs the request.
            let draft = self.draft();
            permit.send(draft);
            self.phase("record", record_started);
            if let Some(root) = root {
                self.emit_trace(root, Instant::now());
            }
            return;
        }
        let draft = self.draft();
        permit.send(draft);
        self.phase("record", record_started);
    }

    fn draft(&mut self) -> EventDraft {
        EventDraft {
            event: std::mem::take(&mut self.event),
            body: self.body.take(),
            body_kind: self.body_kind,
            mask_values: std::mem::take(&mut self.mask_values),
            response_text: std::mem::take(&mut self.response_text),
            omitted_reason: None,
            headers: self.headers.take(),
        }
    }

    /// Marks when the upstream's response head arrived (the relay phase starts).
    pub fn mark_first_byte(&mut self, at: Instant) {
        self.first_byte = Some(at);
    }
}

fn family_span_name(family: &str) -> &'static str {
    match family {
        "secrets" => "detect.secrets",
        "pii" => "detect.pii",
        "prompt_attack" | "jailbreak" => "detect.prompt_attack",
        "unknown_links" => "detect.unknown_links",
        "custom" => "detect.custom",
        _ => "detect.other",
    }
}

impl Drop for RequestContext {
    fn drop(&mut self) {
        if self.permit.is_some() {
            if self.event.error.is_empty() {
                self.event.error = "client disconnected before the response ended".into();
            }
            self.finish("client_disconnected");
        }
    }
}

/// A finding as recorded in the event.
pub fn finding_to_pb(f: &Finding) -> pb::Finding {
    pb::Finding {
        detector_type: f.detector_type.to_string(),
        source: f.source.as_str().to_owned(),
        confidence: f.confidence,
        level: f.level.as_str().to_owned(),
        action: f.action.as_str().to_owned(),
        direction: f.direction.as_str().to_owned(),
        location: f.location.to_string(),
        excerpt: f.excerpt.clone(),
        opinions: f
            .opinions
            .iter()
            .map(|o| pb::Opinion {
                source: o.source.as_str().to_owned(),
                confidence: o.confidence,
                classifier: o.classifier.to_string(),
            })
            .collect(),
    }
}
