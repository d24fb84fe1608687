//! Relaying the upstream response body to the client frame by frame as it arrives (SSE events
//! are never held back), while watching it on the side for the event: token usage from
//! `message_start`/`message_delta` or the JSON body, assistant text, and upstream `event: error`.
//! The body is cut off when the upstream goes idle for too long. Whatever way the body ends —
//! complete, upstream error, idle timeout, or the client dropping it — the request is recorded.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use glitch_detect::stream::{MAX_EVENT_BYTES, StreamScanner, next_event_end};
use glitch_detect::{CompiledPolicy, Finding, ScanReport};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use serde::Deserialize;
use tokio::time::{Instant, Sleep};

use crate::context::{Decision, RequestContext, request_id_for};
use crate::errors::SensorError;
use crate::metrics::UpstreamErrorLabels;

/// Largest assistant text kept for the event.
pub const RESPONSE_TEXT_CAP: usize = 16 * 1024;
/// Largest JSON response body inspected for usage.
const JSON_INSPECT_CAP: usize = 4 * 1024 * 1024;
/// Longest SSE line inspected.
const SSE_LINE_CAP: usize = 1024 * 1024;

/// The error a relayed body ends with when the sensor cuts it.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The upstream body failed.
    #[error("upstream body error: {0}")]
    Upstream(#[from] hyper::Error),
    /// The upstream sent nothing for too long.
    #[error("upstream sent nothing for {0:?}")]
    Idle(Duration),
}

#[derive(Debug, Default)]
struct Usage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct UsageJson {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct MessageJson {
    #[serde(default)]
    usage: Option<UsageJson>,
    #[serde(default)]
    content: Vec<ContentJson>,
}

#[derive(Deserialize)]
struct ContentJson {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct SseDataJson<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default)]
    message: Option<MessageJson>,
    #[serde(default)]
    usage: Option<UsageJson>,
    #[serde(default)]
    delta: Option<DeltaJson>,
}

#[derive(Deserialize)]
struct DeltaJson {
    #[serde(default)]
    text: Option<String>,
}

/// What the relay watches in the body.
#[derive(Debug)]
enum Observer {
    Sse {
        line: Vec<u8>,
        skipping_line: bool,
        usage: Usage,
        text: String,
        upstream_error: bool,
    },
    Json {
        buf: Vec<u8>,
        overflow: bool,
    },
    Ignore,
}

impl Observer {
    fn for_content_type(content_type: Option<&str>) -> Self {
        match content_type {
            Some(ct) if ct.starts_with("text/event-stream") => Observer::Sse {
                line: Vec::new(),
                skipping_line: false,
                usage: Usage::default(),
                text: String::new(),
                upstream_error: false,
            },
            Some(ct) if ct.starts_with("application/json") => Observer::Json {
                buf: Vec::new(),
                overflow: false,
            },
            _ => Observer::Ignore,
        }
    }

    fn observe(&mut self, chunk: &[u8]) {
        match self {
            Observer::Sse {
                line,
                skipping_line,
                usage,
                text,
                upstream_error,
            } => {
                let mut rest = chunk;
                while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
                    let (head, tail) = rest.split_at(nl);
                    if !*skipping_line {
                        if line.is_empty() {
                            sse_line(head, usage, text, upstream_error);
                        } else {
                            line.extend_from_slice(head);
                            sse_line(line, usage, text, upstream_error);
                        }
                    }
                    line.clear();
                    *skipping_line = false;
                    rest = &tail[1..];
                }
                if !rest.is_empty() && !*skipping_line {
                    if line.len() + rest.len() > SSE_LINE_CAP {
                        line.clear();
                        *skipping_line = true;
                    } else {
                        line.extend_from_slice(rest);
                    }
                }
            }
            Observer::Json { buf, overflow } => {
                if !*overflow {
                    if buf.len() + chunk.len() > JSON_INSPECT_CAP {
                        *overflow = true;
                        buf.clear();
                    } else {
                        buf.extend_from_slice(chunk);
                    }
                }
            }
            Observer::Ignore => {}
        }
    }

    fn apply(&mut self, ctx: &mut RequestContext) {
        match self {
            Observer::Sse {
                usage,
                text,
                upstream_error,
                ..
            } => {
                ctx.event.input_tokens = usage.input_tokens.unwrap_or(0);
                ctx.event.output_tokens = usage.output_tokens.unwrap_or(0);
                ctx.response_text = std::mem::take(text);
                if *upstream_error && ctx.event.error.is_empty() {
                    ctx.event.error = "upstream sent event: error in the stream".into();
                }
            }
            Observer::Json { buf, overflow } => {
                if !*overflow && let Ok(message) = serde_json::from_slice::<MessageJson>(buf) {
                    if let Some(usage) = message.usage {
                        ctx.event.input_tokens = usage.input_tokens.unwrap_or(0);
                        ctx.event.output_tokens = usage.output_tokens.unwrap_or(0);
                    }
                    let mut text = String::new();
                    for block in message.content {
                        if let Some(t) = block.text {
                            push_capped(&mut text, &t);
                        }
                    }
                    ctx.response_text = text;
                }
                buf.clear();
            }
            Observer::Ignore => {}
        }
    }
}

/// Records usage and reply text of a whole JSON Messages response.
pub fn apply_json_response(ctx: &mut RequestContext, body: &[u8]) {
    let mut observer = Observer::Json {
        buf: body.to_vec(),
        overflow: false,
    };
    observer.apply(ctx);
}

fn push_capped(out: &mut String, s: &str) {
    let room = RESPONSE_TEXT_CAP.saturating_sub(out.len());
    if room == 0 {
        return;
    }
    if s.len() <= room {
        out.push_str(s);
    } else {
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&s[..cut]);
    }
}

fn sse_line(line: &[u8], usage: &mut Usage, text: &mut String, upstream_error: &mut bool) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line == b"event: error" || line == b"event:error" {
        *upstream_error = true;
        return;
    }
    let Some(data) = line.strip_prefix(b"data:") else {
        return;
    };
    let data = data.strip_prefix(b" ").unwrap_or(data);
    // Cheap pre-checks: only three event types matter here.
    let interesting = contains(data, b"\"message_start\"")
        || contains(data, b"\"message_delta\"")
        || contains(data, b"\"text_delta\"");
    if !interesting {
        return;
    }
    let Ok(parsed) = serde_json::from_slice::<SseDataJson<'_>>(data) else {
        return;
    };
    match parsed.kind {
        "message_start" => {
            if let Some(u) = parsed.message.and_then(|m| m.usage) {
                usage.input_tokens = u.input_tokens.or(usage.input_tokens);
                usage.output_tokens = u.output_tokens.or(usage.output_tokens);
            }
        }
        "message_delta" => {
            if let Some(u) = parsed.usage {
                usage.output_tokens = u.output_tokens.or(usage.output_tokens);
                if u.input_tokens.is_some() {
                    usage.input_tokens = u.input_tokens;
                }
            }
        }
        "content_block_delta" => {
            if let Some(t) = parsed.delta.and_then(|d| d.text) {
                push_capped(text, &t);
            }
        }
        _ => {}
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Output scanning of an SSE response: bytes are re-cut into whole events, each event is
/// scanned before it is forwarded, and a blocking finding ends the stream with an
/// `event: error` carrying the 403 envelope.
struct SseScan {
    scanner: StreamScanner,
    pending: BytesMut,
    ready: VecDeque<Bytes>,
    ended: bool,
}

/// The response body handed to the client.
pub struct RelayBody {
    inner: Incoming,
    observer: Observer,
    ctx: Option<RequestContext>,
    idle: Pin<Box<Sleep>>,
    idle_timeout: Duration,
    bytes: u64,
    scan: Option<SseScan>,
}

impl std::fmt::Debug for RelayBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayBody")
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl RelayBody {
    /// Wraps an upstream body; `ctx` is recorded when the body ends or is dropped. With
    /// `output_policy`, an SSE body is scanned event by event.
    pub fn new(
        inner: Incoming,
        content_type: Option<&str>,
        ctx: RequestContext,
        idle_timeout: Duration,
        output_policy: Option<Arc<CompiledPolicy>>,
    ) -> Self {
        let is_sse = content_type.is_some_and(|ct| ct.starts_with("text/event-stream"));
        let scan = output_policy.filter(|_| is_sse).map(|policy| SseScan {
            scanner: StreamScanner::new(policy),
            pending: BytesMut::new(),
            ready: VecDeque::new(),
            ended: false,
        });
        RelayBody {
            inner,
            observer: Observer::for_content_type(content_type),
            ctx: Some(ctx),
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            idle_timeout,
            bytes: 0,
            scan,
        }
    }

    fn complete(&mut self, completion: &str, error: Option<String>) {
        // A scanned stream that ends early still decides its pending findings, so their values
        // are masked in the stored reply text.
        if self.ctx.is_some()
            && let Some(scan) = self.scan.as_mut()
            && !scan.ended
        {
            scan.ended = true;
            let outcome = scan.scanner.finish();
            self.record_output(outcome.findings);
        }
        if let Some(mut ctx) = self.ctx.take() {
            self.observer.apply(&mut ctx);
            ctx.event.response_bytes = self.bytes;
            if let Some(error) = error
                && ctx.event.error.is_empty()
            {
                ctx.event.error = error;
            }
            ctx.finish(completion);
        }
    }

    fn count_upstream_error(&self, kind: &'static str) {
        if let Some(ctx) = &self.ctx {
            ctx.metrics()
                .upstream_errors
                .get_or_create(&UpstreamErrorLabels { kind })
                .inc();
        }
    }

    fn record_output(&mut self, findings: Vec<Finding>) {
        if findings.is_empty() {
            return;
        }
        if let Some(ctx) = self.ctx.as_mut() {
            ctx.add_findings(&ScanReport { findings });
            if ctx.decision == Decision::Allowed {
                ctx.decision = Decision::Flagged;
            }
        }
    }

    /// Cuts `data` into whole events, scans them and queues the ones to forward. Returns true
    /// when a blocking finding ended the stream.
    fn scan_data(&mut self, data: &[u8]) -> bool {
        let Some(scan) = self.scan.as_mut() else {
            return false;
        };
        scan.pending.extend_from_slice(data);
        let mut found = Vec::new();
        let mut block: Option<Finding> = None;
        while let Some(end) = next_event_end(&scan.pending) {
            let event = scan.pending.split_to(end).freeze();
            let outcome = scan.scanner.on_event(&event);
            found.extend(outcome.findings);
            if let Some(b) = outcome.block {
                block = Some(b);
                break;
            }
            scan.ready.push_back(event);
        }
        if block.is_none() && scan.pending.len() > MAX_EVENT_BYTES {
            // An event this large is not an Anthropic event: pass it on unscanned.
            scan.ready.push_back(scan.pending.split().freeze());
        }
        let Some(block) = block else {
            self.record_output(found);
            return false;
        };
        scan.ended = true;
        scan.pending.clear();
        if !found
            .iter()
            .any(|f| f.detector_type == block.detector_type && f.span == block.span)
        {
            found.push(block.clone());
        }
        let categories: Vec<String> = {
            let mut c: Vec<String> = Vec::new();
            for f in &found {
                if f.action == glitch_detect::Action::Block
                    && !c.iter().any(|x| **x == *f.detector_type)
                {
                    c.push(f.detector_type.to_string());
                }
            }
            c
        };
        self.record_output(found);
        let request_id = self
            .ctx
            .as_ref()
            .map(|c| request_id_for(c.event_id()))
            .unwrap_or_default();
        let envelope = SensorError::blocked(&categories).envelope_json(&request_id);
        if let Some(scan) = self.scan.as_mut() {
            scan.ready
                .push_back(Bytes::from(format!("event: error\ndata: {envelope}\n\n")));
        }
        if let Some(ctx) = self.ctx.as_mut() {
            ctx.decision = Decision::Blocked;
            ctx.event.error = "output blocked by policy; stream ended with event: error".into();
        }
        self.complete("blocked_output", None);
        true
    }

    /// End of the upstream body in scanning mode: pass on what is left and decide pending
    /// findings.
    fn scan_finish(&mut self) {
        let Some(scan) = self.scan.as_mut() else {
            return;
        };
        if !scan.pending.is_empty() {
            scan.ready.push_back(scan.pending.split().freeze());
        }
        let outcome = scan.scanner.finish();
        scan.ended = true;
        self.record_output(outcome.findings);
    }
}

impl Body for RelayBody {
    type Data = Bytes;
    type Error = RelayError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RelayError>>> {
        let this = &mut *self;
        loop {
            if let Some(scan) = this.scan.as_mut() {
                if let Some(event) = scan.ready.pop_front() {
                    return Poll::Ready(Some(Ok(Frame::data(event))));
                }
                if scan.ended {
                    if this.ctx.is_some() {
                        this.complete("complete", None);
                    }
                    return Poll::Ready(None);
                }
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        this.bytes += data.len() as u64;
                        this.observer.observe(data);
                    }
                    let deadline = Instant::now() + this.idle_timeout;
                    this.idle.as_mut().reset(deadline);
                    if this.scan.is_some() {
                        if let Ok(data) = frame.into_data() {
                            this.scan_data(&data);
                        }
                        continue;
                    }
                    if this.inner.is_end_stream() {
                        // A sized body is done once its last byte is out; hyper may never poll again.
                        this.complete("complete", None);
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Poll::Ready(Some(Err(e))) => {
                    this.count_upstream_error("body");
                    this.complete("upstream_error", Some(format!("upstream body error: {e}")));
                    return Poll::Ready(Some(Err(RelayError::Upstream(e))));
                }
                Poll::Ready(None) => {
                    if this.scan.is_some() {
                        this.scan_finish();
                        continue;
                    }
                    this.complete("complete", None);
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    if this.idle.as_mut().poll(cx).is_ready() {
                        this.count_upstream_error("idle_timeout");
                        let timeout = this.idle_timeout;
                        this.complete(
                            "upstream_idle_timeout",
                            Some(format!(
                                "upstream sent nothing for {} s; response cut off",
                                timeout.as_secs()
                            )),
                        );
                        return Poll::Ready(Some(Err(RelayError::Idle(timeout))));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.scan {
            Some(scan) => scan.ended && scan.ready.is_empty(),
            None => self.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.scan {
            Some(_) => SizeHint::default(),
            None => self.inner.size_hint(),
        }
    }
}

impl Drop for RelayBody {
    fn drop(&mut self) {
        if self.ctx.is_some() && Body::is_end_stream(self) {
            self.complete("complete", None);
        } else if self.ctx.is_some() {
            self.complete(
                "client_disconnected",
                Some("client disconnected before the response ended".into()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_usage_and_text_across_chunk_boundaries() {
        let stream = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[],\"usage\":{\"input_tokens\":42,\"output_tokens\":1}}}\n\n",
            "event: ping\ndata: {\"type\": \"ping\"}\n\n",
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"rou\"}}\n\n",
            "event: content_block_delta\r\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ted\"}}\r\n\r\n",
            "event: message_delta\n",
            "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n",
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
        )
        .as_bytes();
        for split in [1usize, 3, 7, 64, stream.len()] {
            let mut obs = Observer::for_content_type(Some("text/event-stream; charset=utf-8"));
            for chunk in stream.chunks(split) {
                obs.observe(chunk);
            }
            let Observer::Sse {
                usage,
                text,
                upstream_error,
                ..
            } = &obs
            else {
                panic!()
            };
            assert_eq!(usage.input_tokens, Some(42), "split {split}");
            assert_eq!(usage.output_tokens, Some(7), "split {split}");
            assert_eq!(text, "routed", "split {split}");
            assert!(upstream_error);
        }
    }

    #[test]
    fn long_lines_are_skipped_not_buffered() {
        let mut obs = Observer::for_content_type(Some("text/event-stream"));
        let big = vec![b'x'; SSE_LINE_CAP + 10];
        obs.observe(b"data: ");
        obs.observe(&big);
        obs.observe(b"\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":3}}\n");
        let Observer::Sse { usage, line, .. } = &obs else {
            panic!()
        };
        assert_eq!(usage.output_tokens, Some(3));
        assert!(line.is_empty());
    }

    #[test]
    fn capped_text_is_char_safe() {
        let mut s = String::new();
        push_capped(&mut s, &"é".repeat(RESPONSE_TEXT_CAP));
        assert!(s.len() <= RESPONSE_TEXT_CAP);
        assert!(s.chars().all(|c| c == 'é'));
    }
}
