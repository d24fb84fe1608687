//! The deployment manifests in `deploy/` checked against the real binaries, so they cannot rot.
//!
//! Every `--flag` and `GLITCH_*` variable that the compose file, the Kubernetes base and
//! overlays, the systemd units (and their example env files) pass to a binary must appear in
//! that binary's `--help`; every port a probe, a Service, a NetworkPolicy, a health check or a
//! scrape target uses must be one the binary listens on (its default or the listen flag the
//! manifest passes); every probe path is requested from the real binary, started by this test
//! with the same listen flags, and must answer 200; stop timeouts must exceed the shutdown
//! grace; the overlays must build on the base; and the Grafana dashboard and the Prometheus
//! alerts may only use metric names the binaries export. Known metric names come from two
//! places: the `/metrics` of the real binaries scraped after a request went through the sensor
//! (names and types), and the names registered in the source (`Registry::with_prefix` +
//! `register("name", ...)`), which also covers labelled families that have no sample yet.
//! No network and no Docker: YAML is parsed with serde_yaml_ng, Dockerfiles and units as text.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;

use glitch_e2e::{ChildProcess, workspace_bin, workspace_root};
use serde_yaml_ng::Value;

/// Every binary a manifest may run.
const BINARIES: [&str; 5] = [
    "glitch-sensor",
    "glitch-control-plane",
    "glitch-audit-consumer",
    "glitch-console",
    "glitch",
];

/// Metric names the dashboard and the alerts already use that no binary exports yet (planned
/// with issue 8's telemetry work). The test fails when one of them appears, so the list shrinks
/// as they land, and it fails for any other unknown name.
const PLANNED_METRICS: [&str; 0] = [];

/// The Kafka forwarder keeps delivering the spool this long after the sensor's last event.
const SENSOR_FORWARDER_DRAIN_SECS: u64 = 10;

const TOKEN: &str = "deploy-manifests-token-0123456789";

// ---------------------------------------------------------------------------------------------
// What the binaries say about themselves

/// One option of a `--help` page.
#[derive(Debug, Default, Clone)]
struct Flag {
    env: Option<String>,
    default: Option<String>,
}

/// A binary's `--help`: its flags and every `GLITCH_*` variable it mentions.
#[derive(Debug, Default)]
struct Help {
    flags: BTreeMap<String, Flag>,
    env: BTreeSet<String>,
}

impl Help {
    /// The flags whose default is a socket address: the listeners.
    fn listen_flags(&self) -> impl Iterator<Item = (&String, &Flag)> {
        self.flags.iter().filter(|(_, f)| {
            f.default
                .as_deref()
                .is_some_and(|d| d.parse::<SocketAddr>().is_ok())
        })
    }
}

fn help_of(bin: &Path, sub: &[&str]) -> String {
    let out = Command::new(bin)
        .args(sub)
        .arg("--help")
        .env_clear()
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} --help: {e}", bin.display()));
    assert!(out.status.success(), "{} --help failed", bin.display());
    String::from_utf8(out.stdout).unwrap()
}

/// Words starting with `prefix` made of `ok` characters, not preceded by a word character.
fn words_with_prefix(text: &str, prefix: &str, ok: fn(char) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(prefix) {
        let start = from + at;
        let before = text[..start].chars().next_back();
        let end = text[start..]
            .char_indices()
            .find(|&(_, c)| !ok(c))
            .map_or(text.len(), |(i, _)| start + i);
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push(text[start..end].to_owned());
        }
        from = end.max(start + prefix.len());
    }
    out
}

fn env_names(text: &str) -> Vec<String> {
    words_with_prefix(text, "GLITCH_", |c| {
        c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
    })
    .into_iter()
    .map(|w| w.trim_end_matches('_').to_owned())
    .filter(|w| w.len() > "GLITCH_".len())
    .collect()
}

fn metric_names(text: &str) -> Vec<String> {
    words_with_prefix(text, "glitch_", |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
    })
}

fn between<'a>(text: &'a str, open: &str, close: char) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    Some(&text[start..start + len])
}

fn parse_help(text: &str, help: &mut Help) {
    fn flush(current: &mut Option<(String, String)>, help: &mut Help) {
        if let Some((name, block)) = current.take() {
            let flag = Flag {
                env: between(&block, "[env: ", '=').map(str::to_owned),
                default: between(&block, "[default: ", ']').map(str::to_owned),
            };
            help.flags.insert(name, flag);
        }
    }
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let t = line.trim_start();
        let is_option = t.starts_with("--")
            || (t.starts_with('-')
                && t.chars().nth(1).is_some_and(|c| c.is_ascii_alphabetic())
                && t.contains(", --"));
        if is_option {
            flush(&mut current, help);
            let at = t.find("--").unwrap() + 2;
            let name: String = t[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            current = Some((name, line.to_owned()));
        } else if !line.is_empty() && !line.starts_with(' ') {
            flush(&mut current, help);
        } else if let Some((_, block)) = &mut current {
            block.push('\n');
            block.push_str(line);
        }
    }
    flush(&mut current, help);
    help.env.extend(env_names(text));
}

// ---------------------------------------------------------------------------------------------
// What the manifests ask of them

/// A probe a manifest points at a binary.
#[derive(Debug, Clone)]
struct Probe {
    port: u16,
    path: String,
    why: String,
}

/// One way a manifest runs a binary.
#[derive(Debug, Default, Clone)]
struct Invocation {
    file: String,
    name: String,
    bin: String,
    args: Vec<String>,
    /// Literal values; "" when the value comes from a Secret or a field reference.
    env: BTreeMap<String, String>,
    /// Ports the manifest expects the binary to listen on, and why.
    ports: Vec<(u16, String)>,
    probes: Vec<Probe>,
    stop_grace_secs: Option<u64>,
    pre_stop_secs: u64,
}

impl Invocation {
    fn arg_value(&self, flag: &str) -> Option<String> {
        let long = format!("--{flag}");
        let mut args = self.args.iter();
        while let Some(arg) = args.next() {
            if let Some(value) = arg.strip_prefix(&format!("{long}=")) {
                return Some(value.to_owned());
            }
            if *arg == long {
                return args.next().cloned();
            }
        }
        None
    }

    /// The value a flag takes: the argument, else its env var, else its default.
    fn effective(&self, help: &Help, flag: &str) -> Option<String> {
        let f = help.flags.get(flag)?;
        self.arg_value(flag)
            .or_else(|| f.env.as_ref().and_then(|e| self.env.get(e).cloned()))
            .filter(|v| !v.is_empty())
            .or_else(|| f.default.clone())
    }

    /// Port → listen flag.
    fn listen_ports(&self, help: &Help, report: &mut Report) -> BTreeMap<u16, String> {
        let mut out = BTreeMap::new();
        for (flag, _) in help.listen_flags() {
            let value = self.effective(help, flag).unwrap_or_default();
            match value.parse::<SocketAddr>() {
                Ok(addr) => {
                    out.insert(addr.port(), flag.clone());
                }
                Err(_) => report.problem(
                    &self.file,
                    format!("{}: --{flag}={value} is not HOST:PORT", self.name),
                ),
            }
        }
        out
    }
}

/// Problems found, and how much was checked.
#[derive(Debug, Default)]
struct Report {
    problems: Vec<String>,
    flags: usize,
    env: usize,
    ports: usize,
    probes: usize,
    metrics: usize,
    /// (binary, listen flag, path) → where it is used: requested from the real binaries.
    live_probes: BTreeMap<(String, String, String), String>,
}

impl Report {
    fn problem(&mut self, file: &str, message: String) {
        self.problems.push(format!("{file}: {message}"));
    }
}

fn rel(path: &Path) -> String {
    path.strip_prefix(workspace_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Checks one invocation against its binary's help; returns its listen ports.
fn check_invocation(
    inv: &Invocation,
    helps: &BTreeMap<String, Help>,
    report: &mut Report,
) -> BTreeMap<u16, String> {
    let Some(help) = helps.get(&inv.bin) else {
        report.problem(
            &inv.file,
            format!("{}: {:?} is not a Glitch binary", inv.name, inv.bin),
        );
        return BTreeMap::new();
    };
    for arg in &inv.args {
        let Some(flag) = arg.strip_prefix("--") else {
            continue;
        };
        let flag = flag.split('=').next().unwrap_or_default();
        report.flags += 1;
        if !help.flags.contains_key(flag) {
            report.problem(
                &inv.file,
                format!(
                    "{}: unknown flag --{flag}: `{} --help` has no such option",
                    inv.name, inv.bin
                ),
            );
        }
    }
    for key in inv.env.keys().filter(|k| k.starts_with("GLITCH_")) {
        report.env += 1;
        if !help.env.contains(key) {
            report.problem(
                &inv.file,
                format!(
                    "{}: unknown environment variable {key}: `{} --help` does not mention it",
                    inv.name, inv.bin
                ),
            );
        }
    }
    let listen = inv.listen_ports(help, report);
    let shown: Vec<String> = listen.iter().map(|(p, f)| format!("--{f} {p}")).collect();
    for (port, why) in &inv.ports {
        report.ports += 1;
        if !listen.contains_key(port) {
            report.problem(
                &inv.file,
                format!(
                    "{}: {why} uses port {port}, but {} listens on {}",
                    inv.name,
                    inv.bin,
                    shown.join(", ")
                ),
            );
        }
    }
    for probe in &inv.probes {
        report.probes += 1;
        match listen.get(&probe.port) {
            Some(flag) => {
                report
                    .live_probes
                    .entry((inv.bin.clone(), flag.clone(), probe.path.clone()))
                    .or_insert_with(|| format!("{} ({}, {})", inv.file, inv.name, probe.why));
            }
            None => report.problem(
                &inv.file,
                format!(
                    "{}: {} probes port {}, but {} listens on {}",
                    inv.name,
                    probe.why,
                    probe.port,
                    inv.bin,
                    shown.join(", ")
                ),
            ),
        }
    }
    if let Some(stop) = inv.stop_grace_secs {
        let grace = inv
            .effective(help, "shutdown-grace-secs")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let drain = if inv.bin == "glitch-sensor" {
            SENSOR_FORWARDER_DRAIN_SECS
        } else {
            0
        };
        let delay = inv
            .effective(help, "shutdown-delay-secs")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let needed = inv.pre_stop_secs + delay + grace + drain;
        if stop <= needed {
            report.problem(
                &inv.file,
                format!(
                    "{}: stop timeout {stop}s is not above pre-stop {}s + shutdown delay {delay}s + shutdown grace {grace}s + drain {drain}s",
                    inv.name, inv.pre_stop_secs
                ),
            );
        }
    }
    listen
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn yaml_docs(path: &Path) -> Vec<Value> {
    use serde::Deserialize as _;
    let text = read(path);
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let mut value =
            Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", rel(path)));
        value
            .apply_merge()
            .unwrap_or_else(|e| panic!("{}: bad merge key: {e}", rel(path)));
        if !value.is_null() {
            docs.push(value);
        }
    }
    docs
}

fn s(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn seq(v: &Value) -> &[Value] {
    v.as_sequence().map_or(&[], |s| s.as_slice())
}

fn strings(v: &Value) -> Vec<String> {
    seq(v).iter().filter_map(s).collect()
}

fn duration_secs(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Some(m) = text.strip_suffix('m') {
        return m.parse::<u64>().ok().map(|m| m * 60);
    }
    text.trim_end_matches('s').parse().ok()
}

/// `scheme://host:port...` references in a value (comma-separated host lists included).
fn host_ports(value: &str) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    let Some(at) = value.find("://") else {
        return out;
    };
    let rest = &value[at + 3..];
    let authority = rest.split('/').next().unwrap_or_default();
    for hp in authority.split(',') {
        let hp = hp.rsplit('@').next().unwrap_or_default();
        if let Some((host, port)) = hp.rsplit_once(':')
            && let Ok(port) = port.parse()
        {
            out.push((host.to_owned(), port));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Compose

fn check_compose(deploy: &Path, helps: &BTreeMap<String, Help>, report: &mut Report) {
    let dir = deploy.join("compose");
    let path = dir.join("compose.yaml");
    let file = rel(&path);
    let doc = yaml_docs(&path).remove(0);
    let text = read(&path);

    // Every ${VAR} must be listed in .env.example.
    let env_example = read(&dir.join(".env.example"));
    let declared: BTreeSet<String> = env_example
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .collect();
    let mut from = 0;
    while let Some(at) = text[from..].find("${") {
        let start = from + at + 2;
        let name: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !declared.contains(&name) {
            report.problem(
                &file,
                format!("${{{name}}} is not listed in deploy/compose/.env.example"),
            );
        }
        from = start;
    }

    let services = doc["services"].as_mapping().expect("compose: services");
    let mut invocations = Vec::new();
    for (name, svc) in services {
        let name = s(name).unwrap();
        for volume in strings(&svc["volumes"]) {
            let host = volume.split(':').next().unwrap_or_default();
            if host.starts_with('.') && !dir.join(host).exists() {
                report.problem(
                    &file,
                    format!("{name}: mounts {host}, which does not exist"),
                );
            }
        }
        let build = &svc["build"];
        if !build.is_null() {
            let context = dir.join(s(&build["context"]).unwrap_or_else(|| ".".into()));
            let dockerfile = s(&build["dockerfile"]).unwrap_or_else(|| "Dockerfile".into());
            if !context.join(&dockerfile).exists() {
                report.problem(
                    &file,
                    format!("{name}: build file {dockerfile} not found in its context"),
                );
            }
        }
        let image = s(&svc["image"]).unwrap_or_default();
        let image_bin = image
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        let bin = s(&build["args"]["BIN"]).unwrap_or(image_bin);
        if !BINARIES.contains(&bin.as_str()) {
            continue;
        }
        let mut inv = Invocation {
            file: file.clone(),
            name: format!("service {name}"),
            bin,
            ..Invocation::default()
        };
        inv.args = match &svc["command"] {
            Value::String(c) => c.split_whitespace().map(str::to_owned).collect(),
            other => strings(other),
        };
        match &svc["environment"] {
            Value::Mapping(m) => {
                for (k, v) in m {
                    inv.env.insert(s(k).unwrap(), s(v).unwrap_or_default());
                }
            }
            other => {
                for kv in strings(other) {
                    let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
                    inv.env.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        for port in strings(&svc["ports"]) {
            let container = port.rsplit(':').next().unwrap_or_default();
            let container = container.split('/').next().unwrap_or_default();
            match container.parse() {
                Ok(p) => inv.ports.push((p, format!("published port {port:?}"))),
                Err(_) => report.problem(&file, format!("{name}: bad port {port:?}")),
            }
        }
        let check = &svc["healthcheck"]["test"];
        if !check.is_null() {
            let test = match check {
                Value::String(t) => t.clone(),
                other => strings(other).join(" "),
            };
            let port = between(&test, "/dev/tcp/127.0.0.1/", ' ')
                .or_else(|| between(&test, "http://127.0.0.1:", '/'))
                .and_then(|p| p.parse().ok());
            let path = between(&test, "GET ", ' ').map(str::to_owned).or_else(|| {
                between(&test, "http://127.0.0.1:", ' ')
                    .and_then(|rest| rest.find('/').map(|i| rest[i..].to_owned()))
            });
            match (port, path) {
                (Some(port), Some(path)) => inv.probes.push(Probe {
                    port,
                    path,
                    why: "healthcheck".into(),
                }),
                _ => report.problem(
                    &file,
                    format!("{name}: cannot find the port and path of the health check {test:?}"),
                ),
            }
        }
        inv.stop_grace_secs = s(&svc["stop_grace_period"]).and_then(|d| duration_secs(&d));
        invocations.push((name, inv));
    }

    let mut listen_by_service = BTreeMap::new();
    for (name, inv) in &invocations {
        listen_by_service.insert(name.clone(), check_invocation(inv, helps, report));
    }
    // URLs that name another Glitch service must use a port it listens on.
    for (name, inv) in &invocations {
        for value in inv.args.iter().chain(inv.env.values()) {
            for (host, port) in host_ports(value) {
                if let Some(listen) = listen_by_service.get(&host) {
                    report.ports += 1;
                    if !listen.contains_key(&port) {
                        report.problem(
                            &file,
                            format!("service {name}: {value} uses port {port}, but service {host} does not listen on it"),
                        );
                    }
                }
            }
        }
    }
    // Prometheus scrape targets of the observability profile.
    let prom = deploy.join("prometheus/prometheus.compose.yml");
    let prom_file = rel(&prom);
    let prom_doc = yaml_docs(&prom).remove(0);
    for job in seq(&prom_doc["scrape_configs"]) {
        for sc in seq(&job["static_configs"]) {
            for target in strings(&sc["targets"]) {
                let (host, port) = target.rsplit_once(':').unwrap();
                let port: u16 = port.parse().unwrap();
                report.ports += 1;
                match listen_by_service.get(host) {
                    Some(listen) if listen.contains_key(&port) => {}
                    Some(_) => report.problem(
                        &prom_file,
                        format!("target {target}: service {host} does not listen on {port}"),
                    ),
                    None => report.problem(
                        &prom_file,
                        format!("target {target}: no Glitch service {host} in compose.yaml"),
                    ),
                }
            }
        }
    }
    assert!(
        invocations.len() >= 6,
        "compose.yaml should run two control planes, two sensors, the audit consumer and the console"
    );
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

/// A Deployment of the base, with its Glitch container.
#[derive(Debug, Clone)]
struct K8sDeployment {
    labels: BTreeMap<String, String>,
    inv: Invocation,
    /// containerPort name → number.
    named_ports: BTreeMap<String, u16>,
    /// mountPath → (volume kind, configMap or Secret name).
    mounts: BTreeMap<String, (String, String)>,
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_mapping()
        .map(|m| m.iter().filter_map(|(k, v)| Some((s(k)?, s(v)?))).collect())
        .unwrap_or_default()
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn container_env(c: &Value, env: &mut BTreeMap<String, String>) {
    for e in seq(&c["env"]) {
        let name = s(&e["name"]).unwrap_or_default();
        env.insert(name, s(&e["value"]).unwrap_or_default());
    }
}

fn k8s_deployment(file: &str, doc: &Value, report: &mut Report) -> Option<(String, K8sDeployment)> {
    let name = s(&doc["metadata"]["name"])?;
    let pod = &doc["spec"]["template"];
    let containers = seq(&pod["spec"]["containers"]);
    let Some(c) = containers.first() else {
        report.problem(file, format!("Deployment {name} has no container"));
        return None;
    };
    let bin = s(&c["name"]).unwrap_or_default();
    if s(&c["image"]).as_deref() != Some(bin.as_str()) {
        report.problem(
            file,
            format!("Deployment {name}: container {bin} should use image {bin} (the kustomization's images: maps it)"),
        );
    }
    let mut inv = Invocation {
        file: file.to_owned(),
        name: format!("Deployment {name}"),
        bin,
        args: strings(&c["args"]),
        stop_grace_secs: pod["spec"]["terminationGracePeriodSeconds"].as_u64(),
        ..Invocation::default()
    };
    container_env(c, &mut inv.env);
    let pre_stop = strings(&c["lifecycle"]["preStop"]["exec"]["command"]);
    if pre_stop.first().map(String::as_str) == Some("sleep") {
        inv.pre_stop_secs = pre_stop.get(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    }
    let mut named_ports = BTreeMap::new();
    for p in seq(&c["ports"]) {
        let port = p["containerPort"].as_u64().unwrap_or(0) as u16;
        let pname = s(&p["name"]).unwrap_or_default();
        inv.ports.push((port, format!("containerPort {pname}")));
        named_ports.insert(pname, port);
    }
    for kind in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let get = &c[kind]["httpGet"];
        if get.is_null() {
            continue;
        }
        let port = match &get["port"] {
            Value::Number(n) => n.as_u64().map(|p| p as u16),
            other => s(other).and_then(|n| named_ports.get(&n).copied()),
        };
        match port {
            Some(port) => inv.probes.push(Probe {
                port,
                path: s(&get["path"]).unwrap_or_default(),
                why: kind.to_owned(),
            }),
            None => report.problem(
                file,
                format!(
                    "Deployment {name}: {kind} port {:?} is not a containerPort",
                    get["port"]
                ),
            ),
        }
    }
    let mut volumes = BTreeMap::new();
    for v in seq(&pod["spec"]["volumes"]) {
        let vname = s(&v["name"]).unwrap_or_default();
        if let Some(cm) = s(&v["configMap"]["name"]) {
            volumes.insert(vname, ("configMap".to_owned(), cm));
        } else if let Some(secret) = s(&v["secret"]["secretName"]) {
            volumes.insert(vname, ("secret".to_owned(), secret));
        } else {
            volumes.insert(vname, ("other".to_owned(), String::new()));
        }
    }
    let mut mounts = BTreeMap::new();
    for m in seq(&c["volumeMounts"]) {
        let vname = s(&m["name"]).unwrap_or_default();
        match volumes.get(&vname) {
            Some(v) => {
                mounts.insert(s(&m["mountPath"]).unwrap_or_default(), v.clone());
            }
            None => report.problem(file, format!("Deployment {name}: no volume {vname}")),
        }
    }
    Some((
        name,
        K8sDeployment {
            labels: labels(&pod["metadata"]["labels"]),
            inv,
            named_ports,
            mounts,
        },
    ))
}

/// Generator name → (key → source file).
type Generators = BTreeMap<String, BTreeMap<String, PathBuf>>;

fn generators(
    dir: &Path,
    kust: &Value,
    field: &str,
    file: &str,
    report: &mut Report,
) -> Generators {
    let mut out = Generators::new();
    for g in seq(&kust[field]) {
        let name = s(&g["name"]).unwrap_or_default();
        let mut keys = BTreeMap::new();
        for f in strings(&g["files"]) {
            let (key, path) = match f.split_once('=') {
                Some((k, p)) => (k.to_owned(), p.to_owned()),
                None => (
                    Path::new(&f)
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    f.clone(),
                ),
            };
            let path = dir.join(&path);
            if field == "secretGenerator" {
                // The real files are gitignored; an example must show their shape.
                let example = PathBuf::from(format!("{}.example", path.display()));
                if !example.exists() {
                    report.problem(
                        file,
                        format!("{name}: {} has no .example next to it", rel(&path)),
                    );
                } else if read(&example).ends_with('\n') {
                    report.problem(
                        file,
                        format!(
                            "{}: ends with a newline, which would become part of the secret",
                            rel(&example)
                        ),
                    );
                }
            } else if !path.exists() {
                report.problem(file, format!("{name}: {} does not exist", rel(&path)));
            }
            keys.insert(key, path);
        }
        out.insert(name, keys);
    }
    out
}

fn check_k8s(deploy: &Path, helps: &BTreeMap<String, Help>, report: &mut Report) {
    let base = deploy.join("k8s/base");
    let kust_path = base.join("kustomization.yaml");
    let kfile = rel(&kust_path);
    let kust = yaml_docs(&kust_path).remove(0);
    let config_maps = generators(&base, &kust, "configMapGenerator", &kfile, report);
    let secrets = generators(&base, &kust, "secretGenerator", &kfile, report);
    if !base.join("secrets/.gitignore").exists() {
        report.problem(
            &kfile,
            "secrets/.gitignore is missing: secret files must stay out of git".into(),
        );
    }

    let mut deployments: BTreeMap<String, K8sDeployment> = BTreeMap::new();
    let mut others = Vec::new();
    for res in strings(&kust["resources"]) {
        let path = base.join(&res);
        if !path.is_file() {
            report.problem(&kfile, format!("resource {res} does not exist"));
            continue;
        }
        let file = rel(&path);
        for doc in yaml_docs(&path) {
            if s(&doc["kind"]).as_deref() == Some("Deployment") {
                if let Some((name, d)) = k8s_deployment(&file, &doc, report) {
                    deployments.insert(name, d);
                }
            } else {
                others.push((file.clone(), doc));
            }
        }
    }
    let mut listen = BTreeMap::new();
    for (name, d) in &deployments {
        listen.insert(name.clone(), check_invocation(&d.inv, helps, report));
        check_classifier_mounts(d, &config_maps, &secrets, report);
    }
    let find = |selector: &BTreeMap<String, String>| {
        deployments
            .iter()
            .find(|(_, d)| selects(selector, &d.labels))
            .map(|(n, d)| (n.clone(), d.clone()))
    };
    let resolve = |d: &K8sDeployment, port: &Value| -> Option<u16> {
        match port {
            Value::Number(n) => n.as_u64().map(|p| p as u16),
            other => s(other).and_then(|n| d.named_ports.get(&n).copied()),
        }
    };
    let mut kinds = BTreeSet::new();
    for (file, doc) in &others {
        let kind = s(&doc["kind"]).unwrap_or_default();
        let name = s(&doc["metadata"]["name"]).unwrap_or_default();
        kinds.insert(kind.clone());
        match kind.as_str() {
            "Service" => {
                let Some((dname, d)) = find(&labels(&doc["spec"]["selector"])) else {
                    report.problem(file, format!("Service {name} selects no Deployment"));
                    continue;
                };
                for p in seq(&doc["spec"]["ports"]) {
                    let target = if p["targetPort"].is_null() {
                        &p["port"]
                    } else {
                        &p["targetPort"]
                    };
                    report.ports += 1;
                    match resolve(&d, target) {
                        Some(port) if listen[&dname].contains_key(&port) => {}
                        _ => report.problem(
                            file,
                            format!(
                                "Service {name}: targetPort {} is not a port {} listens on",
                                s(target).unwrap_or_default(),
                                d.inv.bin
                            ),
                        ),
                    }
                }
            }
            "NetworkPolicy" => {
                let Some((dname, d)) = find(&labels(&doc["spec"]["podSelector"]["matchLabels"]))
                else {
                    report.problem(file, format!("NetworkPolicy {name} selects no Deployment"));
                    continue;
                };
                for rule in seq(&doc["spec"]["ingress"]) {
                    for p in seq(&rule["ports"]) {
                        report.ports += 1;
                        match resolve(&d, &p["port"]) {
                            Some(port) if listen[&dname].contains_key(&port) => {}
                            _ => report.problem(
                                file,
                                format!("NetworkPolicy {name}: ingress port {} is not a port {} listens on", s(&p["port"]).unwrap_or_default(), d.inv.bin),
                            ),
                        }
                    }
                }
                for rule in seq(&doc["spec"]["egress"]) {
                    for to in seq(&rule["to"]) {
                        let Some((tname, t)) = find(&labels(&to["podSelector"]["matchLabels"]))
                        else {
                            continue;
                        };
                        for p in seq(&rule["ports"]) {
                            report.ports += 1;
                            match resolve(&t, &p["port"]) {
                                Some(port) if listen[&tname].contains_key(&port) => {}
                                _ => report.problem(
                                    file,
                                    format!("NetworkPolicy {name}: egress port {} is not a port {} listens on", s(&p["port"]).unwrap_or_default(), t.inv.bin),
                                ),
                            }
                        }
                    }
                }
            }
            "HorizontalPodAutoscaler" => {
                let target = s(&doc["spec"]["scaleTargetRef"]["name"]).unwrap_or_default();
                if !deployments.contains_key(&target) {
                    report.problem(
                        file,
                        format!("HPA {name} scales {target}, which is not a Deployment"),
                    );
                }
            }
            "PodDisruptionBudget"
                if find(&labels(&doc["spec"]["selector"]["matchLabels"])).is_none() =>
            {
                report.problem(
                    file,
                    format!("PodDisruptionBudget {name} selects no Deployment"),
                );
            }
            _ => {}
        }
    }
    for kind in [
        "Service",
        "NetworkPolicy",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ] {
        assert!(kinds.contains(kind), "deploy/k8s/base has no {kind}");
    }
    for bin in [
        "glitch-sensor",
        "glitch-control-plane",
        "glitch-audit-consumer",
    ] {
        assert!(
            deployments.values().any(|d| d.inv.bin == bin),
            "deploy/k8s/base has no Deployment running {bin}"
        );
    }

    // Overlays: build on the base, patch only what exists, and stay valid once patched.
    let mut regions = BTreeMap::new();
    let overlays = deploy.join("k8s/overlays");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&overlays)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    for dir in entries {
        let overlay = dir.file_name().unwrap().to_string_lossy().into_owned();
        let kpath = dir.join("kustomization.yaml");
        let kfile = rel(&kpath);
        if !kpath.exists() {
            report.problem(&rel(&dir), "no kustomization.yaml".into());
            continue;
        }
        let kust = yaml_docs(&kpath).remove(0);
        let base_real = base.canonicalize().unwrap();
        if !strings(&kust["resources"])
            .iter()
            .any(|r| dir.join(r).canonicalize().is_ok_and(|p| p == base_real))
        {
            report.problem(
                &kfile,
                "does not reference the base (resources: [../../base])".into(),
            );
        }
        let mut patched = deployments.clone();
        for patch in seq(&kust["patches"]) {
            if let Some(target) = s(&patch["target"]["name"]) {
                let kind = s(&patch["target"]["kind"]).unwrap_or_default();
                let exists = match kind.as_str() {
                    "Deployment" => deployments.contains_key(&target),
                    _ => others.iter().any(|(_, d)| {
                        s(&d["kind"]).as_deref() == Some(kind.as_str())
                            && s(&d["metadata"]["name"]).as_deref() == Some(target.as_str())
                    }),
                };
                if !exists {
                    report.problem(
                        &kfile,
                        format!("patch target {kind}/{target} is not in the base"),
                    );
                }
            }
            let Some(p) = s(&patch["path"]) else { continue };
            let path = dir.join(&p);
            if !path.exists() {
                report.problem(&kfile, format!("patch {p} does not exist"));
                continue;
            }
            let pfile = rel(&path);
            for doc in yaml_docs(&path) {
                let name = s(&doc["metadata"]["name"]).unwrap_or_default();
                let Some(d) = patched.get_mut(&name) else {
                    report.problem(
                        &pfile,
                        format!("patches {name}, which is not a base Deployment"),
                    );
                    continue;
                };
                for c in seq(&doc["spec"]["template"]["spec"]["containers"]) {
                    let cname = s(&c["name"]).unwrap_or_default();
                    if cname != d.inv.bin {
                        report.problem(&pfile, format!("{name}: no container {cname} in the base"));
                        continue;
                    }
                    container_env(c, &mut d.inv.env);
                    if !c["args"].is_null() {
                        d.inv.args = strings(&c["args"]);
                    }
                    d.inv.file = pfile.clone();
                }
            }
        }
        for d in patched.values_mut() {
            d.inv.name = format!("{} (overlay {overlay})", d.inv.name);
            check_invocation(&d.inv, helps, report);
            if d.inv.bin == "glitch-sensor" {
                regions.insert(
                    overlay.clone(),
                    d.inv.env.get("GLITCH_REGION").cloned().unwrap_or_default(),
                );
            }
        }
    }
    let distinct: BTreeSet<&String> = regions.values().collect();
    assert!(
        regions.len() >= 2
            && distinct.len() == regions.len()
            && !distinct.contains(&"local".to_owned()),
        "every region overlay must set its own GLITCH_REGION: {regions:?}"
    );
}

/// The sensor's `--classifiers` file must be mounted from the generated ConfigMap, and every
/// `api_key_file` it names from a generated Secret key; `api_key_env` must be set.
fn check_classifier_mounts(
    d: &K8sDeployment,
    config_maps: &Generators,
    secrets: &Generators,
    report: &mut Report,
) {
    let Some(classifiers) = d
        .inv
        .arg_value("classifiers")
        .or_else(|| d.inv.env.get("GLITCH_CLASSIFIERS").cloned())
    else {
        return;
    };
    let file = &d.inv.file;
    let mounted = |path: &str, kind: &str, gens: &Generators| -> Option<PathBuf> {
        let p = Path::new(path);
        let dir = p.parent()?.to_string_lossy().into_owned();
        let key = p.file_name()?.to_string_lossy().into_owned();
        let (vkind, name) = d.mounts.get(&dir)?;
        if vkind != kind {
            return None;
        }
        gens.get(name)?.get(&key).cloned()
    };
    let Some(source) = mounted(&classifiers, "configMap", config_maps) else {
        report.problem(
            file,
            format!("--classifiers={classifiers} is not a key of a generated ConfigMap mounted at its directory"),
        );
        return;
    };
    let doc = yaml_docs(&source).remove(0);
    for c in seq(&doc["classifiers"]) {
        if let Some(key_file) = s(&c["api_key_file"])
            && mounted(&key_file, "secret", secrets).is_none()
        {
            report.problem(
                &rel(&source),
                format!(
                    "api_key_file {key_file} is not a key of a generated Secret mounted in {}",
                    d.inv.name
                ),
            );
        }
        if let Some(var) = s(&c["api_key_env"])
            && !d.inv.env.contains_key(&var)
        {
            report.problem(
                &rel(&source),
                format!("api_key_env {var} is not set in {}", d.inv.name),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// systemd, Dockerfile

fn check_systemd(deploy: &Path, helps: &BTreeMap<String, Help>, report: &mut Report) {
    let dir = deploy.join("systemd");
    let mut units = 0;
    for bin in [
        "glitch-sensor",
        "glitch-control-plane",
        "glitch-audit-consumer",
    ] {
        let path = dir.join(format!("{bin}.service"));
        let file = rel(&path);
        let text = read(&path).replace("\\\n", " ");
        let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('#') || line.starts_with('[') {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                keys.entry(k.trim().to_owned())
                    .or_default()
                    .push(v.trim().to_owned());
            }
        }
        let one = |k: &str| {
            keys.get(k)
                .and_then(|v| v.last())
                .cloned()
                .unwrap_or_default()
        };
        for (key, want) in [
            ("KillSignal", "SIGTERM"),
            ("Restart", "on-failure"),
            ("ProtectSystem", "strict"),
            ("NoNewPrivileges", "yes"),
        ] {
            if one(key) != want {
                report.problem(&file, format!("{key}={want} is required"));
            }
        }
        if one("User").is_empty() && one("DynamicUser") != "yes" {
            report.problem(&file, "runs as root: set User= or DynamicUser=yes".into());
        }
        let exec = one("ExecStart");
        let mut words = exec.split_whitespace();
        let program = words.next().unwrap_or_default();
        let mut inv = Invocation {
            file: file.clone(),
            name: format!("unit {bin}"),
            bin: Path::new(program)
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            args: words.map(str::to_owned).collect(),
            stop_grace_secs: duration_secs(&one("TimeoutStopSec")),
            ..Invocation::default()
        };
        for kv in keys.get("Environment").cloned().unwrap_or_default() {
            let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
            inv.env.insert(k.to_owned(), v.to_owned());
        }
        for env_file in keys.get("EnvironmentFile").cloned().unwrap_or_default() {
            let name = Path::new(env_file.trim_start_matches('-'))
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let example = dir.join(format!("{name}.example"));
            if !example.exists() {
                report.problem(
                    &file,
                    format!("EnvironmentFile {env_file}: no {name}.example in deploy/systemd"),
                );
                continue;
            }
            // Commented-out settings must be valid too: they are what operators uncomment.
            for line in read(&example).lines() {
                let line = line.trim_start_matches(['#', ' ']);
                if let Some((k, v)) = line.split_once('=')
                    && k.starts_with("GLITCH_")
                    && !k.contains(' ')
                {
                    inv.env.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        if inv.stop_grace_secs.is_none() {
            report.problem(&file, "TimeoutStopSec is required".into());
        }
        check_invocation(&inv, helps, report);
        units += 1;
    }
    assert_eq!(units, 3);
}

fn check_docker(deploy: &Path, helps: &BTreeMap<String, Help>, report: &mut Report) {
    let path = deploy.join("docker/Dockerfile");
    let file = rel(&path);
    let text = read(&path);
    let defaults: BTreeSet<u16> = helps
        .values()
        .flat_map(|h| {
            h.listen_flags().map(|(_, f)| {
                f.default
                    .as_deref()
                    .unwrap()
                    .parse::<SocketAddr>()
                    .unwrap()
                    .port()
            })
        })
        .collect();
    let mut stages = 0;
    let mut user = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("FROM ") {
            stages += 1;
            user.clear();
        } else if let Some(u) = line.strip_prefix("USER ") {
            user = u.trim().to_owned();
        } else if let Some(bin) = line.strip_prefix("ARG BIN=") {
            if !BINARIES.contains(&bin) {
                report.problem(&file, format!("ARG BIN={bin} is not a Glitch binary"));
            }
        } else if let Some(ports) = line.strip_prefix("EXPOSE ") {
            for p in ports.split_whitespace() {
                report.ports += 1;
                if !p.parse().is_ok_and(|p: u16| defaults.contains(&p)) {
                    report.problem(
                        &file,
                        format!("EXPOSE {p} is no binary's default listen port"),
                    );
                }
            }
        }
    }
    assert!(stages >= 2, "{file}: not a multi-stage build");
    if user.is_empty() || user.starts_with("root") || user.starts_with('0') {
        report.problem(
            &file,
            format!("the runtime stage runs as {user:?}, not a non-root user"),
        );
    }
    let bake = deploy.join("docker/docker-bake.hcl");
    let bins: BTreeSet<String> = read(&bake)
        .lines()
        .filter_map(|l| between(l, "BIN = \"", '"').map(str::to_owned))
        .collect();
    for bin in BINARIES {
        if !bins.contains(bin) {
            report.problem(&rel(&bake), format!("no target builds {bin}"));
        }
    }
    for bin in &bins {
        if !BINARIES.contains(&bin.as_str()) {
            report.problem(&rel(&bake), format!("BIN = {bin:?} is not a Glitch binary"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Metric names

/// Base metric names registered in the source: `Registry::with_prefix("p")` and
/// `.register("name", ...)` per component directory.
fn registered_metric_names(root: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "target" && name != "tests" {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    fn first_literal(text: &str) -> Option<&str> {
        let t = text.trim_start();
        let t = t.strip_prefix('"')?;
        Some(&t[..t.find('"')?])
    }
    let mut known = BTreeSet::new();
    for component in ["sensor", "control-plane", "audit-consumer"] {
        let mut files = Vec::new();
        walk(&root.join(component), &mut files);
        let mut prefixes = BTreeSet::new();
        let mut names = BTreeSet::new();
        for f in files {
            let text = read(&f);
            for (at, _) in text.match_indices("with_prefix(") {
                if let Some(p) = first_literal(&text[at + "with_prefix(".len()..]) {
                    prefixes.insert(p.to_owned());
                }
            }
            for call in [".register(", ".register_with_unit("] {
                for (at, _) in text.match_indices(call) {
                    if let Some(n) = first_literal(&text[at + call.len()..]) {
                        names.insert(n.to_owned());
                    }
                }
            }
        }
        for n in &names {
            if n.starts_with("glitch_") {
                known.insert(n.clone());
            }
            for p in &prefixes {
                known.insert(format!("{p}_{n}"));
            }
        }
    }
    known
}

/// Metric families in a Prometheus text exposition: name → type.
fn exposition_types(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let (name, kind) = l.split_once(' ')?;
            Some((name.to_owned(), kind.trim().to_owned()))
        })
        .collect()
}

fn check_metric(
    file: &str,
    name: &str,
    known: &BTreeSet<String>,
    types: &BTreeMap<String, String>,
    planned_used: &mut BTreeSet<String>,
    report: &mut Report,
) {
    report.metrics += 1;
    let suffixes = [
        ("_total", "counter"),
        ("_bucket", "histogram"),
        ("_sum", "histogram"),
        ("_count", "histogram"),
    ];
    let (base, want) = suffixes
        .iter()
        .find_map(|(suffix, kind)| {
            let base = name.strip_suffix(suffix)?;
            (known.contains(base) || PLANNED_METRICS.iter().any(|p| p.starts_with(base)))
                .then_some((base, Some(*kind)))
        })
        .unwrap_or((name, None));
    if PLANNED_METRICS.contains(&name) || PLANNED_METRICS.contains(&base) {
        planned_used.insert(name.to_owned());
        return;
    }
    if !known.contains(base) {
        report.problem(
            file,
            format!("unknown metric {name}: no binary registers {base}"),
        );
        return;
    }
    if let Some(kind) = types.get(base) {
        let ok = match want {
            Some(w) => w == kind,
            None => kind == "gauge" || kind == "unknown",
        };
        if !ok {
            report.problem(file, format!("{name}: {base} is a {kind}"));
        }
    }
}

fn check_metric_users(
    deploy: &Path,
    known: &BTreeSet<String>,
    types: &BTreeMap<String, String>,
    report: &mut Report,
) -> BTreeSet<String> {
    let mut planned_used = BTreeSet::new();

    let alerts = deploy.join("prometheus/alerts.yaml");
    let afile = rel(&alerts);
    let doc = yaml_docs(&alerts).remove(0);
    let mut rules = 0;
    for group in seq(&doc["groups"]) {
        for rule in seq(&group["rules"]) {
            rules += 1;
            let alert = s(&rule["alert"]).unwrap_or_default();
            let expr = s(&rule["expr"]).unwrap_or_default();
            if alert.is_empty() || expr.is_empty() {
                report.problem(&afile, format!("rule {rules}: needs alert and expr"));
            }
            if s(&rule["labels"]["severity"]).is_none()
                || s(&rule["annotations"]["summary"]).is_none()
            {
                report.problem(
                    &afile,
                    format!("{alert}: needs labels.severity and annotations.summary"),
                );
            }
            for name in metric_names(&expr) {
                check_metric(&afile, &name, known, types, &mut planned_used, report);
            }
        }
    }
    assert!(rules >= 10, "{afile}: only {rules} rules");

    let dash = deploy.join("grafana/glitch-dashboard.json");
    let dfile = rel(&dash);
    let doc: serde_json::Value =
        serde_json::from_str(&read(&dash)).unwrap_or_else(|e| panic!("{dfile}: invalid JSON: {e}"));
    let has_ds_var = doc["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|v| {
            v["type"] == "datasource" && v["query"] == "prometheus" && v["name"] == "datasource"
        });
    if !has_ds_var {
        report.problem(
            &dfile,
            "needs a Prometheus datasource variable named datasource".into(),
        );
    }
    fn exprs(v: &serde_json::Value, out: &mut Vec<String>, ds: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::String(e)) = m.get("expr") {
                    out.push(e.clone());
                }
                if let Some(uid) = m
                    .get("datasource")
                    .and_then(|d| d.get("uid"))
                    .and_then(|u| u.as_str())
                    && uid != "${datasource}"
                {
                    ds.push(uid.to_owned());
                }
                m.values().for_each(|v| exprs(v, out, ds));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| exprs(v, out, ds)),
            _ => {}
        }
    }
    let (mut all, mut fixed_ds) = (Vec::new(), Vec::new());
    exprs(&doc["panels"], &mut all, &mut fixed_ds);
    assert!(all.len() >= 30, "{dfile}: only {} queries", all.len());
    for uid in fixed_ds {
        report.problem(
            &dfile,
            format!("a panel uses datasource {uid:?} instead of ${{datasource}}"),
        );
    }
    for expr in &all {
        for name in metric_names(expr) {
            check_metric(&dfile, &name, known, types, &mut planned_used, report);
        }
    }
    planned_used
}

// ---------------------------------------------------------------------------------------------
// The real binaries

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A binary started with every listener on a free port: listen flag → port.
struct Live {
    _child: ChildProcess,
    ports: BTreeMap<String, u16>,
}

fn start_live(bin: &str, path: &Path, help: &Help, tmp: &Path, upstream: &str) -> Live {
    let root = workspace_root();
    let mut args: Vec<String> = match bin {
        "glitch-sensor" => vec![
            format!(
                "--policy-file={}",
                root.join("deploy/policy.example.yaml").display()
            ),
            format!("--events=file:{}", tmp.join("events").display()),
            format!("--state-dir={}", tmp.join("sensor").display()),
            format!("--upstream={upstream}"),
        ],
        "glitch-control-plane" => vec![format!(
            "--database=sqlite://{}",
            tmp.join("cp.db").display()
        )],
        "glitch-audit-consumer" => vec![
            format!("--events=file:{}", tmp.join("events").display()),
            format!("--index=sqlite://{}", tmp.join("audit.db").display()),
        ],
        other => panic!("deploy/ probes {other}, which this test does not know how to start"),
    };
    let mut ports = BTreeMap::new();
    for (flag, _) in help.listen_flags() {
        let port = free_port();
        args.push(format!("--{flag}=127.0.0.1:{port}"));
        ports.insert(flag.clone(), port);
    }
    let (child, _) = ChildProcess::spawn(
        path,
        &args,
        &[("GLITCH_ADMIN_TOKEN", TOKEN)],
        "listening on",
    );
    Live {
        _child: child,
        ports,
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_manifests_match_the_binaries() {
    let root = workspace_root();
    let deploy = root.join("deploy");

    let mut paths = BTreeMap::new();
    let mut helps = BTreeMap::new();
    for bin in BINARIES {
        let path = workspace_bin(bin);
        let mut help = Help::default();
        parse_help(&help_of(&path, &[]), &mut help);
        if bin == "glitch" {
            parse_help(&help_of(&path, &["up"]), &mut help);
        }
        assert!(
            help.flags.contains_key("help") && help.flags.len() > 2,
            "{bin} --help could not be read: {help:?}"
        );
        paths.insert(bin.to_owned(), path);
        helps.insert(bin.to_owned(), help);
    }
    assert_eq!(
        helps["glitch-sensor"].flags["admin-listen"].env.as_deref(),
        Some("GLITCH_SENSOR_ADMIN"),
        "the help parser no longer understands clap's layout"
    );

    let mut report = Report::default();
    check_compose(&deploy, &helps, &mut report);
    check_k8s(&deploy, &helps, &mut report);
    check_systemd(&deploy, &helps, &mut report);
    check_docker(&deploy, &helps, &mut report);

    // The real binaries: every probe path answers 200 on the listener the manifests point at,
    // and their /metrics say which metric families exist.
    let fake = glitch_fake_anthropic::FakeAnthropic::start().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut live = BTreeMap::new();
    let mut wanted: BTreeSet<&str> = report
        .live_probes
        .keys()
        .map(|(b, _, _)| b.as_str())
        .collect();
    wanted.extend([
        "glitch-sensor",
        "glitch-audit-consumer",
        "glitch-control-plane",
    ]);
    for bin in wanted {
        live.insert(
            bin.to_owned(),
            start_live(bin, &paths[bin], &helps[bin], tmp.path(), &fake.url()),
        );
    }
    let http = reqwest::Client::new();
    for ((bin, flag, path), used) in &report.live_probes.clone() {
        let port = live[bin].ports[flag];
        let status = http
            .get(format!("http://127.0.0.1:{port}{path}"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if status != 200 {
            report.problem(
                used,
                format!("probe path {path} on {bin}'s --{flag} listener answers {status}, not 200"),
            );
        }
    }
    // One request through the sensor so labelled families have samples.
    let sensor = &live["glitch-sensor"].ports["listen"];
    let resp = http
        .post(format!("http://127.0.0.1:{sensor}/v1/messages"))
        .header("x-glitch-key", "glitch_sk_demo0local0development0only")
        .json(&serde_json::json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "request through the sensor failed");
    let mut types = BTreeMap::new();
    let mut scraped = BTreeMap::new();
    for (bin, l) in &live {
        for port in l.ports.values() {
            let Ok(resp) = http
                .get(format!("http://127.0.0.1:{port}/metrics"))
                .send()
                .await
            else {
                continue;
            };
            if resp.status() == 200 {
                let found = exposition_types(&resp.text().await.unwrap());
                scraped.insert(bin.clone(), found.len());
                types.extend(found);
            }
        }
    }
    for bin in ["glitch-sensor", "glitch-audit-consumer"] {
        assert!(
            scraped.get(bin).is_some_and(|n| *n > 5),
            "no /metrics scraped from {bin}: {scraped:?}"
        );
    }
    assert!(
        types.contains_key("glitch_sensor_requests"),
        "the request did not show up in the sensor's metrics"
    );

    let known = registered_metric_names(&root);
    for name in types.keys().filter(|n| n.starts_with("glitch_")) {
        assert!(
            known.contains(name),
            "{name} is exported but the source scan did not find it (update registered_metric_names)"
        );
    }
    let planned_used = check_metric_users(&deploy, &known, &types, &mut report);
    for planned in PLANNED_METRICS {
        let base = planned.trim_end_matches("_total");
        if known.contains(planned) || known.contains(base) {
            report.problem(
                "tests/tests/deploy_manifests.rs",
                format!("{planned} is exported now: remove it from PLANNED_METRICS"),
            );
        }
    }

    let mut summary = String::new();
    writeln!(
        summary,
        "checked {} flags, {} env vars, {} ports, {} probes ({} paths requested live), {} metric references ({} families scraped: {scraped:?})",
        report.flags,
        report.env,
        report.ports,
        report.probes,
        report.live_probes.len(),
        report.metrics,
        types.len()
    )
    .unwrap();
    if !planned_used.is_empty() {
        writeln!(
            summary,
            "metric names used but not exported yet (PLANNED_METRICS): {planned_used:?}"
        )
        .unwrap();
    }
    eprintln!("{summary}");
    assert!(
        report.problems.is_empty(),
        "deploy/ does not match the binaries:\n  {}\n({summary})",
        report.problems.join("\n  ")
    );
    assert!(report.flags > 20, "{summary}");
    assert!(report.env > 10, "{summary}");
    assert!(report.ports > 20, "{summary}");
    assert!(report.live_probes.len() >= 4, "{summary}");
    assert!(report.metrics > 50, "{summary}");
}
