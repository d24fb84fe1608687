//! Route handlers of the audit API (contract §7) and the JSON they return. Lists answer
//! `{"count", "results", "next_cursor"}`; events in lists are summaries (no `conversation`),
//! `GET /v1/events/{id}` is the whole event.
//!
//! Project-scoped tokens: lists are limited to the token's project; asking for another
//! `project_id` explicitly is a 403; an event or session of another project is a 404 (as if it
//! did not exist).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use glitch_proto::events::v1::SecurityEvent;
use http::{StatusCode, header};
use prost::Message;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::params::{self, Params};
use crate::auth::Scope;
use crate::body::decode_body;
use crate::event_json::{event_json, event_summary_json};
use crate::index::{EventCursor, EventFilter, SessionCursor, SessionFilter, StoredEvent};
use crate::record::indexed_text;
use crate::time::rfc3339_ms;

type ApiResult = Result<Response, ApiError>;
type RawQuery = Result<Query<Vec<(String, String)>>, QueryRejection>;

fn params(query: RawQuery, allowed: &[&str]) -> Result<Params, ApiError> {
    let Query(pairs) =
        query.map_err(|e| ApiError::bad_request(format!("cannot read the query string: {e}")))?;
    Params::parse(pairs, allowed)
}

fn list(results: Vec<Value>, next_cursor: Option<String>) -> Response {
    Json(json!({
        "count": results.len(),
        "results": results,
        "next_cursor": next_cursor,
    }))
    .into_response()
}

/// The project a list is limited to: the token's own, or the one asked for (admin).
fn scoped_project(scope: &Scope, requested: Option<String>) -> Result<Option<String>, ApiError> {
    match scope {
        Scope::Admin => Ok(requested),
        Scope::Project(own) => {
            let own = indexed_text(own);
            match requested {
                Some(r) if r != own => Err(ApiError::forbidden(format!(
                    "this token can only read project {own:?}"
                ))),
                _ => Ok(Some(own)),
            }
        }
    }
}

fn decode(stored: &StoredEvent) -> Result<SecurityEvent, ApiError> {
    let bytes = decode_body(&stored.body)
        .map_err(|e| ApiError::internal(&format!("stored event {:?}: {e}", stored.event_id)))?;
    SecurityEvent::decode(bytes.as_ref()).map_err(|e| {
        ApiError::internal(&format!(
            "stored event {:?} does not decode: {e}",
            stored.event_id
        ))
    })
}

/// Up to `limit` events as summaries, and the cursor after them when there may be more
/// (`rows` holds one row beyond `limit` in that case).
fn event_page(
    mut rows: Vec<StoredEvent>,
    limit: usize,
    tag: &str,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|last| {
            params::event_cursor(
                tag,
                &EventCursor {
                    time_ms: last.time_ms,
                    event_id: last.event_id.clone(),
                },
            )
        })
    } else {
        None
    };
    let results = rows
        .iter()
        .map(|r| decode(r).map(|e| event_summary_json(&e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((results, next))
}

/// `GET /v1/events`.
pub async fn list_events(
    State(state): State<Arc<AppState>>,
    Extension(scope): Extension<Scope>,
    query: RawQuery,
) -> ApiResult {
    let p = params(
        query,
        &[
            "path",
            "session_id",
            "project_id",
            "detector_type",
            "decision",
            "status",
            "since",
            "until",
            "limit",
            "cursor",
        ],
    )?;
    let (since, until) = p.window()?;
    let filter = EventFilter {
        project_id: scoped_project(&scope, p.text("project_id"))?,
        session_id: p.text("session_id"),
        path: p.text("path"),
        detector_type: p.text("detector_type"),
        decision: p.text("decision"),
        status: p.status("status")?,
        since,
        until,
    };
    let limit = p.limit()?;
    let after = params::parse_event_cursor(p.cursor(params::EVENTS)?)?;
    let rows = state
        .index
        .list_events(&filter, after.as_ref(), limit + 1)
        .await?;
    let (results, next) = event_page(rows, limit, params::EVENTS)?;
    Ok(list(results, next))
}

/// `GET /v1/events/{event_id}`.
pub async fn get_event(
    State(state): State<Arc<AppState>>,
    Extension(scope): Extension<Scope>,
    Path(event_id): Path<String>,
) -> ApiResult {
    let project = scoped_project(&scope, None)?;
    let stored = state
        .index
        .get_event(&event_id, project.as_deref())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("event {event_id:?} not found")))?;
    Ok(Json(event_json(&decode(&stored)?)).into_response())
}

/// `GET /v1/sessions/{session_id}/events`: oldest first. 404 when the session has no event
/// the caller may see.
pub async fn session_events(
    State(state): State<Arc<AppState>>,
    Extension(scope): Extension<Scope>,
    Path(session_id): Path<String>,
    query: RawQuery,
) -> ApiResult {
    let p = params(query, &["project_id", "limit", "cursor"])?;
    let project = scoped_project(&scope, p.text("project_id"))?;
    let limit = p.limit()?;
    let after = params::parse_event_cursor(p.cursor(params::SESSION_EVENTS)?)?;
    let session = indexed_text(&session_id);
    let rows = state
        .index
        .session_events(&session, project.as_deref(), after.as_ref(), limit + 1)
        .await?;
    if rows.is_empty() && after.is_none() {
        return Err(ApiError::not_found(format!(
            "session {session_id:?} not found"
        )));
    }
    let (results, next) = event_page(rows, limit, params::SESSION_EVENTS)?;
    Ok(list(results, next))
}

/// `GET /v1/sessions`.
pub async fn list_sessions(
    State(state): State<Arc<AppState>>,
    Extension(scope): Extension<Scope>,
    query: RawQuery,
) -> ApiResult {
    let p = params(
        query,
        &["project_id", "since", "until", "blocked", "limit", "cursor"],
    )?;
    let (since, until) = p.window()?;
    let filter = SessionFilter {
        project_id: scoped_project(&scope, p.text("project_id"))?,
        since,
        until,
        blocked: p.boolean("blocked")?,
    };
    let limit = p.limit()?;
    let after = params::parse_session_cursor(p.cursor(params::SESSIONS)?)?;
    let mut rows = state
        .index
        .list_sessions(&filter, after.as_ref(), limit + 1)
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|s| {
            params::session_cursor(&SessionCursor {
                last_seen: s.last_seen,
                project_id: s.project_id.clone(),
                session_id: s.session_id.clone(),
            })
        })
    } else {
        None
    };
    let results = rows
        .iter()
        .map(|s| {
            json!({
                "session_id": s.session_id,
                "project_id": s.project_id,
                "first_seen": rfc3339_ms(s.first_seen),
                "last_seen": rfc3339_ms(s.last_seen),
                "requests": s.requests,
                "blocked": s.blocked,
                "models": s.models,
                "input_tokens": s.input_tokens,
                "output_tokens": s.output_tokens,
            })
        })
        .collect();
    Ok(list(results, next))
}

/// `GET /v1/dead-letters` (admin token only): records that could not be indexed, newest first.
pub async fn list_dead_letters(
    State(state): State<Arc<AppState>>,
    Extension(scope): Extension<Scope>,
    query: RawQuery,
) -> ApiResult {
    if scope != Scope::Admin {
        return Err(ApiError::forbidden(
            "dead letters can only be read with the admin token",
        ));
    }
    let p = params(query, &["limit", "cursor"])?;
    let limit = p.limit()?;
    let before = params::parse_dead_letter_cursor(p.cursor(params::DEAD_LETTERS)?)?;
    let mut rows = state.index.list_dead_letters(before, limit + 1).await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|d| params::dead_letter_cursor(d.id))
    } else {
        None
    };
    let results = rows
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "source": d.source,
                "partition": d.partition,
                "position": d.position,
                "key": d.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()),
                "raw_base64": STANDARD.encode(&d.raw),
                "raw_bytes": d.raw_len,
                "raw_truncated": i64::try_from(d.raw.len()).unwrap_or(i64::MAX) < d.raw_len,
                "error": d.error,
                "received_at": rfc3339_ms(d.received_ms),
            })
        })
        .collect();
    Ok(list(results, next))
}

/// `GET /health` (no auth): 200 `healthy` (or `degraded` while the source reports a problem),
/// 503 `unhealthy` when the index does not answer.
pub async fn health(State(state): State<Arc<AppState>>) -> Response {
    let source = state.status.view();
    let index_ok = match state.index.ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "health check: index unreachable");
            false
        }
    };
    let status = if !index_ok {
        "unhealthy"
    } else if source.problem.is_some() {
        "degraded"
    } else {
        "healthy"
    };
    let m = &state.metrics;
    let body = json!({
        "status": status,
        "index": state.index.backend().as_str(),
        "source": state.source_label,
        "position": source.position,
        "lag": source.lag,
        "problem": source.problem,
        "events_indexed": m.events_indexed.get(),
        "duplicates_skipped": m.duplicates_skipped.get(),
        "dead_letters": m.dead_letters.get(),
        "batches": m.batches.get(),
    });
    let code = if index_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// `GET /metrics` (no auth): Prometheus / OpenMetrics text.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}
