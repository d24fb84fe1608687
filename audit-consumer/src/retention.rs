//! The retention task (`--retention`): at start and every minute, removes events older than
//! now − retention (with their detector rows), sessions whose last activity is older, and old
//! dead letters, in chunks of [`CHUNK_ROWS`] rows per short transaction with a pause between
//! chunks, so the ingest writer never waits long for the write lock.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::index::Index;
use crate::index::retention::RetentionKind;
use crate::metrics::{Metrics, RetentionLabels};
use crate::time::now_ms;

/// Rows deleted per transaction at most.
pub const CHUNK_ROWS: i64 = 2000;

/// Time between passes.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// Pause between two chunks.
const CHUNK_PAUSE: Duration = Duration::from_millis(5);

/// Runs passes until `stop` turns true.
pub async fn run(
    index: Index,
    retention: Duration,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let keep_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    loop {
        let cutoff = now_ms().saturating_sub(keep_ms);
        match prune(&index, cutoff, &metrics, &stop).await {
            Ok(total) if total > 0 => {
                tracing::info!(
                    deleted = total,
                    retention_secs = retention.as_secs(),
                    "retention: old rows removed"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention pass failed; retrying in a minute"),
        }
        tokio::select! {
            () = tokio::time::sleep(INTERVAL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One pass: every kind, chunk by chunk, until a chunk comes back short.
pub async fn prune(
    index: &Index,
    cutoff_ms: i64,
    metrics: &Metrics,
    stop: &watch::Receiver<bool>,
) -> Result<u64, crate::index::IndexError> {
    let mut total = 0u64;
    for kind in RetentionKind::ALL {
        loop {
            if *stop.borrow() {
                return Ok(total);
            }
            let n = index.delete_chunk(kind, cutoff_ms, CHUNK_ROWS).await?;
            total += n;
            metrics
                .retention_deleted
                .get_or_create(&RetentionLabels {
                    table: kind.as_str(),
                })
                .inc_by(n);
            if n < u64::try_from(CHUNK_ROWS).unwrap_or(u64::MAX) {
                break;
            }
            tokio::time::sleep(CHUNK_PAUSE).await;
        }
    }
    Ok(total)
}
