//! Query-string parameters and cursors of the list endpoints. Parameters are checked strictly
//! (an unknown or repeated name is a 400 naming it, so a typo never silently widens a query);
//! an empty value (`?project_id=`) means "not given". Cursors are opaque to clients: URL-safe
//! base64 of a small JSON array holding the sort key of the last row returned, tagged with the
//! list it belongs to.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::index::{EventCursor, SessionCursor};
use crate::record::indexed_text;
use crate::time::parse_rfc3339;

/// `limit` when not given.
pub const DEFAULT_LIMIT: usize = 50;

/// Largest `limit`.
pub const MAX_LIMIT: usize = 1000;

/// The parameters of one request, by name.
#[derive(Debug, Default)]
pub struct Params {
    values: HashMap<String, String>,
}

impl Params {
    /// Checks `pairs` against the `allowed` names.
    pub fn parse(pairs: Vec<(String, String)>, allowed: &[&str]) -> Result<Params, ApiError> {
        let mut values = HashMap::new();
        for (name, value) in pairs {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::invalid(
                    name.clone(),
                    format!(
                        "unknown query parameter {name:?}; this endpoint accepts: {}",
                        allowed.join(", ")
                    ),
                ));
            }
            if values.contains_key(&name) {
                return Err(ApiError::invalid(
                    name.clone(),
                    format!("query parameter {name:?} is given more than once"),
                ));
            }
            values.insert(name, value);
        }
        Ok(Params { values })
    }

    /// The raw value of `name`, `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A text filter, made comparable with the indexed column (see [`indexed_text`]).
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(indexed_text)
    }

    /// An RFC 3339 time as Unix milliseconds.
    pub fn time(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                parse_rfc3339(v).ok_or_else(|| {
                    ApiError::invalid(
                        name,
                        format!(
                            "{name} must be an RFC 3339 time such as 2026-01-02T03:04:05Z, got {v:?}"
                        ),
                    )
                })
            })
            .transpose()
    }

    /// `since` and `until`, checked to be in order.
    pub fn window(&self) -> Result<(Option<i64>, Option<i64>), ApiError> {
        let since = self.time("since")?;
        let until = self.time("until")?;
        if let (Some(s), Some(u)) = (since, until)
            && s > u
        {
            return Err(ApiError::invalid("until", "until is before since"));
        }
        Ok((since, until))
    }

    /// `true` or `false`.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::invalid(
                name,
                format!("{name} must be true or false, got {v:?}"),
            )),
        }
    }

    /// An HTTP status code (100-599).
    pub fn status(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| match v.parse::<i64>() {
                Ok(n) if (100..=599).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid(
                    name,
                    format!("{name} must be an HTTP status code (100-599), got {v:?}"),
                )),
            })
            .transpose()
    }

    /// `limit`: 1..=1000, default 50.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid(
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}, got {v:?}"),
                )),
            },
        }
    }

    /// The decoded `cursor`, if given, checked to belong to list `tag`.
    pub fn cursor(&self, tag: &str) -> Result<Option<Vec<Value>>, ApiError> {
        let Some(text) = self.get("cursor") else {
            return Ok(None);
        };
        decode_cursor(text, tag).map(Some).ok_or_else(|| {
            ApiError::invalid(
                "cursor",
                "cursor is not a cursor of this list: pass next_cursor from the previous page unchanged",
            )
        })
    }
}

fn encode_cursor(parts: Value) -> String {
    URL_SAFE_NO_PAD.encode(parts.to_string())
}

fn decode_cursor(text: &str, tag: &str) -> Option<Vec<Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    let Value::Array(mut parts) = serde_json::from_slice::<Value>(&bytes).ok()? else {
        return None;
    };
    if parts.first().and_then(Value::as_str) != Some(tag) {
        return None;
    }
    parts.remove(0);
    Some(parts)
}

/// Cursor tags: events newest first, a session's events oldest first, sessions, dead letters.
pub const EVENTS: &str = "e";
/// See [`EVENTS`].
pub const SESSION_EVENTS: &str = "a";
/// See [`EVENTS`].
pub const SESSIONS: &str = "s";
/// See [`EVENTS`].
pub const DEAD_LETTERS: &str = "d";

/// The cursor after `c` in the event list tagged `tag`.
pub fn event_cursor(tag: &str, c: &EventCursor) -> String {
    encode_cursor(json!([tag, c.time_ms, c.event_id]))
}

/// An event-list cursor back from its parts.
pub fn parse_event_cursor(parts: Option<Vec<Value>>) -> Result<Option<EventCursor>, ApiError> {
    let Some(parts) = parts else {
        return Ok(None);
    };
    match parts.as_slice() {
        [Value::Number(t), Value::String(id)] if t.as_i64().is_some() => Ok(Some(EventCursor {
            time_ms: t.as_i64().unwrap_or_default(),
            event_id: id.clone(),
        })),
        _ => Err(bad_cursor()),
    }
}

/// The cursor after `c` in the session list.
pub fn session_cursor(c: &SessionCursor) -> String {
    encode_cursor(json!([SESSIONS, c.last_seen, c.project_id, c.session_id]))
}

/// A session-list cursor back from its parts.
pub fn parse_session_cursor(parts: Option<Vec<Value>>) -> Result<Option<SessionCursor>, ApiError> {
    let Some(parts) = parts else {
        return Ok(None);
    };
    match parts.as_slice() {
        [Value::Number(t), Value::String(p), Value::String(s)] if t.as_i64().is_some() => {
            Ok(Some(SessionCursor {
                last_seen: t.as_i64().unwrap_or_default(),
                project_id: p.clone(),
                session_id: s.clone(),
            }))
        }
        _ => Err(bad_cursor()),
    }
}

/// The cursor after dead letter `id`.
pub fn dead_letter_cursor(id: i64) -> String {
    encode_cursor(json!([DEAD_LETTERS, id]))
}

/// A dead-letter cursor back from its parts.
pub fn parse_dead_letter_cursor(parts: Option<Vec<Value>>) -> Result<Option<i64>, ApiError> {
    let Some(parts) = parts else {
        return Ok(None);
    };
    match parts.as_slice() {
        [Value::Number(id)] => id.as_i64().map(Some).ok_or_else(bad_cursor),
        _ => Err(bad_cursor()),
    }
}

fn bad_cursor() -> ApiError {
    ApiError::invalid(
        "cursor",
        "cursor is not a cursor of this list: pass next_cursor from the previous page unchanged",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)], allowed: &[&str]) -> Result<Params, ApiError> {
        Params::parse(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            allowed,
        )
    }

    #[test]
    fn unknown_and_repeated_names_are_refused() {
        let err = params(&[("sesion_id", "x")], &["session_id"]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("sesion_id"));
        let err = params(&[("limit", "1"), ("limit", "2")], &["limit"]).unwrap_err();
        assert_eq!(err.status, 400);
        let p = params(&[("project_id", "")], &["project_id"]).unwrap();
        assert_eq!(p.get("project_id"), None);
    }

    #[test]
    fn typed_values() {
        let p = params(
            &[
                ("limit", "1000"),
                ("blocked", "true"),
                ("status", "403"),
                ("since", "2026-01-02T03:04:05Z"),
            ],
            &["limit", "blocked", "status", "since", "until"],
        )
        .unwrap();
        assert_eq!(p.limit().unwrap(), 1000);
        assert_eq!(p.boolean("blocked").unwrap(), Some(true));
        assert_eq!(p.status("status").unwrap(), Some(403));
        assert_eq!(p.window().unwrap(), (Some(1_767_323_045_000), None));
        for (name, bad) in [
            ("limit", "0"),
            ("limit", "1001"),
            ("limit", "ten"),
            ("blocked", "yes"),
            ("status", "42"),
            ("since", "yesterday"),
        ] {
            let p = params(&[(name, bad)], &[name]).unwrap();
            let err = match name {
                "limit" => p.limit().unwrap_err(),
                "blocked" => p.boolean(name).unwrap_err(),
                "status" => p.status(name).unwrap_err(),
                _ => p.time(name).unwrap_err(),
            };
            assert_eq!(err.field.as_deref(), Some(name));
        }
        let p = params(
            &[
                ("since", "2026-01-02T00:00:00Z"),
                ("until", "2026-01-01T00:00:00Z"),
            ],
            &["since", "until"],
        )
        .unwrap();
        assert!(p.window().is_err());
        assert_eq!(params(&[], &[]).unwrap().limit().unwrap(), DEFAULT_LIMIT);
    }

    #[test]
    fn cursors_round_trip_and_are_tagged() {
        let c = EventCursor {
            time_ms: 42,
            event_id: "ev/1?&=".into(),
        };
        let text = event_cursor(EVENTS, &c);
        let p = params(&[("cursor", &text)], &["cursor"]).unwrap();
        assert_eq!(
            parse_event_cursor(p.cursor(EVENTS).unwrap()).unwrap(),
            Some(c)
        );
        assert!(p.cursor(SESSIONS).is_err());
        let s = SessionCursor {
            last_seen: 7,
            project_id: "p".into(),
            session_id: "s".into(),
        };
        let p = params(&[("cursor", &session_cursor(&s))], &["cursor"]).unwrap();
        assert_eq!(
            parse_session_cursor(p.cursor(SESSIONS).unwrap()).unwrap(),
            Some(s)
        );
        let p = params(&[("cursor", &dead_letter_cursor(9))], &["cursor"]).unwrap();
        assert_eq!(
            parse_dead_letter_cursor(p.cursor(DEAD_LETTERS).unwrap()).unwrap(),
            Some(9)
        );
        for garbage in ["!!!", "e30", &URL_SAFE_NO_PAD.encode("[\"e\", \"x\"]")] {
            let p = params(&[("cursor", garbage)], &["cursor"]).unwrap();
            let parsed = p.cursor(EVENTS).and_then(parse_event_cursor);
            assert!(parsed.is_err(), "{garbage}");
        }
    }
}
