//! Who may read the index: the admin token (`GLITCH_ADMIN_TOKEN`, the control plane's, full
//! access) and project-scoped tokens (`GLITCH_AUDIT_TOKENS=PROJECT_ID=TOKEN,...`, one project's
//! sessions and events only). Tokens are kept as SHA-256 digests and compared in constant time
//! (every stored digest is compared on every request, so neither timing nor length reveals
//! anything). Tokens never appear in errors, logs or `Debug` output.

use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::cli::{ADMIN_TOKEN_ENV, AUDIT_TOKENS_ENV};

/// Shortest token accepted (admin and project tokens alike).
pub const MIN_TOKEN_LEN: usize = 16;

/// What a caller may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything (the admin token).
    Admin,
    /// One project's sessions and events.
    Project(String),
}

/// The accepted tokens, as digests.
#[derive(Clone)]
pub struct TokenSet {
    admin: [u8; 32],
    projects: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field(
                "projects",
                &self.projects.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Shape rules shared by every token; `what` names it in the error (never the token itself).
fn check_token(token: &str, what: &str) -> Result<(), String> {
    if token.chars().count() < MIN_TOKEN_LEN {
        return Err(format!(
            "{what} is too short: use at least {MIN_TOKEN_LEN} characters"
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{what} must be printable ASCII without spaces (it is sent in an HTTP header)"
        ));
    }
    Ok(())
}

impl TokenSet {
    /// Builds the set from the values of `GLITCH_ADMIN_TOKEN` (required) and
    /// `GLITCH_AUDIT_TOKENS` (optional, `PROJECT_ID=TOKEN[,PROJECT_ID=TOKEN...]`).
    pub fn from_env_values(admin: Option<&str>, audit: Option<&str>) -> Result<Self, String> {
        let admin = admin.ok_or_else(|| {
            format!(
                "{ADMIN_TOKEN_ENV} is not set: it is required (the bearer token API callers send, at least {MIN_TOKEN_LEN} characters)"
            )
        })?;
        check_token(admin, ADMIN_TOKEN_ENV)?;
        let mut set = TokenSet {
            admin: digest(admin),
            projects: Vec::new(),
        };
        let Some(audit) = audit.map(str::trim).filter(|a| !a.is_empty()) else {
            return Ok(set);
        };
        for (i, pair) in audit.split(',').enumerate() {
            let n = i + 1;
            let (project, token) = pair
                .trim()
                .split_once('=')
                .ok_or_else(|| format!("{AUDIT_TOKENS_ENV}: entry {n} is not PROJECT_ID=TOKEN"))?;
            let project = project.trim();
            if project.is_empty()
                || project.len() > 128
                || project.chars().any(|c| c.is_control() || c == ' ')
            {
                return Err(format!(
                    "{AUDIT_TOKENS_ENV}: entry {n} has an invalid project id (1-128 characters, no spaces)"
                ));
            }
            check_token(
                token,
                &format!("{AUDIT_TOKENS_ENV}: the token of entry {n} ({project})"),
            )?;
            let d = digest(token);
            if d == set.admin {
                return Err(format!(
                    "{AUDIT_TOKENS_ENV}: the token of entry {n} ({project}) is the admin token"
                ));
            }
            if set.projects.iter().any(|(_, other)| *other == d) {
                return Err(format!(
                    "{AUDIT_TOKENS_ENV}: the token of entry {n} ({project}) is used twice"
                ));
            }
            set.projects.push((project.to_owned(), d));
        }
        Ok(set)
    }

    /// The scope of `token`, or `None` when it is not a known token. Constant time in the
    /// token and in which entry (if any) it matches.
    pub fn scope_of(&self, token: &str) -> Option<Scope> {
        let d = digest(token);
        let is_admin = d.ct_eq(&self.admin);
        let mut matched = subtle::Choice::from(0);
        let mut index = 0u64;
        for (i, (_, stored)) in self.projects.iter().enumerate() {
            let hit = d.ct_eq(stored);
            index = u64::conditional_select(&index, &(i as u64), hit);
            matched |= hit;
        }
        if bool::from(is_admin) {
            return Some(Scope::Admin);
        }
        if bool::from(matched) {
            let i = usize::try_from(index).ok()?;
            return self.projects.get(i).map(|(p, _)| Scope::Project(p.clone()));
        }
        None
    }

    /// Number of project tokens.
    pub fn project_tokens(&self) -> usize {
        self.projects.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "admin-token-0123456789";

    #[test]
    fn scopes() {
        let set = TokenSet::from_env_values(
            Some(ADMIN),
            Some(" proj_a=token-a-0123456789abcdef , proj_b=token-b-0123456789abcdef"),
        )
        .unwrap();
        assert_eq!(set.scope_of(ADMIN), Some(Scope::Admin));
        assert_eq!(
            set.scope_of("token-a-0123456789abcdef"),
            Some(Scope::Project("proj_a".into()))
        );
        assert_eq!(
            set.scope_of("token-b-0123456789abcdef"),
            Some(Scope::Project("proj_b".into()))
        );
        assert_eq!(set.scope_of("token-c-0123456789abcdef"), None);
        assert_eq!(set.scope_of(""), None);
        assert_eq!(set.project_tokens(), 2);
        let shown = format!("{set:?}");
        assert!(shown.contains("proj_a") && !shown.contains("token-a"));
    }

    #[test]
    fn bad_token_config_is_refused_without_echoing_tokens() {
        assert!(
            TokenSet::from_env_values(None, None)
                .unwrap_err()
                .contains(ADMIN_TOKEN_ENV)
        );
        assert!(TokenSet::from_env_values(Some("short"), None).is_err());
        assert!(TokenSet::from_env_values(Some("has a space in it!!"), None).is_err());
        for bad in [
            "proj_a",
            "=token-a-0123456789abcdef",
            "proj_a=short-secret",
            "proj a=token-a-0123456789abcdef",
            "p=token-a-0123456789abcdef,q=token-a-0123456789abcdef",
        ] {
            let err = TokenSet::from_env_values(Some(ADMIN), Some(bad)).unwrap_err();
            assert!(err.contains(AUDIT_TOKENS_ENV), "{err}");
            assert!(
                !err.contains("token-a-0123") && !err.contains("short-secret"),
                "{err}"
            );
        }
        let err = TokenSet::from_env_values(Some(ADMIN), Some(&format!("p={ADMIN}"))).unwrap_err();
        assert!(err.contains("admin token") && !err.contains(ADMIN));
        assert!(TokenSet::from_env_values(Some(ADMIN), Some("  ")).is_ok());
    }
}
