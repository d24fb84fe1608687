//! The classifier endpoints file (`classifiers: [...]`, YAML or JSON): the serde shapes, their
//! defaults, and validation with errors that name the offending field
//! (`classifiers[1].labels: ...`). API keys are never in the file: only the name of an
//! environment variable or the path of a file that holds one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::LLM_DETECTOR_TYPES;

/// Why the classifier configuration cannot be used. Never holds key material.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read classifiers file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid YAML/JSON of the expected shape.
    #[error("invalid classifiers file {origin}: {message}")]
    Parse {
        /// The file (or `<inline>`).
        origin: String,
        /// The parser's message, with the path of the offending field.
        message: String,
    },
    /// A field has an unusable value.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, e.g. `classifiers[1].labels`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The environment variable meant to hold an endpoint's API key is not set (or empty).
    #[error(
        "classifier {endpoint:?}: environment variable {var} (api_key_env) is not set or empty"
    )]
    MissingKeyEnv {
        /// The endpoint.
        endpoint: String,
        /// The variable.
        var: String,
    },
    /// The file meant to hold an endpoint's API key cannot be read or is empty.
    #[error(
        "classifier {endpoint:?}: cannot read the API key file {path} (api_key_file): {reason}"
    )]
    KeyFile {
        /// The endpoint.
        endpoint: String,
        /// The file.
        path: PathBuf,
        /// Why (never the content).
        reason: String,
    },
    /// The key holds characters that cannot go in an HTTP header.
    #[error("classifier {endpoint:?}: the API key is not a valid HTTP header value")]
    BadKey {
        /// The endpoint.
        endpoint: String,
    },
    /// The HTTPS client could not be set up.
    #[error("cannot set up TLS for the classifier client: {0}")]
    Tls(String),
}

/// The classifiers file: `classifiers: [ ... ]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifiersFile {
    /// The endpoints, each a [`EndpointConfig`].
    #[serde(default)]
    pub classifiers: Vec<EndpointConfig>,
}

/// The wire protocol of an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// OpenAI-compatible chat completions: `POST {url}/chat/completions`.
    Openai,
    /// Anthropic Messages: `POST {url}/v1/messages`.
    Anthropic,
    /// A text-classification model (Hugging Face inference style): `POST {url}` with
    /// `{"inputs": TEXT}`, answering `[{"label","score"}]`.
    TextClassification,
}

impl BackendKind {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Openai => "openai",
            BackendKind::Anthropic => "anthropic",
            BackendKind::TextClassification => "text_classification",
        }
    }

    /// True for the chat kinds (OpenAI, Anthropic), which are prompted with instructions.
    pub fn is_chat(self) -> bool {
        matches!(self, BackendKind::Openai | BackendKind::Anthropic)
    }
}

/// Default per-call timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 2000;
/// Default in-flight calls per endpoint.
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;
/// Default window for the chat kinds, in characters.
pub const DEFAULT_CHAT_WINDOW_CHARS: usize = 8000;
/// Default window for text classification, in characters.
pub const DEFAULT_TEXT_CLASSIFICATION_WINDOW_CHARS: usize = 2000;
/// Default overlap of consecutive windows, in characters.
pub const DEFAULT_WINDOW_OVERLAP_CHARS: usize = 200;
/// Default consecutive failures that open the breaker.
pub const DEFAULT_BREAKER_FAILURES: u32 = 5;
/// Default time the breaker stays open.
pub const DEFAULT_BREAKER_OPEN_MS: u64 = 5000;

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}
fn default_max_concurrency() -> usize {
    DEFAULT_MAX_CONCURRENCY
}
fn default_window_overlap_chars() -> usize {
    DEFAULT_WINDOW_OVERLAP_CHARS
}
fn default_breaker_failures() -> u32 {
    DEFAULT_BREAKER_FAILURES
}
fn default_breaker_open_ms() -> u64 {
    DEFAULT_BREAKER_OPEN_MS
}

/// One classifier endpoint. Holds no key material (keys are resolved from `api_key_env` /
/// `api_key_file` when the [`crate::ClassifierSet`] is built).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// 1-64 characters of `[a-z0-9_-]`, unique among the endpoints.
    pub name: String,
    /// The wire protocol.
    pub kind: BackendKind,
    /// openai: base URL including `/v1`; anthropic: base URL; text_classification: the full URL.
    pub url: String,
    /// The model (required for openai and anthropic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Name of the environment variable holding the API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// File holding the API key (surrounding whitespace trimmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    /// Timeout of each HTTP call, in milliseconds (default 2000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Calls in flight to this endpoint at most (default 16).
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// Detector types served. Default: every LLM type for the chat kinds, the values of
    /// `labels` for text_classification. `family/*` (e.g. `moderated_content/*`) expands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detector_types: Vec<String>,
    /// text_classification only (required there): model label → detector type. Labels not
    /// listed (e.g. `BENIGN`) are ignored.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Window size in characters (default 8000 for chat kinds, 2000 for text_classification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_chars: Option<usize>,
    /// Overlap of consecutive windows in characters (default 200).
    #[serde(default = "default_window_overlap_chars")]
    pub window_overlap_chars: usize,
    /// Consecutive failures that open the circuit breaker (default 5).
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// How long the breaker stays open before one probe call is let through (default 5000).
    #[serde(default = "default_breaker_open_ms")]
    pub breaker_open_ms: u64,
}

impl std::fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key_env", &self.api_key_env)
            .field("api_key_file", &self.api_key_file)
            .field("timeout_ms", &self.timeout_ms)
            .field("max_concurrency", &self.max_concurrency)
            .field("detector_types", &self.detector_types)
            .field("labels", &self.labels)
            .field("window_chars", &self.window_chars)
            .field("window_overlap_chars", &self.window_overlap_chars)
            .field("breaker_failures", &self.breaker_failures)
            .field("breaker_open_ms", &self.breaker_open_ms)
            .finish()
    }
}

impl EndpointConfig {
    /// An endpoint with every optional field at its default.
    pub fn new(name: impl Into<String>, kind: BackendKind, url: impl Into<String>) -> Self {
        EndpointConfig {
            name: name.into(),
            kind,
            url: url.into(),
            model: None,
            api_key_env: None,
            api_key_file: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            detector_types: Vec::new(),
            labels: BTreeMap::new(),
            window_chars: None,
            window_overlap_chars: DEFAULT_WINDOW_OVERLAP_CHARS,
            breaker_failures: DEFAULT_BREAKER_FAILURES,
            breaker_open_ms: DEFAULT_BREAKER_OPEN_MS,
        }
    }

    /// The window size in effect.
    pub fn effective_window_chars(&self) -> usize {
        self.window_chars.unwrap_or(if self.kind.is_chat() {
            DEFAULT_CHAT_WINDOW_CHARS
        } else {
            DEFAULT_TEXT_CLASSIFICATION_WINDOW_CHARS
        })
    }
}

/// Reads, parses and validates a classifiers file (YAML or JSON). The returned endpoints have
/// their `detector_types` filled in (defaults applied, `family/*` expanded).
pub fn load_file(path: &Path) -> Result<Vec<EndpointConfig>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_str(&text, &path.display().to_string())
}

/// Parses and validates classifiers-file text (YAML or JSON); `origin` names it in errors.
pub fn parse_str(text: &str, origin: &str) -> Result<Vec<EndpointConfig>, ConfigError> {
    let file: ClassifiersFile = serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Parse {
        origin: origin.to_owned(),
        message: e.to_string(),
    })?;
    validate(file.classifiers)
}

/// Validates endpoints and normalizes their `detector_types` (defaults applied, `family/*`
/// expanded, sorted, deduplicated). Errors name the field, e.g. `classifiers[1].labels`.
pub fn validate(configs: Vec<EndpointConfig>) -> Result<Vec<EndpointConfig>, ConfigError> {
    let mut names = BTreeSet::new();
    let mut out = Vec::with_capacity(configs.len());
    for (i, mut config) in configs.into_iter().enumerate() {
        let invalid = |field: &str, message: String| ConfigError::Invalid {
            field: format!("classifiers[{i}].{field}"),
            message,
        };
        if !valid_name(&config.name) {
            return Err(invalid(
                "name",
                format!(
                    "{:?} must be 1-64 characters of a-z, 0-9, '_' and '-'",
                    config.name
                ),
            ));
        }
        if !names.insert(config.name.clone()) {
            return Err(invalid(
                "name",
                format!("{:?} is used by another classifier", config.name),
            ));
        }
        check_url(&config.url, config.kind).map_err(|m| invalid("url", m))?;
        match (&config.model, config.kind.is_chat()) {
            (None, true) => {
                return Err(invalid(
                    "model",
                    format!("required for kind {}", config.kind.as_str()),
                ));
            }
            (Some(m), true) if m.trim().is_empty() => {
                return Err(invalid("model", "must not be empty".to_owned()));
            }
            _ => {}
        }
        if config.api_key_env.is_some() && config.api_key_file.is_some() {
            return Err(invalid(
                "api_key_file",
                "set either api_key_env or api_key_file, not both".to_owned(),
            ));
        }
        if let Some(var) = &config.api_key_env
            && (var.is_empty() || var.contains('=') || var.contains('\0'))
        {
            return Err(invalid(
                "api_key_env",
                format!("{var:?} is not an environment variable name"),
            ));
        }
        if config.timeout_ms == 0 || config.timeout_ms > 600_000 {
            return Err(invalid(
                "timeout_ms",
                format!("{} must be 1..=600000", config.timeout_ms),
            ));
        }
        if config.max_concurrency == 0 || config.max_concurrency > 10_000 {
            return Err(invalid(
                "max_concurrency",
                format!("{} must be 1..=10000", config.max_concurrency),
            ));
        }
        let window = config.effective_window_chars();
        if !(16..=1_000_000).contains(&window) {
            return Err(invalid(
                "window_chars",
                format!("{window} must be 16..=1000000"),
            ));
        }
        if config.window_overlap_chars * 2 > window {
            return Err(invalid(
                "window_overlap_chars",
                format!(
                    "{} must be at most half of window_chars ({window})",
                    config.window_overlap_chars
                ),
            ));
        }
        if config.breaker_failures == 0 {
            return Err(invalid("breaker_failures", "must be at least 1".to_owned()));
        }
        if config.breaker_open_ms == 0 || config.breaker_open_ms > 3_600_000 {
            return Err(invalid(
                "breaker_open_ms",
                format!("{} must be 1..=3600000", config.breaker_open_ms),
            ));
        }
        // Labels: text_classification only, and required there.
        if config.kind.is_chat() {
            if !config.labels.is_empty() {
                return Err(invalid(
                    "labels",
                    format!(
                        "only for kind text_classification, not {}",
                        config.kind.as_str()
                    ),
                ));
            }
        } else {
            if config.labels.is_empty() {
                return Err(invalid(
                    "labels",
                    "required for kind text_classification (label -> detector type)".to_owned(),
                ));
            }
            for (label, detector_type) in &config.labels {
                if label.is_empty() {
                    return Err(invalid("labels", "a label must not be empty".to_owned()));
                }
                if !LLM_DETECTOR_TYPES.contains(&detector_type.as_str()) {
                    return Err(invalid(
                        &format!("labels.{label}"),
                        format!("{detector_type:?} is not an LLM detector type"),
                    ));
                }
            }
        }
        // Detector types: expand, default, check.
        let mut types = BTreeSet::new();
        for (j, t) in config.detector_types.iter().enumerate() {
            let expanded = expand_type(t)
                .ok_or_else(|| invalid(&format!("detector_types[{j}]"), not_llm_type(t)))?;
            types.extend(expanded);
        }
        if config.detector_types.is_empty() {
            if config.kind.is_chat() {
                types.extend(LLM_DETECTOR_TYPES.iter().map(|t| (*t).to_owned()));
            } else {
                types.extend(config.labels.values().cloned());
            }
        }
        if !config.kind.is_chat() {
            let mapped: BTreeSet<&String> = config.labels.values().collect();
            if let Some(t) = types.iter().find(|t| !mapped.contains(t)) {
                return Err(invalid(
                    "detector_types",
                    format!("{t:?} is not the value of any entry of labels"),
                ));
            }
        }
        config.detector_types = types.into_iter().collect();
        out.push(config);
    }
    Ok(out)
}

fn not_llm_type(t: &str) -> String {
    format!(
        "{t:?} is not an LLM detector type (expected one of {} or a family/*)",
        LLM_DETECTOR_TYPES.join(", ")
    )
}

/// `t` itself when it is an LLM type; every LLM type of the family for `family/*`.
fn expand_type(t: &str) -> Option<Vec<String>> {
    if let Some(family) = t.strip_suffix("/*") {
        let prefix = format!("{family}/");
        let all: Vec<String> = LLM_DETECTOR_TYPES
            .iter()
            .filter(|x| x.starts_with(&prefix))
            .map(|x| (*x).to_owned())
            .collect();
        return (!all.is_empty()).then_some(all);
    }
    LLM_DETECTOR_TYPES.contains(&t).then(|| vec![t.to_owned()])
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn check_url(url: &str, kind: BackendKind) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("{url:?} must start with http:// or https://")),
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("{url:?} has no host"));
    };
    if authority.as_str().contains('@') {
        return Err("must not carry credentials (use api_key_env or api_key_file)".to_owned());
    }
    if kind.is_chat() && uri.query().is_some() {
        return Err(format!(
            "{url:?}: a base URL for kind {} cannot have a query",
            kind.as_str()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(yaml: &str) -> String {
        match parse_str(yaml, "test.yaml") {
            Ok(c) => format!("unexpectedly valid: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_and_expansion() {
        let yaml = r#"
classifiers:
  - name: gpt
    kind: openai
    url: https://api.openai.com/v1
    model: gpt-4o-mini
    api_key_env: OPENAI_API_KEY
  - name: mod
    kind: anthropic
    url: https://api.anthropic.com
    model: claude-haiku-4-5
    detector_types: ["moderated_content/*", "jailbreak"]
  - name: pg
    kind: text_classification
    url: http://127.0.0.1:8000/classify
    labels: {INJECTION: prompt_attack, JAILBREAK: jailbreak}
"#;
        let c = parse_str(yaml, "t").unwrap();
        assert_eq!(c[0].detector_types.len(), LLM_DETECTOR_TYPES.len());
        assert_eq!(c[0].timeout_ms, 2000);
        assert_eq!(c[0].max_concurrency, 16);
        assert_eq!(c[0].effective_window_chars(), 8000);
        assert_eq!(c[0].window_overlap_chars, 200);
        assert_eq!(c[0].breaker_failures, 5);
        assert_eq!(c[0].breaker_open_ms, 5000);
        assert_eq!(c[1].detector_types.len(), 14);
        assert!(c[1].detector_types.contains(&"jailbreak".to_owned()));
        assert_eq!(c[2].detector_types, vec!["jailbreak", "prompt_attack"]);
        assert_eq!(c[2].effective_window_chars(), 2000);
        // JSON is accepted too.
        let json = r#"{"classifiers": [{"name": "a", "kind": "openai", "url": "http://x/v1", "model": "m"}]}"#;
        assert_eq!(parse_str(json, "t").unwrap().len(), 1);
    }

    #[test]
    fn errors_name_the_field() {
        let base = "classifiers:\n  - {name: ok, kind: openai, url: 'http://x/v1', model: m}\n";
        let e = err(&format!(
            "{base}  - {{name: tc, kind: text_classification, url: 'http://x/c'}}\n"
        ));
        assert!(e.contains("classifiers[1].labels"), "{e}");
        let e = err(&format!(
            "{base}  - {{name: tc, kind: text_classification, url: 'http://x/c', labels: {{A: pii/email}}}}\n"
        ));
        assert!(e.contains("classifiers[1].labels.A"), "{e}");
        let e = err(&format!(
            "{base}  - {{name: ok, kind: openai, url: 'http://x/v1', model: m}}\n"
        ));
        assert!(
            e.contains("classifiers[1].name") && e.contains("another"),
            "{e}"
        );
        let e = err("classifiers:\n  - {name: Bad, kind: openai, url: 'http://x/v1', model: m}\n");
        assert!(e.contains("classifiers[0].name"), "{e}");
        let e = err("classifiers:\n  - {name: a, kind: openai, url: 'http://x/v1'}\n");
        assert!(e.contains("classifiers[0].model"), "{e}");
        let e = err("classifiers:\n  - {name: a, kind: openai, url: 'ftp://x', model: m}\n");
        assert!(e.contains("classifiers[0].url"), "{e}");
        let e =
            err("classifiers:\n  - {name: a, kind: openai, url: 'http://u:p@x/v1', model: m}\n");
        assert!(
            e.contains("classifiers[0].url") && !e.contains("u:p"),
            "{e}"
        );
        let e = err(
            "classifiers:\n  - {name: a, kind: openai, url: 'http://x/v1', model: m, detector_types: [pii/email]}\n",
        );
        assert!(e.contains("classifiers[0].detector_types[0]"), "{e}");
        let e = err(
            "classifiers:\n  - {name: a, kind: openai, url: 'http://x/v1', model: m, window_chars: 100, window_overlap_chars: 60}\n",
        );
        assert!(e.contains("classifiers[0].window_overlap_chars"), "{e}");
        let e = err(
            "classifiers:\n  - {name: a, kind: openai, url: 'http://x/v1', model: m, timeout_ms: 0}\n",
        );
        assert!(e.contains("classifiers[0].timeout_ms"), "{e}");
        let e = err(
            "classifiers:\n  - {name: a, kind: openai, url: 'http://x/v1', model: m, max_concurrency: 0}\n",
        );
        assert!(e.contains("classifiers[0].max_concurrency"), "{e}");
        let e = err(
            "classifiers:\n  - {name: a, kind: openai, url: 'http://x/v1', model: m, api_key_env: A, api_key_file: /k}\n",
        );
        assert!(e.contains("classifiers[0].api_key_file"), "{e}");
        let e = err(
            "classifiers:\n  - {name: a, kind: openai, url: 'http://x/v1', model: m, labels: {A: jailbreak}}\n",
        );
        assert!(e.contains("classifiers[0].labels"), "{e}");
        let e = err(
            "classifiers:\n  - {name: a, kind: text_classification, url: 'http://x/c', labels: {A: jailbreak}, detector_types: [prompt_attack]}\n",
        );
        assert!(e.contains("classifiers[0].detector_types"), "{e}");
        // Unknown fields and kinds are parse errors naming where.
        let e = err(
            "classifiers:\n  - {name: a, kind: openai, url: 'http://x/v1', model: m, api_key: sk-1}\n",
        );
        assert!(e.contains("api_key") && e.contains("classifiers[0]"), "{e}");
        let e = err("classifiers:\n  - {name: a, kind: gemini, url: 'http://x/v1', model: m}\n");
        assert!(e.contains("classifiers[0].kind"), "{e}");
    }

    #[test]
    fn load_file_reports_missing_file() {
        let e = load_file(Path::new("/nonexistent/classifiers.yaml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/classifiers.yaml"));
    }
}
