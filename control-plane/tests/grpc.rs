//! The config stream with a real tonic client against real databases: hello → whole snapshot
//! → ACK recorded; a policy change pushed at once; NACK of an invalid snapshot (fault
//! injection) recorded with its error; stale answers ignored; no resend when nothing changed;
//! disconnect recorded. With PostgreSQL, two replicas on one database: a change through one
//! reaches a sensor streaming from the other. Also: TLS on both listeners, protocol errors, and
//! a 100-sensor fan-out.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "tests fail loudly and print what they measure"
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use glitch_detect::Policy;
use glitch_proto::config::v1::sensor_message::Message;
use glitch_proto::config::v1::{Ack, ConfigPush};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

const PUSH_WITHIN: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_stream_on_sqlite() {
    let db = sqlite_db();
    let mut a = args(&db);
    a.fault_injection = true;
    let h = Harness::start(a).await;
    stream_suite(&h).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_stream_on_postgres() {
    let db = postgres_db().await;
    let mut a = args(&db);
    a.fault_injection = true;
    let h = Harness::start(a).await;
    stream_suite(&h).await;
    h.stop().await;
}

fn snapshot(push: &ConfigPush) -> &glitch_proto::config::v1::ConfigSnapshot {
    push.snapshot.as_ref().expect("a push carries a snapshot")
}

async fn stream_suite(h: &Harness) {
    let mut team = example_policy("pol_team");
    team["name"] = json!("Team");
    h.post("/v1/policies/", &team).await;
    let (project_id, key_id, key) = project_with_key(h, "alpha", "pol_team").await;
    project_with_key(h, "beta", "strict").await;
    let version = h.config_version().await;

    // Hello from a sensor with nothing: the whole current snapshot.
    let mut s1 = SensorClient::connect(&h.cp.grpc_url(), "sensor-1", 0).await;
    let push = s1.next_push(PUSH_WITHIN).await;
    assert!(!push.nonce.is_empty());
    let snap = snapshot(&push);
    assert_eq!(snap.version, version);
    assert!(snap.created_at.is_some());
    assert_eq!(snap.projects.len(), 2);
    let alpha = snap.projects.iter().find(|p| p.id == project_id).unwrap();
    assert_eq!(
        (alpha.name.as_str(), alpha.policy_id.as_str()),
        ("Project alpha", "pol_team")
    );
    assert_eq!(snap.keys.len(), 2);
    let k = snap.keys.iter().find(|k| k.id == key_id).unwrap();
    assert_eq!(
        k.key_sha256,
        Sha256::digest(key.as_bytes()).to_vec(),
        "32 raw bytes"
    );
    assert_eq!(k.project_id, project_id);
    assert_eq!(k.display_prefix, key[..14]);
    // Custom policies only, as JSON a sensor can parse and validate; templates are not sent.
    assert_eq!(snap.policies.len(), 1);
    assert_eq!(snap.policies[0].id, "pol_team");
    let policy: Policy = serde_json::from_str(&snap.policies[0].json).unwrap();
    policy.validate().unwrap();
    assert_eq!(policy.id, "pol_team");
    assert_eq!(policy.name, "Team");

    // The sensor is recorded on hello, and its ACK is recorded.
    let sensor = h
        .wait_for_sensor("sensor-1", |s| s["connected"] == true)
        .await;
    assert_eq!(sensor["region"], "eu-test");
    assert_eq!(sensor["build"], "glitch-sensor test");
    assert_eq!(sensor["replica_id"], h.cp.replica_id.as_str());
    assert_eq!(sensor["applied_version"], 0);
    assert_eq!(sensor["up_to_date"], false);
    s1.ack(&push).await;
    let sensor = h
        .wait_for_sensor("sensor-1", |s| s["applied_version"] == version)
        .await;
    assert_eq!(sensor["up_to_date"], true);
    assert_eq!(sensor["config_version"], version);
    assert!(sensor["last_ack_at"].is_string());
    assert_eq!(sensor["last_nack_error"], serde_json::Value::Null);

    // Nothing changed: nothing sent.
    s1.expect_no_push(Duration::from_millis(300)).await;

    // A sensor that already has the current version gets nothing either.
    let mut s2 = SensorClient::connect(&h.cp.grpc_url(), "sensor-2", version).await;
    s2.expect_no_push(Duration::from_millis(300)).await;
    let sensor2 = h
        .wait_for_sensor("sensor-2", |s| s["connected"] == true)
        .await;
    assert_eq!(sensor2["up_to_date"], true);

    // A policy change reaches both at once, as a new whole snapshot.
    let mut edited = team.clone();
    edited["input_detectors"][0]["threshold"] = json!("L1");
    let started = Instant::now();
    let (status, _) = h
        .call(Method::PUT, "/v1/policies/pol_team", Some(&edited))
        .await;
    assert_eq!(status, StatusCode::OK);
    let push2 = s1.next_push(PUSH_WITHIN).await;
    let elapsed = started.elapsed();
    assert_eq!(snapshot(&push2).version, version + 1);
    assert_ne!(push2.nonce, push.nonce);
    let policy: Policy = serde_json::from_str(&snapshot(&push2).policies[0].json).unwrap();
    assert_eq!(
        policy.input_detectors[0].threshold,
        glitch_detect::Level::L1
    );
    assert_eq!(snapshot(&push2).keys.len(), 2);
    let push2b = s2.next_push(PUSH_WITHIN).await;
    assert_eq!(snapshot(&push2b).version, version + 1);
    eprintln!("policy PUT -> push received in {elapsed:?}");
    s1.ack(&push2).await;
    s2.ack(&push2b).await;
    h.wait_for_sensor("sensor-1", |s| s["applied_version"] == version + 1)
        .await;

    // An answer with a nonce that is not the last one sent is ignored.
    s1.send(Message::Ack(Ack {
        version: 999,
        nonce: push.nonce.clone(),
    }))
    .await;
    s1.send(Message::Ack(Ack {
        version: 998,
        nonce: "not-a-nonce".into(),
    }))
    .await;

    // Fault injection: an invalid snapshot; the sensor NACKs and keeps its last good version.
    let (status, injected) = h
        .call(Method::POST, "/v1/_test/push-invalid-policy", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{injected}");
    let bad_version = version + 2;
    assert_eq!(injected["config_version"], bad_version);
    let push3 = s1.next_push(PUSH_WITHIN).await;
    let snap3 = snapshot(&push3);
    assert_eq!(snap3.version, bad_version);
    let invalid = snap3
        .policies
        .iter()
        .find(|p| p.id == "pol_fault_injected")
        .expect("the injected policy");
    let parsed: Policy = serde_json::from_str(&invalid.json).unwrap();
    let error = parsed.validate().unwrap_err();
    // Nothing was stored as a policy.
    assert_eq!(h.get("/v1/policies/").await["count"], 1);
    s1.nack(&push3, version + 1, &error.to_string()).await;
    let sensor = h
        .wait_for_sensor("sensor-1", |s| s["last_nack_version"] == version + 1)
        .await;
    assert_eq!(
        sensor["applied_version"],
        version + 1,
        "kept its last good version"
    );
    assert_eq!(sensor["up_to_date"], false);
    assert_eq!(sensor["config_version"], bad_version);
    assert!(sensor["last_nack_at"].is_string());
    assert!(
        sensor["last_nack_error"]
            .as_str()
            .unwrap()
            .contains("input_detectors[0].detector_type"),
        "{sensor}"
    );
    // The stale ACKs above changed nothing.
    assert_ne!(sensor["applied_version"], 999);
    // The rejected version is not sent again.
    s1.expect_no_push(Duration::from_millis(300)).await;

    // Revocation is pushed at once, and the next real change drops the injected policy.
    let (status, _) = h
        .call(Method::DELETE, &format!("/v1/keys/{key_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let push4 = s1.next_push(PUSH_WITHIN).await;
    let snap4 = snapshot(&push4);
    assert_eq!(snap4.version, version + 3);
    assert!(
        snap4.keys.iter().all(|k| k.id != key_id),
        "revoked key left out"
    );
    assert_eq!(snap4.keys.len(), 1);
    assert!(snap4.policies.iter().all(|p| p.id != "pol_fault_injected"));
    s1.ack(&push4).await;
    h.wait_for_sensor("sensor-1", |s| s["up_to_date"] == true)
        .await;

    // Disconnect: recorded.
    drop(s1);
    let sensor = h
        .wait_for_sensor("sensor-1", |s| s["connected"] == false)
        .await;
    assert_eq!(sensor["applied_version"], version + 3);
    // Reconnecting with the current version: no push, connected again.
    let mut again = SensorClient::connect(&h.cp.grpc_url(), "sensor-1", version + 3).await;
    again.expect_no_push(Duration::from_millis(200)).await;
    h.wait_for_sensor("sensor-1", |s| s["connected"] == true)
        .await;
    let sensors = h.get("/v1/sensors").await;
    assert_eq!(sensors["count"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_end_the_stream() {
    let db = sqlite_db();
    let h = Harness::start(args(&db)).await;
    let channel = tonic::transport::Endpoint::from_shared(h.cp.grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client =
        glitch_proto::config::v1::config_service_client::ConfigServiceClient::new(channel);
    // An ACK before any hello.
    let first = glitch_proto::config::v1::SensorMessage {
        message: Some(Message::Ack(Ack {
            version: 1,
            nonce: "x".into(),
        })),
    };
    let outbound = futures_util::stream::iter(vec![first]).chain(futures_util::stream::pending());
    let mut pushes = client.stream_config(outbound).await.unwrap().into_inner();
    let status = pushes.message().await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    // An empty sensor id.
    let outbound =
        futures_util::stream::iter(vec![hello("", 0)]).chain(futures_util::stream::pending());
    let mut pushes = client.stream_config(outbound).await.unwrap().into_inner();
    let status = pushes.message().await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(h.get("/v1/sensors").await["count"], 0);
    h.stop().await;
}

use futures_util::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_sensors_to_reconnect() {
    let db = sqlite_db();
    let h = Harness::start(args(&db)).await;
    let mut s = SensorClient::connect(&h.cp.grpc_url(), "sensor-x", 0).await;
    let push = s.next_push(PUSH_WITHIN).await;
    s.ack(&push).await;
    h.wait_for_sensor("sensor-x", |s| s["up_to_date"] == true)
        .await;
    let store = h.cp.store().clone();
    let stopping = tokio::spawn(h.cp.shutdown());
    let result = s.next_result(Duration::from_secs(5)).await;
    match result {
        Err(status) => assert_eq!(status.code(), tonic::Code::Unavailable),
        Ok(None) => {}
        Ok(Some(push)) => panic!("unexpected push {push:?}"),
    }
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("shutdown finished")
        .unwrap();
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres() {
    let db = postgres_db().await;
    let mut args_a = args(&db);
    args_a.replica_id = Some("replica-a".into());
    let mut args_b = args(&db);
    args_b.replica_id = Some("replica-b".into());
    let a = Harness::start(args_a).await;
    let b = Harness::start(args_b).await;

    let mut sensor = SensorClient::connect(&b.cp.grpc_url(), "sensor-on-b", 0).await;
    let first = sensor.next_push(PUSH_WITHIN).await;
    assert_eq!(snapshot(&first).version, 1);
    sensor.ack(&first).await;
    // Both replicas see the sensor (one database), connected to replica B.
    let seen = a
        .wait_for_sensor("sensor-on-b", |s| s["applied_version"] == 1)
        .await;
    assert_eq!(seen["replica_id"], "replica-b");
    assert_eq!(seen["connected"], true);

    // A change through replica A reaches the sensor on replica B (LISTEN/NOTIFY).
    for round in 0..3 {
        let started = Instant::now();
        let project = a
            .post(
                "/v1/projects",
                &json!({"id": format!("proj_{round}"), "name": "Via A", "policy_id": "monitor"}),
            )
            .await;
        let push = sensor.next_push(PUSH_WITHIN).await;
        let elapsed = started.elapsed();
        let snap = snapshot(&push);
        assert_eq!(snap.version, a.config_version().await);
        assert!(snap.projects.iter().any(|p| p.id == project["id"]));
        eprintln!("change on replica A -> push from replica B in {elapsed:?}");
        sensor.ack(&push).await;
    }
    let version = a.config_version().await;
    b.wait_for_sensor("sensor-on-b", |s| s["applied_version"] == version)
        .await;

    // Stopping replica B marks its sensors disconnected.
    b.stop().await;
    a.wait_for_sensor("sensor-on-b", |s| s["connected"] == false)
        .await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_on_both_listeners() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let db = sqlite_db();
    let mut a = args(&db);
    a.tls_cert = Some(cert_path);
    a.tls_key = Some(key_path);
    let cp = glitch_control_plane::start(a).await.unwrap();
    assert!(cp.tls);
    assert!(cp.rest_url().starts_with("https://"));

    // REST over HTTPS (rustls client that trusts the self-signed certificate).
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, http_body_util::Empty<bytes::Bytes>>(connector);
    let request = http::Request::get(format!(
        "https://localhost:{}/v1/config/version",
        cp.rest_addr.port()
    ))
    .header("authorization", format!("Bearer {TOKEN}"))
    .body(http_body_util::Empty::new())
    .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    use http_body_util::BodyExt;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["version"], 1);

    // gRPC over TLS.
    let channel = tonic::transport::Endpoint::from_shared(format!(
        "https://localhost:{}",
        cp.grpc_addr.port()
    ))
    .unwrap()
    .tls_config(
        tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(cert.cert.pem()))
            .domain_name("localhost"),
    )
    .unwrap()
    .connect()
    .await
    .unwrap();
    let mut sensor = SensorClient::connect_on(channel, "tls-sensor", 0).await;
    let push = sensor.next_push(PUSH_WITHIN).await;
    assert_eq!(snapshot(&push).version, 1);
    // Plain HTTP to the TLS listener does not work.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/health", cp.rest_addr))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    cp.shutdown().await;
}

async fn wait_all_up_to_date(h: &Harness, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.get("/v1/sensors").await["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["up_to_date"] == true)
        .count()
        < n
    {
        assert!(Instant::now() < deadline, "not every sensor ACKed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A change reaches 100 connected sensors: all get it (the latencies are printed; the bound
/// asserted is a generous functional one, not a benchmark).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_to_100_sensors() {
    let db = sqlite_db();
    let h = Harness::start(args(&db)).await;
    let channel = tonic::transport::Endpoint::from_shared(h.cp.grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut sensors = Vec::new();
    for i in 0..100 {
        // One HTTP/2 connection, 100 streams (like 100 sensors behind one proxy), plus a few
        // separate connections.
        let channel = if i % 25 == 0 {
            tonic::transport::Endpoint::from_shared(h.cp.grpc_url())
                .unwrap()
                .connect()
                .await
                .unwrap()
        } else {
            channel.clone()
        };
        let mut s = SensorClient::connect_on(channel, &format!("fan-{i:03}"), 0).await;
        let push = s.next_push(Duration::from_secs(5)).await;
        s.ack(&push).await;
        sensors.push(s);
    }
    wait_all_up_to_date(&h, 100).await;

    let mut all = Vec::new();
    for round in 0..5 {
        let started = Instant::now();
        h.post(
            "/v1/projects",
            &json!({"id": format!("proj_fan_{round}"), "name": "Fan"}),
        )
        .await;
        let expected = h.config_version().await;
        let waits = sensors.iter_mut().map(|s| async move {
            let push = s.next_push(Duration::from_secs(5)).await;
            (push, started.elapsed())
        });
        let results = futures_util::future::join_all(waits).await;
        let mut latencies: Vec<Duration> = Vec::new();
        for (s, (push, latency)) in sensors.iter().zip(results) {
            assert_eq!(snapshot(&push).version, expected);
            s.ack(&push).await;
            latencies.push(latency);
        }
        latencies.sort();
        // Every ACK recorded before the next round, so rounds do not overlap.
        wait_all_up_to_date(&h, 100).await;
        eprintln!(
            "round {round}: REST change -> push at 100 sensors: p50 {:?}, p99 {:?}, max {:?}",
            latencies[49], latencies[98], latencies[99]
        );
        all.extend(latencies);
    }
    all.sort();
    eprintln!(
        "fan-out over {} pushes: p50 {:?}, p99 {:?}",
        all.len(),
        all[all.len() / 2],
        all[all.len() * 99 / 100]
    );
    // The replica's /metrics (no token) counts what happened.
    let (status, metrics) = h.call_with(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().unwrap().to_owned();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"))
    };
    assert_eq!(value("glitch_control_plane_connected_sensors"), 100.0);
    assert!(value("glitch_control_plane_config_acks_total") >= 600.0);
    assert!(value("glitch_control_plane_config_pushes_total") >= 600.0);
    assert_eq!(
        value("glitch_control_plane_config_version"),
        h.config_version().await as f64
    );
    h.stop().await;
}
