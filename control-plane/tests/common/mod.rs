//! Shared test harness: real databases (a temp SQLite file, or a fresh database on a real
//! PostgreSQL server), the control plane started in-process, a REST client and a gRPC sensor
//! client.
//!
//! PostgreSQL: `GLITCH_TEST_DATABASE_URL` when set; else the local server at
//! `postgres://postgres@127.0.0.1:5432/postgres` if it answers; else a throwaway cluster started
//! with `initdb` + `postgres` from /usr/lib/postgresql/*/bin in a temp dir (it stops when the
//! test process exits). Never skipped: with none of these the PostgreSQL tests fail. Each test
//! gets its own database, dropped when its [`TestDb`] is.

#![allow(dead_code, reason = "each test binary uses part of the harness")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use glitch_control_plane::{ControlPlaneArgs, Running};
use glitch_proto::config::v1::config_service_client::ConfigServiceClient;
use glitch_proto::config::v1::sensor_message::Message;
use glitch_proto::config::v1::{Ack, ConfigPush, Nack, SensorHello, SensorMessage};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::Connection;
use tokio::sync::{OnceCell, mpsc};
use tonic::Streaming;

pub const TOKEN: &str = "test-admin-token-0123456789";

/// The default local PostgreSQL server of this machine.
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

// ---- databases --------------------------------------------------------------------------------

/// A database for one test; dropped (PostgreSQL) or deleted (SQLite) with it.
pub struct TestDb {
    pub url: String,
    pub kind: &'static str,
    guard: Guard,
}

enum Guard {
    Sqlite(#[allow(dead_code, reason = "held for its Drop")] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Guard::Postgres { admin_url, name } = &self.guard {
            let admin_url = admin_url.clone();
            let name = name.clone();
            let shown = name.clone();
            // Drop is synchronous and may run inside a runtime: use a thread with its own.
            let dropper = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
                    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                });
            });
            if dropper.join().is_err() {
                eprintln!("could not drop test database {shown}");
            }
        }
    }
}

pub fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    // A subdirectory that does not exist yet: the control plane creates it.
    let url = format!(
        "sqlite://{}",
        dir.path().join("data").join("cp.db").display()
    );
    TestDb {
        url,
        kind: "sqlite",
        guard: Guard::Sqlite(dir),
    }
}

static POSTGRES_SERVER: OnceCell<String> = OnceCell::const_new();

/// The admin URL of a PostgreSQL server for tests.
async fn postgres_server() -> String {
    POSTGRES_SERVER
        .get_or_init(|| async {
            if let Ok(url) = std::env::var("GLITCH_TEST_DATABASE_URL") {
                return url;
            }
            if std::env::var_os("GLITCH_TEST_FORCE_THROWAWAY_POSTGRES").is_none()
                && answers(LOCAL_POSTGRES).await
            {
                return LOCAL_POSTGRES.to_owned();
            }
            let url = tokio::task::spawn_blocking(start_throwaway_cluster)
                .await
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            while !answers(&url).await {
                assert!(
                    Instant::now() < deadline,
                    "throwaway PostgreSQL at {url} did not start"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            url
        })
        .await
        .clone()
}

async fn answers(url: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(3), sqlx::PgConnection::connect(url)).await,
        Ok(Ok(_))
    )
}

fn postgres_bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("no PostgreSQL server: set GLITCH_TEST_DATABASE_URL or install postgresql")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
        .expect("no initdb under /usr/lib/postgresql/*/bin")
}

/// `initdb` + `postgres` in a temp dir on a free port, trust auth; a watcher stops the server
/// and removes the dir when this test process exits.
fn start_throwaway_cluster() -> String {
    let bin = postgres_bin_dir();
    let dir = tempfile::Builder::new()
        .prefix("glitch-cp-pg-")
        .tempdir()
        .unwrap()
        .keep();
    let data = dir.join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    // PostgreSQL refuses to run as root: run it as the `postgres` user then.
    let run_as = |program: &Path| -> Command {
        if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    };
    if as_root {
        let status = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "chown of the PostgreSQL temp dir failed");
    }
    let status = run_as(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync"])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "initdb failed");
    let script = r#"
"$0" -D "$1" -p "$2" -k "$3" -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 >"$3/server.log" 2>&1 &
pg=$!
while [ -d "/proc/$4" ] && kill -0 "$pg" 2>/dev/null; do sleep 1; done
kill -INT "$pg" 2>/dev/null
wait "$pg"
rm -rf "$3"
"#;
    let mut sh = run_as(Path::new("/bin/sh"));
    sh.arg("-c")
        .arg(script)
        .arg(bin.join("postgres"))
        .arg(&data)
        .arg(port.to_string())
        .arg(&dir)
        .arg(std::process::id().to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let child = sh.spawn().unwrap();
    // Detached on purpose: the watcher ends itself when this process is gone.
    drop(child);
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

/// `url` with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").unwrap();
    let authority = rest.split('/').next().unwrap();
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

pub async fn postgres_db() -> TestDb {
    let admin_url = postgres_server().await;
    let name = format!(
        "glitch_cp_test_{}",
        uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
    );
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    TestDb {
        url: with_database(&admin_url, &name),
        kind: "postgres",
        guard: Guard::Postgres { admin_url, name },
    }
}

// ---- the control plane and a REST client ------------------------------------------------------

pub struct Harness {
    pub cp: Running,
    pub client: reqwest::Client,
    pub base: String,
}

pub fn args(db: &TestDb) -> ControlPlaneArgs {
    ControlPlaneArgs::for_tests(db.url.clone(), TOKEN)
}

impl Harness {
    pub async fn start(args: ControlPlaneArgs) -> Harness {
        let cp = glitch_control_plane::start(args).await.unwrap();
        let base = cp.rest_url();
        Harness {
            cp,
            client: reqwest::Client::new(),
            base,
        }
    }

    pub async fn stop(self) {
        self.cp.shutdown().await;
    }

    /// Sends a request with the admin token; returns the status and the JSON body (Null when
    /// the body is empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        self.call_with(method, path, body, Some(TOKEN)).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
        };
        (status, value)
    }

    /// Sends a raw body with the admin token.
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        body: &'static str,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    pub async fn post(&self, path: &str, body: &Value) -> Value {
        let (status, value) = self.call(Method::POST, path, Some(body)).await;
        assert!(status.is_success(), "POST {path}: {status} {value}");
        value
    }

    pub async fn config_version(&self) -> u64 {
        self.get("/v1/config/version").await["version"]
            .as_u64()
            .unwrap()
    }

    /// Polls `GET /v1/sensors` until `sensor_id` satisfies `check` (5 s at most).
    pub async fn wait_for_sensor(&self, sensor_id: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let sensors = self.get("/v1/sensors").await;
            let found = sensors["results"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["sensor_id"] == sensor_id)
                .cloned();
            if let Some(sensor) = &found
                && check(sensor)
            {
                return sensor.clone();
            }
            assert!(
                Instant::now() < deadline,
                "sensor {sensor_id} never reached the expected state: {found:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A project `proj_<suffix>` on `policy_id` with one key; returns (project id, key id, key).
pub async fn project_with_key(
    h: &Harness,
    suffix: &str,
    policy_id: &str,
) -> (String, String, String) {
    let project = h
        .post(
            "/v1/projects",
            &serde_json::json!({"id": format!("proj_{suffix}"), "name": format!("Project {suffix}"), "policy_id": policy_id}),
        )
        .await;
    let id = project["id"].as_str().unwrap().to_owned();
    let key = h
        .post(
            &format!("/v1/projects/{id}/keys"),
            &serde_json::json!({"name": "ci"}),
        )
        .await;
    (
        id,
        key["id"].as_str().unwrap().to_owned(),
        key["key"].as_str().unwrap().to_owned(),
    )
}

/// The contract's example policy (§4) with the given id.
pub fn example_policy(id: &str) -> Value {
    serde_json::json!({
        "id": id, "name": "Balanced Security", "policy_mode": "IO",
        "input_detectors": [
            {"detector_type": "prompt_attack", "threshold": "L2", "action": "block"},
            {"detector_type": "pii/credit_card", "threshold": "L1", "action": "block"},
            {"detector_type": "secrets/*", "threshold": "L2", "action": "block"}],
        "output_detectors": [{"detector_type": "secrets/*", "threshold": "L2", "action": "log"}],
        "allow_list": {"entries": ["*.example.com"], "match_type": "wildcard"},
        "deny_list": {"entries": [], "match_type": "exact"},
        "custom_detectors": [{"name": "project_codename", "pattern": "(?i)\\bbluebird\\b",
                              "threshold": "L2", "action": "block", "scope": "input"}],
        "rate_limits": {"enabled": false, "requests_per_minute": 60, "tokens_per_minute": 100000,
                        "max_input_tokens": 200000}
    })
}

// ---- a gRPC sensor ----------------------------------------------------------------------------

pub struct SensorClient {
    pub sensor_id: String,
    tx: mpsc::Sender<SensorMessage>,
    pushes: Streaming<ConfigPush>,
}

pub fn hello(sensor_id: &str, last_applied_version: u64) -> SensorMessage {
    SensorMessage {
        message: Some(Message::Hello(SensorHello {
            sensor_id: sensor_id.into(),
            region: "eu-test".into(),
            build: "glitch-sensor test".into(),
            last_applied_version,
        })),
    }
}

impl SensorClient {
    pub async fn connect(
        grpc_url: &str,
        sensor_id: &str,
        last_applied_version: u64,
    ) -> SensorClient {
        let channel = tonic::transport::Endpoint::from_shared(grpc_url.to_owned())
            .unwrap()
            .connect()
            .await
            .unwrap();
        Self::connect_on(channel, sensor_id, last_applied_version).await
    }

    pub async fn connect_on(
        channel: tonic::transport::Channel,
        sensor_id: &str,
        last_applied_version: u64,
    ) -> SensorClient {
        let mut client = ConfigServiceClient::new(channel);
        let (tx, rx) = mpsc::channel::<SensorMessage>(16);
        tx.send(hello(sensor_id, last_applied_version))
            .await
            .unwrap();
        let outbound =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|m| (m, rx)) },
            );
        let pushes = client.stream_config(outbound).await.unwrap().into_inner();
        SensorClient {
            sensor_id: sensor_id.into(),
            tx,
            pushes,
        }
    }

    /// The next push, within `within`.
    pub async fn next_push(&mut self, within: Duration) -> ConfigPush {
        match tokio::time::timeout(within, self.pushes.message()).await {
            Ok(Ok(Some(push))) => push,
            Ok(Ok(None)) => panic!("{}: stream ended", self.sensor_id),
            Ok(Err(status)) => panic!("{}: stream failed: {status}", self.sensor_id),
            Err(_) => panic!("{}: no push within {within:?}", self.sensor_id),
        }
    }

    /// Asserts nothing arrives for `quiet`.
    pub async fn expect_no_push(&mut self, quiet: Duration) {
        if let Ok(message) = tokio::time::timeout(quiet, self.pushes.message()).await {
            panic!("{}: unexpected message {message:?}", self.sensor_id);
        }
    }

    /// The stream's next result (a push, its end, or an error status).
    pub async fn next_result(
        &mut self,
        within: Duration,
    ) -> Result<Option<ConfigPush>, tonic::Status> {
        tokio::time::timeout(within, self.pushes.message())
            .await
            .expect("nothing within the deadline")
    }

    pub async fn send(&self, message: Message) {
        self.tx
            .send(SensorMessage {
                message: Some(message),
            })
            .await
            .unwrap();
    }

    pub async fn ack(&self, push: &ConfigPush) {
        let version = push.snapshot.as_ref().unwrap().version;
        self.send(Message::Ack(Ack {
            version,
            nonce: push.nonce.clone(),
        }))
        .await;
    }

    pub async fn nack(&self, push: &ConfigPush, kept_version: u64, error: &str) {
        self.send(Message::Nack(Nack {
            version: kept_version,
            nonce: push.nonce.clone(),
            error: error.into(),
        }))
        .await;
    }
}
