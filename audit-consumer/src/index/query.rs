//! Reads behind the audit API: events newest first with any mix of filters, a session's events
//! oldest first, one event by id, sessions by most recent activity, dead letters. Every list is
//! keyset-paginated (`WHERE (sort key) < (cursor)`, one index range scan per page), so a page
//! boundary stays put while new rows arrive. Filter values arrive validated; parameter parsing
//! and cursor encoding are the API's.

use super::{Index, IndexError, with_pool};

/// Filters of `GET /v1/events` (all optional, combined with AND). Times are Unix ms; `since`
/// is inclusive, `until` exclusive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Exact project id.
    pub project_id: Option<String>,
    /// Exact session id.
    pub session_id: Option<String>,
    /// Exact path, e.g. `/v1/messages`.
    pub path: Option<String>,
    /// Events with at least one finding of this detector type.
    pub detector_type: Option<String>,
    /// Exact decision.
    pub decision: Option<String>,
    /// Status sent to the client.
    pub status: Option<i64>,
    /// Earliest time (inclusive).
    pub since: Option<i64>,
    /// Latest time (exclusive).
    pub until: Option<i64>,
}

/// Filters of `GET /v1/sessions`. A session matches `since`/`until` when it was active in that
/// window: `last_seen >= since` and `first_seen < until`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// Exact project id.
    pub project_id: Option<String>,
    /// Active at or after this time.
    pub since: Option<i64>,
    /// Active before this time.
    pub until: Option<i64>,
    /// `Some(true)`: at least one blocked request; `Some(false)`: none.
    pub blocked: Option<bool>,
}

/// Position in an event list: the sort key of the last event returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventCursor {
    /// Its time.
    pub time_ms: i64,
    /// Its id.
    pub event_id: String,
}

/// Position in the session list: the sort key of the last session returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionCursor {
    /// Its last activity.
    pub last_seen: i64,
    /// Its project.
    pub project_id: String,
    /// Its id.
    pub session_id: String,
}

/// An event as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Indexed time.
    pub time_ms: i64,
    /// Id.
    pub event_id: String,
    /// Protobuf bytes.
    pub body: Vec<u8>,
}

/// A session's totals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// Project.
    pub project_id: String,
    /// Session id.
    pub session_id: String,
    /// Time of its first event.
    pub first_seen: i64,
    /// Time of its last event.
    pub last_seen: i64,
    /// Events.
    pub requests: i64,
    /// Events with `risk.blocked`.
    pub blocked: i64,
    /// Sum of input tokens.
    pub input_tokens: i64,
    /// Sum of output tokens.
    pub output_tokens: i64,
    /// Distinct models, sorted.
    pub models: Vec<String>,
}

/// A dead-letter row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDeadLetter {
    /// Row id (the list's cursor).
    pub id: i64,
    /// Source label.
    pub source: String,
    /// Kafka partition, -1 for the file log.
    pub partition: i64,
    /// Offset or `segment:offset`.
    pub position: String,
    /// Record key, if any.
    pub key: Option<Vec<u8>>,
    /// Record bytes (capped).
    pub raw: Vec<u8>,
    /// Full record size.
    pub raw_len: i64,
    /// Why.
    pub error: String,
    /// Unix milliseconds.
    pub received_ms: i64,
}

/// A bind value.
#[derive(Clone, Debug)]
enum Arg {
    I64(i64),
    Text(String),
}

/// A statement being built, with numbered placeholders (`$1`...) valid on both databases.
#[derive(Debug, Default)]
struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    fn new(text: &str) -> Self {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    /// Adds a bind value; returns its placeholder.
    fn arg(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    fn bind_text(&mut self, a: impl Into<String>) -> String {
        self.arg(Arg::Text(a.into()))
    }

    fn bind_int(&mut self, v: i64) -> String {
        self.arg(Arg::I64(v))
    }
}

/// Runs `$sql` on whichever database the index uses and maps every row with `$map` (compiled
/// per backend, so `$row.try_get` is typed for each).
macro_rules! fetch_all {
    ($index:expr, $sql:expr, |$row:ident| $map:expr) => {
        with_pool!($index, pool => {
            let mut q = sqlx::query(&$sql.text);
            for a in &$sql.args {
                q = match a {
                    Arg::I64(v) => q.bind(*v),
                    Arg::Text(s) => q.bind(s.as_str()),
                };
            }
            let rows = q.fetch_all(pool).await?;
            rows.iter()
                .map(|$row| -> Result<_, sqlx::Error> {
                    use sqlx::Row as _;
                    Ok($map)
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        })
    };
}

/// `WHERE a AND b ...` (or nothing).
fn where_clause(conds: &[String]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

impl Index {
    /// `GET /v1/events`: newest first (time, then id), after `after`, at most `limit`.
    pub async fn list_events(
        &self,
        f: &EventFilter,
        after: Option<&EventCursor>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, IndexError> {
        let mut sql = Sql::default();
        let mut conds = Vec::new();
        // With a detector filter, walk event_detectors (ordered by detector, time, id) and join.
        let (from, k) = match &f.detector_type {
            Some(detector) => {
                let p = sql.bind_text(detector.as_str());
                conds.push(format!("d.detector_type = {p}"));
                (
                    "event_detectors d JOIN events e ON e.event_id = d.event_id",
                    "d",
                )
            }
            None => ("events e", "e"),
        };
        if let Some(v) = &f.project_id {
            let p = sql.bind_text(v.as_str());
            conds.push(format!("{k}.project_id = {p}"));
        }
        if let Some(v) = &f.session_id {
            let p = sql.bind_text(v.as_str());
            conds.push(format!("e.session_id = {p}"));
        }
        if let Some(v) = &f.path {
            let p = sql.bind_text(v.as_str());
            conds.push(format!("e.path = {p}"));
        }
        if let Some(v) = &f.decision {
            let p = sql.bind_text(v.as_str());
            conds.push(format!("e.decision = {p}"));
        }
        if let Some(v) = f.status {
            let p = sql.bind_int(v);
            conds.push(format!("e.status = {p}"));
        }
        if let Some(v) = f.since {
            let p = sql.bind_int(v);
            conds.push(format!("{k}.time_ms >= {p}"));
        }
        if let Some(v) = f.until {
            let p = sql.bind_int(v);
            conds.push(format!("{k}.time_ms < {p}"));
        }
        if let Some(c) = after {
            let t = sql.bind_int(c.time_ms);
            let id = sql.bind_text(c.event_id.as_str());
            conds.push(format!(
                "{k}.time_ms <= {t} AND ({k}.time_ms < {t} OR {k}.event_id < {id})"
            ));
        }
        let lim = sql.bind_int(i64::try_from(limit).unwrap_or(i64::MAX));
        sql.text = format!(
            "SELECT e.time_ms, e.event_id, e.body FROM {from}{} \
             ORDER BY {k}.time_ms DESC, {k}.event_id DESC LIMIT {lim}",
            where_clause(&conds)
        );
        Ok(fetch_all!(self, sql, |r| StoredEvent {
            time_ms: r.try_get(0)?,
            event_id: r.try_get(1)?,
            body: r.try_get(2)?,
        }))
    }

    /// `GET /v1/sessions/{id}/events`: oldest first, after `after`, at most `limit`;
    /// `project_id` restricts to one project.
    pub async fn session_events(
        &self,
        session_id: &str,
        project_id: Option<&str>,
        after: Option<&EventCursor>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, IndexError> {
        let mut sql = Sql::default();
        let mut conds = Vec::new();
        let p = sql.bind_text(session_id);
        conds.push(format!("session_id = {p}"));
        if let Some(project) = project_id {
            let p = sql.bind_text(project);
            conds.push(format!("project_id = {p}"));
        }
        if let Some(c) = after {
            let t = sql.bind_int(c.time_ms);
            let id = sql.bind_text(c.event_id.as_str());
            conds.push(format!(
                "time_ms >= {t} AND (time_ms > {t} OR event_id > {id})"
            ));
        }
        let lim = sql.bind_int(i64::try_from(limit).unwrap_or(i64::MAX));
        sql.text = format!(
            "SELECT time_ms, event_id, body FROM events{} \
             ORDER BY time_ms ASC, event_id ASC LIMIT {lim}",
            where_clause(&conds)
        );
        Ok(fetch_all!(self, sql, |r| StoredEvent {
            time_ms: r.try_get(0)?,
            event_id: r.try_get(1)?,
            body: r.try_get(2)?,
        }))
    }

    /// One event by id; `project_id` restricts to one project.
    pub async fn get_event(
        &self,
        event_id: &str,
        project_id: Option<&str>,
    ) -> Result<Option<StoredEvent>, IndexError> {
        let mut sql = Sql::new("SELECT time_ms, event_id, body FROM events WHERE event_id = $1");
        sql.args.push(Arg::Text(event_id.to_owned()));
        if let Some(project) = project_id {
            let p = sql.bind_text(project);
            sql.text.push_str(&format!(" AND project_id = {p}"));
        }
        let mut rows = fetch_all!(self, sql, |r| StoredEvent {
            time_ms: r.try_get(0)?,
            event_id: r.try_get(1)?,
            body: r.try_get(2)?,
        });
        Ok(rows.pop())
    }

    /// `GET /v1/sessions`: most recent `last_seen` first, after `after`, at most `limit`.
    pub async fn list_sessions(
        &self,
        f: &SessionFilter,
        after: Option<&SessionCursor>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, IndexError> {
        let mut sql = Sql::default();
        let mut conds = Vec::new();
        if let Some(v) = &f.project_id {
            let p = sql.bind_text(v.as_str());
            conds.push(format!("project_id = {p}"));
        }
        if let Some(v) = f.since {
            let p = sql.bind_int(v);
            conds.push(format!("last_seen >= {p}"));
        }
        if let Some(v) = f.until {
            let p = sql.bind_int(v);
            conds.push(format!("first_seen < {p}"));
        }
        match f.blocked {
            Some(true) => conds.push("blocked > 0".into()),
            Some(false) => conds.push("blocked = 0".into()),
            None => {}
        }
        if let Some(c) = after {
            let t = sql.bind_int(c.last_seen);
            let p = sql.bind_text(c.project_id.as_str());
            let s = sql.bind_text(c.session_id.as_str());
            conds.push(format!(
                "last_seen <= {t} AND (last_seen < {t} OR project_id < {p} \
                 OR (project_id = {p} AND session_id < {s}))"
            ));
        }
        let lim = sql.bind_int(i64::try_from(limit).unwrap_or(i64::MAX));
        sql.text = format!(
            "SELECT project_id, session_id, first_seen, last_seen, requests, blocked, \
             input_tokens, output_tokens FROM sessions{} \
             ORDER BY last_seen DESC, project_id DESC, session_id DESC LIMIT {lim}",
            where_clause(&conds)
        );
        let mut sessions = fetch_all!(self, sql, |r| SessionRecord {
            project_id: r.try_get(0)?,
            session_id: r.try_get(1)?,
            first_seen: r.try_get(2)?,
            last_seen: r.try_get(3)?,
            requests: r.try_get(4)?,
            blocked: r.try_get(5)?,
            input_tokens: r.try_get(6)?,
            output_tokens: r.try_get(7)?,
            models: Vec::new(),
        });
        if sessions.is_empty() {
            return Ok(sessions);
        }
        let mut sql = Sql::default();
        let mut keys = Vec::with_capacity(sessions.len());
        for s in &sessions {
            let p = sql.bind_text(s.project_id.as_str());
            let id = sql.bind_text(s.session_id.as_str());
            keys.push(format!("(project_id = {p} AND session_id = {id})"));
        }
        sql.text = format!(
            "SELECT project_id, session_id, model FROM session_models WHERE {} \
             ORDER BY project_id, session_id, model",
            keys.join(" OR ")
        );
        let models: Vec<(String, String, String)> =
            fetch_all!(self, sql, |r| (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
        for (project, session, model) in models {
            if let Some(s) = sessions
                .iter_mut()
                .find(|s| s.project_id == project && s.session_id == session)
            {
                s.models.push(model);
            }
        }
        Ok(sessions)
    }

    /// Dead letters, newest first, with ids below `before`, at most `limit`.
    pub async fn list_dead_letters(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredDeadLetter>, IndexError> {
        let mut sql = Sql::default();
        let cond = match before {
            Some(id) => format!(" WHERE id < {}", sql.bind_int(id)),
            None => String::new(),
        };
        let lim = sql.bind_int(i64::try_from(limit).unwrap_or(i64::MAX));
        sql.text = format!(
            "SELECT id, source, partition, position, record_key, raw, raw_len, error, \
             received_ms FROM dead_letters{cond} ORDER BY id DESC LIMIT {lim}"
        );
        Ok(fetch_all!(self, sql, |r| StoredDeadLetter {
            id: r.try_get(0)?,
            source: r.try_get(1)?,
            partition: r.try_get(2)?,
            position: r.try_get(3)?,
            key: r.try_get(4)?,
            raw: r.try_get(5)?,
            raw_len: r.try_get(6)?,
            error: r.try_get(7)?,
            received_ms: r.try_get(8)?,
        }))
    }
}
