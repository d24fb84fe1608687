//! Fleet mode against a scripted control plane (a real gRPC server in the test implementing the
//! ConfigService): snapshot push → ACK and enforcement, an invalid push → NACK with the old config
//! still enforced, control plane gone → serving on, restart while it is down → the persisted
//! snapshot is served, and no snapshot at all → 503.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use common::*;
use glitch_proto::config::v1::config_service_server::{ConfigService, ConfigServiceServer};
use glitch_proto::config::v1::{
    ApiKey, ConfigPush, ConfigSnapshot, Policy, Project, SensorMessage, sensor_message,
};
use glitch_sensor::SensorArgs;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

type PushStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<ConfigPush, Status>> + Send>>;

#[derive(Clone)]
struct ScriptedControlPlane {
    current: watch::Receiver<ConfigSnapshot>,
    replies: Arc<Mutex<Vec<sensor_message::Message>>>,
}

#[tonic::async_trait]
impl ConfigService for ScriptedControlPlane {
    type StreamConfigStream = PushStream;

    async fn stream_config(
        &self,
        request: Request<Streaming<SensorMessage>>,
    ) -> Result<Response<PushStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(8);
        let mut current = self.current.clone();
        let replies = self.replies.clone();
        tokio::spawn(async move {
            let Some(Ok(first)) = inbound.next().await else {
                return;
            };
            let Some(sensor_message::Message::Hello(hello)) = first.message else {
                return;
            };
            let mut sent = hello.last_applied_version;
            let reader = tokio::spawn(async move {
                while let Some(Ok(msg)) = inbound.next().await {
                    if let Some(m) = msg.message {
                        replies.lock().unwrap().push(m);
                    }
                }
            });
            loop {
                let snapshot = current.borrow_and_update().clone();
                if snapshot.version != sent {
                    sent = snapshot.version;
                    let push = ConfigPush {
                        nonce: format!("n{}", snapshot.version),
                        snapshot: Some(snapshot),
                    };
                    if tx.send(Ok(push)).await.is_err() {
                        break;
                    }
                }
                if current.changed().await.is_err() {
                    break;
                }
            }
            reader.abort();
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

const FLEET_KEY: &str = "glitch_sk_fleet000000000000000000001";

fn snapshot(version: u64, pattern: &str) -> ConfigSnapshot {
    ConfigSnapshot {
        version,
        created_at: None,
        projects: vec![Project { id: "proj_fleet".into(), name: "Fleet".into(), policy_id: "pol_fleet".into() }],
        keys: vec![ApiKey {
            id: "key_fleet".into(),
            project_id: "proj_fleet".into(),
            key_sha256: Sha256::digest(FLEET_KEY.as_bytes()).to_vec(),
            display_prefix: "glitch_sk_flee".into(),
        }],
        policies: vec![Policy {
            id: "pol_fleet".into(),
            json: serde_json::json!({"name": "fleet", "custom_detectors": [{"name": "word", "pattern": pattern, "action": "block"}]}).to_string(),
        }],
    }
}

async fn start_control_plane(
    initial: ConfigSnapshot,
) -> (
    String,
    watch::Sender<ConfigSnapshot>,
    Arc<Mutex<Vec<sensor_message::Message>>>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = watch::channel(initial);
    let replies = Arc::new(Mutex::new(Vec::new()));
    let service = ScriptedControlPlane {
        current: rx,
        replies: replies.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(ConfigServiceServer::new(service))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
    (format!("http://{addr}"), tx, replies, server)
}

async fn start_fleet_sensor(
    cp_url: &str,
    state_dir: &std::path::Path,
    fake: &glitch_fake_anthropic::FakeAnthropic,
    events: &std::path::Path,
) -> glitch_sensor::RunningSensor {
    let args = SensorArgs::parse_from([
        "glitch-sensor".to_owned(),
        "--listen=127.0.0.1:0".into(),
        "--admin-listen=127.0.0.1:0".into(),
        format!("--control-plane={cp_url}"),
        format!("--state-dir={}", state_dir.display()),
        format!("--events=file:{}", events.display()),
        format!("--upstream={}", fake.url()),
        "--sensor-id=fleet-sensor-1".into(),
        "--region=eu-west".into(),
    ]);
    glitch_sensor::start(args).await.unwrap()
}

async fn status(client: &reqwest::Client, base: &str, text: &str) -> u16 {
    client
        .post(format!("{base}/v1/messages"))
        .header("x-glitch-key", FLEET_KEY)
        .header("x-api-key", anthropic_key())
        .json(&simple_body(text, false))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_mode_applies_pushes_nacks_bad_ones_and_survives_the_control_plane() {
    let fake = glitch_fake_anthropic::FakeAnthropic::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (cp_url, push, replies, server) =
        start_control_plane(snapshot(1, "(?i)\\bfalcon\\b")).await;
    let sensor = start_fleet_sensor(&cp_url, &state, &fake, &dir.path().join("events")).await;
    let base = format!("http://{}", sensor.addr);
    let client = reqwest::Client::new();

    // Push → ACK → enforced.
    assert!(
        eventually(Duration::from_secs(10), async || status(
            &client,
            &base,
            "the falcon plan"
        )
        .await
            == 403)
        .await
    );
    assert_eq!(status(&client, &base, "the heron plan").await, 200);
    // The ACK follows the swap: it may reach the control plane a moment after enforcement.
    assert!(
        eventually(Duration::from_secs(10), async || replies
            .lock()
            .unwrap()
            .iter()
            .any(|m| matches!(m, sensor_message::Message::Ack(a) if a.version == 1 && a.nonce == "n1")))
        .await
    );
    let health: serde_json::Value = get_json(&client, &format!("{base}/health")).await;
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(health["policy_version"], 1);
    assert!(
        health["config_source"]
            .as_str()
            .unwrap()
            .starts_with("control-plane:")
    );

    // A new policy reaches the sensor without a restart.
    push.send(snapshot(2, "(?i)\\bheron\\b")).unwrap();
    assert!(
        eventually(Duration::from_secs(10), async || status(
            &client,
            &base,
            "the heron plan"
        )
        .await
            == 403)
        .await
    );
    assert_eq!(status(&client, &base, "the falcon plan").await, 200);

    // An invalid snapshot is NACKed with its reason; version 2 stays enforced.
    let mut bad = snapshot(3, "x");
    bad.policies[0].json =
        r#"{"name":"bad","input_detectors":[{"detector_type":"pii/shoe_size"}]}"#.into();
    push.send(bad).unwrap();
    assert!(
        eventually(Duration::from_secs(10), async || replies.lock().unwrap().iter().any(|m| matches!(m, sensor_message::Message::Nack(n) if n.nonce == "n3" && n.version == 2 && n.error.contains("pii/shoe_size"))))
            .await
    );
    assert_eq!(status(&client, &base, "the heron plan").await, 403);

    // The control plane goes away: the sensor keeps serving its last good config, degraded.
    server.abort();
    drop(push);
    assert!(
        eventually(Duration::from_secs(10), async || {
            let h: serde_json::Value = get_json(&client, &format!("{base}/health")).await;
            h["status"] == "degraded"
        })
        .await
    );
    assert_eq!(status(&client, &base, "the heron plan").await, 403);
    assert_eq!(status(&client, &base, "hello").await, 200);
    sensor.shutdown().await;

    // Restarted while the control plane is still down: the persisted snapshot (version 2) serves.
    let sensor = start_fleet_sensor(&cp_url, &state, &fake, &dir.path().join("events2")).await;
    let base = format!("http://{}", sensor.addr);
    assert_eq!(status(&client, &base, "the heron plan").await, 403);
    assert_eq!(status(&client, &base, "hello").await, 200);
    let health: serde_json::Value = get_json(&client, &format!("{base}/health")).await;
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["policy_version"], 2);
    sensor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_with_no_snapshot_answers_503() {
    let fake = glitch_fake_anthropic::FakeAnthropic::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens here.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sensor = start_fleet_sensor(
        &format!("http://127.0.0.1:{port}"),
        &dir.path().join("state"),
        &fake,
        &dir.path().join("events"),
    )
    .await;
    let base = format!("http://{}", sensor.addr);
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{base}/v1/messages"))
        .header("x-glitch-key", FLEET_KEY)
        .json(&simple_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "overloaded_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Glitch: ")
    );
    let health: serde_json::Value = get_json(&client, &format!("{base}/health")).await;
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["has_config"], false);
    assert!(fake.requests().is_empty());
    sensor.shutdown().await;
    let events = read_events(&dir.path().join("events"));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].status, 503);
}
