//! Start-up, serving and shutdown: checks the flags, opens the index (running migrations),
//! binds the API, starts ingest (source thread + index writer) and the retention task; on
//! shutdown stops reading, writes and commits the batch in progress (and the Kafka offsets),
//! closes the consumer, then stops the API and closes the index.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{self, AppState};
use crate::cli::{AuditArgs, redact_url};
use crate::config::Config;
use crate::index::{Index, IndexError};
use crate::ingest::{Ingest, IngestError};
use crate::metrics::Metrics;
use crate::source::SourceStatus;

/// How long open API requests may take to finish on shutdown.
const API_GRACE: Duration = Duration::from_secs(10);

/// Why the consumer could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad flags or environment.
    #[error("{0}")]
    Config(String),
    /// The index is unusable.
    #[error("index {url}: {source}")]
    Index {
        /// The URL, password redacted.
        url: String,
        /// Why.
        source: IndexError,
    },
    /// The API listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The source could not be started.
    #[error("event source {source_label}: {error}")]
    Source {
        /// `--events`.
        source_label: String,
        /// Why.
        error: IngestError,
    },
}

/// Counters of a running consumer (since it started).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Records read from the source whose batch has committed.
    pub records_read: u64,
    /// Events newly inserted.
    pub events_indexed: u64,
    /// Events already in the index.
    pub duplicates_skipped: u64,
    /// Records dead-lettered.
    pub dead_letters: u64,
    /// Batches committed.
    pub batches: u64,
}

/// A running consumer (for tests and embedding, e.g. `glitch up`).
#[derive(Debug)]
pub struct Running {
    api_addr: SocketAddr,
    index: Index,
    metrics: Arc<Metrics>,
    ingest: Ingest,
    stop: watch::Sender<bool>,
    api: JoinHandle<()>,
    retention: Option<JoinHandle<()>>,
    trace_exporter: Option<glitch_process::telemetry::Exporter>,
}

impl Running {
    /// The API's bound address.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// `http://` plus the API address.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// The index (shared with the API and the writer).
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Counters since start.
    pub fn progress(&self) -> Progress {
        let m = &self.metrics;
        Progress {
            records_read: m.records_read.get(),
            events_indexed: m.events_indexed.get(),
            duplicates_skipped: m.duplicates_skipped.get(),
            dead_letters: m.dead_letters.get(),
            batches: m.batches.get(),
        }
    }

    /// Stops reading, finishes and commits the current batch, commits Kafka offsets and closes
    /// the consumer, then stops the API (open requests get up to 10 s) and closes the index.
    pub async fn shutdown(self) {
        let Running {
            index,
            ingest,
            stop,
            mut api,
            retention,
            trace_exporter,
            ..
        } = self;
        ingest.shutdown().await;
        let _ = stop.send(true);
        if let Some(retention) = retention
            && retention.await.is_err()
        {
            tracing::error!("retention task ended abnormally");
        }
        match tokio::time::timeout(API_GRACE + Duration::from_secs(1), &mut api).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => tracing::error!("API task ended abnormally"),
            Err(_) => {
                tracing::warn!("API requests still open after the grace period; closing them");
                api.abort();
            }
        }
        index.close().await;
        if let Some(exporter) = trace_exporter {
            exporter.shutdown().await;
        }
        tracing::info!("glitch-audit-consumer stopped");
    }
}

/// Starts the consumer; returns once the API is listening and ingest has started.
pub async fn start(args: AuditArgs) -> Result<Running, StartError> {
    let config = Config::from_args(&args).map_err(StartError::Config)?;
    let index = Index::connect(&config.index_url)
        .await
        .map_err(|source| StartError::Index {
            url: redact_url(&config.index_url),
            source,
        })?;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: args.listen,
            source,
        })?;
    let api_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: args.listen,
        source,
    })?;

    let metrics = Arc::new(Metrics::new());
    let status = Arc::new(SourceStatus::default());
    let source_label = config.source.label();
    let ingest = Ingest::start(
        &config.source,
        &config.group,
        config.batch_size,
        index.clone(),
        metrics.clone(),
        status.clone(),
    )
    .await
    .map_err(|error| StartError::Source {
        source_label: source_label.clone(),
        error,
    })?;

    let (stop, stop_rx) = watch::channel(false);
    let retention = config.retention.map(|keep| {
        tokio::spawn(crate::retention::run(
            index.clone(),
            keep,
            metrics.clone(),
            stop_rx.clone(),
        ))
    });
    let (tracer, trace_exporter) =
        glitch_process::telemetry::start_from_env("glitch-audit-consumer")
            .map_err(|e| StartError::Config(e.to_string()))?;
    let state = Arc::new(AppState {
        tracer,
        index: index.clone(),
        tokens: config.tokens.clone(),
        metrics: metrics.clone(),
        status,
        source_label: source_label.clone(),
    });
    let mut api_stop = stop_rx;
    let api = tokio::spawn(async move {
        let served = axum::serve(listener, api::router(state))
            .with_graceful_shutdown(async move {
                let _ = api_stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "API server failed");
        }
    });

    tracing::info!(
        %api_addr, events = %source_label, index = %index.url_for_logs(),
        backend = index.backend().as_str(), batch_size = config.batch_size,
        retention_secs = config.retention.map(|r| r.as_secs()),
        project_tokens = config.tokens.project_tokens(),
        "glitch-audit-consumer listening on http://{api_addr}"
    );
    Ok(Running {
        api_addr,
        index,
        metrics,
        ingest,
        stop,
        api,
        retention,
        trace_exporter,
    })
}

/// Runs the consumer until SIGTERM or SIGINT.
pub async fn run(args: AuditArgs) -> Result<(), StartError> {
    let running = start(args).await?;
    glitch_process::shutdown_signal().await;
    tracing::info!("shutdown signal received; finishing the current batch");
    running.shutdown().await;
    Ok(())
}
