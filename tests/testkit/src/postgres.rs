//! Real PostgreSQL databases for tests, and temp SQLite files.
//!
//! PostgreSQL: `GLITCH_TEST_DATABASE_URL` when set; else the local server at
//! `postgres://postgres@127.0.0.1:5432/postgres` if it answers; else a throwaway cluster started
//! with `initdb` + `postgres` from /usr/lib/postgresql/*/bin in a temp dir (it stops when the
//! test process exits). Never skipped: with none of these the PostgreSQL tests fail. Each test
//! gets its own database, dropped when its [`TestDb`] is.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sqlx::Connection;
use tokio::sync::OnceCell;

/// The default local PostgreSQL server of this machine.
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

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
        dir.path().join("data").join("test.db").display()
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
        .prefix("glitch-test-pg-")
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
        "glitch_test_{}",
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
