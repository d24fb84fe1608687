//! From a raw log record to what the index stores: [`decode_record`] turns the protobuf bytes
//! of one record into an [`EventRow`] (the typed filter columns, made safe for both databases,
//! plus the bytes themselves) or, for a record that is not a usable `SecurityEvent`, a
//! [`DeadLetter`]. Also the [`Batch`] that sources hand to the index writer. No I/O here.

use std::sync::Arc;

use glitch_eventlog::Position;
use glitch_proto::events::v1::SecurityEvent;
use prost::Message;

use crate::body::BodyEncoder;
use crate::time::timestamp_ms;

/// Raw bytes kept in a dead-letter row at most (the full size is recorded too).
pub const DEAD_LETTER_RAW_CAP: usize = 64 * 1024;

/// Record keys kept in a dead-letter row at most.
pub const DEAD_LETTER_KEY_CAP: usize = 1024;

/// Longest `event_id` accepted; longer ones are dead-lettered.
pub const MAX_EVENT_ID_BYTES: usize = 256;

/// Longest value kept in an indexed text column (longer ones are cut at a character boundary,
/// so that an index entry always fits: PostgreSQL refuses B-tree entries above ~2.7 KB).
pub const MAX_INDEXED_TEXT_BYTES: usize = 512;

/// Token counts are clamped to this in the typed columns, so that session sums cannot overflow.
pub const MAX_TOKENS: i64 = 1 << 40;

/// Where a record came from, for dead letters and the per-record fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordRef {
    /// A file log record starting at this position.
    File(Position),
    /// A Kafka record.
    Kafka {
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
    },
}

impl RecordRef {
    /// The dead-letter `partition` column: the Kafka partition, -1 for the file log.
    pub fn partition(&self) -> i64 {
        match self {
            RecordRef::File(_) => -1,
            RecordRef::Kafka { partition, .. } => i64::from(*partition),
        }
    }

    /// The dead-letter `position` column: `segment:offset` or the Kafka offset.
    pub fn position(&self) -> String {
        match self {
            RecordRef::File(pos) => pos.to_string(),
            RecordRef::Kafka { offset, .. } => offset.to_string(),
        }
    }
}

/// One decoded event, ready to insert.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    /// `event_id` (non-empty).
    pub event_id: String,
    /// `time` in Unix milliseconds (0 when missing).
    pub time_ms: i64,
    /// `project_id`.
    pub project_id: String,
    /// `session_id` (empty: no session).
    pub session_id: String,
    /// `sensor_id`.
    pub sensor_id: String,
    /// `region`.
    pub region: String,
    /// `key_id`.
    pub key_id: String,
    /// `method`.
    pub method: String,
    /// `path`.
    pub path: String,
    /// `model`.
    pub model: String,
    /// `stream`.
    pub stream: bool,
    /// `decision`.
    pub decision: String,
    /// `status`.
    pub status: i64,
    /// `upstream_status`.
    pub upstream_status: i64,
    /// `risk.blocked`.
    pub blocked: bool,
    /// `input_tokens` (clamped to [`MAX_TOKENS`]).
    pub input_tokens: i64,
    /// `output_tokens` (clamped to [`MAX_TOKENS`]).
    pub output_tokens: i64,
    /// `latency_ms.total` (0 when not finite).
    pub latency_total_ms: f64,
    /// Distinct, non-empty detector types of the findings.
    pub detector_types: Vec<String>,
    /// A follow-up event (an async classifier verdict about an earlier request): not counted
    /// as a request in its session's totals.
    pub follow_up: bool,
    /// The record's bytes as read, in their stored form ([`crate::body`]).
    pub body: Vec<u8>,
    /// Where it came from.
    pub origin: RecordRef,
}

/// A record that could not be indexed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// Where it came from.
    pub origin: RecordRef,
    /// The Kafka record key (capped), if any.
    pub key: Option<Vec<u8>>,
    /// The record's bytes, capped at [`DEAD_LETTER_RAW_CAP`] (empty when unreadable).
    pub raw: Vec<u8>,
    /// The record's full size in bytes.
    pub raw_len: i64,
    /// Why it was dead-lettered.
    pub error: String,
    /// Unix milliseconds.
    pub received_ms: i64,
}

impl DeadLetter {
    /// A dead letter for `raw`, capping what is kept.
    pub fn new(
        origin: RecordRef,
        key: Option<&[u8]>,
        raw: &[u8],
        error: impl Into<String>,
        received_ms: i64,
    ) -> Self {
        DeadLetter {
            origin,
            key: key.map(|k| k[..k.len().min(DEAD_LETTER_KEY_CAP)].to_vec()),
            raw: raw[..raw.len().min(DEAD_LETTER_RAW_CAP)].to_vec(),
            raw_len: i64::try_from(raw.len()).unwrap_or(i64::MAX),
            error: error.into(),
            received_ms,
        }
    }
}

/// What one record became.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    /// An event to index.
    Event(Box<EventRow>),
    /// A record to dead-letter.
    Dead(DeadLetter),
}

/// Decodes one record's bytes, compressing the stored body with `encoder`. Never fails: what
/// cannot be indexed becomes a dead letter.
pub fn decode_record_with(
    encoder: &mut BodyEncoder,
    raw: &[u8],
    key: Option<&[u8]>,
    origin: RecordRef,
    received_ms: i64,
) -> Decoded {
    let event = match SecurityEvent::decode(raw) {
        Ok(event) => event,
        Err(e) => {
            return Decoded::Dead(DeadLetter::new(
                origin,
                key,
                raw,
                format!("not a protobuf SecurityEvent: {e}"),
                received_ms,
            ));
        }
    };
    if event.event_id.is_empty() {
        return Decoded::Dead(DeadLetter::new(
            origin,
            key,
            raw,
            "SecurityEvent has an empty event_id",
            received_ms,
        ));
    }
    if event.event_id.len() > MAX_EVENT_ID_BYTES || event.event_id.contains('\0') {
        return Decoded::Dead(DeadLetter::new(
            origin,
            key,
            raw,
            format!(
                "SecurityEvent has an unusable event_id (over {MAX_EVENT_ID_BYTES} bytes or with NUL characters)"
            ),
            received_ms,
        ));
    }
    let body = encoder.encode(raw);
    Decoded::Event(Box::new(row_from_event(event, body, origin)))
}

/// [`decode_record_with`] with a one-off encoder (tests, one-off records).
pub fn decode_record(
    raw: &[u8],
    key: Option<&[u8]>,
    origin: RecordRef,
    received_ms: i64,
) -> Decoded {
    decode_record_with(&mut BodyEncoder::new(), raw, key, origin, received_ms)
}

/// `body` is already in its stored form.
fn row_from_event(e: SecurityEvent, body: Vec<u8>, origin: RecordRef) -> EventRow {
    let mut detector_types: Vec<String> = e
        .findings
        .iter()
        .filter(|f| !f.detector_type.is_empty())
        .map(|f| indexed_text(&f.detector_type))
        .collect();
    detector_types.sort_unstable();
    detector_types.dedup();
    let latency = e.latency_ms.as_ref().map_or(0.0, |l| l.total);
    EventRow {
        time_ms: e.time.as_ref().map_or(0, timestamp_ms),
        project_id: indexed_text(&e.project_id),
        session_id: indexed_text(&e.session_id),
        sensor_id: indexed_text(&e.sensor_id),
        region: indexed_text(&e.region),
        key_id: indexed_text(&e.key_id),
        method: indexed_text(&e.method),
        path: indexed_text(&e.path),
        model: indexed_text(&e.model),
        stream: e.stream,
        decision: indexed_text(&e.decision),
        status: i64::from(e.status),
        upstream_status: i64::from(e.upstream_status),
        blocked: e.risk.as_ref().is_some_and(|r| r.blocked),
        input_tokens: tokens(e.input_tokens),
        output_tokens: tokens(e.output_tokens),
        latency_total_ms: if latency.is_finite() {
            latency.clamp(0.0, 1e15)
        } else {
            0.0
        },
        detector_types,
        follow_up: !e.follow_up_of.is_empty(),
        event_id: e.event_id,
        body,
        origin,
    }
}

fn tokens(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(MAX_TOKENS).min(MAX_TOKENS)
}

/// `text` made safe for an indexed column of either database: NUL characters (which
/// PostgreSQL refuses in text) removed, and cut to [`MAX_INDEXED_TEXT_BYTES`] at a character
/// boundary. The API applies the same to filter values, so exact filters still match.
pub fn indexed_text(text: &str) -> String {
    let cleaned: std::borrow::Cow<'_, str> = if text.contains('\0') {
        text.replace('\0', "").into()
    } else {
        text.into()
    };
    if cleaned.len() <= MAX_INDEXED_TEXT_BYTES {
        return cleaned.into_owned();
    }
    let mut end = MAX_INDEXED_TEXT_BYTES;
    while !cleaned.is_char_boundary(end) {
        end -= 1;
    }
    cleaned[..end].to_owned()
}

/// Where a batch leaves a file source: stored in the index with the batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The source's key in `consumer_positions`.
    pub source: String,
    /// `segment:offset` of the next record to read.
    pub position: String,
}

/// Kafka offsets a batch covers: for each partition, the offset after its last record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KafkaOffsets {
    /// (partition, next offset), one entry per partition.
    pub next: Vec<(i32, i64)>,
}

impl KafkaOffsets {
    /// Notes that the record at `offset` of `partition` is in the batch.
    pub fn record(&mut self, partition: i32, offset: i64) {
        let next = offset.saturating_add(1);
        match self.next.iter_mut().find(|(p, _)| *p == partition) {
            Some((_, n)) => *n = (*n).max(next),
            None => self.next.push((partition, next)),
        }
    }
}

/// What a source hands to the index writer: one index transaction's worth.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// The source's label (`file:DIR` or `kafka:TOPIC`), the dead letters' `source` column.
    pub source: Arc<str>,
    /// Events to insert (idempotently).
    pub events: Vec<EventRow>,
    /// Records to dead-letter.
    pub dead_letters: Vec<DeadLetter>,
    /// The file source's position after this batch (same transaction).
    pub checkpoint: Option<Checkpoint>,
    /// The Kafka offsets to store once the transaction has committed.
    pub kafka: Option<KafkaOffsets>,
    /// Records read (events + dead letters).
    pub records: usize,
}

impl Batch {
    /// An empty batch of `source`.
    pub fn new(source: Arc<str>) -> Self {
        Batch {
            source,
            ..Batch::default()
        }
    }

    /// Adds one decoded record.
    pub fn push(&mut self, decoded: Decoded) {
        self.records += 1;
        match decoded {
            Decoded::Event(row) => self.events.push(*row),
            Decoded::Dead(dead) => self.dead_letters.push(dead),
        }
    }

    /// True when there is nothing to write (no record and no position to move).
    pub fn is_empty(&self) -> bool {
        self.records == 0 && self.dead_letters.is_empty() && self.checkpoint.is_none()
    }

    /// Bytes of event bodies held.
    pub fn body_bytes(&self) -> usize {
        self.events.iter().map(|e| e.body.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use glitch_proto::events::v1::{Finding, Latency, Risk};

    use super::*;

    fn origin() -> RecordRef {
        RecordRef::Kafka {
            partition: 2,
            offset: 41,
        }
    }

    #[test]
    fn decodes_an_event_into_typed_columns() {
        let e = SecurityEvent {
            event_id: "ev-1".into(),
            time: Some(prost_types::Timestamp {
                seconds: 10,
                nanos: 5_000_000,
            }),
            project_id: "p".into(),
            session_id: "s".into(),
            path: "/v1/messages".into(),
            status: 200,
            input_tokens: u64::MAX,
            output_tokens: 7,
            risk: Some(Risk {
                blocked: true,
                ..Default::default()
            }),
            findings: vec![
                Finding {
                    detector_type: "pii/email".into(),
                    ..Default::default()
                },
                Finding {
                    detector_type: "pii/email".into(),
                    ..Default::default()
                },
                Finding {
                    detector_type: "jailbreak".into(),
                    ..Default::default()
                },
                Finding::default(),
            ],
            latency_ms: Some(Latency {
                total: f64::NAN,
                ..Default::default()
            }),
            ..Default::default()
        };
        let bytes = e.encode_to_vec();
        let Decoded::Event(row) = decode_record(&bytes, None, origin(), 1) else {
            panic!("not an event");
        };
        assert_eq!(row.event_id, "ev-1");
        assert_eq!(row.time_ms, 10_005);
        assert!(row.blocked);
        assert_eq!(row.input_tokens, MAX_TOKENS);
        assert_eq!(row.output_tokens, 7);
        assert_eq!(row.latency_total_ms, 0.0);
        assert_eq!(row.detector_types, vec!["jailbreak", "pii/email"]);
        assert_eq!(
            crate::body::decode_body(&row.body).unwrap(),
            bytes.as_slice()
        );
    }

    #[test]
    fn garbage_and_empty_ids_are_dead_letters() {
        let Decoded::Dead(dead) =
            decode_record(b"\xff\xff\xff not protobuf", Some(b"k"), origin(), 5)
        else {
            panic!("decoded garbage");
        };
        assert!(dead.error.contains("not a protobuf"), "{}", dead.error);
        assert_eq!(dead.key.as_deref(), Some(b"k".as_slice()));
        assert_eq!(dead.origin.partition(), 2);
        assert_eq!(dead.origin.position(), "41");

        let no_id = SecurityEvent {
            path: "/v1/messages".into(),
            ..Default::default()
        }
        .encode_to_vec();
        let Decoded::Dead(dead) = decode_record(&no_id, None, origin(), 5) else {
            panic!("indexed an event without id");
        };
        assert!(dead.error.contains("empty event_id"));
    }

    #[test]
    fn dead_letters_are_capped() {
        let raw = vec![0xffu8; DEAD_LETTER_RAW_CAP * 2];
        let key = vec![b'k'; DEAD_LETTER_KEY_CAP + 10];
        let Decoded::Dead(dead) = decode_record(&raw, Some(&key), origin(), 5) else {
            panic!("decoded garbage");
        };
        assert_eq!(dead.raw.len(), DEAD_LETTER_RAW_CAP);
        assert_eq!(dead.raw_len, (DEAD_LETTER_RAW_CAP * 2) as i64);
        assert_eq!(dead.key.map(|k| k.len()), Some(DEAD_LETTER_KEY_CAP));
    }

    #[test]
    fn indexed_text_is_safe() {
        assert_eq!(indexed_text("a\0b"), "ab");
        let long = "é".repeat(MAX_INDEXED_TEXT_BYTES);
        let cut = indexed_text(&long);
        assert!(cut.len() <= MAX_INDEXED_TEXT_BYTES && !cut.is_empty());
        assert!(long.starts_with(&cut));
    }

    #[test]
    fn offsets_track_the_next_offset_per_partition() {
        let mut o = KafkaOffsets::default();
        o.record(0, 5);
        o.record(1, 9);
        o.record(0, 7);
        o.record(0, 6);
        assert_eq!(o.next, vec![(0, 8), (1, 10)]);
    }
}
