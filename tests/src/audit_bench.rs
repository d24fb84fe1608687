//! `glitch-bench audit`: the audit pipeline's numbers (issue "Audit pipeline"):
//! 1. what the event path adds to a request: the request path's whole share of it (reserve a
//!    queue slot, hand over the headers (redacted by the writer thread), fill the event, hand it
//!    over) timed in-process against a
//!    live sink, with the writer and the Kafka forwarder running, file and Kafka modes;
//! 2. events/s end to end: sensor → Kafka (tansu) → consumer → SQLite, real processes;
//! 3. time from a request's end to its event being queryable in the audit API (p50/p99), Kafka
//!    and file modes.
//!
//! The consumer alone (into SQLite and PostgreSQL) is measured by the audit consumer's own bench:
//! `cargo bench -p glitch-audit-consumer --bench consumer`.

#![allow(clippy::print_stdout, reason = "a benchmark prints its numbers")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use glitch_proto::events::v1::{Latency, Risk, SecurityEvent};
use glitch_sensor::events::{BodyKind, EventDraft, EventSink, EventSinkOptions, EventsTarget};
use glitch_sensor::metrics::SensorMetrics;
use glitch_testkit::kafka::Broker;

use crate::pipeline::{send_message, start_consumer, start_sensor, wait_queryable};
use crate::shapes::claude_code_body;

const TOPIC: &str = "glitch-bench-events";
/// Part 1's topic, kept apart so its events do not reach part 2's consumer.
const HANDOFF_TOPIC: &str = "glitch-bench-handoff";

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Headers as Claude Code sends them.
fn claude_code_headers() -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (name, value) in [
        ("host", "127.0.0.1:8080"),
        ("content-type", "application/json"),
        ("x-api-key", "sk-ant-api03-bench"),
        ("anthropic-version", "2023-06-01"),
        (
            "anthropic-beta",
            "claude-code-20250219,interleaved-thinking-2025-05-14",
        ),
        ("x-glitch-key", "glitch_sk_bench"),
        (
            "x-claude-code-session-id",
            "0b6f0a8e-3c39-4f0e-9a39-1c1d1f2e3a4b",
        ),
        ("user-agent", "claude-cli/2.1.332 (external, cli)"),
        ("x-stainless-lang", "js"),
        ("x-stainless-package-version", "0.60.0"),
        ("x-stainless-os", "Linux"),
        ("x-stainless-arch", "x64"),
        ("x-stainless-runtime", "node"),
        ("x-stainless-runtime-version", "v20.20.2"),
        ("x-app", "cli"),
        ("accept", "application/json"),
        ("content-length", "76000"),
    ] {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            h.insert(http::HeaderName::from_static(name), v);
        }
    }
    h
}

/// Times the request path's share of the event path at `rate` events/s for `secs` seconds.
async fn handoff(
    target: EventsTarget,
    state_dir: &std::path::Path,
    rate: u64,
    secs: u64,
) -> Vec<Duration> {
    let metrics = Arc::new(SensorMetrics::new());
    let (sink, writer) = match EventSink::start(
        &target,
        EventSinkOptions {
            queue: 16_384,
            conversation_cap: 256 * 1024,
            queue_body_bytes: 16 * 1024 * 1024,
            spool_dir: state_dir.join("spool"),
            spool_max_bytes: 1 << 30,
            client_id: "glitch-bench".into(),
        },
        metrics,
    ) {
        Ok(started) => started,
        Err(e) => panic!("cannot start the event sink: {e}"),
    };
    let headers = claude_code_headers();
    let body = Bytes::from(claude_code_body(76_000, true, "bench the event path"));
    let interval = Duration::from_micros(1_000_000 / rate.max(1));
    let total = rate * secs;
    let mut times = Vec::with_capacity(total as usize);
    let mut next = Instant::now();
    for i in 0..total {
        next += interval;
        let start = Instant::now();
        let Some(permit) = sink.reserve().await else {
            break;
        };
        let event = SecurityEvent {
            event_id: uuid_like(i),
            sensor_id: "bench".into(),
            region: "local".into(),
            project_id: "proj_bench".into(),
            key_id: "key_bench".into(),
            session_id: "0b6f0a8e-3c39-4f0e-9a39-1c1d1f2e3a4b".into(),
            method: "POST".into(),
            path: "/v1/messages".into(),
            query: "beta=true".into(),
            model: "claude-sonnet-4-5".into(),
            stream: true,
            decision: "allowed".into(),
            risk: Some(Risk::default()),
            status: 200,
            upstream_status: 200,
            latency_ms: Some(Latency {
                total: 12.0,
                detection: 0.1,
                upstream_first_byte: 10.0,
            }),
            user_agent: "claude-cli/2.1.332 (external, cli)".into(),
            policy_id: "balanced".into(),
            request_bytes: body.len() as u64,
            ..SecurityEvent::default()
        };
        permit.send(EventDraft {
            event,
            body: Some(body.clone()),
            body_kind: BodyKind::Messages,
            mask_values: Vec::new(),
            response_text: "Done.".into(),
            omitted_reason: None,
            // As the request path does: the headers are handed over (a cheap clone) and
            // redacted by the writer thread.
            headers: Some(headers.clone()),
        });
        times.push(start.elapsed());
        tokio::time::sleep_until(next.into()).await;
    }
    drop(sink);
    writer.flush_and_join().await;
    times.sort();
    times
}

fn uuid_like(i: u64) -> String {
    format!("0190b6a0-0000-7000-8000-{i:012}")
}

/// Runs every part and prints the numbers.
pub async fn run(quick: bool) {
    let secs = if quick { 2 } else { 10 };
    let broker = Broker::start();
    broker.create_topic(TOPIC, 3);
    broker.create_topic(HANDOFF_TOPIC, 3);
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("tempdir: {e}"),
    };

    println!(
        "## 1. Request-path share of the event path (reserve + clone headers + fill event + hand over), 76 KB Claude Code bodies, 1,000 events/s for {secs} s"
    );
    for (label, target) in [
        (
            "file:DIR",
            EventsTarget::File(dir.path().join("file-events")),
        ),
        (
            "kafka://",
            match EventsTarget::parse(&broker.events_url(HANDOFF_TOPIC)) {
                Ok(t) => t,
                Err(e) => panic!("{e}"),
            },
        ),
    ] {
        let times = handoff(
            target,
            &dir.path().join(format!("state-{}", label.len())),
            1000,
            secs,
        )
        .await;
        println!(
            "{label:<9} n={} p50 {} p99 {} p99.9 {} max {}",
            times.len(),
            us(pct(&times, 0.5)),
            us(pct(&times, 0.99)),
            us(pct(&times, 0.999)),
            us(times.last().copied().unwrap_or_default()),
        );
    }

    let fake = match glitch_fake_anthropic::FakeAnthropic::start().await {
        Ok(fake) => fake,
        Err(e) => panic!("fake upstream: {e}"),
    };
    let client = reqwest::Client::new();
    let api_key = format!("sk-ant-api03-{}", "Bench000".repeat(11));

    // 2. End-to-end throughput.
    let n: usize = if quick { 2_000 } else { 20_000 };
    let e2e_dir = dir.path().join("e2e");
    let _ = std::fs::create_dir_all(&e2e_dir);
    let index = format!("sqlite://{}", e2e_dir.join("audit.db").display());
    let consumer = start_consumer(&broker.events_url(TOPIC), &index, &[]);
    let sensor = start_sensor(&e2e_dir, &broker.events_url(TOPIC), &fake.url(), &[]);
    let started = Instant::now();
    let concurrency = 32;
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let client = client.clone();
        let base = sensor.base.clone();
        let api_key = api_key.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while i < n {
                let session = format!("00000000-0000-4000-8000-{:012}", i % 16);
                let _ = send_message(
                    &client,
                    &base,
                    &session,
                    "summarise the build log",
                    &api_key,
                )
                .await;
                i += concurrency;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let sent_in = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let indexed: u64 = match crate::pipeline::audit_get(
            &client,
            &consumer.api,
            "/v1/sessions?limit=100",
        )
        .await
        {
            Ok(page) => page["results"]
                .as_array()
                .map(|rows| rows.iter().filter_map(|r| r["requests"].as_u64()).sum())
                .unwrap_or(0),
            Err(_) => 0,
        };
        if indexed >= n as u64 || Instant::now() > deadline {
            let all = started.elapsed();
            println!(
                "## 2. End to end: sensor → Kafka (tansu, 3 partitions) → consumer → SQLite, {n} requests, 32 connections"
            );
            println!(
                "requests sent in {:.2} s ({:.0} req/s through the sensor); all {indexed} indexed after {:.2} s: {:.0} events/s end to end",
                sent_in.as_secs_f64(),
                n as f64 / sent_in.as_secs_f64(),
                all.as_secs_f64(),
                indexed as f64 / all.as_secs_f64()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 3. Queryable latency at a steady rate, Kafka mode, then file mode.
    let samples = if quick { 50 } else { 300 };
    let mut kafka_times = queryable(&client, &sensor.base, &consumer.api, &api_key, samples).await;
    drop(sensor);
    drop(consumer);
    let file_dir = dir.path().join("file");
    let _ = std::fs::create_dir_all(&file_dir);
    let events = format!("file:{}", file_dir.join("events").display());
    let file_index = format!("sqlite://{}", file_dir.join("audit.db").display());
    let consumer = start_consumer(&events, &file_index, &[]);
    let sensor = start_sensor(&file_dir, &events, &fake.url(), &[]);
    let mut file_times = queryable(&client, &sensor.base, &consumer.api, &api_key, samples).await;
    println!(
        "## 3. Request end → event queryable via GET /v1/events/{{id}} (20 requests/s, {samples} samples, polled every 5 ms)"
    );
    for (label, times) in [
        ("kafka://", &mut kafka_times),
        ("file:DIR", &mut file_times),
    ] {
        times.sort();
        println!(
            "{label:<9} p50 {} p99 {} max {}",
            ms(pct(times, 0.5)),
            ms(pct(times, 0.99)),
            ms(times.last().copied().unwrap_or_default())
        );
    }
}

async fn queryable(
    client: &reqwest::Client,
    base: &str,
    api: &str,
    api_key: &str,
    samples: usize,
) -> Vec<Duration> {
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let step = Instant::now();
        let session = format!("10000000-0000-4000-8000-{:012}", i % 4);
        if let Ok((_, id)) = send_message(
            client,
            base,
            &session,
            "how long until I am audited?",
            api_key,
        )
        .await
        {
            match wait_queryable(client, api, &id, Duration::from_secs(30)).await {
                Some(t) => times.push(t),
                None => println!("event {id} not queryable within 30 s"),
            }
        }
        let pause = Duration::from_millis(50).saturating_sub(step.elapsed());
        tokio::time::sleep(pause).await;
    }
    times
}
