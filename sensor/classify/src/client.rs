//! The HTTP side: one pooled HTTPS-capable client (rustls, HTTP/1.1 and HTTP/2 by ALPN, plain
//! HTTP for local endpoints) shared by every endpoint of a set, and the POST of one request
//! with a bounded response body. Errors describe the failure, never the key or the request.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::ConfigError;

/// The pooled client.
pub(crate) type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Largest response body accepted; a bigger one is a malformed answer.
pub(crate) const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Why a POST failed.
#[derive(Debug)]
pub(crate) enum PostError {
    /// No connection, or it broke before the whole answer arrived.
    Connect(String),
    /// A non-2xx status.
    Status(u16),
    /// The body is larger than [`MAX_RESPONSE_BYTES`].
    TooLarge,
}

fn root_store(extra_ca_file: Option<&Path>) -> Result<rustls::RootCertStore, ConfigError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(path) = extra_ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| ConfigError::Tls(format!("cannot read {}: {e}", path.display())))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError::Tls(format!("bad certificate in {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(ConfigError::Tls(format!(
                "no certificate in {}",
                path.display()
            )));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                ConfigError::Tls(format!("unusable certificate in {}: {e}", path.display()))
            })?;
        }
    }
    Ok(roots)
}

/// Builds the pooled client.
pub(crate) fn build(extra_ca_file: Option<&Path>) -> Result<HttpClient, ConfigError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(60)));
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Tls(e.to_string()))?
        .with_root_certificates(root_store(extra_ca_file)?)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .build(https))
}

/// An error and its sources, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut s = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        s.push_str(": ");
        s.push_str(&e.to_string());
        source = e.source();
    }
    s
}

/// POSTs `body` and returns the response body of a 2xx answer.
pub(crate) async fn post(
    client: &HttpClient,
    uri: &Uri,
    headers: &HeaderMap,
    body: Vec<u8>,
) -> Result<Bytes, PostError> {
    let mut request = Request::post(uri.clone())
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| PostError::Connect(format!("cannot build the request: {e}")))?;
    *request.headers_mut() = headers.clone();
    let response = client
        .request(request)
        .await
        .map_err(|e| PostError::Connect(chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(PostError::Status(status.as_u16()));
    }
    if let Some(len) = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > MAX_RESPONSE_BYTES as u64
    {
        return Err(PostError::TooLarge);
    }
    let collected = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                PostError::TooLarge
            } else {
                PostError::Connect(format!("reading the response body: {}", chain(&*e)))
            }
        })?;
    Ok(collected.to_bytes())
}
