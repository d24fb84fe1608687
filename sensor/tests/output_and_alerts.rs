//! Output scanning (whole JSON responses and SSE streams, matches across deltas), the scan cache
//! and alert delivery to a webhook.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::Value;

const OUTPUT_POLICY: &str = r#"
policies:
  - id: pol_out
    name: Output rules
    custom_detectors:
      # The fake's default reply is "Hello from the fake Anthropic upstream.", streamed word by word.
      - {name: leak, pattern: "fake\\s+Anthropic", action: block, scope: output}
  - id: pol_out_log
    name: Output logging
    custom_detectors:
      - {name: leak, pattern: "fake\\s+Anthropic", action: log, scope: output}
      - {name: ticket, pattern: "SEC-\\d+", action: alert, scope: input}
projects:
  - {id: proj_out, policy_id: pol_out}
  - {id: proj_log, policy_id: pol_out_log}
keys:
  - {id: key_out, project_id: proj_out, key: glitch_sk_test0000000000000000001}
  - {id: key_log, project_id: proj_log, key: glitch_sk_test0000000000000000002}
"#;

#[tokio::test]
async fn blocking_output_in_a_whole_response_becomes_a_403() {
    let mut h = Harness::start_with(OUTPUT_POLICY, &[], None).await;
    let resp = h
        .messages(KEY, &simple_body("say hello", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["x-risk-blocked"], "true");
    assert_eq!(resp.headers()["x-risk-categories"], "custom/leak");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "permission_error");
    assert_eq!(
        h.fake.requests().len(),
        1,
        "the request itself was allowed and forwarded"
    );
    let events = h.stop().await;
    let e = &events[0];
    assert_eq!(e.decision, "blocked");
    assert_eq!(e.completion, "blocked_output");
    assert_eq!(e.upstream_status, 200);
    assert_eq!(e.status, 403);
    assert_eq!(e.findings[0].direction, "output");
    assert_eq!(e.findings[0].location, "content[0]");
}

#[tokio::test]
async fn blocking_output_in_a_stream_ends_it_with_an_error_event() {
    let mut h = Harness::start_with(OUTPUT_POLICY, &[], None).await;
    let resp = h
        .messages(KEY, &simple_body("say hello", true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.contains("event: message_start"));
    assert!(
        text.contains("\"text\":\" fake\""),
        "deltas before the match are relayed: {text}"
    );
    assert!(
        !text.contains("Anthropic"),
        "the delta completing the match is not relayed: {text}"
    );
    assert!(!text.contains("message_stop"));
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    assert!(last.starts_with("event: error\ndata: "), "{last}");
    let envelope: Value =
        serde_json::from_str(last.trim_start_matches("event: error\ndata: ")).unwrap();
    assert_eq!(envelope["error"]["type"], "permission_error");
    assert!(
        envelope["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Request blocked by Glitch security policy")
    );
    let events = h.stop().await;
    assert_eq!(events[0].decision, "blocked");
    assert_eq!(events[0].completion, "blocked_output");
    assert_eq!(events[0].findings[0].detector_type, "custom/leak");
}

#[tokio::test]
async fn logged_output_findings_are_recorded_and_the_stream_completes() {
    let mut h = Harness::start_with(OUTPUT_POLICY, &[], None).await;
    for stream in [true, false] {
        let resp = h
            .messages(OTHER_KEY, &simple_body("say hello", stream))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        assert!(text.contains("Anthropic"));
    }
    let events = h.stop().await;
    assert_eq!(events.len(), 2);
    for e in &events {
        assert_eq!(e.decision, "flagged", "{e:?}");
        assert_eq!(e.completion, "complete");
        assert_eq!(e.findings.len(), 1);
        assert_eq!(e.findings[0].direction, "output");
        assert_eq!(e.findings[0].action, "log");
    }
}

#[tokio::test]
async fn resent_conversation_turns_come_from_the_scan_cache() {
    let h = Harness::start().await;
    let body = simple_body(
        "a long first turn that is re-sent on every later turn",
        false,
    );
    for _ in 0..3 {
        assert_eq!(h.messages(KEY, &body).send().await.unwrap().status(), 200);
    }
    let metrics = h
        .client
        .get(format!("{}/metrics", h.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    // Two segments (system, message) per request: scanned once, then cached twice.
    assert_eq!(
        value("glitch_sensor_scan_cache_misses_total"),
        2,
        "{metrics}"
    );
    assert_eq!(value("glitch_sensor_scan_cache_hits_total"), 4, "{metrics}");
}

#[tokio::test]
async fn alert_findings_are_posted_to_the_webhook() {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let flag = format!("--alert-webhook={hook}");
    let mut h = Harness::start_with(OUTPUT_POLICY, &[&flag], None).await;
    let resp = h
        .messages(OTHER_KEY, &simple_body("please look at SEC-1234", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let event_id = resp.headers()["x-glitch-event-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let got = eventually(Duration::from_secs(10), async || {
        !received.lock().unwrap().is_empty()
    })
    .await;
    assert!(got, "no alert arrived");
    let alert = received.lock().unwrap()[0].clone();
    assert_eq!(alert["kind"], "glitch.alert.v1");
    assert_eq!(alert["event_id"], event_id.as_str());
    assert_eq!(alert["project_id"], "proj_log");
    assert_eq!(alert["findings"][0]["detector_type"], "custom/ticket");
    assert!(
        !alert.to_string().contains("SEC-1234"),
        "excerpts are masked: {alert}"
    );
    h.stop().await;
}
