//! `glitch up`: the control plane (SQLite in the data dir), a fleet-mode sensor writing the file
//! event log, and the audit consumer indexing it (SQLite) in this process; a demo project on the
//! `balanced` template with a fresh key, and the Claude Code environment lines. Ctrl-C (or
//! SIGTERM) drains the sensor, then stops the audit consumer (after it indexed the last events)
//! and the control plane.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::api::Api;

/// Flags of `glitch up`.
#[derive(Clone, Debug, clap::Args)]
pub struct UpArgs {
    /// Where the databases, event log and sensor state live.
    #[arg(long, env = "GLITCH_DATA_DIR", default_value = "./glitch-data")]
    pub data_dir: PathBuf,
    /// Where allowed requests go.
    #[arg(
        long,
        env = "GLITCH_UPSTREAM",
        default_value = "https://api.anthropic.com"
    )]
    pub upstream: String,
    /// Sensor proxy address (ANTHROPIC_BASE_URL).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub sensor_listen: SocketAddr,
    /// Sensor admin address (/metrics, /ready).
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub sensor_admin_listen: SocketAddr,
    /// Control-plane REST address.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub cp_listen: SocketAddr,
    /// Control-plane gRPC address.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub grpc_listen: SocketAddr,
    /// Audit query API address (glitch-console --api).
    #[arg(long, default_value = "127.0.0.1:8082")]
    pub audit_listen: SocketAddr,
    /// Name of the demo project created (or reused) at start.
    #[arg(long, default_value = "demo")]
    pub project: String,
}

/// Why `glitch up` failed.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// The data dir is unusable.
    #[error("data dir {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    /// The control plane did not start.
    #[error("control plane: {0}")]
    ControlPlane(String),
    /// The sensor did not start.
    #[error("sensor: {0}")]
    Sensor(String),
    /// The audit consumer did not start.
    #[error("audit consumer: {0}")]
    Audit(String),
    /// Setting up the demo project failed.
    #[error("demo project: {0}")]
    Demo(#[from] crate::api::ApiError),
}

/// Runs the stack until Ctrl-C.
#[allow(
    clippy::print_stdout,
    reason = "glitch up prints the environment lines for Claude Code"
)]
pub async fn run(args: UpArgs) -> Result<(), UpError> {
    glitch_process::init_logging(glitch_process::LogFormat::Pretty);

    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| UpError::DataDir(args.data_dir.clone(), e))?;
    let (token, token_given) = crate::demo::admin_token();

    let database = format!(
        "sqlite://{}",
        args.data_dir.join("control-plane.db").display()
    );
    let mut cp_args = glitch_control_plane::ControlPlaneArgs::parse_from([
        "glitch-control-plane".to_owned(),
        format!("--listen={}", args.cp_listen),
        format!("--grpc-listen={}", args.grpc_listen),
        format!("--database={database}"),
    ]);
    cp_args.admin_token = Some(token.clone());
    let control_plane = glitch_control_plane::start(cp_args)
        .await
        .map_err(|e| UpError::ControlPlane(e.to_string()))?;

    // The demo project (reused when it exists) and a fresh key: a key's secret is shown once.
    let api = Api::new(&control_plane.rest_url(), &token, None)?;
    let (project_id, key_secret) =
        crate::demo::project_and_key(&api, &args.project, "glitch-up").await?;

    let sensor_args = glitch_sensor::SensorArgs::parse_from([
        "glitch-sensor".to_owned(),
        format!("--listen={}", args.sensor_listen),
        format!("--admin-listen={}", args.sensor_admin_listen),
        format!("--control-plane={}", control_plane.grpc_url()),
        format!("--upstream={}", args.upstream),
        format!("--events=file:{}", args.data_dir.join("events").display()),
        format!("--state-dir={}", args.data_dir.join("sensor").display()),
        "--region=local".into(),
    ]);
    let sensor = glitch_sensor::start(sensor_args)
        .await
        .map_err(|e| UpError::Sensor(e.to_string()))?;
    let mut audit_args = glitch_audit_consumer::AuditArgs::for_tests(
        &format!("file:{}", args.data_dir.join("events").display()),
        &format!("sqlite://{}", args.data_dir.join("audit.db").display()),
        &token,
    );
    audit_args.listen = args.audit_listen;
    let audit = glitch_audit_consumer::start(audit_args)
        .await
        .map_err(|e| UpError::Audit(e.to_string()))?;
    // Wait until the sensor enforces a config that includes the new key.
    for _ in 0..100 {
        if sensor.app.config.has_config() && !sensor.app.config.is_stale() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    println!(
        "Glitch is running: sensor http://{}, control plane {}, audit API {}",
        sensor.addr,
        control_plane.rest_url(),
        audit.api_url()
    );
    println!();
    println!("Point Claude Code at it:");
    println!("  export ANTHROPIC_BASE_URL=http://{}", sensor.addr);
    println!("  export ANTHROPIC_CUSTOM_HEADERS=\"X-Glitch-Key: {key_secret}\"");
    println!("  export ANTHROPIC_API_KEY=sk-ant-...   # your own key (or log in with `claude`)");
    println!();
    if !token_given {
        println!("Admin commands (glitch projects|keys|policies ...):");
        println!("  export GLITCH_ADMIN_TOKEN={token}");
    }
    println!("  export GLITCH_CP_URL={}", control_plane.rest_url());
    println!();
    println!("Browse the audit log by Claude Code session:");
    println!("  glitch-console --api {}", audit.api_url());
    println!();
    println!("Project {project_id} uses the balanced template. Ctrl-C stops everything.");

    glitch_process::shutdown_signal().await;
    tracing::info!("stopping: draining the sensor, then the audit consumer and the control plane");
    sensor.shutdown().await;
    audit.shutdown().await;
    control_plane.shutdown().await;
    Ok(())
}
