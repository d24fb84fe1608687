//! Connection-level misbehaviour: drops, stalls, hanging streams, and the
//! connection / stream counters that let tests spot leaks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "integration tests fail by panicking"
)]

mod common;

use std::time::{Duration, Instant};

use common::{client, eventually, messages_body, parse_event, post_messages};
use futures_util::StreamExt;
use glitch_fake_anthropic::FakeAnthropic;

const SETTLE: Duration = Duration::from_secs(5);

#[tokio::test]
async fn drop_stream_sends_message_start_then_aborts() {
    let fake = FakeAnthropic::start().await.unwrap();
    let body = messages_body("hi", true);
    let response = post_messages(&fake, &body, Some("drop")).await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    let (name, _) = parse_event(std::str::from_utf8(&first).unwrap());
    assert_eq!(name, "message_start");
    let mut saw_error = false;
    while let Some(chunk) = stream.next().await {
        if chunk.is_err() {
            saw_error = true;
            break;
        }
    }
    assert!(saw_error, "the client must see the stream fail");
    assert!(eventually(SETTLE, || fake.stats().connections_open == 0).await);
}

#[tokio::test]
async fn drop_non_stream_truncates_the_body() {
    let fake = FakeAnthropic::start().await.unwrap();
    let body = messages_body("hi [[fake:drop]]", false);
    let response = post_messages(&fake, &body, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(1000));
    assert!(response.bytes().await.is_err());
    assert!(eventually(SETTLE, || fake.stats().connections_open == 0).await);
}

#[tokio::test]
async fn stall_is_cancelled_by_a_client_timeout() {
    let fake = FakeAnthropic::start().await.unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let result = http
        .post(format!("{}/v1/messages", fake.url()))
        .header("x-fake-scenario", "stall")
        .json(&messages_body("hi", false))
        .send()
        .await;
    let error = result.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        fake.requests().len(),
        1,
        "stalled request is still recorded"
    );
    assert!(eventually(SETTLE, || fake.stats().connections_open == 0).await);
    assert_eq!(fake.stats().connections_total, 1);
}

#[tokio::test]
async fn stall_stream_abort_is_counted_and_connection_closed() {
    let fake = FakeAnthropic::start().await.unwrap();
    let body = messages_body("hi [[fake:stall-stream]]", true);
    let response = post_messages(&fake, &body, None).await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(
        parse_event(std::str::from_utf8(&first).unwrap()).0,
        "message_start"
    );
    // Nothing more arrives.
    let more = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
    assert!(more.is_err(), "stall-stream must hang after message_start");
    assert_eq!(fake.stats().connections_open, 1);
    assert_eq!(fake.stats().streams_started, 1);

    drop(stream);
    assert!(eventually(SETTLE, || fake.stats().connections_open == 0).await);
    assert!(eventually(SETTLE, || fake.stats().streams_aborted == 1).await);
    let stats = fake.stats();
    assert_eq!(stats.streams_completed, 0);
    assert_eq!(stats.connections_total, 1);
}

#[tokio::test]
async fn stall_stream_over_http2_is_cleaned_up_too() {
    let fake = FakeAnthropic::start().await.unwrap();
    let http = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = http
        .post(format!("{}/v1/messages", fake.url()))
        .header("x-fake-scenario", "stall-stream")
        .json(&messages_body("hi", true))
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    assert!(eventually(SETTLE, || fake.stats().streams_aborted == 1).await);
    drop(http);
    assert!(eventually(SETTLE, || fake.stats().connections_open == 0).await);
}

#[tokio::test]
async fn connections_are_counted_exactly() {
    let fake = FakeAnthropic::start().await.unwrap();
    // A pooled client keeps its connection open between requests.
    let pooled = reqwest::Client::new();
    for _ in 0..3 {
        let response = pooled
            .post(format!("{}/v1/messages", fake.url()))
            .json(&messages_body("hi", true))
            .send()
            .await
            .unwrap();
        response.text().await.unwrap();
    }
    assert_eq!(fake.stats().connections_open, 1);
    assert_eq!(fake.stats().connections_total, 1);
    // A client that doesn't pool opens a connection per request.
    for _ in 0..3 {
        post_messages(&fake, &messages_body("hi", false), None)
            .await
            .bytes()
            .await
            .unwrap();
    }
    assert!(eventually(SETTLE, || fake.stats().connections_open == 1).await);
    assert_eq!(fake.stats().connections_total, 4);
    drop(pooled);
    assert!(eventually(SETTLE, || fake.stats().connections_open == 0).await);
    let stats = fake.stats();
    assert_eq!(stats.streams_started, 3);
    assert_eq!(stats.streams_completed, 3);
    assert_eq!(stats.streams_aborted, 0);
}

#[tokio::test]
async fn shutdown_cuts_stalled_requests_and_hanging_streams() {
    let fake = FakeAnthropic::start().await.unwrap();
    let url = fake.url();
    let stalled = tokio::spawn({
        let url = url.clone();
        async move {
            client()
                .post(format!("{url}/v1/messages"))
                .header("x-fake-scenario", "stall")
                .json(&messages_body("hi", false))
                .send()
                .await
        }
    });
    let response = client()
        .post(format!("{url}/v1/messages"))
        .header("x-fake-scenario", "stall-stream")
        .json(&messages_body("hi", true))
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    stream.next().await.unwrap().unwrap();
    assert!(eventually(SETTLE, || fake.requests().len() == 2).await);

    let started = Instant::now();
    fake.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let stalled = tokio::time::timeout(SETTLE, stalled)
        .await
        .unwrap()
        .unwrap();
    assert!(stalled.is_err());
    let rest = tokio::time::timeout(SETTLE, async {
        while let Some(chunk) = stream.next().await {
            if chunk.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(rest.is_ok(), "the hanging stream must end on shutdown");
    // The port is closed.
    assert!(client().get(&url).send().await.is_err());
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let fake = FakeAnthropic::start().await.unwrap();
    let url = fake.url();
    assert!(client().get(&url).send().await.is_ok());
    drop(fake);
    assert!(
        eventually(SETTLE, || {
            std::net::TcpStream::connect(url.trim_start_matches("http://")).is_err()
        })
        .await
    );
}
