//! The JSON form of a `SecurityEvent` served by the audit API (contract §6): every proto field
//! under its proto name, `time` as RFC 3339 UTC with milliseconds, `risk`, `findings`,
//! `latency_ms` and `request_headers` as objects, and `conversation` with its `*_json` strings
//! parsed back into JSON values (kept as a string when one is not valid JSON, e.g. cut short).
//!
//! [`event_json`] is the whole event (`GET /v1/events/{id}`); [`event_summary_json`] is the same
//! without `conversation` (list endpoints). Nothing else lives here.

use std::collections::BTreeMap;

use glitch_proto::events::v1::{Conversation, Finding, Latency, LlmStage, Risk, SecurityEvent};
use serde_json::{Map, Value, json};

use crate::time::{rfc3339_ms, timestamp_ms};

/// The whole event, conversation included.
pub fn event_json(event: &SecurityEvent) -> Value {
    let mut map = summary_map(event);
    map.insert(
        "conversation".into(),
        event
            .conversation
            .as_ref()
            .map_or(Value::Null, conversation_json),
    );
    Value::Object(map)
}

/// The event without its conversation (for lists).
pub fn event_summary_json(event: &SecurityEvent) -> Value {
    Value::Object(summary_map(event))
}

fn summary_map(e: &SecurityEvent) -> Map<String, Value> {
    let mut m = Map::with_capacity(32);
    m.insert("event_id".into(), json!(e.event_id));
    m.insert(
        "time".into(),
        e.time
            .as_ref()
            .map_or(Value::Null, |t| Value::String(rfc3339_ms(timestamp_ms(t)))),
    );
    m.insert("sensor_id".into(), json!(e.sensor_id));
    m.insert("region".into(), json!(e.region));
    m.insert("project_id".into(), json!(e.project_id));
    m.insert("key_id".into(), json!(e.key_id));
    m.insert("session_id".into(), json!(e.session_id));
    m.insert("method".into(), json!(e.method));
    m.insert("path".into(), json!(e.path));
    m.insert("query".into(), json!(e.query));
    m.insert("model".into(), json!(e.model));
    m.insert("stream".into(), json!(e.stream));
    m.insert("decision".into(), json!(e.decision));
    m.insert(
        "risk".into(),
        risk_json(e.risk.as_ref().unwrap_or(&Risk::default())),
    );
    m.insert(
        "findings".into(),
        Value::Array(e.findings.iter().map(finding_json).collect()),
    );
    m.insert("status".into(), json!(e.status));
    m.insert("upstream_status".into(), json!(e.upstream_status));
    m.insert("input_tokens".into(), json!(e.input_tokens));
    m.insert("output_tokens".into(), json!(e.output_tokens));
    m.insert(
        "latency_ms".into(),
        latency_json(e.latency_ms.as_ref().unwrap_or(&Latency::default())),
    );
    m.insert("user_agent".into(), json!(e.user_agent));
    let headers: BTreeMap<&str, &str> = e
        .request_headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    m.insert("request_headers".into(), json!(headers));
    m.insert("policy_id".into(), json!(e.policy_id));
    m.insert("config_version".into(), json!(e.config_version));
    m.insert("upstream_request_id".into(), json!(e.upstream_request_id));
    m.insert("error".into(), json!(e.error));
    m.insert("completion".into(), json!(e.completion));
    m.insert("trace_id".into(), json!(e.trace_id));
    m.insert("request_bytes".into(), json!(e.request_bytes));
    m.insert("response_bytes".into(), json!(e.response_bytes));
    m.insert("llm".into(), e.llm.as_ref().map_or(Value::Null, llm_json));
    m.insert("follow_up_of".into(), json!(e.follow_up_of));
    m
}

fn llm_json(l: &LlmStage) -> Value {
    let scores: BTreeMap<&str, Value> = l
        .scores
        .iter()
        .map(|(t, c)| (t.as_str(), confidence(*c)))
        .collect();
    json!({
        "status": l.status,
        "mode": l.mode,
        "failure_action": l.failure_action,
        "latency_ms": millis(l.latency_ms),
        "calls": l.calls,
        "cache_hits": l.cache_hits,
        "skipped_windows": l.skipped_windows,
        "errors": l.errors,
        "scores": scores,
    })
}

/// A confidence as stored (`f32`) shown without float noise: 0.9, not 0.8999999761581421.
fn confidence(c: f32) -> Value {
    if !c.is_finite() {
        return json!(0.0);
    }
    let rounded = (f64::from(c) * 10_000.0).round() / 10_000.0;
    json!(rounded)
}

/// A millisecond latency, finite (non-finite values become 0).
fn millis(v: f64) -> Value {
    json!(if v.is_finite() { v } else { 0.0 })
}

fn risk_json(r: &Risk) -> Value {
    json!({
        "blocked": r.blocked,
        "categories": r.categories,
        "confidence": confidence(r.confidence),
    })
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "detector_type": f.detector_type,
        "source": f.source,
        "confidence": confidence(f.confidence),
        "level": f.level,
        "action": f.action,
        "direction": f.direction,
        "location": f.location,
        "excerpt": f.excerpt,
        "opinions": f.opinions.iter().map(|o| json!({
            "source": o.source,
            "confidence": confidence(o.confidence),
            "classifier": o.classifier,
        })).collect::<Vec<_>>(),
    })
}

fn latency_json(l: &Latency) -> Value {
    json!({
        "total": millis(l.total),
        "detection": millis(l.detection),
        "upstream_first_byte": millis(l.upstream_first_byte),
    })
}

/// A `*_json` field: empty → null, valid JSON → that value, anything else → the string itself.
fn embedded_json(text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

fn conversation_json(c: &Conversation) -> Value {
    json!({
        "system": embedded_json(&c.system_json),
        "tools": embedded_json(&c.tools_json),
        "messages": embedded_json(&c.messages_json),
        "truncated": c.truncated,
        "response_text": c.response_text,
        "tools_sha256": c.tools_sha256,
        "tool_names": c.tool_names,
        "omitted_reason": c.omitted_reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SecurityEvent {
        SecurityEvent {
            event_id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
            time: Some(prost_types::Timestamp {
                seconds: 1_767_323_045,
                nanos: 678_000_000,
            }),
            sensor_id: "sensor-1".into(),
            region: "eu".into(),
            project_id: "proj_a".into(),
            key_id: "key_1".into(),
            session_id: "sess-1".into(),
            method: "POST".into(),
            path: "/v1/messages".into(),
            query: "beta=true".into(),
            model: "claude-sonnet-4-5".into(),
            stream: true,
            decision: "blocked".into(),
            risk: Some(Risk {
                blocked: true,
                categories: vec!["secrets/aws_access_key".into()],
                confidence: 0.9,
            }),
            findings: vec![Finding {
                detector_type: "secrets/aws_access_key".into(),
                source: "signature".into(),
                confidence: 0.95,
                level: "L2".into(),
                action: "block".into(),
                direction: "input".into(),
                location: "messages[0].content[0]".into(),
                excerpt: "key AKIA****************".into(),
                opinions: Vec::new(),
            }],
            status: 403,
            upstream_status: 0,
            input_tokens: 12,
            output_tokens: 0,
            latency_ms: Some(Latency {
                total: 1.5,
                detection: 0.25,
                upstream_first_byte: 0.0,
            }),
            user_agent: "claude-cli/2.0".into(),
            request_headers: [
                ("x-api-key".to_owned(), "[REDACTED]".to_owned()),
                ("anthropic-version".to_owned(), "2023-06-01".to_owned()),
            ]
            .into_iter()
            .collect(),
            conversation: Some(Conversation {
                system_json: r#""You are helpful""#.into(),
                tools_json: String::new(),
                messages_json: r#"[{"role":"user","content":"hi"}]"#.into(),
                truncated: false,
                response_text: String::new(),
                tools_sha256: "ab".repeat(32),
                tool_names: vec!["Bash".into(), "Read".into()],
                omitted_reason: String::new(),
            }),
            policy_id: "balanced".into(),
            config_version: 7,
            upstream_request_id: String::new(),
            error: String::new(),
            completion: String::new(),
            trace_id: String::new(),
            request_bytes: 321,
            response_bytes: 0,
            llm: None,
            follow_up_of: String::new(),
        }
    }

    #[test]
    fn every_field_by_its_proto_name() {
        let v = event_json(&sample());
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        for name in [
            "event_id",
            "time",
            "sensor_id",
            "region",
            "project_id",
            "key_id",
            "session_id",
            "method",
            "path",
            "query",
            "model",
            "stream",
            "decision",
            "risk",
            "findings",
            "status",
            "upstream_status",
            "input_tokens",
            "output_tokens",
            "latency_ms",
            "user_agent",
            "request_headers",
            "conversation",
            "policy_id",
            "config_version",
            "upstream_request_id",
            "error",
            "completion",
            "trace_id",
            "request_bytes",
            "response_bytes",
            "llm",
            "follow_up_of",
        ] {
            assert!(keys.contains(&name), "missing {name}");
        }
        assert_eq!(keys.len(), 33, "{keys:?}");
        assert_eq!(v["llm"], Value::Null);
        assert_eq!(v["findings"][0]["opinions"], json!([]));
        assert_eq!(v["time"], "2026-01-02T03:04:05.678Z");
        assert_eq!(v["stream"], true);
        assert_eq!(v["status"], 403);
        assert_eq!(v["risk"]["blocked"], true);
        assert_eq!(v["risk"]["confidence"], 0.9);
        assert_eq!(v["risk"]["categories"][0], "secrets/aws_access_key");
        assert_eq!(v["findings"][0]["confidence"], 0.95);
        assert_eq!(v["findings"][0]["location"], "messages[0].content[0]");
        assert_eq!(v["latency_ms"]["total"], 1.5);
        assert_eq!(v["latency_ms"]["detection"], 0.25);
        assert_eq!(v["request_headers"]["x-api-key"], "[REDACTED]");
        assert_eq!(v["config_version"], 7);
    }

    #[test]
    fn conversation_strings_become_json() {
        let v = event_json(&sample());
        let c = &v["conversation"];
        assert_eq!(c["system"], "You are helpful");
        assert_eq!(c["messages"][0]["role"], "user");
        assert_eq!(c["messages"][0]["content"], "hi");
        assert_eq!(c["tools"], Value::Null);
        assert_eq!(c["tool_names"], json!(["Bash", "Read"]));
        assert_eq!(c["truncated"], false);
        assert_eq!(c["tools_sha256"], "ab".repeat(32));
    }

    #[test]
    fn invalid_embedded_json_stays_a_string() {
        let mut e = sample();
        if let Some(c) = e.conversation.as_mut() {
            c.messages_json = r#"[{"role":"user","content":"cut sho"#.into();
            c.truncated = true;
        }
        let v = event_json(&e);
        assert_eq!(
            v["conversation"]["messages"],
            r#"[{"role":"user","content":"cut sho"#
        );
        assert_eq!(v["conversation"]["truncated"], true);
    }

    #[test]
    fn summary_has_no_conversation() {
        let v = event_summary_json(&sample());
        assert!(v.get("conversation").is_none());
        assert_eq!(v["event_id"], "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
    }

    #[test]
    fn missing_parts_have_defaults() {
        let e = SecurityEvent {
            event_id: "x".into(),
            ..Default::default()
        };
        let v = event_json(&e);
        assert_eq!(v["time"], Value::Null);
        assert_eq!(v["conversation"], Value::Null);
        assert_eq!(
            v["risk"],
            json!({"blocked": false, "categories": [], "confidence": 0.0})
        );
        assert_eq!(v["latency_ms"]["upstream_first_byte"], 0.0);
        assert_eq!(v["findings"], json!([]));
        assert_eq!(v["request_headers"], json!({}));
    }

    #[test]
    fn non_finite_numbers_become_zero() {
        let e = SecurityEvent {
            event_id: "x".into(),
            risk: Some(Risk {
                blocked: false,
                categories: vec![],
                confidence: f32::NAN,
            }),
            latency_ms: Some(Latency {
                total: f64::INFINITY,
                detection: f64::NAN,
                upstream_first_byte: 2.0,
            }),
            ..Default::default()
        };
        let v = event_json(&e);
        assert_eq!(v["risk"]["confidence"], 0.0);
        assert_eq!(v["latency_ms"]["total"], 0.0);
        assert_eq!(v["latency_ms"]["detection"], 0.0);
        assert_eq!(v["latency_ms"]["upstream_first_byte"], 2.0);
    }
}
