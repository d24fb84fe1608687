//! `glitch fleet`, the documented one-command fleet, end to end: two control-plane replicas on a
//! real PostgreSQL, sensors in two regions each connected to a different replica, a real
//! Kafka-protocol broker (tansu) and the audit consumer. A policy edit made through replica 1 is
//! enforced by both regions and shows up in replica 2's `GET /v1/sensors` rollout status; the
//! requests of both regions reach the audit index through Kafka.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::time::{Duration, Instant};

use glitch_e2e::{ChildProcess, url_after, workspace_bin};
use glitch_fake_anthropic::FakeAnthropic;
use glitch_testkit::postgres::postgres_db;
use serde_json::{Value, json};

const TOKEN: &str = "fleet-test-admin-token-0123456789";

fn free_base_port() -> u16 {
    // 51 consecutive free ports: try bases until one whole range binds.
    for _ in 0..50 {
        let base = 20_000 + (rand_port() % 400) * 100;
        let ok = (0..=50u16).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if ok {
            return base;
        }
    }
    panic!("no free range of 51 ports");
}

fn rand_port() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    u16::try_from((nanos ^ std::process::id()) % 400).unwrap()
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Value {
    let mut req = http.request(method, url).bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let response = req.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn send(http: &reqwest::Client, sensor: &str, key: &str, text: &str) -> u16 {
    http.post(format!("{sensor}/v1/messages"))
        .header("x-glitch-key", key)
        .header("x-api-key", "sk-ant-api03-fleet-test")
        .header("anthropic-version", "2023-06-01")
        .header("x-claude-code-session-id", "fleet-session")
        .json(&json!({"model": "claude-sonnet-4-5", "max_tokens": 16,
                      "messages": [{"role": "user", "content": text}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_edit_on_one_replica_is_enforced_in_both_regions() {
    let db = postgres_db().await;
    let upstream = FakeAnthropic::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = free_base_port();
    let tansu = std::env::var("GLITCH_TANSU_BIN").unwrap_or_else(|_| {
        format!(
            "{}/.cache/glitch-tools/tansu-0.6.0/bin/tansu",
            std::env::var("HOME").unwrap()
        )
    });
    assert!(
        std::path::Path::new(&tansu).exists(),
        "the tansu broker is needed: run scripts/install-tansu.sh (the test command does)"
    );
    let (_fleet, lines) = ChildProcess::spawn_lines(
        &workspace_bin("glitch"),
        &[
            "fleet".into(),
            format!("--data-dir={}", dir.path().display()),
            format!("--database={}", db.url),
            format!("--tansu={tansu}"),
            format!("--upstream={}", upstream.url()),
            format!("--base-port={base}"),
        ],
        &[("GLITCH_ADMIN_TOKEN", TOKEN)],
        "Ctrl-C stops everything.",
    );
    let out = lines.join("\n");
    let find = |marker: &str| {
        // The summary lines (log lines start with a timestamp).
        lines
            .iter()
            .filter(|l| l.starts_with("  "))
            .find_map(|l| url_after(l, marker))
            .unwrap_or_else(|| panic!("no {marker:?} in:\n{out}"))
    };
    let cp1 = find("cp-1 ");
    let cp2 = find("cp-2 ");
    let eu = find("sensor eu      ");
    let us = find("sensor us      ");
    let audit = find("audit API      ");
    let key = lines
        .iter()
        .find_map(|l| l.split("(fleet-demo): ").nth(1))
        .unwrap_or_else(|| panic!("no key in:\n{out}"))
        .trim()
        .to_owned();
    let project = lines
        .iter()
        .find_map(|l| l.split("glitch key for project ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    eprintln!("glitch fleet printed:\n{out}");

    // Both regions serve the demo project on the balanced template.
    assert_eq!(send(&http, &eu, &key, "hello from eu bluebird").await, 200);
    assert_eq!(send(&http, &us, &key, "hello from us bluebird").await, 200);

    // The edit, through replica 1: a policy blocking a codename, assigned to the project.
    let policy = call(
        &http,
        reqwest::Method::POST,
        &format!("{cp1}/v1/policies/"),
        Some(json!({"name": "Fleet edit", "custom_detectors": [
            {"name": "codename", "pattern": "(?i)\\bbluebird\\b", "action": "block"}]})),
    )
    .await;
    let policy_id = policy["id"].as_str().unwrap().to_owned();
    call(
        &http,
        reqwest::Method::PATCH,
        &format!("{cp1}/v1/projects/{project}"),
        Some(json!({"policy_id": policy_id})),
    )
    .await;
    let version = call(
        &http,
        reqwest::Method::GET,
        &format!("{cp2}/v1/config/version"),
        None,
    )
    .await["version"]
        .as_u64()
        .unwrap();

    // Enforced in both regions…
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let eu_status = send(&http, &eu, &key, "the bluebird plan").await;
        let us_status = send(&http, &us, &key, "the bluebird plan").await;
        if eu_status == 403 && us_status == 403 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not enforced in 30 s: eu {eu_status}, us {us_status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // …and both sensors report the new version, as replica 2 shows.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sensors = call(
            &http,
            reqwest::Method::GET,
            &format!("{cp2}/v1/sensors"),
            None,
        )
        .await;
        let list = sensors["results"].as_array().cloned().unwrap_or_default();
        let applied = |id: &str| {
            list.iter().find(|s| s["sensor_id"] == id).is_some_and(|s| {
                s["connected"] == true && s["applied_version"].as_u64() >= Some(version)
            })
        };
        if applied("sensor-eu") && applied("sensor-us") {
            let regions: Vec<&str> = list.iter().filter_map(|s| s["region"].as_str()).collect();
            assert!(
                regions.contains(&"eu") && regions.contains(&"us"),
                "{sensors}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "rollout not reported: {sensors}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Both regions' requests reach the audit index through Kafka.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let events = call(
            &http,
            reqwest::Method::GET,
            &format!("{audit}/v1/events?limit=100"),
            None,
        )
        .await;
        let regions: Vec<String> = events["results"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|e| e["region"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let blocked = events["results"]
            .as_array()
            .map(|l| l.iter().filter(|e| e["decision"] == "blocked").count())
            .unwrap_or(0);
        if regions.iter().any(|r| r == "eu") && regions.iter().any(|r| r == "us") && blocked >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "events not indexed: {events}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
