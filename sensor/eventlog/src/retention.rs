//! Retention: [`delete_segments_before`] reclaims space once records have
//! been delivered elsewhere.

use std::fs;
use std::io;
use std::path::Path;

use crate::segment::{list_segments, sync_dir};
use crate::{EventLogError, Position};

/// Deletes the whole segments that lie entirely before `pos` (those whose
/// index is below `pos.segment`). The newest segment is never deleted, even if
/// `pos` is past it. Returns the number of bytes freed.
///
/// Safe to call while a writer and readers are running, from any thread or
/// process: readers that still have a deleted segment open keep reading it
/// (on Unix), and readers that need it later start at the oldest remaining
/// segment. An [`EventLogWriter`](crate::EventLogWriter) in the same process
/// notices the freed bytes in
/// [`total_bytes`](crate::EventLogWriter::total_bytes) at its next roll or
/// [`refresh_total_bytes`](crate::EventLogWriter::refresh_total_bytes); use
/// [`EventLogWriter::delete_segments_before`](crate::EventLogWriter::delete_segments_before)
/// to keep it exact right away.
pub fn delete_segments_before(dir: &Path, pos: Position) -> Result<u64, EventLogError> {
    let segments = list_segments(dir)?;
    let Some(&(newest, _)) = segments.last() else {
        return Ok(0);
    };
    let mut freed = 0u64;
    let mut deleted_any = false;
    for (index, path) in segments {
        if index >= pos.segment || index == newest {
            break;
        }
        let len = match fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(EventLogError::io(&path, e)),
        };
        match fs::remove_file(&path) {
            Ok(()) => {
                freed = freed.saturating_add(len);
                deleted_any = true;
                tracing::debug!(segment = %path.display(), bytes = len, "event log: deleted segment");
            }
            // Someone else deleted it first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(EventLogError::io(&path, e)),
        }
    }
    if deleted_any {
        sync_dir(dir)?;
    }
    Ok(freed)
}
