//! The real `glitch-audit-consumer` binary: `--help` lists every flag and env var; bad
//! configuration exits non-zero with a one-line reason; killed with SIGKILL in the middle of a
//! stream and started again, it indexes every event exactly once; SIGTERM exits 0.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::events::realistic_event;
use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_glitch-audit-consumer");

fn command(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env_remove("GLITCH_ADMIN_TOKEN")
        .env_remove("GLITCH_AUDIT_TOKENS")
        .env_remove("GLITCH_EVENTS")
        .env_remove("GLITCH_AUDIT_INDEX")
        .env_remove("GLITCH_AUDIT_RETENTION")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

#[tokio::test]
async fn help_lists_every_flag() {
    let out = Command::new(BIN).arg("--help").output().await.unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--events",
        "GLITCH_EVENTS",
        "--group",
        "GLITCH_AUDIT_GROUP",
        "--index",
        "GLITCH_AUDIT_INDEX",
        "--listen",
        "GLITCH_AUDIT_LISTEN",
        "--retention",
        "GLITCH_AUDIT_RETENTION",
        "--batch-size",
        "GLITCH_AUDIT_BATCH_SIZE",
        "--log-format",
        "GLITCH_LOG_FORMAT",
        "GLITCH_ADMIN_TOKEN",
        "GLITCH_AUDIT_TOKENS",
        "file:./glitch-data/events",
        "sqlite://./glitch-data/audit.db",
        "127.0.0.1:8082",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}

async fn one_line_reason(c: &mut Command) -> String {
    let out = tokio::time::timeout(Duration::from_secs(60), c.output())
        .await
        .unwrap()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find(|l| l.starts_with("glitch-audit-consumer: "))
        .unwrap_or_else(|| panic!("no one-line reason in {stderr}"))
        .to_owned()
}

#[tokio::test]
async fn bad_config_exits_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let reason = one_line_reason(
        command(dir.path())
            .env("GLITCH_ADMIN_TOKEN", ADMIN)
            .args(["--index", "mysql://user:hunter2@db/audit"]),
    )
    .await;
    assert!(reason.contains("unsupported index URL"), "{reason}");
    assert!(!reason.contains("hunter2"), "{reason}");

    let reason = one_line_reason(&mut command(dir.path())).await;
    assert!(reason.contains("GLITCH_ADMIN_TOKEN"), "{reason}");

    let reason = one_line_reason(
        command(dir.path())
            .env("GLITCH_ADMIN_TOKEN", ADMIN)
            .env("GLITCH_AUDIT_TOKENS", "proj_a"),
    )
    .await;
    assert!(reason.contains("GLITCH_AUDIT_TOKENS"), "{reason}");

    let reason = one_line_reason(
        command(dir.path())
            .env("GLITCH_ADMIN_TOKEN", ADMIN)
            .args(["--events", "s3://bucket"]),
    )
    .await;
    assert!(reason.contains("--events"), "{reason}");

    let out = command(dir.path())
        .env("GLITCH_ADMIN_TOKEN", ADMIN)
        .args(["--retention", "forever"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("retention"));
}

/// Starts the binary; returns it and its API URL (from the listening line).
async fn spawn(dir: &Path, events: &Path, index: &str) -> (Child, String) {
    let mut child = command(dir)
        .env("GLITCH_ADMIN_TOKEN", ADMIN)
        .env("GLITCH_EVENTS", format!("file:{}", events.display()))
        .env("GLITCH_AUDIT_INDEX", index)
        .args(["--batch-size", "200"])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line.find("listening on ") {
                return line[at + "listening on ".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_owned();
            }
        }
        panic!("the binary exited without its listening line");
    })
    .await
    .unwrap();
    // Keep draining the log so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

async fn health(client: &reqwest::Client, url: &str) -> serde_json::Value {
    client
        .get(format!("{url}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn sigkill_mid_stream(db: &TestDb) {
    const EVENTS: u64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events");
    let events: Vec<_> = (0..EVENTS)
        .map(|i| realistic_event(i, 1_767_000_000_000))
        .collect();
    for chunk in events.chunks(1000) {
        write_events(&log, chunk);
    }
    let client = reqwest::Client::new();

    let (mut child, url) = spawn(dir.path(), &log, &db.url).await;
    let indexed = std::cell::Cell::new(0);
    wait_until("some events indexed", || async {
        let n = health(&client, &url).await["events_indexed"]
            .as_u64()
            .unwrap();
        indexed.set(n);
        n >= 1000
    })
    .await;
    let killed_at = indexed.get();
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    assert!(
        killed_at < EVENTS,
        "{}: the kill came after the whole stream ({killed_at}); nothing was tested",
        db.kind
    );

    let (mut child, url) = spawn(dir.path(), &log, &db.url).await;
    wait_until("the rest of the stream", || async {
        count_rows(db, "SELECT COUNT(*) FROM events").await >= EVENTS as i64
    })
    .await;
    assert_eq!(
        count_rows(db, "SELECT COUNT(*) FROM events").await,
        EVENTS as i64,
        "{}",
        db.kind
    );
    assert_eq!(
        count_rows(db, "SELECT COUNT(DISTINCT event_id) FROM events").await,
        EVENTS as i64
    );
    let sessions_total = count_rows(
        db,
        "SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM sessions",
    )
    .await;
    assert_eq!(
        sessions_total, EVENTS as i64,
        "session totals counted each event once"
    );
    let h = health(&client, &url).await;
    assert_eq!(
        h["duplicates_skipped"], 0,
        "{}: resumed exactly after the last commit: {h}",
        db.kind
    );

    // SIGTERM: a clean exit.
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits within 30 s of SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn sigkill_mid_stream_is_exactly_once_on_sqlite() {
    sigkill_mid_stream(&sqlite_db()).await;
}

#[tokio::test]
async fn sigkill_mid_stream_is_exactly_once_on_postgres() {
    sigkill_mid_stream(&postgres_db().await).await;
}

#[tokio::test]
async fn default_paths_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = {
        let mut child = command(dir.path())
            .env("GLITCH_ADMIN_TOKEN", ADMIN)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(at) = line.find("glitch-audit-consumer listening on http://") {
                    return line[at + "glitch-audit-consumer listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .to_owned();
                }
            }
            panic!("no listening line");
        })
        .await
        .unwrap();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        (child, url)
    };
    let h = health(&reqwest::Client::new(), &url).await;
    assert_eq!(h["status"], "healthy", "{h}");
    assert!(dir.path().join("glitch-data/audit.db").exists());
    assert!(dir.path().join("glitch-data/events").is_dir());
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}
