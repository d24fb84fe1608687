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

use crate::events::{BodyKind, EventDraft, EventPermit, redacted_headers};
use crate::metrics::{RequestLabels, RouteLabels, SensorMetrics};
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
    head_recorded: bool,
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
            request_headers: redacted_headers(&parts.headers),
            session_id: crate::session::from_headers(&parts.headers).unwrap_or_default(),
            latency_ms: Some(pb::Latency::default()),
            ..Default::default()
        };
        app.metrics.inflight.inc();
        RequestContext {
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
            head_recorded: false,
        }
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &SensorMetrics {
        &self.metrics
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
        permit.send(EventDraft {
            event: std::mem::take(&mut self.event),
            body: self.body.take(),
            body_kind: self.body_kind,
            mask_values: std::mem::take(&mut self.mask_values),
            response_text: std::mem::take(&mut self.response_text),
            omitted_reason: None,
        });
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
