//! The upstream side of forwarding: the target URL, the pooled HTTPS client (rustls, HTTP/1.1
//! and HTTP/2 by ALPN), and the header rules of contract §2 — request headers pass unchanged
//! except `X-Glitch-Key`, hop-by-hop headers (RFC 9110 §7.6.1) and `host`; response headers
//! pass unchanged except hop-by-hop ones.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::auth::GLITCH_KEY_HEADER;

/// The pooled client used for every upstream call.
pub type UpstreamClient =
    Client<TimeoutConnector<hyper_rustls::HttpsConnector<HttpConnector>>, Full<Bytes>>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Bounds the whole connection set-up (TCP connect and TLS handshake), so an upstream or
/// middlebox that stalls the handshake gets the contract's 502 quickly rather than a 504 after
/// the response timeout.
#[derive(Clone, Debug)]
pub struct TimeoutConnector<C> {
    inner: C,
    timeout: Duration,
}

impl<C> tower_service::Service<Uri> for TimeoutConnector<C>
where
    C: tower_service::Service<Uri> + Clone + Send + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(result) => result.map_err(Into::into),
                Err(_) => Err(format!(
                    "connect and TLS handshake took longer than {} ms",
                    timeout.as_millis()
                )
                .into()),
            }
        })
    }
}

/// Where allowed requests go.
#[derive(Clone, Debug)]
pub struct Upstream {
    scheme: Scheme,
    authority: Authority,
    /// Path prefix without a trailing slash ("" for none).
    prefix: String,
    label: String,
}

/// Why `--upstream` is not usable.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Not an http(s) URL.
    #[error("--upstream must be an http:// or https:// URL, got {0:?}")]
    BadUrl(String),
    /// TLS roots could not be loaded.
    #[error("cannot set up TLS for the upstream: {0}")]
    Tls(String),
}

impl Upstream {
    /// Parses `https://api.anthropic.com` (optionally with a port and path prefix).
    pub fn parse(url: &str) -> Result<Self, UpstreamError> {
        let bad = || UpstreamError::BadUrl(url.to_owned());
        let uri: Uri = url.parse().map_err(|_| bad())?;
        let scheme = uri.scheme().cloned().ok_or_else(bad)?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(bad());
        }
        let authority = uri.authority().cloned().ok_or_else(bad)?;
        if uri.query().is_some() {
            return Err(bad());
        }
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(Upstream {
            scheme,
            authority,
            prefix,
            label: url.trim_end_matches('/').to_owned(),
        })
    }

    /// The URL the request for `path_and_query` goes to.
    pub fn uri_for(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        let pq: PathAndQuery = if self.prefix.is_empty() {
            path_and_query.parse()?
        } else {
            format!("{}{}", self.prefix, path_and_query).parse()?
        };
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
    }

    /// The upstream's `host` header value.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The URL as configured.
    pub fn label(&self) -> &str {
        &self.label
    }
}

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// TCP connect timeout (TLS handshake bounded by the response timeout).
    pub connect_timeout: Duration,
    /// Extra trusted CA certificates (PEM file).
    pub extra_ca_file: Option<std::path::PathBuf>,
}

/// Trust anchors: the platform's roots (the bundled Mozilla roots when the platform has none)
/// plus the extra CA file.
fn root_store(
    extra_ca_file: Option<&std::path::Path>,
) -> Result<rustls::RootCertStore, UpstreamError> {
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
            .map_err(|e| {
                UpstreamError::Tls(format!(
                    "cannot read --upstream-ca-file {}: {e}",
                    path.display()
                ))
            })?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                UpstreamError::Tls(format!("bad certificate in {}: {e}", path.display()))
            })?;
        if certs.is_empty() {
            return Err(UpstreamError::Tls(format!(
                "no certificate in {}",
                path.display()
            )));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                UpstreamError::Tls(format!("unusable certificate in {}: {e}", path.display()))
            })?;
        }
    }
    Ok(roots)
}

/// Builds the pooled client: HTTPS via rustls, HTTP/2 when the upstream offers it (ALPN),
/// HTTP/1.1 otherwise, plain HTTP for local upstreams.
pub fn build_client(options: ClientOptions) -> Result<UpstreamClient, UpstreamError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(options.connect_timeout));
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(60)));
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| UpstreamError::Tls(e.to_string()))?
        .with_root_certificates(root_store(options.extra_ca_file.as_deref())?)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    let https = TimeoutConnector {
        inner: https,
        timeout: options.connect_timeout,
    };
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(512)
        .build(https))
}

/// Hop-by-hop headers never forwarded in either direction.
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
];

fn is_hop_by_hop(name: &HeaderName, connection_listed: &[HeaderName]) -> bool {
    HOP_BY_HOP.contains(name)
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
        || connection_listed.contains(name)
}

/// Header names listed in `Connection` (they are hop-by-hop too).
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect()
}

/// The request sent upstream: same method, path and query; headers as received minus
/// `X-Glitch-Key`, hop-by-hop headers, `host` and `content-length` (set from the body).
pub fn upstream_request(
    upstream: &Upstream,
    method: Method,
    path_and_query: &str,
    incoming: &HeaderMap,
    body: Bytes,
    uncompressed: bool,
) -> Result<Request<Full<Bytes>>, http::Error> {
    let uri = upstream.uri_for(path_and_query)?;
    let listed = connection_listed(incoming);
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(body))?;
    let headers = request.headers_mut();
    headers.reserve(incoming.len());
    for (name, value) in incoming {
        if name == header::HOST
            || name == header::CONTENT_LENGTH
            || name.as_str() == GLITCH_KEY_HEADER
            || is_hop_by_hop(name, &listed)
        {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    if let Ok(host) = http::HeaderValue::from_str(upstream.authority().as_str()) {
        headers.insert(header::HOST, host);
    }
    if uncompressed {
        // The response must be readable to be scanned.
        headers.insert(
            header::ACCEPT_ENCODING,
            http::HeaderValue::from_static("identity"),
        );
    }
    Ok(request)
}

/// Removes hop-by-hop headers from an upstream response before relaying it.
pub fn clean_response_headers(headers: &mut HeaderMap) {
    let listed = connection_listed(headers);
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_hop_by_hop(name, &listed))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstreams() {
        let u = Upstream::parse("https://api.anthropic.com").unwrap();
        assert_eq!(
            u.uri_for("/v1/messages?beta=true").unwrap().to_string(),
            "https://api.anthropic.com/v1/messages?beta=true"
        );
        let u = Upstream::parse("http://127.0.0.1:9999/anthropic/").unwrap();
        assert_eq!(
            u.uri_for("/v1/models").unwrap().to_string(),
            "http://127.0.0.1:9999/anthropic/v1/models"
        );
        assert!(Upstream::parse("ftp://x").is_err());
        assert!(Upstream::parse("not a url").is_err());
        assert!(Upstream::parse("/just/a/path").is_err());
    }

    #[test]
    fn forwards_headers_by_the_rules() {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "sk-ant-api03-x".parse().unwrap());
        h.insert("authorization", "Bearer sk-ant-oat01-x".parse().unwrap());
        h.insert("anthropic-version", "2023-06-01".parse().unwrap());
        h.insert("anthropic-beta", "claude-code-20250219".parse().unwrap());
        h.insert("x-glitch-key", "glitch_sk_secret".parse().unwrap());
        h.insert("x-custom-thing", "kept".parse().unwrap());
        h.insert("connection", "keep-alive, x-drop-me".parse().unwrap());
        h.insert("x-drop-me", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("te", "trailers".parse().unwrap());
        h.insert("host", "127.0.0.1:8080".parse().unwrap());
        h.insert("content-length", "2".parse().unwrap());
        let u = Upstream::parse("https://api.anthropic.com").unwrap();
        let r = upstream_request(
            &u,
            Method::POST,
            "/v1/messages?beta=true",
            &h,
            Bytes::from_static(b"{}"),
            false,
        )
        .unwrap();
        let out = r.headers();
        assert_eq!(out["x-api-key"], "sk-ant-api03-x");
        assert_eq!(out["authorization"], "Bearer sk-ant-oat01-x");
        assert_eq!(out["anthropic-version"], "2023-06-01");
        assert_eq!(out["anthropic-beta"], "claude-code-20250219");
        assert_eq!(out["x-custom-thing"], "kept");
        assert_eq!(out["host"], "api.anthropic.com");
        for gone in [
            "x-glitch-key",
            "connection",
            "x-drop-me",
            "keep-alive",
            "te",
            "content-length",
        ] {
            assert!(!out.contains_key(gone), "{gone} forwarded");
        }
        assert_eq!(r.uri().query(), Some("beta=true"));
    }

    #[test]
    fn cleans_response_headers() {
        let mut h = HeaderMap::new();
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        h.insert("connection", "close".parse().unwrap());
        h.insert("request-id", "req_1".parse().unwrap());
        h.insert("retry-after", "7".parse().unwrap());
        clean_response_headers(&mut h);
        assert_eq!(h.len(), 2);
        assert_eq!(h["retry-after"], "7");
    }
}
