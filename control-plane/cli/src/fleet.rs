//! `glitch fleet`: a whole multi-region fleet on one machine, for trying the fleet features and
//! for the end-to-end test: two control-plane replicas sharing one PostgreSQL database, a sensor
//! in region `eu` connected to replica 1 and one in region `us` connected to replica 2, both
//! sending their events to a Kafka-protocol broker (tansu, started as a child process), and the
//! audit consumer indexing that topic. Everything else runs in this process. Ctrl-C (or SIGTERM)
//! drains the sensors, then stops the consumer, the replicas and the broker.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use clap::Parser;

use crate::api::Api;

/// The topic the sensors write and the consumer reads.
const TOPIC: &str = "glitch-events";

/// Flags of `glitch fleet`.
#[derive(Clone, Debug, clap::Args)]
pub struct FleetArgs {
    /// Where the broker's storage, sensor state and audit index live.
    #[arg(long, env = "GLITCH_FLEET_DIR", default_value = "./glitch-fleet")]
    pub data_dir: PathBuf,
    /// PostgreSQL shared by the two control-plane replicas.
    #[arg(
        long,
        env = "GLITCH_FLEET_DATABASE",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub database: String,
    /// The tansu broker binary [default: $GLITCH_TANSU_BIN, else the one scripts/install-tansu.sh
    /// installs under ~/.cache/glitch-tools].
    #[arg(long)]
    pub tansu: Option<PathBuf>,
    /// Where allowed requests go.
    #[arg(
        long,
        env = "GLITCH_UPSTREAM",
        default_value = "https://api.anthropic.com"
    )]
    pub upstream: String,
    /// Ports are this plus: 1, 2 (replicas' REST), 11, 12 (replicas' gRPC), 21, 22 (sensors eu,
    /// us), 31, 32 (their admin ports), 40 (Kafka), 50 (audit API).
    #[arg(long, default_value_t = 18000)]
    pub base_port: u16,
}

/// Why `glitch fleet` failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A directory is unusable.
    #[error("{0}: {1}")]
    Dir(PathBuf, std::io::Error),
    /// The broker did not start.
    #[error("Kafka broker (tansu): {0}")]
    Broker(String),
    /// A control-plane replica did not start.
    #[error("control plane: {0}")]
    ControlPlane(String),
    /// A sensor did not start.
    #[error("sensor: {0}")]
    Sensor(String),
    /// The audit consumer did not start.
    #[error("audit consumer: {0}")]
    Audit(String),
    /// Setting up the demo project failed.
    #[error("demo project: {0}")]
    Demo(#[from] crate::api::ApiError),
    /// A base port too high for the ports derived from it.
    #[error("--base-port {0} is too high (ports up to base + 50 are used)")]
    Port(u16),
}

fn addr(base: u16, offset: u16) -> Result<SocketAddr, FleetError> {
    let port = base.checked_add(offset).ok_or(FleetError::Port(base))?;
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

fn tansu_bin(given: Option<&Path>) -> PathBuf {
    if let Some(p) = given {
        return p.to_path_buf();
    }
    if let Ok(p) = std::env::var("GLITCH_TANSU_BIN") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    PathBuf::from(home).join(".cache/glitch-tools/tansu-0.6.0/bin/tansu")
}

/// The broker child process, killed when dropped.
struct Broker {
    child: tokio::process::Child,
}

impl Broker {
    async fn start(bin: &Path, dir: &Path, kafka: SocketAddr) -> Result<Broker, FleetError> {
        if !bin.exists() {
            return Err(FleetError::Broker(format!(
                "{} not found: run scripts/install-tansu.sh, or pass --tansu / set GLITCH_TANSU_BIN",
                bin.display()
            )));
        }
        let log = std::fs::File::create(dir.join("broker.log"))
            .map_err(|e| FleetError::Dir(dir.join("broker.log"), e))?;
        let url = format!("tcp://{kafka}");
        let child = tokio::process::Command::new(bin)
            .current_dir(dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://kafka.db"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            // Its own process group: a Ctrl-C in the terminal reaches `glitch fleet`, which
            // stops the broker last, after the sensors have drained their spools into it.
            .process_group(0)
            .spawn()
            .map_err(|e| FleetError::Broker(format!("cannot run {}: {e}", bin.display())))?;
        let mut broker = Broker { child };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(kafka).await.is_ok() {
                break;
            }
            if let Ok(Some(status)) = broker.child.try_wait() {
                return Err(FleetError::Broker(format!(
                    "exited with {status}; see {}",
                    dir.join("broker.log").display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The topic may exist from an earlier run: a failure here is only logged.
        let created = tokio::process::Command::new(bin)
            .current_dir(dir)
            .args([
                "topic",
                "create",
                TOPIC,
                "--partitions",
                "3",
                "--broker",
                &url,
            ])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| FleetError::Broker(e.to_string()))?;
        if !created.status.success() {
            tracing::info!(
                topic = TOPIC,
                output = %String::from_utf8_lossy(&created.stderr).trim(),
                "topic not created (it may already exist)"
            );
        }
        Ok(broker)
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Runs the fleet until Ctrl-C.
#[allow(
    clippy::print_stdout,
    reason = "glitch fleet prints where everything is and how to use it"
)]
pub async fn run(args: FleetArgs) -> Result<(), FleetError> {
    glitch_process::init_logging(glitch_process::LogFormat::Pretty);
    let dir = &args.data_dir;
    std::fs::create_dir_all(dir.join("kafka")).map_err(|e| FleetError::Dir(dir.clone(), e))?;
    let base = args.base_port;
    let (token, _) = crate::demo::admin_token();
    let kafka = addr(base, 40)?;
    let broker =
        Broker::start(&tansu_bin(args.tansu.as_deref()), &dir.join("kafka"), kafka).await?;

    let mut replicas = Vec::new();
    for (i, name) in [(1u16, "cp-1"), (2, "cp-2")] {
        let mut cp_args = glitch_control_plane::ControlPlaneArgs::parse_from([
            "glitch-control-plane".to_owned(),
            format!("--listen={}", addr(base, i)?),
            format!("--grpc-listen={}", addr(base, 10 + i)?),
            format!("--database={}", args.database),
            format!("--replica-id={name}"),
        ]);
        cp_args.admin_token = Some(token.clone());
        replicas.push(
            glitch_control_plane::start(cp_args)
                .await
                .map_err(|e| FleetError::ControlPlane(format!("{name}: {e}")))?,
        );
    }
    let (cp1, cp2) = (&replicas[0], &replicas[1]);

    // The demo project (reused when it exists) and a fresh key, through replica 1.
    let api = Api::new(&cp1.rest_url(), &token, None)?;
    let (project_id, key_secret) =
        crate::demo::project_and_key(&api, "fleet-demo", "glitch-fleet").await?;

    let events = format!("kafka://{kafka}/{TOPIC}");
    let mut sensors = Vec::new();
    for (i, region, replica) in [(1u16, "eu", cp1), (2, "us", cp2)] {
        let sensor_args = glitch_sensor::SensorArgs::parse_from([
            "glitch-sensor".to_owned(),
            format!("--listen={}", addr(base, 20 + i)?),
            format!("--admin-listen={}", addr(base, 30 + i)?),
            format!("--control-plane={}", replica.grpc_url()),
            format!("--upstream={}", args.upstream),
            format!("--events={events}"),
            format!(
                "--state-dir={}",
                dir.join(format!("sensor-{region}")).display()
            ),
            format!("--region={region}"),
            format!("--sensor-id=sensor-{region}"),
        ]);
        sensors.push(
            glitch_sensor::start(sensor_args)
                .await
                .map_err(|e| FleetError::Sensor(format!("{region}: {e}")))?,
        );
    }
    let mut audit_args = glitch_audit_consumer::AuditArgs::for_tests(
        &events,
        &format!("sqlite://{}", dir.join("audit.db").display()),
        &token,
    );
    audit_args.listen = addr(base, 50)?;
    let audit = glitch_audit_consumer::start(audit_args)
        .await
        .map_err(|e| FleetError::Audit(e.to_string()))?;
    for _ in 0..200 {
        if sensors
            .iter()
            .all(|s| s.app.config.has_config() && !s.app.config.is_stale())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    println!("Glitch fleet is running:");
    println!(
        "  control plane  cp-1 {} (gRPC {})   cp-2 {} (gRPC {})   PostgreSQL {}",
        cp1.rest_url(),
        cp1.grpc_url(),
        cp2.rest_url(),
        cp2.grpc_url(),
        redact_password(&args.database)
    );
    for (s, region, replica) in [(&sensors[0], "eu", "cp-1"), (&sensors[1], "us", "cp-2")] {
        println!(
            "  sensor {region}      http://{} (admin http://{}) → {replica}",
            s.addr, s.admin_addr
        );
    }
    println!("  Kafka          {kafka} topic {TOPIC} (tansu)");
    println!("  audit API      {}", audit.api_url());
    println!();
    println!("  export GLITCH_ADMIN_TOKEN={token}");
    println!("  export GLITCH_CP_URL={}", cp1.rest_url());
    println!("  glitch key for project {project_id} (fleet-demo): {key_secret}");
    println!();
    println!("Try it: edit the project's policy on cp-1, then see both regions enforce it and");
    println!("report the new version to cp-2:");
    println!(
        "  glitch policies create policy.json && glitch projects update {project_id} --policy <id>"
    );
    println!(
        "  curl -s -H \"Authorization: Bearer $GLITCH_ADMIN_TOKEN\" {}/v1/sensors",
        cp2.rest_url()
    );
    println!("Ctrl-C stops everything.");

    glitch_process::shutdown_signal().await;
    tracing::info!("stopping: draining the sensors, then the consumer, the replicas and Kafka");
    for s in sensors {
        s.shutdown().await;
    }
    audit.shutdown().await;
    for r in replicas {
        r.shutdown().await;
    }
    broker.stop().await;
    Ok(())
}

/// A database URL with its password replaced by `***`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            redact_password("postgres://glitch:s3cret@db:5432/glitch"),
            "postgres://glitch:***@db:5432/glitch"
        );
        assert_eq!(
            redact_password("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
    }

    #[test]
    fn ports_come_from_the_base() {
        assert_eq!(addr(18000, 21).unwrap().port(), 18021);
        assert!(addr(65530, 40).is_err());
    }
}
