//! What the audit API returns, read leniently: a list page, a session row and an event summary,
//! each taken field by field from JSON so that a missing field, an unknown one, or one of an
//! unexpected type never fails a page (it reads as empty or zero). The whole event of
//! `GET /v1/events/{id}` stays a [`serde_json::Value`]; the event view renders it.

use serde_json::Value;

use crate::time::parse_rfc3339;

/// The string at `key` (numbers and booleans as their text; anything else empty).
pub fn str_at(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// The unsigned number at `key` (also from a numeric string; else 0).
pub fn u64_at(v: &Value, key: &str) -> u64 {
    match v.get(key) {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

/// The number at `key` (also from a numeric string; else 0).
pub fn f64_at(v: &Value, key: &str) -> f64 {
    match v.get(key) {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
    .max(0.0)
}

/// The boolean at `key` (`true` or `"true"`; else false).
pub fn bool_at(v: &Value, key: &str) -> bool {
    match v.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

/// The strings in the array at `key`.
pub fn strings_at(v: &Value, key: &str) -> Vec<String> {
    match v.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The time at `key`, as Unix milliseconds.
pub fn time_at(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_str).and_then(parse_rfc3339)
}

/// One page of a list endpoint.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// The cursor of the next page, when there may be more.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Reads `{"results": [...], "next_cursor": ...}`; `None` when `results` is not an array.
    pub fn from_json(v: &Value, row: impl Fn(&Value) -> T) -> Option<Self> {
        let items = v.get("results")?.as_array()?.iter().map(row).collect();
        let next_cursor = v
            .get("next_cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        Some(Page { items, next_cursor })
    }
}

/// `GET /v1/events/{id}`: the event parsed, and the body as it came (the raw view shows it
/// with the API's own key order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WholeEvent {
    /// The parsed event.
    pub value: Value,
    /// The response body.
    pub body: String,
}

impl WholeEvent {
    /// From a parsed value alone (the body is its compact JSON).
    pub fn from_value(value: Value) -> Self {
        let body = value.to_string();
        WholeEvent { value, body }
    }
}

/// A session is named by its project and its id.
pub type SessionKey = (String, String);

/// One row of `GET /v1/sessions`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionRow {
    /// The Claude Code session id.
    pub session_id: String,
    /// Its project.
    pub project_id: String,
    /// First request.
    pub first_seen: Option<i64>,
    /// Latest request.
    pub last_seen: Option<i64>,
    /// Requests in the session.
    pub requests: u64,
    /// Blocked requests.
    pub blocked: u64,
    /// Models used.
    pub models: Vec<String>,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
}

impl SessionRow {
    /// Reads one session object.
    pub fn from_json(v: &Value) -> Self {
        SessionRow {
            session_id: str_at(v, "session_id"),
            project_id: str_at(v, "project_id"),
            first_seen: time_at(v, "first_seen"),
            last_seen: time_at(v, "last_seen"),
            requests: u64_at(v, "requests"),
            blocked: u64_at(v, "blocked"),
            models: strings_at(v, "models"),
            input_tokens: u64_at(v, "input_tokens"),
            output_tokens: u64_at(v, "output_tokens"),
        }
    }

    /// Its key.
    pub fn key(&self) -> SessionKey {
        (self.project_id.clone(), self.session_id.clone())
    }
}

/// One finding, as far as lists need it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FindingSummary {
    /// e.g. `secrets/aws_access_key`.
    pub detector_type: String,
    /// `block` | `log` | `alert`.
    pub action: String,
}

/// One event of a list (no conversation).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventSummary {
    /// UUIDv7.
    pub event_id: String,
    /// When the request arrived.
    pub time: Option<i64>,
    /// Project.
    pub project_id: String,
    /// Claude Code session.
    pub session_id: String,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Model asked for.
    pub model: String,
    /// Streamed response.
    pub stream: bool,
    /// allowed | blocked | flagged | auth_failed | error.
    pub decision: String,
    /// `risk.blocked`.
    pub risk_blocked: bool,
    /// Status sent to the client.
    pub status: u64,
    /// Status from upstream.
    pub upstream_status: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// `latency_ms.total`.
    pub latency_ms: f64,
    /// The findings.
    pub findings: Vec<FindingSummary>,
    /// `error`, when something went wrong.
    pub error: String,
}

impl EventSummary {
    /// Reads one event object (summary or whole).
    pub fn from_json(v: &Value) -> Self {
        let findings = match v.get("findings") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|f| FindingSummary {
                    detector_type: str_at(f, "detector_type"),
                    action: str_at(f, "action"),
                })
                .collect(),
            _ => Vec::new(),
        };
        let latency = v.get("latency_ms").cloned().unwrap_or(Value::Null);
        EventSummary {
            event_id: str_at(v, "event_id"),
            time: time_at(v, "time"),
            project_id: str_at(v, "project_id"),
            session_id: str_at(v, "session_id"),
            method: str_at(v, "method"),
            path: str_at(v, "path"),
            model: str_at(v, "model"),
            stream: bool_at(v, "stream"),
            decision: str_at(v, "decision"),
            risk_blocked: v.get("risk").is_some_and(|r| bool_at(r, "blocked")),
            status: u64_at(v, "status"),
            upstream_status: u64_at(v, "upstream_status"),
            input_tokens: u64_at(v, "input_tokens"),
            output_tokens: u64_at(v, "output_tokens"),
            latency_ms: f64_at(&latency, "total"),
            findings,
            error: str_at(v, "error"),
        }
    }

    /// Blocked by the gateway.
    pub fn is_blocked(&self) -> bool {
        self.decision == "blocked" || self.risk_blocked
    }

    /// The detector types that triggered, each once, in order.
    pub fn detectors(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for f in &self.findings {
            if !f.detector_type.is_empty() && !out.contains(&f.detector_type.as_str()) {
                out.push(&f.detector_type);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_session_page() {
        let v = json!({"count": 1, "results": [{
            "session_id": "s1", "project_id": "p", "first_seen": "2026-01-02T03:04:05.000Z",
            "last_seen": "2026-01-02T03:05:05.000Z", "requests": 3, "blocked": 1,
            "models": ["claude-sonnet-4-5", 7], "input_tokens": "12", "extra": {"x": 1}
        }], "next_cursor": "abc"});
        let page = Page::from_json(&v, SessionRow::from_json).unwrap();
        assert_eq!(page.next_cursor.as_deref(), Some("abc"));
        let row = &page.items[0];
        assert_eq!(row.requests, 3);
        assert_eq!(row.input_tokens, 12);
        assert_eq!(row.output_tokens, 0);
        assert_eq!(row.models, vec!["claude-sonnet-4-5"]);
        assert_eq!(row.last_seen.unwrap() - row.first_seen.unwrap(), 60_000);
        assert!(Page::from_json(&json!({"results": null}), SessionRow::from_json).is_none());
    }

    #[test]
    fn reads_an_event_leniently() {
        let v = json!({"event_id": "e1", "decision": "flagged", "status": 200,
            "risk": {"blocked": true}, "latency_ms": {"total": "12.5"},
            "findings": [{"detector_type": "pii/email"}, {"detector_type": "pii/email"}, 3]});
        let e = EventSummary::from_json(&v);
        assert!(e.is_blocked());
        assert_eq!(e.latency_ms, 12.5);
        assert_eq!(e.detectors(), vec!["pii/email"]);
        let empty = EventSummary::from_json(&json!("not an object"));
        assert_eq!(empty.event_id, "");
        assert!(!empty.is_blocked());
    }
}
