//! A small client for the control plane's REST API (contract §4): bearer token, JSON in and out,
//! and the API's JSON errors turned into one readable line.

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use glitch_sensor::upstream::{ClientOptions, UpstreamClient, build_client};

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The URL or request could not be built.
    #[error("bad request: {0}")]
    Request(String),
    /// The control plane could not be reached.
    #[error("cannot reach the control plane at {url}: {detail}")]
    Unreachable {
        /// Base URL.
        url: String,
        /// Why.
        detail: String,
    },
    /// The control plane answered with an error.
    #[error("{status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The API's message (and field, when it names one).
        message: String,
    },
}

/// The control-plane API at one base URL.
pub struct Api {
    base: String,
    token: String,
    client: UpstreamClient,
}

impl Api {
    /// A client for `base` (e.g. `http://127.0.0.1:8081`) with the admin token.
    pub fn new(
        base: &str,
        token: &str,
        ca_file: Option<std::path::PathBuf>,
    ) -> Result<Self, ApiError> {
        let client = build_client(ClientOptions {
            connect_timeout: std::time::Duration::from_secs(5),
            extra_ca_file: ca_file,
        })
        .map_err(|e| ApiError::Request(e.to_string()))?;
        Ok(Api {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            client,
        })
    }

    /// Calls `method path` with an optional JSON body; returns the JSON answer (null for 204).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let url = format!("{}{}", self.base, path);
        let bytes = match body {
            Some(v) => {
                Bytes::from(serde_json::to_vec(v).map_err(|e| ApiError::Request(e.to_string()))?)
            }
            None => Bytes::new(),
        };
        let request = Request::builder()
            .method(method)
            .uri(&url)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(Full::new(bytes))
            .map_err(|e| ApiError::Request(e.to_string()))?;
        let response = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            self.client.request(request),
        )
        .await
        .map_err(|_| ApiError::Unreachable {
            url: self.base.clone(),
            detail: "timed out".into(),
        })?
        .map_err(|e| ApiError::Unreachable {
            url: self.base.clone(),
            detail: e.to_string(),
        })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ApiError::Unreachable {
                url: self.base.clone(),
                detail: e.to_string(),
            })?
            .to_bytes();
        let value: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
        };
        if status.is_success() {
            return Ok(value);
        }
        let message = match (
            value["error"]["field"].as_str(),
            value["error"]["message"].as_str(),
        ) {
            (Some(field), Some(message)) => format!("{field}: {message}"),
            (None, Some(message)) => message.to_owned(),
            _ => value.to_string(),
        };
        Err(ApiError::Status {
            status: status.as_u16(),
            message,
        })
    }
}
