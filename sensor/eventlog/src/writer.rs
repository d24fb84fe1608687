//! [`EventLogWriter`]: the single writer of a log directory (locking, crash
//! recovery, batched durable appends, segment rolling).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::segment::{
    MAX_RECORD_BYTES, ReadOutcome, SEGMENT_HEADER_LEN, SEGMENT_MAGIC, encode_record, list_segments,
    read_full, read_record, segment_path, sync_dir, total_segment_bytes,
};
use crate::{EventLogError, Position};

/// Default size at which the writer moves to a new segment: 64 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Name of the lock file inside the log directory.
pub const LOCK_FILE_NAME: &str = "LOCK";

/// Above this, the reusable encode buffer is released after a batch rather
/// than kept around.
const MAX_RETAINED_SCRATCH: usize = 16 * 1024 * 1024;

/// Tuning for [`EventLogWriter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// Before a batch is appended, the writer starts a new segment if the
    /// current one already holds at least this many bytes (header included).
    pub segment_bytes: u64,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// The one writer of a log directory. See the crate docs for the format.
///
/// Holds an exclusive lock on `DIR/LOCK` until dropped.
pub struct EventLogWriter {
    dir: PathBuf,
    opts: WriterOptions,
    /// Kept open for the lock; closing the file releases it.
    _lock: File,
    file: File,
    segment: u64,
    segment_path: PathBuf,
    /// Length of the current segment up to the last durable record.
    segment_len: u64,
    total_bytes: u64,
    /// Reused encode buffer.
    scratch: Vec<u8>,
    /// A failed append may have left bytes past `segment_len`; they must be
    /// cut off before anything else is written.
    needs_rollback: bool,
}

impl EventLogWriter {
    /// Opens (creating if needed) the log in `dir` for appending.
    ///
    /// Creates `dir` if missing and takes an exclusive lock on `dir/LOCK`
    /// ([`EventLogError::Locked`] if another writer holds it). If the newest
    /// segment ends in a torn, partial or CRC-bad record it is truncated back
    /// to the end of the last good record (logged with `tracing::warn`) and
    /// appends continue in a new segment. The directory is fsynced whenever a
    /// file is created in it.
    pub fn open(dir: &Path, opts: WriterOptions) -> Result<Self, EventLogError> {
        let dir_existed = dir.is_dir();
        fs::create_dir_all(dir).map_err(|e| EventLogError::io(dir, e))?;
        if !dir_existed && let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }

        let (lock, lock_created) = open_lock_file(dir)?;
        let lock_path = dir.join(LOCK_FILE_NAME);
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(EventLogError::Locked(lock_path)),
            Err(fs::TryLockError::Error(e)) => return Err(EventLogError::io(&lock_path, e)),
        }
        if lock_created {
            sync_dir(dir)?;
        }

        let segments = list_segments(dir)?;
        let (file, segment, segment_len, must_roll) = match segments.last() {
            None => {
                let file = create_segment(dir, 0)?;
                (file, 0, SEGMENT_HEADER_LEN, false)
            }
            Some((index, path)) => {
                let (file, len, truncated) = recover_segment(path)?;
                (file, *index, len, truncated)
            }
        };

        let mut writer = Self {
            dir: dir.to_path_buf(),
            opts,
            _lock: lock,
            file,
            segment,
            segment_path: segment_path(dir, segment),
            segment_len,
            total_bytes: 0,
            scratch: Vec::new(),
            needs_rollback: false,
        };
        if must_roll {
            // Readers that hit the bad tail have moved on to the next segment;
            // put new records there so that they see them.
            writer.roll()?;
        }
        writer.total_bytes = total_segment_bytes(dir)?;
        Ok(writer)
    }

    /// Appends `records` in order, with one buffered write and one
    /// `fdatasync`. When it returns `Ok` all of them are durable; the returned
    /// position is just after the last one (the current end if `records` is
    /// empty, in which case nothing is written).
    ///
    /// The batch is validated first: an empty record
    /// ([`EventLogError::EmptyRecord`]) or one above
    /// [`MAX_RECORD_BYTES`] ([`EventLogError::RecordTooLarge`]) fails the whole
    /// batch and nothing is written. If the write or sync fails, the bytes of
    /// the batch are cut off the segment again (retried on the next call if
    /// that fails too).
    pub fn append_batch<I, B>(&mut self, records: I) -> Result<Position, EventLogError>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        if self.needs_rollback {
            self.rollback()?;
        }

        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let result = self.append_encoded(records, &mut buf);
        if buf.capacity() <= MAX_RETAINED_SCRATCH {
            self.scratch = buf;
        }
        result
    }

    fn append_encoded<I, B>(
        &mut self,
        records: I,
        buf: &mut Vec<u8>,
    ) -> Result<Position, EventLogError>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        for record in records {
            let record = record.as_ref();
            if record.is_empty() {
                return Err(EventLogError::EmptyRecord);
            }
            if record.len() > MAX_RECORD_BYTES {
                return Err(EventLogError::RecordTooLarge(record.len()));
            }
            encode_record(buf, record);
        }
        if buf.is_empty() {
            return Ok(self.end_position());
        }

        if self.segment_len >= self.opts.segment_bytes && self.segment_len > SEGMENT_HEADER_LEN {
            self.roll()?;
        }

        if let Err(e) = self
            .file
            .write_all(buf)
            .and_then(|()| self.file.sync_data())
        {
            self.needs_rollback = true;
            if let Err(rollback_err) = self.rollback() {
                tracing::warn!(
                    segment = %self.segment_path.display(),
                    error = %rollback_err,
                    "event log: could not cut a failed append off the segment; will retry"
                );
            }
            return Err(EventLogError::io(&self.segment_path, e));
        }

        let written = buf.len() as u64;
        self.segment_len += written;
        self.total_bytes = self.total_bytes.saturating_add(written);
        Ok(self.end_position())
    }

    /// Position just after the last record written (where the next one goes,
    /// unless the writer rolls to a new segment first).
    pub fn end_position(&self) -> Position {
        Position {
            segment: self.segment,
            offset: self.segment_len,
        }
    }

    /// Bytes held by all segments in the directory.
    ///
    /// Counted from the directory on open and at each segment roll, and kept
    /// up to date incrementally in between (appends,
    /// [`EventLogWriter::delete_segments_before`]). Segments deleted through
    /// the free function [`delete_segments_before`](crate::delete_segments_before)
    /// are noticed at the next roll or [`EventLogWriter::refresh_total_bytes`].
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Recounts [`EventLogWriter::total_bytes`] from the directory.
    pub fn refresh_total_bytes(&mut self) -> Result<u64, EventLogError> {
        self.total_bytes = total_segment_bytes(&self.dir)?;
        Ok(self.total_bytes)
    }

    /// Same as the free function
    /// [`delete_segments_before`](crate::delete_segments_before), keeping
    /// [`EventLogWriter::total_bytes`] exact. Returns bytes freed.
    pub fn delete_segments_before(&mut self, pos: Position) -> Result<u64, EventLogError> {
        let freed = crate::delete_segments_before(&self.dir, pos)?;
        self.total_bytes = self.total_bytes.saturating_sub(freed);
        Ok(freed)
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts the next segment and makes it the current one.
    fn roll(&mut self) -> Result<(), EventLogError> {
        let next = self.segment.checked_add(1).ok_or_else(|| {
            EventLogError::io(
                &self.segment_path,
                io::Error::other("segment index space exhausted"),
            )
        })?;
        // Every append is synced before it returns, so the old segment needs
        // no further sync.
        self.file = create_segment(&self.dir, next)?;
        self.segment = next;
        self.segment_path = segment_path(&self.dir, next);
        self.segment_len = SEGMENT_HEADER_LEN;
        self.total_bytes = match total_segment_bytes(&self.dir) {
            Ok(total) => total,
            Err(e) => {
                tracing::warn!(error = %e, "event log: could not recount segment sizes");
                self.total_bytes.saturating_add(SEGMENT_HEADER_LEN)
            }
        };
        Ok(())
    }

    /// Cuts the current segment back to its last durable record.
    fn rollback(&mut self) -> Result<(), EventLogError> {
        self.file
            .set_len(self.segment_len)
            .and_then(|()| self.file.seek(SeekFrom::Start(self.segment_len)))
            .map_err(|e| EventLogError::io(&self.segment_path, e))?;
        self.needs_rollback = false;
        Ok(())
    }
}

/// Opens `dir/LOCK`, creating it if needed; also says whether it was created.
fn open_lock_file(dir: &Path) -> Result<(File, bool), EventLogError> {
    let path = dir.join(LOCK_FILE_NAME);
    match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(file) => Ok((file, true)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => OpenOptions::new()
            .write(true)
            .open(&path)
            .map(|file| (file, false))
            .map_err(|e| EventLogError::io(&path, e)),
        Err(e) => Err(EventLogError::io(&path, e)),
    }
}

/// Creates segment `index` holding just the header, synced, directory synced.
///
/// An existing file of that name can only be the leftover of a roll that
/// failed half-way (the caller holds the lock and has no records beyond the
/// previous segment), so it is overwritten.
fn create_segment(dir: &Path, index: u64) -> Result<File, EventLogError> {
    let path = segment_path(dir, index);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| EventLogError::io(&path, e))?;
    file.write_all(SEGMENT_MAGIC)
        .and_then(|()| file.sync_data())
        .map_err(|e| EventLogError::io(&path, e))?;
    sync_dir(dir)?;
    Ok(file)
}

/// Opens the newest segment for appending, cutting off a bad tail.
///
/// Returns the file positioned at its end, the length, and whether anything
/// was cut off.
fn recover_segment(path: &Path) -> Result<(File, u64, bool), EventLogError> {
    let io_err = |e| EventLogError::io(path, e);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err)?;
    let file_len = file.metadata().map_err(io_err)?.len();

    if file_len < SEGMENT_HEADER_LEN {
        // Crashed while creating the segment: it holds no records.
        tracing::warn!(
            segment = %path.display(),
            bytes = file_len,
            "event log: newest segment has a torn header; rewriting it"
        );
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(SEGMENT_MAGIC))
            .and_then(|()| file.sync_data())
            .map_err(io_err)?;
        return Ok((file, SEGMENT_HEADER_LEN, false));
    }

    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let got = read_full(&mut file, &mut header).map_err(io_err)?;
    if got < header.len() || &header != SEGMENT_MAGIC {
        return Err(EventLogError::BadHeader(path.to_path_buf()));
    }

    let (good_len, problem) = scan_valid_prefix(&file, file_len).map_err(io_err)?;
    let truncated = good_len < file_len;
    if truncated {
        tracing::warn!(
            segment = %path.display(),
            cut_bytes = file_len - good_len,
            kept_bytes = good_len,
            problem = problem.as_deref().unwrap_or("unknown"),
            "event log: truncating a torn or corrupt tail off the newest segment"
        );
        file.set_len(good_len)
            .and_then(|()| file.sync_data())
            .map_err(io_err)?;
    }
    file.seek(SeekFrom::Start(good_len)).map_err(io_err)?;
    Ok((file, good_len, truncated))
}

/// Walks the records after the header; returns where the last good one ends
/// and, if the file goes on past it, what is wrong there.
fn scan_valid_prefix(file: &File, file_len: u64) -> io::Result<(u64, Option<String>)> {
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    reader.seek(SeekFrom::Start(SEGMENT_HEADER_LEN))?;
    let mut payload = Vec::new();
    let mut good = SEGMENT_HEADER_LEN;
    loop {
        match read_record(&mut reader, &mut payload)? {
            ReadOutcome::Record(n) => good += n,
            ReadOutcome::Eof => return Ok((good, None)),
            ReadOutcome::Partial => {
                return Ok((
                    good,
                    Some(format!("partial record ({} bytes)", file_len - good)),
                ));
            }
            ReadOutcome::Corrupt(reason) => return Ok((good, Some(reason))),
        }
    }
}
