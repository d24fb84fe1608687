//! Request bodies shaped like the ones Claude Code sends (system prompt blocks, two dozen tool
//! definitions, a few turns), built deterministically at any size, for benchmarks and tests.

use serde_json::{Value, json};

const PROSE: &str = "You are an interactive CLI tool that helps users with software engineering tasks. \
Use the instructions below and the tools available to you to assist the user. When you run a \
non-trivial bash command, explain what the command does and why you are running it. Prefer \
editing existing files to creating new ones, follow the conventions of the codebase, and keep \
answers short and direct. ";

const CODE: &str = "fn parse_config(path: &Path) -> Result<Config, Error> {\n    let text = std::fs::read_to_string(path)?;\n    let config: Config = toml::from_str(&text)?;\n    config.validate()?;\n    Ok(config)\n}\n";

fn text_of(len: usize, seed: usize) -> String {
    let mut out = String::with_capacity(len + 200);
    let mut i = seed;
    while out.len() < len {
        out.push_str(if i.is_multiple_of(3) { CODE } else { PROSE });
        i += 1;
    }
    out.truncate(len);
    out
}

/// A system prompt about the size of Claude Code's (about 12 KB).
pub fn claude_code_system_prompt() -> String {
    text_of(12 * 1024, 1)
}

fn tool(i: usize, description_len: usize) -> Value {
    json!({
        "name": format!("Tool{i}"),
        "description": text_of(description_len, i),
        "input_schema": {
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "The command to execute"},
                "timeout": {"type": "number", "description": "Optional timeout in milliseconds"},
                "path": {"type": "string", "description": "Absolute path of the file"}
            },
            "required": ["command"],
            "additionalProperties": false
        }
    })
}

/// A Messages request of about `target_bytes` bytes: about 20% system prompt, 65% tool
/// definitions (24 tools), the rest a few user/assistant/tool turns ending with `prompt`.
pub fn claude_code_body(target_bytes: usize, stream: bool, prompt: &str) -> Vec<u8> {
    if target_bytes < 8 * 1024 {
        // Small requests (a quick one-off question): a short system prompt and one user turn.
        let body = json!({
            "model": "claude-haiku-4-5-20251001",
            "max_tokens": 512,
            "stream": stream,
            "system": [{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": text_of(target_bytes.saturating_sub(330 + prompt.len()), 5)},
                {"type": "text", "text": prompt}
            ]}]
        });
        return serde_json::to_vec(&body).unwrap_or_default();
    }
    let system_len = target_bytes / 5;
    let tools_len = target_bytes * 65 / 100;
    let turns_len = target_bytes
        .saturating_sub(system_len + tools_len + 2000)
        .max(200);
    let tools: Vec<Value> = (0..24).map(|i| tool(i, tools_len / 24)).collect();
    let body = json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "stream": stream,
        "metadata": {"user_id": "user_7f3a_account_1c2d_session_0b6f0a8e-3c39-4f0e-9a39-1c1d1f2e3a4b"},
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
            {"type": "text", "text": text_of(system_len, 1), "cache_control": {"type": "ephemeral"}}
        ],
        "tools": tools,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": text_of(turns_len / 4, 2)}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "I'll look at the file first."},
                {"type": "tool_use", "id": "toolu_01", "name": "Tool1", "input": {"command": "cat src/config.rs"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": text_of(turns_len / 2, 3)}
            ]},
            {"role": "assistant", "content": [{"type": "text", "text": text_of(turns_len / 8, 4)}]},
            {"role": "user", "content": [{"type": "text", "text": prompt}]}
        ]
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_close_to_the_target() {
        for target in [1024usize, 76 * 1024] {
            let body = claude_code_body(target, true, "hi");
            let ratio = body.len() as f64 / target as f64;
            assert!((0.8..1.25).contains(&ratio), "{target}: {}", body.len());
            let v: Value = serde_json::from_slice(&body).unwrap();
            if target > 8 * 1024 {
                assert_eq!(v["tools"].as_array().unwrap().len(), 24);
            }
        }
    }
}
