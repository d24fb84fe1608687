//! The conversation stored in a SecurityEvent, built by the event writer thread (never on the
//! request path) from the request body: `system`, `tools` and `messages` (or a batch's
//! `requests`). Raw JSON slices are copied as they are when nothing needs masking; when a
//! finding matched a sensitive value, the part is parsed and every occurrence is masked. Parts
//! over their budget lose their oldest turns first, then long strings are cut. Tool definitions
//! (the same ~50 KB on every Claude Code turn) are stored in full once per distinct set; every
//! event keeps their names and hash.

use std::collections::HashSet;

use glitch_detect::engine::mask;
use glitch_proto::events::v1::Conversation;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::events::BodyKind;

/// How many distinct tool sets are remembered before the memory is reset.
const SEEN_TOOLS_CAP: usize = 4096;

#[derive(Deserialize)]
struct Parts<'a> {
    #[serde(borrow, default)]
    system: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tools: Option<&'a RawValue>,
    #[serde(borrow, default)]
    messages: Option<&'a RawValue>,
    #[serde(borrow, default)]
    requests: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ToolName {
    #[serde(default)]
    name: Option<String>,
}

/// Builds stored conversations; remembers which tool sets it already stored in full.
#[derive(Debug)]
pub struct ConversationBuilder {
    cap: usize,
    seen_tools: HashSet<[u8; 32]>,
    /// The last tool set and its hash: consecutive turns almost always repeat it, and comparing
    /// bytes is far cheaper than hashing them again.
    last_tools: Option<(String, [u8; 32])>,
}

impl ConversationBuilder {
    /// A builder whose conversations hold at most `cap` bytes of system + messages JSON.
    pub fn new(cap: usize) -> Self {
        ConversationBuilder {
            cap,
            seen_tools: HashSet::new(),
            last_tools: None,
        }
    }

    /// The stored conversation of one request body, or `None` when the body is not a JSON object.
    pub fn build(
        &mut self,
        body: &[u8],
        kind: BodyKind,
        mask_values: &[String],
    ) -> Option<Conversation> {
        let parts: Parts<'_> = serde_json::from_slice(body).ok()?;
        let mut truncated = false;
        let mut conversation = Conversation::default();
        if let Some(system) = parts.system {
            conversation.system_json =
                store_part(system, self.cap / 4, mask_values, &mut truncated);
        }
        if let Some(tools) = parts.tools {
            let hash = match &self.last_tools {
                Some((raw, hash)) if raw == tools.get() => *hash,
                _ => {
                    let hash: [u8; 32] = Sha256::digest(tools.get().as_bytes()).into();
                    self.last_tools = Some((tools.get().to_owned(), hash));
                    hash
                }
            };
            conversation.tools_sha256 = hex::encode(hash);
            conversation.tool_names = serde_json::from_str::<Vec<ToolName>>(tools.get())
                .map(|tools| {
                    tools
                        .into_iter()
                        .filter_map(|t| t.name)
                        .take(512)
                        .map(|name| crate::context::capped(&name, 128))
                        .collect()
                })
                .unwrap_or_default();
            if self.seen_tools.len() >= SEEN_TOOLS_CAP {
                self.seen_tools.clear();
            }
            if self.seen_tools.insert(hash) {
                conversation.tools_json = store_part(tools, self.cap, mask_values, &mut truncated);
            }
        }
        let messages = if kind == BodyKind::Batch {
            parts.requests
        } else {
            parts.messages
        };
        if let Some(messages) = messages {
            let budget = self.cap.saturating_sub(conversation.system_json.len());
            conversation.messages_json =
                store_messages(messages, budget, mask_values, &mut truncated);
        }
        conversation.truncated = truncated;
        Some(conversation)
    }
}

/// A part as JSON text within `budget`: the raw slice when nothing needs masking and it fits.
fn store_part(
    raw: &RawValue,
    budget: usize,
    mask_values: &[String],
    truncated: &mut bool,
) -> String {
    if mask_values.is_empty() && raw.get().len() <= budget {
        return raw.get().to_owned();
    }
    let Ok(mut value) = serde_json::from_str::<Value>(raw.get()) else {
        *truncated = true;
        return String::new();
    };
    mask_strings(&mut value, mask_values);
    fit(value, budget, truncated)
}

/// The messages array within `budget`, oldest turns dropped first.
fn store_messages(
    raw: &RawValue,
    budget: usize,
    mask_values: &[String],
    truncated: &mut bool,
) -> String {
    if mask_values.is_empty() && raw.get().len() <= budget {
        return raw.get().to_owned();
    }
    let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(raw.get()) else {
        return store_part(raw, budget, mask_values, truncated);
    };
    let mut start = 0;
    let mut size: usize = 2 + items.iter().map(|i| i.get().len() + 1).sum::<usize>();
    while start + 1 < items.len() && size > budget {
        size -= items[start].get().len() + 1;
        start += 1;
        *truncated = true;
    }
    let kept = &items[start..];
    if mask_values.is_empty() && size <= budget {
        let mut out = String::with_capacity(size);
        out.push('[');
        for (i, item) in kept.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(item.get());
        }
        out.push(']');
        return out;
    }
    let mut values: Vec<Value> = kept
        .iter()
        .filter_map(|i| serde_json::from_str(i.get()).ok())
        .collect();
    values.iter_mut().for_each(|v| mask_strings(v, mask_values));
    fit(Value::Array(values), budget, truncated)
}

fn mask_all(mut text: String, values: &[String]) -> String {
    for value in values {
        if !value.is_empty() && text.contains(value.as_str()) {
            text = text.replace(value.as_str(), &mask(value));
        }
    }
    text
}

/// Masks every occurrence of the values in every string of a JSON value.
pub fn mask_strings(value: &mut Value, values: &[String]) {
    match value {
        Value::String(s)
            if values
                .iter()
                .any(|v| !v.is_empty() && s.contains(v.as_str())) =>
        {
            *s = mask_all(std::mem::take(s), values);
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mask_strings(v, values)),
        Value::Object(map) => map.values_mut().for_each(|v| mask_strings(v, values)),
        _ => {}
    }
}

/// Masks the values in a plain text.
pub fn mask_text(text: String, values: &[String]) -> String {
    mask_all(text, values)
}

/// Cuts every string longer than `max_chars`, marking the cut.
fn truncate_strings(value: &mut Value, max_chars: usize) {
    match value {
        Value::String(s) if s.len() > max_chars => {
            let cut = s
                .char_indices()
                .nth(max_chars)
                .map(|(i, _)| i)
                .unwrap_or(s.len());
            s.truncate(cut);
            s.push_str("…[truncated]");
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| truncate_strings(v, max_chars)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| truncate_strings(v, max_chars)),
        _ => {}
    }
}

fn to_json(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Serializes `value` within `budget` bytes: whole if it fits, else with long strings cut down
/// step by step; empty if even that does not fit.
fn fit(mut value: Value, budget: usize, truncated: &mut bool) -> String {
    let mut json = to_json(&value);
    let mut max_chars = 4096;
    while json.len() > budget && max_chars >= 16 {
        *truncated = true;
        truncate_strings(&mut value, max_chars);
        json = to_json(&value);
        max_chars /= 4;
    }
    if json.len() > budget {
        *truncated = true;
        return String::new();
    }
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_parts_are_kept_verbatim_when_nothing_is_masked() {
        let body = br#"{"model":"m","system":[{"type":"text","text":"sys \"q\""}],"tools":[{"name":"Bash","input_schema":{}},{"name":"Read"}],"messages":[{"role":"user","content":"hi"}]}"#;
        let mut b = ConversationBuilder::new(4096);
        let c = b.build(body, BodyKind::Messages, &[]).unwrap();
        assert_eq!(c.system_json, r#"[{"type":"text","text":"sys \"q\""}]"#);
        assert_eq!(c.messages_json, r#"[{"role":"user","content":"hi"}]"#);
        assert_eq!(c.tool_names, vec!["Bash", "Read"]);
        assert!(c.tools_json.starts_with(r#"[{"name":"Bash""#));
        assert_eq!(c.tools_sha256.len(), 64);
        assert!(!c.truncated);
        // The same tools again: only names and hash.
        let c2 = b.build(body, BodyKind::Messages, &[]).unwrap();
        assert!(c2.tools_json.is_empty());
        assert_eq!(c2.tools_sha256, c.tools_sha256);
        assert_eq!(c2.tool_names.len(), 2);
    }

    #[test]
    fn masks_and_caps() {
        let long = "x".repeat(10_000);
        let body = serde_json::json!({
            "system": "you are helpful",
            "messages": [
                {"role": "user", "content": format!("old turn {long}")},
                {"role": "user", "content": "my codename is bluebird, ok?"}
            ]
        });
        let body = serde_json::to_vec(&body).unwrap();
        let c = ConversationBuilder::new(4096)
            .build(&body, BodyKind::Messages, &["bluebird".into()])
            .unwrap();
        assert!(c.truncated);
        assert!(!c.messages_json.contains("bluebird"), "{}", c.messages_json);
        assert!(
            c.messages_json.contains("my codename is bl********"),
            "{}",
            c.messages_json
        );
        assert!(!c.messages_json.contains("old turn"));
        assert_eq!(c.system_json, r#""you are helpful""#);
        // Unmasked but over budget: oldest turns dropped, raw kept.
        let c = ConversationBuilder::new(4096)
            .build(&body, BodyKind::Messages, &[])
            .unwrap();
        assert!(c.truncated);
        assert_eq!(
            c.messages_json,
            r#"[{"content":"my codename is bluebird, ok?","role":"user"}]"#
        );
        // Escaped forms are masked too (the value is matched after unescaping).
        let body = br#"{"messages":[{"role":"user","content":"code bl\u0075ebird"}]}"#;
        let c = ConversationBuilder::new(4096)
            .build(body, BodyKind::Messages, &["bluebird".into()])
            .unwrap();
        assert!(
            !c.messages_json.contains("bluebird") && !c.messages_json.contains("u0075"),
            "{}",
            c.messages_json
        );
    }

    #[test]
    fn a_single_huge_message_is_cut_not_dropped() {
        let body = serde_json::to_vec(
            &serde_json::json!({"messages": [{"role": "user", "content": "y".repeat(50_000)}]}),
        )
        .unwrap();
        let c = ConversationBuilder::new(4096)
            .build(&body, BodyKind::Messages, &[])
            .unwrap();
        assert!(c.truncated);
        assert!(
            c.messages_json.len() <= 4096 && c.messages_json.contains("[truncated]"),
            "{}",
            c.messages_json.len()
        );
    }
}
