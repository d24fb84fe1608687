//! `glitch-eventlog`: an embedded, durable, append-only log of opaque records.
//!
//! The sensor writes one record per security event (a protobuf-encoded
//! `SecurityEvent`, although this crate only sees bytes) through a single
//! [`EventLogWriter`]; the audit consumer and the sensor's spool forwarder read
//! them back in order with [`EventLogReader`], and [`delete_segments_before`]
//! reclaims space once records have been delivered elsewhere.
//!
//! Everything is plain blocking `std::fs`: run the writer on a dedicated thread
//! and readers on their own threads (or `spawn_blocking`).
//!
//! ```
//! use glitch_eventlog::{EventLogReader, EventLogWriter, Position, WriterOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! # let dir = tmp.path();
//! let mut writer = EventLogWriter::open(dir, WriterOptions::default())?;
//! writer.append_batch([b"event one".as_slice(), b"event two".as_slice()])?;
//!
//! let mut reader = EventLogReader::open(dir, Position::default())?;
//! let mut checkpoint = Position::default();
//! while let Some((payload, after)) = reader.next_record()? {
//!     // ... handle `payload` ...
//!     checkpoint = after;
//! }
//! // Store `checkpoint.to_string()`; resume later with
//! // `EventLogReader::open(dir, stored.parse()?)`.
//! assert_eq!(checkpoint, writer.end_position());
//! # Ok(())
//! # }
//! ```
//!
//! # On-disk format
//!
//! A log is a directory holding:
//!
//! * `LOCK`: an empty file on which the single writer holds an exclusive
//!   advisory lock (`File::try_lock`) for as long as it is open. Readers never
//!   take it.
//! * Segment files named `{index:020}.seg` (`00000000000000000000.seg`,
//!   `00000000000000000001.seg`, ...). The index starts at 0 and grows by one
//!   for each new segment; older segments may have been deleted, so the oldest
//!   existing index can be above 0. Files with other names are ignored.
//!
//! Each segment is:
//!
//! ```text
//! +----------------------+
//! | magic "GLEVLOG1"     |  8 bytes (SEGMENT_HEADER_LEN)
//! +----------------------+
//! | record 0             |
//! | record 1             |
//! | ...                  |
//! +----------------------+
//!
//! record = [len: u32 LE][crc: u32 LE][payload: len bytes]
//! ```
//!
//! `crc` is the CRC-32 (IEEE, as computed by `crc32fast`) of the payload alone.
//! `len` is between 1 and [`MAX_RECORD_BYTES`] (16 MiB): empty records are
//! refused on append and a zero `len` on disk is corruption, so a zero-filled
//! tail left by a crash is never mistaken for records.
//!
//! A [`Position`] is `(segment index, byte offset inside that segment file)`,
//! the header included, so the first record of a segment is at offset 8. It is
//! written `segment:offset` (see its `Display`/`FromStr`) so a consumer can keep
//! it as a checkpoint string. Positions returned by the reader and writer
//! always point just *after* a record, i.e. at the next record to read.
//!
//! # Writing and durability
//!
//! [`EventLogWriter::append_batch`] encodes a whole batch into one buffer,
//! issues one `write_all` and one `fdatasync`; when it returns `Ok` every record
//! of the batch is durable. A batch that fails validation (too large, empty
//! record) writes nothing; a batch whose write or sync fails is cut back off the
//! file. The writer moves to a new segment before a batch once the current one
//! holds at least [`WriterOptions::segment_bytes`] bytes, so a segment can
//! exceed that size by at most one batch.
//!
//! On open the writer recovers from a crash: if the newest segment ends in a
//! torn, partial or CRC-bad record, the file is truncated back to the end of
//! the last good record and new appends go to a fresh segment (so that a
//! reader that already reported the bad tail and moved on misses nothing).
//! New files are followed by an fsync of the directory.
//!
//! # Reading
//!
//! Readers follow the tail: at the current end [`EventLogReader::next_record`]
//! returns `Ok(None)` and a later call sees what was appended since. A partial
//! record at the end of the newest segment is "not yet written". A corrupt
//! record (bad CRC, impossible length, truncated record in a sealed segment,
//! bad segment header) is reported once as an error, and the reader then
//! skips to the start of the next segment, so poison data never stops the
//! stream.
//!
//! # Delivery semantics
//!
//! At least once: a crash (or an I/O error) in the middle of a batch may leave
//! some of its complete records in the log although `append_batch` did not
//! return `Ok`, and a caller that retries will write them again.

mod error;
mod position;
mod reader;
mod retention;
mod segment;
mod writer;

#[cfg(test)]
mod tests;

pub use error::EventLogError;
pub use position::Position;
pub use reader::EventLogReader;
pub use retention::delete_segments_before;
pub use segment::{
    MAX_RECORD_BYTES, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SEGMENT_MAGIC, segment_file_name,
};
pub use writer::{DEFAULT_SEGMENT_BYTES, EventLogWriter, LOCK_FILE_NAME, WriterOptions};
