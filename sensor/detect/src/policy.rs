//! The policy model of contract §4 (detector rules with threshold and action, allow/deny lists,
//! custom detectors, rate limits) with whole-document validation. Serde types only: compiling a
//! policy into something that scans lives in `engine`.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Threshold levels of contract §3: a detector triggers when its confidence is at or over the
/// level's threshold.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Level {
    /// 0.90, "Confident".
    L1,
    /// 0.75, "Very likely" (the default).
    #[default]
    L2,
    /// 0.50, "Likely".
    L3,
    /// 0.25, "Less likely".
    L4,
}

impl Level {
    /// The minimum confidence that triggers at this level.
    pub fn threshold(self) -> f32 {
        match self {
            Level::L1 => 0.90,
            Level::L2 => 0.75,
            Level::L3 => 0.50,
            Level::L4 => 0.25,
        }
    }

    /// The strictest level a confidence reaches, if any.
    pub fn for_confidence(confidence: f32) -> Option<Level> {
        [Level::L1, Level::L2, Level::L3, Level::L4]
            .into_iter()
            .find(|level| confidence >= level.threshold())
    }

    /// "L1".."L4".
    pub fn as_str(self) -> &'static str {
        match self {
            Level::L1 => "L1",
            Level::L2 => "L2",
            Level::L3 => "L3",
            Level::L4 => "L4",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a triggered detector does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Refuse the request with a 403.
    #[default]
    Block,
    /// Record the finding in the event only.
    Log,
    /// Record it and notify the alert sink.
    Alert,
}

impl Action {
    /// "block" | "log" | "alert".
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Block => "block",
            Action::Log => "log",
            Action::Alert => "alert",
        }
    }
}

/// What the request does when the LLM classifier stage fails (an endpoint errors, times out,
/// has its circuit breaker open, or the whole stage runs past `llm_budget_ms`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmFailure {
    /// Forward the request on the signature verdict alone and record the failure in the event.
    #[default]
    Open,
    /// Refuse the request with a 403.
    Closed,
}

impl LlmFailure {
    /// "open" | "closed".
    pub fn as_str(self) -> &'static str {
        match self {
            LlmFailure::Open => "open",
            LlmFailure::Closed => "closed",
        }
    }
}

/// Whether requests wait for the LLM classifier stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmMode {
    /// The request waits for the verdict, at most `llm_budget_ms`.
    #[default]
    Sync,
    /// The request is forwarded at once; the verdict arrives in a follow-up event (and an alert
    /// when a rule would have triggered). Zero added latency, nothing blocked by a classifier.
    Async,
}

impl LlmMode {
    /// "sync" | "async".
    pub fn as_str(self) -> &'static str {
        match self {
            LlmMode::Sync => "sync",
            LlmMode::Async => "async",
        }
    }
}

/// Which directions a policy scans.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyMode {
    /// Input and output.
    #[default]
    IO,
    /// Input only.
    I,
    /// Output only.
    O,
}

impl PolicyMode {
    /// True when requests are scanned.
    pub fn scans_input(self) -> bool {
        matches!(self, PolicyMode::IO | PolicyMode::I)
    }
    /// True when responses are scanned.
    pub fn scans_output(self) -> bool {
        matches!(self, PolicyMode::IO | PolicyMode::O)
    }
}

/// One built-in detector (or a `family/*` wildcard) with its threshold and action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorRule {
    /// A detector type of contract §3 (e.g. `pii/email`) or a family wildcard (`secrets/*`).
    pub detector_type: String,
    /// Minimum level that triggers; default `L2`.
    #[serde(default)]
    pub threshold: Level,
    /// What a trigger does; default `block`.
    #[serde(default)]
    pub action: Action,
}

/// How list entries are matched against a URL's host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    /// The host equals the entry.
    #[default]
    Exact,
    /// `*` in the entry matches any run of characters (`*.example.com`).
    Wildcard,
}

/// An allow or deny list of hosts for `unknown_links`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchList {
    /// Host names or patterns.
    #[serde(default)]
    pub entries: Vec<String>,
    /// How entries match; default `exact`.
    #[serde(default)]
    pub match_type: MatchType,
}

/// Which direction a custom detector applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Requests only (the default).
    #[default]
    Input,
    /// Responses only.
    Output,
    /// Both.
    Both,
}

impl Scope {
    /// True when this scope covers the direction.
    pub fn covers(self, direction: crate::Direction) -> bool {
        matches!(
            (self, direction),
            (Scope::Both, _)
                | (Scope::Input, crate::Direction::Input)
                | (Scope::Output, crate::Direction::Output)
        )
    }
}

/// A user regex reported as `custom/<name>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDetector {
    /// Lowercase letters, digits, `_` and `-`; unique within the policy.
    pub name: String,
    /// A Rust `regex` pattern (no look-around or back-references), at most 4,096 bytes.
    pub pattern: String,
    /// Minimum level that triggers; default `L2`.
    #[serde(default)]
    pub threshold: Level,
    /// What a match does; default `block`.
    #[serde(default)]
    pub action: Action,
    /// `input` (default), `output` or `both`.
    #[serde(default)]
    pub scope: Scope,
    /// Confidence reported for a match, in [0, 1]; default 1.0.
    #[serde(default = "default_custom_confidence")]
    pub confidence: f32,
}

fn default_custom_confidence() -> f32 {
    1.0
}

/// Per-project limits enforced by the sensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Off by default.
    #[serde(default)]
    pub enabled: bool,
    /// Requests per minute per project (and per sensor).
    #[serde(default = "default_rpm")]
    pub requests_per_minute: u32,
    /// Estimated input tokens per minute per project (and per sensor).
    #[serde(default = "default_tpm")]
    pub tokens_per_minute: u64,
    /// Largest estimated input of one request.
    #[serde(default = "default_max_input_tokens")]
    pub max_input_tokens: u64,
}

fn default_rpm() -> u32 {
    60
}
fn default_tpm() -> u64 {
    100_000
}
fn default_max_input_tokens() -> u64 {
    200_000
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            enabled: false,
            requests_per_minute: default_rpm(),
            tokens_per_minute: default_tpm(),
            max_input_tokens: default_max_input_tokens(),
        }
    }
}

/// A whole policy document (contract §4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// `pol_...`, or a template id. Given by the file or the control plane.
    #[serde(default)]
    pub id: String,
    /// Human-readable name.
    #[serde(default)]
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `IO` (default), `I` or `O`.
    #[serde(default)]
    pub policy_mode: PolicyMode,
    /// Rules applied to requests.
    #[serde(default)]
    pub input_detectors: Vec<DetectorRule>,
    /// Rules applied to responses.
    #[serde(default)]
    pub output_detectors: Vec<DetectorRule>,
    /// Hosts that `unknown_links` never reports.
    #[serde(default)]
    pub allow_list: MatchList,
    /// Hosts that `unknown_links` always reports with full confidence.
    #[serde(default)]
    pub deny_list: MatchList,
    /// User regexes.
    #[serde(default)]
    pub custom_detectors: Vec<CustomDetector>,
    /// Per-project limits.
    #[serde(default)]
    pub rate_limits: RateLimits,
    /// How long a request may wait for the LLM classifiers, in milliseconds (default 800).
    /// Fields at their defaults are left out when a policy is written, so a policy that uses no
    /// classifier feature stays readable by sensors older than these fields.
    #[serde(
        default = "default_llm_budget_ms",
        skip_serializing_if = "is_default_llm_budget"
    )]
    pub llm_budget_ms: u32,
    /// What a failed or late classifier stage does: `open` (default) or `closed`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub llm_failure: LlmFailure,
    /// `sync` (default: wait within the budget) or `async` (never wait; follow-up event).
    #[serde(default, skip_serializing_if = "is_default")]
    pub llm_mode: LlmMode,
    /// Names of the sensor's classifier endpoints this policy uses; empty means every endpoint
    /// the sensor has configured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub llm_classifiers: Vec<String>,
}

/// Default of `llm_budget_ms`.
pub const DEFAULT_LLM_BUDGET_MS: u32 = 800;
/// Largest `llm_budget_ms` accepted.
pub const MAX_LLM_BUDGET_MS: u32 = 60_000;
/// Most entries in `llm_classifiers`.
pub const MAX_LLM_CLASSIFIERS: usize = 16;

fn default_llm_budget_ms() -> u32 {
    DEFAULT_LLM_BUDGET_MS
}

fn is_default_llm_budget(ms: &u32) -> bool {
    *ms == DEFAULT_LLM_BUDGET_MS
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// A validation failure naming the offending field, e.g. `input_detectors[2].threshold`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    /// Path of the field inside the policy document.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl PolicyError {
    /// A new error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        PolicyError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Detector families of contract §3.
pub const FAMILIES: &[&str] = &[
    "prompt_attack",
    "jailbreak",
    "pii",
    "secrets",
    "moderated_content",
    "unknown_links",
];

/// Detector types with a fixed name served by signatures only (secrets are `secrets/<provider>`,
/// see [`is_known_detector_type`]; the types classifiers serve are
/// [`LLM_DETECTOR_TYPES`](crate::llm::LLM_DETECTOR_TYPES)).
pub const SIGNATURE_DETECTOR_TYPES: &[&str] = &[
    "unknown_links",
    "pii/email",
    "pii/credit_card",
    "pii/us_social_security_number",
    "pii/phone_number",
    "pii/ip_address",
    "pii/iban_code",
];

/// Families whose detector types take a `/<name>` and so can be used as `family/*`.
const WILDCARD_FAMILIES: &[&str] = &["pii", "secrets", "moderated_content"];

/// True for a detector type a rule may name: a fixed type, `secrets/<provider>` (lowercase
/// letters, digits and `_`), or a `family/*` wildcard.
pub fn is_known_detector_type(detector_type: &str) -> bool {
    if SIGNATURE_DETECTOR_TYPES.contains(&detector_type)
        || crate::llm::LLM_DETECTOR_TYPES.contains(&detector_type)
    {
        return true;
    }
    if let Some(family) = detector_type.strip_suffix("/*") {
        return WILDCARD_FAMILIES.contains(&family);
    }
    if let Some(provider) = detector_type.strip_prefix("secrets/") {
        return is_identifier(provider, 64);
    }
    false
}

fn is_identifier(s: &str, max_len: usize) -> bool {
    !s.is_empty()
        && s.len() <= max_len
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Largest custom pattern accepted, in bytes.
pub const MAX_CUSTOM_PATTERN_BYTES: usize = 4096;
/// Compiled-size limit for one custom regex.
pub const MAX_CUSTOM_REGEX_SIZE: usize = 1 << 20;
/// Most custom detectors one policy may have.
pub const MAX_CUSTOM_DETECTORS: usize = 200;
/// Most entries in one allow or deny list.
pub const MAX_LIST_ENTRIES: usize = 10_000;

impl Policy {
    /// Checks the whole document; the first problem found is returned with its field path.
    pub fn validate(&self) -> Result<(), PolicyError> {
        self.validate_checked(true)
    }

    /// Everything [`validate`](Self::validate) checks except compiling the custom regexes (for
    /// callers that compile them right after, e.g. `CompiledPolicy::compile`, which reports the
    /// same errors).
    pub fn validate_without_regexes(&self) -> Result<(), PolicyError> {
        self.validate_checked(false)
    }

    fn validate_checked(&self, compile_regexes: bool) -> Result<(), PolicyError> {
        if self.name.len() > 200 {
            return Err(PolicyError::new("name", "must be at most 200 bytes"));
        }
        validate_rules("input_detectors", &self.input_detectors)?;
        validate_rules("output_detectors", &self.output_detectors)?;
        validate_list("allow_list", &self.allow_list)?;
        validate_list("deny_list", &self.deny_list)?;
        if self.custom_detectors.len() > MAX_CUSTOM_DETECTORS {
            return Err(PolicyError::new(
                "custom_detectors",
                format!("at most {MAX_CUSTOM_DETECTORS} custom detectors"),
            ));
        }
        let mut names = HashSet::new();
        for (i, custom) in self.custom_detectors.iter().enumerate() {
            let field = |name: &str| format!("custom_detectors[{i}].{name}");
            let name_ok = !custom.name.is_empty()
                && custom.name.len() <= 64
                && custom.name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !name_ok {
                return Err(PolicyError::new(
                    field("name"),
                    "must be 1-64 characters of a-z, 0-9, '_' and '-'",
                ));
            }
            if !names.insert(custom.name.as_str()) {
                return Err(PolicyError::new(
                    field("name"),
                    format!("duplicate custom detector name {:?}", custom.name),
                ));
            }
            if compile_regexes {
                compile_custom_pattern(&custom.pattern)
                    .map_err(|m| PolicyError::new(field("pattern"), m))?;
            }
            if !(0.0..=1.0).contains(&custom.confidence) || custom.confidence.is_nan() {
                return Err(PolicyError::new(
                    field("confidence"),
                    "must be between 0 and 1",
                ));
            }
        }
        if self.llm_budget_ms == 0 || self.llm_budget_ms > MAX_LLM_BUDGET_MS {
            return Err(PolicyError::new(
                "llm_budget_ms",
                format!("must be between 1 and {MAX_LLM_BUDGET_MS}"),
            ));
        }
        if self.llm_classifiers.len() > MAX_LLM_CLASSIFIERS {
            return Err(PolicyError::new(
                "llm_classifiers",
                format!("at most {MAX_LLM_CLASSIFIERS} classifier names"),
            ));
        }
        let mut classifier_names = HashSet::new();
        for (i, name) in self.llm_classifiers.iter().enumerate() {
            let name_ok = !name.is_empty()
                && name.len() <= 64
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !name_ok {
                return Err(PolicyError::new(
                    format!("llm_classifiers[{i}]"),
                    "must be 1-64 characters of a-z, 0-9, '_' and '-'",
                ));
            }
            if !classifier_names.insert(name.as_str()) {
                return Err(PolicyError::new(
                    format!("llm_classifiers[{i}]"),
                    format!("duplicate classifier name {name:?}"),
                ));
            }
        }
        let limits = &self.rate_limits;
        if limits.enabled {
            if limits.requests_per_minute == 0 {
                return Err(PolicyError::new(
                    "rate_limits.requests_per_minute",
                    "must be at least 1 when rate limits are enabled",
                ));
            }
            if limits.tokens_per_minute == 0 {
                return Err(PolicyError::new(
                    "rate_limits.tokens_per_minute",
                    "must be at least 1 when rate limits are enabled",
                ));
            }
            if limits.max_input_tokens == 0 {
                return Err(PolicyError::new(
                    "rate_limits.max_input_tokens",
                    "must be at least 1 when rate limits are enabled",
                ));
            }
        }
        Ok(())
    }
}

/// Compiles a custom detector's pattern with the size limits every policy is held to.
pub fn compile_custom_pattern(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.is_empty() {
        return Err("must not be empty".into());
    }
    if pattern.len() > MAX_CUSTOM_PATTERN_BYTES {
        return Err(format!("must be at most {MAX_CUSTOM_PATTERN_BYTES} bytes"));
    }
    let regex = regex::RegexBuilder::new(pattern)
        .size_limit(MAX_CUSTOM_REGEX_SIZE)
        .dfa_size_limit(MAX_CUSTOM_REGEX_SIZE)
        .build()
        .map_err(|e| format!("invalid regex: {}", first_line(&e.to_string())))?;
    if regex.is_match("") {
        return Err("must not match the empty string".into());
    }
    Ok(regex)
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn validate_rules(list: &str, rules: &[DetectorRule]) -> Result<(), PolicyError> {
    let mut seen = HashSet::new();
    for (i, rule) in rules.iter().enumerate() {
        let field = format!("{list}[{i}].detector_type");
        if rule.detector_type.starts_with("custom/") {
            return Err(PolicyError::new(
                field,
                "custom detectors are configured under custom_detectors",
            ));
        }
        if !is_known_detector_type(&rule.detector_type) {
            return Err(PolicyError::new(
                field,
                format!("unknown detector type {:?}", rule.detector_type),
            ));
        }
        if !seen.insert(rule.detector_type.as_str()) {
            return Err(PolicyError::new(
                field,
                format!("detector type {:?} appears twice", rule.detector_type),
            ));
        }
    }
    Ok(())
}

fn validate_list(name: &str, list: &MatchList) -> Result<(), PolicyError> {
    if list.entries.len() > MAX_LIST_ENTRIES {
        return Err(PolicyError::new(
            format!("{name}.entries"),
            format!("at most {MAX_LIST_ENTRIES} entries"),
        ));
    }
    for (i, entry) in list.entries.iter().enumerate() {
        let field = format!("{name}.entries[{i}]");
        if entry.is_empty() || entry.len() > 253 {
            return Err(PolicyError::new(field, "must be 1-253 characters"));
        }
        let allowed =
            |c: char| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']');
        let star_ok = list.match_type == MatchType::Wildcard;
        if let Some(bad) = entry
            .chars()
            .find(|&c| !(allowed(c) || (star_ok && c == '*')))
        {
            let hint = if bad == '*' {
                " ('*' needs match_type wildcard)"
            } else {
                ""
            };
            return Err(PolicyError::new(
                field,
                format!("{entry:?} is not a host name or pattern: unexpected {bad:?}{hint}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: &str) -> Policy {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn contract_example_parses_and_validates() {
        let p = policy(
            r#"{"id": "pol_1", "name": "Balanced Security", "policy_mode": "IO",
             "input_detectors":  [{"detector_type": "prompt_attack", "threshold": "L2", "action": "block"},
                                  {"detector_type": "pii/credit_card", "threshold": "L1", "action": "block"},
                                  {"detector_type": "secrets/*", "threshold": "L2", "action": "block"}],
             "output_detectors": [{"detector_type": "secrets/*", "threshold": "L2", "action": "log"}],
             "allow_list": {"entries": ["*.example.com"], "match_type": "wildcard"},
             "deny_list":  {"entries": [], "match_type": "exact"},
             "custom_detectors": [{"name": "project_codename", "pattern": "(?i)\\bbluebird\\b",
                                   "threshold": "L2", "action": "block", "scope": "input"}],
             "rate_limits": {"enabled": false, "requests_per_minute": 60, "tokens_per_minute": 100000,
                             "max_input_tokens": 200000}}"#,
        );
        p.validate().unwrap();
        assert_eq!(p.input_detectors[1].threshold, Level::L1);
        assert_eq!(p.custom_detectors[0].confidence, 1.0);
    }

    #[test]
    fn llm_fields_default_parse_and_validate() {
        let p = policy(r#"{"name": "x"}"#);
        assert_eq!(p.llm_budget_ms, DEFAULT_LLM_BUDGET_MS);
        assert_eq!(p.llm_failure, LlmFailure::Open);
        assert_eq!(p.llm_mode, LlmMode::Sync);
        assert!(p.llm_classifiers.is_empty());
        let p = policy(
            r#"{"llm_budget_ms": 250, "llm_failure": "closed", "llm_mode": "async",
                "llm_classifiers": ["guard", "judge-1"]}"#,
        );
        p.validate().unwrap();
        assert_eq!(p.llm_failure, LlmFailure::Closed);
        assert_eq!(p.llm_mode, LlmMode::Async);
        // Serialized and read back unchanged (the control plane stores policies as JSON).
        let again: Policy = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(again, p);
        // A policy that uses no classifier field is written without them (older sensors, which
        // reject unknown fields, still accept it).
        let plain = serde_json::to_value(policy(r#"{"name": "x"}"#)).unwrap();
        for field in [
            "llm_budget_ms",
            "llm_failure",
            "llm_mode",
            "llm_classifiers",
        ] {
            assert!(plain.get(field).is_none(), "{field} written at its default");
        }
        for (json, field) in [
            (r#"{"llm_budget_ms": 0}"#, "llm_budget_ms"),
            (r#"{"llm_budget_ms": 60001}"#, "llm_budget_ms"),
            (r#"{"llm_classifiers": ["Bad Name"]}"#, "llm_classifiers[0]"),
            (r#"{"llm_classifiers": ["a", "a"]}"#, "llm_classifiers[1]"),
        ] {
            assert_eq!(policy(json).validate().unwrap_err().field, field, "{json}");
        }
        assert!(serde_json::from_str::<Policy>(r#"{"llm_failure": "sometimes"}"#).is_err());
        assert!(serde_json::from_str::<Policy>(r#"{"llm_mode": "later"}"#).is_err());
    }

    #[test]
    fn levels_map_to_thresholds() {
        assert_eq!(Level::for_confidence(0.95), Some(Level::L1));
        assert_eq!(Level::for_confidence(0.75), Some(Level::L2));
        assert_eq!(Level::for_confidence(0.5), Some(Level::L3));
        assert_eq!(Level::for_confidence(0.25), Some(Level::L4));
        assert_eq!(Level::for_confidence(0.1), None);
    }

    #[test]
    fn unknown_fields_and_levels_are_rejected() {
        assert!(serde_json::from_str::<Policy>(r#"{"name":"x","bogus":1}"#).is_err());
        assert!(
            serde_json::from_str::<Policy>(
                r#"{"input_detectors":[{"detector_type":"jailbreak","threshold":"L5"}]}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<Policy>(
                r#"{"input_detectors":[{"detector_type":"jailbreak","action":"drop"}]}"#
            )
            .is_err()
        );
    }

    #[test]
    fn validation_names_the_field() {
        let p = policy(
            r#"{"input_detectors":[{"detector_type":"jailbreak"},{"detector_type":"pii/shoe_size"}]}"#,
        );
        let err = p.validate().unwrap_err();
        assert_eq!(err.field, "input_detectors[1].detector_type");

        let p =
            policy(r#"{"output_detectors":[{"detector_type":"pii/*"},{"detector_type":"pii/*"}]}"#);
        assert_eq!(
            p.validate().unwrap_err().field,
            "output_detectors[1].detector_type"
        );

        let p = policy(r#"{"custom_detectors":[{"name":"ok","pattern":"(unclosed"}]}"#);
        assert_eq!(
            p.validate().unwrap_err().field,
            "custom_detectors[0].pattern"
        );

        let p = policy(r#"{"custom_detectors":[{"name":"Bad Name","pattern":"x"}]}"#);
        assert_eq!(p.validate().unwrap_err().field, "custom_detectors[0].name");

        let p = policy(
            r#"{"custom_detectors":[{"name":"a","pattern":"x"},{"name":"a","pattern":"y"}]}"#,
        );
        assert_eq!(p.validate().unwrap_err().field, "custom_detectors[1].name");

        let p = policy(r#"{"custom_detectors":[{"name":"empty","pattern":"a*"}]}"#);
        assert_eq!(
            p.validate().unwrap_err().field,
            "custom_detectors[0].pattern"
        );

        let p = policy(r#"{"allow_list":{"entries":["*.example.com"],"match_type":"exact"}}"#);
        assert_eq!(p.validate().unwrap_err().field, "allow_list.entries[0]");

        let p = policy(r#"{"deny_list":{"entries":["evil .com"]}}"#);
        assert_eq!(p.validate().unwrap_err().field, "deny_list.entries[0]");

        let p = policy(r#"{"rate_limits":{"enabled":true,"requests_per_minute":0}}"#);
        assert_eq!(
            p.validate().unwrap_err().field,
            "rate_limits.requests_per_minute"
        );
    }

    #[test]
    fn huge_regexes_are_refused() {
        let pattern = format!("(?:{}){{1000}}", "\\w{50}");
        assert!(compile_custom_pattern(&pattern).is_err());
        assert!(compile_custom_pattern(&"a".repeat(MAX_CUSTOM_PATTERN_BYTES + 1)).is_err());
    }

    #[test]
    fn known_detector_types() {
        for t in [
            "prompt_attack",
            "secrets/*",
            "pii/*",
            "moderated_content/*",
            "secrets/github_token",
            "pii/iban_code",
        ] {
            assert!(is_known_detector_type(t), "{t}");
        }
        for t in [
            "prompt_attack/*",
            "secrets/",
            "secrets/Has-Caps",
            "pii/whatever",
            "custom/x",
            "*",
        ] {
            assert!(!is_known_detector_type(t), "{t}");
        }
    }
}
