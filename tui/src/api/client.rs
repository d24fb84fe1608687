//! The HTTP client of the audit query API (contract §7): one method per endpoint, the bearer
//! token on every call, and [`ApiError`], which says in one line what went wrong in words a
//! person at the console can act on (unreachable, token rejected, bad filter, not found).

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::model::{EventSummary, Page, SessionRow, WholeEvent};
use crate::filter::Params;

/// How long one call may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Most of an error body quoted in a message.
const MAX_QUOTED: usize = 200;

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No HTTP answer: refused, timed out, DNS, TLS.
    #[error("cannot reach the audit API at {url}: {reason}")]
    Unreachable {
        /// The base URL.
        url: String,
        /// The innermost cause.
        reason: String,
    },
    /// 401: no token, or one the API does not accept.
    #[error("the audit API rejected the token (401): {message}; check GLITCH_ADMIN_TOKEN")]
    Unauthorized {
        /// The API's message.
        message: String,
    },
    /// 403: a project token asking for another project.
    #[error("not allowed (403): {message}")]
    Forbidden {
        /// The API's message.
        message: String,
    },
    /// 400: a filter the API does not accept.
    #[error("the audit API refused the filters (400): {message}")]
    BadRequest {
        /// The API's message.
        message: String,
    },
    /// 404.
    #[error("not found (404): {message}")]
    NotFound {
        /// The API's message.
        message: String,
    },
    /// Any other status.
    #[error("the audit API answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The API's message.
        message: String,
    },
    /// A 2xx answer that is not what the API returns.
    #[error("unexpected answer from the audit API: {reason}")]
    Decode {
        /// What was wrong.
        reason: String,
    },
}

impl ApiError {
    /// A few words for the start of the status line.
    pub fn headline(&self) -> String {
        match self {
            ApiError::Unreachable { .. } => "audit API unreachable".to_owned(),
            ApiError::Unauthorized { .. } => "token rejected (401)".to_owned(),
            ApiError::Forbidden { .. } => "not allowed (403)".to_owned(),
            ApiError::BadRequest { .. } => "filters refused (400)".to_owned(),
            ApiError::NotFound { .. } => "not found (404)".to_owned(),
            ApiError::Status { status, .. } => format!("audit API error {status}"),
            ApiError::Decode { .. } => "unexpected answer".to_owned(),
        }
    }

    /// The specifics after the headline: the cause, or the API's message.
    pub fn detail(&self) -> String {
        match self {
            ApiError::Unreachable { url, reason } => format!("{reason} ({url})"),
            ApiError::Unauthorized { message } => format!("{message}; check GLITCH_ADMIN_TOKEN"),
            ApiError::Forbidden { message }
            | ApiError::BadRequest { message }
            | ApiError::NotFound { message }
            | ApiError::Status { message, .. } => message.clone(),
            ApiError::Decode { reason } => reason.clone(),
        }
    }

    /// Whether trying the same call again later can help (a bad filter, a project the token
    /// may not read or a missing event will not change by themselves; a rejected token may be
    /// fixed on the server, and an unreachable API may come back).
    pub fn retryable(&self) -> bool {
        !matches!(
            self,
            ApiError::BadRequest { .. } | ApiError::NotFound { .. } | ApiError::Forbidden { .. }
        )
    }
}

/// The innermost message of an error chain (`connection refused`, not `error sending request`).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    if e.to_string().contains("timed out") || text.contains("timed out") {
        return "timed out".to_owned();
    }
    text
}

/// The `error.message` of an API error body, else the start of the body.
fn error_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body)
        && let Some(m) = v
            .get("error")
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
    {
        return m.to_owned();
    }
    let trimmed: String = body.trim().chars().take(MAX_QUOTED).collect();
    if trimmed.is_empty() {
        "no details".to_owned()
    } else {
        trimmed.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// A client of one audit API.
#[derive(Clone)]
pub struct ApiClient {
    base: Url,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base.as_str())
            .field("token", &"[REDACTED]")
            .finish()
    }
}

/// Why a client cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `--api` is not an http(s) URL.
    #[error("--api {0:?} is not an http:// or https:// URL")]
    BadUrl(String),
    /// The HTTP stack could not start.
    #[error("cannot set up HTTP: {0}")]
    Http(String),
}

impl ApiClient {
    /// A client of the API at `base` (e.g. `http://127.0.0.1:8082`) sending `token`.
    pub fn new(base: &str, token: impl Into<String>) -> Result<Self, ClientError> {
        let mut url = Url::parse(base.trim()).map_err(|_| ClientError::BadUrl(base.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(ClientError::BadUrl(base.to_owned()));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("glitch-console/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Http(e.to_string()))?;
        Ok(ApiClient {
            base: url,
            token: token.into(),
            http,
        })
    }

    /// The base URL as given.
    pub fn base(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// `base` + `segments` (each percent-encoded) + `params`.
    fn url(&self, segments: &[&str], params: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        if !params.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in params {
                q.append_pair(k, v);
            }
        }
        url
    }

    async fn get(&self, url: Url) -> Result<Value, ApiError> {
        self.get_text(url).await.map(|(v, _)| v)
    }

    async fn get_text(&self, url: Url) -> Result<(Value, String), ApiError> {
        let unreachable = |e: reqwest::Error| ApiError::Unreachable {
            url: self.base().to_owned(),
            reason: root_cause(&e),
        };
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let body = response.text().await.map_err(unreachable)?;
        if status.is_success() {
            return match serde_json::from_str(&body) {
                Ok(v) => Ok((v, body)),
                Err(e) => Err(ApiError::Decode {
                    reason: format!("not JSON ({e})"),
                }),
            };
        }
        let message = error_message(&body);
        Err(match status {
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized { message },
            StatusCode::FORBIDDEN => ApiError::Forbidden { message },
            StatusCode::BAD_REQUEST => ApiError::BadRequest { message },
            StatusCode::NOT_FOUND => ApiError::NotFound { message },
            other => ApiError::Status {
                status: other.as_u16(),
                message,
            },
        })
    }

    fn page<T>(v: &Value, row: impl Fn(&Value) -> T) -> Result<Page<T>, ApiError> {
        Page::from_json(v, row).ok_or_else(|| ApiError::Decode {
            reason: "no \"results\" array".to_owned(),
        })
    }

    fn with_page(mut params: Params, cursor: Option<&str>, limit: usize) -> Params {
        params.push(("limit", limit.to_string()));
        if let Some(c) = cursor {
            params.push(("cursor", c.to_owned()));
        }
        params
    }

    /// `GET /v1/sessions`.
    pub async fn sessions(
        &self,
        params: Params,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<SessionRow>, ApiError> {
        let params = Self::with_page(params, cursor, limit);
        let v = self.get(self.url(&["v1", "sessions"], &params)).await?;
        Self::page(&v, SessionRow::from_json)
    }

    /// `GET /v1/sessions/{session_id}/events` (oldest first).
    pub async fn session_events(
        &self,
        project_id: &str,
        session_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<EventSummary>, ApiError> {
        let mut params = Params::new();
        if !project_id.is_empty() {
            params.push(("project_id", project_id.to_owned()));
        }
        let params = Self::with_page(params, cursor, limit);
        let url = self.url(&["v1", "sessions", session_id, "events"], &params);
        let v = self.get(url).await?;
        Self::page(&v, EventSummary::from_json)
    }

    /// `GET /v1/events` (newest first).
    pub async fn events(
        &self,
        params: Params,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<EventSummary>, ApiError> {
        let params = Self::with_page(params, cursor, limit);
        let v = self.get(self.url(&["v1", "events"], &params)).await?;
        Self::page(&v, EventSummary::from_json)
    }

    /// `GET /v1/events/{event_id}`: the whole event.
    pub async fn event(&self, event_id: &str) -> Result<WholeEvent, ApiError> {
        let (value, body) = self
            .get_text(self.url(&["v1", "events", event_id], &[]))
            .await?;
        if value.is_object() {
            Ok(WholeEvent { value, body })
        } else {
            Err(ApiError::Decode {
                reason: "the event is not a JSON object".to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_urls_with_encoded_segments() {
        let c = ApiClient::new("http://127.0.0.1:8082", "t").unwrap();
        let url = c.url(
            &["v1", "sessions", "a/b c", "events"],
            &[("limit", "5".to_owned()), ("cursor", "x+y".to_owned())],
        );
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8082/v1/sessions/a%2Fb%20c/events?limit=5&cursor=x%2By"
        );
        let behind_proxy = ApiClient::new("https://audit.example/glitch", "t").unwrap();
        assert_eq!(
            behind_proxy.url(&["v1", "events"], &[]).as_str(),
            "https://audit.example/glitch/v1/events"
        );
        assert!(ApiClient::new("127.0.0.1:8082", "t").is_err());
        assert!(ApiClient::new("ftp://x", "t").is_err());
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            error_message(r#"{"error":{"type":"authentication_error","message":"bad token"}}"#),
            "bad token"
        );
        assert_eq!(
            error_message("<html>\n Bad   Gateway</html>"),
            "<html> Bad Gateway</html>"
        );
        assert!(
            ApiError::Unauthorized {
                message: "bad token".into()
            }
            .to_string()
            .contains("GLITCH_ADMIN_TOKEN")
        );
        assert!(
            !ApiError::NotFound {
                message: String::new()
            }
            .retryable()
        );
        assert!(
            ApiError::Unauthorized {
                message: String::new()
            }
            .retryable()
        );
    }

    #[test]
    fn debug_hides_the_token() {
        let c = ApiClient::new("http://x", "secret-token").unwrap();
        assert!(!format!("{c:?}").contains("secret-token"));
    }
}
