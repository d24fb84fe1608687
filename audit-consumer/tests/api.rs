//! The index and the audit API on both databases (the same test bodies run on SQLite and on a
//! real PostgreSQL): idempotent batches, every filter and cursor pagination of contract §7,
//! project-scoped tokens, 401/403/404/400 answers, and the whole event with its conversation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::sync::Arc;

use common::events::{Ev, event_id};
use common::*;
use glitch_audit_consumer::Index;
use glitch_audit_consumer::record::{Batch, Decoded, RecordRef, decode_record};
use prost::Message;
use serde_json::Value;

const BASE: i64 = 1_767_000_000_000;

fn batch_of(events: &[glitch_proto::events::v1::SecurityEvent]) -> Batch {
    let mut batch = Batch::new(Arc::from("test"));
    for (i, e) in events.iter().enumerate() {
        batch.push(decode_record(
            &e.encode_to_vec(),
            None,
            RecordRef::Kafka {
                partition: 0,
                offset: i as i64,
            },
            0,
        ));
    }
    batch
}

async fn session_row(
    index: &Index,
    project: &str,
) -> Vec<glitch_audit_consumer::index::SessionRecord> {
    index
        .list_sessions(
            &glitch_audit_consumer::index::SessionFilter {
                project_id: Some(project.into()),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .unwrap()
}

async fn idempotent_batches(db: &TestDb) {
    let index = Index::connect(&db.url).await.unwrap();
    let events: Vec<_> = vec![
        Ev::new(&event_id(BASE, 1), BASE, "p", "s").build(),
        Ev::new(&event_id(BASE + 10, 2), BASE + 10, "p", "s")
            .blocked("prompt_attack")
            .model("claude-haiku-4-5")
            .build(),
        Ev::new(&event_id(BASE + 20, 3), BASE + 20, "p", "").build(),
    ];
    let mut batch = batch_of(&events);
    // The same record twice in one batch counts once.
    batch.push(decode_record(
        &events[0].encode_to_vec(),
        None,
        RecordRef::Kafka {
            partition: 0,
            offset: 9,
        },
        0,
    ));
    let first = index.write_batch(&batch).await.unwrap();
    assert_eq!((first.inserted, first.duplicates), (3, 1), "{}", db.kind);
    let second = index.write_batch(&batch).await.unwrap();
    assert_eq!((second.inserted, second.duplicates), (0, 4), "{}", db.kind);

    assert_eq!(count_rows(db, "SELECT COUNT(*) FROM events").await, 3);
    assert_eq!(
        count_rows(db, "SELECT COUNT(*) FROM event_detectors").await,
        1
    );
    let sessions = session_row(&index, "p").await;
    assert_eq!(sessions.len(), 1, "events without a session form none");
    let s = &sessions[0];
    assert_eq!((s.requests, s.blocked), (2, 1), "totals not doubled");
    assert_eq!((s.input_tokens, s.output_tokens), (20, 10));
    assert_eq!((s.first_seen, s.last_seen), (BASE, BASE + 10));
    assert_eq!(s.models, vec!["claude-haiku-4-5", "claude-sonnet-4-5"]);

    // A later batch with one known and one new event adds only the new one.
    let more = vec![
        events[1].clone(),
        Ev::new(&event_id(BASE + 30, 4), BASE + 30, "p", "s").build(),
    ];
    let third = index.write_batch(&batch_of(&more)).await.unwrap();
    assert_eq!((third.inserted, third.duplicates), (1, 1));
    let s = &session_row(&index, "p").await[0];
    assert_eq!((s.requests, s.blocked, s.last_seen), (3, 1, BASE + 30));
    index.close().await;
}

#[tokio::test]
async fn batches_are_idempotent_on_sqlite() {
    idempotent_batches(&sqlite_db()).await;
}

#[tokio::test]
async fn batches_are_idempotent_on_postgres() {
    idempotent_batches(&postgres_db().await).await;
}

async fn dead_letters_are_stored_once(db: &TestDb) {
    let index = Index::connect(&db.url).await.unwrap();
    let mut batch = Batch::new(Arc::from("kafka:t"));
    let garbage = decode_record(
        b"\x0a\xff\xff garbage",
        Some(b"sess-key"),
        RecordRef::Kafka {
            partition: 1,
            offset: 77,
        },
        BASE,
    );
    assert!(matches!(garbage, Decoded::Dead(_)));
    batch.push(garbage);
    let first = index.write_batch(&batch).await.unwrap();
    assert_eq!(first.dead_letters, 1);
    index.write_batch(&batch).await.unwrap();
    let rows = index.list_dead_letters(None, 10).await.unwrap();
    assert_eq!(
        rows.len(),
        1,
        "{}: a replayed record is dead-lettered once",
        db.kind
    );
    assert_eq!(rows[0].source, "kafka:t");
    assert_eq!((rows[0].partition, rows[0].position.as_str()), (1, "77"));
    assert_eq!(rows[0].key.as_deref(), Some(b"sess-key".as_slice()));
    assert!(rows[0].error.contains("protobuf"));
    index.close().await;
}

#[tokio::test]
async fn dead_letters_on_sqlite() {
    dead_letters_are_stored_once(&sqlite_db()).await;
}

#[tokio::test]
async fn dead_letters_on_postgres() {
    dead_letters_are_stored_once(&postgres_db().await).await;
}

// ---- the API over a small, hand-made dataset ---------------------------------------------------

struct Data {
    /// Every event, in the API's default order (newest first).
    newest_first: Vec<String>,
}

fn id(n: u64, ms: i64) -> String {
    event_id(BASE + ms, n)
}

fn dataset() -> (Vec<glitch_proto::events::v1::SecurityEvent>, Data) {
    let evs = vec![
        Ev::new(&id(1, 1000), BASE + 1000, "proj_a", "s1"),
        Ev::new(&id(9, 1000), BASE + 1000, "proj_a", "s1").model("claude-opus-4-1"),
        Ev::new(&id(10, 1500), BASE + 1500, "proj_a", "s1")
            .messages(r#"[{"role":"user","content":"this was cut sh"#),
        Ev::new(&id(2, 2000), BASE + 2000, "proj_a", "s1")
            .blocked("secrets/aws_access_key")
            .model("claude-haiku-4-5"),
        Ev::new(&id(3, 3000), BASE + 3000, "proj_a", "s1")
            .flagged("pii/email")
            .path("/v1/messages/count_tokens"),
        Ev::new(&id(4, 4000), BASE + 4000, "proj_a", "s2"),
        Ev::new(&id(5, 5000), BASE + 5000, "proj_b", "s3").blocked("prompt_attack"),
        Ev::new(&id(6, 6000), BASE + 6000, "proj_b", "s3").status(429),
        Ev::new(&id(7, 7000), BASE + 7000, "proj_b", ""),
        {
            let mut e = Ev::new(&id(8, 8000), BASE + 8000, "", "").status(401);
            e.decision = "auth_failed".into();
            e
        },
    ];
    let mut order: Vec<(i64, String)> = evs.iter().map(|e| (e.ms, e.id.clone())).collect();
    order.sort();
    order.reverse();
    let data = Data {
        newest_first: order.into_iter().map(|(_, id)| id).collect(),
    };
    (evs.iter().map(Ev::build).collect(), data)
}

fn ids(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {body}"))
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn api_behaviour(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (events, data) = dataset();
    write_events(dir.path(), &events);
    let h = Harness::start(file_args(dir.path(), db)).await;
    h.wait_for_records(events.len() as u64).await;
    let all = &data.newest_first;
    let kind = db.kind;

    // ---- events, newest first, with every filter
    let (status, body) = h.get("/v1/events").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 10);
    assert_eq!(&ids(&body), all, "{kind}");
    assert_eq!(body["next_cursor"], Value::Null);
    assert!(
        body["results"][0].get("conversation").is_none(),
        "lists are summaries"
    );
    assert_eq!(body["results"][0]["time"], "2025-12-29T09:20:08.000Z");

    let expect = |q: &'static str, want: Vec<u64>| (q, want);
    for (query, want) in [
        expect("path=/v1/messages/count_tokens", vec![3]),
        expect("session_id=s1", vec![3, 2, 10, 9, 1]),
        expect("project_id=proj_b", vec![7, 6, 5]),
        expect("detector_type=secrets/aws_access_key", vec![2]),
        expect("detector_type=pii/email", vec![3]),
        expect("detector_type=jailbreak", vec![]),
        expect("decision=blocked", vec![5, 2]),
        expect("decision=auth_failed", vec![8]),
        expect("status=403", vec![5, 2]),
        expect("status=429", vec![6]),
        expect("since=2025-12-29T09:20:05Z", vec![8, 7, 6, 5]),
        expect("until=2025-12-29T09:20:02Z", vec![10, 9, 1]),
        expect(
            "since=2025-12-29T09:20:02Z&until=2025-12-29T09:20:05.000%2B00:00",
            vec![4, 3, 2],
        ),
        expect("project_id=proj_a&decision=blocked", vec![2]),
        expect("project_id=proj_b&detector_type=prompt_attack", vec![5]),
        expect("project_id=proj_a&detector_type=prompt_attack", vec![]),
        expect("session_id=s1&path=/v1/messages&status=200", vec![10, 9, 1]),
        expect(
            "project_id=&session_id=",
            vec![8, 7, 6, 5, 4, 3, 2, 10, 9, 1],
        ),
    ] {
        let (status, body) = h.get(&format!("/v1/events?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        let want: Vec<String> = want
            .iter()
            .map(|n| {
                all.iter()
                    .find(|id| id.ends_with(&format!("{n:012x}")))
                    .unwrap()
                    .clone()
            })
            .collect();
        assert_eq!(ids(&body), want, "{kind}: {query}");
    }

    // ---- cursor pagination (plain and with a detector filter)
    for (query, total) in [
        ("", 10),
        ("decision=blocked&", 2),
        ("detector_type=pii/email&", 1),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/events?{query}limit=3&cursor={c}"),
                None => format!("/v1/events?{query}limit=3"),
            };
            let (status, body) = h.get(&path).await;
            assert_eq!(status, 200, "{body}");
            assert!(body["count"].as_u64().unwrap() <= 3);
            seen.extend(ids(&body));
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen.len(), total, "{kind}: {query}");
        let mut dedup = seen.clone();
        dedup.dedup();
        assert_eq!(dedup, seen, "no event twice");
        if query.is_empty() {
            assert_eq!(&seen, all);
        }
    }

    // A page boundary stays put while newer events arrive.
    let (_, page1) = h.get("/v1/events?limit=4").await;
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    write_events(
        dir.path(),
        &[
            Ev::new(&id(11, 9000), BASE + 9000, "proj_a", "s2").build(),
            Ev::new(&id(12, 9500), BASE + 9500, "proj_b", "s3").build(),
        ],
    );
    h.wait_for_records(12).await;
    let (_, page2) = h.get(&format!("/v1/events?limit=4&cursor={cursor}")).await;
    let mut both = ids(&page1);
    both.extend(ids(&page2));
    assert_eq!(
        both,
        all[..8].to_vec(),
        "{kind}: pages continue where they stopped"
    );

    // ---- sessions, most recent activity first
    let (status, body) = h.get("/v1/sessions").await;
    assert_eq!(status, 200, "{body}");
    let sessions: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(sessions, vec!["s3", "s2", "s1"], "{kind}");
    let s1 = &body["results"][2];
    assert_eq!(s1["project_id"], "proj_a");
    assert_eq!(s1["requests"], 5);
    assert_eq!(s1["blocked"], 1);
    assert_eq!(s1["input_tokens"], 50);
    assert_eq!(s1["output_tokens"], 25);
    assert_eq!(s1["first_seen"], "2025-12-29T09:20:01.000Z");
    assert_eq!(s1["last_seen"], "2025-12-29T09:20:03.000Z");
    assert_eq!(
        s1["models"],
        serde_json::json!(["claude-haiku-4-5", "claude-opus-4-1", "claude-sonnet-4-5"])
    );
    let session_ids = |body: &Value| -> Vec<String> {
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["session_id"].as_str().unwrap().to_owned())
            .collect()
    };
    for (query, want) in [
        ("blocked=true", vec!["s3", "s1"]),
        ("blocked=false", vec!["s2"]),
        ("project_id=proj_a", vec!["s2", "s1"]),
        ("since=2025-12-29T09:20:05Z", vec!["s3", "s2"]),
        ("until=2025-12-29T09:20:02Z", vec!["s1"]),
        ("project_id=proj_b&blocked=false", vec![]),
    ] {
        let (status, body) = h.get(&format!("/v1/sessions?{query}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(session_ids(&body), want, "{kind}: {query}");
    }
    let (_, p1) = h.get("/v1/sessions?limit=2").await;
    assert_eq!(session_ids(&p1), vec!["s3", "s2"]);
    let c = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = h.get(&format!("/v1/sessions?limit=2&cursor={c}")).await;
    assert_eq!(session_ids(&p2), vec!["s1"]);
    assert_eq!(p2["next_cursor"], Value::Null);

    // ---- one session's events, oldest first
    let (status, body) = h.get("/v1/sessions/s1/events").await;
    assert_eq!(status, 200, "{body}");
    let s1_events = ids(&body);
    assert_eq!(
        s1_events,
        vec![
            id(1, 1000),
            id(9, 1000),
            id(10, 1500),
            id(2, 2000),
            id(3, 3000)
        ],
        "{kind}"
    );
    let (_, p1) = h.get("/v1/sessions/s1/events?limit=2").await;
    let c = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = h
        .get(&format!("/v1/sessions/s1/events?limit=2&cursor={c}"))
        .await;
    let c2 = p2["next_cursor"].as_str().unwrap();
    let (_, p3) = h
        .get(&format!("/v1/sessions/s1/events?limit=2&cursor={c2}"))
        .await;
    let mut paged = ids(&p1);
    paged.extend(ids(&p2));
    paged.extend(ids(&p3));
    assert_eq!(paged, s1_events);
    assert_eq!(p3["next_cursor"], Value::Null);
    let (status, body) = h.get("/v1/sessions/nope/events").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["type"], "not_found_error");

    // ---- the whole event, conversation included
    let (status, e) = h.get(&format!("/v1/events/{}", id(2, 2000))).await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["decision"], "blocked");
    assert_eq!(e["risk"]["blocked"], true);
    assert_eq!(e["risk"]["categories"][0], "secrets/aws_access_key");
    assert_eq!(e["findings"][0]["detector_type"], "secrets/aws_access_key");
    assert_eq!(e["findings"][0]["confidence"], 0.9);
    assert_eq!(e["latency_ms"]["total"], 12.5);
    assert_eq!(e["request_headers"]["x-api-key"], "[REDACTED]");
    assert_eq!(e["conversation"]["messages"][0]["role"], "user");
    assert_eq!(e["conversation"]["messages"][0]["content"], "hello");
    assert_eq!(
        e["conversation"]["system"][0]["text"],
        "You are Claude Code"
    );
    assert_eq!(e["conversation"]["tool_names"][0], "Bash");
    let (_, cut) = h.get(&format!("/v1/events/{}", id(10, 1500))).await;
    assert_eq!(
        cut["conversation"]["messages"], r#"[{"role":"user","content":"this was cut sh"#,
        "invalid JSON is returned as a string"
    );
    let (status, body) = h.get("/v1/events/no-such-event").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["type"], "not_found_error");

    // ---- project-scoped tokens
    let a_ids = h.all_event_ids("", TOKEN_A).await;
    assert_eq!(a_ids.len(), 7, "{kind}: proj_a's events only");
    let (status, body) = h
        .get_as("/v1/events?project_id=proj_a", Some(TOKEN_A))
        .await;
    assert_eq!((status.as_u16(), body["count"].as_u64()), (200, Some(7)));
    let (status, body) = h
        .get_as("/v1/events?project_id=proj_b", Some(TOKEN_A))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["type"], "permission_error");
    let (status, _) = h
        .get_as("/v1/sessions?project_id=proj_b", Some(TOKEN_A))
        .await;
    assert_eq!(status, 403);
    let (status, _) = h
        .get_as(&format!("/v1/events/{}", id(5, 5000)), Some(TOKEN_A))
        .await;
    assert_eq!(
        status, 404,
        "another project's event does not exist for this token"
    );
    let (status, _) = h
        .get_as(&format!("/v1/events/{}", id(5, 5000)), Some(TOKEN_B))
        .await;
    assert_eq!(status, 200);
    let (status, _) = h.get_as("/v1/sessions/s3/events", Some(TOKEN_A)).await;
    assert_eq!(status, 404);
    let (status, body) = h.get_as("/v1/sessions/s3/events", Some(TOKEN_B)).await;
    assert_eq!((status.as_u16(), body["count"].as_u64()), (200, Some(3)));
    let (_, body) = h.get_as("/v1/sessions", Some(TOKEN_B)).await;
    assert_eq!(session_ids(&body), vec!["s3"]);
    let (status, _) = h.get_as("/v1/dead-letters", Some(TOKEN_A)).await;
    assert_eq!(status, 403);

    // ---- authentication
    for path in ["/v1/events", "/v1/sessions", "/v1/events/x", "/v1/unknown"] {
        let (status, body) = h.get_as(path, None).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(body["error"]["type"], "authentication_error");
        let (status, _) = h.get_as(path, Some("wrong-token-0123456789")).await;
        assert_eq!(status, 401, "{path}");
    }
    let (status, health) = h.get_as("/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(health["index"], kind);
    assert_eq!(health["events_indexed"], 12);
    assert!(health["position"].as_str().unwrap().contains(':'));
    let metrics = h
        .client
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("glitch_audit_events_indexed_total 12"),
        "{metrics}"
    );
    assert!(metrics.contains("glitch_audit_batch_write_seconds_bucket"));

    // ---- bad parameters
    for bad in [
        "/v1/events?since=yesterday",
        "/v1/events?limit=0",
        "/v1/events?limit=1001",
        "/v1/events?sesion_id=s1",
        "/v1/events?cursor=garbage",
        "/v1/events?status=abc",
        "/v1/events?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
        "/v1/sessions?blocked=maybe",
        "/v1/sessions?cursor=WyJlIiwxLCJ4Il0",
        "/v1/sessions/s1/events?path=/v1/messages",
    ] {
        let (status, body) = h.get(bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let (status, _) = h
        .client
        .post(format!("{}/v1/events", h.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(status, 405);
    h.stop().await;
}

#[tokio::test]
async fn api_on_sqlite() {
    api_behaviour(&sqlite_db()).await;
}

#[tokio::test]
async fn api_on_postgres() {
    api_behaviour(&postgres_db().await).await;
}
