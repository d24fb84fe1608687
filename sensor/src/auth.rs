//! Tenant authentication by `X-Glitch-Key`: format check, SHA-256, and lookup of the hash in the
//! snapshot's key table confirmed by a constant-time comparison. The key string itself is never
//! stored, logged or recorded; only its hash and the key's id are.

use http::HeaderMap;
use sha2::{Digest, Sha256};

/// The request header that carries the tenant key.
pub const GLITCH_KEY_HEADER: &str = "x-glitch-key";
/// Every Glitch key starts with this.
pub const KEY_PREFIX: &str = "glitch_sk_";

/// Why a request failed tenant authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `X-Glitch-Key` header.
    #[error(
        "Glitch: missing X-Glitch-Key header (Claude Code: ANTHROPIC_CUSTOM_HEADERS=\"X-Glitch-Key: glitch_sk_...\")"
    )]
    Missing,
    /// The header is not a Glitch key.
    #[error("Glitch: malformed X-Glitch-Key (expected glitch_sk_...)")]
    Malformed,
    /// Not a key of any project, or revoked.
    #[error("Glitch: invalid or revoked X-Glitch-Key")]
    Unknown,
}

impl AuthError {
    /// Short label for metrics and events.
    pub fn reason(self) -> &'static str {
        match self {
            AuthError::Missing => "missing_key",
            AuthError::Malformed => "malformed_key",
            AuthError::Unknown => "unknown_key",
        }
    }
}

/// True for `glitch_sk_` followed by 16 to 256 letters, digits, `_` or `-`.
pub fn is_well_formed_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix(KEY_PREFIX) else {
        return false;
    };
    (16..=256).contains(&rest.len())
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads the key header (exactly one) and returns the SHA-256 of a well-formed key.
pub fn presented_key_hash(headers: &HeaderMap) -> Result<[u8; 32], AuthError> {
    let mut values = headers.get_all(GLITCH_KEY_HEADER).iter();
    let value = values.next().ok_or(AuthError::Missing)?;
    if values.next().is_some() {
        return Err(AuthError::Malformed);
    }
    let key = value.to_str().map_err(|_| AuthError::Malformed)?.trim();
    if !is_well_formed_key(key) {
        return Err(AuthError::Malformed);
    }
    Ok(Sha256::digest(key.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn key_format() {
        assert!(is_well_formed_key("glitch_sk_0123456789abcdefXYZ"));
        assert!(!is_well_formed_key("glitch_sk_short"));
        assert!(!is_well_formed_key("sk-ant-api03-0123456789abcdef"));
        assert!(!is_well_formed_key("glitch_sk_0123456789abcdef with space"));
        assert!(!is_well_formed_key(&format!(
            "glitch_sk_{}",
            "a".repeat(257)
        )));
    }

    #[test]
    fn header_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key_hash(&h), Err(AuthError::Missing));
        h.insert(GLITCH_KEY_HEADER, HeaderValue::from_static("nope"));
        assert_eq!(presented_key_hash(&h), Err(AuthError::Malformed));
        h.insert(
            GLITCH_KEY_HEADER,
            HeaderValue::from_static("glitch_sk_0123456789abcdef"),
        );
        let expected: [u8; 32] = Sha256::digest(b"glitch_sk_0123456789abcdef").into();
        assert_eq!(presented_key_hash(&h), Ok(expected));
        h.append(
            GLITCH_KEY_HEADER,
            HeaderValue::from_static("glitch_sk_0123456789abcdef"),
        );
        assert_eq!(presented_key_hash(&h), Err(AuthError::Malformed));
        let mut h = HeaderMap::new();
        h.insert(
            GLITCH_KEY_HEADER,
            HeaderValue::from_bytes(b"glitch_sk_\xff\xfe0123456789abcdef").unwrap(),
        );
        assert_eq!(presented_key_hash(&h), Err(AuthError::Malformed));
    }
}
