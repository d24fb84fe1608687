//! Start-up, serving and shutdown: checks the flags, opens the database (running migrations),
//! builds the first snapshot, binds the REST and gRPC listeners (TLS on both when configured),
//! and on SIGTERM/SIGINT stops accepting, ends the config streams (telling sensors to
//! reconnect), lets open requests finish within the grace period and closes the database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use glitch_proto::config::v1::config_service_server::ConfigServiceServer;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tonic::transport::server::TcpIncoming;

use crate::api::{self, AppState};
use crate::cli::{ADMIN_TOKEN_ENV, ControlPlaneArgs, MIN_ADMIN_TOKEN_LEN, redact_url};
use crate::grpc::ConfigStreamService;
use crate::hub::ConfigHub;
use crate::recorder::SensorRecorder;
use crate::store::{Store, StoreError};
use crate::tls::{self, TlsSetup};

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad flags or environment.
    #[error("{0}")]
    Config(String),
    /// The database is unusable.
    #[error("database {url}: {source}")]
    Database {
        /// The URL, password redacted.
        url: String,
        /// Why.
        source: StoreError,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The gRPC server could not be set up.
    #[error("gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
}

/// A running control plane (for tests and embedding): its addresses and a way to stop it.
#[derive(Debug)]
pub struct Running {
    /// REST address.
    pub rest_addr: SocketAddr,
    /// gRPC address.
    pub grpc_addr: SocketAddr,
    /// True when both listeners serve TLS.
    pub tls: bool,
    /// This replica's id.
    pub replica_id: String,
    store: Store,
    stop: watch::Sender<bool>,
    done: JoinHandle<()>,
}

impl Running {
    /// The database (shared with the servers).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `http://` or `https://` plus the REST address.
    pub fn rest_url(&self) -> String {
        format!("{}://{}", self.scheme(), self.rest_addr)
    }

    /// `http://` or `https://` plus the gRPC address.
    pub fn grpc_url(&self) -> String {
        format!("{}://{}", self.scheme(), self.grpc_addr)
    }

    fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    /// Stops accepting, ends every config stream, waits for open requests (up to the grace
    /// period), records this replica's sensors disconnected and closes the database.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if self.done.await.is_err() {
            tracing::error!("control plane task ended abnormally");
        }
    }
}

/// Checks the admin token's presence and shape.
fn check_admin_token(token: Option<&str>) -> Result<String, StartError> {
    let token = token.ok_or_else(|| {
        StartError::Config(format!(
            "{ADMIN_TOKEN_ENV} is not set: it is required (the bearer token REST callers send, at least {MIN_ADMIN_TOKEN_LEN} characters)"
        ))
    })?;
    if token.chars().count() < MIN_ADMIN_TOKEN_LEN {
        return Err(StartError::Config(format!(
            "{ADMIN_TOKEN_ENV} is too short: use at least {MIN_ADMIN_TOKEN_LEN} characters"
        )));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(StartError::Config(format!(
            "{ADMIN_TOKEN_ENV} must be printable ASCII without spaces (it is sent in an HTTP header)"
        )));
    }
    Ok(token.to_owned())
}

/// Hostname plus a random suffix.
fn default_replica_id() -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let suffix: u32 = rand::random();
    format!(
        "{}-{:06x}",
        if host.is_empty() {
            "control-plane"
        } else {
            &host
        },
        suffix & 0xff_ffff
    )
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    Ok((listener, local))
}

/// Starts the control plane; returns once both listeners are bound.
pub async fn start(args: ControlPlaneArgs) -> Result<Running, StartError> {
    let token = check_admin_token(args.admin_token.as_deref())?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::load(cert, key).map_err(StartError::Config)?),
        (None, None) => None,
        _ => {
            return Err(StartError::Config(
                "--tls-cert and --tls-key go together: give both or neither".into(),
            ));
        }
    };
    let replica_id = args.replica_id.clone().unwrap_or_else(default_replica_id);
    if replica_id.is_empty() || replica_id.len() > 128 || replica_id.chars().any(char::is_control) {
        return Err(StartError::Config(
            "--replica-id must be 1-128 characters without control characters".into(),
        ));
    }
    let replica_id: Arc<str> = Arc::from(replica_id);
    let db_error = |source| StartError::Database {
        url: redact_url(&args.database),
        source,
    };
    let store = Store::connect(&args.database).await.map_err(db_error)?;
    // Rows this replica id left connected in an earlier life are stale now.
    store
        .replica_disconnected(&replica_id)
        .await
        .map_err(db_error)?;
    let hub = ConfigHub::new(store.clone()).await.map_err(db_error)?;
    let (rest_listener, rest_addr) = bind(args.listen).await?;
    let (grpc_listener, grpc_addr) = bind(args.grpc_listen).await?;

    let (stop, stop_rx) = watch::channel(false);
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let metrics = Arc::new(crate::metrics::ControlPlaneMetrics::new());
    let (tracer, trace_exporter) =
        glitch_process::telemetry::start_from_env("glitch-control-plane")
            .map_err(|e| StartError::Config(e.to_string()))?;
    let mut state = AppState::new(
        store.clone(),
        hub.clone(),
        &token,
        args.fault_injection,
        replica_id.clone(),
        metrics.clone(),
    );
    state.tracer = tracer;
    let state = Arc::new(state);
    let rest = tokio::spawn(serve_rest(
        rest_listener,
        api::router(state),
        tls.clone(),
        stop_rx.clone(),
        grace,
    ));
    let (recorder, recorder_task) = SensorRecorder::start(store.clone());
    let service = ConfigStreamService::new(
        store.clone(),
        recorder,
        hub.clone(),
        replica_id.clone(),
        stop_rx.clone(),
        metrics,
    );
    let mut grpc_builder = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)));
    if let Some(tls) = &tls {
        grpc_builder = grpc_builder.tls_config(tls.grpc.clone())?;
    }
    let incoming = TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
    let mut grpc_stop = stop_rx.clone();
    let grpc = tokio::spawn(async move {
        let result = grpc_builder
            .add_service(ConfigServiceServer::new(service))
            .serve_with_incoming_shutdown(incoming, async move {
                stopped(&mut grpc_stop).await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "gRPC server failed");
        }
    });
    let publisher = hub.clone().spawn(replica_id.clone(), stop_rx.clone());

    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        %rest_addr, %grpc_addr, database = %redact_url(&args.database),
        backend = store.backend().as_str(), replica_id = %replica_id,
        config_version = hub.current().version, fault_injection = args.fault_injection,
        "glitch-control-plane listening on {scheme}://{rest_addr} (grpc {scheme}://{grpc_addr})"
    );
    if args.fault_injection {
        tracing::warn!(
            "fault injection is ON (POST /v1/_test/push-invalid-policy): for tests only, never in production"
        );
    }

    let done_store = store.clone();
    let done_replica = replica_id.clone();
    let done = tokio::spawn(async move {
        let _ = rest.await;
        match tokio::time::timeout(grace, grpc).await {
            Ok(_) => {}
            Err(_) => tracing::warn!("gRPC server did not stop within the grace period"),
        }
        let _ = publisher.await;
        // Every stream has queued its last event by now; let the writer finish.
        if tokio::time::timeout(grace, recorder_task).await.is_err() {
            tracing::warn!("sensor event writer did not finish within the grace period");
        }
        if let Err(e) = done_store.replica_disconnected(&done_replica).await {
            tracing::warn!(error = %e, "cannot mark this replica's sensors disconnected");
        }
        done_store.close().await;
        if let Some(exporter) = trace_exporter {
            exporter.shutdown().await;
        }
        tracing::info!("glitch-control-plane stopped");
    });
    Ok(Running {
        rest_addr,
        grpc_addr,
        tls: tls.is_some(),
        replica_id: replica_id.to_string(),
        store,
        stop,
        done,
    })
}

/// Runs the control plane until SIGTERM or SIGINT.
pub async fn run(args: ControlPlaneArgs) -> Result<(), StartError> {
    let running = start(args).await?;
    glitch_process::shutdown_signal().await;
    tracing::info!("shutdown signal received; draining");
    running.shutdown().await;
    Ok(())
}

/// Serves `router` on `listener` (TLS when `tls` is set) until `shutdown` flips, then waits
/// for open connections up to `grace`.
async fn serve_rest(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsSetup>,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let acceptor = tls.map(|t| TlsAcceptor::from(t.rest));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(router.clone());
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    let result = match acceptor {
                        Some(acceptor) => {
                            let tls_stream = match tokio::time::timeout(
                                Duration::from_secs(10),
                                acceptor.accept(stream),
                            )
                            .await
                            {
                                Ok(Ok(s)) => s,
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!("TLS handshake timed out");
                                    return;
                                }
                            };
                            let conn = builder
                                .serve_connection_with_upgrades(TokioIo::new(tls_stream), service)
                                .into_owned();
                            watcher.watch(conn).await
                        }
                        None => {
                            let conn = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                                .into_owned();
                            watcher.watch(conn).await
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = stopped(&mut shutdown) => break,
        }
    }
    drop(listener);
    // Connections still in their TLS handshake are not watched yet; they end with the abort
    // below if they outlive the grace period.
    tokio::select! {
        () = graceful.shutdown() => tracing::debug!("all REST connections closed"),
        () = tokio::time::sleep(grace) => tracing::warn!(grace_secs = grace.as_secs(), "grace period over; closing remaining REST connections"),
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_rules() {
        assert!(check_admin_token(None).is_err());
        assert!(check_admin_token(Some("short")).is_err());
        assert!(check_admin_token(Some("has a space in it!!")).is_err());
        assert!(check_admin_token(Some("0123456789abcdef")).is_ok());
    }
}
