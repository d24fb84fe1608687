//! Kafka mode with Kafka unreachable: requests are answered as usual, events go to the spool in
//! the state dir, `/health` and `/metrics` show the spool, and the spool's size cap works as
//! documented (at the cap events lose their conversation, 10% past it they are dropped and
//! counted). Delivery to a real broker is tested end to end in `tests/tests/audit_pipeline.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::time::Duration;

use clap::Parser;
use common::{KEY, POLICY, anthropic_key, eventually, get_json};
use glitch_eventlog::{EventLogReader, Position};
use glitch_fake_anthropic::FakeAnthropic;
use glitch_proto::events::v1::SecurityEvent;
use glitch_sensor::SensorArgs;
use glitch_sensor::events::OMITTED_SPOOL_FULL;
use glitch_sensor::events::spool::decode_frame;
use prost::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_kafka_spools_events_and_the_cap_sheds_then_drops() {
    let fake = FakeAnthropic::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let state = dir.path().join("state");
    let args = SensorArgs::parse_from([
        "glitch-sensor".to_owned(),
        "--listen=127.0.0.1:0".into(),
        "--admin-listen=127.0.0.1:0".into(),
        format!("--policy-file={}", policy.display()),
        format!("--events=kafka://127.0.0.1:{closed}/glitch-events"),
        format!("--state-dir={}", state.display()),
        format!("--upstream={}", fake.url()),
        "--spool-max-bytes=65536".into(),
        "--shutdown-grace-secs=2".into(),
    ]);
    let sensor = glitch_sensor::start(args).await.unwrap();
    let base = format!("http://{}", sensor.addr);
    let admin = format!("http://{}", sensor.admin_addr);
    let client = reqwest::Client::new();

    let sent = 60;
    let filler = "build log line with nothing secret in it; ".repeat(100);
    for i in 0..sent {
        let response = client
            .post(format!("{base}/v1/messages"))
            .header("x-glitch-key", KEY)
            .header("x-api-key", anthropic_key())
            .header("anthropic-version", "2023-06-01")
            .header("x-claude-code-session-id", "spool-session")
            .json(&serde_json::json!({
                "model": "claude-sonnet-4-5", "max_tokens": 8,
                "messages": [{"role": "user", "content": format!("{i}: {filler}")}]
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "Kafka being down must not fail requests"
        );
    }

    // /health: degraded, spool full, events waiting.
    assert!(
        eventually(Duration::from_secs(10), async || {
            let health = get_json(&client, &format!("{admin}/health")).await;
            health["event_spool"]["spool_full"] == true
                && health["status"] == "degraded"
                && health["event_spool"]["spool_events"].as_u64().unwrap_or(0) > 0
        })
        .await,
        "{}",
        get_json(&client, &format!("{admin}/health")).await
    );
    let metrics = client
        .get(format!("{admin}/metrics"))
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
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v as u64)
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{metrics}"))
    };
    let shed = value("glitch_sensor_events_without_conversation_total");
    let dropped = value("glitch_sensor_events_dropped_total");
    assert!(shed > 0, "no event lost its conversation at the cap");
    assert!(dropped > 0, "no event dropped past the headroom");
    assert_eq!(value("glitch_sensor_spool_full"), 1);
    assert!(value("glitch_sensor_spool_bytes") >= 65536);
    assert!(value("glitch_sensor_spool_events") > 0);

    sensor.shutdown().await;

    // What the spool holds: whole events first, then metadata-only ones; with the dropped ones
    // that accounts for every request.
    let mut reader = EventLogReader::open(&state.join("spool"), Position::default()).unwrap();
    let mut events = Vec::new();
    while let Some((record, _)) = reader.next_record().unwrap() {
        let (key, value) = decode_frame(&record).unwrap();
        assert_eq!(key, b"spool-session");
        events.push(SecurityEvent::decode(value).unwrap());
    }
    assert_eq!(events.len() as u64 + dropped, sent);
    let whole = events
        .iter()
        .take_while(|e| {
            e.conversation
                .as_ref()
                .is_some_and(|c| !c.messages_json.is_empty())
        })
        .count();
    assert!(whole > 0, "the first events keep their conversation");
    for event in &events[whole..] {
        let conversation = event.conversation.as_ref().unwrap();
        assert!(conversation.messages_json.is_empty());
        assert_eq!(conversation.omitted_reason, OMITTED_SPOOL_FULL);
        assert_eq!(event.decision, "allowed");
        assert!(!event.event_id.is_empty());
    }
    assert_eq!(events.len() - whole, shed as usize);
}
