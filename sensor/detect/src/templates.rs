//! The built-in policy templates of contract §4 (`strict`, `balanced`, `permissive`, `monitor`),
//! kept as JSON data in `templates/` and always valid as a `policy_id`.

use crate::policy::{Policy, PolicyError};

/// Template ids, in the order `GET /v1/policy-templates` lists them.
pub const TEMPLATE_IDS: &[&str] = &["strict", "balanced", "permissive", "monitor"];

/// The template a new project gets.
pub const DEFAULT_TEMPLATE: &str = "balanced";

const SOURCES: &[(&str, &str)] = &[
    ("strict", include_str!("../templates/strict.json")),
    ("balanced", include_str!("../templates/balanced.json")),
    ("permissive", include_str!("../templates/permissive.json")),
    ("monitor", include_str!("../templates/monitor.json")),
];

/// True when `id` names a template.
pub fn is_template_id(id: &str) -> bool {
    TEMPLATE_IDS.contains(&id)
}

/// One template by id, parsed and validated.
pub fn template(id: &str) -> Option<Result<Policy, PolicyError>> {
    SOURCES
        .iter()
        .find(|(tid, _)| *tid == id)
        .map(|(tid, json)| parse(tid, json))
}

/// All templates, parsed and validated.
pub fn all_templates() -> Result<Vec<Policy>, PolicyError> {
    SOURCES.iter().map(|(id, json)| parse(id, json)).collect()
}

fn parse(id: &str, json: &str) -> Result<Policy, PolicyError> {
    let mut policy: Policy = serde_json::from_str(json)
        .map_err(|e| PolicyError::new(format!("templates/{id}"), e.to_string()))?;
    policy.id = id.to_owned();
    policy.validate()?;
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Action;

    #[test]
    fn every_template_parses_and_validates() {
        let all = all_templates().unwrap();
        assert_eq!(all.len(), 4);
        for (policy, id) in all.iter().zip(TEMPLATE_IDS) {
            assert_eq!(&policy.id, id);
        }
        let monitor = template("monitor").unwrap().unwrap();
        assert!(
            monitor
                .input_detectors
                .iter()
                .chain(&monitor.output_detectors)
                .all(|r| r.action == Action::Log)
        );
        assert!(template("nope").is_none());
        assert!(is_template_id(DEFAULT_TEMPLATE));
    }
}
