//! Bad input from the network and misbehaving peers: every case gets the contract's error or a
//! clean close, never a panic, a hung task or a leaked upstream connection.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn post_raw_body(h: &Harness, body: Vec<u8>) -> reqwest::Response {
    h.client
        .post(format!("{}/v1/messages", h.base))
        .header("x-glitch-key", KEY)
        .header("x-api-key", anthropic_key())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn malformed_bodies_get_400_in_anthropic_envelope() {
    let mut h = Harness::start().await;
    let cases: [(&[u8], &str); 5] = [
        (b"{\"model\": ", "not valid JSON"),
        (b"[1, 2, 3]", "must be a JSON object"),
        (b"\"just a string\"", "must be a JSON object"),
        (
            b"{\"messages\": [{\"content\": \"\xff\xfe\"}]}",
            "not valid JSON",
        ),
        (b"", "not valid JSON"),
    ];
    for (body, expect) in cases {
        let resp = post_raw_body(&h, body.to_vec()).await;
        assert_eq!(resp.status(), 400, "{:?}", String::from_utf8_lossy(body));
        assert_eq!(resp.headers()["x-risk-blocked"], "false");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.starts_with("Glitch: ") && msg.contains(expect), "{msg}");
    }
    assert!(h.fake.requests().is_empty());
    let events = h.stop().await;
    assert_eq!(events.len(), 5);
    assert!(
        events
            .iter()
            .all(|e| e.decision == "error" && e.status == 400)
    );
}

#[tokio::test]
async fn oversized_body_is_a_413() {
    let mut h = Harness::start().await;
    // 40 MiB, over the default 32 MiB limit.
    let resp = h
        .client
        .post(format!("{}/v1/messages", h.base))
        .header("x-glitch-key", KEY)
        .body(vec![b'a'; 40 * 1024 * 1024])
        .send()
        .await;
    match resp {
        Ok(resp) => {
            assert_eq!(resp.status(), 413);
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["error"]["type"], "request_too_large");
            assert!(
                v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("Glitch: ")
            );
        }
        // The sensor may answer and close before the client finished sending; then the client
        // sees a reset. Either way nothing went upstream and the event says 413.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    // A chunked body with no content-length is cut off at the limit too.
    let chunks = futures_util::stream::iter(
        (0..40).map(|_| Ok::<_, std::io::Error>(vec![b'b'; 1024 * 1024])),
    );
    let resp = h
        .client
        .post(format!("{}/v1/messages", h.base))
        .header("x-glitch-key", KEY)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 413);
    }
    assert!(h.fake.requests().is_empty());
    let events = h.stop().await;
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.status == 413), "{events:?}");
}

async fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn header_smuggling_attempts_are_refused() {
    let h = Harness::start().await;
    let addr = h.sensor.as_ref().unwrap().addr;
    let body = r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}"#;
    let two_lengths = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-glitch-key: {KEY}\r\ncontent-length: {}\r\ncontent-length: 5\r\n\r\n{body}",
        body.len()
    );
    let reply = raw_exchange(addr, two_lengths.as_bytes()).await;
    assert!(
        reply.starts_with("HTTP/1.1 400"),
        "two content-lengths: {reply}"
    );

    let te_and_cl = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-glitch-key: {KEY}\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n"
    );
    let reply = raw_exchange(addr, te_and_cl.as_bytes()).await;
    assert!(
        !reply.contains("HTTP/1.1 200"),
        "TE+CL must not smuggle a second request: {reply}"
    );

    let bad_te = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-glitch-key: {KEY}\r\ntransfer-encoding: gzip, chunked, identity\r\n\r\n0\r\n\r\n"
    );
    let reply = raw_exchange(addr, bad_te.as_bytes()).await;
    assert!(
        reply.starts_with("HTTP/1.1 400"),
        "odd transfer-encoding: {reply}"
    );

    let garbage = raw_exchange(addr, b"\x16\x03\x01\x02\x00garbage not http\r\n\r\n").await;
    assert!(
        garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"),
        "{garbage}"
    );
    // Nothing reached upstream and the sensor still serves.
    assert!(
        h.fake
            .requests()
            .iter()
            .all(|r| r.path_and_query != "/v1/models")
    );
    assert_eq!(
        h.messages(KEY, &simple_body("hi", false))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn client_disconnect_mid_stream_closes_the_upstream_stream() {
    let mut h = Harness::start().await;
    let resp = h
        .messages(KEY, &simple_body("hi", true))
        .header("x-fake-scenario", "slow-stream-ms-300")
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(stream);
    let closed = eventually(Duration::from_secs(10), async || {
        let s = h.fake.stats();
        s.streams_aborted >= 1 && s.connections_open == 0
    })
    .await;
    assert!(
        closed,
        "upstream stream still open after the client left: {:?}",
        h.fake.stats()
    );
    let events = h.stop().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].completion, "client_disconnected");
    assert_eq!(events[0].status, 200);
}

#[tokio::test]
async fn stalled_upstream_gets_a_504_and_a_stalled_stream_is_cut() {
    let mut h = Harness::start_with(
        POLICY,
        &["--upstream-timeout-secs=1", "--stream-idle-timeout-secs=1"],
        None,
    )
    .await;
    let resp = h
        .messages(KEY, &simple_body("hi", false))
        .header("x-fake-scenario", "stall")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Glitch: upstream")
    );

    let resp = h
        .messages(KEY, &simple_body("hi", true))
        .header("x-fake-scenario", "stall-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let outcome = tokio::time::timeout(Duration::from_secs(10), resp.text()).await;
    assert!(
        matches!(outcome, Ok(Err(_))),
        "the stalled stream ends with an error, not a hang"
    );
    let closed = eventually(Duration::from_secs(10), async || {
        h.fake.stats().connections_open == 0
    })
    .await;
    assert!(closed, "{:?}", h.fake.stats());
    let events = h.stop().await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].status, 504);
    assert_eq!(events[1].completion, "upstream_idle_timeout");
}

#[tokio::test]
async fn upstream_dropping_the_connection_ends_the_response_cleanly() {
    let mut h = Harness::start().await;
    let resp = h
        .messages(KEY, &simple_body("hi", true))
        .header("x-fake-scenario", "drop")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.text().await.is_err(),
        "the client sees the stream cut, not a clean end"
    );
    let resp = h
        .messages(KEY, &simple_body("hi", false))
        .header("x-fake-scenario", "drop")
        .send()
        .await;
    if let Ok(resp) = resp {
        assert!(resp.text().await.is_err());
    }
    assert_eq!(
        h.messages(KEY, &simple_body("hi", false))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let events = h.stop().await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].completion, "upstream_error");
}

#[tokio::test]
async fn non_canonical_paths_and_duplicate_keys_are_refused() {
    let mut h = Harness::start().await;
    let addr = h.sensor.as_ref().unwrap().addr;
    let body = serde_json::to_string(&simple_body("bluebird", false)).unwrap();
    // Raw requests: an HTTP client library would normalise these paths before sending.
    for path in [
        "/v1//messages",
        "/v1/messages/.",
        "/v1/./messages",
        "/v1/%6dessages",
        "/v1/models/../messages",
    ] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\nx-glitch-key: {KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let reply = raw_exchange(addr, request.as_bytes()).await;
        assert!(reply.starts_with("HTTP/1.1 400"), "{path}: {reply}");
    }
    let dup = br#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"bluebird"}],"messages":[{"role":"user","content":"hi"}]}"#;
    let resp = post_raw_body(&h, dup.to_vec()).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("duplicate key")
    );
    assert!(h.fake.requests().is_empty());
    let events = h.stop().await;
    assert_eq!(events.len(), 6);
    assert!(
        events
            .iter()
            .all(|e| e.status == 400 && e.decision == "error")
    );
}
