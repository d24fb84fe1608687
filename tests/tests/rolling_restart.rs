//! The graceful lifecycle under a real load balancer: two `glitch-sensor` processes behind a real
//! nginx, steady load from several clients, each sensor restarted in turn (SIGTERM: `/ready`
//! fails, requests are still served for the shutdown delay, then the listener closes, in-flight
//! requests finish and events are flushed; then the same sensor starts again on the same port).
//! Zero failed requests, and every answered request's event is in the event logs exactly once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use glitch_e2e::{ChildProcess, read_events, workspace_bin};
use glitch_fake_anthropic::FakeAnthropic;

const KEY: &str = "glitch_sk_roll0000000000000000000001";
const POLICY: &str = r#"
policies:
  - id: pol_roll
    name: Rolling
    custom_detectors:
      - {name: codename, pattern: "(?i)\\bbluebird\\b", action: block}
projects:
  - {id: proj_roll, name: Rolling, policy_id: pol_roll}
keys:
  - {id: key_roll, project_id: proj_roll, key: glitch_sk_roll0000000000000000000001}
"#;

fn nginx_bin() -> PathBuf {
    for candidate in ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "nginx is needed for the rolling-restart test: install it (the test command does: apt-get install nginx-light)"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx, stopped with SIGTERM when dropped (the master then stops its workers; SIGKILL would
/// leave them running). Its output goes to files, never to the test's pipes.
struct Nginx {
    child: std::process::Child,
}

impl Nginx {
    fn start(bin: &Path, dir: &Path) -> Nginx {
        let child = std::process::Command::new(bin)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Nginx { child }
    }
}

impl Drop for Nginx {
    #[allow(
        clippy::disallowed_methods,
        reason = "a short wait for nginx to exit at teardown"
    )]
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct SensorSlot {
    args: Vec<String>,
    events: PathBuf,
    process: Option<ChildProcess>,
}

impl SensorSlot {
    fn new(dir: &Path, name: &str, port: u16, upstream: &str) -> SensorSlot {
        let events = dir.join(format!("events-{name}"));
        let args = vec![
            format!("--listen=127.0.0.1:{port}"),
            "--admin-listen=127.0.0.1:0".into(),
            format!("--policy-file={}", dir.join("policy.yaml").display()),
            format!("--events=file:{}", events.display()),
            format!(
                "--state-dir={}",
                dir.join(format!("state-{name}")).display()
            ),
            format!("--upstream={upstream}"),
            format!("--sensor-id=roll-{name}"),
            "--shutdown-delay-secs=1".into(),
            "--shutdown-grace-secs=20".into(),
        ];
        let mut slot = SensorSlot {
            args,
            events,
            process: None,
        };
        slot.start();
        slot
    }

    fn start(&mut self) {
        let (process, _) = ChildProcess::spawn(
            &workspace_bin("glitch-sensor"),
            &self.args,
            &[],
            "glitch-sensor listening on ",
        );
        self.process = Some(process);
    }

    /// SIGTERM, wait for a clean exit, start again on the same port.
    fn restart(&mut self) {
        let mut process = self.process.take().unwrap();
        let status = process.terminate().unwrap();
        assert!(status.success(), "sensor exited with {status}");
        self.start();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_behind_nginx_fails_no_request_and_loses_no_event() {
    let nginx = nginx_bin();
    let upstream = FakeAnthropic::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yaml"), POLICY).unwrap();
    let (port_a, port_b, port_lb) = (free_port(), free_port(), free_port());
    let mut a = SensorSlot::new(dir.path(), "a", port_a, &upstream.url());
    let mut b = SensorSlot::new(dir.path(), "b", port_b, &upstream.url());

    // nginx: round robin over both sensors, keep-alive to them, and a request that could not be
    // delivered to one (connection refused or closed before an answer) tried on the other.
    let nginx_dir = dir.path().join("nginx");
    std::fs::create_dir_all(nginx_dir.join("tmp")).unwrap();
    let conf = format!(
        r#"worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    upstream sensors {{
        server 127.0.0.1:{port_a} max_fails=0;
        server 127.0.0.1:{port_b} max_fails=0;
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port_lb};
        location / {{
            proxy_pass http://sensors;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_next_upstream error timeout non_idempotent;
            proxy_next_upstream_tries 3;
        }}
    }}
}}
"#,
        d = nginx_dir.display()
    );
    std::fs::write(nginx_dir.join("nginx.conf"), conf).unwrap();
    let _lb = Nginx::start(&nginx, &nginx_dir);
    let base = format!("http://127.0.0.1:{port_lb}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{base}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Steady load from 4 clients until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..4 {
        let stop = stop.clone();
        let http = http.clone();
        let base = base.clone();
        clients.push(tokio::spawn(async move {
            let mut ok: Vec<String> = Vec::new();
            let mut failed: Vec<String> = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let result = http
                    .post(format!("{base}/v1/messages"))
                    .header("x-glitch-key", KEY)
                    .header("x-api-key", "sk-ant-api03-rolling")
                    .header("anthropic-version", "2023-06-01")
                    .header("x-claude-code-session-id", format!("client-{c}"))
                    .json(
                        &serde_json::json!({"model": "claude-sonnet-4-5", "max_tokens": 16,
                        "messages": [{"role": "user", "content": format!("request {c}-{i}")}]}),
                    )
                    .send()
                    .await;
                match result {
                    Ok(r) if r.status() == 200 => {
                        let id = r.headers()["x-glitch-event-id"]
                            .to_str()
                            .unwrap()
                            .to_owned();
                        match r.bytes().await {
                            Ok(_) => ok.push(id),
                            Err(e) => failed.push(format!("{c}-{i}: body {e}")),
                        }
                    }
                    Ok(r) => {
                        let status = r.status();
                        failed.push(format!(
                            "{c}-{i}: {status} {}",
                            r.text().await.unwrap_or_default()
                        ));
                    }
                    Err(e) => failed.push(format!("{c}-{i}: {e}")),
                }
            }
            (ok, failed)
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Restart a, let the load settle, restart b (a blocking wait for each process to exit).
    let mut a = tokio::task::spawn_blocking(move || {
        a.restart();
        a
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut b = tokio::task::spawn_blocking(move || {
        b.restart();
        b
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for client in clients {
        let (o, f) = client.await.unwrap();
        ok.extend(o);
        failed.extend(f);
    }
    // Stop both sensors cleanly so every event is flushed.
    let (pa, pb) = (a.process.take().unwrap(), b.process.take().unwrap());
    tokio::task::spawn_blocking(move || {
        for mut process in [pa, pb] {
            assert!(process.terminate().unwrap().success());
        }
    })
    .await
    .unwrap();
    assert!(
        ok.len() > 50,
        "too little load to mean anything: {}",
        ok.len()
    );
    assert!(
        failed.is_empty(),
        "{} failed requests: {failed:?}",
        failed.len()
    );
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut per_sensor = [0usize; 2];
    for (i, dir) in [&a.events, &b.events].iter().enumerate() {
        for e in read_events(dir) {
            if e.path == "/v1/messages" {
                *seen.entry(e.event_id).or_default() += 1;
                per_sensor[i] += 1;
            }
        }
    }
    for id in &ok {
        assert_eq!(
            seen.get(id),
            Some(&1),
            "event {id} recorded {:?} times",
            seen.get(id)
        );
    }
    assert_eq!(seen.len(), ok.len(), "events without an answered request");
    assert!(per_sensor.iter().all(|n| *n > 0), "{per_sensor:?}");
    eprintln!(
        "rolling restart: {} requests answered, 0 failed; events per sensor {per_sensor:?}",
        ok.len()
    );
}
