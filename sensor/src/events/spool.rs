//! The Kafka mode's disk spool: every event is first appended (durably) to a segment log in
//! `STATE_DIR/spool`, and the forwarder delivers it to Kafka from there, in order. This module
//! holds the spool's record framing (the Kafka key travels with the event), the file that
//! remembers how far delivery got, and the state shared by the writer thread, the forwarder and
//! `/health` (size, backlog, cap, Kafka status). The forwarder itself lives in `kafka.rs`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use glitch_eventlog::{EventLogError, EventLogReader, Position};

/// Spool segments are small so delivered data is reclaimed promptly.
pub const SPOOL_SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

/// Name of the file holding the delivered position, inside the spool directory.
pub const DELIVERED_FILE: &str = "DELIVERED";

/// Version byte of the spool record frame.
const FRAME_VERSION: u8 = 1;

/// Frames one spooled record: `[version u8][key length u16 LE][key][SecurityEvent protobuf]`.
pub fn encode_frame(key: &str, event: &[u8]) -> Vec<u8> {
    let key = truncate_key(key);
    let mut out = Vec::with_capacity(3 + key.len() + event.len());
    out.push(FRAME_VERSION);
    // `truncate_key` keeps it within u16.
    out.extend_from_slice(&(key.len() as u16).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(event);
    out
}

/// Splits a spooled record into its Kafka key and value; `None` for a frame this build cannot
/// read.
pub fn decode_frame(record: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&version, rest) = record.split_first()?;
    if version != FRAME_VERSION || rest.len() < 2 {
        return None;
    }
    let key_len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
    let rest = &rest[2..];
    if rest.len() < key_len {
        return None;
    }
    Some(rest.split_at(key_len))
}

/// Keys are session or event ids; anything absurdly long is cut at a char boundary.
fn truncate_key(key: &str) -> &str {
    const MAX_KEY: usize = 1024;
    if key.len() <= MAX_KEY {
        return key;
    }
    let mut end = MAX_KEY;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    &key[..end]
}

/// Reads the delivered position; the beginning of the spool when there is none yet.
pub fn read_delivered(dir: &Path) -> Position {
    let path = dir.join(DELIVERED_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => match text.trim().parse() {
            Ok(position) => position,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "unreadable spool position; delivering the whole spool again (duplicates are dropped by the audit index)");
                Position::default()
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Position::default(),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot read spool position; delivering the whole spool again");
            Position::default()
        }
    }
}

/// Stores the delivered position (write to a temp file, fsync, rename).
pub fn write_delivered(dir: &Path, position: Position) -> std::io::Result<()> {
    let tmp = dir.join(format!("{DELIVERED_FILE}.tmp"));
    {
        let mut file = fs::File::create(&tmp)?;
        writeln!(file, "{position}")?;
        file.sync_data()?;
    }
    fs::rename(&tmp, dir.join(DELIVERED_FILE))
}

/// Counts the records between `from` and the current end of the spool (startup backlog).
pub fn count_records(dir: &Path, from: Position) -> Result<u64, EventLogError> {
    let mut reader = match EventLogReader::open(dir, from) {
        Ok(reader) => reader,
        Err(EventLogError::BadPosition(_)) => EventLogReader::open(dir, Position::default())?,
        Err(e) => return Err(e),
    };
    let mut count = 0u64;
    let mut buf = Vec::new();
    loop {
        match reader.next_record_into(&mut buf) {
            Ok(Some(_)) => count += 1,
            Ok(None) => return Ok(count),
            // Corrupt records are skipped by the reader; the forwarder logs them.
            Err(EventLogError::Corrupt { .. } | EventLogError::BadHeader(_)) => {}
            Err(e) => return Err(e),
        }
    }
}

/// What happens to an event given the spool's size, decided by the writer thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpoolAdmission {
    /// Spool it whole.
    Whole,
    /// The spool is at its cap: spool it without its stored conversation.
    WithoutConversation,
    /// The spool is past its cap's 10% headroom: the event is dropped (and counted).
    Drop,
}

/// State shared by the writer thread, the forwarder and `/health`.
#[derive(Debug)]
pub struct SpoolShared {
    /// The spool directory.
    pub dir: PathBuf,
    /// Bytes held by spool segments.
    pub bytes: AtomicU64,
    /// Events spooled and not yet delivered.
    pub events: AtomicU64,
    /// `--spool-max-bytes`.
    pub cap: u64,
    /// True while at or over the cap.
    pub full: AtomicBool,
    /// Set when the writer has drained its queue and stopped (shutdown).
    pub writer_done: AtomicBool,
    /// Rings the forwarder when records were appended (or the writer stopped).
    pub doorbell: tokio::sync::Notify,
    /// True while deliveries to Kafka fail.
    pub kafka_failing: AtomicBool,
    /// The last delivery error, for `/health`.
    pub last_error: Mutex<Option<String>>,
    /// `kafka://...` as configured (no credentials are ever part of it).
    pub label: String,
}

impl SpoolShared {
    /// Fresh state for a spool in `dir` with the given cap.
    pub fn new(dir: PathBuf, cap: u64, label: String) -> Self {
        SpoolShared {
            dir,
            bytes: AtomicU64::new(0),
            events: AtomicU64::new(0),
            cap,
            full: AtomicBool::new(false),
            writer_done: AtomicBool::new(false),
            doorbell: tokio::sync::Notify::new(),
            kafka_failing: AtomicBool::new(false),
            last_error: Mutex::new(None),
            label,
        }
    }

    /// Where the next event goes, given the spool's current size plus `pending` bytes of the
    /// batch being built.
    pub fn admission(&self, pending: u64) -> SpoolAdmission {
        let bytes = self.bytes.load(Ordering::Relaxed).saturating_add(pending);
        if bytes < self.cap {
            SpoolAdmission::Whole
        } else if bytes < self.cap.saturating_add(self.cap / 10) {
            SpoolAdmission::WithoutConversation
        } else {
            SpoolAdmission::Drop
        }
    }

    /// Records a delivery failure for `/health`.
    pub fn set_error(&self, error: String) {
        self.kafka_failing.store(true, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error);
        }
    }

    /// The last delivery error.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|last| last.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let framed = encode_frame("session-1", b"\x0a\x03abc");
        let (key, value) = decode_frame(&framed).unwrap();
        assert_eq!(key, b"session-1");
        assert_eq!(value, b"\x0a\x03abc");
        let framed = encode_frame("", b"x");
        assert_eq!(decode_frame(&framed).unwrap(), (&b""[..], &b"x"[..]));
    }

    #[test]
    fn bad_frames_are_refused() {
        assert!(decode_frame(b"").is_none());
        assert!(decode_frame(&[2, 0, 0]).is_none());
        assert!(decode_frame(&[1, 9]).is_none());
        assert!(decode_frame(&[1, 9, 0, b'a']).is_none());
    }

    #[test]
    fn long_keys_are_cut_on_a_char_boundary() {
        let key = "é".repeat(600);
        let framed = encode_frame(&key, b"v");
        let (k, v) = decode_frame(&framed).unwrap();
        assert!(k.len() <= 1024);
        assert!(std::str::from_utf8(k).is_ok());
        assert_eq!(v, b"v");
    }

    #[test]
    fn admission_follows_the_cap() {
        let shared = SpoolShared::new(PathBuf::from("/nonexistent"), 1000, "kafka://x/t".into());
        assert_eq!(shared.admission(0), SpoolAdmission::Whole);
        shared.bytes.store(1000, Ordering::Relaxed);
        assert_eq!(shared.admission(0), SpoolAdmission::WithoutConversation);
        shared.bytes.store(1099, Ordering::Relaxed);
        assert_eq!(shared.admission(0), SpoolAdmission::WithoutConversation);
        assert_eq!(shared.admission(1), SpoolAdmission::Drop);
        shared.bytes.store(1100, Ordering::Relaxed);
        assert_eq!(shared.admission(0), SpoolAdmission::Drop);
    }

    #[test]
    fn delivered_position_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_delivered(dir.path()), Position::default());
        write_delivered(dir.path(), Position::new(3, 4096)).unwrap();
        assert_eq!(read_delivered(dir.path()), Position::new(3, 4096));
        fs::write(dir.path().join(DELIVERED_FILE), "garbage").unwrap();
        assert_eq!(read_delivered(dir.path()), Position::default());
    }
}
