//! The OpenAPI document against the real router, both ways: every documented path+method
//! answers (with a valid token and real ids) something other than 404/405, the methods a path
//! does not document answer 405, and every route the router serves is documented.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "tests fail loudly and print what they measure"
)]

mod common;

use std::collections::BTreeSet;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.insert((path.clone(), method.to_uppercase()));
            }
        }
    }
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_router() {
    let db = sqlite_db();
    let mut a = args(&db);
    a.fault_injection = true;
    let h = Harness::start(a).await;
    let doc = h.get("/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = documented(&doc);

    // Every served route is documented, and nothing else is.
    let served: BTreeSet<(String, String)> = glitch_control_plane::api::served_routes(true)
        .into_iter()
        .map(|(path, method)| (path.to_owned(), method.as_str().to_owned()))
        .collect();
    assert_eq!(ops, served, "document vs router");
    assert!(ops.len() >= 22, "{ops:?}");

    // Real objects to point the {id}s at.
    let (project_id, key_id, _) = project_with_key(&h, "doc", "balanced").await;
    h.post("/v1/policies/", &example_policy("pol_doc")).await;
    let id_for = |path: &str| -> &str {
        if path.starts_with("/v1/projects/") {
            &project_id
        } else if path.starts_with("/v1/keys/") {
            &key_id
        } else {
            "pol_doc"
        }
    };
    let body_for = |path: &str, method: &str| -> Option<Value> {
        match (method, path) {
            ("POST", "/v1/projects") => Some(json!({"name": "From the doc test"})),
            ("PATCH", _) => Some(json!({"name": "Renamed"})),
            ("POST", p) if p.ends_with("/keys") => Some(json!({"name": "doc"})),
            ("POST", p) if p.starts_with("/v1/policies") => Some(json!({"name": "Doc policy"})),
            ("PUT", _) => Some(example_policy("pol_doc")),
            _ => None,
        }
    };
    // DELETEs last, the project (which takes its keys) at the very end.
    let mut order: Vec<&(String, String)> = ops.iter().collect();
    order.sort_by_key(|(path, method)| {
        (
            method == "DELETE",
            path == "/v1/projects/{id}" && method == "DELETE",
        )
    });
    for (path, method) in order {
        let concrete = path.replace("{id}", id_for(path));
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = body_for(path, method.as_str());
        let (status, answer) = h.call(method.clone(), &concrete, body.as_ref()).await;
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {concrete} (documented as {path}) answered {status}: {answer}"
        );
        // Every documented response code covers what was answered.
        let op = &doc["paths"][path.as_str()][method.as_str().to_lowercase()];
        assert!(
            op["responses"].get(status.as_str()).is_some(),
            "{method} {path} answered {status}, which the document does not list"
        );
    }

    // Methods a documented path does not list are not served.
    for path in doc["paths"].as_object().unwrap().keys() {
        let concrete = path.replace("{id}", "x");
        for method in METHODS {
            if doc["paths"][path].get(method).is_none() {
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let (status, _) = h.call(m, &concrete, Some(&json!({}))).await;
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            }
        }
    }
    h.stop().await;

    // Without fault injection the test route is neither served nor documented.
    let db = sqlite_db();
    let h = Harness::start(args(&db)).await;
    let doc = h.get("/openapi.json").await;
    assert!(doc["paths"].get("/v1/_test/push-invalid-policy").is_none());
    let served: BTreeSet<(String, String)> = glitch_control_plane::api::served_routes(false)
        .into_iter()
        .map(|(path, method)| (path.to_owned(), method.as_str().to_owned()))
        .collect();
    assert_eq!(documented(&doc), served);
    let (status, _) = h
        .call(Method::POST, "/v1/_test/push-invalid-policy", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    h.stop().await;
}
