//! Output scanning: Anthropic responses as they stream (SSE) and whole (JSON). The SSE side
//! splits the byte stream into complete events, follows each content block's text (`text_delta`,
//! `thinking_delta` and tool_use `input_json_delta` fragments) and rescans only a bounded tail
//! window per delta, so a match split across chunks and events is still found and a long answer
//! costs time linear in its length. Findings become final once enough text follows them for
//! context (or the block ends), which makes them independent of how the stream was chunked; a
//! blocking finding is reported at once, even before it is final, so the relay can stop the
//! stream before more of it reaches the client.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use serde::Deserialize;

use crate::Direction;
use crate::engine::{CompiledPolicy, Finding, ScanReport};
use crate::extract::{Location, Part, TextSegment, collect_strings};
use crate::policy::Action;

/// Text kept before the not-yet-final part of a block: the longest match found across deltas.
pub const LOOKBACK: usize = 4096;
/// Text that must follow a match before it is final (context words are looked for this far).
pub const MARGIN: usize = 64;
/// Largest SSE event accepted before it is passed through unscanned.
pub const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// The end (exclusive) of the first complete SSE event in `buf` — the blank line included —
/// if there is one.
pub fn next_event_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(nl) = memchr::memchr(b'\n', &buf[i..]) {
        let at = i + nl;
        // "\n\n" or "\n\r\n" ends an event.
        match buf.get(at + 1) {
            Some(b'\n') => return Some(at + 2),
            Some(b'\r') if buf.get(at + 2) == Some(&b'\n') => return Some(at + 3),
            _ => {}
        }
        i = at + 1;
    }
    None
}

#[derive(Deserialize)]
struct EventJson<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    delta: Option<DeltaJson>,
    #[serde(default)]
    content_block: Option<BlockJson>,
}

#[derive(Deserialize)]
struct DeltaJson {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    partial_json: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
}

#[derive(Deserialize)]
struct BlockJson {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    input: Option<serde_json::Value>,
}

#[derive(Default)]
struct BlockText {
    /// Absolute offset of `tail[0]` in the block's whole text.
    base: usize,
    tail: String,
    /// Matches ending at or before this absolute offset have been decided.
    final_to: usize,
}

impl BlockText {
    fn len(&self) -> usize {
        self.base + self.tail.len()
    }
}

/// What one event did.
#[derive(Debug, Default)]
pub struct EventOutcome {
    /// Findings that became final with this event.
    pub findings: Vec<Finding>,
    /// A blocking finding (final or not) seen in this event.
    pub block: Option<Finding>,
}

/// Follows one SSE response.
pub struct StreamScanner {
    policy: Arc<CompiledPolicy>,
    blocks: Vec<BlockText>,
    seen: HashSet<(Arc<str>, usize, usize, usize)>,
}

impl std::fmt::Debug for StreamScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamScanner")
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl StreamScanner {
    /// A scanner applying `policy`'s output rules.
    pub fn new(policy: Arc<CompiledPolicy>) -> Self {
        StreamScanner {
            policy,
            blocks: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// Feeds one complete SSE event (as delimited by [`next_event_end`]).
    pub fn on_event(&mut self, event: &[u8]) -> EventOutcome {
        let mut outcome = EventOutcome::default();
        let Some(data) = event_data(event) else {
            return outcome;
        };
        let Ok(parsed) = serde_json::from_slice::<EventJson<'_>>(&data) else {
            return outcome;
        };
        match parsed.kind.as_ref() {
            "content_block_start" => {
                let index = parsed.index.unwrap_or(0);
                let initial = parsed.content_block.map(|b| {
                    let mut text = b.text.unwrap_or_default();
                    if let Some(t) = b.thinking {
                        text.push_str(&t);
                    }
                    if let Some(input) = b
                        .input
                        .filter(|v| !v.as_object().is_some_and(|o| o.is_empty()))
                    {
                        let mut strings = Vec::new();
                        collect_strings(&input, &mut strings);
                        text.push_str(&strings.join("\n"));
                    }
                    text
                });
                if let Some(text) = initial.filter(|t| !t.is_empty()) {
                    self.append(index, &text, &mut outcome);
                }
            }
            "content_block_delta" => {
                let index = parsed.index.unwrap_or(0);
                if let Some(delta) = parsed.delta {
                    for piece in [delta.text, delta.partial_json, delta.thinking]
                        .into_iter()
                        .flatten()
                    {
                        self.append(index, &piece, &mut outcome);
                    }
                }
            }
            "content_block_stop" => {
                let index = parsed.index.unwrap_or(0);
                self.finish_block(index, &mut outcome);
            }
            "message_stop" => {
                for index in 0..self.blocks.len() {
                    self.finish_block(index, &mut outcome);
                }
            }
            _ => {}
        }
        outcome
    }

    /// The stream ended (or was cut): decides everything still pending.
    pub fn finish(&mut self) -> EventOutcome {
        let mut outcome = EventOutcome::default();
        for index in 0..self.blocks.len() {
            self.finish_block(index, &mut outcome);
        }
        outcome
    }

    fn append(&mut self, index: usize, text: &str, outcome: &mut EventOutcome) {
        if index >= 4096 {
            return;
        }
        if self.blocks.len() <= index {
            self.blocks.resize_with(index + 1, BlockText::default);
        }
        self.blocks[index].tail.push_str(text);
        self.scan_block(index, false, outcome);
    }

    fn finish_block(&mut self, index: usize, outcome: &mut EventOutcome) {
        if index < self.blocks.len() {
            self.scan_block(index, true, outcome);
        }
    }

    fn scan_block(&mut self, index: usize, finishing: bool, outcome: &mut EventOutcome) {
        let Some(block) = self.blocks.get_mut(index) else {
            return;
        };
        let len = block.len();
        if len == block.final_to && !finishing {
            return;
        }
        // Window: LOOKBACK before what is still undecided, up to the end.
        let from_abs = block.final_to.saturating_sub(LOOKBACK).max(block.base);
        let from = floor_boundary(&block.tail, from_abs - block.base);
        let window = &block.tail[from..];
        let window_base = block.base + from;
        let segment = [TextSegment {
            location: Location::new(Part::Response {
                block: u32::try_from(index).unwrap_or(u32::MAX),
            }),
            text: Cow::Borrowed(window),
        }];
        let report: ScanReport = self.policy.scan(Direction::Output, &segment);
        let decided_to = if finishing {
            len
        } else {
            len.saturating_sub(MARGIN)
        };
        for mut f in report.findings {
            let (start, end) = (f.span.0 + window_base, f.span.1 + window_base);
            f.span = (start, end);
            let key = (f.detector_type.clone(), index, start, end);
            let is_final = end <= decided_to;
            if f.action == Action::Block && outcome.block.is_none() && !self.seen.contains(&key) {
                outcome.block = Some(f.clone());
            }
            if is_final && end > block.final_to && self.seen.insert(key) {
                outcome.findings.push(f);
            }
        }
        block.final_to = block.final_to.max(decided_to);
        // Drop text no later scan can need.
        let keep_from_abs = block.final_to.saturating_sub(LOOKBACK);
        if keep_from_abs > block.base + 2 * LOOKBACK {
            let cut = floor_boundary(&block.tail, keep_from_abs - block.base);
            block.tail.drain(..cut);
            block.base += cut;
        }
    }
}

/// The `data:` payload of one SSE event (multi-line data joined with `\n`).
pub fn event_data(event: &[u8]) -> Option<Cow<'_, [u8]>> {
    let mut data: Option<Cow<'_, [u8]>> = None;
    for line in event.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(rest) = line.strip_prefix(b"data:") else {
            continue;
        };
        let rest = rest.strip_prefix(b" ").unwrap_or(rest);
        data = Some(match data {
            None => Cow::Borrowed(rest),
            Some(prev) => {
                let mut joined = prev.into_owned();
                joined.push(b'\n');
                joined.extend_from_slice(rest);
                Cow::Owned(joined)
            }
        });
    }
    data
}

#[derive(Deserialize)]
struct ResponseJson {
    #[serde(default)]
    content: Vec<serde_json::Value>,
}

/// The scannable texts of a whole (non-streaming) Messages response: text, thinking and
/// tool_use input of every content block.
pub fn response_segments(body: &[u8]) -> Vec<TextSegment<'static>> {
    let Ok(response) = serde_json::from_slice::<ResponseJson>(body) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, block) in response.content.iter().enumerate() {
        let location = Location::new(Part::Response {
            block: u32::try_from(i).unwrap_or(u32::MAX),
        });
        let mut strings = Vec::new();
        for field in ["text", "thinking"] {
            if let Some(t) = block.get(field).and_then(|t| t.as_str()) {
                strings.push(t.to_owned());
            }
        }
        if let Some(input) = block.get("input") {
            collect_strings(input, &mut strings);
        }
        if !strings.is_empty() {
            out.push(TextSegment {
                location,
                text: Cow::Owned(strings.join("\n")),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::DetectorPack;
    use proptest::prelude::*;

    fn policy(action: &str) -> Arc<CompiledPolicy> {
        let p: crate::Policy = serde_json::from_value(serde_json::json!({
            "custom_detectors": [
                {"name": "codename", "pattern": "(?i)\\bbluebird\\b", "action": action, "scope": "output"},
                {"name": "ticket", "pattern": "SEC-\\d{3,6}", "action": "log", "scope": "output"}
            ]
        }))
        .unwrap();
        Arc::new(CompiledPolicy::compile(p, &DetectorPack::empty()).unwrap())
    }

    fn sse(events: &[(&str, serde_json::Value)]) -> String {
        events
            .iter()
            .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
            .collect()
    }

    fn text_stream(pieces: &[&str]) -> String {
        let mut events = vec![
            (
                "message_start",
                serde_json::json!({"type": "message_start", "message": {"id": "m"}}),
            ),
            (
                "content_block_start",
                serde_json::json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
        ];
        for p in pieces {
            events.push(("content_block_delta", serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}})));
        }
        events.push((
            "content_block_stop",
            serde_json::json!({"type": "content_block_stop", "index": 0}),
        ));
        events.push(("message_stop", serde_json::json!({"type": "message_stop"})));
        sse(&events)
    }

    /// Runs a byte stream through the splitter and scanner, chunked at `cuts`.
    fn run(
        stream: &[u8],
        chunk: usize,
        policy: Arc<CompiledPolicy>,
    ) -> (Vec<(String, usize, usize)>, bool) {
        let mut scanner = StreamScanner::new(policy);
        let mut pending = Vec::new();
        let mut found = Vec::new();
        let mut blocked = false;
        for piece in stream.chunks(chunk.max(1)) {
            pending.extend_from_slice(piece);
            while let Some(end) = next_event_end(&pending) {
                let event: Vec<u8> = pending.drain(..end).collect();
                let outcome = scanner.on_event(&event);
                blocked |= outcome.block.is_some();
                found.extend(
                    outcome
                        .findings
                        .into_iter()
                        .map(|f| (f.detector_type.to_string(), f.span.0, f.span.1)),
                );
            }
        }
        let outcome = scanner.finish();
        found.extend(
            outcome
                .findings
                .into_iter()
                .map(|f| (f.detector_type.to_string(), f.span.0, f.span.1)),
        );
        found.sort();
        (found, blocked)
    }

    #[test]
    fn finds_matches_split_across_deltas_and_chunks() {
        let stream = text_stream(&["The blue", "bird project, ticket SE", "C-1234 done"]);
        for chunk in [1, 7, 50, stream.len()] {
            let (found, blocked) = run(stream.as_bytes(), chunk, policy("block"));
            assert!(blocked, "chunk {chunk}");
            assert_eq!(
                found,
                vec![
                    ("custom/codename".into(), 4, 12),
                    ("custom/ticket".into(), 29, 37)
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn tool_use_json_and_thinking_are_scanned() {
        let stream = sse(&[
            (
                "content_block_start",
                serde_json::json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
            ),
            (
                "content_block_delta",
                serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "think SEC-777"}}),
            ),
            (
                "content_block_start",
                serde_json::json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t", "name": "Bash", "input": {}}}),
            ),
            (
                "content_block_delta",
                serde_json::json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"command\": \"echo blue"}}),
            ),
            (
                "content_block_delta",
                serde_json::json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "bird\"}"}}),
            ),
            ("message_stop", serde_json::json!({"type": "message_stop"})),
        ]);
        let (found, blocked) = run(stream.as_bytes(), 13, policy("log"));
        assert!(!blocked);
        let types: Vec<_> = found.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(types, vec!["custom/codename", "custom/ticket"]);
    }

    #[test]
    fn splits_events_on_blank_lines() {
        assert_eq!(next_event_end(b"event: a\ndata: {}\n\nrest"), Some(19));
        assert_eq!(next_event_end(b"event: a\r\ndata: {}\r\n\r\n"), Some(22));
        assert_eq!(next_event_end(b"event: a\ndata: {}\n"), None);
        assert_eq!(
            event_data(b"event: x\ndata: a\ndata: b\n\n").as_deref(),
            Some(&b"a\nb"[..])
        );
    }

    #[test]
    fn whole_responses() {
        let body = br#"{"content":[{"type":"text","text":"hello bluebird"},{"type":"tool_use","id":"t","name":"x","input":{"a":"SEC-123"}}]}"#;
        let segs = response_segments(body);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[1].location.to_string(), "content[1]");
        let report = policy("block").scan(Direction::Output, &segs);
        assert!(report.blocked());
        assert!(response_segments(b"not json").is_empty());
    }

    proptest! {
        #[test]
        fn same_findings_however_the_text_is_split(
            words in proptest::collection::vec(prop_oneof![
                Just("bluebird".to_owned()), Just("SEC-4242".to_owned()), Just("é".to_owned()),
                "[a-z ]{0,12}".prop_map(|s| s), Just(" ".to_owned())
            ], 0..40),
            cuts in proptest::collection::vec(1usize..30, 0..20),
            chunk in 1usize..64,
        ) {
            let text: String = words.concat();
            // Split the text into deltas at arbitrary char boundaries.
            let mut pieces = Vec::new();
            let mut rest = text.as_str();
            for c in cuts {
                if rest.is_empty() { break; }
                let at = floor_boundary(rest, c.min(rest.len()));
                let at = if at == 0 { rest.char_indices().nth(1).map(|(i, _)| i).unwrap_or(rest.len()) } else { at };
                pieces.push(&rest[..at]);
                rest = &rest[at..];
            }
            if !rest.is_empty() { pieces.push(rest); }
            let stream = text_stream(&pieces);
            let (found, _) = run(stream.as_bytes(), chunk, policy("log"));
            let whole = policy("log").scan(Direction::Output, &[TextSegment {
                location: Location::new(Part::Response { block: 0 }),
                text: Cow::Borrowed(&text),
            }]);
            let mut expected: Vec<_> = whole.findings.iter().map(|f| (f.detector_type.to_string(), f.span.0, f.span.1)).collect();
            expected.sort();
            prop_assert_eq!(found, expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000), chunk in 1usize..100) {
            let _ = run(&bytes, chunk, policy("block"));
            let _ = response_segments(&bytes);
        }
    }
}
