//! Shared test harness: real databases (from `glitch-testkit`: a temp SQLite file, or a fresh
//! database on a real PostgreSQL server), the control plane started in-process, a REST client and
//! a gRPC sensor client.

#![allow(dead_code, reason = "each test binary uses part of the harness")]

use std::time::{Duration, Instant};

use glitch_control_plane::{ControlPlaneArgs, Running};
use glitch_proto::config::v1::config_service_client::ConfigServiceClient;
use glitch_proto::config::v1::sensor_message::Message;
use glitch_proto::config::v1::{Ack, ConfigPush, Nack, SensorHello, SensorMessage};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::mpsc;
use tonic::Streaming;

pub const TOKEN: &str = "test-admin-token-0123456789";

// ---- databases (shared harness) --------------------------------------------------------------

#[allow(unused_imports, reason = "each test binary uses part of the harness")]
pub use glitch_testkit::postgres::{TestDb, postgres_db, sqlite_db};

// ---- the control plane and a REST client ------------------------------------------------------

pub struct Harness {
    pub cp: Running,
    pub client: reqwest::Client,
    pub base: String,
}

pub fn args(db: &TestDb) -> ControlPlaneArgs {
    ControlPlaneArgs::for_tests(db.url.clone(), TOKEN)
}

impl Harness {
    pub async fn start(args: ControlPlaneArgs) -> Harness {
        let cp = glitch_control_plane::start(args).await.unwrap();
        let base = cp.rest_url();
        Harness {
            cp,
            client: reqwest::Client::new(),
            base,
        }
    }

    pub async fn stop(self) {
        self.cp.shutdown().await;
    }

    /// Sends a request with the admin token; returns the status and the JSON body (Null when
    /// the body is empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        self.call_with(method, path, body, Some(TOKEN)).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let plain_text = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/plain"));
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else if plain_text {
            // `/metrics` answers in the Prometheus text format.
            Value::String(text)
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
        };
        (status, value)
    }

    /// Sends a raw body with the admin token.
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        body: &'static str,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    pub async fn post(&self, path: &str, body: &Value) -> Value {
        let (status, value) = self.call(Method::POST, path, Some(body)).await;
        assert!(status.is_success(), "POST {path}: {status} {value}");
        value
    }

    pub async fn config_version(&self) -> u64 {
        self.get("/v1/config/version").await["version"]
            .as_u64()
            .unwrap()
    }

    /// Polls `GET /v1/sensors` until `sensor_id` satisfies `check` (5 s at most).
    pub async fn wait_for_sensor(&self, sensor_id: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let sensors = self.get("/v1/sensors").await;
            let found = sensors["results"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["sensor_id"] == sensor_id)
                .cloned();
            if let Some(sensor) = &found
                && check(sensor)
            {
                return sensor.clone();
            }
            assert!(
                Instant::now() < deadline,
                "sensor {sensor_id} never reached the expected state: {found:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A project `proj_<suffix>` on `policy_id` with one key; returns (project id, key id, key).
pub async fn project_with_key(
    h: &Harness,
    suffix: &str,
    policy_id: &str,
) -> (String, String, String) {
    let project = h
        .post(
            "/v1/projects",
            &serde_json::json!({"id": format!("proj_{suffix}"), "name": format!("Project {suffix}"), "policy_id": policy_id}),
        )
        .await;
    let id = project["id"].as_str().unwrap().to_owned();
    let key = h
        .post(
            &format!("/v1/projects/{id}/keys"),
            &serde_json::json!({"name": "ci"}),
        )
        .await;
    (
        id,
        key["id"].as_str().unwrap().to_owned(),
        key["key"].as_str().unwrap().to_owned(),
    )
}

/// The contract's example policy (§4) with the given id.
pub fn example_policy(id: &str) -> Value {
    serde_json::json!({
        "id": id, "name": "Balanced Security", "policy_mode": "IO",
        "input_detectors": [
            {"detector_type": "prompt_attack", "threshold": "L2", "action": "block"},
            {"detector_type": "pii/credit_card", "threshold": "L1", "action": "block"},
            {"detector_type": "secrets/*", "threshold": "L2", "action": "block"}],
        "output_detectors": [{"detector_type": "secrets/*", "threshold": "L2", "action": "log"}],
        "allow_list": {"entries": ["*.example.com"], "match_type": "wildcard"},
        "deny_list": {"entries": [], "match_type": "exact"},
        "custom_detectors": [{"name": "project_codename", "pattern": "(?i)\\bbluebird\\b",
                              "threshold": "L2", "action": "block", "scope": "input"}],
        "rate_limits": {"enabled": false, "requests_per_minute": 60, "tokens_per_minute": 100000,
                        "max_input_tokens": 200000}
    })
}

// ---- a gRPC sensor ----------------------------------------------------------------------------

pub struct SensorClient {
    pub sensor_id: String,
    tx: mpsc::Sender<SensorMessage>,
    pushes: Streaming<ConfigPush>,
}

pub fn hello(sensor_id: &str, last_applied_version: u64) -> SensorMessage {
    SensorMessage {
        message: Some(Message::Hello(SensorHello {
            sensor_id: sensor_id.into(),
            region: "eu-test".into(),
            build: "glitch-sensor test".into(),
            last_applied_version,
        })),
    }
}

impl SensorClient {
    pub async fn connect(
        grpc_url: &str,
        sensor_id: &str,
        last_applied_version: u64,
    ) -> SensorClient {
        let channel = tonic::transport::Endpoint::from_shared(grpc_url.to_owned())
            .unwrap()
            .connect()
            .await
            .unwrap();
        Self::connect_on(channel, sensor_id, last_applied_version).await
    }

    pub async fn connect_on(
        channel: tonic::transport::Channel,
        sensor_id: &str,
        last_applied_version: u64,
    ) -> SensorClient {
        let mut client = ConfigServiceClient::new(channel);
        let (tx, rx) = mpsc::channel::<SensorMessage>(16);
        tx.send(hello(sensor_id, last_applied_version))
            .await
            .unwrap();
        let outbound =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|m| (m, rx)) },
            );
        let pushes = client.stream_config(outbound).await.unwrap().into_inner();
        SensorClient {
            sensor_id: sensor_id.into(),
            tx,
            pushes,
        }
    }

    /// The next push, within `within`.
    pub async fn next_push(&mut self, within: Duration) -> ConfigPush {
        match tokio::time::timeout(within, self.pushes.message()).await {
            Ok(Ok(Some(push))) => push,
            Ok(Ok(None)) => panic!("{}: stream ended", self.sensor_id),
            Ok(Err(status)) => panic!("{}: stream failed: {status}", self.sensor_id),
            Err(_) => panic!("{}: no push within {within:?}", self.sensor_id),
        }
    }

    /// Asserts nothing arrives for `quiet`.
    pub async fn expect_no_push(&mut self, quiet: Duration) {
        if let Ok(message) = tokio::time::timeout(quiet, self.pushes.message()).await {
            panic!("{}: unexpected message {message:?}", self.sensor_id);
        }
    }

    /// The stream's next result (a push, its end, or an error status).
    pub async fn next_result(
        &mut self,
        within: Duration,
    ) -> Result<Option<ConfigPush>, tonic::Status> {
        tokio::time::timeout(within, self.pushes.message())
            .await
            .expect("nothing within the deadline")
    }

    pub async fn send(&self, message: Message) {
        self.tx
            .send(SensorMessage {
                message: Some(message),
            })
            .await
            .unwrap();
    }

    pub async fn ack(&self, push: &ConfigPush) {
        let version = push.snapshot.as_ref().unwrap().version;
        self.send(Message::Ack(Ack {
            version,
            nonce: push.nonce.clone(),
        }))
        .await;
    }

    pub async fn nack(&self, push: &ConfigPush, kept_version: u64, error: &str) {
        self.send(Message::Nack(Nack {
            version: kept_version,
            nonce: push.nonce.clone(),
            error: error.into(),
        }))
        .await;
    }
}
