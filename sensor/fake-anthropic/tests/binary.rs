//! The `glitch-fake-anthropic` binary: announces its address, serves, and
//! stops on SIGTERM.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "integration tests fail by panicking"
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Kills the child if the test fails before it is reaped.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test]
async fn binary_announces_address_serves_and_stops_on_sigterm() {
    let child = Command::new(env!("CARGO_BIN_EXE_glitch-fake-anthropic"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--stream-event-delay-ms",
            "1",
            "--no-record",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Reap(child);
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            line
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let response = reqwest::Client::new()
        .post(format!("{url}/v1/messages"))
        .json(&serde_json::json!({
            "model": "m", "max_tokens": 5, "stream": true,
            "messages": [{"role": "user", "content": "Print exactly the word: bin"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains(r#""text":"bin""#), "{text}");

    let pid = child.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let mut waited = None;
    for _ in 0..200 {
        if let Some(status) = child.0.try_wait().unwrap() {
            waited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let status = waited.expect("the binary must exit on SIGTERM");
    assert!(status.success(), "{status:?}");
}
