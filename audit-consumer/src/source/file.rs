//! The file source: follows the sensor's segment log (`glitch_eventlog::EventLogReader`) on its
//! own thread from the position stored in the index, and attaches the position after each
//! batch to that batch, so the index writes both in one transaction (exactly once: a crash
//! before the commit re-reads the batch, a crash after it resumes after it). Corrupt records
//! the reader reports become dead letters; the reader has already skipped past them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use glitch_eventlog::{EventLogError, EventLogReader, Position};
use tokio::sync::mpsc;

use super::{BatchBuilder, RateLimit, SourceStatus};
use crate::body::BodyEncoder;
use crate::record::{Checkpoint, DeadLetter, Decoded, RecordRef, decode_record_with};
use crate::time::now_ms;

/// How long to wait at the end of the log before looking again, with an empty batch.
const IDLE_POLL: Duration = Duration::from_millis(25);

/// How long to wait after an I/O error before retrying.
const ERROR_BACKOFF: Duration = Duration::from_millis(500);

/// What the file source thread needs.
#[derive(Debug)]
pub struct FileSource {
    /// The log directory.
    pub dir: PathBuf,
    /// The key of this source in `consumer_positions` (also the dead letters' `source`).
    pub key: Arc<str>,
    /// Where to start (the stored position, or the beginning).
    pub start: Position,
    /// Records per batch at most.
    pub batch_size: usize,
}

/// The key a log directory's position is stored under: `file:` and its canonical path (so
/// `./x` and `/abs/x` are the same source).
pub fn source_key(dir: &Path) -> String {
    let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    format!("file:{}", canonical.display())
}

/// Starts the reader thread. It hands batches to `tx` until `stop` is set (then it hands over
/// what it holds and ends) or the receiver is gone.
pub fn spawn(
    source: FileSource,
    tx: mpsc::Sender<crate::record::Batch>,
    stop: Arc<AtomicBool>,
    status: Arc<SourceStatus>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("audit-file-source".into())
        .spawn(move || run(source, &tx, &stop, &status))
}

fn open_reader(
    source: &FileSource,
    from: Position,
    status: &SourceStatus,
) -> Result<EventLogReader, EventLogError> {
    match EventLogReader::open(&source.dir, from) {
        Err(EventLogError::BadPosition(reason)) => {
            // The log was replaced or truncated under us. The index is idempotent by event_id,
            // so reading it again from the start duplicates nothing.
            tracing::warn!(
                dir = %source.dir.display(), stored = %from, %reason,
                "event log: the stored position is not in this log; reading it again from the start"
            );
            status.set_problem(None);
            EventLogReader::open(&source.dir, Position::default())
        }
        other => other,
    }
}

fn run(
    source: FileSource,
    tx: &mpsc::Sender<crate::record::Batch>,
    stop: &AtomicBool,
    status: &SourceStatus,
) {
    let mut builder = BatchBuilder::new(source.key.clone(), source.batch_size);
    // Position of the next record to read (= just after the last one taken into a batch).
    let mut pos = source.start;
    let mut reader: Option<EventLogReader> = None;
    let mut io_log = RateLimit::new(Duration::from_secs(30));
    let mut buf = Vec::new();
    let mut has_problem = false;
    let mut encoder = BodyEncoder::new();
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let mut at_tail = false;
        match reader.as_mut() {
            None => match open_reader(&source, pos, status) {
                Ok(r) => {
                    pos = r.position();
                    reader = Some(r);
                    if has_problem {
                        status.set_problem(None);
                        has_problem = false;
                    }
                    continue;
                }
                Err(e) => {
                    if io_log.ready() {
                        tracing::warn!(dir = %source.dir.display(), error = %e, "event log: cannot open; retrying");
                    }
                    status.set_problem(Some(format!("cannot open the event log: {e}")));
                    has_problem = true;
                    at_tail = true;
                }
            },
            Some(r) => match r.next_record_into(&mut buf) {
                Ok(Some(after)) => {
                    if has_problem {
                        status.set_problem(None);
                        has_problem = false;
                    }
                    builder.push(decode_record_with(
                        &mut encoder,
                        &buf,
                        None,
                        RecordRef::File(pos),
                        now_ms(),
                    ));
                    pos = after;
                }
                Ok(None) => at_tail = true,
                Err(EventLogError::Corrupt { position, reason }) => {
                    tracing::warn!(%position, %reason, "event log: corrupt record; dead-lettered, reading on");
                    builder.push(Decoded::Dead(DeadLetter::new(
                        RecordRef::File(position),
                        None,
                        &[],
                        format!("corrupt event log record: {reason}"),
                        now_ms(),
                    )));
                    pos = r.position();
                }
                Err(EventLogError::BadHeader(path)) => {
                    tracing::warn!(path = %path.display(), "event log: segment with a bad header; dead-lettered, reading on");
                    builder.push(Decoded::Dead(DeadLetter::new(
                        RecordRef::File(pos),
                        None,
                        &[],
                        format!("event log segment {} has a bad header", path.display()),
                        now_ms(),
                    )));
                    pos = r.position();
                }
                Err(e) => {
                    if io_log.ready() {
                        tracing::warn!(dir = %source.dir.display(), error = %e, "event log: read failed; retrying");
                    }
                    status.set_problem(Some(format!("cannot read the event log: {e}")));
                    has_problem = true;
                    std::thread::park_timeout(ERROR_BACKOFF);
                    continue;
                }
            },
        }
        let flush = if stopping {
            !builder.is_empty()
        } else {
            builder.is_due()
        };
        if flush {
            let mut batch = builder.take();
            batch.checkpoint = Some(Checkpoint {
                source: source.key.to_string(),
                position: pos.to_string(),
            });
            if tx.blocking_send(batch).is_err() {
                return;
            }
        }
        if stopping {
            return;
        }
        if at_tail {
            let wait = if builder.is_empty() {
                IDLE_POLL
            } else {
                builder.time_left().min(IDLE_POLL)
            };
            std::thread::park_timeout(wait);
        }
    }
}
