//! The request path for every `/v1/` route, as named phases: authenticate → read body →
//! parse → (rate limit) → detect → forward → relay → record. Each phase can answer early with
//! the sensor's own error; the context records one SecurityEvent on every exit.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use bytes::Bytes;
use glitch_detect::extract::{ParseError, parse_batch_request, parse_messages_request};
use glitch_detect::{Direction, FamilyTimings, LlmMode, Location, Part, ScanReport, TextSegment};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};

use crate::auth::presented_key_hash;
use crate::context::{Decision, RequestContext, Route, request_id_for};
use crate::errors::SensorError;
use crate::events::BodyKind;
use crate::llm_stage::LlmStage;
use crate::metrics::UpstreamErrorLabels;
use crate::ratelimit::{RateLimitRefusal, estimate_tokens};
use crate::relay::RelayBody;
use crate::snapshot::ProjectConfig;
use crate::state::AppState;
use crate::upstream::{clean_response_headers, upstream_request};

/// Response headers added to every authenticated /v1/ response.
pub const RISK_BLOCKED: &str = "x-risk-blocked";
/// Comma-separated detector types at or over their thresholds.
pub const RISK_CATEGORIES: &str = "x-risk-categories";
/// Highest confidence, two decimals.
pub const RISK_CONFIDENCE: &str = "x-risk-confidence";
/// The SecurityEvent id of the request.
pub const EVENT_ID: &str = "x-glitch-event-id";

/// Handles every `/v1/...` request.
pub async fn handle_v1(State(app): State<Arc<AppState>>, request: Request<Body>) -> Response<Body> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let route = Route::classify(&parts.method, parts.uri.path());
    // Reserve the event's queue slot first: a full queue slows intake instead of losing events.
    let Some(permit) = app.events.reserve().await else {
        return SensorError::unavailable("the sensor is shutting down")
            .into_response("req_glitch_shutdown");
    };
    let snapshot = app.config.load();
    let mut ctx = RequestContext::start(&app, &parts, route, permit, started);
    ctx.event.config_version = snapshot.version;
    if !app.config.has_config() {
        ctx.decision = Decision::Error;
        ctx.event.error = "no configuration yet".into();
        return own_error(
            &mut ctx,
            SensorError::unavailable("no configuration from the control plane yet; retry shortly"),
            false,
        );
    }

    // authenticate
    let key = match presented_key_hash(&parts.headers).and_then(|hash| snapshot.authenticate(&hash))
    {
        Ok(key) => key,
        Err(e) => {
            ctx.decision = Decision::AuthFailed;
            ctx.event.error = e.reason().to_owned();
            return own_error(&mut ctx, SensorError::unauthorized(e.to_string()), false);
        }
    };
    ctx.phase("authenticate", started);
    let project = key.project.clone();
    ctx.event.key_id = key.id.clone();
    ctx.event.project_id = project.id.clone();
    ctx.event.policy_id = project.policy_id.clone();
    if !is_canonical_path(parts.uri.path()) {
        ctx.decision = Decision::Error;
        ctx.event.error = "non-canonical path".into();
        return own_error(
            &mut ctx,
            SensorError::invalid(
                "the request path must not contain empty, '.' or '..' segments or percent-encoding",
            ),
            true,
        );
    }
    // read body
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let read_started = Instant::now();
    let body = match read_body(&app, body, declared).await {
        Ok(body) => body,
        Err(e) => {
            ctx.decision = Decision::Error;
            ctx.event.error = e.message.clone();
            return own_error(&mut ctx, e, true);
        }
    };
    ctx.event.request_bytes = body.len() as u64;
    ctx.phase("read_body", read_started);

    if route == Route::Detect {
        return detect_only(&mut ctx, &app, &project, &body).await;
    }

    // parse
    let parse_started = Instant::now();
    let parsed = match route {
        Route::Messages => Some(off_the_reactor(body.len(), || {
            parse_messages_request(&body)
        })),
        Route::Batches => Some(off_the_reactor(body.len(), || parse_batch_request(&body))),
        _ => None,
    };
    let parsed = match parsed.transpose() {
        Ok(parsed) => parsed,
        Err(e) => {
            ctx.decision = Decision::Error;
            ctx.event.error = e.to_string();
            let message = match e {
                ParseError::NotObject => "request body must be a JSON object".to_owned(),
                ParseError::NotJson(detail) => format!("request body is not valid JSON: {detail}"),
                ParseError::DuplicateKey(detail) => {
                    format!("request body has a duplicate key: {detail}")
                }
            };
            return own_error(&mut ctx, SensorError::invalid(message), true);
        }
    };
    if parsed.is_some() {
        ctx.phase("parse", parse_started);
    }
    if let Some(parsed) = &parsed {
        ctx.event.model = crate::context::capped(parsed.model.as_deref().unwrap_or(""), 256);
        ctx.event.stream = parsed.stream;
        if ctx.event.session_id.is_empty()
            && let Some(session) = parsed
                .user_id
                .as_deref()
                .and_then(crate::session::from_user_id)
        {
            ctx.event.session_id = session;
        }
        ctx.body = Some(body.clone());
        ctx.body_kind = if route == Route::Batches {
            BodyKind::Batch
        } else {
            BodyKind::Messages
        };
    }

    // rate limit
    let policy = project.policy.clone();
    if matches!(route, Route::Messages | Route::Batches) {
        let limit_started = Instant::now();
        let limits = &policy.policy().rate_limits;
        if let Err(refusal) =
            app.rate_limiter
                .check(&project.id, limits, estimate_tokens(body.len()))
        {
            ctx.decision = Decision::Error;
            let error = match refusal {
                RateLimitRefusal::Exceeded { what, retry_after } => SensorError::rate_limited(
                    format!("this project's rate limit ({what}) is exceeded"),
                    retry_after,
                ),
                RateLimitRefusal::RequestTooBig { estimated, limit } => {
                    SensorError::invalid(format!(
                        "request has about {estimated} input tokens, over this project's max_input_tokens of {limit}"
                    ))
                }
            };
            ctx.event.error = "rate_limited".into();
            return own_error(&mut ctx, error, true);
        }
        if policy.policy().rate_limits.enabled {
            ctx.phase("rate_limit", limit_started);
        }
    }

    // detect input (signatures), with the LLM classifier stage in flight meanwhile
    let mut report = ScanReport::default();
    let mut llm = None;
    if let Some(parsed) = &parsed {
        llm = LlmStage::start(&app.classifiers, &policy, &parsed.segments);
    }
    if let Some(parsed) = &parsed
        && policy.scans(Direction::Input)
    {
        let detect_started = Instant::now();
        let cache = app.scan_cache(&project.id);
        let mut timings = ctx.tracing().then(FamilyTimings::default);
        let (scanned, stats) = off_the_reactor(body.len(), || {
            policy.scan_cached_timed(
                Direction::Input,
                &parsed.segments,
                Some(&cache),
                timings.as_mut(),
            )
        });
        let detect = ctx.phase("detect", detect_started);
        if let Some(timings) = &timings {
            ctx.family_phases(detect, detect_started, timings);
        }
        report = scanned;
        app.metrics.scan_cache_hits.inc_by(stats.hits);
        app.metrics.scan_cache_misses.inc_by(stats.misses);
        let detection = detect_started.elapsed();
        app.metrics
            .detection_duration
            .observe(detection.as_secs_f64());
        ctx.latency().detection = detection.as_secs_f64() * 1000.0;
    }
    let mut refuse_llm = None;
    if let Some(stage) = llm {
        if report.blocked() {
            stage.cancel(&mut ctx);
        } else if stage.mode() == LlmMode::Async {
            stage.detach(
                &mut ctx,
                &app,
                policy.clone(),
                body.clone(),
                route == Route::Batches,
            );
        } else if let Some(parsed) = &parsed {
            let waited = Instant::now();
            refuse_llm = stage
                .wait(&mut ctx, &policy, &parsed.segments, &mut report)
                .await;
            ctx.latency().detection += waited.elapsed().as_secs_f64() * 1000.0;
        }
    }
    drop(parsed);
    ctx.add_findings(&report);
    if report.blocked() {
        ctx.decision = Decision::Blocked;
        let categories = report.categories();
        return own_error(&mut ctx, SensorError::blocked(&categories), true);
    }
    if let Some(status) = refuse_llm {
        ctx.decision = Decision::Blocked;
        ctx.event.risk.get_or_insert_with(Default::default).blocked = true;
        return own_error(
            &mut ctx,
            SensorError::classifier_failed_closed(status),
            true,
        );
    }
    if !report.findings.is_empty() {
        ctx.decision = Decision::Flagged;
    }

    // forward
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let scans_output = route == Route::Messages && policy.scans(Direction::Output);
    let upstream_req = match upstream_request(
        &app.upstream,
        parts.method.clone(),
        path_and_query,
        &parts.headers,
        body,
        scans_output,
    ) {
        Ok(r) => r,
        Err(e) => {
            ctx.decision = Decision::Error;
            ctx.event.error = format!("cannot build upstream request: {e}");
            return own_error(
                &mut ctx,
                SensorError::invalid(format!("cannot forward this request: {e}")),
                true,
            );
        }
    };
    let forwarded = Instant::now();
    let upstream_response = match tokio::time::timeout(
        app.limits.upstream_timeout,
        app.client.request(upstream_req),
    )
    .await
    {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            let kind = if e.is_connect() {
                "connect"
            } else {
                "protocol"
            };
            app.metrics
                .upstream_errors
                .get_or_create(&UpstreamErrorLabels { kind })
                .inc();
            ctx.decision = Decision::Error;
            let detail = error_chain(&e);
            upstream_failed(&mut ctx, forwarded, format!("{kind} error"));
            ctx.event.error = format!("upstream {kind} error: {detail}");
            tracing::warn!(event_id = %ctx.event_id(), error = %detail, "upstream request failed");
            return own_error(&mut ctx, SensorError::upstream_unreachable(detail), true);
        }
        Err(_) => {
            app.metrics
                .upstream_errors
                .get_or_create(&UpstreamErrorLabels { kind: "timeout" })
                .inc();
            ctx.decision = Decision::Error;
            upstream_failed(&mut ctx, forwarded, "timeout".to_owned());
            ctx.event.error = "upstream response timeout".into();
            return own_error(
                &mut ctx,
                SensorError::upstream_timeout(app.limits.upstream_timeout.as_secs()),
                true,
            );
        }
    };
    let first_byte = forwarded.elapsed();
    {
        let now = Instant::now();
        let status = i64::from(upstream_response.status().as_u16());
        ctx.phase_span(
            "upstream",
            None,
            glitch_process::telemetry::SpanKind::Client,
            forwarded,
            now,
            move || vec![("http.response.status_code", status.into())],
        );
        ctx.mark_first_byte(now);
    }
    app.metrics
        .upstream_first_byte
        .observe(first_byte.as_secs_f64());
    ctx.latency().upstream_first_byte = first_byte.as_secs_f64() * 1000.0;

    // relay (record happens when the body ends)
    let (mut head, incoming) = upstream_response.into_parts();
    ctx.event.upstream_status = u32::from(head.status.as_u16());
    if let Some(id) = head.headers.get("request-id").and_then(|v| v.to_str().ok()) {
        ctx.event.upstream_request_id = id.to_owned();
    }
    clean_response_headers(&mut head.headers);
    let content_type = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let scan_output =
        route == Route::Messages && head.status.is_success() && policy.scans(Direction::Output);
    let is_json = content_type
        .as_deref()
        .is_some_and(|ct| ct.starts_with("application/json"));
    if scan_output && is_json {
        return relay_scanned_json(&app, ctx, &policy, head, incoming).await;
    }
    add_risk_headers(&mut head.headers, &ctx);
    ctx.record_head(head.status.as_u16());
    let output_policy = scan_output.then(|| policy.clone());
    if output_policy.is_some() {
        // The relayed stream may end early with an error event: its length is not upstream's.
        head.headers.remove(header::CONTENT_LENGTH);
    }
    let body = RelayBody::new(
        incoming,
        content_type.as_deref(),
        ctx,
        app.limits.stream_idle_timeout,
        output_policy,
    );
    Response::from_parts(head, Body::new(body))
}

/// Records the upstream phase as failed (a client span with an error).
fn upstream_failed(ctx: &mut RequestContext, forwarded: Instant, error: String) {
    let span = ctx.phase_span(
        "upstream",
        None,
        glitch_process::telemetry::SpanKind::Client,
        forwarded,
        Instant::now(),
        Vec::new,
    );
    ctx.phase_error(span, error);
}

/// Largest whole (non-streaming) response buffered for output scanning.
const MAX_SCANNED_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// A whole JSON response with output scanning: read it, scan it, then either relay it as it
/// was or refuse it with the 403.
async fn relay_scanned_json(
    app: &AppState,
    mut ctx: RequestContext,
    policy: &glitch_detect::CompiledPolicy,
    mut head: http::response::Parts,
    incoming: hyper::body::Incoming,
) -> Response<Body> {
    let read = tokio::time::timeout(
        app.limits.upstream_timeout,
        Limited::new(incoming, MAX_SCANNED_RESPONSE_BYTES).collect(),
    )
    .await;
    let bytes = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) => {
            ctx.decision = Decision::Error;
            ctx.event.error = format!("cannot read the upstream response for output scanning: {e}");
            return own_error(
                &mut ctx,
                SensorError::upstream_unreachable(format!("response could not be read: {e}")),
                true,
            );
        }
        Err(_) => {
            ctx.decision = Decision::Error;
            ctx.event.error = "upstream response body timeout".into();
            return own_error(
                &mut ctx,
                SensorError::upstream_timeout(app.limits.upstream_timeout.as_secs()),
                true,
            );
        }
    };
    ctx.event.response_bytes = bytes.len() as u64;
    crate::relay::apply_json_response(&mut ctx, &bytes);
    let started = Instant::now();
    let segments = glitch_detect::stream::response_segments(&bytes);
    let report = policy.scan(Direction::Output, &segments);
    ctx.latency().detection += started.elapsed().as_secs_f64() * 1000.0;
    ctx.add_findings(&report);
    if report.blocked() {
        ctx.decision = Decision::Blocked;
        ctx.event.completion = "blocked_output".into();
        let categories = report.categories();
        return own_error(&mut ctx, SensorError::blocked(&categories), true);
    }
    if !report.findings.is_empty() && ctx.decision == Decision::Allowed {
        ctx.decision = Decision::Flagged;
    }
    add_risk_headers(&mut head.headers, &ctx);
    ctx.record_head(head.status.as_u16());
    ctx.finish("complete");
    Response::from_parts(head, Body::from(bytes))
}

/// The sensor answers by itself: record the event now and build the error response.
fn own_error(ctx: &mut RequestContext, error: SensorError, authenticated: bool) -> Response<Body> {
    let request_id = request_id_for(ctx.event_id());
    let mut response = error.into_response(&request_id);
    if authenticated {
        add_risk_headers(response.headers_mut(), ctx);
    } else if let Ok(v) = HeaderValue::from_str(ctx.event_id()) {
        // Unauthenticated callers learn nothing about the policy, but get the id of the
        // event that records their request (to quote to an admin).
        response.headers_mut().insert(EVENT_ID, v);
    }
    ctx.record_head(response.status().as_u16());
    ctx.finish("");
    response
}

/// Bodies larger than this are parsed and scanned with `block_in_place`, so one huge request
/// does not hold up the other tasks of its worker thread.
const HEAVY_BODY_BYTES: usize = 512 * 1024;

fn off_the_reactor<T>(len: usize, work: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if len > HEAVY_BODY_BYTES && multi_thread {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

/// True for paths with no empty, `.` or `..` segments and no percent-encoding: such paths could
/// be classified one way here and normalised into another route upstream.
fn is_canonical_path(path: &str) -> bool {
    !path.contains('%')
        && !path.contains("//")
        && !path.split('/').any(|seg| seg == "." || seg == "..")
}

fn add_risk_headers(headers: &mut HeaderMap, ctx: &RequestContext) {
    let (blocked, categories, confidence) = match &ctx.event.risk {
        Some(risk) => (risk.blocked, risk.categories.join(","), risk.confidence),
        None => (false, String::new(), 0.0),
    };
    headers.insert(
        RISK_BLOCKED,
        HeaderValue::from_static(if blocked { "true" } else { "false" }),
    );
    headers.insert(
        RISK_CATEGORIES,
        HeaderValue::from_str(&categories).unwrap_or_else(|_| HeaderValue::from_static("")),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("{confidence:.2}")) {
        headers.insert(RISK_CONFIDENCE, v);
    }
    if let Ok(v) = HeaderValue::from_str(ctx.event_id()) {
        headers.insert(EVENT_ID, v);
    }
}

async fn read_body(
    app: &AppState,
    body: Body,
    declared: Option<u64>,
) -> Result<Bytes, SensorError> {
    let limit = app.limits.max_body_bytes;
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(SensorError::too_large(limit));
    }
    let collect = Limited::new(body, limit).collect();
    match tokio::time::timeout(app.limits.body_read_timeout, collect).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(SensorError::too_large(limit))
        }
        Ok(Err(e)) => Err(SensorError::invalid(format!(
            "cannot read the request body: {e}"
        ))),
        Err(_) => Err(SensorError::invalid(format!(
            "timed out reading the request body after {} s",
            app.limits.body_read_timeout.as_secs()
        ))),
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DetectRequest {
    content: String,
    #[serde(default)]
    direction: Option<String>,
}

#[derive(Serialize)]
struct DetectCategory {
    #[serde(rename = "type")]
    detector_type: String,
    confidence: f32,
    action: &'static str,
}

#[derive(Serialize)]
struct DetectResponse {
    blocked: bool,
    categories: Vec<DetectCategory>,
}

/// `POST /v1/detect`: the project's policy on one text, no upstream. Classifiers run too and are
/// waited for within the policy's budget (also in `llm_mode: async`: the caller asked for a
/// verdict).
async fn detect_only(
    ctx: &mut RequestContext,
    app: &AppState,
    project: &ProjectConfig,
    body: &[u8],
) -> Response<Body> {
    let request: DetectRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            ctx.decision = Decision::Error;
            ctx.event.error = format!("bad /v1/detect body: {e}");
            return own_error(
                ctx,
                SensorError::invalid(format!(
                    "body must be {{\"content\": \"...\", \"direction\": \"input\"|\"output\"}}: {e}"
                )),
                true,
            );
        }
    };
    let direction = match request.direction.as_deref() {
        None | Some("input") => Direction::Input,
        Some("output") => Direction::Output,
        Some(other) => {
            ctx.decision = Decision::Error;
            return own_error(
                ctx,
                SensorError::invalid(format!(
                    "direction must be \"input\" or \"output\", got {other:?}"
                )),
                true,
            );
        }
    };
    let started = Instant::now();
    let segments = [TextSegment {
        location: Location::new(Part::DetectContent),
        text: std::borrow::Cow::Borrowed(request.content.as_str()),
    }];
    let llm = if direction == Direction::Input {
        LlmStage::start(&app.classifiers, &project.policy, &segments)
    } else {
        None
    };
    let mut report = project.policy.scan(direction, &segments);
    if let Some(stage) = llm {
        if report.blocked() {
            stage.cancel(ctx);
        } else if let Some(status) = stage
            .wait(ctx, &project.policy, &segments, &mut report)
            .await
        {
            ctx.latency().detection = started.elapsed().as_secs_f64() * 1000.0;
            ctx.add_findings(&report);
            ctx.decision = Decision::Blocked;
            ctx.event.risk.get_or_insert_with(Default::default).blocked = true;
            return own_error(ctx, SensorError::classifier_failed_closed(status), true);
        }
    }
    ctx.latency().detection = started.elapsed().as_secs_f64() * 1000.0;
    ctx.add_findings(&report);
    ctx.decision = if report.blocked() {
        Decision::Blocked
    } else if report.findings.is_empty() {
        Decision::Allowed
    } else {
        Decision::Flagged
    };
    let answer = DetectResponse {
        blocked: report.blocked(),
        categories: report
            .by_category()
            .into_iter()
            .map(|(t, confidence, action)| DetectCategory {
                detector_type: t.to_string(),
                confidence,
                action: action.as_str(),
            })
            .collect(),
    };
    let mut response = Response::new(Body::from(serde_json::to_vec(&answer).unwrap_or_default()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    add_risk_headers(response.headers_mut(), ctx);
    ctx.record_head(StatusCode::OK.as_u16());
    ctx.finish("");
    response
}
