//! Route handlers and the JSON shapes they return. Every input is validated whole (ids, names,
//! and a policy with `Policy::validate` plus a full compile against the built-in detectors)
//! before anything is stored; storage errors become responses in [`super::error`].

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use glitch_detect::templates::{DEFAULT_TEMPLATE, all_templates, is_template_id, template};
use glitch_detect::{CompiledPolicy, Policy};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::body;
use super::error::ApiError;
use crate::hub::INJECTED_POLICY_ID;
use crate::ids::{check_id, check_name, new_id, new_key};
use crate::store::{KeyRecord, NewKeyRecord, PolicyRecord, ProjectRecord};
use crate::time::rfc3339_ms;

type ApiResult = Result<Response, ApiError>;
type Body = Result<Bytes, BytesRejection>;

/// Read-only fields of a policy as returned, ignored when a policy is sent back (so a GET
/// result can be edited and PUT as is). `version` is not among them: on PUT it is checked.
const POLICY_READ_ONLY_FIELDS: &[&str] =
    &["config_version", "created_at", "updated_at", "template"];

fn read_body(body: Body) -> Result<Bytes, ApiError> {
    body.map_err(|e| body::rejection(&e))
}

fn list(results: Vec<Value>) -> Value {
    json!({"count": results.len(), "results": results})
}

fn time_or_null(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |ms| Value::String(rfc3339_ms(ms)))
}

// ---- views ----------------------------------------------------------------------------------

fn project_view(p: &ProjectRecord) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "policy_id": p.policy_id,
        "created_at": rfc3339_ms(p.created_at),
        "updated_at": rfc3339_ms(p.updated_at),
    })
}

fn key_view(k: &KeyRecord) -> Value {
    json!({
        "id": k.id,
        "project_id": k.project_id,
        "name": k.name,
        "display_prefix": k.display_prefix,
        "created_at": rfc3339_ms(k.created_at),
        "revoked_at": time_or_null(k.revoked_at),
    })
}

fn policy_view(p: &PolicyRecord) -> Result<Value, ApiError> {
    let mut value: Value = serde_json::from_str(&p.json).map_err(|e| {
        ApiError::internal(&format!("stored policy {:?} is not valid JSON: {e}", p.id))
    })?;
    if let Value::Object(map) = &mut value {
        map.insert("version".into(), json!(p.version));
        map.insert("config_version".into(), json!(p.config_version));
        map.insert("created_at".into(), json!(rfc3339_ms(p.created_at)));
        map.insert("updated_at".into(), json!(rfc3339_ms(p.updated_at)));
        map.insert("template".into(), json!(false));
    }
    Ok(value)
}

fn template_view(policy: &Policy) -> Result<Value, ApiError> {
    let mut value = serde_json::to_value(policy).map_err(|e| ApiError::internal(&e))?;
    if let Value::Object(map) = &mut value {
        map.insert("template".into(), json!(true));
    }
    Ok(value)
}

fn template_or_404(id: &str) -> Result<Policy, ApiError> {
    match template(id) {
        Some(Ok(policy)) => Ok(policy),
        Some(Err(e)) => Err(ApiError::internal(&e)),
        None => Err(ApiError::not_found(format!("policy {id:?} not found"))),
    }
}

// ---- health and documents -------------------------------------------------------------------

/// `GET /metrics` (no auth): the replica's Prometheus metrics.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let version = state.hub.current().version;
    state
        .metrics
        .config_version
        .set(i64::try_from(version).unwrap_or(i64::MAX));
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// `GET /health` (no auth): 200 when the database answers, else 503.
pub async fn health(State(state): State<Arc<AppState>>) -> Response {
    let config_version = state.hub.current().version;
    match state.store.ping().await {
        Ok(()) => Json(json!({
            "status": "healthy",
            "database": state.store.backend().as_str(),
            "replica_id": &*state.replica_id,
            "config_version": config_version,
        }))
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unhealthy",
                    "database": state.store.backend().as_str(),
                    "replica_id": &*state.replica_id,
                    "config_version": config_version,
                    "error": "database unreachable",
                })),
            )
                .into_response()
        }
    }
}

/// `GET /openapi.json` (no auth).
pub async fn openapi_document(State(state): State<Arc<AppState>>) -> Response {
    Json(state.openapi.clone()).into_response()
}

/// `GET /v1/config/version`.
pub async fn config_version(State(state): State<Arc<AppState>>) -> ApiResult {
    let v = state.store.config_version().await?;
    Ok(Json(json!({"version": v.version, "changed_at": rfc3339_ms(v.changed_at)})).into_response())
}

// ---- projects -------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectCreate {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    policy_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectUpdate {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    policy_id: Option<String>,
}

fn check_policy_ref(policy_id: &str) -> Result<(), ApiError> {
    check_id(policy_id).map_err(|m| ApiError::invalid("policy_id", m))
}

/// `POST /v1/projects`: `{"name", "policy_id"?, "id"?}` → 201.
pub async fn create_project(State(state): State<Arc<AppState>>, body: Body) -> ApiResult {
    let input: ProjectCreate = body::parse(&read_body(body)?, false)?;
    let id = match input.id {
        Some(id) => {
            check_id(&id).map_err(|m| ApiError::invalid("id", m))?;
            id
        }
        None => new_id("proj_")?,
    };
    let name = input.name.unwrap_or_default();
    check_name(&name, true).map_err(|m| ApiError::invalid("name", m))?;
    let policy_id = input
        .policy_id
        .unwrap_or_else(|| DEFAULT_TEMPLATE.to_owned());
    check_policy_ref(&policy_id)?;
    let project = state.store.create_project(&id, &name, &policy_id).await?;
    tracing::info!(project_id = %project.id, policy_id = %project.policy_id, "project created");
    Ok((StatusCode::CREATED, Json(project_view(&project))).into_response())
}

/// `GET /v1/projects`.
pub async fn list_projects(State(state): State<Arc<AppState>>) -> ApiResult {
    let projects = state.store.list_projects().await?;
    Ok(Json(list(projects.iter().map(project_view).collect())).into_response())
}

/// `GET /v1/projects/{id}`.
pub async fn get_project(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    let project = state.store.get_project(&id).await?;
    Ok(Json(project_view(&project)).into_response())
}

/// `PATCH /v1/projects/{id}`: `{"name"?, "policy_id"?}`.
pub async fn update_project(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    let input: ProjectUpdate = body::parse(&read_body(body)?, false)?;
    if let Some(name) = &input.name {
        check_name(name, true).map_err(|m| ApiError::invalid("name", m))?;
    }
    if let Some(policy_id) = &input.policy_id {
        check_policy_ref(policy_id)?;
    }
    let project = state
        .store
        .update_project(&id, input.name.as_deref(), input.policy_id.as_deref())
        .await?;
    Ok(Json(project_view(&project)).into_response())
}

/// `DELETE /v1/projects/{id}`: the project and its keys.
pub async fn delete_project(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult {
    state.store.delete_project(&id).await?;
    tracing::info!(project_id = %id, "project deleted");
    Ok(Json(json!({"id": id, "deleted": true})).into_response())
}

// ---- keys -----------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyCreate {
    #[serde(default)]
    name: Option<String>,
}

/// `POST /v1/projects/{id}/keys`: `{"name"?}` → 201 with the key, shown this once.
pub async fn create_key(
    State(state): State<Arc<AppState>>,
    Path(project_id): Path<String>,
    body: Body,
) -> ApiResult {
    let input: KeyCreate = body::parse(&read_body(body)?, true)?;
    let name = input.name.unwrap_or_default();
    check_name(&name, false).map_err(|m| ApiError::invalid("name", m))?;
    let secret = new_key()?;
    let record = NewKeyRecord {
        id: new_id("key_")?,
        name,
        sha256: secret.sha256_hex.clone(),
        display_prefix: secret.display_prefix.clone(),
    };
    let key = state.store.create_key(&project_id, &record).await?;
    tracing::info!(key_id = %key.id, project_id = %key.project_id, display_prefix = %key.display_prefix, "key created");
    let mut view = key_view(&key);
    if let Value::Object(map) = &mut view {
        map.remove("revoked_at");
        map.insert("key".into(), json!(secret.key));
    }
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// `GET /v1/projects/{id}/keys`: no secrets.
pub async fn list_keys(
    State(state): State<Arc<AppState>>,
    Path(project_id): Path<String>,
) -> ApiResult {
    let keys = state.store.list_keys(&project_id).await?;
    Ok(Json(list(keys.iter().map(key_view).collect())).into_response())
}

/// `DELETE /v1/keys/{id}`: revokes at once.
pub async fn revoke_key(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    let key = state.store.revoke_key(&id).await?;
    tracing::info!(key_id = %key.id, project_id = %key.project_id, "key revoked");
    Ok(Json(key_view(&key)).into_response())
}

// ---- policies -------------------------------------------------------------------------------

/// A policy from a request body, with the `version` the caller read (if sent).
#[derive(Debug)]
struct PolicyInput {
    policy: Policy,
    expected_version: Option<i64>,
}

fn policy_input(body: &Bytes) -> Result<PolicyInput, ApiError> {
    let mut map: Map<String, Value> = body::object(body, false)?;
    let expected_version = match map.remove("version") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_i64().is_some_and(|v| v > 0) => n.as_i64(),
        Some(_) => {
            return Err(ApiError::invalid(
                "version",
                "must be the positive integer version the policy was read at",
            ));
        }
    };
    for field in POLICY_READ_ONLY_FIELDS {
        map.remove(*field);
    }
    let policy: Policy = body::decode(Value::Object(map))?;
    Ok(PolicyInput {
        policy,
        expected_version,
    })
}

/// The whole policy checked: name, `validate()`, and a compile against the built-in pack (which
/// also holds every custom regex to its size limits).
fn check_policy(state: &AppState, policy: &Policy) -> Result<(), ApiError> {
    check_name(&policy.name, false).map_err(|m| ApiError::invalid("name", m))?;
    policy
        .validate()
        .map_err(|e| ApiError::invalid(e.field, e.message))?;
    CompiledPolicy::compile(policy.clone(), &state.pack)
        .map_err(|e| ApiError::invalid(e.field, e.message))?;
    Ok(())
}

fn template_is_read_only(id: &str) -> ApiError {
    ApiError::invalid(
        "id",
        format!(
            "{id:?} is a built-in template and cannot be changed; create a policy with another id"
        ),
    )
}

fn policy_json(policy: &Policy) -> Result<String, ApiError> {
    serde_json::to_string(policy).map_err(|e| ApiError::internal(&e))
}

/// `GET /v1/policies/`: stored policies (templates are at `/v1/policy-templates`).
pub async fn list_policies(State(state): State<Arc<AppState>>) -> ApiResult {
    let policies = state.store.list_policies().await?;
    let views = policies
        .iter()
        .map(policy_view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(list(views)).into_response())
}

/// `POST /v1/policies/`: a policy object (contract §4); `id` is generated unless given.
pub async fn create_policy(State(state): State<Arc<AppState>>, body: Body) -> ApiResult {
    let PolicyInput { mut policy, .. } = policy_input(&read_body(body)?)?;
    if policy.id.is_empty() {
        policy.id = new_id("pol_")?;
    } else {
        check_id(&policy.id).map_err(|m| ApiError::invalid("id", m))?;
        if is_template_id(&policy.id) {
            return Err(ApiError::invalid(
                "id",
                format!(
                    "{:?} is a built-in template id; choose another id",
                    policy.id
                ),
            ));
        }
    }
    if policy.name.trim().is_empty() {
        policy.name = policy.id.clone();
    }
    check_policy(&state, &policy)?;
    let record = state
        .store
        .create_policy(&policy.id, &policy.name, &policy_json(&policy)?)
        .await?;
    tracing::info!(policy_id = %record.id, config_version = record.config_version, "policy created");
    Ok((StatusCode::CREATED, Json(policy_view(&record)?)).into_response())
}

/// `GET /v1/policies/{id}`: a stored policy, or a template (read-only, `"template": true`).
pub async fn get_policy(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    if is_template_id(&id) {
        return Ok(Json(template_view(&template_or_404(&id)?)?).into_response());
    }
    let record = state.store.get_policy(&id).await?;
    Ok(Json(policy_view(&record)?).into_response())
}

/// `PUT /v1/policies/{id}`: replaces a stored policy. A `version` in the body must be the
/// current one (optimistic concurrency); the same document again changes nothing.
pub async fn update_policy(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    if is_template_id(&id) {
        return Err(template_is_read_only(&id));
    }
    let PolicyInput {
        mut policy,
        expected_version,
    } = policy_input(&read_body(body)?)?;
    if !policy.id.is_empty() && policy.id != id {
        return Err(ApiError::invalid(
            "id",
            format!("the body's id {:?} is not the path's {id:?}", policy.id),
        ));
    }
    policy.id = id;
    if policy.name.trim().is_empty() {
        policy.name = policy.id.clone();
    }
    check_policy(&state, &policy)?;
    let record = state
        .store
        .update_policy(
            &policy.id,
            &policy.name,
            &policy_json(&policy)?,
            expected_version,
        )
        .await?;
    tracing::info!(policy_id = %record.id, version = record.version, config_version = record.config_version, "policy stored");
    Ok(Json(policy_view(&record)?).into_response())
}

/// `DELETE /v1/policies/{id}`: 409 while a project uses it.
pub async fn delete_policy(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult {
    if is_template_id(&id) {
        return Err(template_is_read_only(&id));
    }
    state.store.delete_policy(&id).await?;
    tracing::info!(policy_id = %id, "policy deleted");
    Ok(Json(json!({"id": id, "deleted": true})).into_response())
}

/// `GET /v1/policies/{id}/versions`: every stored version, newest first.
pub async fn policy_versions(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult {
    if is_template_id(&id) {
        return Err(ApiError::not_found(format!(
            "{id:?} is a built-in template; templates have no stored history"
        )));
    }
    let versions = state.store.policy_versions(&id).await?;
    let results = versions
        .iter()
        .map(|v| {
            let policy: Value = serde_json::from_str(&v.json).map_err(|e| {
                ApiError::internal(&format!(
                    "stored policy {id:?} v{} is not JSON: {e}",
                    v.version
                ))
            })?;
            Ok(json!({
                "version": v.version,
                "config_version": v.config_version,
                "changed_at": rfc3339_ms(v.changed_at),
                "policy": policy,
            }))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Json(list(results)).into_response())
}

/// `GET /v1/policy-templates`: `strict`, `balanced`, `permissive`, `monitor`.
pub async fn list_templates() -> ApiResult {
    let templates = all_templates().map_err(|e| ApiError::internal(&e))?;
    let views = templates
        .iter()
        .map(template_view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(list(views)).into_response())
}

// ---- sensors --------------------------------------------------------------------------------

/// `GET /v1/sensors`: every sensor ever seen with its rollout state.
pub async fn list_sensors(State(state): State<Arc<AppState>>) -> ApiResult {
    let current = state.store.config_version().await?.version;
    let sensors = state.store.list_sensors().await?;
    let results = sensors
        .iter()
        .map(|s| {
            json!({
                "sensor_id": s.sensor_id,
                "region": s.region,
                "build": s.build,
                "replica_id": s.replica_id,
                "connected": s.connected,
                "connected_at": rfc3339_ms(s.connected_at),
                "last_seen_at": rfc3339_ms(s.last_seen_at),
                "applied_version": s.applied_version,
                "config_version": current,
                "up_to_date": s.applied_version == current,
                "last_ack_at": time_or_null(s.last_ack_at),
                "last_nack_at": time_or_null(s.last_nack_at),
                "last_nack_version": s.last_nack_version,
                "last_nack_error": s.last_nack_error,
            })
        })
        .collect::<Vec<_>>();
    Ok(Json(json!({
        "count": results.len(),
        "config_version": current,
        "results": results,
    }))
    .into_response())
}

// ---- fault injection (test only) ------------------------------------------------------------

/// The invalid policy that fault injection pushes: valid JSON, but an unknown detector type,
/// so every sensor must refuse the snapshot (NACK) and keep its last good one.
pub const INVALID_POLICY_JSON: &str = r#"{"id":"pol_fault_injected","name":"fault injection: invalid policy","input_detectors":[{"detector_type":"no_such_detector","threshold":"L2","action":"block"}]}"#;

/// `POST /v1/_test/push-invalid-policy` (only with `--fault-injection`; TEST ONLY): a new
/// config version whose snapshot carries one extra, invalid policy. Nothing is stored as a
/// policy; the next real change drops it.
pub async fn push_invalid_policy(State(state): State<Arc<AppState>>) -> ApiResult {
    let version = state
        .store
        .inject_invalid_policy(INVALID_POLICY_JSON)
        .await?;
    tracing::warn!(
        config_version = version,
        "FAULT INJECTION: pushing an invalid policy to every sensor"
    );
    Ok(Json(json!({
        "config_version": version,
        "policy_id": INJECTED_POLICY_ID,
        "test_only": true,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_injected_policy_is_invalid_json_for_a_sensor() {
        let policy: Policy = serde_json::from_str(INVALID_POLICY_JSON).unwrap();
        assert_eq!(policy.id, INJECTED_POLICY_ID);
        let e = policy.validate().unwrap_err();
        assert_eq!(e.field, "input_detectors[0].detector_type");
    }

    #[test]
    fn policy_input_strips_read_only_fields_and_keeps_version() {
        let body = Bytes::from_static(
            br#"{"id":"pol_a","name":"A","version":3,"created_at":"x","updated_at":"y","config_version":9,"template":false}"#,
        );
        let input = policy_input(&body).unwrap();
        assert_eq!(input.expected_version, Some(3));
        assert_eq!(input.policy.id, "pol_a");
        let bad = Bytes::from_static(br#"{"version":"three"}"#);
        assert_eq!(
            policy_input(&bad).unwrap_err().field.as_deref(),
            Some("version")
        );
    }
}
