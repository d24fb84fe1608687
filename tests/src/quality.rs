//! Detection quality on the labelled public data in `../shared/data` (see its README): PII spans
//! (per-type precision, recall, F1), secret examples (recall on positives, flag rate on negatives)
//! and prompt-attack rows (balanced accuracy, benign rows that would be blocked). Detectors run
//! through the same compiled-policy path as the sensor, with the built-in pack.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use glitch_detect::builtin::builtin_pack;
use glitch_detect::extract::{Location, Part, TextSegment};
use glitch_detect::templates::template;
use glitch_detect::{CompiledPolicy, Direction, Policy, ScanReport};
use serde::Deserialize;

/// Where the data lives: `GLITCH_DATA_DIR`, else `../shared/data` next to the workspace.
pub fn data_dir() -> PathBuf {
    std::env::var("GLITCH_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| crate::workspace_root().join("../shared/data"))
}

fn policy(json: serde_json::Value) -> Result<CompiledPolicy, String> {
    let policy: Policy = serde_json::from_value(json).map_err(|e| e.to_string())?;
    CompiledPolicy::compile(policy, &builtin_pack()).map_err(|e| e.to_string())
}

fn scan(policy: &CompiledPolicy, text: &str) -> ScanReport {
    policy.scan(
        Direction::Input,
        &[TextSegment {
            location: Location::new(Part::DetectContent),
            text: std::borrow::Cow::Borrowed(text),
        }],
    )
}

/// Precision/recall counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// True positives (found labelled spans / flagged positives).
    pub tp: u64,
    /// False positives.
    pub fp: u64,
    /// False negatives.
    pub fn_: u64,
}

impl Counts {
    /// tp / (tp + fp).
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    /// tp / (tp + fn).
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    /// Harmonic mean.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

#[derive(Deserialize)]
struct PiiRow {
    full_text: String,
    spans: Vec<PiiSpan>,
}

#[derive(Deserialize)]
struct PiiSpan {
    entity_type: String,
    start_position: usize,
    end_position: usize,
}

const PII_TYPES: &[(&str, &str)] = &[
    ("EMAIL_ADDRESS", "pii/email"),
    ("CREDIT_CARD", "pii/credit_card"),
    ("US_SSN", "pii/us_social_security_number"),
    ("PHONE_NUMBER", "pii/phone_number"),
    ("IP_ADDRESS", "pii/ip_address"),
    ("IBAN_CODE", "pii/iban_code"),
];

/// Byte offset of each char index (the data's positions count characters).
fn char_to_byte(text: &str, char_index: usize) -> usize {
    text.char_indices()
        .nth(char_index)
        .map(|(b, _)| b)
        .unwrap_or(text.len())
}

/// Per-type PII results at one threshold: (labelled-text precision counts, strict counts).
pub fn pii(
    dir: &Path,
    threshold: &str,
) -> Result<BTreeMap<&'static str, (Counts, Counts)>, String> {
    let rows: Vec<PiiRow> = serde_json::from_slice(
        &std::fs::read(dir.join("pii/presidio_synth_dataset_v2.json"))
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let compiled = policy(serde_json::json!({
        "input_detectors": [{"detector_type": "pii/*", "threshold": threshold, "action": "log"}]
    }))?;
    let mut out: BTreeMap<&'static str, (Counts, Counts)> = PII_TYPES
        .iter()
        .map(|(_, t)| (*t, Default::default()))
        .collect();
    for row in &rows {
        let spans: Vec<(Option<&'static str>, usize, usize)> = row
            .spans
            .iter()
            .map(|s| {
                let ty = PII_TYPES
                    .iter()
                    .find(|(e, _)| *e == s.entity_type)
                    .map(|(_, t)| *t);
                (
                    ty,
                    char_to_byte(&row.full_text, s.start_position),
                    char_to_byte(&row.full_text, s.end_position),
                )
            })
            .collect();
        let report = scan(&compiled, &row.full_text);
        let overlaps = |a: (usize, usize), b: (usize, usize)| a.0 < b.1 && b.0 < a.1;
        for f in &report.findings {
            let Some(entry) = out.get_mut(&*f.detector_type) else {
                continue;
            };
            let same = spans.iter().any(|(t, s, e)| {
                *t == Some(entry_type(&f.detector_type)) && overlaps(f.span, (*s, *e))
            });
            let any = spans.iter().any(|(_, s, e)| overlaps(f.span, (*s, *e)));
            if same {
                entry.0.tp += 1;
                entry.1.tp += 1;
            } else {
                entry.1.fp += 1;
                if any {
                    entry.0.fp += 1;
                }
            }
        }
        for (t, s, e) in &spans {
            let Some(t) = t else { continue };
            let found = report
                .findings
                .iter()
                .any(|f| &*f.detector_type == *t && overlaps(f.span, (*s, *e)));
            if !found && let Some(entry) = out.get_mut(t) {
                entry.0.fn_ += 1;
                entry.1.fn_ += 1;
            }
        }
    }
    Ok(out)
}

fn entry_type(t: &str) -> &'static str {
    PII_TYPES
        .iter()
        .map(|(_, ty)| *ty)
        .find(|ty| *ty == t)
        .unwrap_or("")
}

#[derive(Deserialize)]
struct SecretRow {
    rule_name: String,
    label: String,
    text: String,
}

/// Secret results at L2: (recall counts on positives, negatives flagged, negatives total,
/// misses by rule name).
pub fn secrets(dir: &Path) -> Result<(Counts, u64, u64, BTreeMap<String, u64>), String> {
    let text = std::fs::read_to_string(dir.join("secrets/noseyparker_rule_examples.jsonl"))
        .map_err(|e| e.to_string())?;
    let compiled = policy(serde_json::json!({
        "input_detectors": [{"detector_type": "secrets/*", "threshold": "L2", "action": "block"}]
    }))?;
    let mut positives = Counts::default();
    let (mut neg_flagged, mut neg_total) = (0, 0);
    let mut misses = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let row: SecretRow = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let flagged = !scan(&compiled, &row.text).findings.is_empty();
        if row.label == "secret" {
            if flagged {
                positives.tp += 1;
            } else {
                positives.fn_ += 1;
                *misses.entry(row.rule_name).or_insert(0) += 1;
            }
        } else {
            neg_total += 1;
            if flagged {
                neg_flagged += 1;
            }
        }
    }
    Ok((positives, neg_flagged, neg_total, misses))
}

/// One labelled prompt-attack row.
#[derive(Clone, Debug)]
pub struct AttackRow {
    /// Row id (`di-001`, or `giskard-<index>`).
    pub id: String,
    /// Category (`benign_*` for look-alikes).
    pub category: String,
    /// True for attacks.
    pub malicious: bool,
    /// The prompt.
    pub text: String,
}

#[derive(Deserialize)]
struct BastionRow {
    id: String,
    category: String,
    label: String,
    text: String,
}

/// A minimal RFC 4180 reader (quoted fields, doubled quotes, newlines inside quotes).
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// Every labelled prompt-attack row of both data sets.
pub fn attack_rows(dir: &Path) -> Result<Vec<AttackRow>, String> {
    let mut out = Vec::new();
    let bastion =
        std::fs::read_to_string(dir.join("prompt-attacks/bastioncorpus_injections.jsonl"))
            .map_err(|e| e.to_string())?;
    for line in bastion.lines().filter(|l| !l.trim().is_empty()) {
        let row: BastionRow = serde_json::from_str(line).map_err(|e| e.to_string())?;
        out.push(AttackRow {
            id: row.id,
            category: row.category,
            malicious: row.label == "malicious",
            text: row.text,
        });
    }
    let giskard = std::fs::read_to_string(dir.join("prompt-attacks/giskard_prompt_injections.csv"))
        .map_err(|e| e.to_string())?;
    let rows = parse_csv(&giskard);
    for row in rows.iter().skip(1) {
        if row.len() < 4 {
            continue;
        }
        out.push(AttackRow {
            id: format!("giskard-{}", row[0]),
            category: format!("giskard/{}", row[3]),
            malicious: true,
            text: row[1].clone(),
        });
    }
    Ok(out)
}

/// Attack results: per category (flagged, total), balanced accuracy, benign rows flagged at L2,
/// benign rows blocked under `balanced` (any detector).
pub struct AttackResults {
    /// category → (flagged at L2, rows).
    pub by_category: BTreeMap<String, (u64, u64)>,
    /// (TPR + TNR) / 2.
    pub balanced_accuracy: f64,
    /// True positive rate.
    pub tpr: f64,
    /// True negative rate.
    pub tnr: f64,
    /// Benign rows flagged as attacks at L2, by id.
    pub benign_flagged: Vec<String>,
    /// Benign rows the balanced template would block, by id and categories.
    pub benign_blocked_balanced: Vec<String>,
}

/// Runs the attack evaluation.
pub fn attacks(dir: &Path) -> Result<AttackResults, String> {
    let rows = attack_rows(dir)?;
    let compiled = policy(serde_json::json!({
        "input_detectors": [
            {"detector_type": "prompt_attack", "threshold": "L2", "action": "block"},
            {"detector_type": "jailbreak", "threshold": "L2", "action": "block"}
        ]
    }))?;
    let balanced = CompiledPolicy::compile(
        template("balanced")
            .ok_or("no balanced template")?
            .map_err(|e| e.to_string())?,
        &builtin_pack(),
    )
    .map_err(|e| e.to_string())?;
    let mut by_category: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let (mut tp, mut p, mut tn, mut n) = (0u64, 0u64, 0u64, 0u64);
    let mut benign_flagged = Vec::new();
    let mut benign_blocked_balanced = Vec::new();
    for row in &rows {
        let flagged = !scan(&compiled, &row.text).findings.is_empty();
        let entry = by_category.entry(row.category.clone()).or_default();
        entry.1 += 1;
        if flagged {
            entry.0 += 1;
        }
        if row.malicious {
            p += 1;
            tp += u64::from(flagged);
        } else {
            n += 1;
            tn += u64::from(!flagged);
            if flagged {
                benign_flagged.push(row.id.clone());
            }
            let report = scan(&balanced, &row.text);
            if report.blocked() {
                let cats: Vec<String> = report.categories().iter().map(|c| c.to_string()).collect();
                benign_blocked_balanced.push(format!("{} ({})", row.id, cats.join(", ")));
            }
        }
    }
    let tpr = ratio(tp, p);
    let tnr = ratio(tn, n);
    Ok(AttackResults {
        by_category,
        balanced_accuracy: (tpr + tnr) / 2.0,
        tpr,
        tnr,
        benign_flagged,
        benign_blocked_balanced,
    })
}

/// The prompt-attack rows through LLM classifier endpoints (a `--classifiers` file, as the
/// sensor reads it), alone and combined with the signatures the way the sensor combines them
/// (the higher confidence per type): balanced accuracy at L2, calls that failed. Rows run 16 at
/// a time; each endpoint's own `max_concurrency` still applies.
pub async fn classifier_attacks(dir: &Path, classifiers: &Path) -> Result<String, String> {
    use std::sync::Arc;

    let rows = attack_rows(dir)?;
    let configs = glitch_classify::config::load_file(classifiers).map_err(|e| e.to_string())?;
    let set = Arc::new(
        glitch_classify::ClassifierSet::new(configs, glitch_classify::SetOptions::default())
            .map_err(|e| e.to_string())?,
    );
    let signatures = policy(serde_json::json!({
        "input_detectors": [
            {"detector_type": "prompt_attack", "threshold": "L2", "action": "block"},
            {"detector_type": "jailbreak", "threshold": "L2", "action": "block"}
        ]
    }))?;
    let wanted: Vec<Arc<str>> = vec![Arc::from("prompt_attack"), Arc::from("jailbreak")];
    let threshold = glitch_detect::Level::L2.threshold();
    let mut verdicts: Vec<(bool, f32, bool)> = Vec::with_capacity(rows.len());
    let mut failures = 0u64;
    let started = std::time::Instant::now();
    for chunk in rows.chunks(16) {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, row) in chunk.iter().enumerate() {
            let plan = set.plan(&[row.text.as_str()], &wanted, &[]);
            let set = set.clone();
            tasks.spawn(async move { (i, set.run(plan).await) });
        }
        let mut results: Vec<(usize, glitch_classify::Outcome)> = Vec::new();
        while let Some(done) = tasks.join_next().await {
            results.push(done.map_err(|e| e.to_string())?);
        }
        results.sort_by_key(|(i, _)| *i);
        for (i, outcome) in results {
            let row = &chunk[i];
            failures += outcome.failures.len() as u64;
            let llm = outcome
                .scores
                .iter()
                .map(|s| s.confidence)
                .fold(0.0f32, f32::max);
            let signature = !scan(&signatures, &row.text).findings.is_empty();
            verdicts.push((row.malicious, llm, signature));
        }
    }
    let rate = |flag: &dyn Fn(f32, bool) -> bool| {
        let (mut tp, mut p, mut tn, mut n) = (0u64, 0u64, 0u64, 0u64);
        for &(malicious, llm, signature) in &verdicts {
            let flagged = flag(llm, signature);
            if malicious {
                p += 1;
                tp += u64::from(flagged);
            } else {
                n += 1;
                tn += u64::from(!flagged);
            }
        }
        let (tpr, tnr) = (ratio(tp, p), ratio(tn, n));
        ((tpr + tnr) / 2.0, tpr, tnr)
    };
    let (llm_ba, llm_tpr, llm_tnr) = rate(&|llm, _| llm >= threshold);
    let (both_ba, both_tpr, both_tnr) = rate(&|llm, sig| sig || llm >= threshold);
    let (sig_ba, sig_tpr, sig_tnr) = rate(&|_, sig| sig);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Prompt attacks through the classifiers in {} ({} rows, {:.1} s, {} failed calls)
",
        classifiers.display(),
        verdicts.len(),
        started.elapsed().as_secs_f64(),
        failures
    );
    let _ = writeln!(out, "| detectors | balanced accuracy | TPR | TNR |");
    let _ = writeln!(out, "|---|---|---|---|");
    for (name, (ba, tpr, tnr)) in [
        ("signatures", (sig_ba, sig_tpr, sig_tnr)),
        ("classifiers", (llm_ba, llm_tpr, llm_tnr)),
        ("signatures + classifiers", (both_ba, both_tpr, both_tnr)),
    ] {
        let _ = writeln!(out, "| {name} | {ba:.3} | {tpr:.3} | {tnr:.3} |");
    }
    Ok(out)
}

/// The whole report as Markdown.
pub fn report(dir: &Path) -> Result<String, String> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### PII (presidio-research synthetic set, 1,500 sentences)\n"
    );
    let _ = writeln!(
        out,
        "Precision counts findings that overlap a labelled span of any type (text outside spans is not labelled clean); \"strict\" counts every finding.\n"
    );
    let _ = writeln!(
        out,
        "| type | threshold | precision | recall | F1 | strict precision | tp | fp | fn |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for threshold in ["L3", "L2"] {
        for (ty, (c, strict)) in pii(dir, threshold)? {
            let _ = writeln!(
                out,
                "| {ty} | {threshold} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {} |",
                c.precision(),
                c.recall(),
                c.f1(),
                strict.precision(),
                c.tp,
                c.fp,
                c.fn_
            );
        }
    }
    let (pos, neg_flagged, neg_total, misses) = secrets(dir)?;
    let _ = writeln!(out, "\n### Secrets (noseyparker rule examples, at L2)\n");
    let _ = writeln!(
        out,
        "Recall on `secret` rows: **{:.3}** ({} of {}). `not_secret` rows flagged: **{:.1}%** ({} of {}).\n",
        pos.recall(),
        pos.tp,
        pos.tp + pos.fn_,
        100.0 * ratio(neg_flagged, neg_total.max(1)) * if neg_total == 0 { 0.0 } else { 1.0 },
        neg_flagged,
        neg_total
    );
    if !misses.is_empty() {
        let list: Vec<String> = misses.iter().map(|(r, n)| format!("{r} ({n})")).collect();
        let _ = writeln!(out, "Missed rows by rule: {}.\n", list.join(", "));
    }
    let a = attacks(dir)?;
    let _ = writeln!(
        out,
        "### Prompt attacks (bastioncorpus + giskard, prompt_attack or jailbreak at L2)\n"
    );
    let _ = writeln!(
        out,
        "Balanced accuracy **{:.3}** (true positive rate {:.3}, true negative rate {:.3}).\n",
        a.balanced_accuracy, a.tpr, a.tnr
    );
    let _ = writeln!(out, "| category | flagged | rows |");
    let _ = writeln!(out, "|---|---|---|");
    for (cat, (f, t)) in &a.by_category {
        let _ = writeln!(out, "| {cat} | {f} | {t} |");
    }
    let _ = writeln!(
        out,
        "\nBenign rows flagged as attacks at L2: {}.\n",
        if a.benign_flagged.is_empty() {
            "none".to_owned()
        } else {
            a.benign_flagged.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "Benign rows the `balanced` template would block (any detector): {}.",
        if a.benign_blocked_balanced.is_empty() {
            "none".to_owned()
        } else {
            a.benign_blocked_balanced.join("; ")
        }
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_reader_handles_quotes_and_newlines() {
        let rows = parse_csv("a,b\n1,\"x, \"\"y\"\"\nz\"\n2,plain\n");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], vec!["1".to_owned(), "x, \"y\"\nz".to_owned()]);
        assert_eq!(rows[2], vec!["2".to_owned(), "plain".to_owned()]);
    }

    #[test]
    fn counts_math() {
        let c = Counts {
            tp: 9,
            fp: 1,
            fn_: 1,
        };
        assert!((c.precision() - 0.9).abs() < 1e-9);
        assert!((c.recall() - 0.9).abs() < 1e-9);
        assert!((c.f1() - 0.9).abs() < 1e-9);
        assert_eq!(char_to_byte("é1", 1), 2);
    }
}
