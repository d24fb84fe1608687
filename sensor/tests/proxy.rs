//! The sensor's HTTP surface (contract §2), one test per row and rule, against the fake
//! Anthropic upstream, with the events checked in the event log afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

#[tokio::test]
async fn allowed_message_is_forwarded_byte_for_byte_with_risk_headers() {
    let mut h = Harness::start().await;
    let body = simple_body("Print exactly the word: routed", false);
    let sent = serde_json::to_vec(&body).unwrap();
    let resp = h
        .messages(KEY, &body)
        .header("x-unknown-client-header", "kept")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(headers["x-risk-blocked"], "false");
    assert_eq!(headers["x-risk-categories"], "");
    assert_eq!(headers["x-risk-confidence"], "0.00");
    let event_id = headers["x-glitch-event-id"].to_str().unwrap().to_owned();
    assert!(
        headers.contains_key("request-id"),
        "upstream headers pass back"
    );
    assert!(headers.contains_key("anthropic-ratelimit-requests-limit"));
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["content"][0]["text"], "routed");

    let seen = h.fake.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.path_and_query, "/v1/messages?beta=true");
    assert_eq!(
        r.body.as_ref(),
        sent.as_slice(),
        "body forwarded byte for byte"
    );
    assert_eq!(r.headers["x-api-key"], anthropic_key().as_str());
    assert_eq!(r.headers["anthropic-version"], "2023-06-01");
    assert!(
        r.headers["anthropic-beta"]
            .to_str()
            .unwrap()
            .contains("claude-code-20250219")
    );
    assert_eq!(
        r.headers["x-claude-code-session-id"],
        "11111111-2222-3333-4444-555555555555"
    );
    assert_eq!(r.headers["x-unknown-client-header"], "kept");
    assert!(
        !r.headers.contains_key("x-glitch-key"),
        "X-Glitch-Key must be stripped"
    );

    let events = h.stop().await;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.event_id, event_id);
    assert_eq!(e.decision, "allowed");
    assert_eq!(e.project_id, "proj_test");
    assert_eq!(e.key_id, "key_test");
    assert_eq!(e.session_id, "11111111-2222-3333-4444-555555555555");
    assert_eq!(e.sensor_id, "sensor-test");
    assert_eq!(e.region, "test-region");
    assert_eq!(e.method, "POST");
    assert_eq!(e.path, "/v1/messages");
    assert_eq!(e.query, "beta=true");
    assert_eq!(e.model, "claude-sonnet-4-5-20250929");
    assert!(!e.stream);
    assert_eq!(e.status, 200);
    assert_eq!(e.upstream_status, 200);
    assert!(
        e.input_tokens > 0 && e.output_tokens > 0,
        "usage recorded: {e:?}"
    );
    assert_eq!(e.completion, "complete");
    assert_eq!(e.request_headers["x-api-key"], "[REDACTED]");
    assert_eq!(e.request_headers["x-glitch-key"], "[REDACTED]");
    assert_eq!(e.request_headers["anthropic-version"], "2023-06-01");
    let conv = e.conversation.as_ref().unwrap();
    assert!(
        conv.messages_json
            .contains("Print exactly the word: routed")
    );
    assert!(conv.system_json.contains("You are Claude Code"));
    assert_eq!(conv.response_text, "routed");
    let latency = e.latency_ms.as_ref().unwrap();
    assert!(latency.total > 0.0 && latency.upstream_first_byte > 0.0);
    assert!(e.time.is_some());
    assert_eq!(
        uuid::Uuid::parse_str(&e.event_id)
            .unwrap()
            .get_version_num(),
        7
    );
}

#[tokio::test]
async fn oauth_bearer_tokens_are_forwarded_like_api_keys() {
    let h = Harness::start().await;
    let resp = h
        .client
        .post(format!("{}/v1/messages", h.base))
        .header("authorization", format!("Bearer {}", oauth_token()))
        .header("anthropic-version", "2023-06-01")
        .header("x-glitch-key", KEY)
        .json(&simple_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = h.fake.requests();
    assert_eq!(
        seen[0].headers["authorization"],
        format!("Bearer {}", oauth_token()).as_str()
    );
    assert!(!seen[0].headers.contains_key("x-api-key"));
}

#[tokio::test]
async fn streams_are_relayed_event_by_event() {
    let mut h = Harness::start().await;
    let resp = h
        .messages(KEY, &simple_body("Print exactly the word: streamed", true))
        .header("x-fake-scenario", "slow-stream-ms-150")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let start = Instant::now();
    let mut arrivals = Vec::new();
    let mut text = String::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        arrivals.push(start.elapsed());
    }
    // Events were produced 150 ms apart; the sensor must not hold them back, so they arrive
    // spread out rather than all at the end.
    assert!(arrivals.len() >= 5, "{arrivals:?}");
    let first = arrivals[0];
    let last = *arrivals.last().unwrap();
    assert!(
        last - first >= Duration::from_millis(600),
        "relayed in a burst: {arrivals:?}"
    );
    for kind in [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ] {
        assert!(
            text.contains(&format!("event: {kind}")),
            "missing {kind} in {text}"
        );
    }
    let events = h.stop().await;
    assert_eq!(events.len(), 1);
    assert!(events[0].stream);
    assert_eq!(events[0].completion, "complete");
    assert!(events[0].output_tokens > 0);
    assert_eq!(
        events[0].conversation.as_ref().unwrap().response_text,
        "streamed"
    );
}

#[tokio::test]
async fn thinking_and_tool_use_streams_pass_unchanged() {
    let h = Harness::start().await;
    for scenario in ["thinking", "tool-use"] {
        let direct = h
            .client
            .post(format!("{}/v1/messages", h.fake.url()))
            .header("x-fake-scenario", scenario)
            .json(&simple_body("hi", true))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let via = h
            .messages(KEY, &simple_body("hi", true))
            .header("x-fake-scenario", scenario)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let strip_ids = |s: &str| {
            s.lines()
                .map(|l| if l.contains("\"id\"") { "<id line>" } else { l })
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip_ids(&direct), strip_ids(&via), "{scenario}");
        assert!(via.contains(if scenario == "thinking" {
            "thinking_delta"
        } else {
            "input_json_delta"
        }));
    }
}

#[tokio::test]
async fn auth_failures_get_401_and_never_reach_upstream() {
    let mut h = Harness::start().await;
    let cases: [(Option<&str>, &str); 3] = [
        (None, "missing"),
        (Some("not-a-glitch-key"), "malformed"),
        (
            Some("glitch_sk_unknownunknownunknown0"),
            "invalid or revoked",
        ),
    ];
    for (key, expect) in cases {
        let mut req = h
            .client
            .post(format!("{}/v1/messages", h.base))
            .header("x-api-key", anthropic_key())
            .json(&simple_body("hi", false));
        if let Some(key) = key {
            req = req.header("x-glitch-key", key);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert!(
            !resp.headers().contains_key("x-risk-blocked"),
            "no risk headers before auth"
        );
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "authentication_error");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.starts_with("Glitch: ") && msg.contains(expect), "{msg}");
        assert!(v["request_id"].as_str().unwrap().starts_with("req_"));
    }
    assert!(h.fake.requests().is_empty());
    let events = h.stop().await;
    assert_eq!(events.len(), 3);
    assert!(
        events
            .iter()
            .all(|e| e.decision == "auth_failed" && e.status == 401 && e.project_id.is_empty())
    );
    assert_eq!(events[0].error, "missing_key");
    assert_eq!(events[2].error, "unknown_key");
}

#[tokio::test]
async fn blocking_custom_detector_refuses_with_403_and_masks_the_event() {
    let mut h = Harness::start().await;
    let secret_key = anthropic_key();
    let resp = h
        .messages(
            KEY,
            &simple_body("Tell me about project Bluebird please", true),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["x-risk-blocked"], "true");
    assert_eq!(resp.headers()["x-risk-categories"], "custom/codename");
    assert_eq!(resp.headers()["x-risk-confidence"], "1.00");
    assert_eq!(resp.headers()["x-should-retry"], "false");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "permission_error");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Request blocked by Glitch security policy"),
        "{msg}"
    );
    assert!(msg.contains("custom/codename"));
    assert!(
        h.fake.requests().is_empty(),
        "the upstream never sees a blocked request"
    );

    let events = h.stop().await;
    let e = &events[0];
    assert_eq!(e.decision, "blocked");
    assert_eq!(e.status, 403);
    assert_eq!(e.upstream_status, 0);
    let risk = e.risk.as_ref().unwrap();
    assert!(risk.blocked);
    assert_eq!(risk.categories, vec!["custom/codename"]);
    let f = &e.findings[0];
    assert_eq!(f.detector_type, "custom/codename");
    assert_eq!(f.source, "custom");
    assert_eq!(f.action, "block");
    assert_eq!(f.level, "L2");
    assert_eq!(f.direction, "input");
    assert_eq!(f.location, "messages[0].content[0]");
    assert!(!f.excerpt.contains("Bluebird"));
    let conv = e.conversation.as_ref().unwrap();
    assert!(
        !conv.messages_json.contains("Bluebird"),
        "matched value masked in the stored conversation"
    );
    assert!(conv.messages_json.contains("project Bl********"));
    let bytes = event_log_bytes(&h.events_dir());
    assert!(!contains(&bytes, &secret_key));
    assert!(!contains(&bytes, KEY));
}

#[tokio::test]
async fn log_action_flags_but_forwards() {
    let mut h = Harness::start().await;
    let resp = h
        .messages(KEY, &simple_body("look at SEC-1234", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-risk-blocked"], "false");
    assert_eq!(resp.headers()["x-risk-categories"], "custom/ticket");
    assert_eq!(h.fake.requests().len(), 1);
    let events = h.stop().await;
    assert_eq!(events[0].decision, "flagged");
    assert_eq!(events[0].findings[0].action, "log");
}

#[tokio::test]
async fn scans_tool_results_tool_use_and_system_but_not_tool_definitions() {
    let h = Harness::start().await;
    let mk = |messages: Value, extra: Value| {
        let mut body = json!({"model": "m", "max_tokens": 5, "messages": messages});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        body
    };
    let blocked = [
        mk(
            json!([{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"bluebird"}]}]}]),
            json!({}),
        ),
        mk(
            json!([{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"Bash","input":{"command":"echo bluebird"}}]}]),
            json!({}),
        ),
        mk(
            json!([{"role":"user","content":"hi"}]),
            json!({"system": "codename bluebird"}),
        ),
        mk(
            json!([{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"BLUEBIRD"}}]}]),
            json!({}),
        ),
    ];
    for body in &blocked {
        let resp = h.messages(KEY, body).send().await.unwrap();
        assert_eq!(resp.status(), 403, "{body}");
    }
    let tools_only = mk(
        json!([{"role":"user","content":"hi"}]),
        json!({"tools": [{"name": "bluebird_tool", "description": "mentions bluebird", "input_schema": {}}]}),
    );
    assert_eq!(
        h.messages(KEY, &tools_only).send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn count_tokens_and_models_pass_through_without_detection() {
    let mut h = Harness::start().await;
    let resp = h
        .client
        .post(format!("{}/v1/messages/count_tokens?beta=true", h.base))
        .header("x-glitch-key", KEY)
        .header("x-api-key", anthropic_key())
        .json(&simple_body("bluebird is not scanned here", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-risk-blocked"], "false");
    assert!(
        resp.json::<Value>().await.unwrap()["input_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );

    let resp = h
        .client
        .get(format!("{}/v1/models", h.base))
        .header("x-glitch-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-glitch-event-id"));
    let models: Value = resp.json().await.unwrap();
    let id = models["data"][0]["id"].as_str().unwrap().to_owned();
    let resp = h
        .client
        .get(format!("{}/v1/models/{id}", h.base))
        .header("x-glitch-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = h
        .client
        .get(format!("{}/v1/models/nope", h.base))
        .header("x-glitch-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "upstream errors pass back");
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["type"],
        "not_found_error"
    );
    // Unauthenticated model listing is refused too.
    let resp = h
        .client
        .get(format!("{}/v1/models", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let paths: Vec<String> = h
        .fake
        .requests()
        .iter()
        .map(|r| r.path_and_query.clone())
        .collect();
    assert_eq!(paths[0], "/v1/messages/count_tokens?beta=true");
    assert_eq!(paths.len(), 4);
    let events = h.stop().await;
    assert_eq!(events.len(), 5);
    assert!(events[0].findings.is_empty());
}

#[tokio::test]
async fn batches_are_blocked_when_any_sub_request_is() {
    let mut h = Harness::start().await;
    let batch = |second: &str| {
        json!({"requests": [
            {"custom_id": "a", "params": {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "fine"}]}},
            {"custom_id": "b", "params": {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": second}]}}
        ]})
    };
    let post = |body: Value| {
        h.client
            .post(format!("{}/v1/messages/batches", h.base))
            .header("x-glitch-key", KEY)
            .header("x-api-key", anthropic_key())
            .json(&body)
            .send()
    };
    let resp = post(batch("also fine")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["type"], "message_batch");
    let resp = post(batch("bluebird")).await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(h.fake.requests().len(), 1);
    let events = h.stop().await;
    assert_eq!(
        events[1].findings[0].location,
        "requests[1].params.messages[0]"
    );
}

#[tokio::test]
async fn other_v1_routes_pass_through() {
    let h = Harness::start().await;
    let resp = h
        .client
        .get(format!("{}/v1/files?limit=3", h.base))
        .header("x-glitch-key", KEY)
        .header("x-api-key", anthropic_key())
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        404,
        "the fake answers 404 for unknown routes; passed back as is"
    );
    assert_eq!(resp.headers()["x-risk-blocked"], "false");
    assert_eq!(h.fake.requests()[0].path_and_query, "/v1/files?limit=3");
    // Outside /v1/ the sensor answers 404 itself, in Anthropic's envelope.
    let resp = h
        .client
        .get(format!("{}/nope", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["type"],
        "not_found_error"
    );
}

#[tokio::test]
async fn detect_endpoint_applies_the_policy_without_upstream() {
    let mut h = Harness::start().await;
    let detect = |body: Value| {
        h.client
            .post(format!("{}/v1/detect", h.base))
            .header("x-glitch-key", KEY)
            .json(&body)
            .send()
    };
    let resp = detect(json!({"content": "bluebird and SEC-77", "direction": "input"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["blocked"], true);
    let cats = v["categories"].as_array().unwrap();
    assert_eq!(cats.len(), 2);
    assert_eq!(cats[0]["type"], "custom/codename");
    assert_eq!(cats[0]["action"], "block");
    assert_eq!(cats[0]["confidence"], 1.0);
    let v: Value = detect(json!({"content": "harmless"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"blocked": false, "categories": []}));
    // Output direction: the input-scoped detectors do not apply.
    let v: Value = detect(json!({"content": "bluebird", "direction": "output"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["blocked"], false);
    assert_eq!(detect(json!({"content": 5})).await.unwrap().status(), 400);
    assert_eq!(
        detect(json!({"content": "x", "direction": "sideways"}))
            .await
            .unwrap()
            .status(),
        400
    );
    let unauth = h
        .client
        .post(format!("{}/v1/detect", h.base))
        .json(&json!({"content": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), 401);
    assert!(h.fake.requests().is_empty());
    let events = h.stop().await;
    assert_eq!(events.len(), 6);
    assert_eq!(events[0].path, "/v1/detect");
}

#[tokio::test]
async fn probes_health_metrics_and_ready() {
    let h = Harness::start().await;
    for path in ["/", "/api/hello"] {
        let resp = h
            .client
            .head(format!("{}{path}", h.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    let health: Value = get_json(&h.client, &format!("{}/health", h.base)).await;
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["policy_version"], 1);
    assert!(
        health["config_source"]
            .as_str()
            .unwrap()
            .starts_with("file:")
    );
    assert!(health["event_log"].as_str().unwrap().starts_with("file:"));
    let ready = h
        .client
        .get(format!("{}/ready", h.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    h.messages(KEY, &simple_body("hi", false))
        .send()
        .await
        .unwrap();
    let metrics = h
        .client
        .get(format!("{}/metrics", h.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("glitch_sensor_requests_total{route=\"messages\",decision=\"allowed\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("glitch_sensor_config_version 1"));
    assert!(metrics.contains("glitch_sensor_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn upstream_errors_pass_back_exactly() {
    let h = Harness::start().await;
    for (scenario, status) in [
        ("error-429", 429),
        ("error-529", 529),
        ("error-500", 500),
        ("error-401", 401),
        ("error-403", 403),
    ] {
        let direct = h
            .client
            .post(format!("{}/v1/messages", h.fake.url()))
            .header("x-fake-scenario", scenario)
            .json(&simple_body("hi", false))
            .send()
            .await
            .unwrap();
        let direct_body: Value = direct.json().await.unwrap();
        let resp = h
            .messages(KEY, &simple_body("hi", false))
            .header("x-fake-scenario", scenario)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{scenario}");
        if status == 429 {
            assert_eq!(resp.headers()["retry-after"], "7");
            assert_eq!(resp.headers()["x-should-retry"], "true");
        }
        assert!(resp.headers().contains_key("request-id"));
        assert_eq!(resp.headers()["x-risk-blocked"], "false");
        let mut body: Value = resp.json().await.unwrap();
        let mut direct_body = direct_body;
        body["request_id"] = Value::Null;
        direct_body["request_id"] = Value::Null;
        assert_eq!(body, direct_body, "{scenario}");
    }
    // An error inside a stream passes through as sent.
    let text = h
        .messages(KEY, &simple_body("hi", true))
        .header("x-fake-scenario", "midstream-error")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("event: error"));
    assert!(text.contains("overloaded_error"));
}

#[tokio::test]
async fn unreachable_upstream_is_a_502() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut h = Harness::start_with(POLICY, &[], Some(format!("http://127.0.0.1:{port}"))).await;
    let resp = h
        .messages(KEY, &simple_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers()["x-risk-blocked"], "false");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "api_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Glitch: upstream")
    );
    let events = h.stop().await;
    assert_eq!(events[0].decision, "error");
    assert!(events[0].error.contains("connect"), "{}", events[0].error);
}

#[tokio::test]
async fn policy_file_reload_and_rejection() {
    let h = Harness::start().await;
    assert_eq!(
        h.messages(KEY, &simple_body("osprey", false))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let updated = POLICY.replace("bluebird", "osprey");
    std::fs::write(h.policy_path(), &updated).unwrap();
    let reloaded = eventually(Duration::from_secs(10), async || {
        h.messages(KEY, &simple_body("osprey", false))
            .send()
            .await
            .unwrap()
            .status()
            == 403
    })
    .await;
    assert!(reloaded, "the edited policy is enforced without a restart");
    // An invalid file is rejected; the previous config stays live and /health says why.
    std::fs::write(
        h.policy_path(),
        "projects: [{id: broken, policy_id: missing}]",
    )
    .unwrap();
    let degraded = eventually(Duration::from_secs(10), async || {
        let health: Value = get_json(&h.client, &format!("{}/health", h.base)).await;
        health["status"] == "degraded"
    })
    .await;
    assert!(degraded);
    let health: Value = get_json(&h.client, &format!("{}/health", h.base)).await;
    assert!(
        health["config_error"]
            .as_str()
            .unwrap()
            .contains("projects[0].policy_id"),
        "{health}"
    );
    assert_eq!(health["policy_version"], 2);
    assert_eq!(
        h.messages(KEY, &simple_body("osprey", false))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        h.messages(KEY, &simple_body("bluebird", false))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn project_rate_limit_is_a_429_with_retry_after() {
    let h = Harness::start().await;
    for _ in 0..2 {
        assert_eq!(
            h.messages(OTHER_KEY, &simple_body("hi", false))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let resp = h
        .messages(OTHER_KEY, &simple_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(
        resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Glitch: ")
    );
    // Other projects are not affected.
    assert_eq!(
        h.messages(KEY, &simple_body("hi", false))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // One request over max_input_tokens is refused outright.
    let huge = simple_body(&"word ".repeat(60_000), false);
    let resp = h.messages(OTHER_KEY, &huge).send().await.unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn every_request_becomes_exactly_one_event_and_no_credential_is_written() {
    let mut h = Harness::start().await;
    let oauth = oauth_token();
    let body = simple_body(&format!("my key is {} ok", anthropic_key()), true);
    for _ in 0..5 {
        h.messages(KEY, &body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    }
    h.client
        .post(format!("{}/v1/messages", h.base))
        .header("authorization", format!("Bearer {oauth}"))
        .header("x-glitch-key", "glitch_sk_wrongwrongwrongwrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    let events = h.stop().await;
    assert_eq!(events.len(), 6);
    let mut ids: Vec<_> = events.iter().map(|e| e.event_id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 6);
    let bytes = event_log_bytes(&h.events_dir());
    assert!(!contains(&bytes, KEY), "Glitch key in the event log");
    assert!(
        !contains(&bytes, "glitch_sk_wrongwrongwrongwrong"),
        "presented wrong key in the event log"
    );
    assert!(!contains(&bytes, &oauth), "OAuth token in the event log");
    // The api key header is redacted (the prompt text is stored as sent until the secret
    // detectors exist to mask it).
    assert!(events.iter().all(|e| {
        e.request_headers
            .get("x-api-key")
            .is_none_or(|v| v == "[REDACTED]")
    }));
}
