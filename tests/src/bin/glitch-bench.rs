//! `glitch-bench sensor`: the sensor's request-path benchmark (issue: "The sensor"). Starts the
//! fake Anthropic upstream and the sensor as separate release processes, drives load from this
//! process, and prints the latency the sensor adds over calling the upstream directly (p50/p99
//! at 1 and 64 connections, 76 KB and 1 KB bodies), requests per second, added time to first
//! SSE byte, inter-event gaps of relayed streams, and the sensor's peak RSS with 500 open streams.
//! Run: `cargo run --release -p glitch-e2e --bin glitch-bench -- sensor`
//! `glitch-bench audit`: the audit pipeline (see `glitch_e2e::audit_bench`).
//! `glitch-bench classifier`: the LLM classifier stage (see `glitch_e2e::classifier_bench`).

#![allow(clippy::print_stdout, reason = "a benchmark prints its numbers")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmark harness"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use glitch_e2e::shapes::claude_code_body;
use glitch_e2e::{ChildProcess, url_after, workspace_bin};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

const KEY: &str = "glitch_sk_bench00000000000000000001";
const POLICY: &str = r#"
policies:
  - id: pol_bench
    name: Bench
    custom_detectors:
      - {name: codename, pattern: "(?i)\\bbluebird\\b", action: block}
      - {name: ticket, pattern: "\\bSEC-\\d{3,6}\\b", action: log}
projects:
  - {id: proj_bench, policy_id: pol_bench}
keys:
  - {id: key_bench, project_id: proj_bench, key: glitch_sk_bench00000000000000000001}
"#;

fn client(max_idle: usize) -> HttpClient {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(max_idle)
        .build(http)
}

fn request(base: &str, body: &Bytes, scenario: Option<&str>) -> http::Request<Full<Bytes>> {
    let mut b = http::Request::post(format!("{base}/v1/messages?beta=true"))
        .header("content-type", "application/json")
        .header("x-api-key", "sk-ant-bench-not-a-real-key")
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "claude-code-20250219")
        .header("x-glitch-key", KEY)
        .header(
            "x-claude-code-session-id",
            "0b6f0a8e-3c39-4f0e-9a39-1c1d1f2e3a4b",
        );
    if let Some(s) = scenario {
        b = b.header("x-fake-scenario", s);
    }
    b.body(Full::new(body.clone())).unwrap()
}

/// One request to completion; returns (total, time to first body byte).
async fn one(
    client: &HttpClient,
    base: &str,
    body: &Bytes,
    scenario: Option<&str>,
) -> (Duration, Duration) {
    let start = Instant::now();
    let resp = client.request(request(base, body, scenario)).await.unwrap();
    assert!(resp.status().is_success(), "status {}", resp.status());
    let mut body = resp.into_body();
    let mut first = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        if first.is_none() && frame.data_ref().is_some_and(|d| !d.is_empty()) {
            first = Some(start.elapsed());
        }
    }
    let total = start.elapsed();
    (total, first.unwrap_or(total))
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

struct Run {
    p50: Duration,
    p99: Duration,
    rps: f64,
    ttfb_p50: Duration,
    ttfb_p99: Duration,
}

async fn load(
    base: &str,
    body: &Bytes,
    connections: usize,
    duration: Duration,
    scenario: Option<&'static str>,
) -> Run {
    let client = Arc::new(client(connections));
    // Warm up: open the connections.
    let mut warm = Vec::new();
    for _ in 0..connections {
        let (c, b, body) = (client.clone(), base.to_owned(), body.clone());
        warm.push(tokio::spawn(
            async move { one(&c, &b, &body, scenario).await },
        ));
    }
    for w in warm {
        w.await.unwrap();
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (c, b, body) = (client.clone(), base.to_owned(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut ttfb = Vec::new();
            while Instant::now() < deadline {
                let (t, f) = one(&c, &b, &body, scenario).await;
                lat.push(t);
                ttfb.push(f);
            }
            (lat, ttfb)
        }));
    }
    let mut lat = Vec::new();
    let mut ttfb = Vec::new();
    for t in tasks {
        let (l, f) = t.await.unwrap();
        lat.extend(l);
        ttfb.extend(f);
    }
    let elapsed = started.elapsed();
    lat.sort();
    ttfb.sort();
    Run {
        p50: pct(&lat, 0.5),
        p99: pct(&lat, 0.99),
        rps: lat.len() as f64 / elapsed.as_secs_f64(),
        ttfb_p50: pct(&ttfb, 0.5),
        ttfb_p99: pct(&ttfb, 0.99),
    }
}

/// One connection each to the upstream and to the sensor, requests alternating between the two
/// so that both see the same machine noise.
async fn paired(direct_base: &str, via_base: &str, body: &Bytes, duration: Duration) -> (Run, Run) {
    let direct_client = client(1);
    let via_client = client(1);
    for _ in 0..50 {
        one(&direct_client, direct_base, body, None).await;
        one(&via_client, via_base, body, None).await;
    }
    let (mut d, mut dt, mut v, mut vt) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let started = Instant::now();
    while started.elapsed() < duration {
        let (t, f) = one(&direct_client, direct_base, body, None).await;
        d.push(t);
        dt.push(f);
        let (t, f) = one(&via_client, via_base, body, None).await;
        v.push(t);
        vt.push(f);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let summarize = |mut lat: Vec<Duration>, mut ttfb: Vec<Duration>, busy: f64| {
        lat.sort();
        ttfb.sort();
        Run {
            p50: pct(&lat, 0.5),
            p99: pct(&lat, 0.99),
            rps: lat.len() as f64 / busy,
            ttfb_p50: pct(&ttfb, 0.5),
            ttfb_p99: pct(&ttfb, 0.99),
        }
    };
    let d_busy: f64 = d
        .iter()
        .map(Duration::as_secs_f64)
        .sum::<f64>()
        .max(elapsed / 1000.0);
    let v_busy: f64 = v
        .iter()
        .map(Duration::as_secs_f64)
        .sum::<f64>()
        .max(elapsed / 1000.0);
    (summarize(d, dt, d_busy), summarize(v, vt, v_busy))
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn added(via: Duration, direct: Duration) -> String {
    let diff = via.as_secs_f64() - direct.as_secs_f64();
    format!("{:+.3} ms", diff * 1000.0)
}

/// Inter-arrival gaps of body frames for a stream whose events are produced `gap_ms` apart.
async fn stream_gaps(base: &str, body: &Bytes, gap_ms: u64) -> Vec<Duration> {
    let c = client(1);
    let scenario: &'static str = Box::leak(format!("slow-stream-ms-{gap_ms}").into_boxed_str());
    let resp = c
        .request(request(base, body, Some(scenario)))
        .await
        .unwrap();
    let mut body = resp.into_body();
    let mut last = None;
    let mut gaps = Vec::new();
    while let Some(frame) = body.frame().await {
        if frame.unwrap().data_ref().is_some() {
            let now = Instant::now();
            if let Some(prev) = last {
                gaps.push(now - prev);
            }
            last = Some(now);
        }
    }
    gaps
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "sensor".into());
    if what == "parse" {
        parse_bench();
        return;
    }
    if what == "quality" {
        let dir = glitch_e2e::quality::data_dir();
        // `glitch-bench quality --classifiers FILE`: the prompt-attack rows through a team's own
        // classifier endpoints (the sensor's --classifiers file format).
        let args: Vec<String> = std::env::args().skip(2).collect();
        let classifiers = args
            .iter()
            .position(|a| a == "--classifiers")
            .and_then(|i| args.get(i + 1))
            .cloned()
            .or_else(|| {
                args.iter()
                    .find_map(|a| a.strip_prefix("--classifiers=").map(str::to_owned))
            });
        if let Some(file) = classifiers {
            match glitch_e2e::quality::classifier_attacks(&dir, std::path::Path::new(&file)).await {
                Ok(report) => println!("{report}"),
                Err(e) => panic!("cannot evaluate the classifiers: {e}"),
            }
            return;
        }
        match glitch_e2e::quality::report(&dir) {
            Ok(report) => println!("{report}"),
            Err(e) => panic!("cannot evaluate quality: {e}"),
        }
        return;
    }
    if what == "detect" {
        detect_bench();
        return;
    }
    if what == "propagation" {
        propagation_bench().await;
        return;
    }
    if what == "classifier" {
        glitch_e2e::classifier_bench::run(std::env::var("GLITCH_BENCH_QUICK").is_ok()).await;
        return;
    }
    if what == "audit" {
        glitch_e2e::audit_bench::run(std::env::var("GLITCH_BENCH_QUICK").is_ok()).await;
        return;
    }
    if what != "sensor" {
        eprintln_usage();
        return;
    }
    let quick = std::env::var("GLITCH_BENCH_QUICK").is_ok();
    let secs = std::env::var("GLITCH_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 1 } else { 4 });
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();

    let (fake, fake_line) = ChildProcess::spawn(
        &workspace_bin("glitch-fake-anthropic"),
        &["--listen=127.0.0.1:0".into(), "--no-record".into()],
        &[("RUST_LOG", "warn")],
        "listening on ",
    );
    let fake_url = url_after(&fake_line, "listening on ").unwrap();
    let args = vec![
        "--listen=127.0.0.1:0".to_owned(),
        "--admin-listen=127.0.0.1:0".into(),
        format!("--policy-file={}", policy.display()),
        format!("--events=file:{}", dir.path().join("events").display()),
        format!("--state-dir={}", dir.path().join("state").display()),
        format!("--upstream={fake_url}"),
    ];
    let (sensor, sensor_line) = ChildProcess::spawn(
        &workspace_bin("glitch-sensor"),
        &args,
        &[("RUST_LOG", "warn,glitch_sensor::server=info")],
        "glitch-sensor listening on ",
    );
    let sensor_url = url_after(&sensor_line, "listening on ").unwrap();
    let sensor_pid = sensor.pid();

    println!("# glitch-sensor benchmark");
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cpu_model()
    );
    println!(
        "fake upstream {fake_url}, sensor {sensor_url}, {secs} s per measurement (1-connection runs alternate direct and via-sensor requests for {} s)\n",
        secs * 2
    );
    println!("## Memory with 500 concurrent open streams (fresh sensor process)\n");
    let stream_body = Bytes::from(claude_code_body(
        76 * 1024,
        true,
        "Print exactly the word: bench",
    ));
    let (rss_before, _) = rss_kib(sensor_pid);
    let c = Arc::new(client(500));
    let mut open = Vec::new();
    for _ in 0..500 {
        let (c, b, body) = (c.clone(), sensor_url.clone(), stream_body.clone());
        open.push(tokio::spawn(async move {
            one(&c, &b, &body, Some("slow-stream-ms-400")).await
        }));
    }
    let mut peak_rss = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak_rss = peak_rss.max(rss_kib(sensor_pid).0);
    }
    let mut ok = 0;
    for t in open {
        if t.await.is_ok() {
            ok += 1;
        }
    }
    let (_, hwm) = rss_kib(sensor_pid);
    println!(
        "| sensor RSS idle | RSS with 500 open streams (max sampled) | peak RSS (VmHWM) | streams completed |"
    );
    println!("|---|---|---|---|");
    println!(
        "| {:.1} MiB | {:.1} MiB | {:.1} MiB | {ok}/500 |",
        rss_before as f64 / 1024.0,
        peak_rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!("\n## Latency and throughput\n");
    println!(
        "| body | connections | direct p50 | direct p99 | via sensor p50 | via sensor p99 | added p50 | added p99 | direct req/s | via sensor req/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (label, size) in [("76 KB", 76 * 1024), ("1 KB", 1024)] {
        let body = Bytes::from(claude_code_body(
            size,
            false,
            "Print exactly the word: bench",
        ));
        for conns in [1usize, 64] {
            let (direct, via) = if conns == 1 {
                paired(&fake_url, &sensor_url, &body, Duration::from_secs(secs * 2)).await
            } else {
                let direct = load(&fake_url, &body, conns, Duration::from_secs(secs), None).await;
                let via = load(&sensor_url, &body, conns, Duration::from_secs(secs), None).await;
                (direct, via)
            };
            println!(
                "| {label} ({} B) | {conns} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} |",
                body.len(),
                ms(direct.p50),
                ms(direct.p99),
                ms(via.p50),
                ms(via.p99),
                added(via.p50, direct.p50),
                added(via.p99, direct.p99),
                direct.rps,
                via.rps
            );
        }
    }

    println!("\n## Streams (76 KB request, stream: true, 1 connection)\n");
    let body = Bytes::from(claude_code_body(
        76 * 1024,
        true,
        "Print exactly the word: bench",
    ));
    let direct = load(&fake_url, &body, 1, Duration::from_secs(secs), None).await;
    let via = load(&sensor_url, &body, 1, Duration::from_secs(secs), None).await;
    println!("| | direct | via sensor | added |");
    println!("|---|---|---|---|");
    println!(
        "| time to first SSE byte p50 | {} | {} | {} |",
        ms(direct.ttfb_p50),
        ms(via.ttfb_p50),
        added(via.ttfb_p50, direct.ttfb_p50)
    );
    println!(
        "| time to first SSE byte p99 | {} | {} | {} |",
        ms(direct.ttfb_p99),
        ms(via.ttfb_p99),
        added(via.ttfb_p99, direct.ttfb_p99)
    );
    let gap = 20;
    let mut d = stream_gaps(&fake_url, &body, gap).await;
    let mut v = stream_gaps(&sensor_url, &body, gap).await;
    d.sort();
    v.sort();
    println!(
        "| gap between events ({gap} ms produced), median / max | {} / {} | {} / {} | {} |",
        ms(pct(&d, 0.5)),
        ms(*d.last().unwrap_or(&Duration::ZERO)),
        ms(pct(&v, 0.5)),
        ms(*v.last().unwrap_or(&Duration::ZERO)),
        added(pct(&v, 0.5), pct(&d, 0.5))
    );

    let mut sensor = sensor;
    sensor.terminate();
    drop(fake);
    // The sensor's own view of where time went, from the events it wrote.
    let events = glitch_e2e::read_events(&dir.path().join("events"));
    println!(
        "\n## Inside the sensor (from {} SecurityEvents)\n",
        events.len()
    );
    println!(
        "| request body | events | detection p50 | to upstream response head p50 | sensor time before forwarding + relay p50 |"
    );
    println!("|---|---|---|---|---|");
    for (label, big) in [("76 KB", true), ("1 KB", false)] {
        let mut detection = Vec::new();
        let mut first = Vec::new();
        let mut own = Vec::new();
        for e in events
            .iter()
            .filter(|e| (e.request_bytes > 50_000) == big && !e.stream)
        {
            let l = e.latency_ms.unwrap_or_default();
            detection.push(Duration::from_secs_f64(l.detection / 1000.0));
            first.push(Duration::from_secs_f64(l.upstream_first_byte / 1000.0));
            own.push(Duration::from_secs_f64(
                ((l.total - l.upstream_first_byte).max(0.0)) / 1000.0,
            ));
        }
        detection.sort();
        first.sort();
        own.sort();
        println!(
            "| {label} | {} | {} | {} | {} |",
            detection.len(),
            ms(pct(&detection, 0.5)),
            ms(pct(&first, 0.5)),
            ms(pct(&own, 0.5))
        );
    }
}

/// In-process cost of the detect phase (parse the body, scan with the bench policy).
fn parse_bench() {
    use glitch_detect::{CompiledPolicy, DetectorPack, Direction};
    let policy: glitch_detect::Policy = serde_json::from_value(serde_json::json!({
        "custom_detectors": [
            {"name": "codename", "pattern": "(?i)\\bbluebird\\b", "action": "block"},
            {"name": "ticket", "pattern": "\\bSEC-\\d{3,6}\\b", "action": "log"}
        ]
    }))
    .unwrap();
    let compiled = CompiledPolicy::compile(policy, &DetectorPack::empty()).unwrap();
    for (label, size) in [("76 KB", 76 * 1024), ("1 KB", 1024)] {
        let body = claude_code_body(size, true, "Print exactly the word: bench");
        let mut parse = Vec::new();
        let mut scan = Vec::new();
        for _ in 0..2000 {
            let t = Instant::now();
            let parsed = glitch_detect::extract::parse_messages_request(&body).unwrap();
            parse.push(t.elapsed());
            let t = Instant::now();
            let report = compiled.scan(Direction::Input, &parsed.segments);
            scan.push(t.elapsed());
            assert!(!report.blocked());
        }
        parse.sort();
        scan.sort();
        println!(
            "{label} ({} B): parse p50 {} p99 {}, scan p50 {} p99 {}",
            body.len(),
            ms(pct(&parse, 0.5)),
            ms(pct(&parse, 0.99)),
            ms(pct(&scan, 0.5)),
            ms(pct(&scan, 0.99))
        );
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default()
}

#[allow(clippy::print_stderr, reason = "usage message")]
fn eprintln_usage() {
    eprintln!("usage: glitch-bench sensor|detect|quality|parse|propagation|audit|classifier");
}

/// A REST call to the control plane with the bench's admin token.
async fn cp_call(
    client: &reqwest_like::Client,
    method: http::Method,
    url: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    client.call(method, url, body).await
}

/// A minimal JSON-over-HTTP client on hyper (the bench talks to a local control plane).
mod reqwest_like {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};

    pub struct Client {
        pub inner: super::HttpClient,
        pub token: String,
    }

    impl Client {
        pub async fn call(
            &self,
            method: http::Method,
            url: &str,
            body: Option<serde_json::Value>,
        ) -> serde_json::Value {
            let bytes = body
                .map(|b| serde_json::to_vec(&b).unwrap())
                .unwrap_or_default();
            let req = http::Request::builder()
                .method(method)
                .uri(url)
                .header("authorization", format!("Bearer {}", self.token))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(bytes)))
                .unwrap();
            let resp = self.inner.request(req).await.unwrap();
            let status = resp.status();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert!(
                status.is_success(),
                "{status}: {}",
                String::from_utf8_lossy(&body)
            );
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)
        }
    }
}

/// Propagation from a REST write to every connected sensor enforcing it (1, 10, 100 sensors,
/// 200 edits each), and applying a large snapshot on a sensor under load.
async fn propagation_bench() {
    use clap::Parser;
    use glitch_sensor::snapshot::ConfigStore;
    let dir = tempfile::tempdir().unwrap();
    let token = "bench-admin-token-0123456789".to_owned();
    let mut cp_args = glitch_control_plane::ControlPlaneArgs::parse_from([
        "glitch-control-plane".to_owned(),
        "--listen=127.0.0.1:0".into(),
        "--grpc-listen=127.0.0.1:0".into(),
        format!("--database=sqlite://{}", dir.path().join("cp.db").display()),
    ]);
    cp_args.admin_token = Some(token.clone());
    let cp = glitch_control_plane::start(cp_args).await.unwrap();
    let rest = cp.rest_url();
    let api = reqwest_like::Client {
        inner: client(8),
        token,
    };
    let policy = cp_call(&api, http::Method::POST, &format!("{rest}/v1/policies/"), Some(serde_json::json!({
        "name": "bench", "custom_detectors": [{"name": "word", "pattern": "w0", "action": "block"}]
    }))).await;
    let policy_id = policy["id"].as_str().unwrap().to_owned();
    let project = cp_call(
        &api,
        http::Method::POST,
        &format!("{rest}/v1/projects"),
        Some(serde_json::json!({"name": "bench", "policy_id": policy_id})),
    )
    .await;
    let _ = project;
    println!(
        "# Config propagation (control plane on SQLite, sensors' config clients in this process)\n"
    );
    println!("| sensors | edits | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    let mut edit = 0u64;
    for sensors in [1usize, 10, 100] {
        let mut stores = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..sensors {
            let store = std::sync::Arc::new(ConfigStore::without_config("bench"));
            let options = glitch_sensor::fleet::FleetOptions {
                url: cp.grpc_url(),
                ca_file: None,
                client_cert: None,
                sensor_id: format!("bench-{sensors}-{i}"),
                region: "bench".into(),
                state_dir: dir.path().join(format!("s-{sensors}-{i}")),
            };
            let endpoint = glitch_sensor::fleet::check(&options).unwrap();
            tasks.push(glitch_sensor::fleet::spawn(
                endpoint,
                options,
                store.clone(),
                glitch_detect::builtin::builtin_pack(),
                std::sync::Arc::new(glitch_sensor::metrics::SensorMetrics::new()),
            ));
            stores.push(store);
        }
        // Wait until all have the current config.
        let current = cp_call(
            &api,
            http::Method::GET,
            &format!("{rest}/v1/config/version"),
            None,
        )
        .await["version"]
            .as_u64()
            .unwrap();
        while !stores
            .iter()
            .all(|s| s.has_config() && s.load().version >= current)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let edits = 200;
        let mut times = Vec::new();
        for _ in 0..edits {
            edit += 1;
            let updated = cp_call(&api, http::Method::PUT, &format!("{rest}/v1/policies/{policy_id}"), Some(serde_json::json!({
                "name": "bench", "custom_detectors": [{"name": "word", "pattern": format!("w{edit}"), "action": "block"}]
            }))).await;
            let t0 = Instant::now();
            let _ = updated;
            let target = cp_call(
                &api,
                http::Method::GET,
                &format!("{rest}/v1/config/version"),
                None,
            )
            .await["version"]
                .as_u64()
                .unwrap();
            let t_version = t0.elapsed();
            loop {
                if stores.iter().all(|s| s.load().version >= target) {
                    break;
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            // The version lookup itself is not propagation time.
            times.push(t0.elapsed().saturating_sub(t_version));
        }
        times.sort();
        println!(
            "| {sensors} | {edits} | {} | {} | {} |",
            ms(pct(&times, 0.5)),
            ms(pct(&times, 0.99)),
            ms(*times.last().unwrap())
        );
        for t in tasks {
            t.abort();
        }
    }

    // A large snapshot applied on a running sensor while requests flow.
    use glitch_proto::config::v1 as pb;
    use sha2::Digest;
    let mut big = pb::ConfigSnapshot {
        version: 1_000_000,
        ..Default::default()
    };
    for p in 0..1000 {
        big.policies.push(pb::Policy {
            id: format!("pol_{p}"),
            json: serde_json::json!({"name": format!("policy {p}"), "input_detectors": [{"detector_type": "secrets/*", "threshold": "L2", "action": "block"}, {"detector_type": "prompt_attack", "threshold": "L2", "action": "block"}], "custom_detectors": [{"name": "codename", "pattern": format!("(?i)\\bproject{p}\\b"), "action": "block"}]}).to_string(),
        });
        big.projects.push(pb::Project {
            id: format!("proj_{p}"),
            name: format!("Project {p}"),
            policy_id: format!("pol_{p}"),
        });
    }
    for k in 0..10_000 {
        big.keys.push(pb::ApiKey {
            id: format!("key_{k}"),
            project_id: format!("proj_{}", k % 1000),
            key_sha256: sha2::Sha256::digest(
                format!("glitch_sk_bench_key_{k:08}_xxxxxxxx").as_bytes(),
            )
            .to_vec(),
            display_prefix: "glitch_sk_benc".into(),
        });
    }
    // The load below authenticates with the bench key: keep it valid in the big snapshot.
    big.keys.push(pb::ApiKey {
        id: "key_bench".into(),
        project_id: "proj_0".into(),
        key_sha256: sha2::Sha256::digest(b"glitch_sk_bench00000000000000000001").to_vec(),
        display_prefix: "glitch_sk_benc".into(),
    });
    let pack = glitch_detect::builtin::builtin_pack();
    let mut builds = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let snapshot = glitch_sensor::fleet::build_snapshot(&big, "bench", &pack, None).unwrap();
        builds.push(t.elapsed());
        std::hint::black_box(snapshot);
    }
    builds.sort();
    println!(
        "\nLarge snapshot (1,000 projects, 10,000 keys, 1,000 policies): build and validate p50 {} (max {}), off the request path; the swap itself is one pointer store.",
        ms(pct(&builds, 0.5)),
        ms(*builds.last().unwrap())
    );

    // Requests flowing through a sensor while that snapshot is swapped in repeatedly.
    let fake = glitch_fake_anthropic::FakeAnthropic::start().await.unwrap();
    let policy_path = dir.path().join("policy.yaml");
    std::fs::write(&policy_path, POLICY).unwrap();
    let sensor = glitch_sensor::start(glitch_sensor::SensorArgs::parse_from([
        "glitch-sensor".to_owned(),
        "--listen=127.0.0.1:0".into(),
        "--admin-listen=127.0.0.1:0".into(),
        format!("--policy-file={}", policy_path.display()),
        format!("--events=file:{}", dir.path().join("events").display()),
        format!("--upstream={}", fake.url()),
        "--policy-reload-ms=3600000".into(),
    ]))
    .await
    .unwrap();
    let base = format!("http://{}", sensor.addr);
    let body = Bytes::from(claude_code_body(1024, false, "hello"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load_stop = stop.clone();
    let load_base = base.clone();
    let load_body = body.clone();
    let load = tokio::spawn(async move {
        let c = client(8);
        let mut lat = Vec::new();
        while !load_stop.load(std::sync::atomic::Ordering::Relaxed) {
            let mut req = request(&load_base, &load_body, None);
            req.headers_mut().insert(
                "x-glitch-key",
                http::HeaderValue::from_static("glitch_sk_bench00000000000000000001"),
            );
            let t = Instant::now();
            let resp = c.request(req).await.unwrap();
            let _ = resp.into_body().collect().await;
            lat.push(t.elapsed());
        }
        lat
    });
    let baseline_wait = tokio::time::sleep(Duration::from_secs(2));
    baseline_wait.await;
    let config = sensor.app.config.clone();
    let mut swap_builds = Vec::new();
    for round in 0..6u64 {
        // Round 0 is the cold build; later rounds change one policy of the thousand, as an edit does.
        let mut next = big.clone();
        next.version += round;
        if round > 0 {
            next.policies[0].json = serde_json::json!({"name": format!("edited {round}"), "custom_detectors": [{"name": "codename", "pattern": format!("(?i)\\bedit{round}\\b"), "action": "block"}]}).to_string();
        }
        let pack2 = pack.clone();
        let previous = config.load();
        let t = Instant::now();
        let built = tokio::task::spawn_blocking(move || {
            glitch_sensor::fleet::build_snapshot(&next, "bench", &pack2, Some(&previous))
        })
        .await
        .unwrap()
        .unwrap();
        if round > 0 {
            swap_builds.push(t.elapsed());
        }
        config.store(built);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut lat = load.await.unwrap();
    lat.sort();
    swap_builds.sort();
    println!(
        "Applying it on a running sensor, then 5 updates of that snapshot with one policy edited each (build reusing the unchanged compiled policies, off the request path): p50 {}. Meanwhile {} requests through the sensor (8 connections, 1 KB bodies) had p50 {} and p99 {}.",
        ms(pct(&swap_builds, 0.5)),
        lat.len(),
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99))
    );
    sensor.shutdown().await;
    cp.shutdown().await;
}

/// Speed of the whole built-in pack under the `balanced` template: a 76 KB Claude-Code-shaped
/// request, 1 MB of mixed prose and code, and a 100-turn session with the scan cache.
fn detect_bench() {
    use glitch_detect::cache::ScanCache;
    use glitch_detect::extract::parse_messages_request;
    use glitch_detect::{CompiledPolicy, Direction};
    let balanced = glitch_detect::templates::template("balanced")
        .unwrap()
        .unwrap();
    let policy =
        CompiledPolicy::compile(balanced, &glitch_detect::builtin::builtin_pack()).unwrap();
    println!("# Detection speed (built-in pack, balanced template, one core)\n");

    // 76 KB request: parse + scan every segment, no cache.
    let body = claude_code_body(
        76 * 1024,
        true,
        "Please refactor the config loader and add tests.",
    );
    let mut times = Vec::new();
    let mut scanned_bytes = 0usize;
    for i in 0..2000 {
        let t = Instant::now();
        let parsed = glitch_detect::extract::parse_messages_request(&body).unwrap();
        let report = policy.scan(Direction::Input, &parsed.segments);
        let elapsed = t.elapsed();
        std::hint::black_box(report);
        if i == 0 {
            scanned_bytes = parsed.segments.iter().map(|s| s.text.len()).sum();
        }
        times.push(elapsed);
    }
    times.sort();
    let mean = times.iter().map(Duration::as_secs_f64).sum::<f64>() / times.len() as f64;
    println!("| input | size | p50 | p99 | throughput |");
    println!("|---|---|---|---|---|");
    println!(
        "| 76 KB Claude Code request (parse + scan; {} bytes of scanned text) | {} B | {} | {} | {:.0} MB/s of body |",
        scanned_bytes,
        body.len(),
        ms(pct(&times, 0.5)),
        ms(pct(&times, 0.99)),
        body.len() as f64 / mean / 1e6
    );

    // 1 MB of mixed prose and code in 4 KB segments.
    let prose = "The deployment pipeline builds the container, runs the unit tests and pushes the image to the registry; if a step fails the on-call engineer gets paged and the release is rolled back automatically. ";
    let code = "fn load(path: &Path) -> Result<Config> {\n    let raw = fs::read_to_string(path)?;\n    let cfg: Config = toml::from_str(&raw)?;\n    Ok(cfg)\n}\n";
    let mut mixed = String::new();
    let mut i = 0;
    while mixed.len() < 1024 * 1024 {
        mixed.push_str(if i % 2 == 0 { prose } else { code });
        i += 1;
    }
    let segments: Vec<glitch_detect::TextSegment<'_>> = mixed
        .as_bytes()
        .chunks(4096)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .map(|t| glitch_detect::TextSegment {
            location: glitch_detect::Location::new(glitch_detect::Part::DetectContent),
            text: std::borrow::Cow::Borrowed(t),
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        std::hint::black_box(policy.scan(Direction::Input, &segments));
        times.push(t.elapsed());
    }
    times.sort();
    let mean = times.iter().map(Duration::as_secs_f64).sum::<f64>() / times.len() as f64;
    println!(
        "| 1 MB mixed prose and code (4 KB segments) | {} B | {} | {} | {:.0} MB/s |",
        mixed.len(),
        ms(pct(&times, 0.5)),
        ms(pct(&times, 0.99)),
        mixed.len() as f64 / mean / 1e6
    );

    // A 100-turn session: every request re-sends the whole conversation.
    let turn_text = |n: usize| {
        format!("Turn {n}: {}", "please update the handler so the retry loop backs off exponentially and logs each attempt. ".repeat(20))
    };
    let mut messages = Vec::new();
    let cache = ScanCache::new(16_384);
    let mut with_cache = Duration::ZERO;
    let mut without_cache = Duration::ZERO;
    let mut parsing = Duration::ZERO;
    let mut unique_text = 0usize;
    for n in 0..100 {
        messages.push(serde_json::json!({"role": if n % 2 == 0 { "user" } else { "assistant" }, "content": turn_text(n)}));
        unique_text += turn_text(n).len();
        let body = serde_json::to_vec(
            &serde_json::json!({"model": "m", "max_tokens": 1, "messages": messages}),
        )
        .unwrap();
        let t = Instant::now();
        let parsed = parse_messages_request(&body).unwrap();
        parsing += t.elapsed();
        let t = Instant::now();
        std::hint::black_box(policy.scan_cached(Direction::Input, &parsed.segments, Some(&cache)));
        with_cache += t.elapsed();
        let t = Instant::now();
        std::hint::black_box(policy.scan(Direction::Input, &parsed.segments));
        without_cache += t.elapsed();
    }
    let once_body = serde_json::to_vec(
        &serde_json::json!({"model": "m", "max_tokens": 1, "messages": messages}),
    )
    .unwrap();
    let parsed = parse_messages_request(&once_body).unwrap();
    let mut once_times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        std::hint::black_box(policy.scan(Direction::Input, &parsed.segments));
        once_times.push(t.elapsed());
    }
    once_times.sort();
    let once = pct(&once_times, 0.5);
    println!(
        "\n100-turn session, every request re-sending the whole conversation ({} bytes of text in the end):\n",
        unique_text
    );
    println!("| | time |");
    println!("|---|---|");
    println!(
        "| scanning the final conversation's text once | {} |",
        ms(once)
    );
    println!(
        "| detection over all 100 requests with the scan cache | {} ({:.2}× scanning once) |",
        ms(with_cache),
        with_cache.as_secs_f64() / once.as_secs_f64()
    );
    println!(
        "| detection over all 100 requests without the cache | {} ({:.2}×) |",
        ms(without_cache),
        without_cache.as_secs_f64() / once.as_secs_f64()
    );
    println!(
        "| parsing the 100 request bodies (not detection; grows with the re-sent JSON) | {} |",
        ms(parsing)
    );
}
