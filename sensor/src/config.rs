//! The standalone policy file (contract §5): YAML with `policies`, `projects` and `keys`, its
//! validation as a whole, and the conversion into the config document every snapshot is built
//! from (the control plane's snapshots convert into the same document).

use std::collections::HashSet;

use glitch_detect::Policy;
use glitch_detect::templates::is_template_id;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::auth::is_well_formed_key;

/// Why a config document was rejected. The message names the offending entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// Path of the offending field, e.g. `policies[1].input_detectors[0].threshold`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A project: a team or app whose keys share one policy.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectEntry {
    /// Stable id, e.g. `proj_payments`.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// A policy id from `policies` or a template id; default `balanced`.
    #[serde(default = "default_policy_id")]
    pub policy_id: String,
}

fn default_policy_id() -> String {
    glitch_detect::templates::DEFAULT_TEMPLATE.to_owned()
}

/// A Glitch key, by hash (or, for local development only, in clear).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// Key id recorded in events (never the key itself).
    pub id: String,
    /// The project this key belongs to.
    pub project_id: String,
    /// Lowercase hex SHA-256 of the whole key string.
    #[serde(default)]
    pub key_sha256: Option<String>,
    /// The key in clear, `glitch_sk_...`: for local development only.
    #[serde(default)]
    pub key: Option<String>,
}

/// The policy file as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Policies (contract §4 objects).
    #[serde(default)]
    pub policies: Vec<Policy>,
    /// Projects.
    #[serde(default)]
    pub projects: Vec<ProjectEntry>,
    /// Keys.
    #[serde(default)]
    pub keys: Vec<KeyEntry>,
}

/// A key resolved to its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyHash {
    /// Key id.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// SHA-256 of the key.
    pub sha256: [u8; 32],
}

/// A validated config document, whatever its source.
#[derive(Clone, Debug, Default)]
pub struct ConfigDocument {
    /// Policies by id (templates are added when the snapshot is built).
    pub policies: Vec<Policy>,
    /// Projects.
    pub projects: Vec<ProjectEntry>,
    /// Keys, hashed.
    pub keys: Vec<KeyHash>,
}

impl PolicyFile {
    /// Parses YAML text.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        serde_yaml_ng::from_str(text).map_err(|e| {
            let field = e
                .location()
                .map(|l| format!("line {}, column {}", l.line(), l.column()))
                .unwrap_or_else(|| "document".into());
            ConfigError::new(field, without_quoted_values(&e.to_string()))
        })
    }

    /// Validates the whole file and resolves keys to hashes.
    pub fn into_document(self) -> Result<ConfigDocument, ConfigError> {
        let mut policy_ids = HashSet::new();
        for (i, policy) in self.policies.iter().enumerate() {
            if policy.id.is_empty() {
                return Err(ConfigError::new(format!("policies[{i}].id"), "is required"));
            }
            if is_template_id(&policy.id) {
                return Err(ConfigError::new(
                    format!("policies[{i}].id"),
                    format!(
                        "{:?} is a built-in template id; choose another id",
                        policy.id
                    ),
                ));
            }
            if !policy_ids.insert(policy.id.as_str()) {
                return Err(ConfigError::new(
                    format!("policies[{i}].id"),
                    format!("duplicate policy id {:?}", policy.id),
                ));
            }
            // Regexes are compiled (and their errors reported) when the snapshot is built, once
            // per changed policy.
            policy
                .validate_without_regexes()
                .map_err(|e| ConfigError::new(format!("policies[{i}].{}", e.field), e.message))?;
        }
        let mut project_ids = HashSet::new();
        for (i, project) in self.projects.iter().enumerate() {
            if project.id.is_empty() {
                return Err(ConfigError::new(format!("projects[{i}].id"), "is required"));
            }
            if !project_ids.insert(project.id.as_str()) {
                return Err(ConfigError::new(
                    format!("projects[{i}].id"),
                    format!("duplicate project id {:?}", project.id),
                ));
            }
            if !policy_ids.contains(project.policy_id.as_str())
                && !is_template_id(&project.policy_id)
            {
                return Err(ConfigError::new(
                    format!("projects[{i}].policy_id"),
                    format!("unknown policy {:?}", project.policy_id),
                ));
            }
        }
        let mut key_ids = HashSet::new();
        let mut hashes = HashSet::new();
        let mut keys = Vec::with_capacity(self.keys.len());
        for (i, key) in self.keys.into_iter().enumerate() {
            let field = |f: &str| format!("keys[{i}].{f}");
            if key.id.is_empty() {
                return Err(ConfigError::new(field("id"), "is required"));
            }
            if !key_ids.insert(key.id.clone()) {
                return Err(ConfigError::new(
                    field("id"),
                    format!("duplicate key id {:?}", key.id),
                ));
            }
            if !project_ids.contains(key.project_id.as_str()) {
                return Err(ConfigError::new(
                    field("project_id"),
                    format!("unknown project {:?}", key.project_id),
                ));
            }
            let sha256 = match (&key.key_sha256, &key.key) {
                (Some(hex_hash), None) => parse_sha256(hex_hash).ok_or_else(|| {
                    ConfigError::new(field("key_sha256"), "must be 64 lowercase hex characters")
                })?,
                (None, Some(clear)) => {
                    if !is_well_formed_key(clear) {
                        return Err(ConfigError::new(
                            field("key"),
                            "must look like glitch_sk_ followed by at least 16 letters, digits, '_' or '-'",
                        ));
                    }
                    Sha256::digest(clear.as_bytes()).into()
                }
                _ => {
                    return Err(ConfigError::new(
                        field("key_sha256"),
                        "exactly one of key_sha256 and key is required",
                    ));
                }
            };
            if !hashes.insert(sha256) {
                return Err(ConfigError::new(
                    field("key_sha256"),
                    "the same key appears twice",
                ));
            }
            keys.push(KeyHash {
                id: key.id,
                project_id: key.project_id,
                sha256,
            });
        }
        Ok(ConfigDocument {
            policies: self.policies,
            projects: self.projects,
            keys,
        })
    }
}

/// The parser's message with quoted values replaced by `"…"`: a value in a broken file may be a
/// key, and this message reaches logs and `/health`.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_quotes = false;
    for c in message.chars() {
        if c == '"' {
            if in_quotes {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            in_quotes = !in_quotes;
        } else if !in_quotes {
            out.push(c);
        }
    }
    out
}

impl PolicyFile {
    /// The file-shaped view of a control-plane snapshot, so both sources are validated by the
    /// same code. Policies arrive as JSON documents.
    pub fn from_snapshot(
        snapshot: &glitch_proto::config::v1::ConfigSnapshot,
    ) -> Result<Self, ConfigError> {
        let mut policies = Vec::with_capacity(snapshot.policies.len());
        for (i, policy) in snapshot.policies.iter().enumerate() {
            let mut parsed: Policy = serde_json::from_str(&policy.json).map_err(|e| {
                ConfigError::new(
                    format!("policies[{i}] ({})", policy.id),
                    without_quoted_values(&e.to_string()),
                )
            })?;
            parsed.id = policy.id.clone();
            policies.push(parsed);
        }
        let projects = snapshot
            .projects
            .iter()
            .map(|p| ProjectEntry {
                id: p.id.clone(),
                name: p.name.clone(),
                policy_id: if p.policy_id.is_empty() {
                    default_policy_id()
                } else {
                    p.policy_id.clone()
                },
            })
            .collect();
        let mut keys = Vec::with_capacity(snapshot.keys.len());
        for (i, key) in snapshot.keys.iter().enumerate() {
            if key.key_sha256.len() != 32 {
                return Err(ConfigError::new(
                    format!("keys[{i}].key_sha256"),
                    "must be 32 bytes",
                ));
            }
            keys.push(KeyEntry {
                id: key.id.clone(),
                project_id: key.project_id.clone(),
                key_sha256: Some(hex::encode(&key.key_sha256)),
                key: None,
            });
        }
        Ok(PolicyFile {
            policies,
            projects,
            keys,
        })
    }
}

/// Parses a lowercase hex SHA-256.
pub fn parse_sha256(hex_hash: &str) -> Option<[u8; 32]> {
    if hex_hash.len() != 64 || hex_hash.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_hash, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
policies:
  - id: pol_team
    name: Team policy
    input_detectors:
      - {detector_type: prompt_attack, threshold: L2, action: block}
    custom_detectors:
      - {name: project_codename, pattern: "(?i)\\bbluebird\\b", action: block}
projects:
  - {id: proj_a, name: A, policy_id: pol_team}
  - {id: proj_b, name: B, policy_id: strict}
  - {id: proj_c, name: C}
keys:
  - {id: key_a, project_id: proj_a, key: glitch_sk_local_development_key_a}
  - {id: key_b, project_id: proj_b, key_sha256: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"}
"#;

    #[test]
    fn good_file_becomes_a_document() {
        let doc = PolicyFile::from_yaml(GOOD)
            .unwrap()
            .into_document()
            .unwrap();
        assert_eq!(doc.projects.len(), 3);
        assert_eq!(doc.projects[2].policy_id, "balanced");
        let expected: [u8; 32] = Sha256::digest(b"glitch_sk_local_development_key_a").into();
        assert_eq!(doc.keys[0].sha256, expected);
        assert_eq!(doc.keys[1].sha256[0], 0x5e);
    }

    fn error_of(yaml: &str) -> ConfigError {
        match PolicyFile::from_yaml(yaml) {
            Ok(file) => file.into_document().unwrap_err(),
            Err(e) => e,
        }
    }

    #[test]
    fn bad_files_name_the_field() {
        assert_eq!(
            error_of("projects: [{id: p, policy_id: nope}]").field,
            "projects[0].policy_id"
        );
        assert_eq!(
            error_of("projects: [{id: p}]\nkeys: [{id: k, project_id: q, key: glitch_sk_aaaaaaaaaaaaaaaaaaaa}]").field,
            "keys[0].project_id"
        );
        assert_eq!(
            error_of("projects: [{id: p}]\nkeys: [{id: k, project_id: p, key_sha256: ABC}]").field,
            "keys[0].key_sha256"
        );
        assert_eq!(
            error_of("projects: [{id: p}]\nkeys: [{id: k, project_id: p, key: not_a_glitch_key}]")
                .field,
            "keys[0].key"
        );
        assert_eq!(
            error_of("policies: [{id: pol, input_detectors: [{detector_type: nope}]}]").field,
            "policies[0].input_detectors[0].detector_type"
        );
        assert_eq!(
            error_of("policies: [{id: balanced}]").field,
            "policies[0].id"
        );
        assert!(
            error_of("projects: [{id: p, bogus: 1}]")
                .message
                .contains("bogus")
        );
        assert!(error_of("projects: [").field.starts_with("line"));
        assert_eq!(
            error_of("projects: [{id: p}, {id: p}]").field,
            "projects[1].id"
        );
    }
}
