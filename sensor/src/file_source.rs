//! Standalone mode's config source: loads the policy file at start (a bad file stops the
//! sensor with the reason), then watches it by polling its metadata and content hash, which
//! also catches editors that replace the file and Kubernetes ConfigMap symlink swaps. A changed
//! file is parsed, validated and compiled off the request path; a bad one is logged and the
//! previous snapshot stays live.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use glitch_detect::DetectorPack;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use crate::config::{ConfigError, PolicyFile};
use crate::metrics::SensorMetrics;
use crate::snapshot::{ConfigStore, Snapshot};

/// Why the policy file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileSourceError {
    /// The file could not be read.
    #[error("cannot read policy file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is invalid.
    #[error("invalid policy file {path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: ConfigError,
    },
}

/// `file:<path>`, as shown by /health.
pub fn source_label(path: &Path) -> String {
    format!("file:{}", path.display())
}

/// Parses, validates and compiles a policy file's text.
pub fn build_snapshot(
    path: &Path,
    text: &str,
    version: u64,
    pack: &DetectorPack,
    previous: Option<&Snapshot>,
) -> Result<Snapshot, FileSourceError> {
    let invalid = |source| FileSourceError::Invalid {
        path: path.to_owned(),
        source,
    };
    let doc = PolicyFile::from_yaml(text)
        .and_then(PolicyFile::into_document)
        .map_err(invalid)?;
    Snapshot::build_from(doc, version, source_label(path), pack, previous).map_err(invalid)
}

/// Loads the file once, for start-up.
pub fn load_initial(
    path: &Path,
    pack: &DetectorPack,
) -> Result<(Snapshot, [u8; 32]), FileSourceError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileSourceError::Read {
        path: path.to_owned(),
        source,
    })?;
    let hash: [u8; 32] = Sha256::digest(text.as_bytes()).into();
    Ok((build_snapshot(path, &text, 1, pack, None)?, hash))
}

#[derive(PartialEq, Eq, Clone, Copy)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

/// Watches the file and swaps in a new snapshot whenever its content changes.
pub fn spawn_watcher(
    path: PathBuf,
    initial_hash: [u8; 32],
    store: Arc<ConfigStore>,
    pack: DetectorPack,
    interval: Duration,
    metrics: Arc<SensorMetrics>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_hash = initial_hash;
        let mut last_stamp: Option<FileStamp> = None;
        let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(50)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            ticker.tick().await;
            ticks += 1;
            // Every 10th tick re-read the content even when size and mtime look unchanged (a
            // same-length edit within one mtime tick).
            if ticks.is_multiple_of(10) {
                last_stamp = None;
            }
            let stamp = match tokio::fs::metadata(&path).await {
                Ok(meta) => FileStamp {
                    modified: meta.modified().ok(),
                    len: meta.len(),
                },
                Err(e) => {
                    // A file briefly missing during an editor's rename is normal; keep serving.
                    tracing::debug!(path = %path.display(), error = %e, "policy file not readable");
                    continue;
                }
            };
            if last_stamp == Some(stamp) {
                continue;
            }
            let text = match tokio::fs::read_to_string(&path).await {
                Ok(text) => text,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read policy file; keeping the current config");
                    continue;
                }
            };
            last_stamp = Some(stamp);
            let hash: [u8; 32] = Sha256::digest(text.as_bytes()).into();
            if hash == last_hash {
                continue;
            }
            last_hash = hash;
            let previous = store.load();
            let next_version = previous.version + 1;
            let build_path = path.clone();
            let build_pack = pack.clone();
            let built = tokio::task::spawn_blocking(move || {
                build_snapshot(
                    &build_path,
                    &text,
                    next_version,
                    &build_pack,
                    Some(&previous),
                )
            })
            .await;
            match built {
                Ok(Ok(snapshot)) => {
                    let (projects, keys) = snapshot.counts();
                    store.store(snapshot);
                    metrics
                        .config_version
                        .set(i64::try_from(next_version).unwrap_or(i64::MAX));
                    tracing::info!(path = %path.display(), version = next_version, projects, keys, "policy file reloaded");
                }
                Ok(Err(e)) => {
                    metrics.config_reload_failures.inc();
                    tracing::error!(error = %e, "policy file rejected; the previous config stays live");
                    store.record_rejection(e.to_string());
                }
                Err(e) => {
                    metrics.config_reload_failures.inc();
                    tracing::error!(error = %e, "policy file reload task failed; the previous config stays live");
                    store.record_rejection(e.to_string());
                }
            }
        }
    })
}
