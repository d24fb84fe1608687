//! Command-line flags of `glitch-sensor` (contract §1); every flag is also read from the env var
//! shown in `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

pub use glitch_process::LogFormat;

/// glitch-sensor: an Anthropic-compatible reverse proxy that authenticates teams by
/// X-Glitch-Key, applies the project's detection policy to every request and records a
/// SecurityEvent for each.
#[derive(Clone, Debug, Parser)]
#[command(name = "glitch-sensor", version, about, long_about = None)]
pub struct SensorArgs {
    /// Proxy address that clients (ANTHROPIC_BASE_URL) connect to.
    #[arg(long, env = "GLITCH_SENSOR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Where allowed requests go (scheme, host, optional port and path prefix).
    #[arg(
        long,
        env = "GLITCH_UPSTREAM",
        default_value = "https://api.anthropic.com"
    )]
    pub upstream: String,

    /// Standalone mode: projects, keys and policies from this YAML file, reloaded when it changes.
    #[arg(long, env = "GLITCH_POLICY_FILE")]
    pub policy_file: Option<PathBuf>,

    /// Fleet mode: gRPC address of a control plane (exactly one of this and --policy-file).
    #[arg(long, env = "GLITCH_CONTROL_PLANE")]
    pub control_plane: Option<String>,

    /// PEM CA certificate trusted for an https:// control plane (in addition to the platform's).
    #[arg(long, env = "GLITCH_CONTROL_PLANE_CA_FILE")]
    pub control_plane_ca_file: Option<PathBuf>,

    /// PEM client certificate for mutual TLS with the control plane (with --control-plane-client-key).
    #[arg(
        long,
        env = "GLITCH_CONTROL_PLANE_CLIENT_CERT",
        requires = "control_plane_client_key"
    )]
    pub control_plane_client_cert: Option<PathBuf>,

    /// PEM private key of --control-plane-client-cert.
    #[arg(
        long,
        env = "GLITCH_CONTROL_PLANE_CLIENT_KEY",
        requires = "control_plane_client_cert"
    )]
    pub control_plane_client_key: Option<PathBuf>,

    /// Region label carried into every event.
    #[arg(long, env = "GLITCH_REGION", default_value = "local")]
    pub region: String,

    /// Identity reported in events and to the control plane [default: hostname + random suffix].
    #[arg(long, env = "GLITCH_SENSOR_ID")]
    pub sensor_id: Option<String>,

    /// Event log: file:DIR, or kafka://HOST:PORT[,HOST:PORT...]/TOPIC (spooled to disk in the
    /// state dir while Kafka is unreachable or slow).
    #[arg(
        long,
        env = "GLITCH_EVENTS",
        default_value = "file:./glitch-data/events"
    )]
    pub events: String,

    /// Last-known-good config snapshot and event spool.
    #[arg(long, env = "GLITCH_STATE_DIR", default_value = "./glitch-data/sensor")]
    pub state_dir: PathBuf,

    /// Admin address: /metrics (Prometheus), /ready, /health.
    #[arg(long, env = "GLITCH_SENSOR_ADMIN", default_value = "127.0.0.1:9090")]
    pub admin_listen: SocketAddr,

    /// Log format (filter with RUST_LOG).
    #[arg(long, env = "GLITCH_LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,

    /// Largest request body accepted, in bytes (larger bodies get a 413).
    #[arg(long, env = "GLITCH_MAX_BODY_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Extra PEM CA certificates trusted for the upstream (e.g. a corporate TLS proxy), added to
    /// the platform's roots.
    #[arg(long, env = "GLITCH_UPSTREAM_CA_FILE")]
    pub upstream_ca_file: Option<PathBuf>,

    /// Upstream TCP+TLS connect timeout, in milliseconds (then 502).
    #[arg(
        long,
        env = "GLITCH_UPSTREAM_CONNECT_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub upstream_connect_timeout_ms: u64,

    /// How long to wait for upstream response headers, in seconds (then 504).
    #[arg(long, env = "GLITCH_UPSTREAM_TIMEOUT_SECS", default_value_t = 600)]
    pub upstream_timeout_secs: u64,

    /// A response body that sends nothing for this long is cut off, in seconds.
    #[arg(long, env = "GLITCH_STREAM_IDLE_TIMEOUT_SECS", default_value_t = 300)]
    pub stream_idle_timeout_secs: u64,

    /// How often the policy file is checked for changes, in milliseconds.
    #[arg(long, env = "GLITCH_POLICY_RELOAD_MS", default_value_t = 500)]
    pub policy_reload_ms: u64,

    /// On SIGTERM/SIGINT, how long in-flight requests and streams may take to finish, in seconds.
    #[arg(long, env = "GLITCH_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    /// On SIGTERM/SIGINT, how long `/ready` fails while requests are still served, before the
    /// listeners stop accepting (time for load balancers to take the sensor out), in seconds.
    #[arg(long, env = "GLITCH_SHUTDOWN_DELAY_SECS", default_value_t = 0)]
    pub shutdown_delay_secs: u64,

    /// Largest conversation stored in one event, in bytes (older turns are dropped first).
    #[arg(long, env = "GLITCH_EVENT_CONVERSATION_CAP_BYTES", default_value_t = 256 * 1024)]
    pub event_conversation_cap_bytes: usize,

    /// Webhook URL that receives a JSON POST for every finding whose action is `alert`.
    #[arg(long, env = "GLITCH_ALERT_WEBHOOK")]
    pub alert_webhook: Option<String>,

    /// Text segments remembered per project so re-sent conversation turns are not scanned again
    /// (two generations of this many entries).
    #[arg(long, env = "GLITCH_SCAN_CACHE_ENTRIES", default_value_t = 16_384)]
    pub scan_cache_entries: usize,

    /// Events queued for the event log before new requests wait (backpressure).
    #[arg(long, env = "GLITCH_EVENT_QUEUE", default_value_t = 16_384)]
    pub event_queue: usize,

    /// Request-body bytes the event queue may hold; past it, events are still written but
    /// without their stored conversation.
    #[arg(long, env = "GLITCH_EVENT_QUEUE_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub event_queue_body_bytes: usize,

    /// LLM classifier endpoints (YAML file with `classifiers: [...]`, see the README); policies
    /// with rules for classifier-served detector types call them. API keys come only from the
    /// env vars or files the file names.
    #[arg(long, env = "GLITCH_CLASSIFIERS")]
    pub classifiers: Option<PathBuf>,

    /// Classifier verdicts remembered (by content hash) so re-sent conversation turns are not
    /// classified again.
    #[arg(
        long,
        env = "GLITCH_CLASSIFIER_CACHE_ENTRIES",
        default_value_t = 100_000
    )]
    pub classifier_cache_entries: usize,

    /// How long a cached classifier verdict stays valid, in seconds.
    #[arg(long, env = "GLITCH_CLASSIFIER_CACHE_TTL_SECS", default_value_t = 3600)]
    pub classifier_cache_ttl_secs: u64,

    /// Kafka mode: size cap of the event spool in the state dir, in bytes. At the cap new events
    /// are spooled without their conversation; 10% over it they are dropped (and counted).
    #[arg(long, env = "GLITCH_SPOOL_MAX_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub spool_max_bytes: u64,
}
