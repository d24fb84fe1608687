//! The crate's error type, [`EventLogError`].

use std::path::{Path, PathBuf};

use crate::Position;

/// Everything that can go wrong when writing, reading or pruning an event log.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// An operating-system call on `path` failed.
    #[error("event log I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the failed call was about.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// Another writer (in this process or another one) holds the lock on the
    /// log directory; the path is that of the `LOCK` file.
    #[error("event log is locked by another writer: {}", .0.display())]
    Locked(PathBuf),

    /// A record passed to `append_batch` is larger than
    /// [`MAX_RECORD_BYTES`](crate::MAX_RECORD_BYTES); the value is its size.
    #[error("record of {0} bytes exceeds the maximum record size of {max} bytes", max = crate::MAX_RECORD_BYTES)]
    RecordTooLarge(usize),

    /// An empty record was passed to `append_batch`. Empty records cannot be
    /// stored: a zero length on disk marks corruption (e.g. a zero-filled tail).
    #[error("empty records cannot be appended to the event log")]
    EmptyRecord,

    /// The record at `position` is damaged. A reader that returned this has
    /// already moved on to the start of the next segment.
    #[error("corrupt event log record at {position}: {reason}")]
    Corrupt {
        /// Where the damaged record starts.
        position: Position,
        /// What is wrong with it.
        reason: String,
    },

    /// A position string could not be parsed, or a position lies beyond the
    /// end of the log.
    #[error("bad event log position: {0}")]
    BadPosition(String),

    /// A segment file does not start with the expected magic bytes. A reader
    /// that returned this has already moved on to the next segment.
    #[error("event log segment has a bad header: {}", .0.display())]
    BadHeader(PathBuf),
}

impl EventLogError {
    /// Wraps an `io::Error` with the path it concerns.
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
