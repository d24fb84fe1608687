//! Fleet mode: the sensor's side of the config stream (DESIGN.md "Config delivery"). It opens one
//! bidirectional gRPC stream to the control plane, says who it is (id, region, build, last applied
//! version), and for every pushed snapshot builds and validates a whole new `Snapshot` off the
//! request path, swaps it in and ACKs — or NACKs with the reason and keeps serving the last good
//! one. Each applied snapshot is persisted in the state dir, so a sensor that starts while the
//! control plane is down serves its last-known-good config. The stream reconnects with jittered
//! exponential backoff; while it is down the config is marked stale (`/health` says degraded).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use glitch_detect::DetectorPack;
use glitch_proto::config::v1::config_service_client::ConfigServiceClient;
use glitch_proto::config::v1::{
    Ack, ConfigPush, ConfigSnapshot, Nack, SensorHello, SensorMessage, sensor_message,
};
use prost::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::config::PolicyFile;
use crate::metrics::SensorMetrics;
use crate::snapshot::{ConfigStore, Snapshot};

/// File in the state dir holding the last applied snapshot (protobuf).
pub const SNAPSHOT_FILE: &str = "config-snapshot.pb";

/// Why fleet mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The control-plane address is unusable.
    #[error("--control-plane {0}")]
    Address(String),
    /// A TLS file could not be read.
    #[error("cannot read {path}: {source}")]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The state dir is unusable.
    #[error("state dir {path}: {source}")]
    StateDir {
        /// The dir.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// How to reach the control plane.
#[derive(Clone, Debug)]
pub struct FleetOptions {
    /// `http(s)://host:port` of the control plane's gRPC listener.
    pub url: String,
    /// Extra CA certificate (PEM) for an `https://` control plane.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Identity sent in the hello.
    pub sensor_id: String,
    /// Region sent in the hello.
    pub region: String,
    /// Where the last good snapshot is persisted.
    pub state_dir: PathBuf,
}

/// `control-plane:<url>`, as shown by /health.
pub fn source_label(url: &str) -> String {
    format!("control-plane:{url}")
}

/// Converts, validates and compiles a pushed snapshot, reusing `previous`'s compiled policies
/// where they are unchanged.
pub fn build_snapshot(
    snapshot: &ConfigSnapshot,
    source: &str,
    pack: &DetectorPack,
    previous: Option<&Snapshot>,
) -> Result<Snapshot, String> {
    let doc = PolicyFile::from_snapshot(snapshot)
        .and_then(PolicyFile::into_document)
        .map_err(|e| e.to_string())?;
    Snapshot::build_from(doc, snapshot.version, source, pack, previous).map_err(|e| e.to_string())
}

/// Loads the persisted snapshot, if any, for start-up.
pub fn load_persisted(
    state_dir: &Path,
    source: &str,
    pack: &DetectorPack,
) -> Option<(Snapshot, ConfigSnapshot)> {
    let path = state_dir.join(SNAPSHOT_FILE);
    let bytes = std::fs::read(&path).ok()?;
    let decoded = match ConfigSnapshot::decode(bytes.as_slice()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "persisted config snapshot is unreadable; ignoring it");
            return None;
        }
    };
    match build_snapshot(&decoded, source, pack, None) {
        Ok(snapshot) => Some((snapshot, decoded)),
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "persisted config snapshot is invalid; ignoring it");
            None
        }
    }
}

/// Writes the snapshot atomically (temp file, fsync, rename, fsync dir).
fn persist(state_dir: &Path, snapshot: &ConfigSnapshot) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(state_dir)?;
    let tmp = state_dir.join(format!("{SNAPSHOT_FILE}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&snapshot.encode_to_vec())?;
    file.sync_all()?;
    std::fs::rename(&tmp, state_dir.join(SNAPSHOT_FILE))?;
    std::fs::File::open(state_dir)?.sync_all()
}

/// Checks the options and makes sure the state dir is usable.
pub fn check(options: &FleetOptions) -> Result<Endpoint, FleetError> {
    std::fs::create_dir_all(&options.state_dir).map_err(|source| FleetError::StateDir {
        path: options.state_dir.clone(),
        source,
    })?;
    let url = options.url.trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(FleetError::Address(format!(
            "must be http://HOST:PORT or https://HOST:PORT, got {url:?}"
        )));
    }
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| FleetError::Address(format!("{url:?}: {e}")))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    if url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new().with_native_roots();
        if let Some(ca) = &options.ca_file {
            let pem = std::fs::read(ca).map_err(|source| FleetError::TlsFile {
                path: ca.clone(),
                source,
            })?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        if let Some((cert, key)) = &options.client_cert {
            let cert_pem = std::fs::read(cert).map_err(|source| FleetError::TlsFile {
                path: cert.clone(),
                source,
            })?;
            let key_pem = std::fs::read(key).map_err(|source| FleetError::TlsFile {
                path: key.clone(),
                source,
            })?;
            tls = tls.identity(Identity::from_pem(cert_pem, key_pem));
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| FleetError::Address(format!("TLS: {e}")))?;
    }
    Ok(endpoint)
}

/// Runs the config stream forever (until the task is aborted).
pub fn spawn(
    endpoint: Endpoint,
    options: FleetOptions,
    store: Arc<ConfigStore>,
    pack: DetectorPack,
    metrics: Arc<SensorMetrics>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(250);
        loop {
            let started = tokio::time::Instant::now();
            match run_stream(&endpoint, &options, &store, &pack, &metrics).await {
                Ok(()) => tracing::warn!(url = %options.url, "config stream ended; reconnecting"),
                Err(e) => {
                    tracing::warn!(url = %options.url, error = %e, "config stream failed; reconnecting")
                }
            }
            store.set_stale(true);
            metrics.config_stream_connected.set(0);
            if started.elapsed() > Duration::from_secs(30) {
                backoff = Duration::from_millis(250);
            }
            // Full jitter: a fleet reconnecting after a control-plane restart spreads out.
            let jitter = rand::random::<f64>();
            tokio::time::sleep(backoff.mul_f64(0.5 + jitter)).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    })
}

async fn run_stream(
    endpoint: &Endpoint,
    options: &FleetOptions,
    store: &ConfigStore,
    pack: &DetectorPack,
    metrics: &SensorMetrics,
) -> Result<(), String> {
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    // Snapshots of large fleets (tens of thousands of keys) exceed tonic's 4 MiB default.
    let mut client = ConfigServiceClient::new(channel).max_decoding_message_size(256 * 1024 * 1024);
    let (tx, rx) = mpsc::channel::<SensorMessage>(16);
    let hello = SensorMessage {
        message: Some(sensor_message::Message::Hello(SensorHello {
            sensor_id: options.sensor_id.clone(),
            region: options.region.clone(),
            build: concat!("glitch-sensor/", env!("CARGO_PKG_VERSION")).to_owned(),
            last_applied_version: if store.has_config() {
                store.load().version
            } else {
                0
            },
        })),
    };
    tx.send(hello)
        .await
        .map_err(|_| "stream closed before hello".to_owned())?;
    let response = client
        .stream_config(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map_err(|e| format!("open stream: {e}"))?;
    let mut inbound = response.into_inner();
    tracing::info!(url = %options.url, "config stream connected");
    metrics.config_stream_connected.set(1);
    // Connected: the snapshot is current unless the control plane pushes a newer one.
    if store.has_config() {
        store.set_stale(false);
    }
    let source = source_label(&options.url);
    while let Some(push) = inbound
        .message()
        .await
        .map_err(|e| format!("receive: {e}"))?
    {
        let reply = apply(push, &source, options, store, pack, metrics).await;
        tx.send(reply)
            .await
            .map_err(|_| "stream closed".to_owned())?;
    }
    Ok(())
}

async fn apply(
    push: ConfigPush,
    source: &str,
    options: &FleetOptions,
    store: &ConfigStore,
    pack: &DetectorPack,
    metrics: &SensorMetrics,
) -> SensorMessage {
    let nonce = push.nonce;
    let last_good = if store.has_config() {
        store.load().version
    } else {
        0
    };
    let Some(snapshot) = push.snapshot else {
        return nack(last_good, nonce, "push without a snapshot".into());
    };
    let version = snapshot.version;
    let build_source = source.to_owned();
    let build_pack = pack.clone();
    let previous = store.has_config().then(|| store.load());
    let built = tokio::task::spawn_blocking(move || {
        let result = build_snapshot(&snapshot, &build_source, &build_pack, previous.as_deref());
        (result, snapshot)
    })
    .await;
    let (result, snapshot) = match built {
        Ok(pair) => pair,
        Err(e) => return nack(last_good, nonce, format!("snapshot build task failed: {e}")),
    };
    match result {
        Ok(compiled) => {
            let (projects, keys) = compiled.counts();
            store.store(compiled);
            store.set_stale(false);
            metrics
                .config_version
                .set(i64::try_from(version).unwrap_or(i64::MAX));
            let state_dir = options.state_dir.clone();
            let persisted =
                tokio::task::spawn_blocking(move || persist(&state_dir, &snapshot)).await;
            if !matches!(persisted, Ok(Ok(()))) {
                tracing::error!(dir = %options.state_dir.display(), "cannot persist the config snapshot; a restart without the control plane would serve an older one");
            }
            tracing::info!(version, projects, keys, "config snapshot applied");
            SensorMessage {
                message: Some(sensor_message::Message::Ack(Ack { version, nonce })),
            }
        }
        Err(error) => {
            metrics.config_reload_failures.inc();
            tracing::error!(version, error = %error, "config snapshot rejected; keeping the last good one");
            store.record_rejection(format!("version {version}: {error}"));
            nack(last_good, nonce, error)
        }
    }
}

fn nack(version: u64, nonce: String, error: String) -> SensorMessage {
    SensorMessage {
        message: Some(sensor_message::Message::Nack(Nack {
            version,
            nonce,
            error,
        })),
    }
}
