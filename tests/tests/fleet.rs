//! The real control plane and a real fleet-mode sensor together: a policy edit through the REST
//! API is enforced, an invalid snapshot pushed by a fault-injected control plane is NACKed (the
//! NACK shows in `GET /v1/sensors`, the old policy stays enforced), the control plane going away
//! leaves the sensor serving, and a sensor restarted while it is down serves its persisted snapshot.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::time::Duration;

use clap::Parser;
use glitch_fake_anthropic::FakeAnthropic;
use serde_json::{Value, json};

const TOKEN: &str = "e2e-admin-token-000000000000";

async fn api(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> Value {
    let mut req = client.request(method, url).bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

async fn sensor(
    cp_grpc: &str,
    dir: &std::path::Path,
    fake: &FakeAnthropic,
    events: &str,
) -> glitch_sensor::RunningSensor {
    glitch_sensor::start(glitch_sensor::SensorArgs::parse_from([
        "glitch-sensor".to_owned(),
        "--listen=127.0.0.1:0".into(),
        "--admin-listen=127.0.0.1:0".into(),
        format!("--control-plane={cp_grpc}"),
        format!("--state-dir={}", dir.join("state").display()),
        format!("--events=file:{}", dir.join(events).display()),
        format!("--upstream={}", fake.url()),
        "--sensor-id=e2e-sensor".into(),
        "--region=eu".into(),
    ]))
    .await
    .unwrap()
}

async fn status(client: &reqwest::Client, base: &str, key: &str, text: &str) -> u16 {
    client
        .post(format!("{base}/v1/messages"))
        .header("x-glitch-key", key)
        .json(&json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": text}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn until(mut f: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..200 {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_and_sensor_fleet_behaviour() {
    let fake = FakeAnthropic::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut args = glitch_control_plane::ControlPlaneArgs::for_tests(
        format!("sqlite://{}", dir.path().join("cp.db").display()),
        TOKEN,
    );
    args.fault_injection = true;
    let cp = glitch_control_plane::start(args).await.unwrap();
    let rest = cp.rest_url();
    let http = reqwest::Client::new();
    let policy = api(&http, reqwest::Method::POST, format!("{rest}/v1/policies/"), Some(json!({
        "name": "e2e", "custom_detectors": [{"name": "bird", "pattern": "(?i)\\bkestrel\\b", "action": "block"}]
    })))
    .await;
    let policy_id = policy["id"].as_str().unwrap().to_owned();
    let project = api(
        &http,
        reqwest::Method::POST,
        format!("{rest}/v1/projects"),
        Some(json!({"name": "e2e", "policy_id": policy_id})),
    )
    .await;
    let project_id = project["id"].as_str().unwrap().to_owned();
    let key = api(
        &http,
        reqwest::Method::POST,
        format!("{rest}/v1/projects/{project_id}/keys"),
        Some(json!({"name": "k"})),
    )
    .await;
    let key = key["key"].as_str().unwrap().to_owned();

    let s = sensor(&cp.grpc_url(), dir.path(), &fake, "events").await;
    let base = format!("http://{}", s.addr);
    assert!(
        until(async || status(&http, &base, &key, "the kestrel plan").await == 403).await,
        "policy not enforced"
    );
    assert_eq!(status(&http, &base, &key, "the osprey plan").await, 200);

    // A policy edit through the REST API is enforced without a restart.
    api(&http, reqwest::Method::PUT, format!("{rest}/v1/policies/{policy_id}"), Some(json!({
        "name": "e2e", "custom_detectors": [{"name": "bird", "pattern": "(?i)\\bosprey\\b", "action": "block"}]
    })))
    .await;
    assert!(
        until(async || status(&http, &base, &key, "the osprey plan").await == 403).await,
        "edit not enforced"
    );

    // An invalid snapshot from a fault-injected control plane: NACK, visible, old policy kept.
    api(
        &http,
        reqwest::Method::POST,
        format!("{rest}/v1/_test/push-invalid-policy"),
        None,
    )
    .await;
    let nacked = until(async || {
        let sensors = api(
            &http,
            reqwest::Method::GET,
            format!("{rest}/v1/sensors"),
            None,
        )
        .await;
        sensors["results"].as_array().is_some_and(|list| {
            list.iter().any(|s| {
                s["sensor_id"] == "e2e-sensor"
                    && s["last_nack_error"].as_str().is_some_and(|e| !e.is_empty())
            })
        })
    })
    .await;
    assert!(nacked, "the NACK is not visible in /v1/sensors");
    assert_eq!(status(&http, &base, &key, "the osprey plan").await, 403);
    assert_eq!(status(&http, &base, &key, "the kestrel plan").await, 200);
    let sensors = api(
        &http,
        reqwest::Method::GET,
        format!("{rest}/v1/sensors"),
        None,
    )
    .await;
    let me = sensors["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sensor_id"] == "e2e-sensor")
        .unwrap()
        .clone();
    assert_eq!(me["region"], "eu");
    assert_eq!(me["connected"], true);

    // The control plane goes away: the sensor keeps enforcing its last good config.
    let grpc_url = cp.grpc_url();
    cp.shutdown().await;
    assert!(
        until(async || {
            let h: Value = http
                .get(format!("{base}/health"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            h["status"] == "degraded"
        })
        .await
    );
    assert_eq!(status(&http, &base, &key, "the osprey plan").await, 403);
    assert_eq!(status(&http, &base, &key, "hello").await, 200);
    s.shutdown().await;

    // Restarted while the control plane is still down: the persisted snapshot serves.
    let s = sensor(&grpc_url, dir.path(), &fake, "events2").await;
    let base = format!("http://{}", s.addr);
    assert_eq!(status(&http, &base, &key, "the osprey plan").await, 403);
    assert_eq!(status(&http, &base, &key, "hello").await, 200);
    s.shutdown().await;
}
