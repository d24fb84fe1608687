//! Segment files: naming, listing, the header, record framing and directory
//! fsync, shared by the writer, the reader and retention.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::EventLogError;

/// The 8 bytes every segment file starts with.
pub const SEGMENT_MAGIC: &[u8; 8] = b"GLEVLOG1";

/// Length of the segment header (the magic); the first record of a segment
/// starts at this offset.
pub const SEGMENT_HEADER_LEN: u64 = 8;

/// Length of a record's frame header: `len: u32 LE` then `crc: u32 LE`.
pub const RECORD_HEADER_LEN: usize = 8;

/// Largest payload a record may have (16 MiB).
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

const SEGMENT_SUFFIX: &str = ".seg";
const INDEX_DIGITS: usize = 20;

/// File name of the segment with this index: `{index:020}.seg`.
pub fn segment_file_name(index: u64) -> String {
    format!("{index:020}{SEGMENT_SUFFIX}")
}

pub(crate) fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(segment_file_name(index))
}

/// Parses a segment file name back into its index; `None` for any other name.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != INDEX_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// All segment files in `dir`, sorted by index.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, EventLogError> {
    let entries = fs::read_dir(dir).map_err(|e| EventLogError::io(dir, e))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| EventLogError::io(dir, e))?;
        let name = entry.file_name();
        let Some(index) = name.to_str().and_then(parse_segment_file_name) else {
            continue;
        };
        segments.push((index, entry.path()));
    }
    segments.sort_unstable_by_key(|(index, _)| *index);
    Ok(segments)
}

/// Smallest existing segment index strictly greater than `index`.
pub(crate) fn next_segment_after(dir: &Path, index: u64) -> Result<Option<u64>, EventLogError> {
    // The writer creates index + 1; a cheap stat covers the common case.
    if let Some(next) = index.checked_add(1) {
        match fs::symlink_metadata(segment_path(dir, next)) {
            Ok(_) => return Ok(Some(next)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(EventLogError::io(&segment_path(dir, next), e)),
        }
    }
    // Segments in between may have been deleted: look at the whole directory.
    Ok(list_segments(dir)?
        .into_iter()
        .map(|(i, _)| i)
        .find(|&i| i > index))
}

/// Sum of the sizes of all segment files in `dir`.
pub(crate) fn total_segment_bytes(dir: &Path) -> Result<u64, EventLogError> {
    let mut total = 0u64;
    for (_, path) in list_segments(dir)? {
        match fs::metadata(&path) {
            Ok(meta) => total = total.saturating_add(meta.len()),
            // Deleted between listing and stat.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(EventLogError::io(&path, e)),
        }
    }
    Ok(total)
}

/// Makes entries created in (or removed from) `dir` durable.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> Result<(), EventLogError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| EventLogError::io(dir, e))
}

/// Directories cannot be fsynced portably outside Unix; NTFS journals
/// metadata itself.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> Result<(), EventLogError> {
    Ok(())
}

/// Appends the framed record (`len`, `crc`, payload) to `buf`. The caller has
/// checked that the payload is non-empty and at most [`MAX_RECORD_BYTES`].
pub(crate) fn encode_record(buf: &mut Vec<u8>, payload: &[u8]) {
    // MAX_RECORD_BYTES < u32::MAX, so this never saturates for valid input.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    buf.extend_from_slice(payload);
}

/// What [`read_record`] found at the reader's current place.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadOutcome {
    /// A good record, now in the buffer; the value is its framed size.
    Record(u64),
    /// Nothing at all: the file ends exactly here.
    Eof,
    /// The file ends inside a record (header or payload).
    Partial,
    /// The bytes here cannot be a record written by the writer.
    Corrupt(String),
}

/// Reads until `buf` is full or the input ends; returns how much was read.
pub(crate) fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads one framed record into `payload` (whose allocation is reused).
///
/// After anything but [`ReadOutcome::Record`] the reader may have consumed
/// part of the bytes; callers seek back if they want to retry.
pub(crate) fn read_record<R: Read>(
    reader: &mut R,
    payload: &mut Vec<u8>,
) -> io::Result<ReadOutcome> {
    let mut header = [0u8; RECORD_HEADER_LEN];
    match read_full(reader, &mut header)? {
        0 => return Ok(ReadOutcome::Eof),
        n if n < RECORD_HEADER_LEN => return Ok(ReadOutcome::Partial),
        _ => {}
    }
    let [l0, l1, l2, l3, c0, c1, c2, c3] = header;
    let len = u32::from_le_bytes([l0, l1, l2, l3]);
    let stored_crc = u32::from_le_bytes([c0, c1, c2, c3]);
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len == 0 {
        return Ok(ReadOutcome::Corrupt("zero record length".to_owned()));
    }
    if len > MAX_RECORD_BYTES {
        return Ok(ReadOutcome::Corrupt(format!(
            "record length {len} exceeds the maximum of {MAX_RECORD_BYTES}"
        )));
    }
    payload.clear();
    payload.resize(len, 0);
    if read_full(reader, payload)? < len {
        return Ok(ReadOutcome::Partial);
    }
    let crc = crc32fast::hash(payload);
    if crc != stored_crc {
        return Ok(ReadOutcome::Corrupt(format!(
            "crc mismatch: stored {stored_crc:08x}, computed {crc:08x}"
        )));
    }
    // len <= 16 MiB, so these conversions are exact.
    Ok(ReadOutcome::Record((RECORD_HEADER_LEN + len) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        assert_eq!(segment_file_name(0), "00000000000000000000.seg");
        assert_eq!(segment_file_name(17), "00000000000000000017.seg");
        for index in [0, 1, 12345, u64::MAX] {
            assert_eq!(
                parse_segment_file_name(&segment_file_name(index)),
                Some(index)
            );
        }
        for other in [
            "LOCK",
            "1.seg",
            "0000000000000000000a.seg",
            "00000000000000000001.seg.tmp",
            "99999999999999999999.seg",
        ] {
            assert_eq!(parse_segment_file_name(other), None, "{other}");
        }
    }

    #[test]
    fn record_framing() {
        let mut buf = Vec::new();
        encode_record(&mut buf, b"hello");
        encode_record(&mut buf, b"world!");
        assert_eq!(buf.len(), 2 * RECORD_HEADER_LEN + 11);

        let mut cursor = io::Cursor::new(&buf);
        let mut payload = Vec::new();
        assert_eq!(
            read_record(&mut cursor, &mut payload).unwrap(),
            ReadOutcome::Record(13)
        );
        assert_eq!(payload, b"hello");
        assert_eq!(
            read_record(&mut cursor, &mut payload).unwrap(),
            ReadOutcome::Record(14)
        );
        assert_eq!(payload, b"world!");
        assert_eq!(
            read_record(&mut cursor, &mut payload).unwrap(),
            ReadOutcome::Eof
        );

        // Truncated header and truncated payload.
        for cut in [3, RECORD_HEADER_LEN + 2] {
            let mut cursor = io::Cursor::new(&buf[..cut]);
            assert_eq!(
                read_record(&mut cursor, &mut payload).unwrap(),
                ReadOutcome::Partial
            );
        }

        // Flipped payload bit, zero length, absurd length.
        let mut bad = buf.clone();
        bad[RECORD_HEADER_LEN] ^= 1;
        assert!(matches!(
            read_record(&mut io::Cursor::new(&bad), &mut payload).unwrap(),
            ReadOutcome::Corrupt(_)
        ));
        let zeros = [0u8; 32];
        assert!(matches!(
            read_record(&mut io::Cursor::new(&zeros[..]), &mut payload).unwrap(),
            ReadOutcome::Corrupt(_)
        ));
        let mut huge = buf.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            read_record(&mut io::Cursor::new(&huge), &mut payload).unwrap(),
            ReadOutcome::Corrupt(_)
        ));
    }
}
