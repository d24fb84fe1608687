//! Anthropic's wire types, as the fake serializes them: fields are declared
//! in the order Anthropic sends them (`"type"` first), so the JSON matches
//! the real API byte for byte in shape.

use bytes::Bytes;
use serde::Serialize;

/// Serializes `value` to JSON bytes (infallible for these types).
pub(crate) fn to_bytes<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// A Message object (non-streaming answer, or inside `message_start`).
#[derive(Serialize)]
pub(crate) struct Message<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'static str,
    pub model: &'a str,
    pub content: Vec<ContentBlock<'a>>,
    pub stop_reason: Option<&'static str>,
    pub stop_sequence: Option<&'static str>,
    pub usage: Usage,
}

#[derive(Serialize)]
pub(crate) struct Usage {
    pub input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ContentBlock<'a> {
    Text {
        text: &'a str,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: ToolInput<'a>,
    },
}

/// The input of the fake's `Bash` tool call; empty in `content_block_start`.
#[derive(Serialize)]
pub(crate) struct ToolInput<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(
    clippy::enum_variant_names,
    reason = "the variant names are Anthropic's delta types (`text_delta`, ...)"
)]
pub(crate) enum Delta<'a> {
    TextDelta { text: &'a str },
    ThinkingDelta { thinking: &'a str },
    SignatureDelta { signature: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[derive(Serialize)]
pub(crate) struct StopDelta {
    pub stop_reason: &'static str,
    pub stop_sequence: Option<&'static str>,
}

#[derive(Serialize)]
pub(crate) struct OutputUsage {
    pub output_tokens: u64,
}

/// The `error` member of an error envelope or `error` event.
#[derive(Serialize)]
pub(crate) struct ErrorBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub message: &'a str,
}

/// `{"type":"error","error":{...},"request_id":"req_..."}`.
#[derive(Serialize)]
pub(crate) struct ErrorEnvelope<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub error: ErrorBody<'a>,
    pub request_id: &'a str,
}

/// The data of one SSE event; its `type` is also the event's name.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Event<'a> {
    MessageStart {
        message: Message<'a>,
    },
    ContentBlockStart {
        index: usize,
        content_block: ContentBlock<'a>,
    },
    Ping,
    ContentBlockDelta {
        index: usize,
        delta: Delta<'a>,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        delta: StopDelta,
        usage: OutputUsage,
    },
    MessageStop,
    Error {
        error: ErrorBody<'a>,
    },
}

impl Event<'_> {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Event::MessageStart { .. } => "message_start",
            Event::ContentBlockStart { .. } => "content_block_start",
            Event::Ping => "ping",
            Event::ContentBlockDelta { .. } => "content_block_delta",
            Event::ContentBlockStop { .. } => "content_block_stop",
            Event::MessageDelta { .. } => "message_delta",
            Event::MessageStop => "message_stop",
            Event::Error { .. } => "error",
        }
    }

    /// The event as one SSE frame: `event: NAME\ndata: JSON\n\n`.
    pub(crate) fn frame(&self) -> Bytes {
        let name = self.name();
        let mut out = Vec::with_capacity(96);
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        if serde_json::to_writer(&mut out, self).is_err() {
            out.extend_from_slice(br#"{"type":"ping"}"#);
        }
        out.extend_from_slice(b"\n\n");
        Bytes::from(out)
    }
}

#[derive(Serialize)]
pub(crate) struct Model<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: &'a str,
    pub display_name: &'a str,
    pub created_at: &'a str,
}

#[derive(Serialize)]
pub(crate) struct ModelList<'a> {
    pub data: Vec<Model<'a>>,
    pub has_more: bool,
    pub first_id: Option<&'a str>,
    pub last_id: Option<&'a str>,
}

#[derive(Serialize)]
pub(crate) struct CountTokens {
    pub input_tokens: u64,
}

#[derive(Serialize)]
pub(crate) struct RequestCounts {
    pub processing: usize,
    pub succeeded: usize,
    pub errored: usize,
    pub canceled: usize,
    pub expired: usize,
}

#[derive(Serialize)]
pub(crate) struct MessageBatch {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub processing_status: &'static str,
    pub request_counts: RequestCounts,
    pub ended_at: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    pub archived_at: Option<String>,
    pub cancel_initiated_at: Option<String>,
    pub results_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_in_anthropics_field_order() {
        let delta = Event::ContentBlockDelta {
            index: 0,
            delta: Delta::TextDelta { text: "Hi" },
        };
        assert_eq!(
            delta.frame(),
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n"
        );
        assert_eq!(
            Event::Ping.frame(),
            "event: ping\ndata: {\"type\":\"ping\"}\n\n"
        );
        let stop = Event::MessageDelta {
            delta: StopDelta {
                stop_reason: "end_turn",
                stop_sequence: None,
            },
            usage: OutputUsage { output_tokens: 3 },
        };
        assert_eq!(
            stop.frame(),
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":3}}\n\n"
        );
        let start = Event::ContentBlockStart {
            index: 1,
            content_block: ContentBlock::ToolUse {
                id: "toolu_1",
                name: "Bash",
                input: ToolInput { command: None },
            },
        };
        assert_eq!(
            start.frame(),
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"Bash\",\"input\":{}}}\n\n"
        );
    }
}
