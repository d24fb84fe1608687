//! Identifiers and secrets: Glitch API keys (`glitch_sk_` + base62 of 32 OS-random bytes, stored
//! only as a SHA-256), generated object ids (`proj_…`, `pol_…`, `key_…`) and the rules a
//! caller-chosen id or name must follow. No storage and no HTTP here.

use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// Every Glitch key starts with this.
pub const KEY_PREFIX: &str = "glitch_sk_";

/// Base62 digits of a key's secret part: 32 random bytes always fit in 43 of them.
pub const KEY_SECRET_CHARS: usize = 43;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Longest id the API accepts.
pub const MAX_ID_LEN: usize = 64;
/// Longest display name the API accepts, in bytes.
pub const MAX_NAME_LEN: usize = 200;

/// The OS random number generator failed (no entropy source): nothing secret can be made.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RngError(String);

/// A freshly generated key. The clear `key` is returned to the caller once and never stored.
#[derive(Clone)]
pub struct NewKey {
    /// `glitch_sk_…`, shown to the caller once.
    pub key: String,
    /// Lowercase hex SHA-256 of the whole key string (what is stored).
    pub sha256_hex: String,
    /// `glitch_sk_` plus the first 4 characters of the secret.
    pub display_prefix: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("key", &"[REDACTED]")
            .field("display_prefix", &self.display_prefix)
            .finish()
    }
}

/// Makes a new key from 32 bytes of the OS RNG.
pub fn new_key() -> Result<NewKey, RngError> {
    let mut bytes = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| RngError(e.to_string()))?;
    let secret = base62_fixed(&bytes, KEY_SECRET_CHARS);
    let key = format!("{KEY_PREFIX}{secret}");
    let sha256_hex = hex::encode(Sha256::digest(key.as_bytes()));
    let display_prefix = format!("{KEY_PREFIX}{}", &secret[..4]);
    Ok(NewKey {
        key,
        sha256_hex,
        display_prefix,
    })
}

/// A random object id: `prefix` + 16 base62 characters (about 95 bits) from the OS RNG.
pub fn new_id(prefix: &str) -> Result<String, RngError> {
    const LEN: usize = 16;
    let mut id = String::with_capacity(prefix.len() + LEN);
    id.push_str(prefix);
    let mut chars = 0;
    while chars < LEN {
        let mut bytes = [0u8; 32];
        OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| RngError(e.to_string()))?;
        // Rejection sampling keeps every character uniform: 248 = 4 * 62.
        for b in bytes.into_iter().filter(|&b| b < 248) {
            if chars == LEN {
                break;
            }
            id.push(char::from(BASE62[usize::from(b % 62)]));
            chars += 1;
        }
    }
    Ok(id)
}

/// A random nonce for one config push (not secret; unique per stream is what matters).
pub fn new_nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Big-endian `bytes` as a base62 number, left-padded with `0` to `width` digits (more digits
/// if the number needs them).
pub fn base62_fixed(bytes: &[u8], width: usize) -> String {
    let mut number: Vec<u8> = bytes.to_vec();
    let mut digits = Vec::with_capacity(width);
    while number.iter().any(|&b| b != 0) {
        let mut remainder: u32 = 0;
        for byte in number.iter_mut() {
            let acc = (remainder << 8) | u32::from(*byte);
            *byte = u8::try_from(acc / 62).unwrap_or(u8::MAX);
            remainder = acc % 62;
        }
        digits.push(BASE62[remainder as usize]);
    }
    while digits.len() < width {
        digits.push(b'0');
    }
    digits.reverse();
    digits.into_iter().map(char::from).collect()
}

/// Why a caller-chosen id or name was refused (the message, without the field).
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(format!("must be 1-{MAX_ID_LEN} characters"));
    }
    let mut bytes = id.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    if !first_ok
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "{id:?} is not a valid id: use letters, digits, '_' and '-', starting with a letter or digit"
        ));
    }
    Ok(())
}

/// A display name: at most [`MAX_NAME_LEN`] bytes, no control characters; `required` also
/// refuses an empty (or all-blank) name.
pub fn check_name(name: &str, required: bool) -> Result<(), String> {
    if required && name.trim().is_empty() {
        return Err("is required".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("must be at most {MAX_NAME_LEN} bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hashed() {
        let a = new_key().unwrap();
        let b = new_key().unwrap();
        assert_ne!(a.key, b.key);
        assert!(a.key.starts_with(KEY_PREFIX));
        assert_eq!(a.key.len(), KEY_PREFIX.len() + KEY_SECRET_CHARS);
        assert!(
            a.key[KEY_PREFIX.len()..]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric())
        );
        assert_eq!(a.sha256_hex, hex::encode(Sha256::digest(a.key.as_bytes())));
        assert_eq!(a.display_prefix.len(), KEY_PREFIX.len() + 4);
        assert!(a.key.starts_with(&a.display_prefix));
        assert!(!format!("{a:?}").contains(&a.key));
    }

    #[test]
    fn base62_is_a_positional_number() {
        assert_eq!(base62_fixed(&[0], 3), "000");
        assert_eq!(base62_fixed(&[61], 1), "z");
        assert_eq!(base62_fixed(&[62], 1), "10");
        assert_eq!(base62_fixed(&[1, 0], 1), "48"); // 256 = 4*62 + 8
        assert_eq!(base62_fixed(&[0xff; 32], 0).len(), KEY_SECRET_CHARS);
    }

    #[test]
    fn ids_and_names() {
        assert!(new_id("pol_").unwrap().starts_with("pol_"));
        assert_eq!(new_id("pol_").unwrap().len(), 20);
        assert!(check_id("proj_payments-1").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id("_x").is_err());
        assert!(check_id("a b").is_err());
        assert!(check_id(&"a".repeat(65)).is_err());
        assert!(check_name("Payments team", true).is_ok());
        assert!(check_name("  ", true).is_err());
        assert!(check_name("", false).is_ok());
        assert!(check_name("a\nb", false).is_err());
    }
}
