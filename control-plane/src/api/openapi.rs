//! The OpenAPI 3.1 document of the REST API, written by hand with `serde_json` and served at
//! `GET /openapi.json`. The integration tests check it against the real router both ways: every
//! documented operation is served, and every served route is documented.

use serde_json::{Value, json};

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn response(description: &str, schema_name: &str) -> Value {
    json!({"description": description, "content": json_content(schema(schema_name))})
}

fn error(description: &str) -> Value {
    response(description, "Error")
}

fn id_param(what: &str) -> Value {
    json!({
        "name": "id", "in": "path", "required": true,
        "description": format!("The {what}'s id."),
        "schema": {"type": "string"}
    })
}

fn body(schema_name: &str, required: bool) -> Value {
    json!({"required": required, "content": json_content(schema(schema_name))})
}

/// One operation. `codes` maps extra status codes to error descriptions; 401 is added to
/// every operation that needs the admin token.
fn operation(
    id: &str,
    tag: &str,
    summary: &str,
    success: (&str, Value),
    codes: &[(&str, &str)],
    public: bool,
) -> Value {
    let mut responses = serde_json::Map::new();
    responses.insert(success.0.to_owned(), success.1);
    for (code, description) in codes {
        responses.insert((*code).to_owned(), error(description));
    }
    if !public {
        responses.insert(
            "401".into(),
            error("Missing or wrong `Authorization: Bearer` admin token."),
        );
    }
    let mut op = json!({
        "operationId": id,
        "tags": [tag],
        "summary": summary,
        "responses": responses,
    });
    if public {
        op["security"] = json!([]);
    }
    op
}

fn with(mut op: Value, key: &str, value: Value) -> Value {
    op[key] = value;
    op
}

fn policies_collection() -> Value {
    json!({
        "get": operation("listPolicies", "policies", "List stored policies",
            ("200", response("Stored policies (templates are at /v1/policy-templates).", "PolicyList")),
            &[], false),
        "post": with(operation("createPolicy", "policies", "Create a policy",
            ("201", response("The stored policy.", "StoredPolicy")),
            &[("400", "Invalid policy; `error.field` names the offending field."),
              ("409", "A policy with that id exists.")], false),
            "requestBody", body("Policy", true)),
    })
}

/// The whole document; the fault-injection route is included only when it is served.
pub fn document(fault_injection: bool) -> Value {
    let mut paths = json!({
        "/health": {"get": operation("health", "service", "Health (no auth)",
            ("200", response("The control plane and its database answer.", "Health")),
            &[("503", "The database does not answer.")], true)},
        "/metrics": {"get": operation("metrics", "service", "Prometheus metrics (no auth)",
            ("200", json!({"description": "Prometheus text exposition.", "content": {"text/plain": {"schema": {"type": "string"}}}})),
            &[], true)},
        "/openapi.json": {"get": operation("openapi", "service", "This document (no auth)",
            ("200", json!({"description": "OpenAPI 3.1 document.", "content": {"application/json": {"schema": {"type": "object"}}}})),
            &[], true)},
        "/v1/projects": {
            "get": operation("listProjects", "projects", "List projects",
                ("200", response("All projects.", "ProjectList")), &[], false),
            "post": with(operation("createProject", "projects", "Create a project",
                ("201", response("The new project.", "Project")),
                &[("400", "Invalid input; `error.field` names it (e.g. an unknown `policy_id`)."),
                  ("409", "A project with that id exists.")], false),
                "requestBody", body("ProjectCreate", true)),
        },
        "/v1/projects/{id}": {
            "parameters": [id_param("project")],
            "get": operation("getProject", "projects", "Get a project",
                ("200", response("The project.", "Project")), &[("404", "Unknown project.")], false),
            "patch": with(operation("updateProject", "projects", "Rename a project or change its policy",
                ("200", response("The project.", "Project")),
                &[("400", "Invalid input; `error.field` names it."), ("404", "Unknown project.")], false),
                "requestBody", body("ProjectUpdate", true)),
            "delete": operation("deleteProject", "projects", "Delete a project and its keys",
                ("200", response("Deleted.", "Deleted")), &[("404", "Unknown project.")], false),
        },
        "/v1/projects/{id}/keys": {
            "parameters": [id_param("project")],
            "post": with(operation("createKey", "keys", "Create a key (the secret is in this response only)",
                ("201", response("The key, with its secret `key`, shown this once.", "KeyCreated")),
                &[("400", "Invalid input."), ("404", "Unknown project.")], false),
                "requestBody", body("KeyCreate", false)),
            "get": operation("listKeys", "keys", "List a project's keys (no secrets)",
                ("200", response("Keys, revoked ones included.", "KeyList")),
                &[("404", "Unknown project.")], false),
        },
        "/v1/keys/{id}": {
            "parameters": [id_param("key")],
            "delete": operation("revokeKey", "keys", "Revoke a key (at once: bumps the config version)",
                ("200", response("The revoked key.", "Key")), &[("404", "Unknown key.")], false),
        },
        "/v1/policies": policies_collection(),
        "/v1/policies/": policies_collection(),
        "/v1/policies/{id}": {
            "parameters": [id_param("policy")],
            "get": operation("getPolicy", "policies", "Get a policy (or a template, read-only)",
                ("200", response("The policy.", "StoredPolicy")), &[("404", "Unknown policy.")], false),
            "put": with(operation("replacePolicy", "policies", "Replace a policy",
                ("200", response("The stored policy (unchanged if the document is the same).", "StoredPolicy")),
                &[("400", "Invalid policy, or a template id; `error.field` names the field."),
                  ("404", "Unknown policy."),
                  ("409", "`version` is not the current version (someone changed it since you read it).")], false),
                "requestBody", body("Policy", true)),
            "delete": operation("deletePolicy", "policies", "Delete a policy",
                ("200", response("Deleted.", "Deleted")),
                &[("400", "A template id."), ("404", "Unknown policy."),
                  ("409", "A project uses the policy.")], false),
        },
        "/v1/policies/{id}/versions": {
            "parameters": [id_param("policy")],
            "get": operation("listPolicyVersions", "policies", "A policy's history, newest first",
                ("200", response("Every stored version.", "PolicyVersionList")),
                &[("404", "Unknown policy (or a template).")], false),
        },
        "/v1/policy-templates": {
            "get": operation("listPolicyTemplates", "policies", "The built-in templates",
                ("200", response("strict, balanced, permissive, monitor.", "TemplateList")), &[], false),
        },
        "/v1/sensors": {
            "get": operation("listSensors", "sensors", "Every sensor ever seen and its rollout state",
                ("200", response("Sensors.", "SensorList")), &[], false),
        },
        "/v1/config/version": {
            "get": operation("getConfigVersion", "config", "The current config version",
                ("200", response("Version.", "ConfigVersion")), &[], false),
        },
    });
    if fault_injection {
        paths["/v1/_test/push-invalid-policy"] = json!({
            "post": operation("pushInvalidPolicy", "testing",
                "TEST ONLY (served with --fault-injection): push a snapshot with an invalid policy",
                ("200", response("The config version pushed.", "FaultInjection")), &[], false),
        });
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Glitch control plane",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Projects, keys and detection policies of a Glitch deployment. Every change bumps the config version and is pushed to the sensors over the gRPC ConfigService stream. Errors are `{\"error\": {\"type\", \"message\", \"field\"?}}`.",
        },
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": "projects"}, {"name": "keys"}, {"name": "policies"},
            {"name": "sensors"}, {"name": "config"}, {"name": "service"}, {"name": "testing"}
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                    "description": "The admin token (GLITCH_ADMIN_TOKEN)."}
            },
            "schemas": schemas(),
        }
    })
}

fn schemas() -> Value {
    let time = json!({"type": "string", "format": "date-time"});
    let nullable_time = json!({"type": ["string", "null"], "format": "date-time"});
    let level = json!({"type": "string", "enum": ["L1", "L2", "L3", "L4"], "default": "L2",
        "description": "L1 = 0.90, L2 = 0.75, L3 = 0.50, L4 = 0.25: a detector triggers at or over its level."});
    let action = json!({"type": "string", "enum": ["block", "log", "alert"], "default": "block"});
    let list_of = |item: &str| {
        json!({"type": "object", "required": ["count", "results"], "properties": {
            "count": {"type": "integer"},
            "results": {"type": "array", "items": schema(item)}
        }})
    };
    let mut all = serde_json::Map::new();
    all.insert("Error".into(), json!({"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["type", "message"], "properties": {
                "type": {"type": "string", "enum": ["invalid_request_error", "authentication_error",
                    "not_found_error", "conflict_error", "request_too_large", "api_error"]},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "The offending input field, e.g. `input_detectors[1].threshold`."}
            }}}}));
    all.insert(
        "Health".into(),
        json!({"type": "object", "properties": {
            "status": {"type": "string", "enum": ["healthy", "unhealthy"]},
            "database": {"type": "string", "enum": ["sqlite", "postgres"]},
            "replica_id": {"type": "string"},
            "config_version": {"type": "integer"}}}),
    );
    all.insert(
        "Deleted".into(),
        json!({"type": "object", "properties": {
            "id": {"type": "string"}, "deleted": {"type": "boolean"}}}),
    );
    all.insert("ConfigVersion".into(), json!({"type": "object", "required": ["version", "changed_at"], "properties": {
            "version": {"type": "integer", "description": "Monotonic; every change to projects, keys or policies bumps it."},
            "changed_at": time}}));
    all.insert(
        "Project".into(),
        json!({"type": "object", "properties": {
            "id": {"type": "string"}, "name": {"type": "string"},
            "policy_id": {"type": "string", "description": "A stored policy id or a template id."},
            "created_at": time, "updated_at": time}}),
    );
    all.insert("ProjectCreate".into(), json!({"type": "object", "additionalProperties": false, "required": ["name"], "properties": {
            "id": {"type": "string", "description": "Optional; generated (`proj_...`) when absent. Letters, digits, `_`, `-`; at most 64."},
            "name": {"type": "string", "maxLength": 200},
            "policy_id": {"type": "string", "default": "balanced"}}}));
    all.insert(
        "ProjectUpdate".into(),
        json!({"type": "object", "additionalProperties": false, "properties": {
            "name": {"type": "string", "maxLength": 200},
            "policy_id": {"type": "string"}}}),
    );
    all.insert("ProjectList".into(), list_of("Project"));
    all.insert(
        "Key".into(),
        json!({"type": "object", "properties": {
            "id": {"type": "string"}, "project_id": {"type": "string"}, "name": {"type": "string"},
            "display_prefix": {"type": "string", "example": "glitch_sk_AbC1"},
            "created_at": time, "revoked_at": nullable_time}}),
    );
    all.insert(
        "KeyCreate".into(),
        json!({"type": "object", "additionalProperties": false, "properties": {
            "name": {"type": "string", "maxLength": 200}}}),
    );
    all.insert("KeyCreated".into(), json!({"type": "object", "properties": {
            "id": {"type": "string"}, "project_id": {"type": "string"}, "name": {"type": "string"},
            "key": {"type": "string", "description": "The secret `glitch_sk_...`: shown in this response only, stored only as its SHA-256."},
            "display_prefix": {"type": "string"}, "created_at": time}}));
    all.insert("KeyList".into(), list_of("Key"));
    all.insert("DetectorRule".into(), json!({"type": "object", "additionalProperties": false, "required": ["detector_type"], "properties": {
            "detector_type": {"type": "string", "description": "e.g. `prompt_attack`, `pii/email`, `secrets/*`."},
            "threshold": level, "action": action}}));
    all.insert(
        "MatchList".into(),
        json!({"type": "object", "additionalProperties": false, "properties": {
            "entries": {"type": "array", "items": {"type": "string"}},
            "match_type": {"type": "string", "enum": ["exact", "wildcard"], "default": "exact"}}}),
    );
    all.insert("CustomDetector".into(), json!({"type": "object", "additionalProperties": false, "required": ["name", "pattern"], "properties": {
            "name": {"type": "string"}, "pattern": {"type": "string", "description": "A Rust regex, at most 4096 bytes."},
            "threshold": level, "action": action,
            "scope": {"type": "string", "enum": ["input", "output", "both"], "default": "input"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1, "default": 1.0}}}));
    all.insert(
        "RateLimits".into(),
        json!({"type": "object", "additionalProperties": false, "properties": {
            "enabled": {"type": "boolean", "default": false},
            "requests_per_minute": {"type": "integer", "default": 60},
            "tokens_per_minute": {"type": "integer", "default": 100000},
            "max_input_tokens": {"type": "integer", "default": 200000}}}),
    );
    all.insert("Policy".into(), json!({"type": "object", "description": "A policy (contract §4). Unknown fields are refused, except the read-only fields of a returned policy (`config_version`, `created_at`, `updated_at`, `template`), which are ignored; a `version` on PUT must be the current version.",
            "properties": {
                "id": {"type": "string", "description": "Optional on POST (generated `pol_...`); must match the path on PUT."},
                "name": {"type": "string"},
                "description": {"type": "string"},
                "policy_mode": {"type": "string", "enum": ["IO", "I", "O"], "default": "IO"},
                "input_detectors": {"type": "array", "items": schema("DetectorRule")},
                "output_detectors": {"type": "array", "items": schema("DetectorRule")},
                "allow_list": schema("MatchList"),
                "deny_list": schema("MatchList"),
                "custom_detectors": {"type": "array", "items": schema("CustomDetector")},
                "rate_limits": schema("RateLimits"),
                "version": {"type": "integer", "description": "Optional on PUT: the version you read (else 409)."}}}));
    all.insert("StoredPolicy".into(), json!({"allOf": [schema("Policy"), {"type": "object", "properties": {
            "version": {"type": "integer", "description": "The policy's own revision (templates have none)."},
            "config_version": {"type": "integer", "description": "The config version this revision was stored in."},
            "created_at": time, "updated_at": time,
            "template": {"type": "boolean"}}}]}));
    all.insert("PolicyList".into(), list_of("StoredPolicy"));
    all.insert("TemplateList".into(), list_of("StoredPolicy"));
    all.insert(
        "PolicyVersion".into(),
        json!({"type": "object", "properties": {
            "version": {"type": "integer"}, "config_version": {"type": "integer"},
            "changed_at": time, "policy": schema("Policy")}}),
    );
    all.insert("PolicyVersionList".into(), list_of("PolicyVersion"));
    all.insert("Sensor".into(), json!({"type": "object", "properties": {
            "sensor_id": {"type": "string"}, "region": {"type": "string"}, "build": {"type": "string"},
            "replica_id": {"type": "string", "description": "The control-plane replica it streams from."},
            "connected": {"type": "boolean"},
            "connected_at": time, "last_seen_at": time,
            "applied_version": {"type": "integer", "description": "The config version it serves."},
            "config_version": {"type": "integer", "description": "The current config version."},
            "up_to_date": {"type": "boolean"},
            "last_ack_at": nullable_time, "last_nack_at": nullable_time,
            "last_nack_version": {"type": ["integer", "null"], "description": "The version the sensor kept serving."},
            "last_nack_error": {"type": ["string", "null"]}}}));
    all.insert(
        "SensorList".into(),
        json!({"type": "object", "properties": {
            "count": {"type": "integer"}, "config_version": {"type": "integer"},
            "results": {"type": "array", "items": schema("Sensor")}}}),
    );
    all.insert(
        "FaultInjection".into(),
        json!({"type": "object", "properties": {
            "config_version": {"type": "integer"}, "policy_id": {"type": "string"},
            "test_only": {"type": "boolean"}}}),
    );
    Value::Object(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves() {
        let doc = document(true);
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "dangling $ref {name}");
        }
        assert!(
            document(false)["paths"]
                .get("/v1/_test/push-invalid-policy")
                .is_none()
        );
    }
}
