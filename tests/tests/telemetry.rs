//! OpenTelemetry end to end: the real `glitch-sensor` binary exports its traces with OTLP to a
//! real collector in the test (gRPC and HTTP/protobuf); one request's span tree is checked —
//! the incoming W3C `traceparent` continued, a span per phase (authenticate, read_body, parse,
//! detect with one child per detector family, classifier, upstream, relay, record), all inside
//! the request span — and the trace id is written into the request's SecurityEvent.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::time::Duration;

use glitch_e2e::{ChildProcess, read_events, url_after, workspace_bin};
use glitch_fake_anthropic::FakeAnthropic;
use glitch_fake_classifier::{FakeClassifier, FakeClassifierOptions};
use glitch_testkit::otlp::{Collector, ReceivedSpan};

const KEY: &str = "glitch_sk_otel0000000000000000000001";

const POLICY: &str = r#"
policies:
  - id: pol_otel
    name: OTel
    input_detectors:
      - {detector_type: "secrets/*", threshold: L2, action: log}
      - {detector_type: prompt_attack, threshold: L2, action: block}
      - {detector_type: "pii/*", threshold: L2, action: log}
    custom_detectors:
      - {name: codename, pattern: "(?i)\\bbluebird\\b", action: block}
projects:
  - {id: proj_otel, name: OTel, policy_id: pol_otel}
keys:
  - {id: key_otel, project_id: proj_otel, key: glitch_sk_otel0000000000000000000001}
"#;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

async fn request_trace(protocol: &str) {
    let collector = Collector::start().await;
    let upstream = FakeAnthropic::start().await.unwrap();
    let classifier = FakeClassifier::start(FakeClassifierOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yaml"), POLICY).unwrap();
    std::fs::write(
        dir.path().join("classifiers.yaml"),
        format!(
            "classifiers:\n  - {{name: judge, kind: openai, url: \"{}/v1\", model: m}}\n",
            classifier.url()
        ),
    )
    .unwrap();
    let events = dir.path().join("events");
    let endpoint = if protocol == "grpc" {
        collector.grpc_endpoint.clone()
    } else {
        collector.http_endpoint.clone()
    };
    let (_sensor, ready) = ChildProcess::spawn(
        &workspace_bin("glitch-sensor"),
        &[
            "--listen=127.0.0.1:0".into(),
            "--admin-listen=127.0.0.1:0".into(),
            format!("--policy-file={}", dir.path().join("policy.yaml").display()),
            format!(
                "--classifiers={}",
                dir.path().join("classifiers.yaml").display()
            ),
            format!("--events=file:{}", events.display()),
            format!("--state-dir={}", dir.path().join("state").display()),
            format!("--upstream={}", upstream.url()),
        ],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_SERVICE_NAME", "sensor-under-test"),
        ],
        "glitch-sensor listening on ",
    );
    let base = url_after(&ready, "listening on ").unwrap();
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/messages"))
        .header("x-glitch-key", KEY)
        .header("x-api-key", "sk-ant-api03-otel-test")
        .header("anthropic-version", "2023-06-01")
        .header("traceparent", format!("00-{TRACE}-{CALLER_SPAN}-01"))
        .json(&serde_json::json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 32,
            "system": "You are a helpful assistant.",
            "messages": [{"role": "user", "content": "Explain what this function does: fn add(a: i32, b: i32) -> i32 { a + b }"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let event_id = response.headers()["x-glitch-event-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = response.bytes().await;

    let spans = collector
        .wait_for(Duration::from_secs(20), |spans| {
            spans
                .iter()
                .any(|s| s.trace_id() == TRACE && s.parent_id() == CALLER_SPAN)
        })
        .await;
    let ours: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.trace_id() == TRACE).collect();
    assert!(
        ours.iter().all(|s| s.service == "sensor-under-test"),
        "{ours:#?}"
    );
    assert!(
        ours.iter()
            .all(|s| s.transport == if protocol == "grpc" { "grpc" } else { "http" })
    );
    // The request span continues the caller's trace.
    let root = ours
        .iter()
        .find(|s| s.parent_id() == CALLER_SPAN)
        .unwrap_or_else(|| panic!("no request span under the caller's span: {ours:#?}"));
    assert_eq!(root.span.name, "POST /v1/messages");
    assert_eq!(
        root.attr("glitch.event_id").as_deref(),
        Some(event_id.as_str())
    );
    assert_eq!(
        root.attr("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(root.attr("glitch.decision").as_deref(), Some("allowed"));
    // One child per phase, in order, inside the request span.
    let children: Vec<&&ReceivedSpan> = ours
        .iter()
        .filter(|s| s.parent_id() == root.span_id())
        .collect();
    let mut names: Vec<(&str, u64)> = children
        .iter()
        .map(|s| (s.span.name.as_str(), s.span.start_time_unix_nano))
        .collect();
    names.sort_by_key(|(_, start)| *start);
    let names: Vec<&str> = names.into_iter().map(|(n, _)| n).collect();
    for phase in [
        "authenticate",
        "read_body",
        "parse",
        "detect",
        "classifier",
        "upstream",
        "relay",
        "record",
    ] {
        assert!(names.contains(&phase), "no {phase} span: {names:?}");
    }
    let position = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(position("authenticate") < position("parse"));
    assert!(position("parse") <= position("detect"));
    assert!(position("detect") < position("upstream"));
    assert!(position("upstream") < position("relay"));
    for child in &children {
        assert!(
            child.span.start_time_unix_nano >= root.span.start_time_unix_nano,
            "{child:?}"
        );
        assert!(
            child.span.end_time_unix_nano <= root.span.end_time_unix_nano,
            "{child:?}"
        );
    }
    // The detect phase has one span per detector family the policy runs.
    let detect = children.iter().find(|s| s.span.name == "detect").unwrap();
    let families: Vec<&str> = ours
        .iter()
        .filter(|s| s.parent_id() == detect.span_id())
        .map(|s| s.span.name.as_str())
        .collect();
    for family in [
        "detect.secrets",
        "detect.prompt_attack",
        "detect.pii",
        "detect.custom",
    ] {
        assert!(families.contains(&family), "no {family}: {families:?}");
    }
    let classifier_span = children
        .iter()
        .find(|s| s.span.name == "classifier")
        .unwrap();
    assert_eq!(
        classifier_span.attr("glitch.llm.status").as_deref(),
        Some("ok")
    );
    let upstream_span = children.iter().find(|s| s.span.name == "upstream").unwrap();
    assert_eq!(upstream_span.span.kind, 3, "upstream is a client span");
    // No credential in any attribute.
    for s in &ours {
        for kv in &s.span.attributes {
            let v = format!("{:?}", kv.value);
            assert!(!v.contains("sk-ant-") && !v.contains("glitch_sk_"), "{v}");
        }
    }
    // The trace id is in the event.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(e) = read_events(&events)
            .into_iter()
            .find(|e| e.event_id == event_id)
        {
            assert_eq!(e.trace_id, TRACE);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "event not written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_span_tree_over_otlp_grpc() {
    request_trace("grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_span_tree_over_otlp_http() {
    request_trace("http/protobuf").await;
}
