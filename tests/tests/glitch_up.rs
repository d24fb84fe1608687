//! `glitch up` end to end, with real processes: the control plane and a fleet-mode sensor start,
//! the printed Claude Code environment works with the real Claude Code CLI, a policy edited
//! through the admin commands is enforced without a restart, a revoked key is refused at once,
//! and `glitch sensors` shows the rollout.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use glitch_e2e::{ChildProcess, claude_bin, run_claude, workspace_bin};
use glitch_fake_anthropic::FakeAnthropic;
use serde_json::Value;

fn value_after<'a>(lines: &'a [String], marker: &str) -> &'a str {
    let line = lines
        .iter()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no {marker:?} in {lines:#?}"));
    line[line.find(marker).unwrap() + marker.len()..]
        .trim()
        .trim_end_matches('"')
}

fn glitch(bin: &Path, cp_url: &str, token: &str, args: &[&str]) -> Value {
    let out = Command::new(bin)
        .args(args)
        .env("GLITCH_CP_URL", cp_url)
        .env("GLITCH_ADMIN_TOKEN", token)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "glitch {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

async fn claude(claude: &Path, base: &str, key: &str, prompt: &str) -> (bool, String) {
    let run = run_claude(claude, base, key, prompt).await;
    (run.success, format!("{}{}", run.stdout, run.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glitch_up_runs_the_stack_for_claude_code() {
    let fake = FakeAnthropic::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let glitch_bin = workspace_bin("glitch");
    let args: Vec<String> = vec![
        "up".into(),
        format!("--data-dir={}", dir.path().display()),
        format!("--upstream={}", fake.url()),
        "--sensor-listen=127.0.0.1:0".into(),
        "--sensor-admin-listen=127.0.0.1:0".into(),
        "--cp-listen=127.0.0.1:0".into(),
        "--grpc-listen=127.0.0.1:0".into(),
        "--audit-listen=127.0.0.1:0".into(),
    ];
    let (mut up, lines) = ChildProcess::spawn_lines(
        &glitch_bin,
        &args,
        &[("GLITCH_ADMIN_TOKEN", "")],
        "Ctrl-C stops everything",
    );
    let base = value_after(&lines, "ANTHROPIC_BASE_URL=").to_owned();
    let key = value_after(&lines, "X-Glitch-Key: ").to_owned();
    let token = value_after(&lines, "GLITCH_ADMIN_TOKEN=").to_owned();
    let cp_url = value_after(&lines, "GLITCH_CP_URL=").to_owned();
    let audit_url = value_after(&lines, "glitch-console --api ").to_owned();
    assert!(key.starts_with("glitch_sk_") && key.len() >= 53, "{key}");
    let claude_path = claude_bin();

    // The printed environment works for Claude Code, through the balanced template.
    let (ok, shown) = claude(&claude_path, &base, &key, "Print exactly the word: up").await;
    assert!(ok, "{shown}");
    assert_eq!(shown.trim(), "up");

    // A policy edited through the admin commands is enforced without a restart.
    let projects = glitch(&glitch_bin, &cp_url, &token, &["projects", "list"]);
    let list = projects["results"]
        .as_array()
        .or(projects.as_array())
        .cloned()
        .unwrap_or_default();
    let demo = list
        .iter()
        .find(|p| p["name"] == "demo")
        .expect("demo project");
    let project_id = demo["id"].as_str().unwrap().to_owned();
    let policy_file = dir.path().join("policy.json");
    std::fs::write(
        &policy_file,
        serde_json::json!({"name": "condor", "custom_detectors": [{"name": "bird", "pattern": "(?i)\\bcondor\\b", "action": "block"}]}).to_string(),
    )
    .unwrap();
    let policy = glitch(
        &glitch_bin,
        &cp_url,
        &token,
        &["policies", "create", policy_file.to_str().unwrap()],
    );
    let policy_id = policy["id"].as_str().unwrap().to_owned();
    glitch(
        &glitch_bin,
        &cp_url,
        &token,
        &["projects", "update", &project_id, "--policy", &policy_id],
    );
    let mut refused = String::new();
    for _ in 0..20 {
        let (ok, shown) = claude(&claude_path, &base, &key, "Tell me about the condor").await;
        if !ok && shown.contains("403") {
            refused = shown;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        refused.contains("Request blocked by Glitch security policy"),
        "{refused}"
    );

    // The rollout is visible: one connected sensor on the current version.
    let version = glitch(&glitch_bin, &cp_url, &token, &["config-version"]);
    let sensors = glitch(&glitch_bin, &cp_url, &token, &["sensors"]);
    let sensors = sensors["results"]
        .as_array()
        .or(sensors.as_array())
        .cloned()
        .unwrap_or_default();
    assert_eq!(sensors.len(), 1, "{sensors:?}");
    assert_eq!(sensors[0]["connected"], true);
    assert_eq!(sensors[0]["applied_version"], version["version"]);

    // The audit consumer indexed those Claude Code requests: one session with the allowed and
    // the blocked request, the blocked one findable by detector type.
    let http = reqwest::Client::new();
    let mut sessions = Value::Null;
    for _ in 0..100 {
        sessions = http
            .get(format!("{audit_url}/v1/sessions"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let blocked: u64 = sessions["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["blocked"].as_u64())
            .sum();
        if blocked > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = sessions["results"].as_array().cloned().unwrap_or_default();
    assert!(
        rows.iter()
            .any(|s| s["project_id"] == project_id.as_str() && s["blocked"].as_u64() >= Some(1)),
        "{sessions}"
    );
    let blocked_events: Value = http
        .get(format!(
            "{audit_url}/v1/events?decision=blocked&detector_type=custom/bird&project_id={project_id}"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = &blocked_events["results"][0];
    assert_eq!(first["status"], 403, "{blocked_events}");
    assert!(!first["session_id"].as_str().unwrap_or_default().is_empty());

    // Revoking the key takes effect at once.
    let keys = glitch(&glitch_bin, &cp_url, &token, &["keys", "list", &project_id]);
    let keys = keys["results"]
        .as_array()
        .or(keys.as_array())
        .cloned()
        .unwrap_or_default();
    let key_id = keys.iter().find(|k| k["revoked_at"].is_null()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    glitch(&glitch_bin, &cp_url, &token, &["keys", "revoke", &key_id]);
    let mut unauthorized = String::new();
    for _ in 0..20 {
        let (ok, shown) =
            claude(&claude_path, &base, &key, "Print exactly the word: revoked").await;
        if !ok && (shown.contains("401") || shown.contains("Invalid API key")) {
            unauthorized = shown;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(!unauthorized.is_empty(), "the revoked key still works");

    let status = up.terminate().expect("glitch up exited");
    assert!(status.success(), "glitch up exit status {status:?}");
}
