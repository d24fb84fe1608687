//! How an event's protobuf bytes are kept in the index's `body` column: as one zstd frame
//! (level 1). Conversations are JSON and text, so this cuts what every batch writes and syncs —
//! the index's bottleneck: with WAL every byte is written twice — for some CPU on the source
//! thread, which runs beside the index writer.
//!
//! A stored body that does not start with the zstd magic number is the plain protobuf (a
//! `SecurityEvent` with its non-empty `event_id` always starts with byte 0x0A), which is also
//! what is stored should compression fail or not pay.

use std::borrow::Cow;

/// zstd level: the fastest of the regular levels (negative levels lose more ratio than they
/// gain speed on 2-10 KB inputs).
const LEVEL: i32 = 1;

/// The zstd frame magic number, as it appears at the start of a frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Largest decompressed body accepted (a record is at most 16 MiB in the file log).
pub const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// Compresses bodies with one reused zstd context (setting up a context per event costs about
/// as much as compressing it). One per source thread.
pub struct BodyEncoder {
    compressor: Option<zstd::bulk::Compressor<'static>>,
}

impl std::fmt::Debug for BodyEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyEncoder")
    }
}

impl Default for BodyEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl BodyEncoder {
    /// A new encoder (if zstd cannot set up a context, bodies are stored uncompressed).
    pub fn new() -> Self {
        BodyEncoder {
            compressor: zstd::bulk::Compressor::new(LEVEL).ok(),
        }
    }

    /// The stored form of `raw`: compressed when that makes it smaller, else as is.
    pub fn encode(&mut self, raw: &[u8]) -> Vec<u8> {
        match self.compressor.as_mut().map(|c| c.compress(raw)) {
            Some(Ok(frame)) if frame.len() < raw.len() => frame,
            _ => raw.to_vec(),
        }
    }
}

/// The stored form of `raw` (with a one-off context; sources use a [`BodyEncoder`]).
pub fn encode_body(raw: &[u8]) -> Vec<u8> {
    BodyEncoder::new().encode(raw)
}

/// The protobuf bytes back from a stored body.
pub fn decode_body(stored: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    if !stored.starts_with(&ZSTD_MAGIC) {
        return Ok(Cow::Borrowed(stored));
    }
    let size = match zstd::zstd_safe::get_frame_content_size(stored) {
        Ok(Some(size)) if size <= MAX_BODY_BYTES => size,
        Ok(Some(size)) => return Err(format!("stored body expands to {size} bytes")),
        Ok(None) | Err(_) => return Err("stored body is not a complete zstd frame".into()),
    };
    let capacity = usize::try_from(size).map_err(|e| e.to_string())?;
    zstd::bulk::decompress(stored, capacity)
        .map(Cow::Owned)
        .map_err(|e| format!("stored body does not decompress: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let raw: Vec<u8> = b"\x0a\x05ev-01"
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'x', 5000))
            .collect();
        let mut encoder = BodyEncoder::new();
        let stored = encoder.encode(&raw);
        assert!(stored.starts_with(&ZSTD_MAGIC));
        assert!(stored.len() < raw.len() / 10);
        assert_eq!(decode_body(&stored).unwrap(), raw.as_slice());
        // The context is reused.
        assert_eq!(encoder.encode(&raw), stored);
        assert_eq!(decode_body(&[]).unwrap(), &[] as &[u8]);
    }

    #[test]
    fn plain_protobuf_passes_through() {
        let raw = b"\x0a\x02id\x1a\x01s".to_vec();
        let stored = encode_body(&raw);
        assert_eq!(stored, raw, "too small to gain from compression");
        assert!(matches!(decode_body(&stored), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn damaged_frames_are_errors() {
        let mut stored = encode_body(&vec![7u8; 10_000]);
        stored.truncate(stored.len() / 2);
        assert!(decode_body(&stored).is_err());
        assert!(decode_body(&ZSTD_MAGIC).is_err());
    }
}
