//! What an answer contains (text, thinking, tool use) and how it is written:
//! as one Message object, or as Anthropic's SSE event sequence
//! (`event: <type>\ndata: <json>\n\n`, one event per body frame).

use bytes::Bytes;

use crate::body::Frames;
use crate::ids;
use crate::wire::{
    ContentBlock, Delta, ErrorBody, Event, Message, OutputUsage, StopDelta, ToolInput, Usage,
    to_bytes,
};

const THINKING_TEXT: &str =
    "The user wants a short answer. I will reply with the requested text and nothing else.";
const THINKING_SIGNATURE: &str =
    "EqQBCkYIBhgCIkBmYWtlLXNpZ25hdHVyZS1mb3ItdGhlLWdsaXRjaC1mYWtlLWFudGhyb3BpYy11cHN0cmVhbQ==";
const TOOL_NAME: &str = "Bash";
const TOOL_COMMAND: &str = "echo hi";
/// `{"command": "echo hi"}` in the pieces a stream delivers it in.
const TOOL_INPUT_CHUNKS: [&str; 4] = ["", "{\"comman", "d\": \"echo", " hi\"}"];
const TOOL_OUTPUT_TOKENS: u64 = 24;

/// One content block of an answer.
pub(crate) enum Block {
    /// A text block, streamed in these chunks (concatenated, the text).
    Text(Vec<String>),
    /// A text block of N words `w0 w1 ...`, each its own delta (generated
    /// lazily: N can be large).
    BigText(usize),
    /// A thinking block, streamed in these chunks, then its signature.
    Thinking(Vec<String>),
    /// A `Bash` tool call with `{"command":"echo hi"}` (the id is kept here).
    ToolUse(String),
}

/// A complete answer to a Messages request.
pub(crate) struct Answer {
    pub id: String,
    pub model: String,
    pub input_tokens: u64,
    pub blocks: Vec<Block>,
}

/// How much of the answer a stream delivers before it stops.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// All of it.
    Whole,
    /// `message_start`, the first block's start, one delta, then an
    /// `overloaded_error` event.
    MidstreamError,
    /// `message_start` only.
    AfterStart,
}

/// Splits `text` into word chunks, each but the first with its leading space.
pub(crate) fn word_chunks(text: &str) -> Vec<String> {
    let mut chunks = Vec::new();
    for word in text.split(' ') {
        if chunks.is_empty() {
            chunks.push(word.to_owned());
        } else {
            chunks.push(format!(" {word}"));
        }
    }
    chunks
}

fn big_word(i: usize) -> String {
    if i == 0 {
        "w0".to_owned()
    } else {
        format!(" w{i}")
    }
}

impl Answer {
    /// A plain text answer.
    pub(crate) fn text(model: &str, input_tokens: u64, text: &str) -> Self {
        Answer::with_blocks(model, input_tokens, vec![Block::Text(word_chunks(text))])
    }

    fn with_blocks(model: &str, input_tokens: u64, blocks: Vec<Block>) -> Self {
        Answer {
            id: ids::message_id(),
            model: model.to_owned(),
            input_tokens,
            blocks,
        }
    }

    /// A thinking block, then the text.
    pub(crate) fn thinking(model: &str, input_tokens: u64, text: &str) -> Self {
        let blocks = vec![
            Block::Thinking(word_chunks(THINKING_TEXT)),
            Block::Text(word_chunks(text)),
        ];
        Answer::with_blocks(model, input_tokens, blocks)
    }

    /// A `Bash` tool call.
    pub(crate) fn tool_use(model: &str, input_tokens: u64) -> Self {
        let blocks = vec![Block::ToolUse(ids::tool_use_id())];
        Answer::with_blocks(model, input_tokens, blocks)
    }

    /// N one-word text deltas.
    pub(crate) fn big(model: &str, input_tokens: u64, words: usize) -> Self {
        Answer::with_blocks(model, input_tokens, vec![Block::BigText(words)])
    }

    fn stop_reason(&self) -> &'static str {
        if self.blocks.iter().any(|b| matches!(b, Block::ToolUse(_))) {
            "tool_use"
        } else {
            "end_turn"
        }
    }

    /// Output tokens: one per word of the blocks (a fixed count for a tool
    /// call), plus one.
    pub(crate) fn output_tokens(&self) -> u64 {
        let mut tokens = 1u64;
        for block in &self.blocks {
            tokens += match block {
                Block::Text(chunks) | Block::Thinking(chunks) => {
                    u64::try_from(chunks.len()).unwrap_or(u64::MAX)
                }
                Block::BigText(n) => u64::try_from(*n).unwrap_or(u64::MAX),
                Block::ToolUse(_) => TOOL_OUTPUT_TOKENS,
            };
        }
        tokens
    }

    fn usage(&self, output_tokens: u64) -> Usage {
        Usage {
            input_tokens: self.input_tokens,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            output_tokens,
        }
    }

    /// The non-streaming Message object.
    pub(crate) fn message_json(&self) -> Bytes {
        let texts: Vec<String> = self
            .blocks
            .iter()
            .map(|block| match block {
                Block::Text(chunks) | Block::Thinking(chunks) => chunks.concat(),
                Block::BigText(n) => (0..*n).map(big_word).collect(),
                Block::ToolUse(_) => String::new(),
            })
            .collect();
        let content = self
            .blocks
            .iter()
            .zip(&texts)
            .map(|(block, text)| match block {
                Block::Text(_) | Block::BigText(_) => ContentBlock::Text { text },
                Block::Thinking(_) => ContentBlock::Thinking {
                    thinking: text,
                    signature: THINKING_SIGNATURE,
                },
                Block::ToolUse(id) => ContentBlock::ToolUse {
                    id,
                    name: TOOL_NAME,
                    input: ToolInput {
                        command: Some(TOOL_COMMAND),
                    },
                },
            })
            .collect();
        to_bytes(&Message {
            id: &self.id,
            kind: "message",
            role: "assistant",
            model: &self.model,
            content,
            stop_reason: Some(self.stop_reason()),
            stop_sequence: None,
            usage: self.usage(self.output_tokens()),
        })
    }

    /// The SSE frames of this answer, as far as `cut` lets it go.
    pub(crate) fn stream_frames(self, cut: Cut) -> Frames {
        let start = Event::MessageStart {
            message: Message {
                id: &self.id,
                kind: "message",
                role: "assistant",
                model: &self.model,
                content: Vec::new(),
                stop_reason: None,
                stop_sequence: None,
                usage: self.usage(1),
            },
        };
        let mut head = vec![start.frame()];
        if cut == Cut::AfterStart {
            return Box::new(head.into_iter());
        }
        let output_tokens = self.output_tokens();
        let stop_reason = self.stop_reason();
        let mut frames: Frames = Box::new(std::iter::empty());
        for (index, block) in self.blocks.into_iter().enumerate() {
            head.push(block_start(index, &block));
            if index == 0 && cut == Cut::Whole {
                head.push(Event::Ping.frame());
            }
            if cut == Cut::MidstreamError {
                head.extend(block_deltas(index, block).next());
                let error = Event::Error {
                    error: ErrorBody {
                        kind: "overloaded_error",
                        message: "Overloaded",
                    },
                };
                head.push(error.frame());
                return Box::new(frames.chain(head));
            }
            let deltas = block_deltas(index, block);
            let stop = Event::ContentBlockStop { index }.frame();
            frames = Box::new(
                frames
                    .chain(std::mem::take(&mut head))
                    .chain(deltas)
                    .chain(std::iter::once(stop)),
            );
        }
        let delta = Event::MessageDelta {
            delta: StopDelta {
                stop_reason,
                stop_sequence: None,
            },
            usage: OutputUsage { output_tokens },
        };
        let tail = [delta.frame(), Event::MessageStop.frame()];
        Box::new(frames.chain(head).chain(tail))
    }
}

fn block_start(index: usize, block: &Block) -> Bytes {
    let content_block = match block {
        Block::Text(_) | Block::BigText(_) => ContentBlock::Text { text: "" },
        Block::Thinking(_) => ContentBlock::Thinking {
            thinking: "",
            signature: "",
        },
        Block::ToolUse(id) => ContentBlock::ToolUse {
            id,
            name: TOOL_NAME,
            input: ToolInput { command: None },
        },
    };
    Event::ContentBlockStart {
        index,
        content_block,
    }
    .frame()
}

fn delta_frame(index: usize, delta: Delta<'_>) -> Bytes {
    Event::ContentBlockDelta { index, delta }.frame()
}

/// The `content_block_delta` events of a block, produced lazily.
fn block_deltas(index: usize, block: Block) -> Frames {
    match block {
        Block::Text(chunks) => Box::new(
            chunks
                .into_iter()
                .map(move |text| delta_frame(index, Delta::TextDelta { text: &text })),
        ),
        Block::BigText(n) => Box::new(
            (0..n).map(move |i| delta_frame(index, Delta::TextDelta { text: &big_word(i) })),
        ),
        Block::Thinking(chunks) => {
            let signature = delta_frame(
                index,
                Delta::SignatureDelta {
                    signature: THINKING_SIGNATURE,
                },
            );
            Box::new(
                chunks
                    .into_iter()
                    .map(move |thinking| {
                        delta_frame(
                            index,
                            Delta::ThinkingDelta {
                                thinking: &thinking,
                            },
                        )
                    })
                    .chain(std::iter::once(signature)),
            )
        }
        Block::ToolUse(_) => {
            Box::new(TOOL_INPUT_CHUNKS.into_iter().map(move |partial_json| {
                delta_frame(index, Delta::InputJsonDelta { partial_json })
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(frames: Frames) -> Vec<String> {
        frames
            .map(|f| {
                let s = String::from_utf8(f.to_vec()).unwrap();
                assert!(s.ends_with("\n\n"));
                s.lines()
                    .next()
                    .unwrap()
                    .trim_start_matches("event: ")
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn text_stream_has_anthropics_order() {
        let answer = Answer::text("m", 10, "Hello big world");
        assert_eq!(answer.output_tokens(), 4);
        assert_eq!(
            names(answer.stream_frames(Cut::Whole)),
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
    }

    #[test]
    fn message_start_and_message_match_anthropics_shape() {
        let answer = Answer::text("claude-x", 10, "Hi");
        let id = answer.id.clone();
        let message = String::from_utf8(answer.message_json().to_vec()).unwrap();
        assert_eq!(
            message,
            format!(
                "{{\"id\":\"{id}\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\
                 \"content\":[{{\"type\":\"text\",\"text\":\"Hi\"}}],\"stop_reason\":\"end_turn\",\
                 \"stop_sequence\":null,\"usage\":{{\"input_tokens\":10,\"cache_creation_input_tokens\":0,\
                 \"cache_read_input_tokens\":0,\"output_tokens\":2}}}}"
            )
        );
        let first = answer.stream_frames(Cut::Whole).next().unwrap();
        assert!(String::from_utf8(first.to_vec()).unwrap().starts_with(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"
        ));
    }

    #[test]
    fn cuts() {
        let answer = Answer::text("m", 10, "a b c");
        assert_eq!(
            names(answer.stream_frames(Cut::MidstreamError)),
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "error"
            ]
        );
        let answer = Answer::text("m", 10, "a b c");
        assert_eq!(
            names(answer.stream_frames(Cut::AfterStart)),
            ["message_start"]
        );
    }

    #[test]
    fn big_stream_is_lazy_and_complete() {
        let frames = Answer::big("m", 1, 1000).stream_frames(Cut::Whole);
        assert_eq!(frames.count(), 1000 + 6);
    }

    #[test]
    fn tool_input_chunks_concatenate_to_json() {
        let json: serde_json::Value = serde_json::from_str(&TOOL_INPUT_CHUNKS.concat()).unwrap();
        assert_eq!(json, serde_json::json!({"command": TOOL_COMMAND}));
    }
}
