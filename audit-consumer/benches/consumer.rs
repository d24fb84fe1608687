//! Consumer throughput: events/s for the consumer alone (the log or topic is filled first),
//! with realistic 2-10 KB events (conversation included).
//!
//! Cases: file log → SQLite; file log → PostgreSQL (a fresh database on
//! `GLITCH_TEST_DATABASE_URL` or the local server `postgres://postgres@127.0.0.1:5432/postgres`);
//! Kafka (tansu via glitch-testkit, topic pre-filled) → SQLite.
//!
//! `cargo bench -p glitch-audit-consumer --bench consumer -- --events 100000 [--only sqlite|postgres|kafka]`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a bench binary: fails loudly and prints what it measures"
)]

#[path = "../tests/common/events.rs"]
mod events;

use std::path::Path;
use std::time::{Duration, Instant};

use glitch_audit_consumer::{AuditArgs, Running};
use glitch_eventlog::{EventLogWriter, WriterOptions};
use prost::Message;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

const ADMIN: &str = "bench-admin-token-0123456789";
const BASE_MS: i64 = 1_767_000_000_000;

/// `--events N` (default 100000) and `--only sqlite|postgres|kafka` (default: every case).
fn parse_args() -> (u64, Option<String>) {
    let mut args = std::env::args().skip(1);
    let mut n = 100_000;
    let mut only = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--events" => {
                n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--events N")
            }
            "--only" => only = args.next(),
            _ => {}
        }
    }
    (n, only)
}

/// Waits until `running` has committed `n` records; returns the seconds since `started`.
async fn wait_done(running: &Running, n: u64, started: Instant) -> f64 {
    loop {
        if running.progress().records_read >= n {
            return started.elapsed().as_secs_f64();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Seconds the index writer spent writing and committing batches, and the batch count (from
/// `/metrics`).
async fn writer_busy(running: &Running) -> (f64, u64) {
    let text = reqwest::get(format!("{}/metrics", running.api_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    (
        value("glitch_audit_batch_write_seconds_sum "),
        value("glitch_audit_batch_write_seconds_count ") as u64,
    )
}

async fn report(case: &str, running: &Running, n: u64, secs: f64, bytes: u64) {
    let (busy, batches) = writer_busy(running).await;
    println!(
        "{case:<28} {n:>8} events  {secs:>8.2} s  {:>9.0} events/s  ({:.1} MB/s of events; \
         {batches} batches, index writer busy {busy:.2} s)",
        n as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}

async fn file_case(case: &str, log: &Path, index: &str, n: u64, bytes: u64) {
    let args = AuditArgs::for_tests(&format!("file:{}", log.display()), index, ADMIN);
    let started = Instant::now();
    let running = glitch_audit_consumer::start(args).await.unwrap();
    let secs = wait_done(&running, n, started).await;
    report(case, &running, n, secs, bytes).await;
    let p = running.progress();
    assert_eq!(p.events_indexed, n, "{case}: every event indexed once");
    running.shutdown().await;
}

async fn kafka_case(records: &[Vec<u8>], keys: &[String], bytes: u64) {
    if !glitch_testkit::kafka::tansu_bin().exists() {
        println!("kafka → sqlite: tansu is not installed; run scripts/test.sh");
        return;
    }
    let broker = tokio::task::spawn_blocking(glitch_testkit::kafka::Broker::start)
        .await
        .unwrap();
    let topic = "glitch-events-bench";
    broker.create_topic(topic, 3);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("message.max.bytes", "10000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .create()
        .unwrap();
    let fill = Instant::now();
    let mut pending = Vec::with_capacity(5000);
    for (value, key) in records.iter().zip(keys) {
        pending.push(producer.send_result(FutureRecord::to(topic).key(key).payload(value)));
        if pending.len() == 5000 {
            for p in pending.drain(..) {
                p.map_err(|(e, _)| e).unwrap().await.unwrap().unwrap();
            }
        }
    }
    for p in pending.drain(..) {
        p.map_err(|(e, _)| e).unwrap().await.unwrap().unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    println!(
        "(kafka topic filled with {} records in {:.1} s)",
        records.len(),
        fill.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().unwrap();
    let index = format!("sqlite://{}", dir.path().join("audit.db").display());
    let mut args = AuditArgs::for_tests(&broker.events_url(topic), &index, ADMIN);
    args.group = "bench".into();
    let n = records.len() as u64;
    let started = Instant::now();
    let running = glitch_audit_consumer::start(args).await.unwrap();
    let secs = wait_done(&running, n, started).await;
    report("kafka (tansu) → sqlite", &running, n, secs, bytes).await;
    running.shutdown().await;
    drop(broker);
}

fn main() {
    let (n, only) = parse_args();
    let run = |case: &str| only.as_deref().is_none_or(|o| o == case);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let gen_started = Instant::now();
        let events: Vec<_> = (0..n)
            .map(|i| events::realistic_event(i, BASE_MS))
            .collect();
        let keys: Vec<String> = events.iter().map(|e| e.session_id.clone()).collect();
        let records: Vec<Vec<u8>> = events.iter().map(|e| e.encode_to_vec()).collect();
        drop(events);
        let bytes: u64 = records.iter().map(|r| r.len() as u64).sum();
        let (min, max) = records.iter().fold((usize::MAX, 0), |(lo, hi), r| {
            (lo.min(r.len()), hi.max(r.len()))
        });
        let stored: u64 = records
            .iter()
            .take(2000)
            .map(|r| glitch_audit_consumer::body::encode_body(r).len() as u64)
            .sum();
        let sample: u64 = records.iter().take(2000).map(|r| r.len() as u64).sum();
        println!(
            "{n} events, {:.1} MB, {min}-{max} bytes each (avg {}; stored zstd-compressed {:.1}x \
             smaller), generated in {:.1} s",
            bytes as f64 / 1e6,
            bytes / n.max(1),
            sample as f64 / stored.max(1) as f64,
            gen_started.elapsed().as_secs_f64()
        );

        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("events");
        {
            let mut writer = EventLogWriter::open(&log, WriterOptions::default()).unwrap();
            for chunk in records.chunks(1000) {
                writer.append_batch(chunk.iter()).unwrap();
            }
        }

        if run("sqlite") {
            let sqlite = format!("sqlite://{}", dir.path().join("audit.db").display());
            file_case("file → sqlite", &log, &sqlite, n, bytes).await;
        }
        if run("postgres") {
            let pg = glitch_testkit::postgres::postgres_db().await;
            file_case("file → postgres", &log, &pg.url, n, bytes).await;
            drop(pg);
        }
        if run("kafka") {
            kafka_case(&records, &keys, bytes).await;
        }
    });
}
