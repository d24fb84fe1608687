//! The audit query API (contract §7): routes, the bearer-token check, and the JSON 404/405
//! answers. Handlers live in [`handlers`], query parameters and cursors in [`params`], error
//! responses in [`error`].
//!
//! Every route except `GET /health` and `GET /metrics` needs `Authorization: Bearer <token>`:
//! the admin token (everything) or a project token (its project only; see [`crate::auth`]).
//! Unknown paths answer 401 without a valid token, so the API cannot be mapped without one.

pub mod error;
pub mod handlers;
pub mod params;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::auth::TokenSet;
use crate::index::Index;
use crate::metrics::Metrics;
use crate::source::SourceStatus;
use error::ApiError;

/// What every handler shares.
pub struct AppState {
    /// The index.
    pub index: Index,
    /// Accepted tokens.
    pub tokens: TokenSet,
    /// Metrics (also shown in `/health`).
    pub metrics: Arc<Metrics>,
    /// The source's status.
    pub status: Arc<SourceStatus>,
    /// The source as `/health` shows it.
    pub source_label: String,
    /// Where request traces go (disabled unless `OTEL_EXPORTER_OTLP_*` is set).
    pub tracer: glitch_process::telemetry::Tracer,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("index", &self.index.backend())
            .field("source", &self.source_label)
            .finish_non_exhaustive()
    }
}

/// The API router.
pub fn router(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .route("/v1/sessions", get(handlers::list_sessions))
        .route(
            "/v1/sessions/{session_id}/events",
            get(handlers::session_events),
        )
        .route("/v1/events", get(handlers::list_events))
        .route("/v1/events/{event_id}", get(handlers::get_event))
        .route("/v1/dead-letters", get(handlers::list_dead_letters))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/health", get(handlers::health))
        .route("/metrics", get(handlers::metrics))
        .method_not_allowed_fallback(method_not_allowed)
        .merge(protected)
        .layer(middleware::from_fn_with_state(state.clone(), trace_request))
        .with_state(state)
}

/// Records each API request as a server span when traces are exported.
async fn trace_request(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let trace = glitch_process::telemetry::HttpTrace::start_request(&state.tracer, &request);
    let response = next.run(request).await;
    if let Some(trace) = trace {
        trace.finish(&state.tracer, response.status().as_u16(), Vec::new());
    }
    response
}

/// `Authorization: Bearer <token>` → the caller's [`crate::auth::Scope`] in the request's
/// extensions, or a 401.
async fn require_token(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = glitch_process::bearer_token(request.headers());
    match presented.map(|token| state.tokens.scope_of(token)) {
        Some(Some(scope)) => {
            request.extensions_mut().insert(scope);
            next.run(request).await
        }
        Some(None) => ApiError::unauthorized("invalid token").into_response(),
        None => ApiError::unauthorized(
            "missing token: send Authorization: Bearer $GLITCH_ADMIN_TOKEN (or a project token)",
        )
        .into_response(),
    }
}

async fn not_found(request: Request) -> Response {
    ApiError::not_found(format!(
        "no route for {} {}",
        request.method(),
        request.uri().path()
    ))
    .into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    ApiError::method_not_allowed(format!(
        "{} is not allowed on {}",
        request.method(),
        request.uri().path()
    ))
    .into_response()
}
