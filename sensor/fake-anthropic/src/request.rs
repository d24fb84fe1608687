//! Reading an Anthropic Messages request: the fields the fake needs, the last
//! user message's text, and the reply that text asks for.

use serde::Deserialize;

use crate::DEFAULT_REPLY;

/// Model echoed back when a request names none.
pub(crate) const FALLBACK_MODEL: &str = "claude-sonnet-4-5-20250929";

const PRINT_WORD: &str = "Print exactly the word:";

/// The parts of a Messages request the fake looks at; everything else
/// (`system`, `tools`, `metadata`, `max_tokens`, ...) is ignored.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MessagesRequest {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub messages: Vec<Message>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Message {
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub content: Content,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub(crate) enum Content {
    Text(String),
    Blocks(Vec<Block>),
    #[default]
    Empty,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Block {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

impl MessagesRequest {
    pub(crate) fn model(&self) -> &str {
        self.model.as_deref().unwrap_or(FALLBACK_MODEL)
    }

    pub(crate) fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// The text of the last `user` message: its string content, or its text
    /// blocks joined by newlines (tool results, images etc. are skipped).
    pub(crate) fn last_user_text(&self) -> String {
        let Some(message) = self.messages.iter().rev().find(|m| m.role == "user") else {
            return String::new();
        };
        match &message.content {
            Content::Text(text) => text.clone(),
            Content::Blocks(blocks) => {
                let mut out = String::new();
                for block in blocks.iter().filter(|b| b.kind == "text") {
                    if let Some(text) = &block.text {
                        if !out.is_empty() {
                            out.push('\n');
                        }
                        out.push_str(text);
                    }
                }
                out
            }
            Content::Empty => String::new(),
        }
    }
}

/// The reply the prompt asks for: `X` for `Print exactly the word: X`, else
/// [`DEFAULT_REPLY`].
pub(crate) fn reply_for(prompt: &str) -> String {
    requested_word(prompt).map_or_else(|| DEFAULT_REPLY.to_owned(), str::to_owned)
}

fn requested_word(prompt: &str) -> Option<&str> {
    let start = prompt.find(PRINT_WORD)? + PRINT_WORD.len();
    let token = prompt[start..].split_whitespace().next()?;
    let token = token.trim_end_matches(|c: char| {
        matches!(
            c,
            '.' | ',' | ';' | ':' | '!' | '?' | '"' | '\'' | '`' | ')' | ']' | '}'
        )
    });
    let token = token.trim_start_matches(['"', '\'', '`', '(']);
    (!token.is_empty()).then_some(token)
}

/// Rough token count of a request body, as Anthropic's would be: bytes / 4.
pub(crate) fn estimate_tokens(body_len: usize) -> u64 {
    u64::try_from(body_len / 4).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_picks_the_requested_word() {
        assert_eq!(reply_for("Print exactly the word: routed"), "routed");
        assert_eq!(reply_for("Print exactly the word: routed."), "routed");
        assert_eq!(
            reply_for("Please. Print exactly the word: \"banana\" and stop"),
            "banana"
        );
        assert_eq!(reply_for("Print exactly the word:"), DEFAULT_REPLY);
        assert_eq!(reply_for("hi"), DEFAULT_REPLY);
    }

    #[test]
    fn last_user_text_reads_strings_and_text_blocks() {
        let req: MessagesRequest = serde_json::from_str(
            r#"{"model":"m","max_tokens":5,"messages":[
                {"role":"user","content":"first"},
                {"role":"assistant","content":"ok"},
                {"role":"user","content":[
                    {"type":"tool_result","tool_use_id":"t","content":"Print exactly the word: no"},
                    {"type":"text","text":"a"},
                    {"type":"image","source":{}},
                    {"type":"text","text":"b","cache_control":{"type":"ephemeral"}}
                ]}
            ],"stream":true,"unknown":1}"#,
        )
        .unwrap();
        assert_eq!(req.last_user_text(), "a\nb");
        assert!(req.is_stream());
        assert_eq!(req.model(), "m");
    }

    #[test]
    fn tolerates_missing_fields() {
        let req: MessagesRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(req.last_user_text(), "");
        assert!(!req.is_stream());
        assert_eq!(req.model(), FALLBACK_MODEL);
    }
}
