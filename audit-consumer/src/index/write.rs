//! The batch transaction: one [`Batch`] becomes one transaction that inserts its events
//! idempotently by `event_id` (`ON CONFLICT DO NOTHING ... RETURNING event_id`), then adds the
//! detector rows, session totals and session models of exactly the rows that were inserted (so
//! a replayed batch changes nothing), the dead letters (unique per source position) and, for the
//! file source, the read position. Nothing is visible until it commits, and a commit on SQLite
//! is durable (`synchronous=FULL`) before the caller moves on.
//!
//! SQLite gets multi-row `VALUES` statements in power-of-two chunks (a handful of distinct
//! statements, all cached; far below the 32766 bind-parameter limit); PostgreSQL gets one
//! `UNNEST` statement per table, whatever the batch size.

use std::collections::{HashMap, HashSet};

use sqlx::postgres::PgArguments;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{PgPool, Postgres, Row, Sqlite, SqliteConnection, SqlitePool};

use super::{Index, IndexError, Pools, anonymous_placeholders, values_placeholders};
use crate::record::{Batch, DeadLetter, EventRow};
use crate::time::now_ms;

/// What a batch transaction did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Events inserted.
    pub inserted: usize,
    /// Events already present (or repeated within the batch): nothing changed for them.
    pub duplicates: usize,
    /// Dead letters in the batch.
    pub dead_letters: usize,
}

const EVENT_COLUMNS: &str = "event_id, time_ms, project_id, session_id, sensor_id, region, \
     key_id, method, path, model, stream, decision, status, upstream_status, blocked, \
     input_tokens, output_tokens, latency_total_ms, body";
const EVENT_COLUMN_COUNT: usize = 19;

/// Largest multi-row chunk on SQLite (rows per statement).
const SQLITE_CHUNK_ROWS: usize = 256;

const SESSION_UPSERT_SQLITE: &str = "ON CONFLICT (project_id, session_id) DO UPDATE SET \
     first_seen = min(first_seen, excluded.first_seen), \
     last_seen = max(last_seen, excluded.last_seen), \
     requests = requests + excluded.requests, \
     blocked = blocked + excluded.blocked, \
     input_tokens = input_tokens + excluded.input_tokens, \
     output_tokens = output_tokens + excluded.output_tokens";

const POSITION_UPSERT: &str = "INSERT INTO consumer_positions (source, position, updated_ms) \
     VALUES ($1, $2, $3) ON CONFLICT (source) DO UPDATE SET \
     position = excluded.position, updated_ms = excluded.updated_ms";

const DEAD_LETTER_INSERT: &str = "INSERT INTO dead_letters \
     (source, partition, position, record_key, raw, raw_len, error, received_ms) VALUES ";
const DEAD_LETTER_CONFLICT: &str = "ON CONFLICT (source, partition, position) DO NOTHING";

/// One session's share of a batch.
#[derive(Debug)]
struct SessionDelta<'a> {
    project_id: &'a str,
    session_id: &'a str,
    first_seen: i64,
    last_seen: i64,
    requests: i64,
    blocked: i64,
    input_tokens: i64,
    output_tokens: i64,
}

/// A detector row: (detector_type, time_ms, event_id, project_id).
type DetectorRow<'a> = (&'a str, i64, &'a str, &'a str);
/// A session model row: (project_id, session_id, model).
type ModelRow<'a> = (&'a str, &'a str, &'a str);

/// What follows from the rows actually inserted.
#[derive(Debug, Default)]
struct Plan<'a> {
    inserted: usize,
    detectors: Vec<DetectorRow<'a>>,
    sessions: Vec<SessionDelta<'a>>,
    models: Vec<ModelRow<'a>>,
}

/// Derives detector rows, session totals and models from the events whose ids the insert
/// returned (each id counted once, even if the batch holds it twice).
fn plan(events: &[EventRow], mut inserted_ids: HashSet<String>) -> Plan<'_> {
    let mut plan = Plan::default();
    let mut session_at: HashMap<(&str, &str), usize> = HashMap::new();
    let mut models_seen: HashSet<ModelRow<'_>> = HashSet::new();
    for e in events {
        if !inserted_ids.remove(&e.event_id) {
            continue;
        }
        plan.inserted += 1;
        for detector in &e.detector_types {
            plan.detectors
                .push((detector, e.time_ms, &e.event_id, &e.project_id));
        }
        if e.session_id.is_empty() {
            continue;
        }
        let key = (e.project_id.as_str(), e.session_id.as_str());
        match session_at.get(&key) {
            Some(&i) => {
                let s = &mut plan.sessions[i];
                s.first_seen = s.first_seen.min(e.time_ms);
                s.last_seen = s.last_seen.max(e.time_ms);
                s.requests += i64::from(!e.follow_up);
                s.blocked += i64::from(e.blocked);
                s.input_tokens = s.input_tokens.saturating_add(e.input_tokens);
                s.output_tokens = s.output_tokens.saturating_add(e.output_tokens);
            }
            None => {
                session_at.insert(key, plan.sessions.len());
                plan.sessions.push(SessionDelta {
                    project_id: &e.project_id,
                    session_id: &e.session_id,
                    first_seen: e.time_ms,
                    last_seen: e.time_ms,
                    requests: i64::from(!e.follow_up),
                    blocked: i64::from(e.blocked),
                    input_tokens: e.input_tokens,
                    output_tokens: e.output_tokens,
                });
            }
        }
        if !e.model.is_empty() {
            let row = (
                e.project_id.as_str(),
                e.session_id.as_str(),
                e.model.as_str(),
            );
            if models_seen.insert(row) {
                plan.models.push(row);
            }
        }
    }
    plan
}

impl Index {
    /// Writes one batch in one transaction (see the module docs). On error nothing of it is
    /// stored.
    pub async fn write_batch(&self, batch: &Batch) -> Result<WriteOutcome, IndexError> {
        match &self.pools {
            Pools::Sqlite(pool) => write_sqlite(pool, batch).await,
            Pools::Postgres(pool) => write_postgres(pool, batch).await,
        }
    }
}

// ---- SQLite ---------------------------------------------------------------------------------

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

/// A row that binds itself to a multi-row SQLite insert.
trait SqliteBind {
    const COLS: usize;
    fn bind_to<'q>(&'q self, q: SqliteQuery<'q>) -> SqliteQuery<'q>;
}

impl SqliteBind for EventRow {
    const COLS: usize = EVENT_COLUMN_COUNT;
    fn bind_to<'q>(&'q self, q: SqliteQuery<'q>) -> SqliteQuery<'q> {
        q.bind(self.event_id.as_str())
            .bind(self.time_ms)
            .bind(self.project_id.as_str())
            .bind(self.session_id.as_str())
            .bind(self.sensor_id.as_str())
            .bind(self.region.as_str())
            .bind(self.key_id.as_str())
            .bind(self.method.as_str())
            .bind(self.path.as_str())
            .bind(self.model.as_str())
            .bind(self.stream)
            .bind(self.decision.as_str())
            .bind(self.status)
            .bind(self.upstream_status)
            .bind(self.blocked)
            .bind(self.input_tokens)
            .bind(self.output_tokens)
            .bind(self.latency_total_ms)
            .bind(self.body.as_slice())
    }
}

impl SqliteBind for DetectorRow<'_> {
    const COLS: usize = 4;
    fn bind_to<'q>(&'q self, q: SqliteQuery<'q>) -> SqliteQuery<'q> {
        q.bind(self.0).bind(self.1).bind(self.2).bind(self.3)
    }
}

impl SqliteBind for SessionDelta<'_> {
    const COLS: usize = 8;
    fn bind_to<'q>(&'q self, q: SqliteQuery<'q>) -> SqliteQuery<'q> {
        q.bind(self.project_id)
            .bind(self.session_id)
            .bind(self.first_seen)
            .bind(self.last_seen)
            .bind(self.requests)
            .bind(self.blocked)
            .bind(self.input_tokens)
            .bind(self.output_tokens)
    }
}

impl SqliteBind for ModelRow<'_> {
    const COLS: usize = 3;
    fn bind_to<'q>(&'q self, q: SqliteQuery<'q>) -> SqliteQuery<'q> {
        q.bind(self.0).bind(self.1).bind(self.2)
    }
}

/// A dead letter with its batch's source label.
struct SourcedDeadLetter<'a>(&'a str, &'a DeadLetter);

impl SqliteBind for SourcedDeadLetter<'_> {
    const COLS: usize = 8;
    fn bind_to<'q>(&'q self, q: SqliteQuery<'q>) -> SqliteQuery<'q> {
        let d = self.1;
        q.bind(self.0)
            .bind(d.origin.partition())
            .bind(d.origin.position())
            .bind(d.key.as_deref())
            .bind(d.raw.as_slice())
            .bind(d.raw_len)
            .bind(d.error.as_str())
            .bind(d.received_ms)
    }
}

/// Chunk sizes for `n` rows: full chunks of `max` (a power of two), then the binary digits of
/// the rest, so that only log2(max)+1 distinct statements are ever prepared.
fn chunk_sizes(mut n: usize, max: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    while n >= max {
        sizes.push(max);
        n -= max;
    }
    let mut bit = max;
    while bit > 0 {
        if n & bit != 0 {
            sizes.push(bit);
        }
        bit >>= 1;
    }
    sizes
}

/// `head VALUES (...),(...) tail` over `rows`, in chunks; returns whatever rows the statements
/// return (for `RETURNING`).
async fn sqlite_insert<T: SqliteBind>(
    conn: &mut SqliteConnection,
    head: &str,
    tail: &str,
    rows: &[T],
) -> Result<Vec<SqliteRow>, sqlx::Error> {
    let mut returned = Vec::new();
    let mut start = 0;
    for size in chunk_sizes(rows.len(), SQLITE_CHUNK_ROWS) {
        let chunk = &rows[start..start + size];
        start += size;
        let sql = format!(
            "{head} VALUES {} {tail}",
            anonymous_placeholders(size, T::COLS)
        );
        let mut q = sqlx::query(&sql);
        for row in chunk {
            q = row.bind_to(q);
        }
        returned.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(returned)
}

async fn write_sqlite(pool: &SqlitePool, batch: &Batch) -> Result<WriteOutcome, IndexError> {
    // IMMEDIATE: take the write lock up front (waiting up to busy_timeout) rather than fail
    // on a lock upgrade.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut inserted_ids = HashSet::with_capacity(batch.events.len());
    let rows = sqlite_insert(
        &mut tx,
        &format!("INSERT INTO events ({EVENT_COLUMNS})"),
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        &batch.events,
    )
    .await?;
    for row in rows {
        inserted_ids.insert(row.try_get::<String, _>(0)?);
    }
    let plan = plan(&batch.events, inserted_ids);
    sqlite_insert(
        &mut tx,
        "INSERT INTO event_detectors (detector_type, time_ms, event_id, project_id)",
        "ON CONFLICT DO NOTHING",
        &plan.detectors,
    )
    .await?;
    sqlite_insert(
        &mut tx,
        "INSERT INTO sessions (project_id, session_id, first_seen, last_seen, requests, \
         blocked, input_tokens, output_tokens)",
        SESSION_UPSERT_SQLITE,
        &plan.sessions,
    )
    .await?;
    sqlite_insert(
        &mut tx,
        "INSERT INTO session_models (project_id, session_id, model)",
        "ON CONFLICT DO NOTHING",
        &plan.models,
    )
    .await?;
    let dead: Vec<SourcedDeadLetter<'_>> = batch
        .dead_letters
        .iter()
        .map(|d| SourcedDeadLetter(&batch.source, d))
        .collect();
    sqlite_insert(
        &mut tx,
        DEAD_LETTER_INSERT.trim_end_matches(" VALUES "),
        DEAD_LETTER_CONFLICT,
        &dead,
    )
    .await?;
    if let Some(checkpoint) = &batch.checkpoint {
        sqlx::query(POSITION_UPSERT)
            .bind(checkpoint.source.as_str())
            .bind(checkpoint.position.as_str())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(WriteOutcome {
        inserted: plan.inserted,
        duplicates: batch.events.len() - plan.inserted,
        dead_letters: batch.dead_letters.len(),
    })
}

// ---- PostgreSQL -----------------------------------------------------------------------------

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

const PG_INSERT_EVENTS: &str = "INSERT INTO events (event_id, time_ms, project_id, session_id, \
     sensor_id, region, key_id, method, path, model, stream, decision, status, upstream_status, \
     blocked, input_tokens, output_tokens, latency_total_ms, body) \
     SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::boolean[], $12::text[], \
     $13::bigint[], $14::bigint[], $15::boolean[], $16::bigint[], $17::bigint[], \
     $18::float8[], $19::bytea[]) \
     ON CONFLICT (event_id) DO NOTHING RETURNING event_id";

const PG_INSERT_DETECTORS: &str = "INSERT INTO event_detectors \
     (detector_type, time_ms, event_id, project_id) \
     SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[]) \
     ON CONFLICT DO NOTHING";

const PG_UPSERT_SESSIONS: &str = "INSERT INTO sessions AS s (project_id, session_id, \
     first_seen, last_seen, requests, blocked, input_tokens, output_tokens) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], \
     $6::bigint[], $7::bigint[], $8::bigint[]) \
     ON CONFLICT (project_id, session_id) DO UPDATE SET \
     first_seen = LEAST(s.first_seen, EXCLUDED.first_seen), \
     last_seen = GREATEST(s.last_seen, EXCLUDED.last_seen), \
     requests = s.requests + EXCLUDED.requests, \
     blocked = s.blocked + EXCLUDED.blocked, \
     input_tokens = s.input_tokens + EXCLUDED.input_tokens, \
     output_tokens = s.output_tokens + EXCLUDED.output_tokens";

const PG_INSERT_MODELS: &str = "INSERT INTO session_models (project_id, session_id, model) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING";

fn column<'a, T, U>(rows: &'a [T], f: impl Fn(&'a T) -> U) -> Vec<U> {
    rows.iter().map(f).collect()
}

fn bind_pg_events<'q>(q: PgQuery<'q>, ev: &'q [EventRow]) -> PgQuery<'q> {
    q.bind(column(ev, |e| e.event_id.as_str()))
        .bind(column(ev, |e| e.time_ms))
        .bind(column(ev, |e| e.project_id.as_str()))
        .bind(column(ev, |e| e.session_id.as_str()))
        .bind(column(ev, |e| e.sensor_id.as_str()))
        .bind(column(ev, |e| e.region.as_str()))
        .bind(column(ev, |e| e.key_id.as_str()))
        .bind(column(ev, |e| e.method.as_str()))
        .bind(column(ev, |e| e.path.as_str()))
        .bind(column(ev, |e| e.model.as_str()))
        .bind(column(ev, |e| e.stream))
        .bind(column(ev, |e| e.decision.as_str()))
        .bind(column(ev, |e| e.status))
        .bind(column(ev, |e| e.upstream_status))
        .bind(column(ev, |e| e.blocked))
        .bind(column(ev, |e| e.input_tokens))
        .bind(column(ev, |e| e.output_tokens))
        .bind(column(ev, |e| e.latency_total_ms))
        .bind(column(ev, |e| e.body.as_slice()))
}

async fn write_postgres(pool: &PgPool, batch: &Batch) -> Result<WriteOutcome, IndexError> {
    let mut tx = pool.begin().await?;
    let mut inserted_ids = HashSet::with_capacity(batch.events.len());
    if !batch.events.is_empty() {
        let rows = bind_pg_events(sqlx::query(PG_INSERT_EVENTS), &batch.events)
            .fetch_all(&mut *tx)
            .await?;
        for row in rows {
            inserted_ids.insert(row.try_get::<String, _>(0)?);
        }
    }
    let plan = plan(&batch.events, inserted_ids);
    let d = &plan.detectors;
    if !d.is_empty() {
        sqlx::query(PG_INSERT_DETECTORS)
            .bind(column(d, |r| r.0))
            .bind(column(d, |r| r.1))
            .bind(column(d, |r| r.2))
            .bind(column(d, |r| r.3))
            .execute(&mut *tx)
            .await?;
    }
    let s = &plan.sessions;
    if !s.is_empty() {
        sqlx::query(PG_UPSERT_SESSIONS)
            .bind(column(s, |r| r.project_id))
            .bind(column(s, |r| r.session_id))
            .bind(column(s, |r| r.first_seen))
            .bind(column(s, |r| r.last_seen))
            .bind(column(s, |r| r.requests))
            .bind(column(s, |r| r.blocked))
            .bind(column(s, |r| r.input_tokens))
            .bind(column(s, |r| r.output_tokens))
            .execute(&mut *tx)
            .await?;
    }
    let m = &plan.models;
    if !m.is_empty() {
        sqlx::query(PG_INSERT_MODELS)
            .bind(column(m, |r| r.0))
            .bind(column(m, |r| r.1))
            .bind(column(m, |r| r.2))
            .execute(&mut *tx)
            .await?;
    }
    // Dead letters are rare: one statement each.
    let dead_sql = format!(
        "{DEAD_LETTER_INSERT}{} {DEAD_LETTER_CONFLICT}",
        values_placeholders(1, 8, 1)
    );
    for d in &batch.dead_letters {
        sqlx::query(&dead_sql)
            .bind(&*batch.source)
            .bind(d.origin.partition())
            .bind(d.origin.position())
            .bind(d.key.as_deref())
            .bind(d.raw.as_slice())
            .bind(d.raw_len)
            .bind(d.error.as_str())
            .bind(d.received_ms)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(checkpoint) = &batch.checkpoint {
        sqlx::query(POSITION_UPSERT)
            .bind(checkpoint.source.as_str())
            .bind(checkpoint.position.as_str())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(WriteOutcome {
        inserted: plan.inserted,
        duplicates: batch.events.len() - plan.inserted,
        dead_letters: batch.dead_letters.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordRef;

    #[test]
    fn chunk_sizes_cover_every_row() {
        for n in [0, 1, 2, 3, 255, 256, 257, 1000, 4096, 5000] {
            let sizes = chunk_sizes(n, 256);
            assert_eq!(sizes.iter().sum::<usize>(), n, "{n}");
            assert!(sizes.iter().all(|s| s.is_power_of_two() && *s <= 256));
        }
        assert_eq!(chunk_sizes(1000, 256), vec![256, 256, 256, 128, 64, 32, 8]);
    }

    fn row(id: &str, session: &str, time_ms: i64, model: &str, blocked: bool) -> EventRow {
        EventRow {
            event_id: id.into(),
            time_ms,
            project_id: "p".into(),
            session_id: session.into(),
            sensor_id: String::new(),
            region: String::new(),
            key_id: String::new(),
            method: String::new(),
            path: String::new(),
            model: model.into(),
            stream: false,
            decision: String::new(),
            status: 200,
            upstream_status: 200,
            blocked,
            input_tokens: 10,
            output_tokens: 1,
            latency_total_ms: 0.0,
            detector_types: vec!["pii/email".into()],
            follow_up: false,
            body: vec![1],
            origin: RecordRef::Kafka {
                partition: 0,
                offset: 0,
            },
        }
    }

    #[test]
    fn plan_counts_only_inserted_rows_once() {
        let events = vec![
            row("a", "s1", 10, "m1", false),
            row("b", "s1", 30, "m2", true),
            row("a", "s1", 10, "m1", false),
            row("c", "", 5, "m1", false),
            row("d", "s2", 20, "m1", false),
        ];
        let inserted: HashSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let plan = plan(&events, inserted);
        assert_eq!(plan.inserted, 3);
        assert_eq!(plan.detectors.len(), 3);
        assert_eq!(plan.sessions.len(), 1);
        let s = &plan.sessions[0];
        assert_eq!(
            (
                s.first_seen,
                s.last_seen,
                s.requests,
                s.blocked,
                s.input_tokens
            ),
            (10, 30, 2, 1, 20)
        );
        assert_eq!(plan.models, vec![("p", "s1", "m1"), ("p", "s1", "m2")]);
    }

    #[test]
    fn follow_up_events_are_not_counted_as_requests() {
        let mut follow_up = row("b", "s1", 40, "m1", false);
        follow_up.follow_up = true;
        let events = vec![row("a", "s1", 10, "m1", false), follow_up];
        let inserted: HashSet<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let plan = plan(&events, inserted);
        assert_eq!(plan.inserted, 2);
        let s = &plan.sessions[0];
        assert_eq!((s.requests, s.last_seen), (1, 40));
    }
}
