//! The Kafka source against a real Kafka-protocol broker (tansu, from glitch-testkit):
//! protobuf records keyed by session id are indexed, garbage is dead-lettered and the stream
//! goes on; offsets are committed on shutdown (a restart reads only new records); a missing
//! topic is reported and waited for; two members of one group share the partitions and every
//! event is indexed once; the binary killed with SIGKILL mid-stream and restarted leaves every
//! event exactly once in the index.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::events::realistic_event;
use common::*;
use glitch_audit_consumer::AuditArgs;
use glitch_testkit::kafka::Broker;
use prost::Message;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const TOPIC: &str = "glitch-events";
const BASE: i64 = 1_767_000_000_000;

async fn broker_with_topic(partitions: u32) -> Broker {
    tokio::task::spawn_blocking(move || {
        let broker = Broker::start();
        broker.create_topic(TOPIC, partitions);
        broker
    })
    .await
    .unwrap()
}

fn producer(broker: &Broker) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("linger.ms", "5")
        .create()
        .unwrap()
}

/// Produces `records` (key, value) to `topic` and waits for every delivery.
async fn produce(producer: &FutureProducer, topic: &str, records: Vec<(String, Vec<u8>)>) {
    for chunk in records.chunks(500) {
        let mut pending = Vec::new();
        for (key, value) in chunk {
            pending.push(producer.send_result(FutureRecord::to(topic).key(key).payload(value)));
        }
        for p in pending {
            p.map_err(|(e, _)| e).unwrap().await.unwrap().unwrap();
        }
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

fn events(range: std::ops::Range<u64>) -> Vec<(String, Vec<u8>)> {
    range
        .map(|i| {
            let e = realistic_event(i, BASE);
            (e.session_id.clone(), e.encode_to_vec())
        })
        .collect()
}

fn kafka_args(broker: &Broker, db: &TestDb, group: &str) -> AuditArgs {
    let mut args = AuditArgs::for_tests(&broker.events_url(TOPIC), &db.url, ADMIN);
    args.group = group.into();
    args
}

async fn indexes_and_dead_letters(db: &TestDb) {
    let broker = broker_with_topic(3).await;
    let p = producer(&broker);
    let mut records = events(0..300);
    records.insert(
        100,
        ("bad-key".into(), b"\xff\x00 not protobuf at all".to_vec()),
    );
    let no_id = glitch_proto::events::v1::SecurityEvent {
        session_id: "s".into(),
        ..Default::default()
    };
    records.insert(200, ("s".into(), no_id.encode_to_vec()));
    produce(&p, TOPIC, records).await;

    let h = Harness::start(kafka_args(&broker, db, "audit-1")).await;
    h.wait_for_records(302).await;
    assert_eq!(h.all_event_ids("", ADMIN).await.len(), 300, "{}", db.kind);
    let (_, dead) = h.get("/v1/dead-letters").await;
    assert_eq!(dead["count"], 2, "{dead}");
    let garbage = dead["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["key"] == "bad-key")
        .unwrap_or_else(|| panic!("no dead letter keyed bad-key: {dead}"));
    assert_eq!(garbage["source"], format!("kafka:{TOPIC}"));
    assert!(garbage["partition"].as_i64().unwrap() >= 0);
    assert!(
        garbage["error"]
            .as_str()
            .unwrap()
            .contains("not a protobuf")
    );
    let (_, health) = h.get_as("/health", None).await;
    assert_eq!(health["source"], broker.events_url(TOPIC));
    assert_eq!(health["events_indexed"], 300);
    h.stop().await;

    // Offsets were committed on shutdown: a restart reads only what is new.
    produce(&p, TOPIC, events(300..350)).await;
    let h = Harness::start(kafka_args(&broker, db, "audit-1")).await;
    h.wait_for_records(50).await;
    let progress = h.running.progress();
    assert_eq!(
        progress.records_read, 50,
        "{}: nothing read twice after a clean stop",
        db.kind
    );
    assert_eq!(progress.duplicates_skipped, 0);
    assert_eq!(
        count_rows(db, "SELECT COUNT(DISTINCT event_id) FROM events").await,
        350
    );
    h.stop().await;
}

#[tokio::test]
async fn kafka_source_on_sqlite() {
    indexes_and_dead_letters(&sqlite_db()).await;
}

#[tokio::test]
async fn kafka_source_on_postgres() {
    indexes_and_dead_letters(&postgres_db().await).await;
}

#[tokio::test]
async fn a_missing_topic_is_reported_and_waited_for() {
    let broker = tokio::task::spawn_blocking(Broker::start).await.unwrap();
    let db = sqlite_db();
    let h = Harness::start(kafka_args(&broker, &db, "audit-late")).await;
    wait_until("the missing topic reported in /health", || async {
        let (_, health) = h.get_as("/health", None).await;
        health["status"] == "degraded"
            && health["problem"]
                .as_str()
                .is_some_and(|p| p.contains("does not exist"))
    })
    .await;
    broker.create_topic(TOPIC, 1);
    produce(&producer(&broker), TOPIC, events(0..10)).await;
    h.wait_for_records(10).await;
    assert_eq!(h.all_event_ids("", ADMIN).await.len(), 10);
    h.stop().await;
}

#[tokio::test]
async fn two_members_share_the_partitions_and_index_each_event_once() {
    let broker = broker_with_topic(4).await;
    let p = producer(&broker);
    let db = sqlite_db();
    produce(&p, TOPIC, events(0..400)).await;
    let a = Harness::start(kafka_args(&broker, &db, "audit-shared")).await;
    wait_until("member a started consuming", || async {
        a.running.progress().records_read > 0
    })
    .await;
    // A second member joins: the partitions are rebalanced between the two.
    let b = Harness::start(kafka_args(&broker, &db, "audit-shared")).await;
    produce(&p, TOPIC, events(400..800)).await;
    wait_until("all 800 events indexed", || async {
        count_rows(&db, "SELECT COUNT(*) FROM events").await == 800
    })
    .await;
    assert_eq!(
        count_rows(&db, "SELECT COUNT(DISTINCT event_id) FROM events").await,
        800
    );
    assert_eq!(
        count_rows(&db, "SELECT CAST(SUM(requests) AS BIGINT) FROM sessions").await,
        800,
        "session totals count each event once"
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn sigkill_mid_stream_leaves_every_event_once() {
    const EVENTS: u64 = 20_000;
    let broker = broker_with_topic(3).await;
    produce(&producer(&broker), TOPIC, events(0..EVENTS)).await;
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let spawn = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_glitch-audit-consumer"))
            .current_dir(dir.path())
            .env("GLITCH_ADMIN_TOKEN", ADMIN)
            .env_remove("GLITCH_AUDIT_TOKENS")
            .env("RUST_LOG", "info")
            .args(["--listen", "127.0.0.1:0", "--batch-size", "200"])
            .args(["--events", &broker.events_url(TOPIC)])
            .args(["--index", &db.url, "--group", "audit-kill"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        child
    };
    let mut child = spawn();
    wait_until("some events indexed", || async {
        count_rows(&db, "SELECT COUNT(*) FROM events").await >= 1000
    })
    .await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let at_kill = count_rows(&db, "SELECT COUNT(*) FROM events").await;
    assert!(
        at_kill < EVENTS as i64,
        "the kill came after the whole stream; nothing was tested"
    );

    let mut child = spawn();
    wait_until("the whole stream indexed", || async {
        count_rows(&db, "SELECT COUNT(*) FROM events").await >= EVENTS as i64
    })
    .await;
    assert_eq!(
        count_rows(&db, "SELECT COUNT(*) FROM events").await,
        EVENTS as i64
    );
    assert_eq!(
        count_rows(&db, "SELECT COUNT(DISTINCT event_id) FROM events").await,
        EVENTS as i64
    );
    assert_eq!(
        count_rows(&db, "SELECT CAST(SUM(requests) AS BIGINT) FROM sessions").await,
        EVENTS as i64
    );
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}
