//! The real `glitch-control-plane` binary: refuses to start without a usable admin token (one
//! line, non-zero exit), logs its listening line with both addresses when started on port 0,
//! serves, and exits 0 on SIGTERM.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "tests fail loudly and print what they measure"
)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_glitch-control-plane");

fn command(dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env_remove("GLITCH_ADMIN_TOKEN")
        .env_remove("GLITCH_CP_DATABASE")
        .env("RUST_LOG", "info")
        .args(["--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

#[tokio::test]
async fn refuses_a_missing_or_short_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    for token in [None, Some("too-short")] {
        let mut c = command(dir.path());
        if let Some(token) = token {
            c.env("GLITCH_ADMIN_TOKEN", token);
        }
        let out = tokio::time::timeout(Duration::from_secs(30), c.output())
            .await
            .unwrap()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let reason = stderr
            .lines()
            .find(|l| l.starts_with("glitch-control-plane: "))
            .unwrap_or_else(|| panic!("no one-line reason in {stderr}"));
        assert!(reason.contains("GLITCH_ADMIN_TOKEN"), "{reason}");
    }
    // A database URL it cannot use: also one line.
    let out = command(dir.path())
        .env("GLITCH_ADMIN_TOKEN", "binary-test-token-0123")
        .args(["--database", "mysql://nope"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
}

#[tokio::test]
async fn serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(dir.path())
        .env("GLITCH_ADMIN_TOKEN", "binary-test-token-0123")
        .env("NO_COLOR", "1")
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (rest, grpc) = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line.find("glitch-control-plane listening on http://") {
                let rest_part = &line[at + "glitch-control-plane listening on ".len()..];
                let rest = rest_part.split_whitespace().next().unwrap().to_owned();
                let grpc_at = rest_part.find("(grpc ").unwrap() + "(grpc ".len();
                let grpc = rest_part[grpc_at..].split(')').next().unwrap().to_owned();
                return (rest, grpc);
            }
        }
        panic!("the binary exited without its listening line");
    })
    .await
    .unwrap();
    assert!(grpc.starts_with("http://127.0.0.1:"), "{grpc}");
    // Keep draining the log so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let client = reqwest::Client::new();
    let health: serde_json::Value = client
        .get(format!("{rest}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "healthy");
    let status = client
        .get(format!("{rest}/v1/projects"))
        .bearer_auth("binary-test-token-0123")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    // The default database is created under the working directory.
    assert!(dir.path().join("glitch-data/control-plane.db").exists());

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let exit = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits within 15 s of SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}
