//! Realistic `SecurityEvent`s for tests and the bench: Claude Code-like requests of 2-10 KB
//! (system prompt, a few messages, tool names, headers, sometimes findings), deterministic per
//! index, plus a small builder for hand-made events.

#![allow(dead_code, reason = "each test binary uses part of the generator")]

use std::collections::HashMap;

use glitch_proto::events::v1::{Conversation, Finding, Latency, Risk, SecurityEvent};

/// A UUIDv7-shaped id that sorts by `ms`, unique per (`ms`, `n`).
pub fn event_id(ms: i64, n: u64) -> String {
    let ms = ms as u64;
    format!(
        "{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}",
        (ms >> 16) & 0xffff_ffff,
        ms & 0xffff,
        (n >> 48) & 0xfff,
        (n >> 36) & 0xfff,
        n & 0xffff_ffff_ffff
    )
}

/// A protobuf timestamp for Unix milliseconds.
pub fn ts(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

const SYLLABLES: &[&str] = &[
    "ba", "ce", "di", "fo", "gu", "ha", "je", "ki", "lo", "mu", "na", "pe", "ri", "so", "tu", "va",
    "we", "xi", "yo", "za", "str", "th", "ch", "sh", "pl", "tr", "an", "en", "in", "on", "un",
    "er", "or", "al", "el", "il", "ly", "ng", "ck", "st",
];

const CODE: &[&str] = &[
    "fn",
    "let",
    "mut",
    "impl",
    "pub",
    "async",
    "await",
    "return",
    "Result<",
    ">",
    "Ok(",
    ")",
    "Err(",
    "match",
    "=>",
    "{",
    "}",
    ";",
    "::",
    "&self",
    "Vec<u8>",
    "String",
    "if",
    "else",
    "for",
    "in",
    "self.",
    "?",
    "//",
    "use",
    "crate::",
    "#[derive(Debug)]",
    "\n",
    "    ",
];

/// Deterministic text of about `bytes` bytes that compresses like a real conversation (a
/// Zipf-like vocabulary of a few thousand words, code tokens, identifiers, numbers and hashes:
/// general-purpose compressors shrink it about 2x, a little less than real Claude Code traffic).
fn text(seed: u64, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 64);
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    while out.len() < bytes {
        let r = next();
        match r % 20 {
            0 => out.push_str(&format!("{:x}", next() * next())),
            1 => out.push_str(&format!("{}", next() % 100_000)),
            2..=5 => out.push_str(CODE[(next() as usize) % CODE.len()]),
            6 => out.push_str(&format!(
                "src/{}_{}.rs:{}",
                next() % 97,
                next() % 13,
                next() % 900
            )),
            _ => {
                // Zipf-like: small word numbers are much more frequent.
                let u = (next() % 1000) as f64 / 1000.0;
                let word = (u * u * u * 3000.0) as u64;
                let mut w = word + 7;
                loop {
                    out.push_str(SYLLABLES[(w % SYLLABLES.len() as u64) as usize]);
                    w /= SYLLABLES.len() as u64;
                    if w == 0 {
                        break;
                    }
                }
            }
        }
        out.push(' ');
    }
    out
}

/// Event number `i` of a realistic stream starting at `base_ms`: 5 projects, sessions of ~20
/// requests, 2-10 KB each.
pub fn realistic_event(i: u64, base_ms: i64) -> SecurityEvent {
    let time_ms = base_ms + (i as i64) * 7;
    let session = i / 20;
    let project = format!("proj_{}", session % 5);
    let blocked = i % 50 == 7;
    let flagged = i % 13 == 3;
    let turns = 1 + (i % 6) as usize;
    let msg_bytes = 300 + (i % 9) as usize * 180;
    let messages: Vec<serde_json::Value> = (0..turns)
        .map(|t| {
            serde_json::json!({
                "role": if t % 2 == 0 { "user" } else { "assistant" },
                "content": [{"type": "text", "text": text(i * 31 + t as u64, msg_bytes)}],
            })
        })
        .collect();
    let mut findings = Vec::new();
    if blocked {
        findings.push(Finding {
            detector_type: "secrets/aws_access_key".into(),
            source: "signature".into(),
            confidence: 0.99,
            level: "L2".into(),
            action: "block".into(),
            direction: "input".into(),
            location: "messages[0].content[0]".into(),
            excerpt: "export AWS_ACCESS_KEY_ID=AKIA****************".into(),
            opinions: Vec::new(),
        });
    }
    if flagged {
        findings.push(Finding {
            detector_type: "pii/email".into(),
            source: "signature".into(),
            confidence: 0.8,
            level: "L2".into(),
            action: "log".into(),
            direction: "input".into(),
            location: "messages[0].content[0]".into(),
            excerpt: "mail j***@example.com".into(),
            opinions: Vec::new(),
        });
    }
    let headers: HashMap<String, String> = [
        ("anthropic-version", "2023-06-01"),
        ("content-type", "application/json"),
        ("x-api-key", "[REDACTED]"),
        ("x-glitch-key", "[REDACTED]"),
        ("user-agent", "claude-cli/2.0.14 (external, cli)"),
        (
            "anthropic-beta",
            "claude-code-20250219,interleaved-thinking-2025-05-14",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let model = if i.is_multiple_of(3) {
        "claude-haiku-4-5"
    } else {
        "claude-sonnet-4-5"
    };
    SecurityEvent {
        event_id: event_id(time_ms, i),
        time: Some(ts(time_ms)),
        sensor_id: "sensor-bench-1".into(),
        region: "local".into(),
        project_id: project,
        key_id: format!("key_{}", session % 7),
        session_id: format!(
            "0f6d{:04x}-5b1e-4c1a-9d2e-{:012x}",
            session % 0xffff,
            session
        ),
        method: "POST".into(),
        path: "/v1/messages".into(),
        query: "beta=true".into(),
        model: model.into(),
        stream: !i.is_multiple_of(4),
        decision: if blocked {
            "blocked".into()
        } else if flagged {
            "flagged".into()
        } else {
            "allowed".into()
        },
        risk: Some(Risk {
            blocked,
            categories: findings.iter().map(|f| f.detector_type.clone()).collect(),
            confidence: findings.iter().map(|f| f.confidence).fold(0.0, f32::max),
        }),
        findings,
        status: if blocked { 403 } else { 200 },
        upstream_status: if blocked { 0 } else { 200 },
        input_tokens: 1000 + i % 5000,
        output_tokens: if blocked { 0 } else { 50 + i % 800 },
        latency_ms: Some(Latency {
            total: 850.5 + (i % 100) as f64,
            detection: 0.4,
            upstream_first_byte: if blocked { 0.0 } else { 620.0 },
        }),
        user_agent: "claude-cli/2.0.14 (external, cli)".into(),
        request_headers: headers,
        conversation: Some(Conversation {
            system_json: serde_json::to_string(&text(i, 400)).unwrap_or_default(),
            tools_json: String::new(),
            messages_json: serde_json::to_string(&messages).unwrap_or_default(),
            truncated: false,
            response_text: if blocked {
                String::new()
            } else {
                text(i + 7, 300)
            },
            tools_sha256: "9f2c".repeat(16),
            tool_names: [
                "Bash", "Read", "Edit", "Write", "Grep", "Glob", "Task", "WebFetch",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            omitted_reason: String::new(),
        }),
        policy_id: "balanced".into(),
        config_version: 3,
        upstream_request_id: if blocked {
            String::new()
        } else {
            format!("req_{i:020}")
        },
        error: String::new(),
        completion: if blocked {
            String::new()
        } else {
            "complete".into()
        },
        trace_id: format!("{:032x}", i),
        request_bytes: 4000 + i % 4000,
        response_bytes: if blocked { 0 } else { 1200 },
        llm: None,
        follow_up_of: String::new(),
    }
}

/// A small hand-made event.
#[derive(Clone, Debug)]
pub struct Ev {
    pub id: String,
    pub ms: i64,
    pub project: String,
    pub session: String,
    pub path: String,
    pub decision: String,
    pub status: u32,
    pub blocked: bool,
    pub model: String,
    pub detectors: Vec<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub messages_json: String,
}

impl Ev {
    pub fn new(id: &str, ms: i64, project: &str, session: &str) -> Ev {
        Ev {
            id: id.into(),
            ms,
            project: project.into(),
            session: session.into(),
            path: "/v1/messages".into(),
            decision: "allowed".into(),
            status: 200,
            blocked: false,
            model: "claude-sonnet-4-5".into(),
            detectors: Vec::new(),
            input_tokens: 10,
            output_tokens: 5,
            messages_json: r#"[{"role":"user","content":"hello"}]"#.into(),
        }
    }

    pub fn path(mut self, path: &str) -> Ev {
        self.path = path.into();
        self
    }

    pub fn blocked(mut self, detector: &str) -> Ev {
        self.blocked = true;
        self.decision = "blocked".into();
        self.status = 403;
        self.detectors.push(detector.into());
        self
    }

    pub fn flagged(mut self, detector: &str) -> Ev {
        self.decision = "flagged".into();
        self.detectors.push(detector.into());
        self
    }

    pub fn model(mut self, model: &str) -> Ev {
        self.model = model.into();
        self
    }

    pub fn status(mut self, status: u32) -> Ev {
        self.status = status;
        self
    }

    pub fn messages(mut self, json: &str) -> Ev {
        self.messages_json = json.into();
        self
    }

    pub fn build(&self) -> SecurityEvent {
        SecurityEvent {
            event_id: self.id.clone(),
            time: Some(ts(self.ms)),
            sensor_id: "sensor-t".into(),
            region: "local".into(),
            project_id: self.project.clone(),
            key_id: "key_t".into(),
            session_id: self.session.clone(),
            method: "POST".into(),
            path: self.path.clone(),
            model: self.model.clone(),
            decision: self.decision.clone(),
            risk: Some(Risk {
                blocked: self.blocked,
                categories: self.detectors.clone(),
                confidence: if self.detectors.is_empty() { 0.0 } else { 0.9 },
            }),
            findings: self
                .detectors
                .iter()
                .map(|d| Finding {
                    detector_type: d.clone(),
                    source: "signature".into(),
                    confidence: 0.9,
                    level: "L2".into(),
                    action: if self.blocked { "block" } else { "log" }.into(),
                    direction: "input".into(),
                    location: "messages[0]".into(),
                    excerpt: "***".into(),
                    opinions: Vec::new(),
                })
                .collect(),
            status: self.status,
            upstream_status: if self.blocked { 0 } else { 200 },
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            latency_ms: Some(Latency {
                total: 12.5,
                detection: 0.5,
                upstream_first_byte: 10.0,
            }),
            request_headers: [("x-api-key".to_string(), "[REDACTED]".to_string())]
                .into_iter()
                .collect(),
            conversation: Some(Conversation {
                system_json: r#"[{"type":"text","text":"You are Claude Code"}]"#.into(),
                messages_json: self.messages_json.clone(),
                tool_names: vec!["Bash".into()],
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}
