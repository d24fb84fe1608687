//! Shared test harness: real databases (from `glitch-testkit`: a temp SQLite file, or a fresh
//! database on a real PostgreSQL server), a real file event log, the consumer started
//! in-process, and an API client.

#![allow(dead_code, reason = "each test binary uses part of the harness")]

pub mod events;

use std::path::Path;
use std::time::{Duration, Instant};

use glitch_audit_consumer::{AuditArgs, Running};
use glitch_eventlog::{EventLogWriter, WriterOptions};
use glitch_proto::events::v1::SecurityEvent;
use prost::Message;
use reqwest::StatusCode;
use serde_json::Value;

pub use glitch_testkit::postgres::{TestDb, postgres_db, sqlite_db};

pub const ADMIN: &str = "test-admin-token-0123456789";
pub const TOKEN_A: &str = "project-a-token-0123456789";
pub const TOKEN_B: &str = "project-b-token-0123456789";

/// Both databases, for tests that run the same body on each.
pub async fn both_dbs() -> Vec<TestDb> {
    vec![sqlite_db(), postgres_db().await]
}

/// Appends `events` to the file log in `dir` (one batch).
pub fn write_events(dir: &Path, events: &[SecurityEvent]) {
    write_records(dir, events.iter().map(|e| e.encode_to_vec()));
}

/// Appends raw records to the file log in `dir` (one batch).
pub fn write_records(dir: &Path, records: impl IntoIterator<Item = Vec<u8>>) {
    let mut writer = EventLogWriter::open(dir, WriterOptions::default()).unwrap();
    let records: Vec<Vec<u8>> = records.into_iter().collect();
    writer.append_batch(records.iter()).unwrap();
}

pub fn file_args(events_dir: &Path, db: &TestDb) -> AuditArgs {
    let mut args = AuditArgs::for_tests(&format!("file:{}", events_dir.display()), &db.url, ADMIN);
    args.audit_tokens = Some(format!("proj_a={TOKEN_A},proj_b={TOKEN_B}"));
    args
}

pub struct Harness {
    pub running: Running,
    pub client: reqwest::Client,
    pub base: String,
}

impl Harness {
    pub async fn start(args: AuditArgs) -> Harness {
        let running = glitch_audit_consumer::start(args).await.unwrap();
        let base = running.api_url();
        Harness {
            running,
            client: reqwest::Client::new(),
            base,
        }
    }

    pub async fn stop(self) {
        self.running.shutdown().await;
    }

    /// GET with the admin token.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.get_as(path, Some(ADMIN)).await
    }

    pub async fn get_as(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    /// Waits until the consumer has read `records` records (events and dead letters) since it
    /// started.
    pub async fn wait_for_records(&self, records: u64) {
        wait_until(&format!("{records} records read"), || async {
            let p = self.running.progress();
            p.records_read >= records && p.batches > 0
        })
        .await;
    }

    /// Every `event_id` of `GET /v1/events` (all pages).
    pub async fn all_event_ids(&self, query: &str, token: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sep = if query.is_empty() { "" } else { "&" };
            let path = match &cursor {
                Some(c) => format!("/v1/events?{query}{sep}limit=1000&cursor={c}"),
                None => format!("/v1/events?{query}{sep}limit=1000"),
            };
            let (status, body) = self.get_as(&path, Some(token)).await;
            assert_eq!(status, 200, "{body}");
            for e in body["results"].as_array().unwrap() {
                ids.push(e["event_id"].as_str().unwrap().to_owned());
            }
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return ids,
            }
        }
    }
}

/// Polls `cond` until it holds; fails the test after 60 s (a hang guard, not a timing goal).
pub async fn wait_until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond().await {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counts rows of `table` (optionally `WHERE` ...) straight from the database.
pub async fn count_rows(db: &TestDb, sql: &str) -> i64 {
    if db.kind == "sqlite" {
        use sqlx::Connection;
        // The consumer creates the file (and its directory) when it starts: none yet, no rows.
        if !std::path::Path::new(db.url.trim_start_matches("sqlite://")).exists() {
            return 0;
        }
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        match sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut conn).await {
            Ok(n) => n,
            // Created but not migrated yet: no rows.
            Err(e) if e.to_string().contains("no such table") => 0,
            Err(e) => panic!("{sql}: {e}"),
        }
    } else {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }
}
