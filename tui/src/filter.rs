//! The filters every view shares: project, path, detector type, decision, time range, blocked
//! only, and the session-id search. Which of them the audit API applies and which the console
//! applies to rows it already has, the query parameters they become, and the one-line summary the
//! header shows. The filter editor that changes them lives in `components::filters`.

use crate::api::model::{EventSummary, SessionRow};
use crate::time::{format_rfc3339, parse_bound};

/// The path filter the console starts with.
pub const DEFAULT_PATH: &str = "/v1/messages";

/// The decisions the gateway records.
pub const DECISIONS: [&str; 5] = ["allowed", "blocked", "flagged", "auth_failed", "error"];

/// The filters, as typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filters {
    /// Exact project id, or empty for all.
    pub project: String,
    /// Exact request path, or empty for all.
    pub path: String,
    /// Detector type: exact (`pii/email`) or a family (`secrets/*`); empty for all.
    pub detector: String,
    /// One of [`DECISIONS`], or empty.
    pub decision: String,
    /// Start of the time range: `24h`, `7d`, a date or an RFC 3339 time; empty for none.
    pub since: String,
    /// End of the time range, same forms.
    pub until: String,
    /// Only blocked requests, and sessions with at least one.
    pub blocked_only: bool,
    /// Case-insensitive substring of the session id.
    pub search: String,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            project: String::new(),
            path: DEFAULT_PATH.to_owned(),
            detector: String::new(),
            decision: String::new(),
            since: String::new(),
            until: String::new(),
            blocked_only: false,
            search: String::new(),
        }
    }
}

/// `(name, value)` query parameters, empty values left out.
pub type Params = Vec<(&'static str, String)>;

fn push(params: &mut Params, name: &'static str, value: &str) {
    let value = value.trim();
    if !value.is_empty() {
        params.push((name, value.to_owned()));
    }
}

impl Filters {
    /// Checks every field; `Err` names the first bad one.
    pub fn validate(&self, now: i64) -> Result<(), String> {
        let decision = self.decision.trim();
        if !decision.is_empty() && !DECISIONS.contains(&decision) {
            return Err(format!(
                "decision must be one of {}, got {decision:?}",
                DECISIONS.join(", ")
            ));
        }
        let since = self.since_ms(now)?;
        let until = self.until_ms(now)?;
        if let (Some(s), Some(u)) = (since, until)
            && s > u
        {
            return Err("the time range ends before it starts".to_owned());
        }
        Ok(())
    }

    fn bound(text: &str, now: i64) -> Result<Option<i64>, String> {
        if text.trim().is_empty() {
            Ok(None)
        } else {
            parse_bound(text, now).map(Some)
        }
    }

    /// The start of the time range, resolved against `now`.
    pub fn since_ms(&self, now: i64) -> Result<Option<i64>, String> {
        Self::bound(&self.since, now)
    }

    /// The end of the time range, resolved against `now`.
    pub fn until_ms(&self, now: i64) -> Result<Option<i64>, String> {
        Self::bound(&self.until, now)
    }

    /// A detector filter that names a family (`secrets/*` or `secrets/`): the API matches only
    /// exact types, so the console matches these itself.
    pub fn detector_prefix(&self) -> Option<&str> {
        let d = self.detector.trim();
        d.strip_suffix('*')
            .or_else(|| d.ends_with('/').then_some(d))
    }

    /// Whether the home view must be built from matching events rather than from
    /// `GET /v1/sessions` (which knows nothing of detectors and decisions).
    pub fn needs_event_scan(&self) -> bool {
        !self.detector.trim().is_empty() || !self.decision.trim().is_empty()
    }

    /// Whether a change from `self` to `other` changes what must be asked of the API (the
    /// search does not: it is applied to rows already loaded).
    pub fn same_query(&self, other: &Filters) -> bool {
        Filters {
            search: String::new(),
            ..self.clone()
        } == Filters {
            search: String::new(),
            ..other.clone()
        }
    }

    fn window(&self, params: &mut Params, now: i64) {
        if let Ok(Some(s)) = self.since_ms(now) {
            params.push(("since", format_rfc3339(s)));
        }
        if let Ok(Some(u)) = self.until_ms(now) {
            params.push(("until", format_rfc3339(u)));
        }
    }

    /// Parameters of `GET /v1/sessions`.
    pub fn session_params(&self, now: i64) -> Params {
        let mut p = Params::new();
        push(&mut p, "project_id", &self.project);
        self.window(&mut p, now);
        if self.blocked_only {
            p.push(("blocked", "true".to_owned()));
        }
        p
    }

    /// Parameters of `GET /v1/events` (the home view's event scan).
    pub fn event_params(&self, now: i64) -> Params {
        let mut p = Params::new();
        push(&mut p, "project_id", &self.project);
        push(&mut p, "path", &self.path);
        if self.detector_prefix().is_none() {
            push(&mut p, "detector_type", &self.detector);
        }
        let decision = self.decision.trim();
        if decision.is_empty() && self.blocked_only {
            p.push(("decision", "blocked".to_owned()));
        } else {
            push(&mut p, "decision", decision);
        }
        self.window(&mut p, now);
        p
    }

    /// Whether an event passes every event filter (the session view filters its rows with this,
    /// and the home view's event scan too, for what the API could not filter).
    pub fn matches_event(&self, e: &EventSummary, now: i64) -> bool {
        let path = self.path.trim();
        if !path.is_empty() && e.path != path {
            return false;
        }
        let decision = self.decision.trim();
        if !decision.is_empty() && e.decision != decision {
            return false;
        }
        if self.blocked_only && !e.is_blocked() {
            return false;
        }
        let detector = self.detector.trim();
        if !detector.is_empty() {
            let hit = match self.detector_prefix() {
                Some(prefix) => e
                    .findings
                    .iter()
                    .any(|f| f.detector_type.starts_with(prefix)),
                None => e.findings.iter().any(|f| f.detector_type == detector),
            };
            if !hit {
                return false;
            }
        }
        let project = self.project.trim();
        if !project.is_empty() && e.project_id != project {
            return false;
        }
        if let (Ok(Some(since)), Some(t)) = (self.since_ms(now), e.time)
            && t < since
        {
            return false;
        }
        if let (Ok(Some(until)), Some(t)) = (self.until_ms(now), e.time)
            && t > until
        {
            return false;
        }
        true
    }

    /// Whether a session row passes the search (and blocked only, for rows built from events).
    pub fn matches_session(&self, s: &SessionRow) -> bool {
        if self.blocked_only && s.blocked == 0 {
            return false;
        }
        let needle = self.search.trim();
        needle.is_empty() || s.session_id.to_lowercase().contains(&needle.to_lowercase())
    }

    /// The header's summary: `path=/v1/messages  blocked only  detector=secrets/*  since 24h`.
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut add = |label: &'static str, v: &str| {
            let v = v.trim();
            if !v.is_empty() {
                out.push((label, v.to_owned()));
            }
        };
        add("project", &self.project);
        add(
            "path",
            if self.path.trim().is_empty() {
                "any"
            } else {
                &self.path
            },
        );
        add("detector", &self.detector);
        add("decision", &self.decision);
        add("since", &self.since);
        add("until", &self.until);
        if self.blocked_only {
            out.push(("blocked only", String::new()));
        }
        let search = self.search.trim();
        if !search.is_empty() {
            out.push(("search", format!("\"{search}\"")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::FindingSummary;

    fn event(path: &str, decision: &str, detectors: &[&str]) -> EventSummary {
        EventSummary {
            path: path.into(),
            decision: decision.into(),
            findings: detectors
                .iter()
                .map(|d| FindingSummary {
                    detector_type: (*d).into(),
                    action: "block".into(),
                })
                .collect(),
            time: Some(1_000_000),
            ..EventSummary::default()
        }
    }

    #[test]
    fn event_filters() {
        let mut f = Filters::default();
        assert!(f.matches_event(&event("/v1/messages", "allowed", &[]), 0));
        assert!(!f.matches_event(&event("/v1/messages/count_tokens", "allowed", &[]), 0));
        f.detector = "secrets/*".into();
        assert!(f.matches_event(
            &event("/v1/messages", "blocked", &["secrets/aws_access_key"]),
            0
        ));
        assert!(!f.matches_event(&event("/v1/messages", "blocked", &["pii/email"]), 0));
        f.detector = "pii/email".into();
        f.blocked_only = true;
        assert!(!f.matches_event(&event("/v1/messages", "flagged", &["pii/email"]), 0));
        f.since = "1s".into();
        assert!(!f.matches_event(&event("/v1/messages", "blocked", &["pii/email"]), 3_000_000));
    }

    #[test]
    fn query_parameters() {
        let f = Filters {
            project: "proj_a".into(),
            detector: "secrets/*".into(),
            blocked_only: true,
            since: "1h".into(),
            ..Filters::default()
        };
        let names: Vec<_> = f.event_params(3_600_000).into_iter().collect();
        assert_eq!(
            names,
            vec![
                ("project_id", "proj_a".to_owned()),
                ("path", "/v1/messages".to_owned()),
                ("decision", "blocked".to_owned()),
                ("since", "1970-01-01T00:00:00.000Z".to_owned()),
            ]
        );
        assert_eq!(
            f.session_params(3_600_000)
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>(),
            vec!["project_id", "since", "blocked"]
        );
        assert!(f.needs_event_scan());
    }

    #[test]
    fn validation() {
        let mut f = Filters {
            decision: "denied".into(),
            ..Filters::default()
        };
        assert!(f.validate(0).unwrap_err().contains("decision"));
        f.decision = "blocked".into();
        f.since = "1h".into();
        f.until = "2h".into();
        assert!(f.validate(10_000_000).unwrap_err().contains("ends before"));
        f.until.clear();
        assert_eq!(f.validate(10_000_000), Ok(()));
    }
}
