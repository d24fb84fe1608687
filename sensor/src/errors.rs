//! The sensor's own error responses, in Anthropic's envelope
//! `{"type":"error","error":{"type","message"},"request_id"}` with the statuses of contract §2,
//! so Claude Code and the SDKs show them like any API error.

use axum::body::Body;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

/// One of the sensor's own errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SensorError {
    /// HTTP status.
    pub status: StatusCode,
    /// Anthropic `error.type`.
    pub kind: &'static str,
    /// Message (starts with `Glitch: ` or `Request blocked by Glitch security policy`).
    pub message: String,
    /// Seconds for a `retry-after` header (rate limits).
    pub retry_after: Option<u64>,
}

impl SensorError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        SensorError {
            status,
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 401 authentication_error.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "authentication_error", message)
    }

    /// 403 permission_error: the policy blocked the request.
    pub fn blocked(categories: &[impl AsRef<str>]) -> Self {
        let list = categories
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ");
        Self::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            format!("Request blocked by Glitch security policy: {list}"),
        )
    }

    /// 403 permission_error: the LLM classifier stage failed and the policy fails closed.
    pub fn classifier_failed_closed(status: &str) -> Self {
        let why = match status {
            "timeout" => "did not answer within the policy's llm_budget_ms",
            "unavailable" => "is not available on this sensor",
            _ => "failed",
        };
        Self::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            format!(
                "Glitch: request blocked: the content classifier {why}, and this project's policy fails closed (llm_failure: closed)"
            ),
        )
    }

    /// 413 request_too_large.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!("Glitch: request body is larger than the sensor's limit of {limit} bytes"),
        )
    }

    /// 400 invalid_request_error.
    pub fn invalid(message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!("Glitch: {message}"),
        )
    }

    /// 502 api_error: upstream unreachable.
    pub fn upstream_unreachable(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "api_error",
            format!("Glitch: upstream unreachable ({detail})"),
        )
    }

    /// 504 api_error: upstream sent no response head in time.
    pub fn upstream_timeout(seconds: u64) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "api_error",
            format!("Glitch: upstream sent no response within {seconds} s"),
        )
    }

    /// 429 rate_limit_error with `retry-after`.
    pub fn rate_limited(message: impl std::fmt::Display, retry_after: u64) -> Self {
        SensorError {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!("Glitch: {message}"),
            )
        }
    }

    /// 503 overloaded_error: the sensor cannot serve (no config yet, or shutting down).
    pub fn unavailable(message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded_error",
            format!("Glitch: {message}"),
        )
    }

    /// 404 not_found_error.
    pub fn not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("Glitch: no such route {path}"),
        )
    }

    /// The envelope as JSON text.
    pub fn envelope_json(&self, request_id: &str) -> String {
        #[derive(Serialize)]
        struct Inner<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            message: &'a str,
        }
        #[derive(Serialize)]
        struct Envelope<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            error: Inner<'a>,
            request_id: &'a str,
        }
        serde_json::to_string(&Envelope {
            kind: "error",
            error: Inner {
                kind: self.kind,
                message: &self.message,
            },
            request_id,
        })
        .unwrap_or_default()
    }

    /// The HTTP response.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let mut response = Response::new(Body::from(self.envelope_json(request_id)));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(value) = HeaderValue::from_str(request_id) {
            headers.insert("request-id", value);
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::FORBIDDEN || self.status == StatusCode::UNAUTHORIZED {
            // A client must not retry a policy or key decision.
            headers.insert("x-should-retry", HeaderValue::from_static("false"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape() {
        let e = SensorError::blocked(&["custom/x", "prompt_attack"]);
        let v: serde_json::Value = serde_json::from_str(&e.envelope_json("req_1")).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "permission_error");
        assert_eq!(
            v["error"]["message"],
            "Request blocked by Glitch security policy: custom/x, prompt_attack"
        );
        assert_eq!(v["request_id"], "req_1");
        let r = SensorError::rate_limited("slow down", 0).into_response("req_2");
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "1");
    }
}
