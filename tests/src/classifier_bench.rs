//! `glitch-bench classifier`: the LLM classifier stage's numbers (issue "LLM classifiers"), with
//! the release `glitch-sensor` and `glitch-fake-anthropic` as separate processes and a fake
//! classifier that answers in 300 ms:
//! 1. latency the stage adds beyond the classifier's own 300 ms (p50/p99), against the same
//!    requests through a signature-only project;
//! 2. how long requests take when the classifier hangs (budget 800 ms, `llm_failure: open`);
//! 3. the verdict cache's hit rate over a 50-turn Claude Code-shaped session;
//! 4. requests/s at 64 concurrent requests when the endpoint allows 16 concurrent calls.

#![allow(clippy::print_stdout, reason = "a benchmark prints its numbers")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use glitch_fake_classifier::{FakeClassifier, FakeClassifierOptions, Mode};
use serde_json::{Value, json};

use crate::{ChildProcess, url_after, workspace_bin};

const CLASSIFIER_DELAY: Duration = Duration::from_millis(300);
const HANG_BUDGET_MS: u64 = 800;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn signed_ms(v: f64) -> String {
    format!("{:+.2} ms", v * 1e3)
}

fn key(project: &str) -> String {
    format!("glitch_sk_{project:0>30}")
}

fn policy() -> String {
    let mut out = String::from("policies:\n");
    for (id, extra) in [
        ("sig", ""),
        (
            "llm",
            "    llm_classifiers: [slow]\n    llm_budget_ms: 5000\n",
        ),
        (
            "hang",
            "    llm_classifiers: [hang]\n    llm_budget_ms: 800\n    llm_failure: open\n",
        ),
        (
            "conc",
            "    llm_classifiers: [limited]\n    llm_budget_ms: 60000\n",
        ),
        (
            "session",
            "    llm_classifiers: [fast]\n    llm_budget_ms: 5000\n",
        ),
    ] {
        // The baseline project has no rule a classifier serves (so no classifier is called);
        // the others add prompt_attack, which the classifiers serve.
        let attack = if id == "sig" {
            ""
        } else {
            "      - {detector_type: prompt_attack, threshold: L2, action: block}\n"
        };
        out.push_str(&format!(
            "  - id: pol_{id}\n    name: {id}\n    input_detectors:\n{attack}      - {{detector_type: \"secrets/*\", threshold: L2, action: block}}\n{extra}"
        ));
    }
    out.push_str("projects:\n");
    for id in ["sig", "llm", "hang", "conc", "session"] {
        out.push_str(&format!("  - {{id: {id}, policy_id: pol_{id}}}\n"));
    }
    out.push_str("keys:\n");
    for id in ["sig", "llm", "hang", "conc", "session"] {
        out.push_str(&format!(
            "  - {{id: key_{id}, project_id: {id}, key: {}}}\n",
            key(id)
        ));
    }
    out
}

struct Bench {
    http: reqwest::Client,
    base: String,
    admin: String,
}

impl Bench {
    async fn post(&self, project: &str, body: &Value) -> Duration {
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{}/v1/messages", self.base))
            .header("x-glitch-key", key(project))
            .header("x-api-key", "sk-ant-bench-not-a-real-key")
            .header("anthropic-version", "2023-06-01")
            .header("x-claude-code-session-id", format!("bench-{project}"))
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = response.status();
        let _ = response.bytes().await;
        assert!(status.is_success(), "{project}: status {status}");
        started.elapsed()
    }

    async fn metric(&self, name: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.admin))
            .send()
            .await
            .unwrap_or_else(|e| panic!("metrics: {e}"))
            .text()
            .await
            .unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

fn one_turn(i: u64, tag: &str) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 32,
        "system": "You are Claude Code, Anthropic's official CLI for Claude.",
        "messages": [{"role": "user", "content": format!("{tag} request {i}: please explain what the function parse_config does and how it handles errors.")}],
    })
}

async fn fake(mode: Mode, delay: Duration) -> FakeClassifier {
    FakeClassifier::start(FakeClassifierOptions {
        mode,
        delay,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("fake classifier: {e}"))
}

/// Runs the benchmark and prints the numbers.
pub async fn run(quick: bool) {
    let n = if quick { 20 } else { 200 };
    let slow = fake(Mode::Normal, CLASSIFIER_DELAY).await;
    let hang = fake(Mode::Hang, Duration::ZERO).await;
    let limited = fake(Mode::Normal, CLASSIFIER_DELAY).await;
    let fast = fake(Mode::Normal, Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    std::fs::write(dir.path().join("policy.yaml"), policy()).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("classifiers.yaml"),
        format!(
            "classifiers:\n  - {{name: slow, kind: openai, url: \"{}/v1\", model: m, timeout_ms: 10000, max_concurrency: 256}}\n  - {{name: hang, kind: openai, url: \"{}/v1\", model: m, timeout_ms: 60000, max_concurrency: 256, breaker_failures: 1000000}}\n  - {{name: limited, kind: openai, url: \"{}/v1\", model: m, timeout_ms: 60000, max_concurrency: 16}}\n  - {{name: fast, kind: openai, url: \"{}/v1\", model: m, timeout_ms: 10000}}\n",
            slow.url(),
            hang.url(),
            limited.url(),
            fast.url()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (_upstream, up_line) = ChildProcess::spawn(
        &workspace_bin("glitch-fake-anthropic"),
        &["--listen=127.0.0.1:0".into(), "--no-record".into()],
        &[("RUST_LOG", "warn")],
        "listening on ",
    );
    let upstream = url_after(&up_line, "listening on ").unwrap_or_default();
    let (_sensor, line) = ChildProcess::spawn(
        &workspace_bin("glitch-sensor"),
        &[
            "--listen=127.0.0.1:0".into(),
            "--admin-listen=127.0.0.1:0".into(),
            format!("--policy-file={}", dir.path().join("policy.yaml").display()),
            format!(
                "--classifiers={}",
                dir.path().join("classifiers.yaml").display()
            ),
            format!("--events=file:{}", dir.path().join("events").display()),
            format!("--state-dir={}", dir.path().join("state").display()),
            format!("--upstream={upstream}"),
        ],
        &[("RUST_LOG", "warn")],
        "glitch-sensor listening on ",
    );
    let bench = Bench {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(128)
            .build()
            .unwrap_or_else(|e| panic!("{e}")),
        base: url_after(&line, "listening on ").unwrap_or_default(),
        admin: url_after(&line, "(admin ").unwrap_or_default(),
    };
    println!(
        "glitch-bench classifier (fake classifier answering in 300 ms; {n} requests per part)"
    );

    // 1. Added latency beyond the classifier's own time.
    for i in 0..5 {
        bench.post("sig", &one_turn(i, "warm")).await;
        bench.post("llm", &one_turn(i, "warm")).await;
    }
    let call_sum0 = bench
        .metric("glitch_sensor_classifier_call_duration_seconds_sum")
        .await;
    let call_n0 = bench
        .metric("glitch_sensor_classifier_call_duration_seconds_count")
        .await;
    let wait_sum0 = bench.metric("glitch_sensor_llm_wait_seconds_sum").await;
    let wait_n0 = bench.metric("glitch_sensor_llm_wait_seconds_count").await;
    let mut baseline = Vec::with_capacity(n as usize);
    let mut with_llm = Vec::with_capacity(n as usize);
    for i in 0..n {
        baseline.push(bench.post("sig", &one_turn(i, "baseline")).await);
        with_llm.push(bench.post("llm", &one_turn(i, "classified")).await);
    }
    baseline.sort();
    let base_p50 = pct(&baseline, 0.5);
    let mut added: Vec<f64> = with_llm
        .iter()
        .map(|d| d.as_secs_f64() - CLASSIFIER_DELAY.as_secs_f64() - base_p50.as_secs_f64())
        .collect();
    added.sort_by(f64::total_cmp);
    let added_p = |p: f64| added[((added.len() as f64 - 1.0) * p).round() as usize];
    with_llm.sort();
    println!(
        "1. added latency beyond the classifier's 300 ms (sequential, new text every request)"
    );
    println!(
        "   signature-only request p50 {} p99 {}; with classifier p50 {} p99 {}",
        ms(base_p50),
        ms(pct(&baseline, 0.99)),
        ms(pct(&with_llm, 0.5)),
        ms(pct(&with_llm, 0.99))
    );
    println!(
        "   added beyond 300 ms + signature-only p50: p50 {}  p99 {}",
        signed_ms(added_p(0.5)),
        signed_ms(added_p(0.99))
    );
    let calls = bench
        .metric("glitch_sensor_classifier_call_duration_seconds_count")
        .await
        - call_n0;
    let call_mean = (bench
        .metric("glitch_sensor_classifier_call_duration_seconds_sum")
        .await
        - call_sum0)
        / calls.max(1.0);
    let waits = bench.metric("glitch_sensor_llm_wait_seconds_count").await - wait_n0;
    let wait_mean =
        (bench.metric("glitch_sensor_llm_wait_seconds_sum").await - wait_sum0) / waits.max(1.0);
    println!(
        "   inside the sensor: classifier call (HTTP round trip to the fake, its 300 ms timer included) mean {:.3} ms; request waited for the stage mean {:.3} ms → stage overhead beyond the call {:.3} ms",
        call_mean * 1e3,
        wait_mean * 1e3,
        (wait_mean - call_mean) * 1e3
    );

    // 2. A hanging classifier: requests end at the budget.
    let hang_n = if quick { 5 } else { 40 };
    let mut hung = Vec::new();
    for i in 0..hang_n {
        hung.push(bench.post("hang", &one_turn(i, "hang")).await);
    }
    hung.sort();
    let over = |d: Duration| d.as_secs_f64() - HANG_BUDGET_MS as f64 / 1e3;
    println!("2. hanging classifier, llm_budget_ms 800, llm_failure open ({hang_n} requests)");
    println!(
        "   total p50 {} p99 {} max {} → beyond the budget: p50 {} p99 {} max {}",
        ms(pct(&hung, 0.5)),
        ms(pct(&hung, 0.99)),
        ms(hung.last().copied().unwrap_or_default()),
        signed_ms(over(pct(&hung, 0.5))),
        signed_ms(over(pct(&hung, 0.99))),
        signed_ms(over(hung.last().copied().unwrap_or_default()))
    );

    // 3. Cache hit rate over a 50-turn session.
    let hits0 = bench
        .metric("glitch_sensor_classifier_cache_hits_total")
        .await;
    let miss0 = bench
        .metric("glitch_sensor_classifier_cache_misses_total")
        .await;
    let calls0 = fast.stats().calls_total;
    let mut messages: Vec<Value> = Vec::new();
    let system = crate::shapes::claude_code_system_prompt();
    for turn in 0..50u64 {
        messages.push(json!({"role": "user", "content": [
            {"type": "text", "text": format!("Turn {turn}: look at src/module_{turn}.rs and tell me what to fix.")}
        ]}));
        let body = json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 32,
            "system": [{"type": "text", "text": system}],
            "messages": messages,
        });
        bench.post("session", &body).await;
        messages.push(json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": format!("toolu_{turn}"), "name": "Read", "input": {"file_path": format!("src/module_{turn}.rs")}}
        ]}));
        messages.push(json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": format!("toolu_{turn}"), "content": format!("fn handler_{turn}() {{ let x = parse(input)?; store(x) }}\n// {turn} lines of code follow")}
        ]}));
    }
    let hits = bench
        .metric("glitch_sensor_classifier_cache_hits_total")
        .await
        - hits0;
    let misses = bench
        .metric("glitch_sensor_classifier_cache_misses_total")
        .await
        - miss0;
    let calls = fast.stats().calls_total - calls0;
    println!(
        "3. verdict cache over a 50-turn Claude Code-shaped session (system prompt, user turns, tool_use, tool_result)"
    );
    println!(
        "   windows looked up {}: hits {} misses {} → hit rate {:.1}%; classifier calls {} ({:.1} per turn)",
        hits + misses,
        hits,
        misses,
        100.0 * hits / (hits + misses).max(1.0),
        calls,
        calls as f64 / 50.0
    );

    // 4. Throughput at 64 concurrent requests, endpoint limited to 16 concurrent calls.
    let secs = if quick { 3 } else { 10 };
    let done = Arc::new(AtomicU64::new(0));
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let bench = Arc::new(bench);
    let mut workers = Vec::new();
    for _ in 0..64 {
        let bench = bench.clone();
        let done = done.clone();
        let counter = counter.clone();
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                bench.post("conc", &one_turn(i, "concurrent")).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total = done.load(Ordering::Relaxed);
    println!("4. 64 concurrent requests, endpoint max_concurrency 16, 300 ms per call ({secs} s)");
    println!(
        "   {total} requests in {elapsed:.1} s = {:.1} req/s (ceiling 16 / 0.3 s = 53.3); classifier saw at most {} calls in flight",
        total as f64 / elapsed,
        limited.stats().max_in_flight
    );
}
