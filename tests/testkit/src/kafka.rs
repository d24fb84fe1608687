//! A real Kafka-protocol broker for tests: `tansu` (Apache Kafka itself cannot be installed on
//! the CI machines). `scripts/test.sh` installs it into `~/.cache/glitch-tools`; `GLITCH_TANSU_BIN`
//! overrides the path. Each [`Broker`] keeps its data in a SQLite file in its own temp dir, so it
//! survives [`Broker::stop`] + [`Broker::start_again`] on the same port, like a real broker restart.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tansu version the test command installs.
pub const TANSU_VERSION: &str = "0.6.0";

/// Where the tansu binary is: `GLITCH_TANSU_BIN`, else the test command's cache.
pub fn tansu_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("GLITCH_TANSU_BIN") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let path = home
        .join(".cache/glitch-tools")
        .join(format!("tansu-{TANSU_VERSION}"))
        .join("bin/tansu");
    assert!(
        path.exists(),
        "the Kafka-protocol broker tansu is not installed at {}: run scripts/test.sh (it installs \
         it with `cargo install tansu --version {TANSU_VERSION} --locked --features dynostore,libsql \
         --root ~/.cache/glitch-tools/tansu-{TANSU_VERSION}`) or set GLITCH_TANSU_BIN",
        path.display()
    );
    path
}

/// A running (or stopped) tansu broker on a fixed loopback port.
pub struct Broker {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    /// Starts a broker on a free port with fresh storage and waits until it accepts connections.
    pub fn start() -> Broker {
        let dir = tempfile::Builder::new()
            .prefix("glitch-tansu-")
            .tempdir()
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut broker = Broker {
            dir,
            port,
            child: None,
        };
        broker.start_again();
        broker
    }

    /// `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The sensor's `--events` value for `topic` on this broker.
    pub fn events_url(&self, topic: &str) -> String {
        format!("kafka://{}/{topic}", self.bootstrap())
    }

    /// Creates `topic` with `partitions` partitions (tansu's own admin command).
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let output = Command::new(tansu_bin())
            .current_dir(self.dir.path())
            .args(["topic", "create", topic, "--partitions"])
            .arg(partitions.to_string())
            .arg("--broker")
            .arg(format!("tcp://{}", self.bootstrap()))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "tansu topic create {topic} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Stops the broker (SIGKILL: the harshest outage). Its storage stays.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port and storage, waiting until it accepts connections.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("broker.log"))
            .unwrap();
        let url = format!("tcp://{}", self.bootstrap());
        let child = Command::new(tansu_bin())
            .current_dir(self.dir.path())
            .arg("broker")
            .arg("--listener-url")
            .arg(&url)
            .arg("--advertised-listener-url")
            .arg(&url)
            .arg("--storage-engine")
            .arg("sqlite://tansu.db")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", tansu_bin().display()));
        watch_for_exit(child.id());
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "tansu exited with {status}: {}",
                    std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "tansu did not start listening");
            std::thread::park_timeout(Duration::from_millis(50));
        }
    }

    /// The broker's storage file (tests grep it for credentials).
    pub fn storage_file(&self) -> PathBuf {
        self.dir.path().join("tansu.db")
    }

    /// The directory holding the broker's storage and log.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The broker's own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A detached watcher that kills `pid` when this test process is gone (a killed test run must
/// not leave brokers behind).
fn watch_for_exit(pid: u32) {
    let script = r#"while kill -0 "$0" 2>/dev/null; do sleep 1; done; kill -9 "$1" 2>/dev/null"#;
    let spawned = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .arg(std::process::id().to_string())
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    // Detached on purpose.
    drop(spawned);
}
