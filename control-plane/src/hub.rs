//! The config publisher of one replica: builds the protobuf [`ConfigSnapshot`] once per config
//! version and shares it (behind an `Arc`, through a `watch` channel) with every sensor stream
//! of this replica.
//!
//! It learns that the version moved from three sources: a change committed through this
//! replica (the store's in-process notify), a change committed through another replica
//! (PostgreSQL `LISTEN glitch_config`) and, in case a notification was missed, a reconcile tick
//! that re-reads the version every [`RECONCILE_INTERVAL`]. The same tick refreshes this
//! replica's sensors' `last_seen_at` (its liveness heartbeat).

use std::sync::Arc;
use std::time::Duration;

use glitch_proto::config::v1::{ApiKey, ConfigSnapshot, Policy as PolicyMsg, Project};
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::{Backend, NOTIFY_CHANNEL, SnapshotData, Store, StoreError};
use crate::time::timestamp;

/// How often the version is re-read even without a notification.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(2);

/// How often this replica's connected sensors are marked alive.
const HEARTBEAT_EVERY_TICKS: u32 = 5;

/// Id of the extra, invalid policy that fault injection puts into a snapshot.
pub const INJECTED_POLICY_ID: &str = "pol_fault_injected";

/// One built snapshot, shared by every stream.
#[derive(Debug)]
pub struct PublishedConfig {
    /// Its config version.
    pub version: u64,
    /// The whole snapshot as sent to sensors.
    pub snapshot: ConfigSnapshot,
}

/// The publisher: the current snapshot and the means to watch it change.
#[derive(Debug)]
pub struct ConfigHub {
    store: Store,
    current: watch::Sender<Arc<PublishedConfig>>,
    /// One build at a time: concurrent refreshes wait, then find the work done.
    building: tokio::sync::Mutex<()>,
}

impl ConfigHub {
    /// Builds the snapshot of the current version.
    pub async fn new(store: Store) -> Result<Arc<ConfigHub>, StoreError> {
        let first = build(store.snapshot_data().await?);
        let (current, _) = watch::channel(Arc::new(first));
        Ok(Arc::new(ConfigHub {
            store,
            current,
            building: tokio::sync::Mutex::new(()),
        }))
    }

    /// The snapshot now.
    pub fn current(&self) -> Arc<PublishedConfig> {
        self.current.borrow().clone()
    }

    /// A receiver that sees every snapshot published from now on.
    pub fn subscribe(&self) -> watch::Receiver<Arc<PublishedConfig>> {
        self.current.subscribe()
    }

    /// Re-reads the version; if it moved forward, builds and publishes the new snapshot.
    /// When this returns, the published snapshot is at least the version committed before the
    /// call.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let head = self.store.config_version().await?;
        let head = u64::try_from(head.version).unwrap_or(0);
        if head <= self.current.borrow().version {
            return Ok(());
        }
        let _building = self.building.lock().await;
        if head <= self.current.borrow().version {
            // Another refresh built it while this one waited.
            return Ok(());
        }
        let started = std::time::Instant::now();
        let published = build(self.store.snapshot_data().await?);
        let version = published.version;
        let streams = self.current.receiver_count();
        let sent = self.current.send_if_modified(|current| {
            if published.version > current.version {
                *current = Arc::new(published);
                true
            } else {
                false
            }
        });
        if sent {
            tracing::info!(
                version,
                streams,
                build_ms = started.elapsed().as_secs_f64() * 1000.0,
                "publishing config snapshot"
            );
        }
        Ok(())
    }

    /// Runs the publisher until `shutdown` flips: the refresh loop with its reconcile tick and
    /// heartbeat, and on PostgreSQL the LISTEN task.
    pub fn spawn(
        self: Arc<Self>,
        replica_id: Arc<str>,
        shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let wake = self.store.changes();
        let listener = (self.store.backend() == Backend::Postgres).then(|| {
            tokio::spawn(listen_postgres(
                self.store.url().to_owned(),
                wake.clone(),
                shutdown.clone(),
            ))
        });
        let mut shutdown = shutdown;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RECONCILE_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut ticks: u32 = 0;
            loop {
                tokio::select! {
                    () = wake.notified() => {}
                    _ = tick.tick() => {
                        ticks = ticks.wrapping_add(1);
                        if ticks.is_multiple_of(HEARTBEAT_EVERY_TICKS)
                            && let Err(e) = self.store.replica_heartbeat(&replica_id).await
                        {
                            tracing::warn!(error = %e, "sensor heartbeat update failed");
                        }
                    }
                    _ = shutdown.changed() => break,
                }
                if let Err(e) = self.refresh().await {
                    tracing::warn!(error = %e, "cannot refresh the config snapshot; retrying on the next tick");
                }
            }
            if let Some(listener) = listener {
                listener.abort();
                let _ = listener.await;
            }
        })
    }
}

/// LISTENs on [`NOTIFY_CHANNEL`] and wakes the refresh loop on every notification and after
/// every (re)connect, reconnecting with a pause when the connection drops.
async fn listen_postgres(
    url: String,
    wake: Arc<tokio::sync::Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen(NOTIFY_CHANNEL).await {
                Ok(()) => {
                    tracing::debug!(channel = NOTIFY_CHANNEL, "listening for config changes");
                    // Anything committed while we were not listening is picked up now.
                    wake.notify_one();
                    loop {
                        tokio::select! {
                            received = listener.recv() => match received {
                                Ok(_) => wake.notify_one(),
                                Err(e) => {
                                    tracing::warn!(error = %e, "config change listener lost its connection");
                                    break;
                                }
                            },
                            _ = shutdown.changed() => return,
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "LISTEN {NOTIFY_CHANNEL} failed"),
            },
            Err(e) => tracing::warn!(error = %e, "config change listener cannot connect"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The protobuf snapshot of one version: projects, keys that are not revoked (SHA-256 as 32
/// raw bytes) and custom policies as their JSON. Templates are not sent: sensors know them.
pub fn build(data: SnapshotData) -> PublishedConfig {
    let version = u64::try_from(data.version.version).unwrap_or(0);
    let projects = data
        .projects
        .into_iter()
        .map(|p| Project {
            id: p.id,
            name: p.name,
            policy_id: p.policy_id,
        })
        .collect();
    let keys = data
        .keys
        .into_iter()
        .filter_map(|k| match hex::decode(&k.sha256) {
            Ok(hash) if hash.len() == 32 => Some(ApiKey {
                id: k.id,
                project_id: k.project_id,
                key_sha256: hash,
                display_prefix: k.display_prefix,
            }),
            _ => {
                tracing::error!(key_id = %k.id, "stored key hash is not 64 hex characters; key left out of the snapshot");
                None
            }
        })
        .collect();
    let mut policies: Vec<PolicyMsg> = data
        .policies
        .into_iter()
        .map(|p| PolicyMsg {
            id: p.id,
            json: p.json,
        })
        .collect();
    if let Some(json) = data.injected_policy {
        policies.push(PolicyMsg {
            id: INJECTED_POLICY_ID.to_owned(),
            json,
        });
    }
    PublishedConfig {
        version,
        snapshot: ConfigSnapshot {
            version,
            created_at: Some(timestamp(data.version.changed_at)),
            projects,
            keys,
            policies,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ConfigVersion, KeyRecord, PolicyRecord, ProjectRecord};

    #[test]
    fn snapshot_has_raw_hashes_and_the_injected_policy() {
        let data = SnapshotData {
            version: ConfigVersion {
                version: 7,
                changed_at: 1_000,
            },
            projects: vec![ProjectRecord {
                id: "p".into(),
                name: "P".into(),
                policy_id: "balanced".into(),
                created_at: 0,
                updated_at: 0,
            }],
            keys: vec![
                KeyRecord {
                    id: "k".into(),
                    project_id: "p".into(),
                    name: String::new(),
                    sha256: "ab".repeat(32),
                    display_prefix: "glitch_sk_abcd".into(),
                    created_at: 0,
                    revoked_at: None,
                },
                KeyRecord {
                    id: "bad".into(),
                    project_id: "p".into(),
                    name: String::new(),
                    sha256: "zz".into(),
                    display_prefix: String::new(),
                    created_at: 0,
                    revoked_at: None,
                },
            ],
            policies: vec![PolicyRecord {
                id: "pol_a".into(),
                name: "A".into(),
                json: "{}".into(),
                version: 1,
                config_version: 7,
                created_at: 0,
                updated_at: 0,
            }],
            injected_policy: Some("{\"bad\":1}".into()),
        };
        let published = build(data);
        assert_eq!(published.version, 7);
        let s = &published.snapshot;
        assert_eq!(s.version, 7);
        assert_eq!(s.created_at.as_ref().unwrap().seconds, 1);
        assert_eq!(s.keys.len(), 1);
        assert_eq!(s.keys[0].key_sha256, vec![0xab; 32]);
        assert_eq!(s.policies.len(), 2);
        assert_eq!(s.policies[1].id, INJECTED_POLICY_ID);
    }
}
