//! The REST API against real databases (a temp SQLite file and a fresh PostgreSQL database):
//! CRUD of every resource, validation errors that name the field, 401/404/405/409, keys shown
//! once, revocation and every other change bumping the config version, policy history.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "tests fail loudly and print what they measure"
)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[tokio::test]
async fn rest_api_on_sqlite() {
    let db = sqlite_db();
    let h = Harness::start(args(&db)).await;
    assert_eq!(h.get("/health").await["database"], "sqlite");
    rest_suite(&h).await;
    h.stop().await;
}

#[tokio::test]
async fn rest_api_on_postgres() {
    let db = postgres_db().await;
    let h = Harness::start(args(&db)).await;
    assert_eq!(h.get("/health").await["database"], "postgres");
    rest_suite(&h).await;
    h.stop().await;
}

async fn rest_suite(h: &Harness) {
    auth_and_routing(h).await;
    templates(h).await;
    projects(h).await;
    keys(h).await;
    policies(h).await;
    let sensors = h.get("/v1/sensors").await;
    assert_eq!(sensors["count"], 0);
    assert_eq!(sensors["config_version"], h.config_version().await);
}

fn error_of(body: &Value) -> (&str, Option<&str>, &str) {
    let e = &body["error"];
    (
        e["type"].as_str().unwrap(),
        e["field"].as_str(),
        e["message"].as_str().unwrap(),
    )
}

async fn auth_and_routing(h: &Harness) {
    // Public routes answer without a token.
    let (status, health) = h.call_with(Method::GET, "/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "healthy");
    let (status, doc) = h.call_with(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");

    // Everything else needs the right token.
    for token in [None, Some("wrong-token-wrong-token"), Some("")] {
        for (method, path) in [
            (Method::GET, "/v1/projects"),
            (Method::POST, "/v1/projects"),
            (Method::GET, "/v1/policies/"),
            (Method::GET, "/v1/sensors"),
            (Method::DELETE, "/v1/keys/key_x"),
            (Method::GET, "/v1/no-such-route"),
        ] {
            let (status, body) = h.call_with(method.clone(), path, None, token).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {token:?}"
            );
            assert_eq!(error_of(&body).0, "authentication_error");
        }
    }
    // A non-bearer scheme is no token either.
    let response = h
        .client
        .get(format!("{}/v1/projects", h.base))
        .basic_auth("admin", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));

    // Unknown routes and methods, with the token: JSON 404 / 405.
    let (status, body) = h.call(Method::GET, "/v1/no-such-route", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body).0, "not_found_error");
    let (status, body) = h.call(Method::PUT, "/v1/projects", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_of(&body).0, "invalid_request_error");
    // Fault injection is off by default.
    let (status, _) = h
        .call(Method::POST, "/v1/_test/push-invalid-policy", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let version = h.get("/v1/config/version").await;
    assert_eq!(version["version"], 1, "a new database starts at version 1");
    assert!(version["changed_at"].as_str().unwrap().ends_with('Z'));
}

async fn templates(h: &Harness) {
    let templates = h.get("/v1/policy-templates").await;
    assert_eq!(templates["count"], 4);
    let ids: Vec<&str> = templates["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["strict", "balanced", "permissive", "monitor"]);
    assert!(templates["results"][0]["input_detectors"].is_array());
    let balanced = h.get("/v1/policies/balanced").await;
    assert_eq!(balanced["template"], true);
    assert_eq!(balanced["id"], "balanced");
}

async fn projects(h: &Harness) {
    let v0 = h.config_version().await;
    let (status, created) = h
        .call(
            Method::POST,
            "/v1/projects",
            Some(&json!({"name": "Payments"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let payments = created["id"].as_str().unwrap().to_owned();
    assert!(payments.starts_with("proj_"), "{payments}");
    assert_eq!(created["policy_id"], "balanced", "the default policy");
    assert_eq!(h.config_version().await, v0 + 1);

    let (status, strict) = h
        .call(
            Method::POST,
            "/v1/projects",
            Some(&json!({"id": "proj_search", "name": "Search", "policy_id": "strict"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{strict}");
    assert_eq!(strict["id"], "proj_search");

    // Bad input, each naming its field; nothing stored, version unchanged.
    let v1 = h.config_version().await;
    let cases: [(Value, &str); 7] = [
        (json!({"policy_id": "strict"}), "name"),
        (json!({"name": "   "}), "name"),
        (
            json!({"name": "X", "policy_id": "pol_missing"}),
            "policy_id",
        ),
        (json!({"name": "X", "policy_id": "bad id!"}), "policy_id"),
        (json!({"name": "X", "id": "has space"}), "id"),
        (json!({"name": "X", "colour": "blue"}), "colour"),
        (json!({"name": 42}), "name"),
    ];
    for (body, field) in cases {
        let (status, error) = h.call(Method::POST, "/v1/projects", Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (kind, got_field, _) = error_of(&error);
        assert_eq!(kind, "invalid_request_error");
        assert_eq!(got_field, Some(field), "{body} -> {error}");
    }
    let (status, error) = h
        .call_raw(Method::POST, "/v1/projects", "{\"name\": ")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&error).2.contains("not valid JSON"), "{error}");
    let (status, _) = h.call_raw(Method::POST, "/v1/projects", "[]").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Duplicate id.
    let (status, error) = h
        .call(
            Method::POST,
            "/v1/projects",
            Some(&json!({"id": "proj_search", "name": "Again"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(
        h.config_version().await,
        v1,
        "failed changes do not bump the version"
    );

    let list = h.get("/v1/projects").await;
    assert_eq!(list["count"], 2);
    assert_eq!(
        h.get(&format!("/v1/projects/{payments}")).await["name"],
        "Payments"
    );
    let (status, error) = h.call(Method::GET, "/v1/projects/proj_nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&error).0, "not_found_error");

    // PATCH: a change bumps, the same values again do not.
    let (status, patched) = h
        .call(
            Method::PATCH,
            &format!("/v1/projects/{payments}"),
            Some(&json!({"name": "Payments team", "policy_id": "monitor"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"], "Payments team");
    assert_eq!(patched["policy_id"], "monitor");
    let v2 = h.config_version().await;
    assert_eq!(v2, v1 + 1);
    let (status, _) = h
        .call(
            Method::PATCH,
            &format!("/v1/projects/{payments}"),
            Some(&json!({"name": "Payments team"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        h.config_version().await,
        v2,
        "a no-op PATCH changes nothing"
    );
    let (status, error) = h
        .call(
            Method::PATCH,
            &format!("/v1/projects/{payments}"),
            Some(&json!({"policy_id": "pol_missing"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&error).1, Some("policy_id"));
    let (status, error) = h
        .call(
            Method::PATCH,
            &format!("/v1/projects/{payments}"),
            Some(&json!({"id": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&error).1, Some("id"));
    let (status, _) = h
        .call(
            Method::PATCH,
            "/v1/projects/proj_nope",
            Some(&json!({"name": "X"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // DELETE.
    let (status, deleted) = h
        .call(Method::DELETE, "/v1/projects/proj_search", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted, json!({"id": "proj_search", "deleted": true}));
    assert_eq!(h.config_version().await, v2 + 1);
    let (status, _) = h.call(Method::GET, "/v1/projects/proj_search", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h
        .call(Method::DELETE, "/v1/projects/proj_search", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h
        .call(Method::DELETE, &format!("/v1/projects/{payments}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.get("/v1/projects").await["count"], 0);
}

async fn keys(h: &Harness) {
    h.post("/v1/projects", &json!({"id": "proj_keys", "name": "Keys"}))
        .await;
    let v0 = h.config_version().await;
    let (status, created) = h
        .call(
            Method::POST,
            "/v1/projects/proj_keys/keys",
            Some(&json!({"name": "laptop"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    assert!(
        key.starts_with("glitch_sk_") && key.len() >= "glitch_sk_".len() + 43,
        "{key}"
    );
    assert!(
        key["glitch_sk_".len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
    );
    assert_eq!(created["display_prefix"], key[..14]);
    assert_eq!(created["project_id"], "proj_keys");
    assert_eq!(created["name"], "laptop");
    assert!(created["created_at"].is_string());
    assert_eq!(h.config_version().await, v0 + 1);

    // An empty body is fine (no name); a second key differs.
    let response = h
        .client
        .post(format!("{}/v1/projects/proj_keys/keys", h.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let second: Value = response.json().await.unwrap();
    assert_ne!(second["key"], created["key"]);

    // The secret is never shown again, nor its hash.
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    let listing = h
        .client
        .get(format!("{}/v1/projects/proj_keys/keys", h.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listing.contains(&key) && !listing.contains(&key[10..]) && !listing.contains(&hash));
    let listing: Value = serde_json::from_str(&listing).unwrap();
    assert_eq!(listing["count"], 2);
    let first = &listing["results"][0];
    assert_eq!(first["id"], key_id.as_str());
    assert!(first.get("key").is_none());
    assert_eq!(first["revoked_at"], Value::Null);

    // Bad input and unknown projects.
    let (status, error) = h
        .call(
            Method::POST,
            "/v1/projects/proj_keys/keys",
            Some(&json!({"label": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&error).1, Some("label"));
    let (status, _) = h
        .call(
            Method::POST,
            "/v1/projects/proj_nope/keys",
            Some(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h
        .call(Method::GET, "/v1/projects/proj_nope/keys", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Revocation: immediate (bumps the version), idempotent, listed with its time.
    let v1 = h.config_version().await;
    let (status, revoked) = h
        .call(Method::DELETE, &format!("/v1/keys/{key_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    assert!(revoked.get("key").is_none());
    assert_eq!(h.config_version().await, v1 + 1);
    let (status, again) = h
        .call(Method::DELETE, &format!("/v1/keys/{key_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    assert_eq!(
        h.config_version().await,
        v1 + 1,
        "revoking twice changes nothing"
    );
    let (status, _) = h.call(Method::DELETE, "/v1/keys/key_nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let listing = h.get("/v1/projects/proj_keys/keys").await;
    assert_eq!(listing["results"][0]["revoked_at"], revoked["revoked_at"]);

    // Deleting the project removes its keys.
    let (status, _) = h.call(Method::DELETE, "/v1/projects/proj_keys", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h
        .call(
            Method::DELETE,
            &format!("/v1/keys/{}", second["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn policies(h: &Harness) {
    assert_eq!(
        h.get("/v1/policies/").await,
        json!({"count": 0, "results": []})
    );

    // Create: generated id, then a given id; both routes (with and without the slash).
    let mut body = example_policy("");
    body.as_object_mut().unwrap().remove("id");
    let (status, generated) = h.call(Method::POST, "/v1/policies/", Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{generated}");
    let generated_id = generated["id"].as_str().unwrap().to_owned();
    assert!(generated_id.starts_with("pol_"), "{generated_id}");
    assert_eq!(generated["version"], 1);
    assert_eq!(generated["template"], false);
    assert_eq!(generated["custom_detectors"][0]["name"], "project_codename");
    let v0 = h.config_version().await;
    assert_eq!(generated["config_version"], v0);

    let (status, team) = h
        .call(
            Method::POST,
            "/v1/policies",
            Some(&example_policy("pol_team")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    assert_eq!(h.config_version().await, v0 + 1);
    let (status, _) = h
        .call(
            Method::POST,
            "/v1/policies",
            Some(&example_policy("pol_team")),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(h.get("/v1/policies").await["count"], 2);
    assert_eq!(h.get("/v1/policies/").await["count"], 2);

    // Validation names the field: serde errors, validate(), compile limits, ids.
    let bad = |patch: Value| {
        let mut p = example_policy("pol_bad");
        for (k, v) in patch.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            bad(
                json!({"input_detectors": [{"detector_type": "jailbreak"}, {"detector_type": "pii/email", "threshold": "L9"}]}),
            ),
            "input_detectors[1].threshold",
        ),
        (
            bad(json!({"input_detectors": [{"detector_type": "pii/shoe_size"}]})),
            "input_detectors[0].detector_type",
        ),
        (
            bad(json!({"output_detectors": [{"detector_type": "jailbreak", "action": "explode"}]})),
            "output_detectors[0].action",
        ),
        (
            bad(json!({"custom_detectors": [{"name": "huge", "pattern": "(?:\\w{50}){1000}"}]})),
            "custom_detectors[0].pattern",
        ),
        (
            bad(json!({"custom_detectors": [{"name": "Bad Name", "pattern": "x"}]})),
            "custom_detectors[0].name",
        ),
        (bad(json!({"policy_mode": "X"})), "policy_mode"),
        (
            bad(json!({"allow_list": {"entries": ["*.x.com"], "match_type": "exact"}})),
            "allow_list.entries[0]",
        ),
        (
            bad(json!({"rate_limits": {"enabled": true, "requests_per_minute": 0}})),
            "rate_limits.requests_per_minute",
        ),
        (bad(json!({"surprise": true})), "surprise"),
        (bad(json!({"id": "balanced"})), "id"),
        (bad(json!({"id": "bad id"})), "id"),
        (bad(json!({"version": "one"})), "version"),
    ];
    let v1 = h.config_version().await;
    for (body, field) in cases {
        let (status, error) = h.call(Method::POST, "/v1/policies/", Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (kind, got_field, _) = error_of(&error);
        assert_eq!(kind, "invalid_request_error");
        assert_eq!(got_field, Some(field), "{error}");
    }
    let (status, _) = h.call_raw(Method::POST, "/v1/policies/", "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(h.config_version().await, v1, "nothing invalid was stored");
    assert_eq!(h.get("/v1/policies/").await["count"], 2);

    // Read, edit, PUT back (read-only fields are accepted and ignored).
    let mut edited = h.get("/v1/policies/pol_team").await;
    assert_eq!(edited["version"], 1);
    edited["name"] = json!("Team policy");
    edited["input_detectors"][0]["threshold"] = json!("L1");
    let (status, stored) = h
        .call(Method::PUT, "/v1/policies/pol_team", Some(&edited))
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["version"], 2);
    assert_eq!(stored["name"], "Team policy");
    assert_eq!(stored["input_detectors"][0]["threshold"], "L1");
    let v2 = h.config_version().await;
    assert_eq!(v2, v1 + 1);
    assert_eq!(stored["config_version"], v2);
    // The same document again: no new version. A stale `version`: 409.
    let mut same = stored.clone();
    same.as_object_mut().unwrap().remove("version");
    let (status, unchanged) = h
        .call(Method::PUT, "/v1/policies/pol_team", Some(&same))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(unchanged["version"], 2);
    assert_eq!(h.config_version().await, v2);
    let (status, error) = h
        .call(Method::PUT, "/v1/policies/pol_team", Some(&edited))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "edited still says version 1: {error}"
    );
    assert_eq!(error_of(&error).1, Some("version"));
    // PUT errors.
    let (status, error) = h
        .call(
            Method::PUT,
            "/v1/policies/pol_team",
            Some(&example_policy("pol_other")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&error).1, Some("id"));
    let (status, error) = h
        .call(
            Method::PUT,
            "/v1/policies/pol_team",
            Some(&bad(
                json!({"id": "pol_team", "input_detectors": [{"detector_type": "nope"}]}),
            )),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&error).1, Some("input_detectors[0].detector_type"));
    let (status, _) = h
        .call(
            Method::PUT,
            "/v1/policies/pol_nope",
            Some(&example_policy("pol_nope")),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, error) = h
        .call(
            Method::PUT,
            "/v1/policies/strict",
            Some(&example_policy("strict")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&error).1, Some("id"));
    assert_eq!(h.config_version().await, v2);

    // History, newest first.
    let history = h.get("/v1/policies/pol_team/versions").await;
    assert_eq!(history["count"], 2);
    let entries = history["results"].as_array().unwrap();
    assert_eq!(entries[0]["version"], 2);
    assert_eq!(entries[0]["config_version"], v2);
    assert_eq!(entries[0]["policy"]["name"], "Team policy");
    assert_eq!(entries[1]["version"], 1);
    assert_eq!(entries[1]["policy"]["name"], "Balanced Security");
    assert!(entries[1]["changed_at"].is_string());
    let (status, _) = h
        .call(Method::GET, "/v1/policies/pol_nope/versions", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A policy in use cannot be deleted; once unused it can, and is gone.
    h.post(
        "/v1/projects",
        &json!({"id": "proj_team", "name": "Team", "policy_id": "pol_team"}),
    )
    .await;
    let (status, error) = h.call(Method::DELETE, "/v1/policies/pol_team", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(error_of(&error).2.contains("proj_team"), "{error}");
    let (status, _) = h
        .call(
            Method::PATCH,
            "/v1/projects/proj_team",
            Some(&json!({"policy_id": generated_id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let v3 = h.config_version().await;
    let (status, deleted) = h.call(Method::DELETE, "/v1/policies/pol_team", None).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(h.config_version().await, v3 + 1);
    let (status, _) = h.call(Method::GET, "/v1/policies/pol_team", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h.call(Method::DELETE, "/v1/policies/pol_team", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h.call(Method::DELETE, "/v1/policies/balanced", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Re-creating the id continues its history.
    let (status, again) = h
        .call(
            Method::POST,
            "/v1/policies/",
            Some(&example_policy("pol_team")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["version"], 3);
    assert_eq!(h.get("/v1/policies/pol_team/versions").await["count"], 3);
}
