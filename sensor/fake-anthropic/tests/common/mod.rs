//! Helpers shared by the integration tests: requests, an Anthropic SSE parser
//! and validator, and polling.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail by panicking; not every test file uses every helper"
)]

use std::time::{Duration, Instant};

use glitch_fake_anthropic::FakeAnthropic;
use serde_json::{Value, json};

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

pub fn messages_body(prompt: &str, stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "You are a test."}],
        "messages": [{"role": "user", "content": prompt}],
        "stream": stream,
        "metadata": {"user_id": "u1"},
    })
}

pub async fn post_messages(
    fake: &FakeAnthropic,
    body: &Value,
    scenario: Option<&str>,
) -> reqwest::Response {
    let mut request = client()
        .post(format!("{}/v1/messages?beta=true", fake.url()))
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(body);
    if let Some(scenario) = scenario {
        request = request.header("x-fake-scenario", scenario);
    }
    request.send().await.unwrap()
}

/// Parses an SSE body, checking each event is exactly
/// `event: NAME\ndata: JSON\n\n` with `data.type == NAME`.
pub fn parse_sse(text: &str) -> Vec<(String, Value)> {
    assert!(text.ends_with("\n\n"), "stream must end with a blank line");
    text.split_terminator("\n\n").map(parse_event).collect()
}

pub fn parse_event(raw: &str) -> (String, Value) {
    let raw = raw.trim_end_matches('\n');
    let mut lines = raw.lines();
    let name = lines
        .next()
        .and_then(|l| l.strip_prefix("event: "))
        .unwrap_or_else(|| panic!("bad event line in {raw:?}"))
        .to_owned();
    let data = lines
        .next()
        .and_then(|l| l.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("bad data line in {raw:?}"));
    assert!(lines.next().is_none(), "extra lines in {raw:?}");
    let value: Value = serde_json::from_str(data).unwrap();
    assert_eq!(value["type"], name.as_str(), "type mismatch in {raw:?}");
    (name, value)
}

/// Replays a complete Anthropic stream the way an SDK does, checking the
/// protocol, and returns the assembled message.
pub fn assemble(events: &[(String, Value)]) -> Value {
    let (first, rest) = events.split_first().unwrap();
    assert_eq!(first.0, "message_start");
    let mut message = first.1["message"].clone();
    assert_eq!(message["content"], json!([]));
    assert_eq!(message["usage"]["output_tokens"], 1);
    assert!(message["usage"]["input_tokens"].as_u64().unwrap() > 0);
    let mut blocks: Vec<Value> = Vec::new();
    let mut partial_json: Vec<String> = Vec::new();
    let mut open: Option<usize> = None;
    let mut stopped = false;
    for (name, data) in rest {
        assert!(!stopped, "event after message_stop");
        match name.as_str() {
            "ping" => {}
            "content_block_start" => {
                assert!(open.is_none(), "block started while another is open");
                let index = data["index"].as_u64().unwrap() as usize;
                assert_eq!(index, blocks.len());
                blocks.push(data["content_block"].clone());
                partial_json.push(String::new());
                open = Some(index);
            }
            "content_block_delta" => {
                let index = data["index"].as_u64().unwrap() as usize;
                assert_eq!(open, Some(index));
                let block = &mut blocks[index];
                let delta = &data["delta"];
                match (
                    block["type"].as_str().unwrap(),
                    delta["type"].as_str().unwrap(),
                ) {
                    ("text", "text_delta") => {
                        let text = block["text"].as_str().unwrap().to_owned()
                            + delta["text"].as_str().unwrap();
                        block["text"] = json!(text);
                    }
                    ("thinking", "thinking_delta") => {
                        let text = block["thinking"].as_str().unwrap().to_owned()
                            + delta["thinking"].as_str().unwrap();
                        block["thinking"] = json!(text);
                    }
                    ("thinking", "signature_delta") => {
                        block["signature"] = delta["signature"].clone();
                    }
                    ("tool_use", "input_json_delta") => {
                        partial_json[index].push_str(delta["partial_json"].as_str().unwrap());
                    }
                    other => panic!("unexpected delta {other:?}"),
                }
            }
            "content_block_stop" => {
                let index = data["index"].as_u64().unwrap() as usize;
                assert_eq!(open, Some(index));
                if blocks[index]["type"] == "tool_use" {
                    blocks[index]["input"] = serde_json::from_str(&partial_json[index]).unwrap();
                }
                open = None;
            }
            "message_delta" => {
                assert!(open.is_none());
                message["stop_reason"] = data["delta"]["stop_reason"].clone();
                message["stop_sequence"] = data["delta"]["stop_sequence"].clone();
                message["usage"]["output_tokens"] = data["usage"]["output_tokens"].clone();
            }
            "message_stop" => stopped = true,
            other => panic!("unexpected event {other}"),
        }
    }
    assert!(stopped, "stream did not end with message_stop");
    message["content"] = Value::Array(blocks);
    message
}

/// Polls `check` until it holds or `timeout` passes.
pub async fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
