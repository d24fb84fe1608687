//! The real Claude Code CLI through the real `glitch-sensor` binary to the fake Anthropic
//! upstream: a normal prompt is answered, a prompt a blocking custom detector matches is refused
//! with the 403 before it reaches the upstream, and a wrong Glitch key gets a 401.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use glitch_e2e::{ChildProcess, claude_bin, read_events, run_claude, url_after, workspace_bin};
use glitch_fake_anthropic::FakeAnthropic;

const KEY: &str = "glitch_sk_e2e0000000000000000000001";

const POLICY: &str = r#"
policies:
  - id: pol_e2e
    name: End-to-end
    custom_detectors:
      - {name: project_codename, pattern: "(?i)\\bbluebird\\b", action: block}
projects:
  - {id: proj_e2e, name: E2E, policy_id: pol_e2e}
  - {id: proj_balanced, name: Balanced, policy_id: balanced}
keys:
  - {id: key_e2e, project_id: proj_e2e, key: glitch_sk_e2e0000000000000000000001}
  - {id: key_balanced, project_id: proj_balanced, key: glitch_sk_e2e0000000000000000000002}
"#;

const BALANCED_KEY: &str = "glitch_sk_e2e0000000000000000000002";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_works_through_the_sensor_and_policy_blocks_reach_it() {
    let fake = FakeAnthropic::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let events_dir = dir.path().join("events");
    let args = vec![
        "--listen=127.0.0.1:0".to_owned(),
        "--admin-listen=127.0.0.1:0".into(),
        format!("--policy-file={}", policy.display()),
        format!("--events=file:{}", events_dir.display()),
        format!("--state-dir={}", dir.path().join("state").display()),
        format!("--upstream={}", fake.url()),
    ];
    let (mut sensor, ready) = ChildProcess::spawn(
        &workspace_bin("glitch-sensor"),
        &args,
        &[],
        "glitch-sensor listening on ",
    );
    let base = url_after(&ready, "listening on ").unwrap();
    let claude = claude_bin();

    // 1. A normal prompt is routed and answered.
    let run = run_claude(&claude, &base, KEY, "Print exactly the word: routed").await;
    assert!(run.success, "claude failed: {}\n{}", run.stdout, run.stderr);
    assert_eq!(run.stdout.trim(), "routed", "stderr: {}", run.stderr);
    let seen = fake.requests();
    let message_calls: Vec<_> = seen
        .iter()
        .filter(|r| r.path_and_query.starts_with("/v1/messages"))
        .collect();
    assert!(
        !message_calls.is_empty(),
        "upstream saw no /v1/messages call: {seen:?}"
    );
    let call = message_calls
        .iter()
        .find(|r| String::from_utf8_lossy(&r.body).contains("Print exactly the word: routed"))
        .expect("the prompt reached the upstream");
    assert_eq!(call.method, "POST");
    assert!(
        call.path_and_query.starts_with("/v1/messages?beta=true"),
        "{}",
        call.path_and_query
    );
    assert!(
        call.headers["x-api-key"]
            .to_str()
            .unwrap()
            .starts_with("sk-ant-api03-")
    );
    assert!(call.headers.contains_key("anthropic-version"));
    assert!(call.headers.contains_key("anthropic-beta"));
    assert!(call.headers.contains_key("x-claude-code-session-id"));
    for r in &seen {
        assert!(
            !r.headers.contains_key("x-glitch-key"),
            "X-Glitch-Key leaked upstream on {}",
            r.path_and_query
        );
    }
    let session = call.headers["x-claude-code-session-id"]
        .to_str()
        .unwrap()
        .to_owned();

    // 2. A prompt the blocking custom detector matches: Claude Code shows the 403; the
    //    upstream never sees it.
    fake.clear();
    let run = run_claude(&claude, &base, KEY, "Summarise the Bluebird launch plan").await;
    let shown = format!("{}{}", run.stdout, run.stderr);
    assert!(!run.success);
    assert!(shown.contains("403"), "{shown}");
    assert!(
        shown.contains("Request blocked by Glitch security policy"),
        "{shown}"
    );
    assert!(
        fake.requests()
            .iter()
            .all(|r| !String::from_utf8_lossy(&r.body).contains("Bluebird")),
        "a blocked prompt reached the upstream"
    );

    // 3. A wrong Glitch key: a 401 from the sensor, nothing upstream.
    fake.clear();
    let run = run_claude(
        &claude,
        &base,
        "glitch_sk_wrong000000000000000000",
        "Print exactly the word: nope",
    )
    .await;
    let shown = format!("{}{}", run.stdout, run.stderr);
    assert!(!run.success);
    assert!(
        shown.contains("401") || shown.contains("Invalid API key"),
        "{shown}"
    );
    assert!(
        fake.requests()
            .iter()
            .all(|r| !r.path_and_query.starts_with("/v1/")),
        "{:?}",
        fake.requests()
    );

    // 4. The built-in `balanced` template: Claude Code's own system prompt, tool definitions and
    //    ordinary coding talk pass; a pasted cloud credential is refused.
    fake.clear();
    let run = run_claude(
        &claude,
        &base,
        BALANCED_KEY,
        "Kill the stuck process, ignore the failing test for now and act as a reviewer. Print exactly the word: balanced",
    )
    .await;
    assert!(
        run.success,
        "balanced template blocked ordinary Claude Code traffic: {}\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(run.stdout.trim(), "balanced");
    let aws_secret = format!("{}{}", "Zq8vN2kLm4Rt7Xy1Wb3H", "c6Pd9Fg0Js5Ua2Ke4Mi8");
    let leaked = format!(
        "Deploy with AWS_ACCESS_KEY_ID=AKIA{} and AWS_SECRET_ACCESS_KEY={aws_secret}",
        "QYLPMN5HHHFPZAM2"
    );
    fake.clear();
    let run = run_claude(&claude, &base, BALANCED_KEY, &leaked).await;
    let shown = format!("{}{}", run.stdout, run.stderr);
    assert!(!run.success);
    assert!(
        shown.contains("403") && shown.contains("secrets/aws"),
        "{shown}"
    );
    assert!(
        fake.requests()
            .iter()
            .all(|r| !String::from_utf8_lossy(&r.body).contains("AKIA"))
    );

    // Every /v1/ call became an event with the decision a reviewer expects.
    let status = sensor.terminate().expect("sensor exited");
    assert!(status.success(), "sensor exit status {status:?}");
    let events = read_events(&events_dir);
    assert!(
        events
            .iter()
            .any(|e| e.decision == "allowed" && e.session_id == session && e.status == 200)
    );
    let blocked: Vec<_> = events.iter().filter(|e| e.decision == "blocked").collect();
    assert!(!blocked.is_empty());
    assert!(
        blocked
            .iter()
            .all(|e| e.status == 403 && e.upstream_status == 0)
    );
    assert!(
        blocked[0]
            .findings
            .iter()
            .any(|f| f.detector_type == "custom/project_codename")
    );
    assert!(
        events
            .iter()
            .any(|e| e.decision == "auth_failed" && e.status == 401)
    );
}
