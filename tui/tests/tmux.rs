//! The real `glitch-console` binary in a real terminal (tmux) against a real
//! `glitch-audit-consumer` reading a real sensor event log: protobuf `SecurityEvent`s written
//! with `glitch_eventlog::EventLogWriter`. The test types keys and reads the screen like a
//! person would: sessions, a blocked request and why, raw JSON, help, search, live mode (an
//! event appended while the console runs shows up by itself), a bad token and an unreachable
//! API shown on the status line, and the terminal given back on quit.
//!
//! tmux must be installed (`apt-get install -y tmux`); without it the test fails, it never
//! skips.

#![allow(
    clippy::panic,
    reason = "a missing prerequisite must fail the test loudly, never skip it"
)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use glitch_eventlog::{EventLogWriter, WriterOptions};
use glitch_proto::events::v1::{Conversation, Finding, Latency, Risk, SecurityEvent};
use prost::Message;

const TOKEN: &str = "console-test-admin-token-0123456789";
const SESSION_A: &str = "c0ffee01-aaaa-4bbb-8ccc-000000000001";
const SESSION_B: &str = "beefcafe-dddd-4eee-8fff-000000000002";
const SESSION_LIVE: &str = "d00dfeed-1111-4222-8333-000000000003";
/// How long to wait for something to appear on screen before failing.
const PATIENCE: Duration = Duration::from_secs(30);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn ts(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

fn event_id(ms: i64, n: u64) -> String {
    let ms = ms as u64;
    format!(
        "{:08x}-{:04x}-7000-8000-{:012x}",
        (ms >> 16) & 0xffff_ffff,
        ms & 0xffff,
        n
    )
}

fn event(n: u64, ms: i64, session: &str, decision: &str, path: &str) -> SecurityEvent {
    let messages = serde_json::json!([
        {"role": "user", "content": "Why does the deploy to staging fail since this morning?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me read the deploy script."},
            {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "cat deploy.sh"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "aws s3 sync ./dist s3://staging"}]},
        {"role": "user", "content": [{"type": "text", "text": "the deploy script uses AKIA******** for the bucket, rotate it?"}]}
    ]);
    let blocked = decision == "blocked";
    SecurityEvent {
        event_id: event_id(ms, n),
        time: Some(ts(ms)),
        sensor_id: "sensor-test".into(),
        region: "local".into(),
        project_id: "proj_demo".into(),
        key_id: "key_laptop".into(),
        session_id: session.into(),
        method: "POST".into(),
        path: path.into(),
        query: "beta=true".into(),
        model: "claude-sonnet-4-5-20250929".into(),
        stream: true,
        decision: decision.into(),
        risk: Some(Risk {
            blocked,
            categories: if blocked {
                vec!["secrets/aws_access_key".into()]
            } else {
                vec![]
            },
            confidence: if blocked { 0.99 } else { 0.0 },
        }),
        findings: if blocked {
            vec![Finding {
                detector_type: "secrets/aws_access_key".into(),
                source: "signature".into(),
                confidence: 0.99,
                level: "L1".into(),
                action: "block".into(),
                direction: "input".into(),
                location: "messages[3].content[0]".into(),
                excerpt: "the deploy script uses [AKIA********] for the bucket, rotate it?".into(),
                opinions: Vec::new(),
            }]
        } else {
            vec![]
        },
        status: if blocked { 403 } else { 200 },
        upstream_status: if blocked { 0 } else { 200 },
        input_tokens: if blocked { 0 } else { 1200 + n },
        output_tokens: if blocked { 0 } else { 80 },
        latency_ms: Some(Latency {
            total: if blocked { 2.5 } else { 900.0 },
            detection: 1.5,
            upstream_first_byte: if blocked { 0.0 } else { 400.0 },
        }),
        user_agent: "claude-cli/2.0.14 (external, cli)".into(),
        request_headers: HashMap::from([
            ("x-api-key".to_owned(), "[REDACTED]".to_owned()),
            ("anthropic-version".to_owned(), "2023-06-01".to_owned()),
        ]),
        conversation: Some(Conversation {
            system_json: r#"[{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude."}]"#.into(),
            tools_json: r#"[{"name":"Bash","description":"Run a command","input_schema":{"type":"object"}}]"#.into(),
            messages_json: messages.to_string(),
            truncated: false,
            response_text: String::new(),
            tools_sha256: "ab".repeat(32),
            tool_names: vec!["Bash".into()],
            omitted_reason: String::new(),
        }),
        policy_id: "balanced".into(),
        config_version: 3,
        ..SecurityEvent::default()
    }
}

fn write_events(dir: &Path, events: &[SecurityEvent]) {
    let mut writer = EventLogWriter::open(dir, WriterOptions::default())
        .unwrap_or_else(|e| panic!("cannot open the event log {}: {e}", dir.display()));
    let records: Vec<Vec<u8>> = events.iter().map(Message::encode_to_vec).collect();
    writer
        .append_batch(records.iter())
        .unwrap_or_else(|e| panic!("cannot write events: {e}"));
}

/// A workspace binary in this test's profile, built first (cargo is a no-op when fresh). Built
/// from the workspace root like `cargo test --workspace` builds it, so the features match and
/// nothing is rebuilt.
fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let mut profile_dir = exe
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("unexpected test binary location {}", exe.display()));
    if profile_dir.file_name().is_some_and(|n| n == "deps") {
        profile_dir.pop();
    }
    let target_dir = profile_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("no target dir above {}", profile_dir.display()));
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env("CARGO_TARGET_DIR", &target_dir)
        .args(["build", "--quiet", "--bin", name]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo build for {name}: {e}"));
    assert!(status.success(), "cargo build --bin {name} failed");
    let bin = profile_dir.join(name);
    assert!(bin.exists(), "{} missing after building", bin.display());
    bin
}

/// The audit consumer, killed when dropped.
struct Consumer {
    child: Child,
    url: String,
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_consumer(events: &Path, index: &Path) -> Consumer {
    let bin = workspace_bin("glitch-audit-consumer");
    let mut child = Command::new(&bin)
        .args([
            "--events".to_owned(),
            format!("file:{}", events.display()),
            "--index".to_owned(),
            format!("sqlite://{}", index.display()),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--log-format".to_owned(),
            "json".to_owned(),
        ])
        .env("GLITCH_ADMIN_TOKEN", TOKEN)
        .env_remove("GLITCH_AUDIT_TOKENS")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut consumer = Consumer {
        child,
        url: String::new(),
    };
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if let Some(at) = line.find("listening on http://") {
                    let url: String = line[at + "listening on ".len()..]
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"')
                        .collect();
                    consumer.url = url;
                    // Keep draining its log so it never blocks on a full pipe.
                    std::thread::spawn(move || while rx.recv().is_ok() {});
                    return consumer;
                }
                seen.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!(
        "glitch-audit-consumer did not report its address; it logged:\n{}",
        seen.join("\n")
    );
}

/// One tmux server of our own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        match Command::new("tmux").arg("-V").output() {
            Ok(out) if out.status.success() => {}
            _ => panic!(
                "tmux is not installed; install it (apt-get install -y tmux): this test never skips"
            ),
        }
        Tmux {
            socket: format!("glitch-console-test-{}", std::process::id()),
        }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("tmux {args:?}: {e}"));
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `command` in a new 100×30 window named `name`; when it exits the window stays
    /// and shows its exit status.
    fn start(&self, name: &str, command: &str) {
        let shell = format!("{command}; echo \"console exited with $?\"; exec sleep 600");
        self.tmux(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "100",
            "-y",
            "30",
            "sh",
            "-c",
            &shell,
        ]);
    }

    fn keys(&self, name: &str, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", name, k]);
        }
    }

    fn screen(&self, name: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-t", name])
    }

    /// Waits until the screen shows every one of `texts`; fails with the screen otherwise.
    async fn wait_for(&self, name: &str, texts: &[&str]) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen(name);
            if texts.iter().all(|t| screen.contains(t)) {
                capture(&screen);
                return screen;
            }
            if Instant::now() > deadline {
                panic!("the screen never showed {texts:?}; it shows:\n{screen}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// With `GLITCH_CONSOLE_CAPTURE_DIR` set, every screen the test waited for is saved there
/// (`01.txt`, `02.txt`, ...): the README's captures come from this.
fn capture(screen: &str) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    if let Some(dir) = std::env::var_os("GLITCH_CONSOLE_CAPTURE_DIR") {
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = Path::new(&dir).join(format!("{n:02}.txt"));
        if let Err(e) = std::fs::write(&path, screen) {
            panic!("cannot write {}: {e}", path.display());
        }
    }
}

fn console_command(api: &str, token: &str) -> String {
    format!(
        "env TERM=xterm-256color GLITCH_ADMIN_TOKEN='{token}' {} --api {api} --refresh 500ms",
        env!("CARGO_BIN_EXE_glitch-console")
    )
}

#[tokio::test]
async fn console_in_tmux_against_a_real_audit_consumer() {
    let tmux = Tmux::new();
    let dir = tempfile::tempdir().unwrap();
    let events_dir = dir.path().join("events");
    let now = now_ms();
    write_events(
        &events_dir,
        &[
            event(1, now - 300_000, SESSION_B, "allowed", "/v1/messages"),
            event(2, now - 90_000, SESSION_A, "allowed", "/v1/messages"),
            event(
                3,
                now - 80_000,
                SESSION_A,
                "allowed",
                "/v1/messages/count_tokens",
            ),
            event(4, now - 60_000, SESSION_A, "blocked", "/v1/messages"),
            event(5, now - 30_000, SESSION_A, "allowed", "/v1/messages"),
        ],
    );
    let consumer = start_consumer(&events_dir, &dir.path().join("audit.db"));

    // Home: both sessions, the one with a blocked request marked.
    tmux.start("main", &console_command(&consumer.url, TOKEN));
    let home = tmux
        .wait_for("main", &["c0ffee01", "beefcafe", "proj_demo", "SESSION"])
        .await;
    let row = home
        .lines()
        .find(|l| l.contains("c0ffee01"))
        .unwrap_or_default();
    assert!(
        row.starts_with('!'),
        "the session with a blocked request is marked: {row:?}"
    );

    // Into the session: its requests in time order, the blocked one with its detector.
    tmux.keys("main", &["Enter"]);
    let session = tmux
        .wait_for(
            "main",
            &["Session c0ffee01", "blocked", "secrets/aws_access_key"],
        )
        .await;
    assert!(
        !session.contains("count_tokens"),
        "the default path filter hides count_tokens"
    );
    let blocked_row = session
        .lines()
        .find(|l| l.contains("blocked  403"))
        .unwrap_or_else(|| panic!("no blocked row:\n{session}"));
    assert!(blocked_row.starts_with('✖'), "{blocked_row:?}");

    // Into the blocked request (selected on entry): why, and what was said.
    tmux.keys("main", &["Enter"]);
    tmux.wait_for(
        "main",
        &["BLOCKED", "Findings (1)", "secrets/aws_access_key"],
    )
    .await;
    tmux.keys("main", &["]"]);
    tmux.wait_for(
        "main",
        &[
            "⚑ finding [1] secrets/aws_access_key",
            "uses AKIA******** for the bucket",
        ],
    )
    .await;

    // Raw JSON and back.
    tmux.keys("main", &["J"]);
    tmux.wait_for("main", &["raw JSON", "\"config_version\": 3,"])
        .await;
    tmux.keys("main", &["J"]);

    // Help overlay lists the keys; any key closes it.
    tmux.keys("main", &["?"]);
    tmux.wait_for("main", &["Keys", "this help", "quit"]).await;
    tmux.keys("main", &["Escape"]);

    // Back out twice to the sessions.
    tmux.keys("main", &["Escape"]);
    tmux.wait_for("main", &["Session c0ffee01", "DECISION"])
        .await;
    tmux.keys("main", &["Escape"]);
    tmux.wait_for("main", &["SESSION", "beefcafe"]).await;

    // Live mode: an event of a new session, appended to the log while the console runs,
    // appears without a key press.
    write_events(
        &events_dir,
        &[event(6, now_ms(), SESSION_LIVE, "blocked", "/v1/messages")],
    );
    let live = tmux.wait_for("main", &["d00dfeed"]).await;
    assert!(live.contains("● live"));

    // Search on session ids.
    tmux.keys("main", &["/", "beef", "Enter"]);
    let searched = tmux
        .wait_for("main", &["1 of 3 sessions match", "search=\"beef\""])
        .await;
    assert!(!searched.contains("c0ffee01"));

    // Quit: the terminal is given back (no console on screen) and the exit status is 0.
    tmux.keys("main", &["q"]);
    let after = tmux.wait_for("main", &["console exited with 0"]).await;
    assert!(
        !after.contains("glitch-console ▸"),
        "the screen was not restored:\n{after}"
    );

    // A wrong token: a clear status line, retries, no crash; q still quits cleanly.
    tmux.start(
        "badtoken",
        &console_command(&consumer.url, "not-the-right-token-000"),
    );
    tmux.wait_for("badtoken", &["token rejected (401)", "GLITCH_ADMIN_TOKEN"])
        .await;
    tmux.keys("badtoken", &["q"]);
    tmux.wait_for("badtoken", &["console exited with 0"]).await;

    // Nothing listening: "unreachable" and a retry countdown; q quits cleanly.
    tmux.start("down", &console_command("http://127.0.0.1:9", TOKEN));
    tmux.wait_for("down", &["audit API unreachable", "retrying in"])
        .await;
    tmux.keys("down", &["q"]);
    tmux.wait_for("down", &["console exited with 0"]).await;
    drop(consumer);
}
