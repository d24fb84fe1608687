//! The running server: options, recorded requests, counters, and the hyper
//! accept loop (HTTP/1.1 and HTTP/2 cleartext) that tracks connections and
//! shuts everything down when asked or dropped.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::body::ShutdownFuture;
use crate::handler;

/// How the fake behaves beyond what each request asks for.
#[derive(Clone, Debug)]
pub struct FakeOptions {
    /// Keep request bodies in [`FakeAnthropic::requests`] (default `true`).
    /// With `false` requests are still recorded, with an empty body.
    pub record_bodies: bool,
    /// Pause between SSE events of every stream (default zero). The
    /// `slow-stream` scenarios override it.
    pub stream_event_delay: Duration,
    /// Serve HTTPS with this config (ALPN `h2` and `http/1.1` are set by the fake) instead of
    /// cleartext HTTP; `url()` then starts with `https://`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            record_bodies: true,
            stream_event_delay: Duration::ZERO,
            tls: None,
        }
    }
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path_and_query: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    /// HTTP version the request arrived with (HTTP/1.1 or HTTP/2).
    pub version: http::Version,
}

/// Counters of connections and SSE streams since the server started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FakeStats {
    /// Connections accepted and not yet closed.
    pub connections_open: u64,
    /// Connections accepted in all.
    pub connections_total: u64,
    /// SSE response bodies created.
    pub streams_started: u64,
    /// SSE response bodies that played their script to the end (including the
    /// deliberate failure that ends a `drop` stream).
    pub streams_completed: u64,
    /// SSE response bodies dropped before their end: the client went away
    /// (or the server shut down under a hanging stream).
    pub streams_aborted: u64,
}

/// Live counters behind [`FakeStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    streams_started: AtomicU64,
    streams_completed: AtomicU64,
    streams_aborted: AtomicU64,
}

impl Counters {
    pub(crate) fn stream_started(&self) {
        self.streams_started.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stream_completed(&self) {
        self.streams_completed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stream_aborted(&self) {
        self.streams_aborted.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> FakeStats {
        FakeStats {
            connections_open: self.connections_open.load(Ordering::Relaxed),
            connections_total: self.connections_total.load(Ordering::Relaxed),
            streams_started: self.streams_started.load(Ordering::Relaxed),
            streams_completed: self.streams_completed.load(Ordering::Relaxed),
            streams_aborted: self.streams_aborted.load(Ordering::Relaxed),
        }
    }
}

/// Counts a connection as open for as long as it lives.
struct ConnectionGuard(Arc<Counters>);

impl ConnectionGuard {
    fn new(counters: Arc<Counters>) -> Self {
        counters.connections_total.fetch_add(1, Ordering::Relaxed);
        counters.connections_open.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(counters)
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// State shared by the server handle and every request.
pub(crate) struct Shared {
    pub options: FakeOptions,
    pub counters: Arc<Counters>,
    requests: Mutex<Vec<RecordedRequest>>,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn record(&self, request: RecordedRequest) {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
    }

    /// A future that resolves once the server shuts down (or is dropped).
    pub(crate) fn shutdown_signal(&self) -> ShutdownFuture {
        let mut rx = self.shutdown.subscribe();
        Box::pin(async move {
            let _ = rx.wait_for(|down| *down).await;
        })
    }
}

/// A running fake Anthropic API. Shuts down when dropped, or with
/// [`FakeAnthropic::shutdown`].
pub struct FakeAnthropic {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeAnthropic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAnthropic")
            .field("addr", &self.addr)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl FakeAnthropic {
    /// Starts a fake on `127.0.0.1` on a free port, with default options.
    pub async fn start() -> std::io::Result<FakeAnthropic> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        FakeAnthropic::start_on(addr, FakeOptions::default()).await
    }

    /// Starts a fake listening on `addr` (port 0 picks a free one).
    pub async fn start_on(addr: SocketAddr, opts: FakeOptions) -> std::io::Result<FakeAnthropic> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            options: opts,
            counters: Arc::new(Counters::default()),
            requests: Mutex::new(Vec::new()),
            shutdown,
        });
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), stop_rx));
        tracing::debug!(%addr, "fake anthropic listening");
        Ok(FakeAnthropic {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:41234` (`https://localhost:PORT` with TLS).
    pub fn url(&self) -> String {
        if self.shared.options.tls.is_some() {
            format!("https://localhost:{}", self.addr.port())
        } else {
            format!("http://{}", self.addr)
        }
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the recorded requests.
    pub fn clear(&self) {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The connection and stream counters.
    pub fn stats(&self) -> FakeStats {
        self.shared.counters.snapshot()
    }

    /// Stops accepting, cuts every open connection (stalled requests and
    /// hanging streams included) and waits until they are gone.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeAnthropic {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // The accept loop aborts its connections on its own; we don't wait.
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    let tls = shared.options.tls.as_ref().map(|config| {
        let mut config = (**config).clone();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let guard = ConnectionGuard::new(Arc::clone(&shared.counters));
                    connections.spawn(serve(
                        stream,
                        tls.clone(),
                        Arc::clone(&builder),
                        Arc::clone(&shared),
                        guard,
                    ));
                }
                Err(error) => {
                    // Typically out of file descriptors: back off a little.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
    drop(listener);
    connections.shutdown().await;
    tracing::debug!("fake anthropic stopped");
}

async fn serve(
    stream: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    shared: Arc<Shared>,
    _guard: ConnectionGuard,
) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { handler::handle(shared, request).await }
    });
    let result = match tls {
        None => {
            builder
                .serve_connection(TokioIo::new(stream), service)
                .await
        }
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(tls_stream) => {
                builder
                    .serve_connection(TokioIo::new(tls_stream), service)
                    .await
            }
            Err(error) => {
                tracing::debug!(%error, "TLS handshake failed");
                return;
            }
        },
    };
    if let Err(error) = result {
        tracing::trace!(%error, "connection ended with an error");
    }
}
