//! The fake classifier over real HTTP: the answer shape of every route, markers, modes (set at
//! start, at runtime and through `/control`), auth, stats and shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::time::Duration;

use glitch_fake_classifier::{FakeClassifier, FakeClassifierOptions, Mode};
use serde_json::{Value, json};

async fn start(options: FakeClassifierOptions) -> FakeClassifier {
    FakeClassifier::start(options).await.unwrap()
}

async fn post(
    fake: &FakeClassifier,
    path: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", fake.url()))
        .json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

fn chat(text: &str) -> Value {
    json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": "classify GLITCH_TEST_JAILBREAK (not in the user text)"},
            {"role": "user", "content": format!("Classify:\n<<<GLITCH_INPUT_ab>>>\n{text}\n<<<END_GLITCH_INPUT_ab>>>")},
        ],
    })
}

fn anthropic(text: &str) -> Value {
    json!({
        "model": "m",
        "max_tokens": 400,
        "system": "sys",
        "messages": [{"role": "user", "content": [{"type": "text", "text": format!("<<<GLITCH_INPUT_n>>>\n{text}\n<<<END_GLITCH_INPUT_n>>>")}]}],
    })
}

#[tokio::test]
async fn every_route_answers_in_its_shape() {
    let fake = start(FakeClassifierOptions::default()).await;
    let text = "x GLITCH_TEST_ATTACK [[glitch:pii/address=0.5]]";

    let (status, body) = post(&fake, "/v1/chat/completions", &[], chat(text)).await;
    assert_eq!(status, 200);
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    let verdict: Value = serde_json::from_str(content).unwrap();
    assert_eq!(
        verdict,
        json!({"scores": {"prompt_attack": 0.97, "pii/address": 0.5}})
    );
    assert_eq!(body["model"], "m");

    let (status, body) = post(&fake, "/v1/messages", &[], anthropic(text)).await;
    assert_eq!(status, 200);
    assert_eq!(body["type"], "message");
    assert_eq!(body["content"][0]["type"], "text");
    assert!(body["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let verdict: Value =
        serde_json::from_str(body["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(verdict["scores"]["prompt_attack"], json!(0.97));

    for route in ["/classify", "/predict"] {
        let (status, body) = post(
            &fake,
            route,
            &[],
            json!({"inputs": "GLITCH_TEST_JAILBREAK GLITCH_TEST_HATE"}),
        )
        .await;
        assert_eq!(status, 200);
        let labels: Vec<&str> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap())
            .collect();
        assert_eq!(labels[0], "JAILBREAK", "sorted by score: {body}");
        assert!(labels.contains(&"TYPE:moderated_content/hate"));
        assert!(labels.contains(&"BENIGN"));
    }

    // No marker: empty scores / BENIGN.
    let (_, body) = post(&fake, "/v1/chat/completions", &[], chat("hello")).await;
    assert_eq!(
        body["choices"][0]["message"]["content"],
        json!("{\"scores\":{}}")
    );
    let (_, body) = post(&fake, "/classify", &[], json!({"inputs": "hello"})).await;
    assert_eq!(body, json!([{"label": "BENIGN", "score": 0.99}]));

    let stats = fake.stats();
    assert_eq!(stats.calls_total, 6);
    assert_eq!(stats.calls_by_route["classify"], 2);
    // The classified text is the part between the markers (the system prompt's marker is not
    // part of it).
    assert_eq!(stats.texts[0], text);
    assert_eq!(stats.texts[4], "hello");
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.max_in_flight, 1);

    // Bad requests.
    let (status, _) = post(&fake, "/v1/messages", &[], json!({"messages": []})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn modes_fail_malformed_and_flapping() {
    let fake = start(FakeClassifierOptions {
        mode: Mode::Fail,
        ..FakeClassifierOptions::default()
    })
    .await;
    assert_eq!(
        post(&fake, "/v1/messages", &[], anthropic("x")).await.0,
        500
    );

    fake.set_mode(Mode::Malformed);
    let (status, body) = post(
        &fake,
        "/v1/chat/completions",
        &[],
        chat("GLITCH_TEST_ATTACK"),
    )
    .await;
    assert_eq!(status, 200);
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(serde_json::from_str::<Value>(content).is_err());
    let (status, body) = post(&fake, "/predict", &[], json!({"inputs": "x"})).await;
    assert_eq!(status, 200);
    assert!(!body.is_array());

    fake.set_mode(Mode::Flapping { period: 2 });
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(
            post(&fake, "/classify", &[], json!({"inputs": "x"}))
                .await
                .0,
        );
    }
    assert_eq!(statuses, vec![200, 200, 500, 500, 200, 200, 500]);
}

#[tokio::test]
async fn delays_hang_and_shutdown() {
    let fake = start(FakeClassifierOptions {
        delay: Duration::from_millis(150),
        ..FakeClassifierOptions::default()
    })
    .await;
    let started = std::time::Instant::now();
    post(&fake, "/classify", &[], json!({"inputs": "x"})).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    fake.set_delay(Duration::ZERO);
    let started = std::time::Instant::now();
    post(
        &fake,
        "/classify",
        &[],
        json!({"inputs": "x [[glitch-delay:120]]"}),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(120));

    fake.set_mode(Mode::Hang);
    let url = format!("{}/classify", fake.url());
    let hanging = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&json!({"inputs": "x"}))
            .send()
            .await
    });
    for _ in 0..100 {
        if fake.stats().in_flight == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fake.stats().in_flight, 1);
    assert!(!hanging.is_finished());
    // Shutdown drops the hanging connection: the client sees an error, not a hang.
    let addr = fake.addr;
    fake.shutdown().await;
    let result = tokio::time::timeout(Duration::from_secs(5), hanging)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_err());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn auth_and_credentials_seen() {
    let fake = start(FakeClassifierOptions {
        api_key: Some("k-123".to_owned()),
        ..FakeClassifierOptions::default()
    })
    .await;
    assert_eq!(
        post(&fake, "/v1/messages", &[], anthropic("x")).await.0,
        401
    );
    assert_eq!(
        post(
            &fake,
            "/v1/messages",
            &[("x-api-key", "k-123")],
            anthropic("x")
        )
        .await
        .0,
        200
    );
    assert_eq!(
        post(
            &fake,
            "/v1/chat/completions",
            &[("authorization", "k-123")],
            chat("x")
        )
        .await
        .0,
        401
    );
    assert_eq!(
        post(
            &fake,
            "/v1/chat/completions",
            &[
                ("authorization", "Bearer k-123"),
                ("x-glitch-key", "glitch_sk_x")
            ],
            chat("x")
        )
        .await
        .0,
        200
    );
    let seen: Vec<(String, String)> = fake
        .stats()
        .credentials
        .into_iter()
        .map(|c| (c.header, c.value))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("x-api-key".to_owned(), "k-123".to_owned()),
            ("authorization".to_owned(), "k-123".to_owned()),
            ("authorization".to_owned(), "Bearer k-123".to_owned()),
            ("x-glitch-key".to_owned(), "glitch_sk_x".to_owned()),
        ]
    );
    fake.reset_stats();
    assert!(fake.stats().credentials.is_empty());
    assert_eq!(fake.stats().calls_total, 0);
}

#[tokio::test]
async fn control_and_stats_routes() {
    let fake = start(FakeClassifierOptions::default()).await;
    let (status, body) = post(
        &fake,
        "/control",
        &[],
        json!({"mode": "flapping:3", "delay_ms": 5}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"mode": "flapping:3", "delay_ms": 5}));
    assert_eq!(fake.mode(), Mode::Flapping { period: 3 });
    assert_eq!(
        post(&fake, "/control", &[], json!({"mode": "weird"}))
            .await
            .0,
        400
    );
    assert_eq!(
        post(&fake, "/control", &[], json!({"bogus": 1})).await.0,
        400
    );
    post(&fake, "/classify", &[], json!({"inputs": "hello"})).await;
    let stats: Value = reqwest::get(format!("{}/stats", fake.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["calls_total"], 1);
    assert_eq!(stats["texts"], json!(["hello"]));
    let (status, _) = post(
        &fake,
        "/control",
        &[],
        json!({"reset_stats": true, "mode": "normal"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fake.stats().calls_total, 0);
    assert_eq!(fake.mode(), Mode::Normal);
}

#[tokio::test]
async fn concurrency_is_measured() {
    let fake = start(FakeClassifierOptions {
        delay: Duration::from_millis(100),
        ..FakeClassifierOptions::default()
    })
    .await;
    let mut calls = Vec::new();
    for _ in 0..5 {
        let url = format!("{}/predict", fake.url());
        calls.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .json(&json!({"inputs": "x"}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap(), 200);
    }
    let stats = fake.stats();
    assert_eq!(stats.max_in_flight, 5);
    assert_eq!(stats.in_flight, 0);
}
