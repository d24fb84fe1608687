//! The file source end to end: events written with the sensor's `EventLogWriter` are indexed
//! by the consumer running in-process; a restart resumes from the stored position without
//! duplicates; corrupt and undecodable records become dead letters while the rest is indexed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::events::{Ev, event_id, realistic_event};
use common::*;
use glitch_eventlog::{EventLogWriter, WriterOptions};
use prost::Message;

const BASE: i64 = 1_767_000_000_000;

async fn end_to_end_and_resume(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events");
    let first: Vec<_> = (0..300).map(|i| realistic_event(i, BASE)).collect();
    write_events(&log, &first[..150]);
    write_events(&log, &first[150..]);

    let h = Harness::start(file_args(&log, db)).await;
    h.wait_for_records(300).await;
    let ids = h.all_event_ids("", ADMIN).await;
    assert_eq!(ids.len(), 300, "{}", db.kind);

    // Events appended while it runs show up (tail following).
    let second: Vec<_> = (300..500).map(|i| realistic_event(i, BASE)).collect();
    write_events(&log, &second);
    h.wait_for_records(500).await;
    let progress = h.running.progress();
    assert_eq!(progress.events_indexed, 500);
    assert_eq!(progress.duplicates_skipped, 0);
    h.stop().await;

    // Restart: resumes after the stored position — nothing is read twice.
    let third: Vec<_> = (500..600).map(|i| realistic_event(i, BASE)).collect();
    write_events(&log, &third);
    let h = Harness::start(file_args(&log, db)).await;
    h.wait_for_records(100).await;
    let progress = h.running.progress();
    assert_eq!(
        progress.records_read, 100,
        "{}: resumed where it stopped",
        db.kind
    );
    assert_eq!(progress.duplicates_skipped, 0);
    let ids = h.all_event_ids("", ADMIN).await;
    assert_eq!(ids.len(), 600);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 600);
    assert_eq!(
        count_rows(db, "SELECT COUNT(DISTINCT event_id) FROM events").await,
        600
    );
    let (_, health) = h.get_as("/health", None).await;
    assert_eq!(health["status"], "healthy", "{health}");
    assert!(health["source"].as_str().unwrap().starts_with("file:"));
    h.stop().await;
}

#[tokio::test]
async fn end_to_end_and_resume_on_sqlite() {
    end_to_end_and_resume(&sqlite_db()).await;
}

#[tokio::test]
async fn end_to_end_and_resume_on_postgres() {
    end_to_end_and_resume(&postgres_db().await).await;
}

/// Flips a byte inside the payload of the first record of `segment` (its CRC no longer
/// matches).
fn corrupt_first_record(dir: &std::path::Path, segment: u64) {
    let path = dir.join(glitch_eventlog::segment_file_name(segment));
    let mut bytes = std::fs::read(&path).unwrap();
    let at = glitch_eventlog::SEGMENT_HEADER_LEN as usize + glitch_eventlog::RECORD_HEADER_LEN + 3;
    bytes[at] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
}

async fn bad_records(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events");
    let ev = |n: u64| {
        Ev::new(
            &event_id(BASE + n as i64, n),
            BASE + n as i64,
            "proj_a",
            "s",
        )
        .build()
    };
    {
        // One segment per batch, so a corrupt record only costs the rest of its segment.
        let mut writer = EventLogWriter::open(&log, WriterOptions { segment_bytes: 1 }).unwrap();
        let no_id = glitch_proto::events::v1::SecurityEvent {
            path: "/v1/messages".into(),
            ..Default::default()
        };
        writer
            .append_batch([
                ev(1).encode_to_vec(),
                b"\xff\xfe this is not a protobuf SecurityEvent".to_vec(),
                no_id.encode_to_vec(),
            ])
            .unwrap();
        writer
            .append_batch([ev(2).encode_to_vec(), ev(3).encode_to_vec()])
            .unwrap();
        writer.append_batch([ev(4).encode_to_vec()]).unwrap();
        writer.append_batch([ev(5).encode_to_vec()]).unwrap();
    }
    corrupt_first_record(&log, 1);

    let h = Harness::start(file_args(&log, db)).await;
    // ev1, garbage, no-id, the corrupt record (ev3 is lost with it), ev4, ev5.
    h.wait_for_records(6).await;
    let mut ids = h.all_event_ids("", ADMIN).await;
    ids.sort();
    assert_eq!(
        ids,
        vec![
            event_id(BASE + 1, 1),
            event_id(BASE + 4, 4),
            event_id(BASE + 5, 5)
        ],
        "{}",
        db.kind
    );
    let (status, body) = h.get("/v1/dead-letters").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 3, "{body}");
    let errors: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["error"].as_str().unwrap())
        .collect();
    assert!(errors.iter().any(|e| e.contains("corrupt")), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("not a protobuf")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("empty event_id")),
        "{errors:?}"
    );
    let garbage = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["error"].as_str().unwrap().contains("not a protobuf"))
        .unwrap();
    assert_eq!(garbage["partition"], -1);
    assert!(garbage["raw_bytes"].as_i64().unwrap() > 10);
    assert_eq!(count_rows(db, "SELECT COUNT(*) FROM dead_letters").await, 3);
    assert_eq!(h.running.progress().dead_letters, 3);
    let (_, health) = h.get_as("/health", None).await;
    assert_eq!(health["dead_letters"], 3);
    h.stop().await;
}

#[tokio::test]
async fn bad_records_are_dead_lettered_on_sqlite() {
    bad_records(&sqlite_db()).await;
}

#[tokio::test]
async fn bad_records_are_dead_lettered_on_postgres() {
    bad_records(&postgres_db().await).await;
}
