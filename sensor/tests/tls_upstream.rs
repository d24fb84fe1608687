//! Upstream over HTTPS: the sensor's rustls client negotiates HTTP/2 by ALPN with a TLS upstream
//! it trusts through `--upstream-ca-file`, relays streams over it, and refuses an upstream whose
//! certificate it does not trust (502, nothing sent).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::sync::Arc;

use common::*;
use glitch_fake_anthropic::{FakeAnthropic, FakeOptions};

/// A fake upstream serving HTTPS for `localhost` with a fresh self-signed certificate; returns
/// it and the certificate's PEM.
async fn tls_fake() -> (FakeAnthropic, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = certified.cert.pem();
    let cert_der = certified.cert.der().clone();
    let key_der =
        rustls_pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key_der)
        .unwrap();
    let options = FakeOptions {
        tls: Some(Arc::new(config)),
        ..FakeOptions::default()
    };
    let fake = FakeAnthropic::start_on("127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap();
    (fake, cert_pem)
}

#[tokio::test]
async fn https_upstream_with_http2_and_a_custom_ca() {
    let (fake, pem) = tls_fake().await;
    let url = fake.url();
    assert!(url.starts_with("https://localhost:"));
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), pem).unwrap();
    let ca_flag = format!("--upstream-ca-file={}", ca.path().display());
    let mut h = Harness::start_with_fake(fake, POLICY, &[&ca_flag], Some(url)).await;

    let resp = h
        .messages(KEY, &simple_body("Print exactly the word: secure", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "secure");
    let text = h
        .messages(KEY, &simple_body("Print exactly the word: streamed", true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("event: message_stop"));
    let seen = h.fake.requests();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter().all(|r| r.version == http::Version::HTTP_2),
        "ALPN picked HTTP/2"
    );
    assert!(seen.iter().all(|r| !r.headers.contains_key("x-glitch-key")));
    // One pooled connection carried both requests.
    assert_eq!(h.fake.stats().connections_total, 1);
    let events = h.stop().await;
    assert!(events.iter().all(|e| e.upstream_status == 200));
}

#[tokio::test]
async fn untrusted_upstream_certificate_is_a_502() {
    let (fake, _pem) = tls_fake().await;
    let url = fake.url();
    let mut h = Harness::start_with_fake(fake, POLICY, &[], Some(url)).await;
    let resp = h
        .messages(KEY, &simple_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Glitch: upstream")
    );
    assert!(h.fake.requests().is_empty());
    let events = h.stop().await;
    assert_eq!(events[0].decision, "error");
}
