//! Start-up, serving and shutdown: builds the state from the flags, loads the config, starts the
//! event writer, binds the proxy and admin listeners, and on SIGTERM/SIGINT stops accepting,
//! lets in-flight requests and streams finish (up to the grace period), then flushes events.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{any, get, head};
use http::{Request, Response, StatusCode, header};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::SensorArgs;
use crate::errors::SensorError;
use crate::events::{EventSink, EventSinkOptions, EventsTarget};
use crate::file_source;
use crate::metrics::SensorMetrics;
use crate::proxy::handle_v1;
use crate::ratelimit::RateLimiter;
use crate::snapshot::ConfigStore;
use crate::state::{AppState, Identity, Limits};
use crate::upstream::{ClientOptions, Upstream, build_client};

/// Why the sensor could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad flags.
    #[error("{0}")]
    Config(String),
    /// The policy file is unusable.
    #[error(transparent)]
    PolicyFile(#[from] file_source::FileSourceError),
    /// The upstream setting is unusable.
    #[error(transparent)]
    Upstream(#[from] crate::upstream::UpstreamError),
    /// The event log could not start.
    #[error(transparent)]
    Events(#[from] crate::events::EventSinkError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The proxy's router: health probes, /v1/ routes, and Anthropic-style 404s elsewhere.
pub fn proxy_router(app: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/", head(ok_empty).get(root))
        .route("/api/hello", head(ok_empty).get(ok_empty))
        .route("/v1", any(handle_v1))
        .route("/v1/{*rest}", any(handle_v1))
        .fallback(not_found)
        .with_state(app)
}

/// The admin router: /metrics, /ready, /health.
pub fn admin_router(app: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/ready", get(ready))
        .route("/health", get(health))
        .with_state(app)
}

async fn ok_empty() -> StatusCode {
    StatusCode::OK
}

async fn root() -> &'static str {
    "glitch-sensor: point ANTHROPIC_BASE_URL here\n"
}

async fn not_found(request: Request<Body>) -> Response<Body> {
    SensorError::not_found(request.uri().path()).into_response("req_glitch_not_found")
}

async fn health(State(app): State<Arc<AppState>>) -> Response<Body> {
    let snapshot = app.config.load();
    let config_error = app.config.last_error();
    let events_failing = app.events.health().is_failing();
    let stale = app.config.is_stale();
    let degraded = config_error.is_some() || events_failing || stale || !app.config.has_config();
    let body = json!({
        "status": if degraded { "degraded" } else { "healthy" },
        "policy_version": snapshot.version,
        "config_source": snapshot.source,
        "config_error": config_error,
        "config_stale": stale,
        "has_config": app.config.has_config(),
        "event_log": app.events.target_label(),
        "event_log_status": if events_failing { "failing" } else { "ok" },
        "event_spool": app.events.health().spool_json(),
        "sensor_id": app.identity.sensor_id,
        "region": app.identity.region,
        "upstream": app.upstream.label(),
    });
    axum::Json(body).into_response()
}

async fn ready(State(app): State<Arc<AppState>>) -> Response<Body> {
    if app.draining.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
}

async fn metrics(State(app): State<Arc<AppState>>) -> Response<Body> {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.encode(),
    )
        .into_response()
}

/// Starts the task that keeps the config store up to date (file watcher or config stream).
type ConfigSourceStarter =
    Box<dyn FnOnce(Arc<ConfigStore>, Arc<SensorMetrics>) -> tokio::task::JoinHandle<()> + Send>;

/// Hostname plus a random suffix.
fn default_sensor_id() -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let suffix: u32 = rand::random();
    format!(
        "{}-{:06x}",
        if host.is_empty() { "sensor" } else { &host },
        suffix & 0xff_ffff
    )
}

/// Serves `router` on `listener` until `shutdown` flips, then waits for open connections up to
/// `grace`.
async fn serve(
    listener: TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
    name: &'static str,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly, keep serving.
                        tracing::warn!(listener = name, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(router.clone());
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let conn = graceful.watch(conn.into_owned());
                connections.spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::debug!(listener = name, "all connections closed"),
        () = tokio::time::sleep(grace) => tracing::warn!(listener = name, grace_secs = grace.as_secs(), "grace period over; closing remaining connections"),
    }
    // Whatever is still open is cut now; dropping those requests records their events.
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// A running sensor (for tests and embedding): its addresses and a way to stop it.
#[derive(Debug)]
pub struct RunningSensor {
    /// Proxy address.
    pub addr: SocketAddr,
    /// Admin address.
    pub admin_addr: SocketAddr,
    /// Shared state.
    pub app: Arc<AppState>,
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
    shutdown_delay: Duration,
}

impl RunningSensor {
    /// The graceful stop: `/ready` fails first and requests are still served for
    /// `--shutdown-delay-secs` (so load balancers stop sending new ones), then the listeners stop
    /// accepting, in-flight requests and streams finish (up to `--shutdown-grace-secs`), events
    /// are flushed, and this returns.
    pub async fn shutdown(self) {
        let RunningSensor {
            app,
            stop,
            done,
            shutdown_delay,
            ..
        } = self;
        app.draining.store(true, Ordering::Relaxed);
        app.metrics.ready.set(0);
        if !shutdown_delay.is_zero() {
            tracing::info!(
                delay_ms = u64::try_from(shutdown_delay.as_millis()).unwrap_or(u64::MAX),
                "not ready; still serving until the load balancer has noticed"
            );
            tokio::time::sleep(shutdown_delay).await;
        }
        let _ = stop.send(true);
        drop(app);
        if done.await.is_err() {
            tracing::error!("sensor task ended abnormally");
        }
    }
}

/// Starts the sensor from its flags; returns once both listeners are bound.
pub async fn start(args: SensorArgs) -> Result<RunningSensor, StartError> {
    enum Mode {
        File(std::path::PathBuf),
        Fleet(String),
    }
    let mode = match (&args.policy_file, &args.control_plane) {
        (Some(path), None) => Mode::File(path.clone()),
        (None, Some(url)) => Mode::Fleet(url.clone()),
        (Some(_), Some(_)) => {
            return Err(StartError::Config(
                "give exactly one of --policy-file and --control-plane, not both".into(),
            ));
        }
        (None, None) => {
            return Err(StartError::Config(
                "one of --policy-file (standalone) or --control-plane (fleet) is required".into(),
            ));
        }
    };
    let upstream = Upstream::parse(&args.upstream)?;
    let target = EventsTarget::parse(&args.events).map_err(StartError::Config)?;
    let metrics = Arc::new(SensorMetrics::new());
    let pack = glitch_detect::builtin::builtin_pack();
    let sensor_id = args.sensor_id.clone().unwrap_or_else(default_sensor_id);
    let (config, source_task): (Arc<ConfigStore>, ConfigSourceStarter) = match &mode {
        Mode::File(path) => {
            let (snapshot, hash) = file_source::load_initial(path, &pack)?;
            metrics
                .config_version
                .set(i64::try_from(snapshot.version).unwrap_or(i64::MAX));
            let path = path.clone();
            let pack = pack.clone();
            let interval = Duration::from_millis(args.policy_reload_ms);
            (
                Arc::new(ConfigStore::new(snapshot)),
                Box::new(move |store, metrics| {
                    file_source::spawn_watcher(path, hash, store, pack, interval, metrics)
                }),
            )
        }
        Mode::Fleet(url) => {
            let options = crate::fleet::FleetOptions {
                url: url.clone(),
                ca_file: args.control_plane_ca_file.clone(),
                client_cert: args
                    .control_plane_client_cert
                    .clone()
                    .zip(args.control_plane_client_key.clone()),
                sensor_id: sensor_id.clone(),
                region: args.region.clone(),
                state_dir: args.state_dir.clone(),
            };
            let endpoint =
                crate::fleet::check(&options).map_err(|e| StartError::Config(e.to_string()))?;
            let source = crate::fleet::source_label(url);
            let store = match crate::fleet::load_persisted(&args.state_dir, &source, &pack) {
                Some((snapshot, _)) => {
                    tracing::info!(
                        version = snapshot.version,
                        "serving the last-known-good config snapshot until the control plane answers"
                    );
                    metrics
                        .config_version
                        .set(i64::try_from(snapshot.version).unwrap_or(i64::MAX));
                    let store = ConfigStore::new(snapshot);
                    store.set_stale(true);
                    store
                }
                None => {
                    tracing::warn!(
                        "no config snapshot yet: /v1/ answers 503 until the control plane sends one"
                    );
                    ConfigStore::without_config(source)
                }
            };
            let pack = pack.clone();
            (
                Arc::new(store),
                Box::new(move |store, metrics| {
                    crate::fleet::spawn(endpoint, options, store, pack, metrics)
                }),
            )
        }
    };
    let (projects, keys) = config.load().counts();
    let (events, writer) = EventSink::start(
        &target,
        EventSinkOptions {
            queue: args.event_queue,
            conversation_cap: args.event_conversation_cap_bytes,
            queue_body_bytes: args.event_queue_body_bytes,
            spool_dir: args.state_dir.join("spool"),
            spool_max_bytes: args.spool_max_bytes,
            client_id: format!("glitch-sensor-{sensor_id}"),
        },
        metrics.clone(),
    )?;
    let client = build_client(ClientOptions {
        connect_timeout: Duration::from_millis(args.upstream_connect_timeout_ms),
        extra_ca_file: args.upstream_ca_file.clone(),
    })?;
    let alerts = match &args.alert_webhook {
        Some(url) => {
            let uri: http::Uri = url.parse().map_err(|_| {
                StartError::Config(format!(
                    "--alert-webhook must be an http(s) URL, got {url:?}"
                ))
            })?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
                return Err(StartError::Config(format!(
                    "--alert-webhook must be an http(s) URL, got {url:?}"
                )));
            }
            Some(crate::alerts::AlertSink::start(
                uri,
                client.clone(),
                metrics.clone(),
            ))
        }
        None => None,
    };
    let classifiers = match &args.classifiers {
        Some(path) => {
            let configs = glitch_classify::config::load_file(path).map_err(|e| {
                StartError::Config(format!("--classifiers {}: {e}", path.display()))
            })?;
            let set = glitch_classify::ClassifierSet::new(
                configs,
                glitch_classify::SetOptions {
                    cache_capacity: args.classifier_cache_entries,
                    cache_ttl: Duration::from_secs(args.classifier_cache_ttl_secs),
                    metrics: metrics.classifier.clone(),
                    ..glitch_classify::SetOptions::default()
                },
            )
            .map_err(|e| StartError::Config(format!("--classifiers {}: {e}", path.display())))?;
            let names: Vec<String> = set.endpoint_names().iter().map(|n| n.to_string()).collect();
            tracing::info!(endpoints = ?names, "LLM classifier endpoints configured");
            set
        }
        None => glitch_classify::ClassifierSet::empty(),
    };
    let (tracer, trace_exporter) = glitch_process::telemetry::start_from_env("glitch-sensor")
        .map_err(|e| StartError::Config(e.to_string()))?;
    let app = Arc::new(AppState {
        tracer,
        classifiers: Arc::new(classifiers),
        config: config.clone(),
        events,
        upstream,
        client,
        metrics: metrics.clone(),
        limits: Limits {
            max_body_bytes: args.max_body_bytes,
            upstream_timeout: Duration::from_secs(args.upstream_timeout_secs.max(1)),
            stream_idle_timeout: Duration::from_secs(args.stream_idle_timeout_secs.max(1)),
            body_read_timeout: Duration::from_secs(120),
        },
        identity: Identity {
            sensor_id,
            region: args.region.clone(),
        },
        rate_limiter: RateLimiter::default(),
        draining: AtomicBool::new(false),
        scan_caches: std::sync::Mutex::new(std::collections::HashMap::new()),
        scan_cache_entries: args.scan_cache_entries,
        alerts,
    });
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: args.listen,
            source,
        })?;
    let admin_listener = TcpListener::bind(args.admin_listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: args.admin_listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: args.listen,
        source,
    })?;
    let admin_addr = admin_listener
        .local_addr()
        .map_err(|source| StartError::Bind {
            addr: args.admin_listen,
            source,
        })?;
    let watcher = source_task(config, metrics);
    let (stop, stop_rx) = watch::channel(false);
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let proxy = tokio::spawn(serve(
        listener,
        proxy_router(app.clone()),
        stop_rx.clone(),
        grace,
        "proxy",
    ));
    let admin = tokio::spawn(serve(
        admin_listener,
        admin_router(app.clone()),
        stop_rx,
        grace,
        "admin",
    ));
    tracing::info!(
        %addr, %admin_addr, upstream = app.upstream.label(), config = %app.config.load().source,
        projects, keys, events = app.events.target_label(), sensor_id = %app.identity.sensor_id,
        region = %app.identity.region,
        "glitch-sensor listening on http://{addr} (admin http://{admin_addr})"
    );
    let done_app = app.clone();
    let done = tokio::spawn(async move {
        let _ = proxy.await;
        let _ = admin.await;
        watcher.abort();
        // Every request context has recorded by now; dropping the last sender lets the writer
        // drain the queue and stop.
        match Arc::try_unwrap(done_app) {
            Ok(AppState { events, .. }) => drop(events),
            Err(_) => tracing::warn!(
                "request state still referenced at shutdown; flushing what is queued"
            ),
        }
        if tokio::time::timeout(Duration::from_secs(30), writer.flush_and_join())
            .await
            .is_err()
        {
            tracing::error!("event writer did not finish within 30 s of shutdown");
        }
        if let Some(exporter) = trace_exporter {
            exporter.shutdown().await;
        }
        tracing::info!("glitch-sensor stopped; events flushed");
    });
    app.metrics.ready.set(1);
    Ok(RunningSensor {
        addr,
        admin_addr,
        app,
        stop,
        done,
        shutdown_delay: Duration::from_secs(args.shutdown_delay_secs),
    })
}

/// Runs the sensor until SIGTERM or SIGINT.
pub async fn run(args: SensorArgs) -> Result<(), StartError> {
    let sensor = start(args).await?;
    glitch_process::shutdown_signal().await;
    tracing::info!("shutdown signal received; draining");
    sensor.shutdown().await;
    Ok(())
}
