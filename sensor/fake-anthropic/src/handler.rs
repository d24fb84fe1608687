//! Request handling: recording, routing, scenario selection and the answer of
//! each endpoint, with the headers Anthropic puts on every response.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;

use crate::SCENARIO_HEADER;
use crate::body::{Aborted, End, ResponseBody, Scripted};
use crate::errors::ApiError;
use crate::ids;
use crate::request::{MessagesRequest, estimate_tokens, reply_for};
use crate::scenario::Scenario;
use crate::server::{RecordedRequest, Shared};
use crate::sse::{Answer, Cut};
use crate::wire::{self, CountTokens, MessageBatch, ModelList, RequestCounts, to_bytes};

/// How long `stall` waits before giving up (if nobody cancels it first).
const STALL: Duration = Duration::from_secs(3600);

/// The bytes a non-streaming `drop` sends before aborting.
const DROP_PREFIX: &[u8] = br#"{"id":"msg_011CF","type":"message","#;
const DROP_CONTENT_LENGTH: &str = "1000";

struct Model {
    id: &'static str,
    alias: &'static str,
    display_name: &'static str,
    created_at: &'static str,
}

const MODELS: [Model; 3] = [
    Model {
        id: "claude-haiku-4-5-20251001",
        alias: "claude-haiku-4-5",
        display_name: "Claude Haiku 4.5",
        created_at: "2025-10-15T00:00:00Z",
    },
    Model {
        id: "claude-sonnet-4-5-20250929",
        alias: "claude-sonnet-4-5",
        display_name: "Claude Sonnet 4.5",
        created_at: "2025-09-29T00:00:00Z",
    },
    Model {
        id: "claude-opus-4-1-20250805",
        alias: "claude-opus-4-1",
        display_name: "Claude Opus 4.1",
        created_at: "2025-08-05T00:00:00Z",
    },
];

/// What the router decided, before the common headers go on.
enum Reply {
    Json(StatusCode, Bytes),
    Error(ApiError),
    Stream(ResponseBody),
    /// A 200 whose body is cut short after announcing a longer one.
    Truncated,
    Empty(StatusCode),
    Text(&'static str),
    /// No answer at all: the service fails, so hyper drops the connection
    /// (HTTP/1) or resets the stream (HTTP/2).
    Abort,
}

/// Answers one request; `Err` makes hyper abort it without an answer.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Aborted> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            tracing::debug!(%error, "reading the request body failed");
            let request_id = ids::request_id();
            let error = ApiError::invalid_request("could not read the request body");
            return Ok(finish(Reply::Error(error), &request_id));
        }
    };
    let header_scenario = parts
        .headers
        .get(SCENARIO_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(Scenario::parse);
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let path = parts.uri.path();
    let method = parts.method;
    shared.record(RecordedRequest {
        version: parts.version,
        method: method.as_str().to_owned(),
        path_and_query,
        headers: parts.headers,
        body: if shared.options.record_bodies {
            body.clone()
        } else {
            Bytes::new()
        },
    });
    let request_id = ids::request_id();

    let reply = match (&method, path) {
        (&Method::HEAD, "/" | "/api/hello") => Reply::Empty(StatusCode::OK),
        (&Method::GET, "/" | "/api/hello") => Reply::Text("glitch fake anthropic\n"),
        (&Method::POST, "/v1/messages") => messages(&shared, &body, header_scenario).await,
        (_, p) if p.starts_with("/v1/") && header_scenario.is_some() => {
            match misbehave(&shared, header_scenario).await {
                Some(reply) => reply,
                None => route_v1(&method, p, &body),
            }
        }
        (_, p) => route_v1(&method, p, &body),
    };
    if matches!(reply, Reply::Abort) {
        return Err(Aborted);
    }
    Ok(finish(reply, &request_id))
}

fn route_v1(method: &Method, path: &str, body: &Bytes) -> Reply {
    match (method, path) {
        (&Method::POST, "/v1/messages/count_tokens") => count_tokens(body),
        (&Method::POST, "/v1/messages/batches") => create_batch(body),
        (&Method::GET, "/v1/models") => list_models(),
        (&Method::GET, p) if p.starts_with("/v1/models/") => get_model(&p["/v1/models/".len()..]),
        (_, p) => Reply::Error(ApiError::not_found(format!("Not found: {p}"))),
    }
}

/// The scenarios that apply to any `/v1/` endpoint (errors, stalls, drops);
/// `None` when the endpoint should answer normally.
async fn misbehave(shared: &Shared, scenario: Option<Scenario>) -> Option<Reply> {
    match scenario? {
        Scenario::Error(status) => Some(Reply::Error(ApiError::for_status(status))),
        Scenario::Stall | Scenario::StallStream => Some(stall(shared).await),
        Scenario::Drop => Some(Reply::Truncated),
        _ => None,
    }
}

/// Waits for an hour (or until the client goes away, which drops this
/// future); then answers `overloaded_error`. On shutdown, the request fails
/// without an answer.
async fn stall(shared: &Shared) -> Reply {
    tokio::select! {
        () = tokio::time::sleep(STALL) => Reply::Error(ApiError::overloaded()),
        () = shared.shutdown_signal() => Reply::Abort,
    }
}

async fn messages(shared: &Shared, body: &Bytes, header_scenario: Option<Scenario>) -> Reply {
    // Like the real API (auth and rate limits come before validation), a
    // header-chosen error or stall doesn't depend on the body.
    match header_scenario {
        Some(Scenario::Error(status)) => return Reply::Error(ApiError::for_status(status)),
        Some(Scenario::Stall) => return stall(shared).await,
        _ => {}
    }
    let request: MessagesRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(error) => {
            return Reply::Error(ApiError::invalid_request(format!(
                "There was an error parsing the body of your request: {error}"
            )));
        }
    };
    let prompt = request.last_user_text();
    let scenario = header_scenario
        .or_else(|| Scenario::from_marker(&prompt))
        .unwrap_or(Scenario::Normal);
    let stream = request.is_stream();
    let model = request.model();
    let input_tokens = estimate_tokens(body.len());

    let answer = match scenario {
        Scenario::Error(status) => return Reply::Error(ApiError::for_status(status)),
        Scenario::Stall => return stall(shared).await,
        Scenario::StallStream if !stream => return stall(shared).await,
        Scenario::MidstreamError if !stream => return Reply::Error(ApiError::overloaded()),
        Scenario::Drop if !stream => return Reply::Truncated,
        Scenario::Thinking => Answer::thinking(model, input_tokens, &reply_for(&prompt)),
        Scenario::ToolUse => Answer::tool_use(model, input_tokens),
        Scenario::BigStream(words) => Answer::big(model, input_tokens, words),
        _ => Answer::text(model, input_tokens, &reply_for(&prompt)),
    };
    if !stream {
        return Reply::Json(StatusCode::OK, answer.message_json());
    }
    let delay = match scenario {
        Scenario::SlowStream(delay) => delay,
        _ => shared.options.stream_event_delay,
    };
    let (cut, end) = match scenario {
        Scenario::MidstreamError => (Cut::MidstreamError, End::Finish),
        Scenario::Drop => (Cut::AfterStart, End::Abort),
        Scenario::StallStream => (Cut::AfterStart, End::Hang(shared.shutdown_signal())),
        _ => (Cut::Whole, End::Finish),
    };
    let frames = answer.stream_frames(cut);
    let counters = Some(Arc::clone(&shared.counters));
    Reply::Stream(Scripted::new(frames, delay, end, counters).into_body())
}

fn count_tokens(body: &Bytes) -> Reply {
    if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        return Reply::Error(ApiError::invalid_request(format!(
            "There was an error parsing the body of your request: {error}"
        )));
    }
    let count = CountTokens {
        input_tokens: estimate_tokens(body.len()),
    };
    Reply::Json(StatusCode::OK, to_bytes(&count))
}

fn create_batch(body: &Bytes) -> Reply {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => {
            return Reply::Error(ApiError::invalid_request(format!(
                "There was an error parsing the body of your request: {error}"
            )));
        }
    };
    let Some(requests) = value.get("requests").and_then(Value::as_array) else {
        return Reply::Error(ApiError::invalid_request("requests: Field required"));
    };
    let batch = MessageBatch {
        id: ids::batch_id(),
        kind: "message_batch",
        processing_status: "in_progress",
        request_counts: RequestCounts {
            processing: requests.len(),
            succeeded: 0,
            errored: 0,
            canceled: 0,
            expired: 0,
        },
        ended_at: None,
        created_at: ids::rfc3339_in(Duration::ZERO),
        expires_at: ids::rfc3339_in(Duration::from_secs(24 * 3600)),
        archived_at: None,
        cancel_initiated_at: None,
        results_url: None,
    };
    Reply::Json(StatusCode::OK, to_bytes(&batch))
}

fn model_json(model: &Model) -> wire::Model<'_> {
    wire::Model {
        kind: "model",
        id: model.id,
        display_name: model.display_name,
        created_at: model.created_at,
    }
}

fn list_models() -> Reply {
    let list = ModelList {
        data: MODELS.iter().map(model_json).collect(),
        has_more: false,
        first_id: MODELS.first().map(|m| m.id),
        last_id: MODELS.last().map(|m| m.id),
    };
    Reply::Json(StatusCode::OK, to_bytes(&list))
}

fn get_model(id: &str) -> Reply {
    match MODELS.iter().find(|m| m.id == id || m.alias == id) {
        Some(model) => Reply::Json(StatusCode::OK, to_bytes(&model_json(model))),
        None => Reply::Error(ApiError::not_found(format!("model: {id}"))),
    }
}

fn json_response(status: StatusCode, body: Bytes) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Turns a [`Reply`] into a response with Anthropic's usual headers.
fn finish(reply: Reply, request_id: &str) -> Response<ResponseBody> {
    let mut response = match reply {
        Reply::Abort => Response::new(ResponseBody::empty()),
        Reply::Json(status, body) => json_response(status, body),
        Reply::Error(error) => {
            let mut response = json_response(error.status, error.body(request_id));
            for (name, value) in error.extra_headers() {
                response.headers_mut().insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
            }
            response
        }
        Reply::Stream(body) => {
            let mut response = Response::new(body);
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        Reply::Truncated => {
            let frames = Box::new(std::iter::once(Bytes::from_static(DROP_PREFIX)));
            let body = Scripted::new(frames, Duration::ZERO, End::Abort, None).into_body();
            let mut response = Response::new(body);
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.insert(
                CONTENT_LENGTH,
                HeaderValue::from_static(DROP_CONTENT_LENGTH),
            );
            response
        }
        Reply::Empty(status) => {
            let mut response = Response::new(ResponseBody::empty());
            *response.status_mut() = status;
            response
        }
        Reply::Text(text) => {
            let mut response =
                Response::new(ResponseBody::full(Bytes::from_static(text.as_bytes())));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
    };
    common_headers(response.headers_mut(), request_id);
    response
}

fn common_headers(headers: &mut http::HeaderMap, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(HeaderName::from_static("request-id"), value);
    }
    headers.insert(
        HeaderName::from_static("anthropic-ratelimit-requests-limit"),
        HeaderValue::from_static("1000"),
    );
    headers.insert(
        HeaderName::from_static("anthropic-ratelimit-requests-remaining"),
        HeaderValue::from_static("999"),
    );
    if let Ok(value) = HeaderValue::from_str(&ids::rfc3339_in(Duration::from_secs(60))) {
        headers.insert(
            HeaderName::from_static("anthropic-ratelimit-requests-reset"),
            value,
        );
    }
    headers.insert(
        HeaderName::from_static("anthropic-organization-id"),
        HeaderValue::from_static("fake-org"),
    );
}
