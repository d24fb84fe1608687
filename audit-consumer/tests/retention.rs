//! Retention on both databases: with `--retention 1d`, the consumer's retention task removes
//! events older than a day (and their detector rows), sessions whose last activity is older,
//! and old dead letters; recent rows stay.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::events::{Ev, event_id};
use common::*;
use glitch_audit_consumer::Index;
use glitch_audit_consumer::record::{Batch, DeadLetter, RecordRef};

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn retention(db: &TestDb) {
    let now = now_ms();
    let old = now - 10 * DAY_MS;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events");
    let mut events = Vec::new();
    // An old session, a session with old and recent events, a recent session.
    for n in 0..5u64 {
        events.push(
            Ev::new(
                &event_id(old + n as i64, n),
                old + n as i64,
                "proj_a",
                "old",
            )
            .blocked("prompt_attack")
            .build(),
        );
    }
    events.push(Ev::new(&event_id(old + 10, 10), old + 10, "proj_a", "mixed").build());
    events.push(Ev::new(&event_id(now - 1000, 11), now - 1000, "proj_a", "mixed").build());
    events.push(Ev::new(&event_id(now - 500, 12), now - 500, "proj_b", "new").build());
    write_events(&log, &events);

    // Index everything first (no retention), plus an old dead letter.
    let h = Harness::start(file_args(&log, db)).await;
    h.wait_for_records(events.len() as u64).await;
    h.stop().await;
    let index = Index::connect(&db.url).await.unwrap();
    let mut batch = Batch::new(Arc::from("kafka:old"));
    batch.dead_letters.push(DeadLetter::new(
        RecordRef::Kafka {
            partition: 0,
            offset: 1,
        },
        None,
        b"garbage",
        "not a protobuf SecurityEvent",
        old,
    ));
    index.write_batch(&batch).await.unwrap();
    index.close().await;
    assert_eq!(count_rows(db, "SELECT COUNT(*) FROM events").await, 8);
    assert_eq!(
        count_rows(db, "SELECT COUNT(*) FROM event_detectors").await,
        5
    );

    let mut args = file_args(&log, db);
    args.retention = Some(Duration::from_secs(86_400));
    let h = Harness::start(args).await;
    wait_until("old events removed", || async {
        count_rows(db, "SELECT COUNT(*) FROM events").await == 2
    })
    .await;
    wait_until("old dead letters removed", || async {
        count_rows(db, "SELECT COUNT(*) FROM dead_letters").await == 0
    })
    .await;
    let mut ids = h.all_event_ids("", ADMIN).await;
    ids.sort();
    assert_eq!(
        ids,
        vec![event_id(now - 1000, 11), event_id(now - 500, 12)],
        "{}",
        db.kind
    );
    assert_eq!(
        count_rows(db, "SELECT COUNT(*) FROM event_detectors").await,
        0
    );
    let (_, sessions) = h.get("/v1/sessions").await;
    let names: Vec<&str> = sessions["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["new", "mixed"],
        "{}: the old session is gone",
        db.kind
    );
    assert_eq!(
        count_rows(
            db,
            "SELECT COUNT(*) FROM session_models WHERE session_id = 'old'"
        )
        .await,
        0
    );
    let (status, _) = h.get("/v1/sessions/old/events").await;
    assert_eq!(status, 404);
    h.stop().await;
}

#[tokio::test]
async fn retention_on_sqlite() {
    retention(&sqlite_db()).await;
}

#[tokio::test]
async fn retention_on_postgres() {
    retention(&postgres_db().await).await;
}
