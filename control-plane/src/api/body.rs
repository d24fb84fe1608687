//! Request bodies: JSON parsed with the path of the offending field in every error (serde's
//! own errors included, via `serde_path_to_error`), unknown fields refused.

use axum::extract::rejection::BytesRejection;
use bytes::Bytes;
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::ApiError;

/// A body that could not be read (too large, broken connection) as an API error.
pub fn rejection(rejection: &BytesRejection) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError {
            status,
            kind: "request_too_large",
            field: None,
            message: "request body is too large".into(),
        }
    } else {
        ApiError {
            status,
            kind: "invalid_request_error",
            field: None,
            message: format!("cannot read the request body: {}", rejection.body_text()),
        }
    }
}

/// The body as a JSON object; an empty body is `{}` when `empty_ok`.
pub fn object(body: &Bytes, empty_ok: bool) -> Result<Map<String, Value>, ApiError> {
    if empty_ok && body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid_body(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::invalid_body(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// Deserialises `value`, naming the offending field on error.
pub fn decode<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        match field_of(&path, &message) {
            Some(field) => ApiError::invalid(field, message),
            None => ApiError::invalid_body(message),
        }
    })
}

/// The body as a `T` (an object; empty means `{}` when `empty_ok`).
pub fn parse<T: DeserializeOwned>(body: &Bytes, empty_ok: bool) -> Result<T, ApiError> {
    decode(Value::Object(object(body, empty_ok)?))
}

/// The field a serde error is about: its path, plus the field name for unknown and missing
/// fields (serde reports those at the enclosing object).
fn field_of(path: &str, message: &str) -> Option<String> {
    let base = if path == "." { "" } else { path };
    for prefix in ["unknown field `", "missing field `"] {
        if let Some(name) = message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
        {
            // The path may already end at the field (serde_path_to_error records unknown keys).
            let ends_with_name = base == name || base.ends_with(&format!(".{name}"));
            return Some(if base.is_empty() {
                name.to_owned()
            } else if ends_with_name {
                base.to_owned()
            } else {
                format!("{base}.{name}")
            });
        }
    }
    (!base.is_empty()).then(|| base.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use glitch_detect::Policy;

    fn error_of(json: &str) -> ApiError {
        parse::<Policy>(&Bytes::from(json.to_owned()), false).unwrap_err()
    }

    #[test]
    fn serde_errors_name_the_field() {
        let e = error_of(
            r#"{"input_detectors":[{"detector_type":"jailbreak"},{"detector_type":"x","threshold":"L9"}]}"#,
        );
        assert_eq!(e.field.as_deref(), Some("input_detectors[1].threshold"));
        let e = error_of(r#"{"bogus": 1}"#);
        assert_eq!(e.field.as_deref(), Some("bogus"));
        assert!(e.message.contains("unknown field"));
        let e = error_of(r#"{"allow_list": {"entries": [], "extra": true}}"#);
        assert_eq!(e.field.as_deref(), Some("allow_list.extra"));
        let e = error_of(r#"{"custom_detectors": [{"name": "x"}]}"#);
        assert_eq!(e.field.as_deref(), Some("custom_detectors[0].pattern"));
        let e = error_of(r#"{"rate_limits": {"requests_per_minute": "many"}}"#);
        assert_eq!(e.field.as_deref(), Some("rate_limits.requests_per_minute"));
    }

    #[test]
    fn malformed_bodies() {
        let e = error_of("{\"name\": ");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.field.is_none() && e.message.contains("not valid JSON"));
        let e = error_of("[1]");
        assert!(e.message.contains("JSON object"));
        assert!(error_of("").message.contains("not valid JSON"));
        assert!(
            object(&Bytes::from_static(b" \n"), true)
                .unwrap()
                .is_empty()
        );
    }
}
