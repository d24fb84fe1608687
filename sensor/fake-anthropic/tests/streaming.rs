//! SSE streams: event order and framing, pacing, thinking, tool use,
//! mid-stream errors and long streams.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "integration tests fail by panicking"
)]

mod common;

use std::time::{Duration, Instant};

use common::{assemble, messages_body, parse_event, parse_sse, post_messages};
use futures_util::StreamExt;
use glitch_fake_anthropic::{FakeAnthropic, FakeOptions};
use serde_json::{Value, json};

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test]
async fn stream_has_anthropics_event_sequence() {
    let fake = FakeAnthropic::start().await.unwrap();
    let body = messages_body("Print exactly the word: streamed", true);
    let response = post_messages(&fake, &body, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert!(
        response.headers()["request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    assert_eq!(response.headers()["anthropic-organization-id"], "fake-org");
    let text = response.text().await.unwrap();
    let events = parse_sse(&text);
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(
        events[1].1,
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    );
    assert_eq!(
        events[5].1,
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 2}})
    );
    let body_len = serde_json::to_vec(&body).unwrap().len() as u64;
    assert_eq!(
        events[0].1["message"]["usage"]["input_tokens"],
        body_len / 4
    );
    let message = assemble(&events);
    assert_eq!(
        message["content"],
        json!([{"type": "text", "text": "streamed"}])
    );
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(message["model"], "claude-sonnet-4-5-20250929");

    let stats = fake.stats();
    assert_eq!(stats.streams_started, 1);
    assert_eq!(stats.streams_completed, 1);
    assert_eq!(stats.streams_aborted, 0);
}

#[tokio::test]
async fn default_reply_streams_word_by_word() {
    let fake = FakeAnthropic::start().await.unwrap();
    let text = post_messages(&fake, &messages_body("hello", true), None)
        .await
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    let deltas = names(&events)
        .iter()
        .filter(|n| **n == "content_block_delta")
        .count();
    assert!(deltas >= 3, "{deltas}");
    let message = assemble(&events);
    assert_eq!(
        message["content"][0]["text"],
        glitch_fake_anthropic::DEFAULT_REPLY
    );
}

/// Reads a stream frame by frame, returning each chunk and when it arrived.
async fn timed_chunks(response: reqwest::Response) -> Vec<(Instant, String)> {
    let mut stream = response.bytes_stream();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        chunks.push((Instant::now(), String::from_utf8(chunk.to_vec()).unwrap()));
    }
    chunks
}

fn assert_paced(chunks: &[(Instant, String)], delay: Duration) {
    // Each chunk is exactly one complete event...
    for (_, chunk) in chunks {
        assert!(chunk.ends_with("\n\n"), "{chunk:?}");
        assert_eq!(chunk.matches("\n\n").count(), 1, "{chunk:?}");
        parse_event(chunk);
    }
    // ...and they arrive spread out, not all at the end. (Tolerant of
    // scheduling hiccups on a loaded machine: most gaps, and the total span.)
    let gaps: Vec<Duration> = chunks.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let paced = gaps.iter().filter(|g| **g >= delay.mul_f32(0.7)).count();
    assert!(
        paced * 2 >= gaps.len(),
        "gaps {gaps:?}, expected about {delay:?}"
    );
    let span = chunks[chunks.len() - 1].0 - chunks[0].0;
    let expected = delay * u32::try_from(gaps.len()).unwrap();
    assert!(
        span >= expected.mul_f32(0.9),
        "span {span:?} < {expected:?}"
    );
    let events: Vec<_> = chunks.iter().map(|(_, c)| parse_event(c)).collect();
    assemble(&events);
}

#[tokio::test]
async fn configured_delay_sends_each_event_as_its_own_frame() {
    let delay = Duration::from_millis(40);
    let options = FakeOptions {
        stream_event_delay: delay,
        ..FakeOptions::default()
    };
    let fake = FakeAnthropic::start_on("127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap();
    // The default reply has six words: six deltas plus six other events.
    let body = messages_body("one two three", true);
    let response = post_messages(&fake, &body, None).await;
    let chunks = timed_chunks(response).await;
    assert_eq!(chunks.len(), 12);
    assert_paced(&chunks, delay);
}

#[tokio::test]
async fn slow_stream_scenarios_pace_events() {
    let fake = FakeAnthropic::start().await.unwrap();
    let body = messages_body("Print exactly the word: slow", true);
    let started = Instant::now();
    let chunks = timed_chunks(post_messages(&fake, &body, Some("slow-stream-ms-30")).await).await;
    assert_eq!(chunks.len(), 7);
    assert_paced(&chunks, Duration::from_millis(30));

    // `slow-stream` is 200 ms between events (6 gaps), chosen by marker.
    let body = messages_body("Print exactly the word: slow [[fake:slow-stream]]", true);
    let started_slow = Instant::now();
    let chunks = timed_chunks(post_messages(&fake, &body, None).await).await;
    assert_eq!(chunks.len(), 7);
    assert_paced(&chunks, Duration::from_millis(200));
    assert!(started_slow.elapsed() >= Duration::from_millis(1100));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn thinking_stream_is_valid_anthropic_sse() {
    let fake = FakeAnthropic::start().await.unwrap();
    let body = messages_body("Print exactly the word: pondered", true);
    let text = post_messages(&fake, &body, Some("thinking"))
        .await
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    assert_eq!(
        events[1].1["content_block"],
        json!({"type": "thinking", "thinking": "", "signature": ""})
    );
    let deltas: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["type"].as_str().unwrap())
        .collect();
    let signature_at = deltas.iter().position(|t| *t == "signature_delta").unwrap();
    assert!(signature_at > 0);
    assert!(
        deltas[..signature_at]
            .iter()
            .all(|t| *t == "thinking_delta")
    );
    assert!(
        deltas[signature_at + 1..]
            .iter()
            .all(|t| *t == "text_delta")
    );
    let message = assemble(&events);
    let content = message["content"].as_array().unwrap();
    assert_eq!(content.len(), 2);
    assert_eq!(content[0]["type"], "thinking");
    assert!(!content[0]["thinking"].as_str().unwrap().is_empty());
    assert!(!content[0]["signature"].as_str().unwrap().is_empty());
    assert_eq!(content[1], json!({"type": "text", "text": "pondered"}));
    assert_eq!(message["stop_reason"], "end_turn");
}

#[tokio::test]
async fn tool_use_stream_is_valid_anthropic_sse() {
    let fake = FakeAnthropic::start().await.unwrap();
    let body = messages_body("run something [[fake:tool-use]]", true);
    let text = post_messages(&fake, &body, None)
        .await
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    let json_deltas = events
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
        .count();
    assert!(json_deltas >= 2, "{json_deltas}");
    let message = assemble(&events);
    let block = &message["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(block["name"], "Bash");
    assert_eq!(block["input"], json!({"command": "echo hi"}));
    assert_eq!(message["stop_reason"], "tool_use");
}

#[tokio::test]
async fn midstream_error_ends_with_an_error_event() {
    let fake = FakeAnthropic::start().await.unwrap();
    let body = messages_body("hello there", true);
    let response = post_messages(&fake, &body, Some("midstream-error")).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let events = parse_sse(&text);
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "error"
        ]
    );
    assert_eq!(
        events[3].1,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
}

#[tokio::test]
async fn big_stream_sends_n_deltas() {
    let fake = FakeAnthropic::start().await.unwrap();
    let body = messages_body("[[fake:big-stream-2000]]", true);
    let text = post_messages(&fake, &body, None)
        .await
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    let deltas = names(&events)
        .iter()
        .filter(|n| **n == "content_block_delta")
        .count();
    assert_eq!(deltas, 2000);
    let message = assemble(&events);
    let reply = message["content"][0]["text"].as_str().unwrap();
    assert_eq!(reply.split(' ').count(), 2000);
    assert_eq!(message["usage"]["output_tokens"], 2001);
}

#[tokio::test]
async fn http2_streams_work() {
    let fake = FakeAnthropic::start().await.unwrap();
    let http = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = http
        .post(format!("{}/v1/messages", fake.url()))
        .header("x-fake-scenario", "slow-stream-ms-25")
        .json(&messages_body("Print exactly the word: framed", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let chunks = timed_chunks(response).await;
    assert_paced(&chunks, Duration::from_millis(25));
}
