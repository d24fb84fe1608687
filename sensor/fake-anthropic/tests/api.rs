//! Non-streaming endpoints, error scenarios, headers and recording.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "integration tests fail by panicking"
)]

mod common;

use common::{client, messages_body, post_messages};
use glitch_fake_anthropic::{DEFAULT_REPLY, FakeAnthropic, FakeOptions};
use serde_json::{Value, json};

fn assert_common_headers(response: &reqwest::Response) {
    let headers = response.headers();
    let request_id = headers["request-id"].to_str().unwrap();
    assert!(request_id.starts_with("req_"), "{request_id}");
    assert_eq!(headers["anthropic-ratelimit-requests-limit"], "1000");
    assert_eq!(headers["anthropic-ratelimit-requests-remaining"], "999");
    let reset = headers["anthropic-ratelimit-requests-reset"]
        .to_str()
        .unwrap();
    assert!(
        reset.len() == 20 && reset.ends_with('Z') && reset.as_bytes()[10] == b'T',
        "{reset}"
    );
    assert_eq!(headers["anthropic-organization-id"], "fake-org");
}

#[tokio::test]
async fn non_stream_reply_prints_the_requested_word() {
    let fake = FakeAnthropic::start().await.unwrap();
    let body = messages_body("Print exactly the word: routed.", false);
    let response = post_messages(&fake, &body, None).await;
    assert_eq!(response.status(), 200);
    assert_common_headers(&response);
    assert_eq!(response.headers()["content-type"], "application/json");
    let message: Value = response.json().await.unwrap();
    assert!(message["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["model"], "claude-sonnet-4-5-20250929");
    assert_eq!(
        message["content"],
        json!([{"type": "text", "text": "routed"}])
    );
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(message["stop_sequence"], Value::Null);
    let body_len = serde_json::to_vec(&body).unwrap().len() as u64;
    assert_eq!(message["usage"]["input_tokens"], body_len / 4);
    assert_eq!(message["usage"]["output_tokens"], 2);
    assert_eq!(message["usage"]["cache_creation_input_tokens"], 0);
    assert_eq!(message["usage"]["cache_read_input_tokens"], 0);
}

#[tokio::test]
async fn default_reply_and_last_user_message_blocks() {
    let fake = FakeAnthropic::start().await.unwrap();
    let body = json!({
        "model": "claude-haiku-4-5-20251001",
        "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "Print exactly the word: old"},
            {"role": "assistant", "content": [{"type": "text", "text": "old"}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Print exactly the word: no"},
                {"type": "text", "text": "thanks"}
            ]}
        ],
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
        "some_future_field": {"x": 1}
    });
    let message: Value = post_messages(&fake, &body, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(message["content"][0]["text"], DEFAULT_REPLY);
    assert_eq!(message["model"], "claude-haiku-4-5-20251001");
    let words = DEFAULT_REPLY.split(' ').count() as u64;
    assert_eq!(message["usage"]["output_tokens"], words + 1);
}

#[tokio::test]
async fn non_json_body_is_an_invalid_request_error() {
    let fake = FakeAnthropic::start().await.unwrap();
    let response = client()
        .post(format!("{}/v1/messages", fake.url()))
        .header("content-type", "application/json")
        .body("this is not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_common_headers(&response);
    let request_id = response.headers()["request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(error["error"]["message"].as_str().unwrap().len() > 5);
    assert_eq!(error["request_id"], request_id.as_str());

    // A header-chosen error comes first, as authentication does upstream.
    let response = client()
        .post(format!("{}/v1/messages", fake.url()))
        .header("x-fake-scenario", "error-401")
        .body("this is not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn error_scenarios_have_status_headers_and_envelope() {
    let fake = FakeAnthropic::start().await.unwrap();
    let cases = [
        (
            "error-401",
            401,
            "authentication_error",
            Some("invalid x-api-key"),
        ),
        ("error-403", 403, "permission_error", None),
        ("error-429", 429, "rate_limit_error", None),
        ("error-500", 500, "api_error", None),
        ("error-529", 529, "overloaded_error", Some("Overloaded")),
    ];
    for stream in [false, true] {
        for (scenario, status, kind, message) in cases {
            let body = messages_body("hi", stream);
            let response = post_messages(&fake, &body, Some(scenario)).await;
            assert_eq!(response.status().as_u16(), status, "{scenario}");
            assert_common_headers(&response);
            assert_eq!(response.headers()["content-type"], "application/json");
            if status == 429 {
                assert_eq!(response.headers()["retry-after"], "7");
                assert_eq!(response.headers()["x-should-retry"], "true");
            }
            let request_id = response.headers()["request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            let envelope: Value = response.json().await.unwrap();
            assert_eq!(envelope["type"], "error");
            assert_eq!(envelope["error"]["type"], kind);
            if let Some(message) = message {
                assert_eq!(envelope["error"]["message"], message);
            }
            assert_eq!(envelope["request_id"], request_id.as_str());
        }
    }
}

#[tokio::test]
async fn marker_in_prompt_selects_the_scenario() {
    let fake = FakeAnthropic::start().await.unwrap();
    let body = messages_body("Please answer [[fake:error-529]] now", false);
    let response = post_messages(&fake, &body, None).await;
    assert_eq!(response.status(), 529);
    let envelope: Value = response.json().await.unwrap();
    assert_eq!(envelope["error"]["type"], "overloaded_error");

    // In a text block of the last user message too; the header wins over it.
    let body = json!({
        "model": "m", "max_tokens": 5,
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>x</system-reminder>"},
            {"type": "text", "text": "go [[fake:error-401]]"}
        ]}]
    });
    assert_eq!(post_messages(&fake, &body, None).await.status(), 401);
    assert_eq!(
        post_messages(&fake, &body, Some("error-403"))
            .await
            .status(),
        403
    );
    // Unknown markers are ignored.
    let body = messages_body("[[fake:no-such-thing]]", false);
    assert_eq!(post_messages(&fake, &body, None).await.status(), 200);
}

#[tokio::test]
async fn thinking_and_tool_use_non_stream() {
    let fake = FakeAnthropic::start().await.unwrap();
    let body = messages_body("Print exactly the word: deep", false);
    let message: Value = post_messages(&fake, &body, Some("thinking"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(message["content"][0]["type"], "thinking");
    assert!(
        !message["content"][0]["thinking"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert!(
        !message["content"][0]["signature"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        message["content"][1],
        json!({"type": "text", "text": "deep"})
    );

    let message: Value = post_messages(&fake, &body, Some("tool-use"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(message["stop_reason"], "tool_use");
    let block = &message["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(block["name"], "Bash");
    assert_eq!(block["input"], json!({"command": "echo hi"}));
}

#[tokio::test]
async fn count_tokens_models_batches_and_404() {
    let fake = FakeAnthropic::start().await.unwrap();
    let http = client();
    let body = messages_body("count me", false);
    let body_len = serde_json::to_vec(&body).unwrap().len() as u64;
    let response = http
        .post(format!("{}/v1/messages/count_tokens?beta=true", fake.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_common_headers(&response);
    let count: Value = response.json().await.unwrap();
    assert_eq!(count, json!({"input_tokens": body_len / 4}));

    let models: Value = http
        .get(format!("{}/v1/models", fake.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = models["data"].as_array().unwrap();
    assert!(data.len() >= 2);
    assert!(data.iter().all(|m| m["type"] == "model"));
    let sonnet = data
        .iter()
        .find(|m| m["id"] == "claude-sonnet-4-5-20250929")
        .unwrap();
    assert_eq!(sonnet["display_name"], "Claude Sonnet 4.5");
    assert_eq!(sonnet["created_at"], "2025-09-29T00:00:00Z");
    assert_eq!(models["has_more"], false);
    assert_eq!(models["first_id"], data[0]["id"]);
    assert_eq!(models["last_id"], data[data.len() - 1]["id"]);

    let response = http
        .get(format!(
            "{}/v1/models/claude-sonnet-4-5-20250929",
            fake.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), *sonnet);

    let response = http
        .get(format!("{}/v1/models/claude-nonexistent", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_common_headers(&response);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "not_found_error");

    let batch_body = json!({"requests": [
        {"custom_id": "a", "params": messages_body("one", false)},
        {"custom_id": "b", "params": messages_body("two", false)},
        {"custom_id": "c", "params": messages_body("three", false)}
    ]});
    let response = http
        .post(format!("{}/v1/messages/batches", fake.url()))
        .json(&batch_body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let batch: Value = response.json().await.unwrap();
    assert!(batch["id"].as_str().unwrap().starts_with("msgbatch_"));
    assert_eq!(batch["type"], "message_batch");
    assert_eq!(batch["processing_status"], "in_progress");
    assert_eq!(batch["request_counts"]["processing"], 3);
    assert_eq!(batch["request_counts"]["succeeded"], 0);

    for (method, path) in [
        (reqwest::Method::GET, "/v1/nothing"),
        (reqwest::Method::POST, "/v2/messages"),
        (reqwest::Method::GET, "/v1/messages"),
    ] {
        let response = http
            .request(method, format!("{}{path}", fake.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_common_headers(&response);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["type"], "not_found_error");
    }
}

#[tokio::test]
async fn health_endpoints() {
    let fake = FakeAnthropic::start().await.unwrap();
    let http = client();
    for path in ["/", "/api/hello"] {
        let response = http
            .head(format!("{}{path}", fake.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.bytes().await.unwrap().is_empty());
    }
    let response = http.get(fake.url()).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn records_requests_with_headers_and_bodies() {
    let fake = FakeAnthropic::start().await.unwrap();
    let body = messages_body("Print exactly the word: logged", true);
    let text = post_messages(&fake, &body, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains("message_stop"));
    client()
        .get(format!("{}/v1/models?limit=5", fake.url()))
        .send()
        .await
        .unwrap();

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path_and_query, "/v1/messages?beta=true");
    assert_eq!(requests[0].headers["x-api-key"], "sk-ant-test");
    assert_eq!(requests[0].headers["anthropic-version"], "2023-06-01");
    assert_eq!(
        serde_json::from_slice::<Value>(&requests[0].body).unwrap(),
        body
    );
    assert_eq!(requests[1].method, "GET");
    assert_eq!(requests[1].path_and_query, "/v1/models?limit=5");
    assert!(requests[1].body.is_empty());

    fake.clear();
    assert!(fake.requests().is_empty());
    fake.shutdown().await;

    // Without body recording, requests are still recorded.
    let addr = "127.0.0.1:0".parse().unwrap();
    let options = FakeOptions {
        record_bodies: false,
        ..FakeOptions::default()
    };
    let fake = FakeAnthropic::start_on(addr, options).await.unwrap();
    let response = post_messages(&fake, &body, Some("error-500")).await;
    assert_eq!(response.status(), 500);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].body.is_empty());
    assert_eq!(requests[0].headers["x-fake-scenario"], "error-500");
}

#[tokio::test]
async fn request_and_message_ids_are_unique() {
    let fake = FakeAnthropic::start().await.unwrap();
    let body = messages_body("hi", false);
    let mut request_ids = std::collections::HashSet::new();
    let mut message_ids = std::collections::HashSet::new();
    for _ in 0..20 {
        let response = post_messages(&fake, &body, None).await;
        request_ids.insert(
            response.headers()["request-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        let message: Value = response.json().await.unwrap();
        message_ids.insert(message["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(request_ids.len(), 20);
    assert_eq!(message_ids.len(), 20);
}

#[tokio::test]
async fn http2_prior_knowledge_works() {
    let fake = FakeAnthropic::start().await.unwrap();
    let http = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = http
        .post(format!("{}/v1/messages", fake.url()))
        .json(&messages_body("Print exactly the word: h2", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["content"][0]["text"], "h2");
}
