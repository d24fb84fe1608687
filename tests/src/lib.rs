//! Helpers for the end-to-end tests: locating (and if needed building) the workspace's real
//! binaries, running them as child processes that are stopped with SIGTERM, locating the real
//! Claude Code CLI that `scripts/test.sh` installs, and reading the event log they write.

#![allow(
    clippy::panic,
    reason = "test support: a missing prerequisite must fail the test loudly, never skip it"
)]

pub mod audit_bench;
pub mod classifier_bench;
pub mod pipeline;
pub mod quality;
pub mod shapes;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use glitch_eventlog::{EventLogReader, Position};
use glitch_proto::events::v1::SecurityEvent;
use prost::Message;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Path of a workspace binary in the same profile as this test, built first if missing.
pub fn workspace_bin(name: &str) -> PathBuf {
    // Tests run from target/<profile>/deps/, binaries from target/<profile>/.
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let mut profile_dir = exe
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("unexpected binary location {}", exe.display()));
    if profile_dir.file_name().is_some_and(|n| n == "deps") {
        profile_dir.pop();
    }
    let bin = profile_dir.join(name);
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    // Always ask cargo: it is a no-op when the binary is fresh, and it never tests a stale one.
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--bin", name]);
    if release {
        build.arg("--release");
    }
    let status = build
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo build for {name}: {e}"));
    assert!(status.success(), "cargo build --bin {name} failed");
    assert!(
        bin.exists(),
        "{} does not exist after building",
        bin.display()
    );
    bin
}

/// The real Claude Code CLI: `GLITCH_CLAUDE_BIN`, else the cache `scripts/install-claude-code.sh`
/// fills. Panics with the fix when it is missing: these tests never skip.
pub fn claude_bin() -> PathBuf {
    if let Ok(path) = std::env::var("GLITCH_CLAUDE_BIN") {
        let path = PathBuf::from(path);
        assert!(
            path.exists(),
            "GLITCH_CLAUDE_BIN={} does not exist",
            path.display()
        );
        return path;
    }
    let script = workspace_root().join("scripts/install-claude-code.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "installing Claude Code failed; run scripts/test.sh (it installs the CLI from npm)"
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A child process stopped with SIGTERM (then SIGKILL) when dropped.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    /// Lines the process logged, as they arrived.
    pub log: mpsc::Receiver<String>,
}

impl ChildProcess {
    /// Starts `bin` with `args` and waits (up to 60 s) for a log line containing `ready`;
    /// returns the process and that line.
    pub fn spawn(
        bin: &Path,
        args: &[String],
        envs: &[(&str, &str)],
        ready: &str,
    ) -> (ChildProcess, String) {
        let (child, mut lines) = Self::spawn_lines(bin, args, envs, ready);
        let last = lines.pop().unwrap_or_default();
        (child, last)
    }

    /// Like [`spawn`](Self::spawn), returning every line logged up to and including the ready one.
    pub fn spawn_lines(
        bin: &Path,
        args: &[String],
        envs: &[(&str, &str)],
        ready: &str,
    ) -> (ChildProcess, Vec<String>) {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .envs(envs.iter().copied())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let (tx, rx) = mpsc::channel();
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(ready) => {
                    seen.push(line);
                    return (ChildProcess { child, log: rx }, seen);
                }
                Ok(line) => seen.push(line),
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "{} did not log {ready:?} within 60 s; it logged:\n{}",
                        bin.display(),
                        seen.join("\n")
                    );
                }
            }
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit status (SIGKILL after 30 s).
    #[allow(
        clippy::disallowed_methods,
        reason = "a plain thread waiting for a child, not a runtime worker"
    )]
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// Extracts `http://HOST:PORT` following `marker` in a log line.
pub fn url_after(line: &str, marker: &str) -> Option<String> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '/' | '[' | ']')))
        .unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// Every event in an event-log directory, in order.
pub fn read_events(dir: &Path) -> Vec<SecurityEvent> {
    let mut out = Vec::new();
    let Ok(mut reader) = EventLogReader::open(dir, Position::default()) else {
        return out;
    };
    while let Ok(Some((bytes, _))) = reader.next_record() {
        if let Ok(event) = SecurityEvent::decode(bytes.as_slice()) {
            out.push(event);
        }
    }
    out
}

/// What one run of the Claude Code CLI printed.
#[derive(Debug)]
pub struct ClaudeRun {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit status 0.
    pub success: bool,
}

/// Runs `claude -p PROMPT` through `base_url` with `glitch_key`, offline, in a fresh HOME, with
/// retries off (so a 401 is reported at once) and a realistic Anthropic key built at run time.
pub async fn run_claude(
    claude: &Path,
    base_url: &str,
    glitch_key: &str,
    prompt: &str,
) -> ClaudeRun {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let api_key = format!("sk-ant-api03-{}", "e2eKey0".repeat(13));
    let mut cmd = tokio::process::Command::new(claude);
    cmd.arg("-p")
        .arg(prompt)
        .current_dir(home.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("CLAUDE_CODE_MAX_RETRIES", "0")
        .env("ANTHROPIC_BASE_URL", base_url)
        .env("ANTHROPIC_API_KEY", api_key)
        .env(
            "ANTHROPIC_CUSTOM_HEADERS",
            format!("X-Glitch-Key: {glitch_key}"),
        )
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("claude did not finish within 180 s"))
        .unwrap_or_else(|e| panic!("cannot run claude: {e}"));
    ClaudeRun {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        success: out.status.success(),
    }
}
