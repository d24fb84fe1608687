//! Behaviour tests of writer, reader and retention working together on a real
//! directory.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::segment::{list_segments, segment_path};
use crate::{
    EventLogError, EventLogReader, EventLogWriter, LOCK_FILE_NAME, MAX_RECORD_BYTES, Position,
    RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, WriterOptions, delete_segments_before,
};

fn record(i: usize) -> Vec<u8> {
    // Varying lengths, recognisable content.
    let mut r = format!("event-{i:06}-").into_bytes();
    r.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, i % 97));
    r
}

fn records(range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    range.map(record).collect()
}

fn tiny() -> WriterOptions {
    WriterOptions { segment_bytes: 300 }
}

/// Reads until `Ok(None)`, failing on any error.
fn drain(reader: &mut EventLogReader) -> Vec<(Vec<u8>, Position)> {
    let mut out = Vec::new();
    while let Some(item) = reader.next_record().unwrap() {
        out.push(item);
    }
    out
}

fn payloads(items: &[(Vec<u8>, Position)]) -> Vec<Vec<u8>> {
    items.iter().map(|(p, _)| p.clone()).collect()
}

fn segment_indexes(dir: &Path) -> Vec<u64> {
    list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|(i, _)| i)
        .collect()
}

fn newest_segment(dir: &Path) -> PathBuf {
    list_segments(dir).unwrap().pop().unwrap().1
}

fn dir_segment_bytes(dir: &Path) -> u64 {
    list_segments(dir)
        .unwrap()
        .iter()
        .map(|(_, p)| fs::metadata(p).unwrap().len())
        .sum()
}

#[test]
fn write_read_reopen_and_resume_from_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("events");

    let mut writer = EventLogWriter::open(&dir, WriterOptions::default()).unwrap();
    assert!(dir.join(LOCK_FILE_NAME).exists());
    assert_eq!(writer.dir(), dir);
    assert_eq!(writer.end_position(), Position::new(0, SEGMENT_HEADER_LEN));
    let mut expected = Vec::new();
    let mut batch_ends = Vec::new();
    for batch in [0..10, 10..11, 11..40, 40..100] {
        let recs = records(batch);
        expected.extend(recs.iter().cloned());
        batch_ends.push(writer.append_batch(&recs).unwrap());
    }
    assert_eq!(writer.end_position(), *batch_ends.last().unwrap());
    assert_eq!(writer.total_bytes(), dir_segment_bytes(&dir));
    // An empty batch writes nothing.
    let empty: [&[u8]; 0] = [];
    assert_eq!(writer.append_batch(empty).unwrap(), writer.end_position());

    let mut reader = EventLogReader::open(&dir, Position::default()).unwrap();
    let got = drain(&mut reader);
    assert_eq!(payloads(&got), expected);
    // Positions: strictly increasing, each just after its record.
    let mut prev = Position::new(0, SEGMENT_HEADER_LEN);
    for (payload, pos) in &got {
        assert_eq!(pos.segment, 0);
        assert_eq!(
            pos.offset,
            prev.offset + (RECORD_HEADER_LEN + payload.len()) as u64
        );
        prev = *pos;
    }
    for end in &batch_ends {
        assert!(got.iter().any(|(_, p)| p == end));
    }
    assert_eq!(reader.position(), writer.end_position());
    let checkpoint = reader.position().to_string();

    // Reopen the writer and append more.
    drop(writer);
    let mut writer = EventLogWriter::open(&dir, WriterOptions::default()).unwrap();
    assert_eq!(writer.end_position(), checkpoint.parse().unwrap());
    let later = records(100..150);
    writer.append_batch(&later).unwrap();
    expected.extend(later.iter().cloned());
    assert_eq!(writer.total_bytes(), dir_segment_bytes(&dir));

    // The first reader continues with the new records.
    assert_eq!(payloads(&drain(&mut reader)), later);

    // A second reader resumed from the stored checkpoint sees only the later ones.
    let mut resumed = EventLogReader::open(&dir, checkpoint.parse().unwrap()).unwrap();
    assert_eq!(payloads(&drain(&mut resumed)), later);

    // A reader from the start sees everything, and next_record_into agrees.
    let mut again = EventLogReader::open(&dir, Position::default()).unwrap();
    let mut buf = Vec::new();
    let mut n = 0;
    while let Some(pos) = again.next_record_into(&mut buf).unwrap() {
        assert_eq!(buf, expected[n]);
        assert_eq!(pos, again.position());
        n += 1;
    }
    assert_eq!(n, expected.len());
}

#[test]
fn segments_roll_and_old_ones_can_be_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut writer = EventLogWriter::open(dir, tiny()).unwrap();
    let mut expected = Vec::new();
    for start in (0..200).step_by(4) {
        let recs = records(start..start + 4);
        expected.extend(recs.iter().cloned());
        writer.append_batch(&recs).unwrap();
        assert_eq!(writer.total_bytes(), dir_segment_bytes(dir));
    }
    let indexes = segment_indexes(dir);
    assert!(indexes.len() > 10, "only {} segments", indexes.len());
    assert_eq!(indexes, (0..indexes.len() as u64).collect::<Vec<_>>());
    assert_eq!(writer.end_position().segment, *indexes.last().unwrap());
    for (_, path) in list_segments(dir).unwrap() {
        // Rolled before a batch once at least segment_bytes: a segment holds at
        // most segment_bytes - 1 plus one batch.
        assert!(fs::metadata(&path).unwrap().len() < 300 + 4 * 200);
    }

    let mut reader = EventLogReader::open(dir, Position::default()).unwrap();
    let got = drain(&mut reader);
    assert_eq!(payloads(&got), expected);
    assert!(got.windows(2).all(|w| w[0].1 < w[1].1));
    assert!(got.iter().any(|(_, p)| p.segment > 5));

    // A consumer checkpointed in segment 2; everything before segment 6 is
    // delivered and deleted.
    let old_checkpoint = got.iter().find(|(_, p)| p.segment == 2).unwrap().1;
    let cut = got.iter().find(|(_, p)| p.segment == 6).unwrap().1;
    let before = writer.total_bytes();
    let sizes_0_to_5: u64 = (0..6)
        .map(|i| fs::metadata(segment_path(dir, i)).unwrap().len())
        .sum();
    let freed = writer.delete_segments_before(cut).unwrap();
    assert_eq!(freed, sizes_0_to_5);
    assert_eq!(writer.total_bytes(), before - freed);
    assert_eq!(writer.total_bytes(), dir_segment_bytes(dir));
    assert_eq!(segment_indexes(dir)[0], 6);
    // Nothing more to delete for the same position.
    assert_eq!(delete_segments_before(dir, cut).unwrap(), 0);

    // A reader from the old position starts at the oldest existing segment.
    let mut old = EventLogReader::open(dir, old_checkpoint).unwrap();
    let from_old = drain(&mut old);
    let first_kept = got.iter().position(|(_, p)| p.segment == 6).unwrap();
    assert_eq!(payloads(&from_old), payloads(&got[first_kept..]));

    // The newest segment is never deleted, even for a position past the end.
    let newest = *segment_indexes(dir).last().unwrap();
    delete_segments_before(dir, Position::new(u64::MAX, 0)).unwrap();
    assert_eq!(segment_indexes(dir), vec![newest]);
    // The free function does not update the writer's counter until refreshed.
    assert_eq!(
        writer.refresh_total_bytes().unwrap(),
        dir_segment_bytes(dir)
    );

    // Writing and reading go on.
    writer.append_batch([b"after delete"]).unwrap();
    let mut tail = EventLogReader::open(dir, Position::default()).unwrap();
    assert_eq!(drain(&mut tail).last().unwrap().0, b"after delete");
}

#[test]
fn reader_that_lost_its_segment_mid_stream_moves_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut writer = EventLogWriter::open(dir, tiny()).unwrap();
    for start in (0..80).step_by(4) {
        writer.append_batch(records(start..start + 4)).unwrap();
    }
    let all = drain(&mut EventLogReader::open(dir, Position::default()).unwrap());
    // One reader sits at the end of segment 0 but has not opened it yet;
    // another is in the middle of segment 0 with the file open.
    let end_of_0 = all.iter().rfind(|(_, p)| p.segment == 0).unwrap().1;
    let mut not_open = EventLogReader::open(dir, end_of_0).unwrap();
    let mut mid = EventLogReader::open(dir, Position::default()).unwrap();
    assert_eq!(mid.next_record().unwrap().unwrap().0, all[0].0);

    delete_segments_before(dir, Position::new(3, 0)).unwrap();
    let first_kept = all.iter().position(|(_, p)| p.segment == 3).unwrap();
    assert_eq!(
        payloads(&drain(&mut not_open)),
        payloads(&all[first_kept..])
    );

    // On Unix the open file stays readable: the rest of segment 0, then the
    // oldest remaining segment.
    #[cfg(unix)]
    {
        let in_0 = all.iter().filter(|(_, p)| p.segment == 0).count();
        let mut expected = payloads(&all[1..in_0]);
        expected.extend(payloads(&all[first_kept..]));
        assert_eq!(payloads(&drain(&mut mid)), expected);
    }
}

#[test]
fn torn_tail_is_not_yet_written_for_readers_and_truncated_by_the_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut writer = EventLogWriter::open(dir, WriterOptions::default()).unwrap();
    let good = records(0..20);
    let good_end = writer.append_batch(&good).unwrap();
    drop(writer);

    let seg = newest_segment(dir);
    let good_len = fs::metadata(&seg).unwrap().len();
    assert_eq!(good_len, good_end.offset);

    for torn in [
        // Half a record header.
        vec![7u8, 0, 0],
        // Full header, half the payload.
        {
            let mut v = Vec::new();
            v.extend_from_slice(&100u32.to_le_bytes());
            v.extend_from_slice(&0u32.to_le_bytes());
            v.extend_from_slice(&[1u8; 40]);
            v
        },
    ] {
        fs::OpenOptions::new()
            .append(true)
            .open(&seg)
            .unwrap()
            .write_all(&torn)
            .unwrap();

        let mut reader = EventLogReader::open(dir, Position::default()).unwrap();
        assert_eq!(payloads(&drain(&mut reader)), good);
        // Still "not yet written" on later calls, no error.
        assert!(reader.next_record().unwrap().is_none());
        assert_eq!(reader.position(), good_end);
        fs::OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(good_len)
            .unwrap();
    }

    // Now a torn tail for the writer to repair.
    let mut half = Vec::new();
    crate::segment::encode_record(&mut half, b"never finished");
    half.truncate(half.len() - 5);
    fs::OpenOptions::new()
        .append(true)
        .open(&seg)
        .unwrap()
        .write_all(&half)
        .unwrap();
    let mut waiting = EventLogReader::open(dir, Position::default()).unwrap();
    assert_eq!(payloads(&drain(&mut waiting)), good);

    let mut writer = EventLogWriter::open(dir, WriterOptions::default()).unwrap();
    assert_eq!(fs::metadata(&seg).unwrap().len(), good_len);
    assert_eq!(writer.total_bytes(), dir_segment_bytes(dir));
    let more = records(20..30);
    writer.append_batch(&more).unwrap();

    // The reader that was waiting at the torn point goes on with the new ones.
    assert_eq!(payloads(&drain(&mut waiting)), more);
    let mut all = good.clone();
    all.extend(more);
    let mut fresh = EventLogReader::open(dir, Position::default()).unwrap();
    assert_eq!(payloads(&drain(&mut fresh)), all);
}

#[test]
fn crc_bad_tail_is_reported_once_then_writer_recovery_continues_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut writer = EventLogWriter::open(dir, WriterOptions::default()).unwrap();
    let good = records(0..5);
    let good_end = writer.append_batch(&good).unwrap();
    drop(writer);
    let seg = newest_segment(dir);
    let mut bad = Vec::new();
    crate::segment::encode_record(&mut bad, b"written by a crashing writer");
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    fs::OpenOptions::new()
        .append(true)
        .open(&seg)
        .unwrap()
        .write_all(&bad)
        .unwrap();

    let mut reader = EventLogReader::open(dir, Position::default()).unwrap();
    for _ in 0..5 {
        reader.next_record().unwrap().unwrap();
    }
    match reader.next_record() {
        Err(EventLogError::Corrupt { position, .. }) => assert_eq!(position, good_end),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Waiting at the start of the next segment.
    assert!(reader.next_record().unwrap().is_none());
    assert_eq!(reader.position(), Position::new(1, SEGMENT_HEADER_LEN));
    // That position is a valid checkpoint even though segment 1 does not exist yet.
    EventLogReader::open(dir, reader.position()).unwrap();

    let mut writer = EventLogWriter::open(dir, WriterOptions::default()).unwrap();
    assert_eq!(fs::metadata(&seg).unwrap().len(), good_end.offset);
    assert_eq!(writer.end_position(), Position::new(1, SEGMENT_HEADER_LEN));
    writer.append_batch([b"after recovery"]).unwrap();
    let (payload, _) = reader.next_record().unwrap().unwrap();
    assert_eq!(payload, b"after recovery");
    assert!(reader.next_record().unwrap().is_none());
}

#[test]
fn corrupt_record_in_an_old_segment_is_reported_once_and_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut writer = EventLogWriter::open(dir, tiny()).unwrap();
    for start in (0..60).step_by(3) {
        writer.append_batch(records(start..start + 3)).unwrap();
    }
    let all = drain(&mut EventLogReader::open(dir, Position::default()).unwrap());
    assert!(segment_indexes(dir).len() >= 4);

    // Flip a payload byte of the second record of segment 1.
    let in_seg1: Vec<_> = all
        .iter()
        .enumerate()
        .filter(|(_, (_, p))| p.segment == 1)
        .collect();
    assert!(in_seg1.len() >= 3);
    let (victim_idx, (_, victim_end)) = in_seg1[1];
    let victim_start = all[victim_idx - 1].1;
    let path = segment_path(dir, 1);
    let mut bytes = fs::read(&path).unwrap();
    let at = usize::try_from(victim_end.offset).unwrap() - 1;
    bytes[at] ^= 0x55;
    fs::write(&path, &bytes).unwrap();

    let mut reader = EventLogReader::open(dir, Position::default()).unwrap();
    let mut got = Vec::new();
    let mut errors = Vec::new();
    loop {
        match reader.next_record() {
            Ok(Some((payload, _))) => got.push(payload),
            Ok(None) => break,
            Err(e) => errors.push(e),
        }
    }
    assert_eq!(errors.len(), 1, "{errors:?}");
    match &errors[0] {
        EventLogError::Corrupt { position, reason } => {
            assert_eq!(*position, victim_start);
            assert!(reason.contains("crc"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Everything except the corrupt record and the rest of segment 1.
    let expected: Vec<_> = all
        .iter()
        .enumerate()
        .filter(|(i, (_, p))| p.segment != 1 || *i < victim_idx)
        .map(|(_, (payload, _))| payload.clone())
        .collect();
    assert_eq!(got, expected);

    // An impossible length is corruption too; so is a bad header.
    let path2 = segment_path(dir, 2);
    let mut bytes = fs::read(&path2).unwrap();
    bytes[8..12].copy_from_slice(&u32::try_from(MAX_RECORD_BYTES + 1).unwrap().to_le_bytes());
    fs::write(&path2, &bytes).unwrap();
    let path0 = segment_path(dir, 0);
    let mut bytes = fs::read(&path0).unwrap();
    bytes[0] = b'X';
    fs::write(&path0, &bytes).unwrap();
    let mut reader = EventLogReader::open(dir, Position::default()).unwrap();
    assert!(matches!(reader.next_record(), Err(EventLogError::BadHeader(p)) if p == path0));
    let mut kinds = Vec::new();
    loop {
        match reader.next_record() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(EventLogError::Corrupt { position, .. }) => kinds.push(position),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        kinds,
        vec![victim_start, Position::new(2, SEGMENT_HEADER_LEN)]
    );
}

#[test]
fn truncated_record_at_end_of_sealed_segment_is_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut writer = EventLogWriter::open(dir, tiny()).unwrap();
    for start in (0..30).step_by(3) {
        writer.append_batch(records(start..start + 3)).unwrap();
    }
    let path = segment_path(dir, 0);
    let len = fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let mut reader = EventLogReader::open(dir, Position::default()).unwrap();
    let mut corrupt = 0;
    let mut n = 0;
    loop {
        match reader.next_record() {
            Ok(Some(_)) => n += 1,
            Ok(None) => break,
            Err(EventLogError::Corrupt { .. }) => corrupt += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(corrupt, 1);
    assert_eq!(n, 29);
}

#[test]
fn second_writer_is_locked_out() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let writer = EventLogWriter::open(dir, WriterOptions::default()).unwrap();
    match EventLogWriter::open(dir, WriterOptions::default()) {
        Err(EventLogError::Locked(path)) => assert_eq!(path, dir.join(LOCK_FILE_NAME)),
        other => panic!("expected Locked, got {:?}", other.map(|_| ())),
    }
    // Readers are not affected.
    EventLogReader::open(dir, Position::default()).unwrap();
    drop(writer);
    EventLogWriter::open(dir, WriterOptions::default()).unwrap();
}

#[test]
fn reader_follows_the_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The reader may start before the writer created anything.
    let mut reader = EventLogReader::open(dir, Position::default()).unwrap();
    assert!(reader.next_record().unwrap().is_none());

    let mut writer = EventLogWriter::open(dir, tiny()).unwrap();
    assert!(reader.next_record().unwrap().is_none());
    for i in 0..40 {
        let end = writer.append_batch([record(i)]).unwrap();
        let (payload, pos) = reader.next_record().unwrap().unwrap();
        assert_eq!(payload, record(i));
        assert_eq!(pos, end);
        assert!(reader.next_record().unwrap().is_none());
        assert!(reader.next_record().unwrap().is_none());
    }
    assert!(writer.end_position().segment > 3);

    // From another thread, as the audit consumer does.
    let handle = std::thread::spawn({
        let dir = dir.to_path_buf();
        move || {
            let mut reader = EventLogReader::open(&dir, Position::default()).unwrap();
            let mut n = 0;
            while n < 100 {
                if reader.next_record().unwrap().is_some() {
                    n += 1;
                } else {
                    std::thread::yield_now();
                }
            }
            reader.next_record().unwrap()
        }
    });
    for i in 40..100 {
        writer.append_batch([record(i)]).unwrap();
    }
    assert!(handle.join().unwrap().is_none());
}

#[test]
fn invalid_records_are_rejected_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut writer = EventLogWriter::open(dir, WriterOptions::default()).unwrap();
    writer.append_batch([b"one"]).unwrap();
    let end = writer.end_position();

    let too_big = vec![0u8; MAX_RECORD_BYTES + 1];
    match writer.append_batch([b"ok".as_slice(), too_big.as_slice()]) {
        Err(EventLogError::RecordTooLarge(n)) => assert_eq!(n, MAX_RECORD_BYTES + 1),
        other => panic!("expected RecordTooLarge, got {other:?}"),
    }
    assert!(matches!(
        writer.append_batch([b"ok".as_slice(), b"".as_slice()]),
        Err(EventLogError::EmptyRecord)
    ));
    assert_eq!(writer.end_position(), end);
    assert_eq!(fs::metadata(newest_segment(dir)).unwrap().len(), end.offset);

    // The largest allowed record goes through.
    let biggest = vec![7u8; MAX_RECORD_BYTES];
    writer.append_batch([&biggest]).unwrap();
    let mut reader = EventLogReader::open(dir, Position::default()).unwrap();
    assert_eq!(reader.next_record().unwrap().unwrap().0, b"one");
    assert_eq!(reader.next_record().unwrap().unwrap().0, biggest);
}

#[test]
fn positions_beyond_the_end_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut writer = EventLogWriter::open(dir, WriterOptions::default()).unwrap();
    writer.append_batch([b"x"]).unwrap();
    let end = writer.end_position();
    for bad in [
        Position::new(2, 8),
        Position::new(1, 100),
        Position::new(0, end.offset + 1),
    ] {
        assert!(matches!(
            EventLogReader::open(dir, bad),
            Err(EventLogError::BadPosition(_))
        ));
    }
    // The end itself and the start of the segment to come are fine.
    EventLogReader::open(dir, end).unwrap();
    EventLogReader::open(dir, Position::new(1, SEGMENT_HEADER_LEN)).unwrap();
    // A missing directory is an I/O error.
    assert!(matches!(
        EventLogReader::open(&dir.join("missing"), Position::default()),
        Err(EventLogError::Io { .. })
    ));
}

#[test]
fn writer_repairs_a_torn_segment_header() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut writer = EventLogWriter::open(dir, WriterOptions::default()).unwrap();
    writer.append_batch([b"first"]).unwrap();
    drop(writer);
    // A crash right after creating segment 1.
    fs::write(segment_path(dir, 1), b"GLE").unwrap();
    let mut reader = EventLogReader::open(dir, Position::default()).unwrap();
    assert_eq!(reader.next_record().unwrap().unwrap().0, b"first");
    assert!(reader.next_record().unwrap().is_none());

    let mut writer = EventLogWriter::open(dir, WriterOptions::default()).unwrap();
    assert_eq!(writer.end_position(), Position::new(1, SEGMENT_HEADER_LEN));
    writer.append_batch([b"second"]).unwrap();
    assert_eq!(reader.next_record().unwrap().unwrap().0, b"second");

    // A segment with a foreign header is refused rather than overwritten.
    drop(writer);
    fs::write(segment_path(dir, 2), b"NOTALOG!").unwrap();
    assert!(matches!(
        EventLogWriter::open(dir, WriterOptions::default()),
        Err(EventLogError::BadHeader(_))
    ));
}
