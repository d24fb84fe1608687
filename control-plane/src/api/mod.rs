//! The REST API (contract §4): routes, the admin-token check, and the JSON 404/405 answers.
//! Handlers live in [`handlers`], request-body parsing in [`body`], error responses in
//! [`error`] and the OpenAPI document in [`openapi`].
//!
//! Every route except `GET /health` and `GET /openapi.json` needs
//! `Authorization: Bearer $GLITCH_ADMIN_TOKEN`; the token is compared in constant time (as
//! SHA-256 digests, so its length is not revealed either). Unknown paths answer 401 without a
//! valid token, so the API cannot be mapped without one.

pub mod body;
pub mod error;
pub mod handlers;
pub mod openapi;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use glitch_detect::DetectorPack;
use http::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::hub::ConfigHub;
use crate::store::Store;
use error::ApiError;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// What every handler shares.
pub struct AppState {
    /// The database.
    pub store: Store,
    /// This replica's snapshot publisher.
    pub hub: Arc<ConfigHub>,
    /// SHA-256 of the admin token.
    token_sha256: [u8; 32],
    /// Whether the test-only fault-injection route is served.
    pub fault_injection: bool,
    /// The built-in detectors, to compile (and so fully check) every policy before it is stored.
    pub pack: DetectorPack,
    /// The OpenAPI document served at `/openapi.json`.
    pub openapi: Value,
    /// This replica's id.
    pub replica_id: Arc<str>,
    /// This replica's Prometheus metrics.
    pub metrics: Arc<crate::metrics::ControlPlaneMetrics>,
    /// Where request traces go (disabled unless `OTEL_EXPORTER_OTLP_*` is set).
    pub tracer: glitch_process::telemetry::Tracer,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("backend", &self.store.backend())
            .field("fault_injection", &self.fault_injection)
            .field("replica_id", &self.replica_id)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of one replica's API.
    pub fn new(
        store: Store,
        hub: Arc<ConfigHub>,
        admin_token: &str,
        fault_injection: bool,
        replica_id: Arc<str>,
        metrics: Arc<crate::metrics::ControlPlaneMetrics>,
    ) -> Self {
        AppState {
            store,
            hub,
            token_sha256: Sha256::digest(admin_token.as_bytes()).into(),
            fault_injection,
            pack: glitch_detect::builtin::builtin_pack(),
            openapi: openapi::document(fault_injection),
            replica_id,
            metrics,
            tracer: glitch_process::telemetry::Tracer::disabled(),
        }
    }

    /// True when `token` is the admin token (constant time).
    fn token_matches(&self, token: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        bool::from(digest.ct_eq(&self.token_sha256))
    }
}

/// The routes of one API router, recorded as they are added so the OpenAPI document can be
/// checked against exactly what is served.
struct Routes {
    router: Router<Arc<AppState>>,
    served: Vec<(&'static str, Method)>,
}

impl Routes {
    fn new() -> Self {
        Routes {
            router: Router::new(),
            served: Vec::new(),
        }
    }

    fn add<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        let filter = match method {
            Method::GET => MethodFilter::GET,
            Method::POST => MethodFilter::POST,
            Method::PUT => MethodFilter::PUT,
            Method::PATCH => MethodFilter::PATCH,
            _ => MethodFilter::DELETE,
        };
        self.router = self.router.route(path, on(filter, handler));
        self.served.push((path, method));
        self
    }
}

/// The routes that need the admin token.
fn protected_routes(fault_injection: bool) -> Routes {
    use handlers::*;
    let routes = Routes::new()
        .add(Method::POST, "/v1/projects", create_project)
        .add(Method::GET, "/v1/projects", list_projects)
        .add(Method::GET, "/v1/projects/{id}", get_project)
        .add(Method::PATCH, "/v1/projects/{id}", update_project)
        .add(Method::DELETE, "/v1/projects/{id}", delete_project)
        .add(Method::POST, "/v1/projects/{id}/keys", create_key)
        .add(Method::GET, "/v1/projects/{id}/keys", list_keys)
        .add(Method::DELETE, "/v1/keys/{id}", revoke_key)
        .add(Method::GET, "/v1/policies", list_policies)
        .add(Method::POST, "/v1/policies", create_policy)
        .add(Method::GET, "/v1/policies/", list_policies)
        .add(Method::POST, "/v1/policies/", create_policy)
        .add(Method::GET, "/v1/policies/{id}", get_policy)
        .add(Method::PUT, "/v1/policies/{id}", update_policy)
        .add(Method::DELETE, "/v1/policies/{id}", delete_policy)
        .add(Method::GET, "/v1/policies/{id}/versions", policy_versions)
        .add(Method::GET, "/v1/policy-templates", list_templates)
        .add(Method::GET, "/v1/sensors", list_sensors)
        .add(Method::GET, "/v1/config/version", config_version);
    if fault_injection {
        routes.add(
            Method::POST,
            "/v1/_test/push-invalid-policy",
            push_invalid_policy,
        )
    } else {
        routes
    }
}

/// The routes anyone may call.
fn public_routes() -> Routes {
    Routes::new()
        .add(Method::GET, "/health", handlers::health)
        .add(Method::GET, "/openapi.json", handlers::openapi_document)
        .add(Method::GET, "/metrics", handlers::metrics)
}

/// Every (path, method) the API serves, in registration order.
pub fn served_routes(fault_injection: bool) -> Vec<(&'static str, Method)> {
    let mut all = public_routes().served;
    all.extend(protected_routes(fault_injection).served);
    all
}

/// The REST API router.
pub fn router(state: Arc<AppState>) -> Router {
    let protected = protected_routes(state.fault_injection)
        .router
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), require_admin));
    public_routes()
        .router
        .method_not_allowed_fallback(method_not_allowed)
        .merge(protected)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), count_request))
        .with_state(state)
}

/// Counts every REST request by method and status class, times it, and (when traces are
/// exported) records it as a server span continuing the caller's `traceparent`.
async fn count_request(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().as_str().to_owned();
    let trace = glitch_process::telemetry::HttpTrace::start_request(&state.tracer, &request);
    let response = next.run(request).await;
    if let Some(trace) = trace {
        trace.finish(
            &state.tracer,
            response.status().as_u16(),
            vec![("glitch.replica_id", state.replica_id.to_string().into())],
        );
    }
    state
        .metrics
        .http_requests
        .get_or_create(&crate::metrics::HttpLabels {
            method,
            status: crate::metrics::status_class(response.status().as_u16()),
        })
        .inc();
    state
        .metrics
        .http_request_duration
        .observe(started.elapsed().as_secs_f64());
    response
}

/// `Authorization: Bearer <admin token>`, or a 401.
async fn require_admin(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = glitch_process::bearer_token(request.headers());
    match presented {
        Some(token) if state.token_matches(token) => next.run(request).await,
        Some(_) => ApiError::unauthorized("invalid admin token").into_response(),
        None => ApiError::unauthorized(
            "missing admin token: send Authorization: Bearer $GLITCH_ADMIN_TOKEN",
        )
        .into_response(),
    }
}

async fn not_found(request: Request) -> Response {
    ApiError::not_found(format!(
        "no route for {} {} (see /openapi.json)",
        request.method(),
        request.uri().path()
    ))
    .into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    ApiError::method_not_allowed(format!(
        "{} is not allowed on {} (see /openapi.json)",
        request.method(),
        request.uri().path()
    ))
    .into_response()
}
