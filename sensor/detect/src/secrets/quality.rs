//! Quality and speed measurements (ignored tests, run on demand):
//! recall / flag rate on the public Nosey Parker rule examples, no blocking findings on a real
//! Claude Code request body, and throughput on secret-free prose and code.
//!
//! ```text
//! cargo test -p glitch-detect --release secrets::quality -- --ignored --nocapture
//! ```

use std::collections::BTreeMap;
use std::time::Instant;

use super::SecretsDetector;
use crate::engine::{RawMatch, SignatureDetector};

const DATASET: &str = "/work/shared/data/secrets/noseyparker_rule_examples.jsonl";
const BODY: &str = "/tmp/cc/body_49268.json";
const BLOCK: f32 = 0.75;

fn scan(d: &SecretsDetector, text: &str) -> Vec<RawMatch> {
    let mut out = Vec::new();
    d.scan(text, &mut out);
    out
}

#[test]
#[ignore = "reads the public dataset; prints numbers"]
fn noseyparker_examples() {
    let Ok(data) = std::fs::read_to_string(DATASET) else {
        eprintln!("{DATASET} not found; skipped");
        return;
    };
    let d = SecretsDetector::new();
    let rows: Vec<serde_json::Value> = data
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let secret_texts: std::collections::HashSet<&str> = rows
        .iter()
        .filter(|r| r["label"] == "secret")
        .filter_map(|r| r["text"].as_str())
        .collect();
    let (mut pos, mut found, mut found_l3) = (0, 0, 0usize);
    let (mut neg, mut flagged) = (0, 0);
    let (mut neg_clean, mut flagged_clean) = (0, 0);
    let mut misses: BTreeMap<String, usize> = BTreeMap::new();
    let mut fps: BTreeMap<String, usize> = BTreeMap::new();
    let verbose = std::env::var("SECRETS_VERBOSE").is_ok();
    for r in &rows {
        let text = r["text"].as_str().unwrap_or("");
        let rule = r["rule_name"].as_str().unwrap_or("").to_owned();
        let hits = scan(&d, text);
        let hit = hits.iter().any(|m| m.confidence >= BLOCK);
        let hit_l3 = hits.iter().any(|m| m.confidence >= 0.5);
        if r["label"] == "secret" {
            pos += 1;
            found_l3 += usize::from(hit_l3);
            if hit {
                found += 1;
            } else {
                *misses.entry(rule.clone()).or_default() += 1;
                if verbose {
                    println!(
                        "MISS [{rule}] {:?} -> {:?}",
                        text.chars().take(160).collect::<String>(),
                        hits
                    );
                }
            }
        } else {
            neg += 1;
            let conflicting = secret_texts.contains(text);
            if !conflicting {
                neg_clean += 1;
            }
            if hit {
                flagged += 1;
                if !conflicting {
                    flagged_clean += 1;
                }
                *fps.entry(format!(
                    "{rule}{}",
                    if conflicting {
                        " (same text labelled secret)"
                    } else {
                        ""
                    }
                ))
                .or_default() += 1;
                if verbose {
                    let m: Vec<_> = hits
                        .iter()
                        .filter(|m| m.confidence >= BLOCK)
                        .map(|m| {
                            (
                                m.detector_type,
                                m.confidence,
                                text.get(m.start..m.end).unwrap_or(""),
                            )
                        })
                        .collect();
                    println!("FP [{rule}] {m:?}");
                }
            }
        }
    }
    println!(
        "recall {found}/{pos} = {:.3}; flagged not_secret {flagged}/{neg} = {:.3}; \
         excluding not_secret rows whose text is also labelled secret: {flagged_clean}/{neg_clean} = {:.3}",
        found as f64 / pos.max(1) as f64,
        flagged as f64 / neg.max(1) as f64,
        flagged_clean as f64 / neg_clean.max(1) as f64,
    );
    println!(
        "recall at 0.5 (L3): {found_l3}/{pos} = {:.3}",
        found_l3 as f64 / pos.max(1) as f64
    );
    println!("misses by rule:");
    for (k, v) in &misses {
        println!("  {v:3}  {k}");
    }
    println!("flagged not_secret rows by rule:");
    for (k, v) in &fps {
        println!("  {v:3}  {k}");
    }
}

fn strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[test]
#[ignore = "reads a local Claude Code request body when present"]
fn claude_code_body_has_no_blocking_findings() {
    let Ok(raw) = std::fs::read_to_string(BODY) else {
        eprintln!("{BODY} not found; skipped");
        return;
    };
    let body: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let mut texts = Vec::new();
    strings(&body, &mut texts);
    let d = SecretsDetector::new();
    let mut all = 0;
    for t in &texts {
        for m in scan(&d, t) {
            all += 1;
            // Print only the type, confidence and length: never the body's text.
            println!(
                "finding {} {:.2} len {}",
                m.detector_type,
                m.confidence,
                m.end - m.start
            );
            assert!(
                m.confidence < BLOCK,
                "blocking finding {} in the request body",
                m.detector_type
            );
        }
    }
    println!("{} strings, {all} findings below {BLOCK}", texts.len());
}

/// About 1 MB of prose and code with no secrets.
pub(super) fn clean_corpus() -> String {
    const PARAGRAPH: &str = "The token bucket algorithm limits how many requests a client may send; \
        each request takes a token and the bucket refills at a fixed rate. Passwords must never be \
        logged, and the API key is read from the environment at start-up. See https://docs.example.org/guide \
        for the full description of the key rotation process, the secret manager integration and the \
        pass-through mode.\n";
    const CODE: &str = r#"fn load(config: &Config) -> Result<Client, Error> {
    let api_key = std::env::var("API_KEY")?;
    let password = config.password.clone();
    let token = request.headers().get("authorization").map(|v| v.to_str());
    for (key, value) in map.iter() { println!("{key}: {value}"); }
    let secret_name = format!("{}-secret", service);
    if let Some(pass) = args.pass { run(pass, &key_path)?; }
    Ok(Client::new(api_key, password, token, "https://api.example.com/v1"))
}
def handler(event, context):
    token = event["headers"].get("Authorization", "")
    password = os.environ.get("DB_PASSWORD")
    return {"statusCode": 200, "body": json.dumps({"ok": True, "key": key})}
"#;
    let mut s = String::with_capacity(1 << 20);
    while s.len() < 1 << 20 {
        s.push_str(PARAGRAPH);
        s.push_str(CODE);
    }
    s
}

/// About 1 MB of this repository's own Rust sources and Markdown docs (no secrets), repeated.
fn repo_corpus() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [root.join("src"), root.join("../src"), root.join("../..")] {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let p = e.path();
                if matches!(p.extension().and_then(|x| x.to_str()), Some("rs" | "md")) {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    let mut one = String::new();
    for f in files {
        if let Ok(s) = std::fs::read_to_string(f) {
            one.push_str(&s);
        }
    }
    let mut s = String::with_capacity(1 << 20);
    while !one.is_empty() && s.len() < 1 << 20 {
        s.push_str(&one);
    }
    s
}

/// Best-of-`rounds` throughput of scanning `texts` (MB/s).
fn best_mbps(d: &SecretsDetector, texts: &[&str], rounds: usize) -> f64 {
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let mut out = Vec::new();
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t0 = Instant::now();
        for t in texts {
            out.clear();
            d.scan(std::hint::black_box(t), &mut out);
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    bytes as f64 / 1e6 / best
}

#[test]
#[ignore = "timing; run with --release --test-threads=1"]
fn throughput() {
    let d = SecretsDetector::new();
    let text = clean_corpus();
    let mut out = Vec::new();
    d.scan(&text, &mut out);
    let blocking: Vec<_> = out.iter().filter(|m| m.confidence >= BLOCK).collect();
    assert!(blocking.is_empty(), "{blocking:?}");
    println!(
        "mixed prose+code, {} bytes: {:.0} MB/s",
        text.len(),
        best_mbps(&d, &[&text], 20)
    );
    let prose = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor \
        incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud \
        exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.\n"
        .repeat(4600);
    println!(
        "prose, {} bytes: {:.0} MB/s",
        prose.len(),
        best_mbps(&d, &[&prose], 20)
    );
    let repo = repo_corpus();
    let mut out2 = Vec::new();
    d.scan(&repo, &mut out2);
    println!(
        "repo sources+docs, {} bytes: {:.0} MB/s ({} findings, {} >= {BLOCK})",
        repo.len(),
        best_mbps(&d, &[&repo], 20),
        out2.len(),
        out2.iter().filter(|m| m.confidence >= BLOCK).count()
    );
    let chunks: Vec<&str> = text
        .as_bytes()
        .chunks(1000)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    println!(
        "mixed in 1 kB segments: {:.0} MB/s",
        best_mbps(&d, &chunks, 20)
    );
    if let Ok(raw) = std::fs::read_to_string(BODY) {
        let body: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let mut texts = Vec::new();
        strings(&body, &mut texts);
        let bytes: usize = texts.iter().map(|t| t.len()).sum();
        println!(
            "Claude Code body, {bytes} bytes in {} strings: {:.0} MB/s",
            texts.len(),
            best_mbps(&d, &texts, 200)
        );
    }
    let t0 = Instant::now();
    let n = 10;
    for _ in 0..n {
        std::hint::black_box(SecretsDetector::new());
    }
    println!(
        "new(): {:.1} ms, {} searchers",
        t0.elapsed().as_secs_f64() * 1000.0 / f64::from(n),
        d.groups.len()
    );
}

#[test]
#[ignore = "timing of each searcher; run with --release --test-threads=1"]
fn group_timing() {
    let d = SecretsDetector::new();
    let text = clean_corpus();
    let prose = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. ".repeat(8192);
    let repo = repo_corpus();
    for (i, g) in d.groups.iter().enumerate() {
        for (name, t) in [
            ("mixed", text.as_bytes()),
            ("prose", prose.as_bytes()),
            ("repo", repo.as_bytes()),
        ] {
            let mut best = f64::MAX;
            let mut n = 0;
            for _ in 0..10 {
                let t0 = Instant::now();
                n = 0;
                g.finder.each(t, |_, _| n += 1);
                best = best.min(t0.elapsed().as_secs_f64());
            }
            println!(
                "group {i} ({} anchors) {name}: {:.0} MB/s, {n} hits",
                g.cands.len(),
                t.len() as f64 / 1e6 / best
            );
        }
    }
}

#[test]
#[ignore = "lists findings on this repository's sources"]
fn repo_findings() {
    let d = SecretsDetector::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack = vec![root.join("../..")];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if p.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "secrets" {
                    stack.push(p);
                }
                continue;
            }
            if !matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("rs" | "md" | "toml" | "json" | "yaml" | "yml" | "sh" | "py")
            ) {
                continue;
            }
            let Ok(s) = std::fs::read_to_string(&p) else {
                continue;
            };
            let mut out = Vec::new();
            d.scan(&s, &mut out);
            for m in out.iter().filter(|m| m.confidence >= 0.5) {
                println!(
                    "{:.2} {} {}: {:?}",
                    m.confidence,
                    m.detector_type,
                    p.display(),
                    s.get(m.start.saturating_sub(30)..(m.end + 10).min(s.len()))
                        .unwrap_or("")
                );
            }
        }
    }
}
