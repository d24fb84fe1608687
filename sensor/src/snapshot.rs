//! The one immutable config snapshot (DESIGN.md): projects, key hashes and compiled policies,
//! built and validated whole off the request path, then swapped in behind one `ArcSwap`. A
//! request loads it once and uses that one for its whole life.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use glitch_detect::templates::{is_template_id, template};
use glitch_detect::{CompiledPolicy, DetectorPack};
use subtle::ConstantTimeEq;

use crate::auth::AuthError;
use crate::config::{ConfigDocument, ConfigError};

/// A project as the request path sees it.
#[derive(Debug)]
pub struct ProjectConfig {
    /// Project id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Id of the policy applied.
    pub policy_id: String,
    /// The compiled policy (shared between projects that use the same one).
    pub policy: Arc<CompiledPolicy>,
}

/// A key entry: its id, hash and project.
#[derive(Debug)]
pub struct KeyRecord {
    /// Key id (recorded in events).
    pub id: String,
    /// SHA-256 of the key.
    sha256: [u8; 32],
    /// The key's project.
    pub project: Arc<ProjectConfig>,
}

/// Everything a request needs, as one immutable value.
#[derive(Debug)]
pub struct Snapshot {
    /// Config version (file mode: bumped on every successful reload).
    pub version: u64,
    /// Where it came from, e.g. `file:/etc/glitch/policy.yaml`.
    pub source: String,
    /// When it was built.
    pub built_at: SystemTime,
    projects: HashMap<String, Arc<ProjectConfig>>,
    keys: HashMap<[u8; 32], KeyRecord>,
    /// Compiled policies by id, so the next snapshot can reuse the unchanged ones.
    policies: HashMap<String, Arc<CompiledPolicy>>,
}

impl Snapshot {
    /// A snapshot with nothing in it: every key is unknown.
    pub fn empty(source: impl Into<String>) -> Self {
        Snapshot {
            version: 0,
            source: source.into(),
            built_at: SystemTime::now(),
            projects: HashMap::new(),
            keys: HashMap::new(),
            policies: HashMap::new(),
        }
    }

    /// Compiles every policy a project uses and indexes keys by hash.
    pub fn build(
        doc: ConfigDocument,
        version: u64,
        source: impl Into<String>,
        pack: &DetectorPack,
    ) -> Result<Self, ConfigError> {
        Self::build_from(doc, version, source, pack, None)
    }

    /// Like [`build`](Self::build), reusing the compiled form of every policy that is unchanged
    /// since `previous` (an update to one policy of a thousand compiles one).
    pub fn build_from(
        doc: ConfigDocument,
        version: u64,
        source: impl Into<String>,
        pack: &DetectorPack,
        previous: Option<&Snapshot>,
    ) -> Result<Self, ConfigError> {
        let mut compiled: HashMap<String, Arc<CompiledPolicy>> = HashMap::new();
        for (i, policy) in doc.policies.into_iter().enumerate() {
            let id = policy.id.clone();
            if let Some(old) = previous.and_then(|p| p.policies.get(&id))
                && **old.policy() == policy
            {
                compiled.insert(id, old.clone());
                continue;
            }
            let policy = CompiledPolicy::compile(policy, pack)
                .map_err(|e| ConfigError::new(format!("policies[{i}].{}", e.field), e.message))?;
            compiled.insert(id, Arc::new(policy));
        }
        let mut projects = HashMap::with_capacity(doc.projects.len());
        for (i, project) in doc.projects.into_iter().enumerate() {
            let policy = match compiled.get(&project.policy_id) {
                Some(p) => p.clone(),
                None if is_template_id(&project.policy_id) => {
                    if let Some(old) = previous.and_then(|p| p.policies.get(&project.policy_id)) {
                        compiled.insert(project.policy_id.clone(), old.clone());
                        old.clone()
                    } else {
                        let policy = template(&project.policy_id)
                            .ok_or_else(|| {
                                ConfigError::new(
                                    format!("projects[{i}].policy_id"),
                                    "unknown template",
                                )
                            })?
                            .map_err(|e| {
                                ConfigError::new(
                                    format!("templates/{}", project.policy_id),
                                    e.to_string(),
                                )
                            })?;
                        let policy =
                            Arc::new(CompiledPolicy::compile(policy, pack).map_err(|e| {
                                ConfigError::new(
                                    format!("templates/{}", project.policy_id),
                                    e.to_string(),
                                )
                            })?);
                        compiled.insert(project.policy_id.clone(), policy.clone());
                        policy
                    }
                }
                None => {
                    return Err(ConfigError::new(
                        format!("projects[{i}].policy_id"),
                        format!("unknown policy {:?}", project.policy_id),
                    ));
                }
            };
            projects.insert(
                project.id.clone(),
                Arc::new(ProjectConfig {
                    id: project.id,
                    name: project.name,
                    policy_id: project.policy_id,
                    policy,
                }),
            );
        }
        let mut keys = HashMap::with_capacity(doc.keys.len());
        for (i, key) in doc.keys.into_iter().enumerate() {
            let project = projects.get(&key.project_id).cloned().ok_or_else(|| {
                ConfigError::new(
                    format!("keys[{i}].project_id"),
                    format!("unknown project {:?}", key.project_id),
                )
            })?;
            keys.insert(
                key.sha256,
                KeyRecord {
                    id: key.id,
                    sha256: key.sha256,
                    project,
                },
            );
        }
        Ok(Snapshot {
            version,
            source: source.into(),
            built_at: SystemTime::now(),
            projects,
            keys,
            policies: compiled,
        })
    }

    /// Finds the key whose SHA-256 is `hash`. The table is indexed by hash (so lookup time
    /// depends only on a hash of what the caller sent, which tells them nothing about other
    /// keys), and the candidate is then confirmed with a constant-time comparison.
    pub fn authenticate(&self, hash: &[u8; 32]) -> Result<&KeyRecord, AuthError> {
        let record = self.keys.get(hash).ok_or(AuthError::Unknown)?;
        if bool::from(record.sha256.ct_eq(hash)) {
            Ok(record)
        } else {
            Err(AuthError::Unknown)
        }
    }

    /// A project by id.
    pub fn project(&self, id: &str) -> Option<&Arc<ProjectConfig>> {
        self.projects.get(id)
    }

    /// Number of projects and keys.
    pub fn counts(&self) -> (usize, usize) {
        (self.projects.len(), self.keys.len())
    }
}

/// The live snapshot plus the state of the last attempt to replace it.
#[derive(Debug)]
pub struct ConfigStore {
    current: ArcSwap<Snapshot>,
    last_error: Mutex<Option<String>>,
    reload_failures: AtomicU64,
    /// False until a snapshot has been loaded (fleet mode with nothing persisted).
    has_config: std::sync::atomic::AtomicBool,
    /// True while the live snapshot may be behind its source (fleet mode, control plane away).
    stale: std::sync::atomic::AtomicBool,
}

impl ConfigStore {
    /// A store serving `initial`.
    pub fn new(initial: Snapshot) -> Self {
        ConfigStore {
            current: ArcSwap::from_pointee(initial),
            last_error: Mutex::new(None),
            reload_failures: AtomicU64::new(0),
            has_config: std::sync::atomic::AtomicBool::new(true),
            stale: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A store with no configuration yet: `/v1/` answers 503 until [`store`](Self::store).
    pub fn without_config(source: impl Into<String>) -> Self {
        let store = ConfigStore::new(Snapshot::empty(source));
        store.has_config.store(false, Ordering::Relaxed);
        store.stale.store(true, Ordering::Relaxed);
        store
    }

    /// True once any snapshot is live.
    pub fn has_config(&self) -> bool {
        self.has_config.load(Ordering::Relaxed)
    }

    /// True while the live snapshot may be out of date.
    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Relaxed)
    }

    /// Marks the live snapshot as current or possibly out of date.
    pub fn set_stale(&self, stale: bool) {
        self.stale.store(stale, Ordering::Relaxed);
    }

    /// The snapshot to use for one request.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Swaps in a new snapshot and clears the error state.
    pub fn store(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
        self.has_config.store(true, Ordering::Relaxed);
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Records a rejected update; the current snapshot stays live.
    pub fn record_rejection(&self, error: String) {
        self.reload_failures.fetch_add(1, Ordering::Relaxed);
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }

    /// The last rejection, when the live snapshot is older than the source (stale).
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Rejected updates since start.
    pub fn reload_failures(&self) -> u64 {
        self.reload_failures.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PolicyFile;
    use sha2::{Digest, Sha256};

    #[test]
    fn builds_and_authenticates() {
        let doc = PolicyFile::from_yaml(
            "projects: [{id: p1, policy_id: monitor}, {id: p2}]\nkeys: [{id: k1, project_id: p1, key: glitch_sk_aaaaaaaaaaaaaaaaaaaa}]",
        )
        .unwrap()
        .into_document()
        .unwrap();
        let snap = Snapshot::build(doc, 7, "test", &DetectorPack::empty()).unwrap();
        assert_eq!(snap.counts(), (2, 1));
        let good: [u8; 32] = Sha256::digest(b"glitch_sk_aaaaaaaaaaaaaaaaaaaa").into();
        let rec = snap.authenticate(&good).unwrap();
        assert_eq!(rec.id, "k1");
        assert_eq!(rec.project.policy_id, "monitor");
        assert_eq!(snap.project("p2").unwrap().policy_id, "balanced");
        let bad: [u8; 32] = Sha256::digest(b"glitch_sk_bbbbbbbbbbbbbbbbbbbb").into();
        assert_eq!(snap.authenticate(&bad).unwrap_err(), AuthError::Unknown);
    }

    #[test]
    fn store_keeps_old_snapshot_on_rejection() {
        let store = ConfigStore::new(Snapshot::empty("a"));
        store.record_rejection("bad".into());
        assert_eq!(store.load().source, "a");
        assert_eq!(store.last_error().as_deref(), Some("bad"));
        store.store(Snapshot::empty("b"));
        assert_eq!(store.load().source, "b");
        assert_eq!(store.last_error(), None);
        assert_eq!(store.reload_failures(), 1);
    }
}
