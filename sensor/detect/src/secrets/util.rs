//! Byte-level helpers shared by the secret detectors: character classes, Shannon entropy,
//! placeholder and fake-value checks, password strength tiers, lenient base64 decoding into
//! stack buffers and the CRC32/base62 checksum carried by GitHub-style tokens.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
/// Standard alphabet, padding optional.
const B64_STD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
/// URL-safe alphabet, padding optional.
const B64_URL: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// `[A-Za-z0-9]`.
pub(super) fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// `[A-Za-z0-9_-]`: the body of most prefixed tokens.
pub(super) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// `[A-Za-z0-9+/=_-]`: anything that can continue a base64 or base64url run.
pub(super) fn is_b64ish(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-')
}

/// Characters of an identifier a secret keyword can live in (`AWS_SECRET_ACCESS_KEY`,
/// `x-api-key`, `spring.datasource.password`).
pub(super) fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Quote characters that may delimit a value.
pub(super) fn is_quote(b: u8) -> bool {
    matches!(b, b'"' | b'\'' | b'`')
}

/// Byte at `i`, or 0 past either end.
pub(super) fn at(t: &[u8], i: usize) -> u8 {
    t.get(i).copied().unwrap_or(0)
}

/// Byte before `i`, or 0 at the start.
pub(super) fn before(t: &[u8], i: usize) -> u8 {
    if i == 0 { 0 } else { at(t, i - 1) }
}

/// `t[s..e]` clamped to the text.
pub(super) fn sub(t: &[u8], s: usize, e: usize) -> &[u8] {
    let e = e.min(t.len());
    let s = s.min(e);
    t.get(s..e).unwrap_or(&[])
}

/// ASCII case-insensitive substring search (needles are short and lowercase).
pub(super) fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() || hay.len() < needle.len() {
        return needle.is_empty();
    }
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Counts of the character classes present: lowercase, uppercase, digit, other.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Classes {
    pub lower: bool,
    pub upper: bool,
    pub digit: bool,
    pub symbol: bool,
    pub space: bool,
}

impl Classes {
    pub fn of(v: &[u8]) -> Self {
        let mut c = Classes::default();
        for &b in v {
            match b {
                b'a'..=b'z' => c.lower = true,
                b'A'..=b'Z' => c.upper = true,
                b'0'..=b'9' => c.digit = true,
                b' ' | b'\t' => c.space = true,
                _ => c.symbol = true,
            }
        }
        c
    }

    /// Number of classes among lowercase, uppercase, digit and symbol (spaces not counted).
    pub fn count(self) -> u8 {
        u8::from(self.lower) + u8::from(self.upper) + u8::from(self.digit) + u8::from(self.symbol)
    }
}

/// Shannon entropy in bits per byte (first 1024 bytes).
pub(super) fn entropy(v: &[u8]) -> f32 {
    let v = sub(v, 0, 1024);
    if v.is_empty() {
        return 0.0;
    }
    let mut counts = [0u16; 256];
    for &b in v {
        counts[usize::from(b)] += 1;
    }
    let n = v.len() as f32;
    let mut h = 0.0f32;
    for &c in &counts {
        if c > 0 {
            let p = f32::from(c) / n;
            h -= p * p.log2();
        }
    }
    h
}

/// Number of distinct bytes.
pub(super) fn distinct(v: &[u8]) -> usize {
    let mut seen = [false; 256];
    let mut n = 0;
    for &b in v {
        let s = &mut seen[usize::from(b)];
        if !*s {
            *s = true;
            n += 1;
        }
    }
    n
}

/// Longest run of one repeated byte.
pub(super) fn longest_repeat(v: &[u8]) -> usize {
    let mut best = 0;
    let mut run = 0;
    let mut prev = None;
    for &b in v {
        if Some(b) == prev {
            run += 1;
        } else {
            run = 1;
            prev = Some(b);
        }
        best = best.max(run);
    }
    best
}

/// Longest ascending or descending run (`abcdef`, `12345`, `987`) in the letters of `v` and,
/// separately, in its digits: catches `a1b2c3d4…` and `ABCDEFGHIJ` style fakes.
pub(super) fn longest_sequence(v: &[u8]) -> usize {
    fn run(iter: impl Iterator<Item = u8>, modulo: Option<u8>) -> usize {
        let mut best = 0usize;
        let (mut up, mut down) = (0usize, 0usize);
        let mut prev: Option<u8> = None;
        for b in iter {
            match prev {
                Some(p) => {
                    let next = |x: u8| match modulo {
                        Some(m) => (x + 1) % m,
                        None => x.wrapping_add(1),
                    };
                    up = if next(p) == b { up + 1 } else { 1 };
                    down = if next(b) == p { down + 1 } else { 1 };
                }
                None => {
                    up = 1;
                    down = 1;
                }
            }
            prev = Some(b);
            best = best.max(up).max(down);
        }
        best
    }
    let letters = run(
        v.iter()
            .filter(|b| b.is_ascii_alphabetic())
            .map(|b| b.to_ascii_lowercase() - b'a'),
        None,
    );
    let digits = run(
        v.iter().filter(|b| b.is_ascii_digit()).map(|b| b - b'0'),
        Some(10),
    );
    letters.max(digits)
}

/// Markers of documentation values inside otherwise token-shaped strings. Only markers of five
/// or more characters, so random tokens hit them with negligible probability.
const FAKE_MARKERS: &[&[u8]] = &[
    b"example",
    b"sample",
    b"dummy",
    b"placeholder",
    b"redacted",
    b"xxxxx",
    b"*****",
    b"00000000",
    b"your_",
    b"your-",
    b"yourkey",
    b"yourtoken",
    b"yoursecret",
    b"insert",
    b"replace",
];

/// True when a token body looks like documentation filler rather than a generated credential:
/// a marker word, a long repeated byte, a long alphabetic/numeric sequence or very low entropy.
/// Returns the confidence cap to apply, if any.
pub(super) fn fake_cap(body: &[u8]) -> Option<f32> {
    if FAKE_MARKERS.iter().any(|m| contains_ci(body, m)) {
        return Some(0.4);
    }
    if longest_repeat(body) >= 8 {
        return Some(0.4);
    }
    let n = body.len();
    let h = entropy(body);
    if (n >= 16 && h < 2.8) || (n >= 8 && h < 2.2) {
        return Some(0.45);
    }
    if longest_sequence(body) >= 8 {
        return Some(0.55);
    }
    None
}

/// Values that are never literal credentials when they are the whole value.
const NON_VALUES: &[&[u8]] = &[
    b"password",
    b"passwd",
    b"pass",
    b"pwd",
    b"apikey",
    b"api_key",
    b"api-key",
    b"key",
    b"value",
    b"string",
    b"str",
    b"int",
    b"bool",
    b"boolean",
    b"number",
    b"bytes",
    b"object",
    b"any",
    b"true",
    b"false",
    b"none",
    b"null",
    b"nil",
    b"undefined",
    b"required",
    b"optional",
    b"hidden",
    b"empty",
    b"test",
    b"testing",
    b"foo",
    b"bar",
    b"baz",
    b"foobar",
    b"abc",
    b"abc123",
    b"123",
    b"1234",
    b"12345",
    b"123456",
    b"12345678",
    b"123456789",
    b"default",
    b"changeme",
    b"changeit",
    b"redacted",
    b"masked",
];

/// Whole values that name the field rather than fill it (`secret: "secret"`); a password of
/// `secret` is a (weak) password, so these apply to keys and tokens only.
const NON_SECRET_VALUES: &[&[u8]] = &[
    b"secret",
    b"token",
    b"secretkey",
    b"secret_key",
    b"apitoken",
];

/// Substrings marking a template, reference or placeholder rather than a literal secret.
const PLACEHOLDER_PARTS: &[&[u8]] = &[
    b"your",
    b"example",
    b"changeme",
    b"change_me",
    b"change-me",
    b"placeholder",
    b"dummy",
    b"sample",
    b"redacted",
    b"xxxx",
    b"****",
    b"...",
    b"####",
    b"${",
    b"{{",
    b"}}",
    b"&lt;",
    b"&gt;",
    b"insert",
    b"replace",
    b"here",
    b"todo",
    b"fixme",
    b"notset",
    b"not-set",
    b"not_set",
    b"not set",
    b"enter_",
    b"enter-",
    b"enter ",
    b"goes_",
    b"some_",
    b"some-",
    b"<redacted",
    b"secret_key_base",
];

/// Substrings that make a password value a placeholder (`mypassword`, `SOME_PASSWORD`).
const PASSWORD_PARTS: &[&[u8]] = &[b"password", b"passwd", b"passwort", b"pass_word"];

/// True when the value is a placeholder, reference or obviously not a literal credential.
pub(super) fn is_placeholder(v: &[u8], password: bool) -> bool {
    if v.is_empty() {
        return true;
    }
    if NON_VALUES.iter().any(|n| v.eq_ignore_ascii_case(n)) {
        return true;
    }
    if !password && NON_SECRET_VALUES.iter().any(|n| v.eq_ignore_ascii_case(n)) {
        return true;
    }
    if PLACEHOLDER_PARTS.iter().any(|p| contains_ci(v, p)) {
        return true;
    }
    if password && PASSWORD_PARTS.iter().any(|p| contains_ci(v, p)) {
        return true;
    }
    // A single repeated character or punctuation-only masks (`********`, `-----`).
    if distinct(v) <= 2 || !v.iter().any(|b| b.is_ascii_alphanumeric()) {
        return true;
    }
    // `<name>` / `<your key>` and Python `%(name)s` templates.
    if bracketed(v, b'<', b'>') || (bracketed(v, b'(', b')') && v.windows(2).any(|w| w == b"%(")) {
        return true;
    }
    // References: `$VAR`, `%VAR%`, `{name}`, `[name]`, `#{x}`, `@{x}`, `&name`, `*alias`,
    // `!Ref` (YAML tags).
    matches!(
        v.first(),
        Some(b'$' | b'{' | b'[' | b'@' | b'&' | b'*' | b'!' | b'|' | b'<')
    ) || (v.first() == Some(&b'%') && v.last() == Some(&b'%'))
        || (v.first() == Some(&b'#') && v.get(1) == Some(&b'{'))
}

/// True when `v` holds `open` + a word (letters, digits, `_`, `-`, space) + `close`.
fn bracketed(v: &[u8], open: u8, close: u8) -> bool {
    let mut i = 0;
    while let Some(o) = v.get(i..).and_then(|r| r.iter().position(|&b| b == open)) {
        let start = i + o + 1;
        let mut j = start;
        while let Some(&b) = v.get(j) {
            if b == close {
                if j > start {
                    return true;
                }
                break;
            }
            if !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b' ' | b'.')) {
                break;
            }
            j += 1;
        }
        i = start;
    }
    false
}

/// True for a value made of words only: letters split by `_`, `-`, `.`, `/` or spaces or by
/// camel case, no digits or other symbols, pronounceable (vowels present, no long consonant
/// clusters): `open_sesame`, `MySecretKey`, but not `super$ecret`, `GtCKyvZdkoeOJgVTH` or
/// `vzihlaquknriqlht`.
pub(super) fn is_word_like(v: &[u8]) -> bool {
    if !v
        .iter()
        .all(|b| b.is_ascii_alphabetic() || matches!(b, b'_' | b'-' | b'.' | b'/' | b' '))
    {
        return false;
    }
    let letters = v.iter().filter(|b| b.is_ascii_alphabetic()).count();
    if letters == 0 {
        return false;
    }
    let mut vowels = 0usize;
    for run in v.split(|b| !b.is_ascii_alphabetic()) {
        if run.is_empty() {
            continue;
        }
        let all_upper = run.iter().all(|b| b.is_ascii_uppercase());
        if !all_upper {
            // Camel case: every capital starts a word with at least one lowercase letter.
            for (i, b) in run.iter().enumerate() {
                if b.is_ascii_uppercase() && !run.get(i + 1).is_some_and(u8::is_ascii_lowercase) {
                    return false;
                }
            }
        }
        let mut cluster = 0usize;
        for b in run {
            if matches!(
                b.to_ascii_lowercase(),
                b'a' | b'e' | b'i' | b'o' | b'u' | b'y'
            ) {
                vowels += 1;
                cluster = 0;
            } else {
                cluster += 1;
                if cluster > 4 {
                    return false;
                }
            }
        }
    }
    vowels * 5 >= letters
}

/// True when most letters of `v` belong to pronounceable words of three or more letters
/// (`sk-ant-api03-secret`, `bench-admin-token-0123`): a made-up value, not a generated one.
pub(super) fn is_wordy(v: &[u8]) -> bool {
    let letters = v.iter().filter(|b| b.is_ascii_alphabetic()).count();
    if letters == 0 {
        return false;
    }
    let in_words: usize = v
        .split(|b| matches!(b, b'-' | b'_' | b'.' | b'/' | b' ' | b':'))
        .filter(|p| p.len() >= 3 && p.iter().all(u8::is_ascii_alphabetic) && is_word_like(p))
        .map(<[u8]>::len)
        .sum();
    in_words * 10 >= letters * 6
}

/// How hard a password value looks, independent of its context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Strength {
    /// A real value, but short, dictionary-like or single-class (`secret`, `whiteduke`).
    Weak,
    /// Two classes and some length (`abuser123456`, `super$ecret`).
    Medium,
    /// Random-looking or three-plus classes (`sK!g2Ex_=jJ6Gx5v`, `Pass123!@#`).
    Strong,
}

/// Strength tier of a password value, or `None` for placeholders and non-literals.
pub(super) fn password_strength(v: &[u8]) -> Option<Strength> {
    if v.len() < 3 || v.len() > 256 || is_placeholder(v, true) {
        return None;
    }
    let spaces = v.iter().filter(|&&b| b == b' ').count();
    if spaces > 1 || v.contains(&b'\n') {
        return None;
    }
    let c = Classes::of(v);
    let n = v.len();
    let h = entropy(v);
    let seq = longest_sequence(v);
    let mostly_sequence = seq >= 4 && seq * 3 >= n * 2;
    let mut s = if (c.count() >= 3 && n >= 8) || (c.count() >= 2 && n >= 12 && h >= 3.5) {
        Strength::Strong
    } else if (c.count() >= 2 && n >= 8) || (c.count() >= 3 && n >= 6) || (n >= 16 && h >= 3.4) {
        Strength::Medium
    } else {
        Strength::Weak
    };
    if mostly_sequence || is_word_like(v) || is_wordy(v) || spaces > 0 {
        s = s.min(Strength::Weak);
    }
    Some(s)
}

/// Decodes a base64 (standard or URL alphabet, padding optional) prefix of `input` into `buf`;
/// returns the decoded bytes. Input longer than `buf` allows is truncated to fit.
pub(super) fn b64_decode_prefix<'b>(input: &[u8], buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let max_in = buf.len() / 3 * 4;
    let mut input = sub(input, 0, max_in);
    while input.last() == Some(&b'=') {
        input = sub(input, 0, input.len() - 1);
    }
    // A base64 tail of one character carries no full byte.
    if input.len() % 4 == 1 {
        input = sub(input, 0, input.len() - 1);
    }
    let url = input.iter().any(|&b| b == b'-' || b == b'_');
    let res = if url {
        B64_URL.decode_slice(input, buf)
    } else {
        B64_STD.decode_slice(input, buf)
    };
    let n = res.ok()?;
    buf.get(..n)
}

/// CRC-32 (IEEE) of `data`.
pub(super) fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// True when the last six characters of `body` are the base62 CRC32 of the rest, as in the
/// token format GitHub (and npm) use.
pub(super) fn base62_crc_ok(body: &[u8]) -> bool {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let Some(split) = body.len().checked_sub(6) else {
        return false;
    };
    let (data, check) = body.split_at(split);
    let mut n = crc32(data);
    let mut enc = [b'0'; 6];
    for slot in enc.iter_mut().rev() {
        *slot = DIGITS[(n % 62) as usize];
        n /= 62;
    }
    n == 0 && enc == check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_and_classes() {
        assert!(entropy(b"aaaaaaaa") < 0.01);
        assert!(entropy(b"aB3$xY9!qW2@zE5%") > 3.9);
        assert_eq!(Classes::of(b"aB3$").count(), 4);
        assert_eq!(Classes::of(b"abc def").count(), 1);
    }

    #[test]
    fn sequences_and_fakes() {
        assert_eq!(longest_sequence(b"a1b2c3d4e5f6g7h8"), 8);
        assert!(longest_sequence(b"ABCDEFGHIJ") >= 10);
        assert!(longest_sequence(b"k3Jq9ZpX2m") < 4);
        assert!(fake_cap(b"IOSFODNN7EXAMPLE").is_some());
        assert!(fake_cap(b"DEADBEEFDEADBEEF").is_some());
        assert!(fake_cap(b"xJ8kq2LmZ0pW4rT9vB6n").is_none());
    }

    #[test]
    fn placeholders() {
        for v in [
            &b"changeme"[..],
            b"${DB_PASSWORD}",
            b"<your-api-key>",
            b"xxxxxxxx",
            b"********",
            b"$password",
            b"%PASSWORD%",
            b"mypassword",
            b"&lt;YOURPASSWORD&gt;",
        ] {
            assert!(is_placeholder(v, true), "{}", String::from_utf8_lossy(v));
        }
        assert!(!is_placeholder(b"super$ecret", true));
        assert!(!is_placeholder(b"k3Jq9ZpX2m", false));
    }

    #[test]
    fn strength_tiers() {
        assert_eq!(password_strength(b"Pass123!@#"), Some(Strength::Strong));
        assert_eq!(password_strength(b"super$ecret"), Some(Strength::Medium));
        assert_eq!(password_strength(b"whiteduke"), Some(Strength::Weak));
        assert_eq!(password_strength(b"open_sesame"), Some(Strength::Weak));
        assert_eq!(password_strength(b"password"), None);
        assert!(is_word_like(b"MySecretKey"));
        assert!(!is_word_like(b"GtCKyvZdkoeOJgVTH"));
    }

    #[test]
    fn base64_prefix() {
        let mut buf = [0u8; 64];
        assert_eq!(
            b64_decode_prefix(b"dXNlcjpwYXNz", &mut buf),
            Some(&b"user:pass"[..])
        );
        let mut buf = [0u8; 6];
        assert_eq!(
            b64_decode_prefix(b"dXNlcjpwYXNz", &mut buf),
            Some(&b"user:p"[..])
        );
    }

    #[test]
    fn github_checksum() {
        // Build a token body whose checksum is right, then break it.
        let data = b"abcdefghijklmnopqrstuvwxyz0123";
        let mut n = crc32(data);
        let digits = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut enc = [b'0'; 6];
        for slot in enc.iter_mut().rev() {
            *slot = digits[(n % 62) as usize];
            n /= 62;
        }
        let mut body = data.to_vec();
        body.extend_from_slice(&enc);
        assert!(base62_crc_ok(&body));
        body[0] = b'X';
        assert!(!base62_crc_ok(&body));
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
