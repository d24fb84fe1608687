//! Chunked deletes for retention: each call removes at most `chunk` rows older than a cutoff in
//! one short transaction, so the ingest writer never waits long for the write lock. The caller
//! ([`crate::retention`]) loops until a call deletes less than a chunk.

use super::{Index, IndexError, Pools};

/// Which rows a retention chunk removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetentionKind {
    /// Events with `time` before the cutoff.
    Events,
    /// Detector rows of events before the cutoff.
    Detectors,
    /// Sessions whose `last_seen` is before the cutoff (and their models).
    Sessions,
    /// Dead letters received before the cutoff.
    DeadLetters,
}

impl RetentionKind {
    /// Every kind, in the order they are pruned.
    pub const ALL: [RetentionKind; 4] = [
        RetentionKind::Events,
        RetentionKind::Detectors,
        RetentionKind::Sessions,
        RetentionKind::DeadLetters,
    ];

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionKind::Events => "events",
            RetentionKind::Detectors => "event_detectors",
            RetentionKind::Sessions => "sessions",
            RetentionKind::DeadLetters => "dead_letters",
        }
    }
}

const DELETE_EVENTS: &str = "DELETE FROM events WHERE event_id IN \
     (SELECT event_id FROM events WHERE time_ms < $1 ORDER BY time_ms LIMIT $2)";

const DELETE_DETECTORS: &str = "DELETE FROM event_detectors \
     WHERE (detector_type, time_ms, event_id) IN \
     (SELECT detector_type, time_ms, event_id FROM event_detectors WHERE time_ms < $1 \
      ORDER BY time_ms LIMIT $2)";

const DELETE_DEAD_LETTERS: &str = "DELETE FROM dead_letters WHERE id IN \
     (SELECT id FROM dead_letters WHERE received_ms < $1 ORDER BY received_ms LIMIT $2)";

const SQLITE_DELETE_SESSION_MODELS: &str = "DELETE FROM session_models \
     WHERE (project_id, session_id) IN \
     (SELECT project_id, session_id FROM sessions WHERE last_seen < $1 \
      ORDER BY last_seen LIMIT $2)";

const SQLITE_DELETE_SESSIONS: &str = "DELETE FROM sessions \
     WHERE (project_id, session_id) IN \
     (SELECT project_id, session_id FROM sessions WHERE last_seen < $1 \
      ORDER BY last_seen LIMIT $2)";

// The outer `last_seen < $1` is re-checked against a row updated concurrently, so a session
// that just got a new event survives.
const PG_DELETE_SESSIONS: &str = "WITH gone AS ( \
       DELETE FROM sessions WHERE last_seen < $1 AND (project_id, session_id) IN \
       (SELECT project_id, session_id FROM sessions WHERE last_seen < $1 \
        ORDER BY last_seen LIMIT $2) \
       RETURNING project_id, session_id), \
     models AS ( \
       DELETE FROM session_models m USING gone g \
       WHERE m.project_id = g.project_id AND m.session_id = g.session_id RETURNING 1) \
     SELECT COUNT(*) FROM gone";

impl Index {
    /// Deletes up to `chunk` rows of `kind` older than `cutoff_ms`; returns how many.
    pub async fn delete_chunk(
        &self,
        kind: RetentionKind,
        cutoff_ms: i64,
        chunk: i64,
    ) -> Result<u64, IndexError> {
        let simple = match kind {
            RetentionKind::Events => Some(DELETE_EVENTS),
            RetentionKind::Detectors => Some(DELETE_DETECTORS),
            RetentionKind::DeadLetters => Some(DELETE_DEAD_LETTERS),
            RetentionKind::Sessions => None,
        };
        match (&self.pools, simple) {
            (Pools::Sqlite(pool), Some(sql)) => Ok(sqlx::query(sql)
                .bind(cutoff_ms)
                .bind(chunk)
                .execute(pool)
                .await?
                .rows_affected()),
            (Pools::Postgres(pool), Some(sql)) => Ok(sqlx::query(sql)
                .bind(cutoff_ms)
                .bind(chunk)
                .execute(pool)
                .await?
                .rows_affected()),
            (Pools::Sqlite(pool), None) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                sqlx::query(SQLITE_DELETE_SESSION_MODELS)
                    .bind(cutoff_ms)
                    .bind(chunk)
                    .execute(&mut *tx)
                    .await?;
                let n = sqlx::query(SQLITE_DELETE_SESSIONS)
                    .bind(cutoff_ms)
                    .bind(chunk)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }
            (Pools::Postgres(pool), None) => {
                let n: i64 = sqlx::query_scalar(PG_DELETE_SESSIONS)
                    .bind(cutoff_ms)
                    .bind(chunk)
                    .fetch_one(pool)
                    .await?;
                Ok(u64::try_from(n).unwrap_or(0))
            }
        }
    }
}
