//! [`EventLogReader`]: reads records in order from a position, follows the
//! tail, moves across segments and skips past corruption.

use std::fs::{self, File};
use std::io::{self, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::segment::{
    ReadOutcome, SEGMENT_HEADER_LEN, SEGMENT_MAGIC, list_segments, next_segment_after, read_full,
    read_record, segment_path,
};
use crate::{EventLogError, Position};

const READ_BUFFER_BYTES: usize = 256 * 1024;

/// The segment file the reader is in, positioned at `EventLogReader::pos`.
struct OpenSegment {
    index: u64,
    path: PathBuf,
    reader: BufReader<File>,
}

/// What happened when trying to open the segment at the reader's position.
enum OpenOutcome {
    Opened(OpenSegment),
    /// The segment does not exist yet, or is still being created.
    NotYet,
}

/// Reads a log directory in order; see [`EventLogReader::next_record`].
///
/// Takes no lock: any number of readers, in this process or others, can run
/// alongside the one writer.
pub struct EventLogReader {
    dir: PathBuf,
    /// Where the next record starts.
    pos: Position,
    current: Option<OpenSegment>,
}

impl EventLogReader {
    /// Opens the log in `dir` for reading from `from`.
    ///
    /// `Position::default()` means the very beginning: the first record of the
    /// oldest existing segment. Any other position is normally one returned by
    /// [`EventLogReader::next_record`] or the writer. If it points into a
    /// segment that has been deleted, reading starts at the oldest existing
    /// segment (with a `tracing::warn`). A position beyond the end of the log
    /// or past the end of its segment file is [`EventLogError::BadPosition`].
    /// If `dir` holds no segment yet, the reader waits for the writer to
    /// create one. A missing `dir` is an [`EventLogError::Io`] error.
    pub fn open(dir: &Path, from: Position) -> Result<Self, EventLogError> {
        let segments = list_segments(dir)?;
        let start = match (segments.first(), segments.last()) {
            (Some(&(oldest, _)), Some(&(newest, _))) => {
                if from.segment < oldest {
                    if !is_beginning(from) {
                        tracing::warn!(
                            dir = %dir.display(),
                            requested = %from,
                            oldest_segment = oldest,
                            "event log: requested segment no longer exists; starting at the oldest segment"
                        );
                    }
                    Position::new(oldest, SEGMENT_HEADER_LEN)
                } else if newest.checked_add(1).is_some_and(|after| {
                    // The writer creates segment `newest + 1` next; a reader
                    // that skipped a corrupt tail may already wait at its start.
                    from.segment > after
                        || (from.segment == after && from.offset > SEGMENT_HEADER_LEN)
                }) {
                    return Err(EventLogError::BadPosition(format!(
                        "{from} is beyond the end of the log in {} (newest segment is {newest})",
                        dir.display()
                    )));
                } else {
                    let path = segment_path(dir, from.segment);
                    match fs::metadata(&path) {
                        Ok(meta) if from.offset > meta.len() => {
                            return Err(EventLogError::BadPosition(format!(
                                "{from} is past the end of {} ({} bytes)",
                                path.display(),
                                meta.len()
                            )));
                        }
                        // Missing segments are dealt with when reading.
                        Ok(_) | Err(_) => {}
                    }
                    Position::new(from.segment, from.offset.max(SEGMENT_HEADER_LEN))
                }
            }
            _ => Position::new(from.segment, from.offset.max(SEGMENT_HEADER_LEN)),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            pos: start,
            current: None,
        })
    }

    /// The next record and the position just after it.
    ///
    /// * `Ok(None)`: the reader is at the current end of the log; call again
    ///   later to see records appended since (tail-following). A partial
    ///   record at the end of the newest segment counts as not yet written.
    /// * At the end of a segment that has a newer one, it moves on to it.
    /// * `Err(EventLogError::Corrupt { .. })` or `Err(EventLogError::BadHeader(..))`:
    ///   damaged data, reported once; the reader has already skipped to the
    ///   start of the next segment, so just log it and call again.
    /// * `Err(EventLogError::Io { .. })`: the reader stays where it was; the
    ///   call can be retried.
    pub fn next_record(&mut self) -> Result<Option<(Vec<u8>, Position)>, EventLogError> {
        let mut payload = Vec::new();
        Ok(self
            .next_record_into(&mut payload)?
            .map(|pos| (payload, pos)))
    }

    /// Like [`EventLogReader::next_record`], but reads the payload into `buf`
    /// (replacing its contents, reusing its allocation) and returns only the
    /// position just after the record.
    pub fn next_record_into(
        &mut self,
        buf: &mut Vec<u8>,
    ) -> Result<Option<Position>, EventLogError> {
        loop {
            // Taken out while in use: on an I/O error it is dropped, and the
            // next call reopens it at `self.pos`.
            let mut segment = match self.current.take() {
                Some(segment) => segment,
                None => match self.open_segment()? {
                    OpenOutcome::Opened(segment) => segment,
                    OpenOutcome::NotYet => return Ok(None),
                },
            };
            let outcome = read_record(&mut segment.reader, buf)
                .map_err(|e| EventLogError::io(&segment.path, e))?;
            match outcome {
                ReadOutcome::Record(len) => {
                    self.pos.offset += len;
                    self.current = Some(segment);
                    return Ok(Some(self.pos));
                }
                ReadOutcome::Corrupt(reason) => {
                    let at = self.pos;
                    self.skip_past(segment.index)?;
                    return Err(EventLogError::Corrupt {
                        position: at,
                        reason,
                    });
                }
                ReadOutcome::Eof | ReadOutcome::Partial => {
                    // Only the newest segment can still grow. The writer
                    // finishes writing a segment before it creates the next
                    // one, so once a newer segment exists this one is final
                    // and is read once more to tell its end from a torn record.
                    let Some(next) = next_segment_after(&self.dir, segment.index)? else {
                        if outcome == ReadOutcome::Partial {
                            seek(&mut segment, self.pos.offset)?;
                        }
                        self.current = Some(segment);
                        return Ok(None);
                    };
                    seek(&mut segment, self.pos.offset)?;
                    match read_record(&mut segment.reader, buf)
                        .map_err(|e| EventLogError::io(&segment.path, e))?
                    {
                        ReadOutcome::Record(len) => {
                            self.pos.offset += len;
                            self.current = Some(segment);
                            return Ok(Some(self.pos));
                        }
                        ReadOutcome::Eof => {
                            self.pos = Position::new(next, SEGMENT_HEADER_LEN);
                        }
                        ReadOutcome::Partial => {
                            let at = self.pos;
                            self.pos = Position::new(next, SEGMENT_HEADER_LEN);
                            return Err(EventLogError::Corrupt {
                                position: at,
                                reason: "segment ends inside a record".to_owned(),
                            });
                        }
                        ReadOutcome::Corrupt(reason) => {
                            let at = self.pos;
                            self.pos = Position::new(next, SEGMENT_HEADER_LEN);
                            return Err(EventLogError::Corrupt {
                                position: at,
                                reason,
                            });
                        }
                    }
                }
            }
        }
    }

    /// Position of the next record to read (just after the last one
    /// returned): store it as a checkpoint and pass it to
    /// [`EventLogReader::open`] to resume.
    pub fn position(&self) -> Position {
        self.pos
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves to the start of the segment after `index` (the next existing
    /// one, or `index + 1` to be waited for).
    fn skip_past(&mut self, index: u64) -> Result<(), EventLogError> {
        self.current = None;
        let next = match next_segment_after(&self.dir, index)? {
            Some(next) => next,
            None => index.saturating_add(1),
        };
        self.pos = Position::new(next, SEGMENT_HEADER_LEN);
        Ok(())
    }

    /// Opens the segment `self.pos` is in, checks its header and seeks to
    /// `self.pos.offset`. If that segment is gone, moves on to the next
    /// existing one.
    fn open_segment(&mut self) -> Result<OpenOutcome, EventLogError> {
        loop {
            let index = self.pos.segment;
            let path = segment_path(&self.dir, index);
            let mut file = match File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let Some(next) = list_segments(&self.dir)?
                        .into_iter()
                        .map(|(i, _)| i)
                        .find(|&i| i > index)
                    else {
                        return Ok(OpenOutcome::NotYet);
                    };
                    if !is_beginning(self.pos) {
                        tracing::warn!(
                            dir = %self.dir.display(),
                            missing = %self.pos,
                            next_segment = next,
                            "event log: segment no longer exists; continuing with the next existing segment"
                        );
                    }
                    self.pos = Position::new(next, SEGMENT_HEADER_LEN);
                    continue;
                }
                Err(e) => return Err(EventLogError::io(&path, e)),
            };

            let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
            let got = read_full(&mut file, &mut header).map_err(|e| EventLogError::io(&path, e))?;
            if got < header.len() {
                // Being created, or (if a newer segment exists) damaged.
                if next_segment_after(&self.dir, index)?.is_none() {
                    return Ok(OpenOutcome::NotYet);
                }
                let len = fs::metadata(&path)
                    .map_err(|e| EventLogError::io(&path, e))?
                    .len();
                if len < SEGMENT_HEADER_LEN {
                    self.skip_past(index)?;
                    return Err(EventLogError::BadHeader(path));
                }
                // The header was completed meanwhile: start over.
                continue;
            }
            if &header != SEGMENT_MAGIC {
                self.skip_past(index)?;
                return Err(EventLogError::BadHeader(path));
            }

            let offset = self.pos.offset.max(SEGMENT_HEADER_LEN);
            let mut segment = OpenSegment {
                index,
                path,
                reader: BufReader::with_capacity(READ_BUFFER_BYTES, file),
            };
            if offset != SEGMENT_HEADER_LEN {
                seek(&mut segment, offset)?;
            }
            self.pos.offset = offset;
            return Ok(OpenOutcome::Opened(segment));
        }
    }
}

/// `Position::default()` and the first record of segment 0 both mean "from
/// the very beginning": starting later because old segments are gone is
/// expected then, not worth a warning.
fn is_beginning(pos: Position) -> bool {
    pos.segment == 0 && pos.offset <= SEGMENT_HEADER_LEN
}

fn seek(segment: &mut OpenSegment, offset: u64) -> Result<(), EventLogError> {
    segment
        .reader
        .seek(SeekFrom::Start(offset))
        .map(|_| ())
        .map_err(|e| EventLogError::io(&segment.path, e))
}
