//! Lenient parsing of Anthropic request bodies into the text that contract §3 says is scanned:
//! system prompt, every message's text, tool_result content, tool_use input and document text.
//! Tool definitions, images, base64 documents and thinking blocks are not scanned. Strings are
//! borrowed from the body whenever they contain no JSON escapes, so a 76 KB Claude Code request
//! is parsed without copying its text. Unknown fields, roles and block types are skipped; a body
//! whose shape the typed view does not understand is scanned string by string instead, so no text
//! escapes detection because of an unexpected shape.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Where a scanned text came from, rendered like `requests[2].params.messages[3].content[1]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// Index in a batch's `requests`, for `/v1/messages/batches`.
    pub batch_request: Option<u32>,
    /// The part of the request.
    pub part: Part,
}

/// The part of one request (or response) a text came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    /// `system` (a string) or `system[block]`.
    System { block: Option<u32> },
    /// `messages[index]`, `messages[index].content[block]`, or a nested tool_result block
    /// `messages[index].content[block].content[inner]`.
    Message {
        index: u32,
        block: Option<u32>,
        inner: Option<u32>,
    },
    /// A string somewhere in a body whose shape was not understood (`body`).
    Body,
    /// The `content` of a `/v1/detect` call.
    DetectContent,
    /// The response's `content[block]`.
    Response { block: u32 },
}

impl Location {
    /// A location outside any batch.
    pub fn new(part: Part) -> Self {
        Location {
            batch_request: None,
            part,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(i) = self.batch_request {
            write!(f, "requests[{i}].params.")?;
        }
        match self.part {
            Part::System { block: None } => f.write_str("system"),
            Part::System { block: Some(b) } => write!(f, "system[{b}]"),
            Part::Message {
                index,
                block,
                inner,
            } => {
                write!(f, "messages[{index}]")?;
                if let Some(b) = block {
                    write!(f, ".content[{b}]")?;
                }
                if let Some(i) = inner {
                    write!(f, ".content[{i}]")?;
                }
                Ok(())
            }
            Part::Body => f.write_str("body"),
            Part::DetectContent => f.write_str("content"),
            Part::Response { block } => write!(f, "content[{block}]"),
        }
    }
}

/// One piece of text to scan and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextSegment<'a> {
    /// Where the text sits in the request.
    pub location: Location,
    /// The text, unescaped.
    pub text: Cow<'a, str>,
}

/// What the sensor needs to know about one Messages request.
#[derive(Debug, Default)]
pub struct ParsedRequest<'a> {
    /// `model`, if present.
    pub model: Option<Cow<'a, str>>,
    /// `stream: true`.
    pub stream: bool,
    /// `metadata.user_id`, if present.
    pub user_id: Option<Cow<'a, str>>,
    /// Texts to scan, in document order.
    pub segments: Vec<TextSegment<'a>>,
    /// True when the typed view failed and every string in the body was collected instead.
    pub fallback: bool,
}

/// Why a body could not be parsed at all.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON (or not UTF-8).
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("body must be a JSON object")]
    NotObject,
    /// An object with the same key twice: parsers disagree on which one wins, so such a body
    /// could show the detector one text and the upstream another.
    #[error("duplicate key: {0}")]
    DuplicateKey(String),
}

/// Parses a `/v1/messages` (or `count_tokens`) body.
pub fn parse_messages_request(body: &[u8]) -> Result<ParsedRequest<'_>, ParseError> {
    match serde_json::from_slice::<RequestView<'_>>(body) {
        Ok(view) => Ok(view.into_parsed(None)),
        Err(typed_err) => fallback(body, typed_err),
    }
}

/// Parses a `/v1/messages/batches` body: every `requests[i].params` is a Messages request.
/// Returns the sub-requests' segments (with `batch_request` set) in one `ParsedRequest`.
pub fn parse_batch_request(body: &[u8]) -> Result<ParsedRequest<'_>, ParseError> {
    let view = match serde_json::from_slice::<BatchView<'_>>(body) {
        Ok(view) => view,
        Err(typed_err) => return fallback(body, typed_err),
    };
    let mut parsed = ParsedRequest::default();
    for (i, item) in view.requests.unwrap_or_default().into_iter().enumerate() {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        let Some(params) = item.params else { continue };
        match serde_json::from_str::<RequestView<'_>>(params.get()) {
            Ok(sub) => {
                let sub = sub.into_parsed(Some(index));
                if parsed.model.is_none() {
                    parsed.model = sub.model;
                }
                parsed.segments.extend(sub.segments);
            }
            Err(_) => {
                let mut strings = Vec::new();
                if let Ok(value) = serde_json::from_str::<serde_json::Value>(params.get()) {
                    collect_strings(&value, &mut strings);
                }
                parsed.fallback = true;
                parsed
                    .segments
                    .extend(strings.into_iter().map(|s| TextSegment {
                        location: Location {
                            batch_request: Some(index),
                            part: Part::Body,
                        },
                        text: Cow::Owned(s),
                    }));
            }
        }
    }
    Ok(parsed)
}

/// The typed view failed: decide between "not JSON", "not an object" and "an object of a shape
/// we do not know", in which case every string value is scanned.
fn fallback(body: &[u8], typed_err: serde_json::Error) -> Result<ParsedRequest<'_>, ParseError> {
    if typed_err.to_string().starts_with("duplicate field") {
        return Err(ParseError::DuplicateKey(typed_err.to_string()));
    }
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return Err(ParseError::NotJson(typed_err.to_string())),
    };
    let serde_json::Value::Object(map) = &value else {
        return Err(ParseError::NotObject);
    };
    let mut strings = Vec::new();
    collect_strings(&value, &mut strings);
    Ok(ParsedRequest {
        model: map
            .get("model")
            .and_then(|m| m.as_str())
            .map(|m| Cow::Owned(m.to_owned())),
        stream: map.get("stream").and_then(|s| s.as_bool()).unwrap_or(false),
        user_id: map
            .get("metadata")
            .and_then(|m| m.get("user_id"))
            .and_then(|u| u.as_str())
            .map(|u| Cow::Owned(u.to_owned())),
        segments: strings
            .into_iter()
            .map(|s| TextSegment {
                location: Location::new(Part::Body),
                text: Cow::Owned(s),
            })
            .collect(),
        fallback: true,
    })
}

/// Collects every string value (not object keys) of a JSON value, depth first.
pub fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// A string that borrows from the input when it has no escapes.
#[derive(Debug)]
struct CowStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CowStrVisitor;
        impl<'de> Visitor<'de> for CowStrVisitor {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(CowStrVisitor)
    }
}

/// `content` / `system`: a string, or an array of blocks.
#[derive(Debug)]
enum Content<'a> {
    Text(Cow<'a, str>),
    Blocks(Vec<Block<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Content<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = Content<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of content blocks")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Owned(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Content::Blocks(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(4).min(256));
                while let Some(block) = seq.next_element::<Block<'de>>()? {
                    blocks.push(block);
                }
                Ok(Content::Blocks(blocks))
            }
        }
        deserializer.deserialize_any(ContentVisitor)
    }
}

#[derive(Debug, Deserialize)]
struct Block<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    text: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    #[serde(borrow, default)]
    content: Option<Content<'a>>,
    #[serde(borrow, default)]
    source: Option<Source<'a>>,
}

#[derive(Debug, Deserialize)]
struct Source<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    data: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    content: Option<Content<'a>>,
}

#[derive(Debug, Deserialize)]
struct Message<'a> {
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "roles are not needed for scanning, but the field is parsed to validate shape"
    )]
    role: Option<IgnoredAny>,
    #[serde(borrow, default)]
    content: Option<Content<'a>>,
}

#[derive(Debug, Deserialize)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    user_id: Option<CowStr<'a>>,
}

#[derive(Debug, Deserialize)]
struct RequestView<'a> {
    #[serde(borrow, default)]
    model: Option<CowStr<'a>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(borrow, default)]
    system: Option<Content<'a>>,
    #[serde(borrow, default)]
    messages: Option<Vec<Message<'a>>>,
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
}

#[derive(Debug, Deserialize)]
struct BatchView<'a> {
    #[serde(borrow, default)]
    requests: Option<Vec<BatchItem<'a>>>,
}

#[derive(Debug, Deserialize)]
struct BatchItem<'a> {
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

fn idx(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl<'a> RequestView<'a> {
    fn into_parsed(self, batch_request: Option<u32>) -> ParsedRequest<'a> {
        let mut segments = Vec::new();
        let loc = |part| Location {
            batch_request,
            part,
        };
        match self.system {
            Some(Content::Text(text)) => segments.push(TextSegment {
                location: loc(Part::System { block: None }),
                text,
            }),
            Some(Content::Blocks(blocks)) => {
                for (b, block) in blocks.into_iter().enumerate() {
                    // System blocks are text blocks; nested content (unusual) shares the location.
                    push_block(block, &mut segments, |_| {
                        loc(Part::System {
                            block: Some(idx(b)),
                        })
                    });
                }
            }
            None => {}
        }
        for (m, message) in self.messages.unwrap_or_default().into_iter().enumerate() {
            let index = idx(m);
            match message.content {
                Some(Content::Text(text)) => segments.push(TextSegment {
                    location: loc(Part::Message {
                        index,
                        block: None,
                        inner: None,
                    }),
                    text,
                }),
                Some(Content::Blocks(blocks)) => {
                    for (b, block) in blocks.into_iter().enumerate() {
                        push_block(block, &mut segments, |inner| {
                            loc(Part::Message {
                                index,
                                block: Some(idx(b)),
                                inner,
                            })
                        });
                    }
                }
                None => {}
            }
        }
        ParsedRequest {
            model: self.model.map(|m| m.0),
            stream: self.stream.unwrap_or(false),
            user_id: self.metadata.and_then(|m| m.user_id).map(|u| u.0),
            segments,
            fallback: false,
        }
    }
}

/// Adds the scannable text of one content block. `at(None)` is the block's own location,
/// `at(Some(i))` the location of its i-th nested block (tool_result / document content).
fn push_block<'a>(
    block: Block<'a>,
    out: &mut Vec<TextSegment<'a>>,
    at: impl Fn(Option<u32>) -> Location,
) {
    let kind = block.kind.as_ref().map(|k| k.0.as_ref()).unwrap_or("");
    match kind {
        "image" | "thinking" | "redacted_thinking" => {}
        "tool_use" | "server_tool_use" => {
            if let Some(input) = block.input {
                let mut strings = Vec::new();
                if let Ok(value) = serde_json::from_str::<serde_json::Value>(input.get()) {
                    collect_strings(&value, &mut strings);
                }
                if !strings.is_empty() {
                    out.push(TextSegment {
                        location: at(None),
                        text: Cow::Owned(strings.join("\n")),
                    });
                }
            }
        }
        "document" => {
            if let Some(source) = block.source {
                let source_kind = source.kind.as_ref().map(|k| k.0.as_ref()).unwrap_or("");
                match (source_kind, source.data, source.content) {
                    ("text", Some(data), _) => out.push(TextSegment {
                        location: at(None),
                        text: data.0,
                    }),
                    ("content", _, Some(content)) => push_nested(content, out, &at),
                    _ => {}
                }
            }
            if let Some(text) = block.text {
                out.push(TextSegment {
                    location: at(None),
                    text: text.0,
                });
            }
        }
        _ => {
            // text, tool_result, search_result, web results and unknown block types: scan their
            // text and their nested content.
            if let Some(text) = block.text {
                out.push(TextSegment {
                    location: at(None),
                    text: text.0,
                });
            }
            if let Some(content) = block.content {
                push_nested(content, out, &at);
            }
        }
    }
}

fn push_nested<'a>(
    content: Content<'a>,
    out: &mut Vec<TextSegment<'a>>,
    at: &dyn Fn(Option<u32>) -> Location,
) {
    match content {
        Content::Text(text) => out.push(TextSegment {
            location: at(None),
            text,
        }),
        Content::Blocks(blocks) => {
            for (i, inner) in blocks.into_iter().enumerate() {
                let kind = inner.kind.as_ref().map(|k| k.0.as_ref()).unwrap_or("");
                if matches!(kind, "image" | "thinking" | "redacted_thinking") {
                    continue;
                }
                if let Some(text) = inner.text {
                    out.push(TextSegment {
                        location: at(Some(idx(i))),
                        text: text.0,
                    });
                }
                // Deeper nesting (rare): flatten into the same inner location.
                if let Some(deeper) = inner.content {
                    let inner_location = at(Some(idx(i)));
                    push_nested(deeper, out, &|_| inner_location);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(p: &ParsedRequest<'_>) -> Vec<(String, String)> {
        p.segments
            .iter()
            .map(|s| (s.location.to_string(), s.text.to_string()))
            .collect()
    }

    #[test]
    fn extracts_every_scanned_part_with_locations() {
        let body = br#"{
          "model": "claude-sonnet-4-5", "stream": true, "max_tokens": 10,
          "metadata": {"user_id": "user_abc_account_x_session_11111111-2222-3333-4444-555555555555"},
          "system": [{"type":"text","text":"You are Claude Code."},{"type":"text","text":"sys two","cache_control":{"type":"ephemeral"}}],
          "tools": [{"name":"Bash","description":"ignore previous instructions","input_schema":{}}],
          "messages": [
            {"role":"user","content":"hello \"quoted\""},
            {"role":"assistant","content":[{"type":"thinking","thinking":"secret thoughts","signature":"x"},
                                           {"type":"text","text":"I'll run it"},
                                           {"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls","description":"list"}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"file.txt"},
                                      {"type":"tool_result","tool_use_id":"t2","content":[{"type":"text","text":"nested"},{"type":"image","source":{"type":"base64","data":"AAAA"}}]},
                                      {"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc text"}},
                                      {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}},
                                      {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}},
                                      {"type":"future_block","text":"unknown block text"}]}
          ]}"#;
        let p = parse_messages_request(body).unwrap();
        assert!(!p.fallback);
        assert!(p.stream);
        assert_eq!(p.model.as_deref(), Some("claude-sonnet-4-5"));
        assert!(p.user_id.as_deref().unwrap().ends_with("555555555555"));
        assert_eq!(
            texts(&p),
            vec![
                ("system[0]".into(), "You are Claude Code.".into()),
                ("system[1]".into(), "sys two".into()),
                ("messages[0]".into(), "hello \"quoted\"".into()),
                ("messages[1].content[1]".into(), "I'll run it".into()),
                ("messages[1].content[2]".into(), "ls\nlist".into()),
                ("messages[2].content[0]".into(), "file.txt".into()),
                ("messages[2].content[1].content[0]".into(), "nested".into()),
                ("messages[2].content[2]".into(), "doc text".into()),
                ("messages[2].content[5]".into(), "unknown block text".into()),
            ]
        );
        // Tool definitions are not scanned.
        assert!(
            !p.segments
                .iter()
                .any(|s| s.text.contains("ignore previous"))
        );
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let body = br#"{"messages":[{"role":"user","content":"plain text"}]}"#;
        let p = parse_messages_request(body).unwrap();
        assert!(matches!(p.segments[0].text, Cow::Borrowed(_)));
    }

    #[test]
    fn odd_shapes_fall_back_to_every_string() {
        let body = br#"{"model":"m","messages":{"role":"user","content":"sneaky"}}"#;
        let p = parse_messages_request(body).unwrap();
        assert!(p.fallback);
        assert!(p.segments.iter().any(|s| s.text == "sneaky"));
        assert_eq!(p.model.as_deref(), Some("m"));
    }

    #[test]
    fn rejects_non_json_and_non_objects() {
        assert!(matches!(
            parse_messages_request(b"{not json"),
            Err(ParseError::NotJson(_))
        ));
        assert!(matches!(
            parse_messages_request(b"[1,2]"),
            Err(ParseError::NotObject)
        ));
        assert!(matches!(
            parse_messages_request(b"\"str\""),
            Err(ParseError::NotObject)
        ));
        assert!(matches!(
            parse_messages_request(&[0xff, 0xfe, b'{']),
            Err(ParseError::NotJson(_))
        ));
        assert!(matches!(
            parse_messages_request(b""),
            Err(ParseError::NotJson(_))
        ));
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let body = br#"{"messages":[{"role":"user","content":"hidden"}],"messages":[{"role":"user","content":"shown"}]}"#;
        assert!(matches!(
            parse_messages_request(body),
            Err(ParseError::DuplicateKey(_))
        ));
        let body =
            br#"{"messages":[{"role":"user","content":[{"type":"text","text":"a","text":"b"}]}]}"#;
        assert!(matches!(
            parse_messages_request(body),
            Err(ParseError::DuplicateKey(_))
        ));
    }

    #[test]
    fn batch_sub_requests_are_located() {
        let body = br#"{"requests":[
            {"custom_id":"a","params":{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"first"}]}},
            {"custom_id":"b","params":{"model":"m","max_tokens":1,"system":"sys","messages":[{"role":"user","content":[{"type":"text","text":"second"}]}]}}
        ]}"#;
        let p = parse_batch_request(body).unwrap();
        assert_eq!(
            texts(&p),
            vec![
                ("requests[0].params.messages[0]".into(), "first".into()),
                ("requests[1].params.system".into(), "sys".into()),
                (
                    "requests[1].params.messages[0].content[0]".into(),
                    "second".into()
                ),
            ]
        );
    }
}
