//! Anthropic's error envelope and the canned errors the fake returns.

use bytes::Bytes;
use http::StatusCode;

use crate::wire::{ErrorBody, ErrorEnvelope, to_bytes};

/// An API error as Anthropic reports it.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found_error", message)
    }

    pub(crate) fn overloaded() -> Self {
        ApiError::for_status(529)
    }

    /// The canned error of an `error-NNN` scenario.
    pub(crate) fn for_status(status: u16) -> Self {
        let (kind, message) = match status {
            401 => ("authentication_error", "invalid x-api-key"),
            403 => (
                "permission_error",
                "Your API key does not have permission to use the specified resource.",
            ),
            429 => (
                "rate_limit_error",
                "This request would exceed the rate limit for your organization (fake-org). \
                 Please try again later.",
            ),
            529 => ("overloaded_error", "Overloaded"),
            _ => ("api_error", "Internal server error"),
        };
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::new(status, kind, message)
    }

    /// Extra headers Anthropic sends with this error.
    pub(crate) fn extra_headers(&self) -> &'static [(&'static str, &'static str)] {
        match self.status.as_u16() {
            429 => &[("retry-after", "7"), ("x-should-retry", "true")],
            500 | 529 => &[("x-should-retry", "true")],
            _ => &[],
        }
    }

    /// The JSON body: `{"type":"error","error":{...},"request_id":"req_..."}`.
    pub(crate) fn body(&self, request_id: &str) -> Bytes {
        to_bytes(&ErrorEnvelope {
            kind: "error",
            error: ErrorBody {
                kind: self.kind,
                message: &self.message,
            },
            request_id,
        })
    }
}
