//! The index: SQLite (one file, WAL, `synchronous=FULL`) or PostgreSQL behind one [`Index`],
//! with the same schema and behaviour on both (migrations per database in
//! `migrations/{sqlite,postgres}`). Native sqlx drivers, not `Any`: the write path uses each
//! database's fastest bulk form (multi-row `VALUES` on SQLite, `UNNEST` arrays on PostgreSQL).
//!
//! [`write`] holds the batch transaction (events, detector rows, session totals, dead letters,
//! the file position), [`query`] the reads behind the API, [`retention`] the chunked deletes.
//! Parsing of API parameters and JSON shaping live elsewhere.

pub mod query;
pub mod retention;
pub mod write;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Row, SqlitePool};

use crate::cli::redact_url;

pub use query::{
    EventCursor, EventFilter, SessionCursor, SessionFilter, SessionRecord, StoredDeadLetter,
    StoredEvent,
};
pub use write::WriteOutcome;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Which database an [`Index`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// "sqlite" | "postgres".
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Why an index operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The URL names no supported database.
    #[error("unsupported index URL {0:?}: use sqlite://PATH or postgres://USER@HOST[:PORT]/DB")]
    UnsupportedUrl(String),
    /// The SQLite file's directory could not be created.
    #[error("cannot create {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row could not be read back.
    #[error("corrupt index data: {0}")]
    Corrupt(String),
}

impl IndexError {
    /// True when the database refused a statement because of the values in it, so the same
    /// data would fail again: PostgreSQL classes 22 (data exception), 23 (integrity
    /// constraint) and 54 (program limit, e.g. an index entry too large); SQLite TOOBIG,
    /// CONSTRAINT and MISMATCH; a value that could not be encoded. Everything else
    /// (connection trouble, locks, permissions, a missing table) is about the database, not
    /// the data.
    pub fn is_data_error(&self) -> bool {
        let IndexError::Database(err) = self else {
            return false;
        };
        match err {
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                if let Ok(n) = code.parse::<u32>() {
                    return matches!(n & 0xff, 18..=20);
                }
                code.starts_with("22") || code.starts_with("23") || code.starts_with("54")
            }
            sqlx::Error::Encode(_) => true,
            _ => false,
        }
    }
}

/// The pool of the database in use.
#[derive(Clone, Debug)]
pub(crate) enum Pools {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool the index has; the body is compiled once
/// per backend, so generic sqlx code works on both.
macro_rules! with_pool {
    ($index:expr, $pool:ident => $body:expr) => {
        match &$index.pools {
            $crate::index::Pools::Sqlite($pool) => $body,
            $crate::index::Pools::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// The audit index.
#[derive(Clone, Debug)]
pub struct Index {
    pub(crate) pools: Pools,
    backend: Backend,
    url_for_logs: String,
}

impl Index {
    /// Connects (creating a SQLite file and its directory if missing) and runs migrations.
    pub async fn connect(url: &str) -> Result<Index, IndexError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(IndexError::UnsupportedUrl(redact_url(url)));
        };
        let pools = match backend {
            Backend::Sqlite => Pools::Sqlite(connect_sqlite(url).await?),
            Backend::Postgres => Pools::Postgres(connect_postgres(url).await?),
        };
        match &pools {
            Pools::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Pools::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(Index {
            pools,
            backend,
            url_for_logs: redact_url(url),
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with any password redacted.
    pub fn url_for_logs(&self) -> &str {
        &self.url_for_logs
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<(), IndexError> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Closes the pool (waits for connections in use to be returned).
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
    }

    /// The stored position of a file source, if any.
    pub async fn position(&self, source: &str) -> Result<Option<String>, IndexError> {
        let sql = "SELECT position FROM consumer_positions WHERE source = $1";
        let row = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(source)
                .fetch_optional(pool)
                .await?
                .map(|r| r.try_get::<String, _>(0))
                .transpose()?
        });
        Ok(row)
    }

    /// Number of rows in `events` (a full count: for tests and small indexes).
    pub async fn count_events(&self) -> Result<i64, IndexError> {
        self.count("SELECT COUNT(*) FROM events").await
    }

    /// Number of rows in `dead_letters`.
    pub async fn count_dead_letters(&self) -> Result<i64, IndexError> {
        self.count("SELECT COUNT(*) FROM dead_letters").await
    }

    async fn count(&self, sql: &str) -> Result<i64, IndexError> {
        let n = with_pool!(self, pool => {
            sqlx::query(sql).fetch_one(pool).await?.try_get::<i64, _>(0)?
        });
        Ok(n)
    }
}

async fn connect_sqlite(url: &str) -> Result<SqlitePool, IndexError> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // A commit is on disk before the consumer moves on (and stores Kafka offsets).
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(30))
        // New files only: 5-10 KB events fit in one leaf page instead of an overflow chain.
        .page_size(16_384)
        .pragma("cache_size", "-65536")
        .pragma("temp_store", "memory")
        // Checkpoints run on their own connection ([`sqlite_checkpointer`]), not in the
        // writer's commit.
        .pragma("wal_autocheckpoint", "0");
    let filename = options.get_filename().to_path_buf();
    let in_memory = filename.as_os_str() == ":memory:" || url.contains("mode=memory");
    if !in_memory
        && let Some(dir) = filename.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|source| IndexError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let max = if in_memory { 1 } else { 6 };
    let mut pool_options = SqlitePoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30));
    if in_memory {
        pool_options = pool_options
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
    }
    let pool = pool_options.connect_with(options).await?;
    if !in_memory {
        tokio::spawn(sqlite_checkpointer(pool.clone()));
    }
    Ok(pool)
}

/// How often the SQLite WAL is checkpointed.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// WAL frames (16 KiB pages) above which a checkpoint that could not catch up passively is
/// forced (briefly blocking the writer).
const WAL_FORCE_FRAMES: i64 = 16_384;

/// Checkpoints the WAL in the background on its own connection (so on another thread than the
/// writer's commits), passively: it never blocks the writer, and once it has caught up the next
/// write transaction starts the WAL over. If the WAL still grows past [`WAL_FORCE_FRAMES`], a
/// RESTART checkpoint makes it start over. Ends when the pool is closed.
async fn sqlite_checkpointer(pool: SqlitePool) {
    loop {
        tokio::time::sleep(CHECKPOINT_INTERVAL).await;
        if pool.is_closed() {
            return;
        }
        let passive = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await;
        match passive {
            Ok((_, frames, done)) if frames > WAL_FORCE_FRAMES && done < frames => {
                tracing::debug!(frames, done, "sqlite: WAL behind; forcing a checkpoint");
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                    .execute(&pool)
                    .await
                {
                    tracing::debug!(error = %e, "sqlite: checkpoint failed");
                }
            }
            Ok(_) => {}
            Err(_) if pool.is_closed() => return,
            Err(e) => tracing::debug!(error = %e, "sqlite: checkpoint failed"),
        }
    }
}

async fn connect_postgres(url: &str) -> Result<PgPool, IndexError> {
    let options = PgConnectOptions::from_str(url)?.application_name("glitch-audit-consumer");
    Ok(PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?)
}

/// Numbered placeholders `$from, $from+1, ...` for `cols` columns of `rows` rows, as
/// `($1,$2),($3,$4)` (PostgreSQL, and small SQLite statements).
pub(crate) fn values_placeholders(rows: usize, cols: usize, from: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 7);
    let mut n = from;
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push(',');
            }
            out.push('$');
            out.push_str(&n.to_string());
            n += 1;
        }
        out.push(')');
    }
    out
}

/// Anonymous placeholders for `cols` columns of `rows` rows, as `(?,?),(?,?)`: for large SQLite
/// statements, where each numbered (named) parameter costs a linear name lookup when bound.
pub(crate) fn anonymous_placeholders(rows: usize, cols: usize) -> String {
    let row = format!("({})", vec!["?"; cols].join(","));
    vec![row.as_str(); rows].join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(values_placeholders(2, 3, 1), "($1,$2,$3),($4,$5,$6)");
        assert_eq!(values_placeholders(1, 1, 5), "($5)");
        assert_eq!(values_placeholders(0, 3, 1), "");
        assert_eq!(anonymous_placeholders(2, 2), "(?,?),(?,?)");
        assert_eq!(anonymous_placeholders(0, 2), "");
    }

    #[tokio::test]
    async fn refuses_unknown_urls() {
        let err = Index::connect("mysql://u:secret@h/db").await.unwrap_err();
        assert!(matches!(err, IndexError::UnsupportedUrl(_)));
        assert!(!err.to_string().contains("secret"));
    }
}
