//! Claude Code session ids: the `X-Claude-Code-Session-Id` header, else the session part of
//! `metadata.user_id` (`user_<hash>_account_<uuid>_session_<uuid>`, or a JSON object with a
//! `session_id`), else empty.

use http::HeaderMap;

/// The header Claude Code sends on every request of a session.
pub const SESSION_HEADER: &str = "x-claude-code-session-id";

const MAX_SESSION_ID_LEN: usize = 128;

fn clean(id: &str) -> Option<String> {
    let id = id.trim();
    let ok = !id.is_empty()
        && id.len() <= MAX_SESSION_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| id.to_owned())
}

/// The session id from the header, if present and sane.
pub fn from_headers(headers: &HeaderMap) -> Option<String> {
    headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(clean)
}

/// The session id inside a `metadata.user_id`.
pub fn from_user_id(user_id: &str) -> Option<String> {
    if let Some((_, session)) = user_id.rsplit_once("_session_") {
        return clean(session);
    }
    if user_id.trim_start().starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(user_id).ok()?;
        return value
            .get("session_id")
            .and_then(|s| s.as_str())
            .and_then(clean);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_sources() {
        let mut h = HeaderMap::new();
        assert_eq!(from_headers(&h), None);
        h.insert(
            SESSION_HEADER,
            "0b6f0a8e-3c39-4f0e-9a39-1c1d1f2e3a4b".parse().unwrap(),
        );
        assert_eq!(
            from_headers(&h).unwrap(),
            "0b6f0a8e-3c39-4f0e-9a39-1c1d1f2e3a4b"
        );
        h.insert(SESSION_HEADER, "bad value with spaces".parse().unwrap());
        assert_eq!(from_headers(&h), None);
        assert_eq!(
            from_user_id("user_abc123_account_9d1f_session_5c7e0e6a-1111-2222-3333-444455556666")
                .unwrap(),
            "5c7e0e6a-1111-2222-3333-444455556666"
        );
        assert_eq!(
            from_user_id(r#"{"device_id":"d","session_id":"s-1"}"#).unwrap(),
            "s-1"
        );
        assert_eq!(from_user_id("just-a-user"), None);
    }
}
