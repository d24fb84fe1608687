//! TLS for both listeners from one PEM certificate chain and key: a rustls (ring) server
//! config for the REST listener and a tonic `ServerTlsConfig` for the gRPC one.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The loaded certificate and key, ready for both listeners.
#[derive(Clone)]
pub struct TlsSetup {
    /// For the REST listener (ALPN h2 and http/1.1).
    pub rest: Arc<rustls::ServerConfig>,
    /// For the gRPC listener.
    pub grpc: tonic::transport::ServerTlsConfig,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsSetup")
    }
}

/// Reads and checks the PEM files.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<TlsSetup, String> {
    let cert_pem = std::fs::read(cert_path)
        .map_err(|e| format!("cannot read --tls-cert {}: {e}", cert_path.display()))?;
    let key_pem = std::fs::read(key_path)
        .map_err(|e| format!("cannot read --tls-key {}: {e}", key_path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--tls-cert {} is not PEM: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "--tls-cert {} holds no certificate",
            cert_path.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("--tls-key {} holds no private key: {e}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut rest = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("--tls-cert and --tls-key do not form a usable pair: {e}"))?;
    rest.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let grpc = tonic::transport::ServerTlsConfig::new()
        .identity(tonic::transport::Identity::from_pem(cert_pem, key_pem));
    Ok(TlsSetup {
        rest: Arc::new(rest),
        grpc,
    })
}
