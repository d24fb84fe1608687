//! Storage: SQLite (one file, WAL) or PostgreSQL behind one [`Store`], written once against
//! sqlx's `Any` driver with plain run-time queries (`$1` placeholders work in both), migrations
//! per database from `migrations/{sqlite,postgres}`.
//!
//! Every change to projects, keys or policies runs in one transaction that first bumps the
//! single `config_head` row (which also serialises concurrent changes, on either database),
//! logs the new version in `config_versions` and, on PostgreSQL, sends `NOTIFY glitch_config`
//! (delivered at commit) so every replica learns of it. A change that turns out to change
//! nothing rolls back, so the version only moves when the config does.
//!
//! Validation of policy documents and of ids/names is the caller's (the REST layer's); this
//! module checks only what needs the database (existence, uniqueness, references).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use glitch_detect::templates::is_template_id;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Any, AnyPool, ConnectOptions, Row, Transaction};
use tokio::sync::Notify;

use crate::cli::redact_url;
use crate::time::now_ms;

/// PostgreSQL NOTIFY channel that carries "the config changed" between replicas.
pub const NOTIFY_CHANNEL: &str = "glitch_config";

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file (a single replica).
    Sqlite,
    /// PostgreSQL (any number of replicas).
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

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported database.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST[:PORT]/DB")]
    UnsupportedUrl(String),
    /// No object with that id.
    #[error("{kind} {id:?} not found")]
    NotFound {
        /// "project", "key" or "policy".
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// An object with that id already exists.
    #[error("{kind} {id:?} already exists")]
    AlreadyExists {
        /// "project" or "policy".
        kind: &'static str,
        /// The id.
        id: String,
    },
    /// A project names a policy that is neither stored nor a template.
    #[error("unknown policy {0:?} (not a stored policy or a template id)")]
    UnknownPolicy(String),
    /// The policy cannot be deleted while projects use it.
    #[error("policy {id:?} is used by project(s) {}", projects.join(", "))]
    PolicyInUse {
        /// The policy.
        id: String,
        /// Projects that use it.
        projects: Vec<String>,
    },
    /// An update named a policy version that is no longer the current one.
    #[error("policy {id:?} is at version {current}, not {expected}: read it again and retry")]
    VersionMismatch {
        /// The policy.
        id: String,
        /// The version the caller sent.
        expected: i64,
        /// The current version.
        current: i64,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Stored data could not be read back (a corrupted row).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// The current config version and when it changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigVersion {
    /// Monotonic version (1 is the initial empty configuration).
    pub version: i64,
    /// Unix milliseconds.
    pub changed_at: i64,
}

/// A stored project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectRecord {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// A stored policy id or a template id.
    pub policy_id: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// A stored key (its hash, never the key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// Id.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Display name.
    pub name: String,
    /// Lowercase hex SHA-256 of the whole key string.
    pub sha256: String,
    /// `glitch_sk_` + 4 characters.
    pub display_prefix: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds, when revoked.
    pub revoked_at: Option<i64>,
}

/// A new key to store.
#[derive(Clone, Debug)]
pub struct NewKeyRecord {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Lowercase hex SHA-256 of the whole key string.
    pub sha256: String,
    /// `glitch_sk_` + 4 characters.
    pub display_prefix: String,
}

/// A stored custom policy, current version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRecord {
    /// Id.
    pub id: String,
    /// Name (also inside `json`).
    pub name: String,
    /// The policy document (contract §4), validated before it was stored.
    pub json: String,
    /// The policy's own revision, 1 for the first.
    pub version: i64,
    /// The config version this revision was stored in.
    pub config_version: i64,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// One entry of a policy's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyVersionRecord {
    /// The policy's revision.
    pub version: i64,
    /// The config version it was stored in.
    pub config_version: i64,
    /// Unix milliseconds.
    pub changed_at: i64,
    /// The document of that revision.
    pub json: String,
}

/// A sensor as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SensorRecord {
    /// Sensor id (from its hello).
    pub sensor_id: String,
    /// Region label.
    pub region: String,
    /// Build string of the sensor binary.
    pub build: String,
    /// The control-plane replica it streams from (or last streamed from).
    pub replica_id: String,
    /// True while its stream is open and its replica alive (see [`Store::list_sensors`]).
    pub connected: bool,
    /// Unix milliseconds of the last connect.
    pub connected_at: i64,
    /// Unix milliseconds of the last message or replica heartbeat.
    pub last_seen_at: i64,
    /// The config version the sensor serves.
    pub applied_version: i64,
    /// Unix milliseconds of the last ACK.
    pub last_ack_at: Option<i64>,
    /// Unix milliseconds of the last NACK.
    pub last_nack_at: Option<i64>,
    /// The version the last NACK kept serving.
    pub last_nack_version: Option<i64>,
    /// The last NACK's error.
    pub last_nack_error: Option<String>,
}

/// What a sensor says when it connects.
#[derive(Clone, Debug)]
pub struct SensorHelloRecord {
    /// Sensor id.
    pub sensor_id: String,
    /// Region label.
    pub region: String,
    /// Build string.
    pub build: String,
    /// Last config version it applied (0 for none).
    pub applied_version: i64,
}

/// Something a sensor's stream reports after its hello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SensorEvent {
    /// The sensor applied `version`.
    Acked {
        /// Sensor id.
        sensor_id: String,
        /// The stream it came on.
        stream_id: String,
        /// The version it now serves.
        version: i64,
        /// Unix milliseconds.
        at: i64,
    },
    /// The sensor refused a push and keeps serving `version`.
    Nacked {
        /// Sensor id.
        sensor_id: String,
        /// The stream it came on.
        stream_id: String,
        /// The version it keeps serving.
        version: i64,
        /// Why it refused.
        error: String,
        /// Unix milliseconds.
        at: i64,
    },
    /// The stream ended.
    Disconnected {
        /// Sensor id.
        sensor_id: String,
        /// The stream that ended.
        stream_id: String,
        /// Unix milliseconds.
        at: i64,
    },
}

/// Everything a config snapshot is built from, read in one consistent transaction.
#[derive(Clone, Debug)]
pub struct SnapshotData {
    /// The version.
    pub version: ConfigVersion,
    /// Projects, by id.
    pub projects: Vec<ProjectRecord>,
    /// Keys that are not revoked, by id.
    pub keys: Vec<KeyRecord>,
    /// Custom policies, by id.
    pub policies: Vec<PolicyRecord>,
    /// Test-only: an invalid policy JSON injected into this version (fault injection).
    pub injected_policy: Option<String>,
}

/// A sensor that has not been heard from (message or replica heartbeat) for this long is shown
/// as disconnected, whatever its row says (its replica died without marking it).
pub const SENSOR_STALE_MS: i64 = 30_000;

/// The control plane's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: String,
    changed: Arc<Notify>,
}

/// An open change: its transaction, the version it creates and its time.
struct Change {
    tx: Transaction<'static, Any>,
    version: i64,
    now: i64,
}

impl Store {
    /// Connects (creating a SQLite file and its directory if missing) and runs migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        let pool = match backend {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal);
                let in_memory =
                    options.get_filename().as_os_str() == ":memory:" || url.contains("mode=memory");
                if !in_memory {
                    if let Some(dir) = options.get_filename().parent()
                        && !dir.as_os_str().is_empty()
                    {
                        std::fs::create_dir_all(dir).map_err(|e| {
                            StoreError::Database(sqlx::Error::Configuration(
                                format!("cannot create {}: {e}", dir.display()).into(),
                            ))
                        })?;
                    }
                    // Creates the file and switches it to WAL (a property of the file that
                    // every later connection, including the pool's, inherits).
                    let conn = options.connect().await?;
                    sqlx::Connection::close(conn).await?;
                }
                // One connection for an in-memory database (each would be its own database).
                let max = if in_memory { 1 } else { 4 };
                let mut pool_options = AnyPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(Duration::from_secs(10));
                if in_memory {
                    pool_options = pool_options
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None);
                }
                pool_options.connect(url).await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?
            }
        };
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store {
            pool,
            backend,
            url: url.to_owned(),
            changed: Arc::new(Notify::new()),
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database URL (for the PostgreSQL listener; may hold a password: never log it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Notified after every committed change made through this store (this replica).
    pub fn changes(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    // ---- changes -------------------------------------------------------------------------

    /// Opens a change: bumps the config version first (taking the write lock) and logs it.
    async fn begin_change(&self, what: &str) -> Result<Change, StoreError> {
        self.begin_change_with(what, None).await
    }

    async fn begin_change_with(
        &self,
        what: &str,
        injected_policy: Option<&str>,
    ) -> Result<Change, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let version: i64 = sqlx::query(
            "UPDATE config_head SET version = version + 1, changed_at = $1 WHERE id = 1 \
             RETURNING version",
        )
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        sqlx::query(
            "INSERT INTO config_versions (version, changed_at, change, injected_policy) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(version)
        .bind(now)
        .bind(what)
        .bind(injected_policy)
        .execute(&mut *tx)
        .await?;
        if self.backend == Backend::Postgres {
            // Delivered to every listening replica when (and only if) the change commits.
            sqlx::query(&format!("NOTIFY {NOTIFY_CHANNEL}, '{version}'"))
                .execute(&mut *tx)
                .await?;
        }
        Ok(Change { tx, version, now })
    }

    /// Commits a change and wakes this replica's config publisher.
    async fn commit(&self, change: Change) -> Result<i64, StoreError> {
        change.tx.commit().await?;
        self.changed.notify_one();
        tracing::debug!(version = change.version, "config version bumped");
        Ok(change.version)
    }

    // ---- config version and snapshot -----------------------------------------------------

    /// The current config version.
    pub async fn config_version(&self) -> Result<ConfigVersion, StoreError> {
        let row = sqlx::query("SELECT version, changed_at FROM config_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(ConfigVersion {
            version: row.try_get(0)?,
            changed_at: row.try_get(1)?,
        })
    }

    /// Everything of the current version, read in one consistent transaction.
    pub async fn snapshot_data(&self) -> Result<SnapshotData, StoreError> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query("SELECT version, changed_at FROM config_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let version = ConfigVersion {
            version: row.try_get(0)?,
            changed_at: row.try_get(1)?,
        };
        let injected_policy: Option<String> =
            sqlx::query("SELECT injected_policy FROM config_versions WHERE version = $1")
                .bind(version.version)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get::<Option<String>, _>(0))
                .transpose()?
                .flatten();
        let projects = sqlx::query(&format!("{PROJECT_SELECT} ORDER BY id"))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(project_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let keys = sqlx::query(&format!(
            "{KEY_SELECT} WHERE revoked_at IS NULL ORDER BY id"
        ))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(key_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        let policies = sqlx::query(&format!("{POLICY_SELECT} ORDER BY id"))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(policy_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        Ok(SnapshotData {
            version,
            projects,
            keys,
            policies,
            injected_policy,
        })
    }

    /// Test-only fault injection: a new config version whose snapshot carries
    /// `invalid_policy_json` as an extra policy. Nothing else is stored; the next real change
    /// drops it again.
    pub async fn inject_invalid_policy(
        &self,
        invalid_policy_json: &str,
    ) -> Result<i64, StoreError> {
        let change = self
            .begin_change_with("fault injection: invalid policy", Some(invalid_policy_json))
            .await?;
        self.commit(change).await
    }

    // ---- projects ------------------------------------------------------------------------

    /// Every row of `SELECT ... ORDER BY id`, converted.
    async fn select_all<T>(
        &self,
        select: &str,
        from_row: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        sqlx::query(&format!("{select} ORDER BY id"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// The row with this id, converted, or a not-found error naming `kind`.
    async fn select_by_id<T>(
        &self,
        select: &str,
        kind: &'static str,
        id: &str,
        from_row: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        sqlx::query(&format!("{select} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()?
            .ok_or_else(|| not_found(kind, id))
    }

    /// All projects, by id.
    pub async fn list_projects(&self) -> Result<Vec<ProjectRecord>, StoreError> {
        self.select_all(PROJECT_SELECT, project_from_row).await
    }

    /// One project.
    pub async fn get_project(&self, id: &str) -> Result<ProjectRecord, StoreError> {
        self.select_by_id(PROJECT_SELECT, "project", id, project_from_row)
            .await
    }

    /// Stores a new project (its policy must be stored or a template).
    pub async fn create_project(
        &self,
        id: &str,
        name: &str,
        policy_id: &str,
    ) -> Result<ProjectRecord, StoreError> {
        let mut change = self.begin_change(&format!("project {id} created")).await?;
        check_policy_exists(&mut change.tx, policy_id).await?;
        let inserted = sqlx::query(
            "INSERT INTO projects (id, name, policy_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(name)
        .bind(policy_id)
        .bind(change.now)
        .bind(change.now)
        .execute(&mut *change.tx)
        .await;
        if let Err(e) = inserted {
            return Err(already_exists_or(e, "project", id));
        }
        let record = ProjectRecord {
            id: id.to_owned(),
            name: name.to_owned(),
            policy_id: policy_id.to_owned(),
            created_at: change.now,
            updated_at: change.now,
        };
        self.commit(change).await?;
        Ok(record)
    }

    /// Changes a project's name and/or policy; a change to nothing leaves the version alone.
    pub async fn update_project(
        &self,
        id: &str,
        name: Option<&str>,
        policy_id: Option<&str>,
    ) -> Result<ProjectRecord, StoreError> {
        let mut change = self.begin_change(&format!("project {id} updated")).await?;
        let current = sqlx::query(&format!("{PROJECT_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *change.tx)
            .await?
            .as_ref()
            .map(project_from_row)
            .transpose()?
            .ok_or_else(|| not_found("project", id))?;
        let new_name = name.unwrap_or(&current.name);
        let new_policy = policy_id.unwrap_or(&current.policy_id);
        if new_name == current.name && new_policy == current.policy_id {
            change.tx.rollback().await?;
            return Ok(current);
        }
        check_policy_exists(&mut change.tx, new_policy).await?;
        sqlx::query("UPDATE projects SET name = $1, policy_id = $2, updated_at = $3 WHERE id = $4")
            .bind(new_name)
            .bind(new_policy)
            .bind(change.now)
            .bind(id)
            .execute(&mut *change.tx)
            .await?;
        let record = ProjectRecord {
            id: current.id,
            name: new_name.to_owned(),
            policy_id: new_policy.to_owned(),
            created_at: current.created_at,
            updated_at: change.now,
        };
        self.commit(change).await?;
        Ok(record)
    }

    /// Deletes a project and its keys.
    pub async fn delete_project(&self, id: &str) -> Result<(), StoreError> {
        let mut change = self.begin_change(&format!("project {id} deleted")).await?;
        sqlx::query("DELETE FROM api_keys WHERE project_id = $1")
            .bind(id)
            .execute(&mut *change.tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(id)
            .execute(&mut *change.tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            change.tx.rollback().await?;
            return Err(not_found("project", id));
        }
        self.commit(change).await?;
        Ok(())
    }

    // ---- keys ----------------------------------------------------------------------------

    /// Stores a new key of a project.
    pub async fn create_key(
        &self,
        project_id: &str,
        key: &NewKeyRecord,
    ) -> Result<KeyRecord, StoreError> {
        let mut change = self
            .begin_change(&format!("key {} created in project {project_id}", key.id))
            .await?;
        let exists = sqlx::query("SELECT 1 FROM projects WHERE id = $1")
            .bind(project_id)
            .fetch_optional(&mut *change.tx)
            .await?
            .is_some();
        if !exists {
            change.tx.rollback().await?;
            return Err(not_found("project", project_id));
        }
        let inserted = sqlx::query(
            "INSERT INTO api_keys (id, project_id, name, sha256, display_prefix, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.id)
        .bind(project_id)
        .bind(&key.name)
        .bind(&key.sha256)
        .bind(&key.display_prefix)
        .bind(change.now)
        .execute(&mut *change.tx)
        .await;
        if let Err(e) = inserted {
            return Err(already_exists_or(e, "key", &key.id));
        }
        let record = KeyRecord {
            id: key.id.clone(),
            project_id: project_id.to_owned(),
            name: key.name.clone(),
            sha256: key.sha256.clone(),
            display_prefix: key.display_prefix.clone(),
            created_at: change.now,
            revoked_at: None,
        };
        self.commit(change).await?;
        Ok(record)
    }

    /// A project's keys, revoked ones included, oldest first.
    pub async fn list_keys(&self, project_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
        let exists = sqlx::query("SELECT 1 FROM projects WHERE id = $1")
            .bind(project_id)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        if !exists {
            return Err(not_found("project", project_id));
        }
        sqlx::query(&format!(
            "{KEY_SELECT} WHERE project_id = $1 ORDER BY created_at, id"
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(key_from_row)
        .collect()
    }

    /// Revokes a key (at once: the next snapshot no longer has it). Revoking a revoked key
    /// changes nothing.
    pub async fn revoke_key(&self, id: &str) -> Result<KeyRecord, StoreError> {
        let mut change = self.begin_change(&format!("key {id} revoked")).await?;
        let current = sqlx::query(&format!("{KEY_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *change.tx)
            .await?
            .as_ref()
            .map(key_from_row)
            .transpose()?
            .ok_or_else(|| not_found("key", id))?;
        if current.revoked_at.is_some() {
            change.tx.rollback().await?;
            return Ok(current);
        }
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2")
            .bind(change.now)
            .bind(id)
            .execute(&mut *change.tx)
            .await?;
        let record = KeyRecord {
            revoked_at: Some(change.now),
            ..current
        };
        self.commit(change).await?;
        Ok(record)
    }

    // ---- policies ------------------------------------------------------------------------

    /// All stored policies, by id.
    pub async fn list_policies(&self) -> Result<Vec<PolicyRecord>, StoreError> {
        self.select_all(POLICY_SELECT, policy_from_row).await
    }

    /// One stored policy.
    pub async fn get_policy(&self, id: &str) -> Result<PolicyRecord, StoreError> {
        self.select_by_id(POLICY_SELECT, "policy", id, policy_from_row)
            .await
    }

    /// Stores a new policy (the caller validated `json`).
    pub async fn create_policy(
        &self,
        id: &str,
        name: &str,
        json: &str,
    ) -> Result<PolicyRecord, StoreError> {
        let mut change = self.begin_change(&format!("policy {id} created")).await?;
        // A re-created id continues its history instead of overwriting it.
        let version: i64 = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM policy_versions WHERE policy_id = $1",
        )
        .bind(id)
        .fetch_one(&mut *change.tx)
        .await?
        .try_get(0)?;
        let inserted = sqlx::query(
            "INSERT INTO policies (id, name, json, version, config_version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(name)
        .bind(json)
        .bind(version)
        .bind(change.version)
        .bind(change.now)
        .bind(change.now)
        .execute(&mut *change.tx)
        .await;
        if let Err(e) = inserted {
            return Err(already_exists_or(e, "policy", id));
        }
        insert_policy_version(&mut change, id, version, json).await?;
        let record = PolicyRecord {
            id: id.to_owned(),
            name: name.to_owned(),
            json: json.to_owned(),
            version,
            config_version: change.version,
            created_at: change.now,
            updated_at: change.now,
        };
        self.commit(change).await?;
        Ok(record)
    }

    /// Replaces a stored policy (the caller validated `json`). With `expected_version`, the
    /// update only happens if that is still the current version. The same document again
    /// changes nothing.
    pub async fn update_policy(
        &self,
        id: &str,
        name: &str,
        json: &str,
        expected_version: Option<i64>,
    ) -> Result<PolicyRecord, StoreError> {
        let mut change = self.begin_change(&format!("policy {id} updated")).await?;
        let current = sqlx::query(&format!("{POLICY_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *change.tx)
            .await?
            .as_ref()
            .map(policy_from_row)
            .transpose()?
            .ok_or_else(|| not_found("policy", id))?;
        if let Some(expected) = expected_version
            && expected != current.version
        {
            change.tx.rollback().await?;
            return Err(StoreError::VersionMismatch {
                id: id.to_owned(),
                expected,
                current: current.version,
            });
        }
        if current.json == json && current.name == name {
            change.tx.rollback().await?;
            return Ok(current);
        }
        let version = current.version + 1;
        sqlx::query(
            "UPDATE policies SET name = $1, json = $2, version = $3, config_version = $4, \
             updated_at = $5 WHERE id = $6",
        )
        .bind(name)
        .bind(json)
        .bind(version)
        .bind(change.version)
        .bind(change.now)
        .bind(id)
        .execute(&mut *change.tx)
        .await?;
        insert_policy_version(&mut change, id, version, json).await?;
        let record = PolicyRecord {
            id: id.to_owned(),
            name: name.to_owned(),
            json: json.to_owned(),
            version,
            config_version: change.version,
            created_at: current.created_at,
            updated_at: change.now,
        };
        self.commit(change).await?;
        Ok(record)
    }

    /// Deletes a stored policy that no project uses (its history is kept).
    pub async fn delete_policy(&self, id: &str) -> Result<(), StoreError> {
        let mut change = self.begin_change(&format!("policy {id} deleted")).await?;
        let exists = sqlx::query("SELECT 1 FROM policies WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *change.tx)
            .await?
            .is_some();
        if !exists {
            change.tx.rollback().await?;
            return Err(not_found("policy", id));
        }
        let users = sqlx::query("SELECT id FROM projects WHERE policy_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&mut *change.tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
        if !users.is_empty() {
            change.tx.rollback().await?;
            return Err(StoreError::PolicyInUse {
                id: id.to_owned(),
                projects: users,
            });
        }
        sqlx::query("DELETE FROM policies WHERE id = $1")
            .bind(id)
            .execute(&mut *change.tx)
            .await?;
        self.commit(change).await?;
        Ok(())
    }

    /// A stored policy's history, newest first.
    pub async fn policy_versions(&self, id: &str) -> Result<Vec<PolicyVersionRecord>, StoreError> {
        // History is shown for current policies only (a deleted id is unknown).
        self.get_policy(id).await?;
        sqlx::query(
            "SELECT version, config_version, changed_at, json FROM policy_versions \
             WHERE policy_id = $1 ORDER BY version DESC",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(PolicyVersionRecord {
                version: row.try_get(0)?,
                config_version: row.try_get(1)?,
                changed_at: row.try_get(2)?,
                json: row.try_get(3)?,
            })
        })
        .collect()
    }

    // ---- sensors -------------------------------------------------------------------------

    /// Every sensor ever seen, by id. `connected` is false for a sensor not heard from for
    /// [`SENSOR_STALE_MS`] (its replica is gone).
    pub async fn list_sensors(&self) -> Result<Vec<SensorRecord>, StoreError> {
        let now = now_ms();
        sqlx::query(
            "SELECT sensor_id, region, build, replica_id, connected, connected_at, last_seen_at, \
             applied_version, last_ack_at, last_nack_at, last_nack_version, last_nack_error \
             FROM sensors ORDER BY sensor_id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let connected: i64 = row.try_get(4)?;
            let last_seen_at: i64 = row.try_get(6)?;
            Ok(SensorRecord {
                sensor_id: row.try_get(0)?,
                region: row.try_get(1)?,
                build: row.try_get(2)?,
                replica_id: row.try_get(3)?,
                connected: connected != 0 && now - last_seen_at < SENSOR_STALE_MS,
                connected_at: row.try_get(5)?,
                last_seen_at,
                applied_version: row.try_get(7)?,
                last_ack_at: row.try_get(8)?,
                last_nack_at: row.try_get(9)?,
                last_nack_version: row.try_get(10)?,
                last_nack_error: row.try_get(11)?,
            })
        })
        .collect()
    }

    /// Records a sensor's hello on stream `stream_id` of replica `replica_id`.
    pub async fn sensor_connected(
        &self,
        hello: &SensorHelloRecord,
        replica_id: &str,
        stream_id: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO sensors (sensor_id, region, build, replica_id, stream_id, connected, \
             connected_at, last_seen_at, applied_version) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8) \
             ON CONFLICT (sensor_id) DO UPDATE SET region = excluded.region, \
             build = excluded.build, replica_id = excluded.replica_id, \
             stream_id = excluded.stream_id, connected = 1, \
             connected_at = excluded.connected_at, last_seen_at = excluded.last_seen_at, \
             applied_version = excluded.applied_version",
        )
        .bind(&hello.sensor_id)
        .bind(&hello.region)
        .bind(&hello.build)
        .bind(replica_id)
        .bind(stream_id)
        .bind(now)
        .bind(now)
        .bind(hello.applied_version)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Applies sensor events in order, in one transaction (one commit for a whole burst of
    /// ACKs). Events of a stream that is no longer the sensor's latest change nothing.
    pub async fn record_sensor_events(&self, events: &[SensorEvent]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for event in events {
            match event {
                SensorEvent::Acked {
                    sensor_id,
                    stream_id,
                    version,
                    at,
                } => {
                    sqlx::query(
                        "UPDATE sensors SET applied_version = $1, last_ack_at = $2, \
                         last_seen_at = $3 WHERE sensor_id = $4 AND stream_id = $5",
                    )
                    .bind(version)
                    .bind(at)
                    .bind(at)
                    .bind(sensor_id)
                    .bind(stream_id)
                    .execute(&mut *tx)
                    .await?;
                }
                SensorEvent::Nacked {
                    sensor_id,
                    stream_id,
                    version,
                    error,
                    at,
                } => {
                    sqlx::query(
                        "UPDATE sensors SET last_nack_at = $1, last_nack_version = $2, \
                         last_nack_error = $3, last_seen_at = $4 \
                         WHERE sensor_id = $5 AND stream_id = $6",
                    )
                    .bind(at)
                    .bind(version)
                    .bind(error)
                    .bind(at)
                    .bind(sensor_id)
                    .bind(stream_id)
                    .execute(&mut *tx)
                    .await?;
                }
                SensorEvent::Disconnected {
                    sensor_id,
                    stream_id,
                    at,
                } => {
                    sqlx::query(
                        "UPDATE sensors SET connected = 0, last_seen_at = $1 \
                         WHERE sensor_id = $2 AND stream_id = $3",
                    )
                    .bind(at)
                    .bind(sensor_id)
                    .bind(stream_id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// This replica is alive: refreshes `last_seen_at` of the sensors connected to it.
    pub async fn replica_heartbeat(&self, replica_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sensors SET last_seen_at = $1 WHERE replica_id = $2 AND connected = 1")
            .bind(now_ms())
            .bind(replica_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks every sensor of this replica disconnected (start-up and shutdown).
    pub async fn replica_disconnected(&self, replica_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sensors SET connected = 0 WHERE replica_id = $1 AND connected = 1")
            .bind(replica_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

const PROJECT_SELECT: &str = "SELECT id, name, policy_id, created_at, updated_at FROM projects";
const KEY_SELECT: &str = "SELECT id, project_id, name, sha256, display_prefix, created_at, \
                          revoked_at FROM api_keys";
const POLICY_SELECT: &str = "SELECT id, name, json, version, config_version, created_at, \
                             updated_at FROM policies";

fn project_from_row(row: &AnyRow) -> Result<ProjectRecord, StoreError> {
    Ok(ProjectRecord {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        policy_id: row.try_get(2)?,
        created_at: row.try_get(3)?,
        updated_at: row.try_get(4)?,
    })
}

fn key_from_row(row: &AnyRow) -> Result<KeyRecord, StoreError> {
    Ok(KeyRecord {
        id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        name: row.try_get(2)?,
        sha256: row.try_get(3)?,
        display_prefix: row.try_get(4)?,
        created_at: row.try_get(5)?,
        revoked_at: row.try_get(6)?,
    })
}

fn policy_from_row(row: &AnyRow) -> Result<PolicyRecord, StoreError> {
    Ok(PolicyRecord {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        json: row.try_get(2)?,
        version: row.try_get(3)?,
        config_version: row.try_get(4)?,
        created_at: row.try_get(5)?,
        updated_at: row.try_get(6)?,
    })
}

fn not_found(kind: &'static str, id: &str) -> StoreError {
    StoreError::NotFound {
        kind,
        id: id.to_owned(),
    }
}

fn already_exists_or(e: sqlx::Error, kind: &'static str, id: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::AlreadyExists {
            kind,
            id: id.to_owned(),
        },
        _ => StoreError::Database(e),
    }
}

async fn check_policy_exists(
    tx: &mut Transaction<'static, Any>,
    policy_id: &str,
) -> Result<(), StoreError> {
    if is_template_id(policy_id) {
        return Ok(());
    }
    let exists = sqlx::query("SELECT 1 FROM policies WHERE id = $1")
        .bind(policy_id)
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
    if exists {
        Ok(())
    } else {
        Err(StoreError::UnknownPolicy(policy_id.to_owned()))
    }
}

async fn insert_policy_version(
    change: &mut Change,
    id: &str,
    version: i64,
    json: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO policy_versions (policy_id, version, config_version, changed_at, json) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(version)
    .bind(change.version)
    .bind(change.now)
    .bind(json)
    .execute(&mut *change.tx)
    .await?;
    Ok(())
}
