//! Keyword-driven detectors: assignments of a literal to an identifier that names a secret
//! (`password = "…"`, `api_key: …`, `X-Api-Key: …`, `<add key="DbPassword" value="…">`,
//! `--password …`, `if pwd == "…"`) in code, config and env files. The value must be a literal
//! (not a variable, template or placeholder) and pass an entropy/strength check; its
//! confidence depends on that evidence. Provider formats that are only recognisable next to
//! their keyword (AWS secret keys, Okta, Heroku, Datadog, Twilio auth tokens…) and
//! ODBC/ADO.NET connection-string passwords are reported under their own types.

use memchr::memmem;

use super::util::{
    Classes, Strength, at, before, contains_ci, distinct, entropy, is_ident, is_placeholder,
    is_quote, is_word_like, is_wordy, longest_sequence, password_strength, sub,
};
use super::{Prio, Sink, State, aws_secret_shape};

/// Anchors of the keyword detector: fragments of the identifiers it looks at (`password`,
/// `DB_PASS`, `dbPass`, `token`, `API_KEY`, `secret`…), chosen to be rare in prose. The detector
/// finds the whole identifier around a hit and classifies it by its suffix.
pub(super) const ANCHORS: &[&str] = &[
    "ssw",
    "SSW",
    "pwd",
    "Pwd",
    "PWD",
    "_pa",
    "_PA",
    "-pa",
    "Pas",
    "PAS",
    "tok",
    "Tok",
    "TOK",
    "key",
    "Key",
    "KEY",
    "ecr",
    "ECR",
    "redential",
    "REDENTIAL",
];

/// Types this module reports.
pub(super) const TYPES: &[&str] = &[
    "secrets/generic_secret",
    "secrets/generic_password",
    "secrets/db_connection_string",
    "secrets/aws_secret_key",
    "secrets/okta_api_token",
    "secrets/heroku_api_key",
    "secrets/vault_token",
    "secrets/figma_token",
    "secrets/twilio_auth_token",
    "secrets/datadog_api_key",
    "secrets/mistral_api_key",
    "secrets/cohere_api_key",
    "secrets/cloudflare_api_token",
    "secrets/postmark_token",
    "secrets/saucelabs_access_key",
    "secrets/jenkins_api_token",
    "secrets/discord_bot_token",
    "secrets/azure_devops_pat",
    "secrets/kubernetes_bootstrap_token",
    "secrets/wireguard_key",
];

const MAX_IDENT: usize = 64;
const MAX_VALUE: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Password,
    Secret,
}

/// How the value is attached to the identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// `=`, `:`, `:=`, `=>`, XML `value=`, `<k>v</k>`.
    Assign,
    /// `==`, `!=` in code: a hard-coded comparison.
    Compare,
    /// `("API_KEY", "value")`: the keyword is a string argument followed by the value.
    Arg,
    /// `--password value`, `password 'value'` (Gradle), netrc `password value`.
    Space,
    /// `the password is "value"`.
    Prose,
}

/// Identifier suffixes (lowercase, separators removed) that name a password.
const PASSWORD_SUFFIXES: &[&[u8]] = &[b"password", b"passwd", b"passphrase", b"passwort"];
/// Short password suffixes: only at a word boundary (`db_pass`, `dbPwd`, not `bypass`).
const SHORT_PASSWORD_SUFFIXES: &[&[u8]] = &[b"pwd", b"pass"];
/// Identifier suffixes that name a secret, token or key.
const SECRET_SUFFIXES: &[&[u8]] = &[
    b"secret",
    b"token",
    b"apikey",
    b"secretkey",
    b"accesskey",
    b"privatekey",
    b"signingkey",
    b"encryptionkey",
    b"masterkey",
    b"licensekey",
    b"accountkey",
    b"subscriptionkey",
    b"sharedkey",
    b"presharedkey",
    b"appkey",
    b"clientkey",
    b"authkey",
    b"servicekey",
    b"webhookkey",
    b"sessionkey",
    b"credential",
    b"credentials",
    b"secretkeybase",
];
/// Identifiers that end like a secret but hold something else.
const NOT_SECRET_SUFFIXES: &[&[u8]] = &[
    b"publickey",
    b"csrftoken",
    b"xsrftoken",
    b"pagetoken",
    b"nexttoken",
    b"synctoken",
    b"canceltoken",
    b"cancellationtoken",
    b"continuationtoken",
    b"resumetoken",
    b"maxtoken",
    b"devicetoken",
    b"pushtoken",
];

/// Normalised identifier: lowercase, `_`, `-` and `.` removed.
struct Norm {
    buf: [u8; MAX_IDENT],
    len: usize,
}

impl Norm {
    fn new(ident: &[u8]) -> Self {
        let mut buf = [0u8; MAX_IDENT];
        let mut len = 0;
        for &b in ident {
            if b.is_ascii_alphanumeric() && len < MAX_IDENT {
                buf[len] = b.to_ascii_lowercase();
                len += 1;
            }
        }
        Norm { buf, len }
    }
    fn bytes(&self) -> &[u8] {
        sub(&self.buf, 0, self.len)
    }
    fn has(&self, needle: &[u8]) -> bool {
        memmem::find(self.bytes(), needle).is_some()
    }
}

/// Index in `ident` where the last `n` alphanumeric characters start.
fn suffix_start(ident: &[u8], n: usize) -> usize {
    let mut seen = 0;
    let mut i = ident.len();
    while i > 0 && seen < n {
        i -= 1;
        if ident[i].is_ascii_alphanumeric() {
            seen += 1;
        }
    }
    i
}

/// True when a suffix of `n` alphanumerics starts a word of `ident`: at its start, after a
/// separator, or at a lower-to-upper camel-case step.
fn at_word_start(ident: &[u8], n: usize) -> bool {
    let i = suffix_start(ident, n);
    if i == 0 {
        return true;
    }
    let prev = ident[i - 1];
    let cur = ident[i];
    !prev.is_ascii_alphanumeric()
        || (prev.is_ascii_lowercase() && cur.is_ascii_uppercase())
        || (prev.is_ascii_digit() && cur.is_ascii_alphabetic())
}

fn classify(ident: &[u8], norm: &Norm) -> Option<Kind> {
    let n = norm.bytes();
    let ends = |list: &[&[u8]]| list.iter().any(|s| n.ends_with(s));
    match n.last() {
        Some(b'n') if ends(NOT_SECRET_SUFFIXES) => None,
        Some(b'y') if n.ends_with(b"publickey") => None,
        Some(b'd' | b'e' | b't') if ends(PASSWORD_SUFFIXES) => Some(Kind::Password),
        Some(b'd' | b's')
            if SHORT_PASSWORD_SUFFIXES
                .iter()
                .any(|s| n.ends_with(s) && at_word_start(ident, s.len())) =>
        {
            Some(Kind::Password)
        }
        Some(b't' | b'n' | b'y' | b'l' | b's' | b'e') if ends(SECRET_SUFFIXES) => {
            Some(Kind::Secret)
        }
        _ => None,
    }
}

/// Cheap pre-check: can an operator or value follow the identifier `t[a..b]`? Most keyword
/// occurrences (`api_key,`, `token)`, `the password must…`) end here.
fn may_assign(t: &[u8], a: usize, b: usize, cli: bool, ident: &[u8]) -> bool {
    let mut p = b;
    let open = before(t, a);
    if is_quote(open) && at(t, p) == open {
        p += 1;
    } else if at(t, p) == b'\\' && at(t, p + 1) == b'"' {
        p += 2;
    }
    if at(t, p) == b']' {
        p += 1;
    }
    let ws = p;
    while matches!(at(t, p), b' ' | b'\t') {
        p += 1;
    }
    match at(t, p) {
        b'=' | b':' | b',' | b'!' | b'>' | b'{' => true,
        b'"' | b'\'' | b'`' | b'i' | b'I' | b'v' => p > ws,
        c => p > ws && c.is_ascii_graphic() && (cli || ident.eq_ignore_ascii_case(b"password")),
    }
}

/// A parsed value: absolute span, whether it was quoted, and the operator.
#[derive(Clone, Copy, Debug)]
struct Value {
    start: usize,
    end: usize,
    quoted: bool,
    op: Op,
}

/// Parses what follows an identifier `t[a..b]` (`ident_start` is where the identifier run
/// began, before trimming).
fn parse_value(t: &[u8], a: usize, b: usize, cli: bool) -> Option<Value> {
    let mut p = b;
    let open = before(t, a);
    let mut quoted_key = false;
    let mut escaped = false;
    if is_quote(open) && at(t, p) == open {
        p += 1;
        quoted_key = true;
    } else if open == b'"'
        && before(t, a.saturating_sub(1)) == b'\\'
        && at(t, p) == b'\\'
        && at(t, p + 1) == b'"'
    {
        p += 2;
        quoted_key = true;
        escaped = true;
    }
    if at(t, p) == b']' {
        p += 1;
    }
    let ws = p;
    while matches!(at(t, p), b' ' | b'\t') {
        p += 1;
    }
    let had_ws = p > ws;
    let op = match at(t, p) {
        b'=' => match at(t, p + 1) {
            b'=' => {
                p += 2;
                if at(t, p) == b'=' {
                    p += 1;
                }
                Op::Compare
            }
            b'>' => {
                p += 2;
                Op::Assign
            }
            _ => {
                p += 1;
                Op::Assign
            }
        },
        b':' => match at(t, p + 1) {
            b':' => return None,
            b'=' => {
                p += 2;
                Op::Assign
            }
            _ => {
                p += 1;
                Op::Assign
            }
        },
        b'!' if at(t, p + 1) == b'=' => {
            p += 2;
            if at(t, p) == b'=' {
                p += 1;
            }
            Op::Compare
        }
        b',' if quoted_key && open != b'`' => {
            p += 1;
            Op::Arg
        }
        b'>' if before(t, a) == b'<' => {
            // <password>value</password>
            let vs = p + 1;
            let close = memchr::memchr(b'<', sub(t, vs, vs + MAX_VALUE))? + vs;
            if at(t, close + 1) != b'/' {
                return None;
            }
            return Some(Value {
                start: vs,
                end: close,
                quoted: true,
                op: Op::Assign,
            });
        }
        b'{' if quoted_key => {
            // Terraform: variable "db_password" { default = "…" }
            let block = sub(t, p, p + 300);
            let close = memchr::memchr(b'}', block).unwrap_or(block.len());
            let k = memmem::find(sub(block, 0, close), b"default")?;
            p += k + 7;
            while matches!(at(t, p), b' ' | b'\t') {
                p += 1;
            }
            if at(t, p) != b'=' {
                return None;
            }
            p += 1;
            Op::Assign
        }
        _ => {
            let rest = sub(t, p, p + 6);
            if quoted_key && rest.eq_ignore_ascii_case(b"value=") {
                p += 6;
                Op::Assign
            } else if had_ws && sub(t, p, p + 3).eq_ignore_ascii_case(b"is ") {
                p += 3;
                Op::Prose
            } else if had_ws && !quoted_key {
                Op::Space
            } else {
                return None;
            }
        }
    };
    while matches!(at(t, p), b' ' | b'\t') {
        p += 1;
    }
    let v = read_value(t, p, op, escaped)?;
    // `"Password:", "…"`: the keyword starts a string literal and the "value" is the next one.
    if is_quote(open) && !quoted_key && v.quoted && before(t, v.start) == open {
        return None;
    }
    if matches!(at(t, v.start), b',' | b';' | b')' | b'(') {
        return None;
    }
    if v.op == Op::Space && !v.quoted && !cli && !netrc_context(t, a) {
        return None;
    }
    Some(v)
}

/// Reads the value starting at `p`.
fn read_value(t: &[u8], mut p: usize, op: Op, escaped_key: bool) -> Option<Value> {
    // String prefixes: b"…", r'…', f"…", @"…", u"…".
    if matches!(at(t, p), b'b' | b'r' | b'f' | b'u' | b'@')
        && is_quote(at(t, p + 1))
        && !is_ident(before(t, p))
    {
        p += 1;
    }
    let c = at(t, p);
    if c == b'\\' && at(t, p + 1) == b'"' {
        let vs = p + 2;
        let close = memmem::find(sub(t, vs, vs + MAX_VALUE), b"\\\"")? + vs;
        return Some(Value {
            start: vs,
            end: close,
            quoted: true,
            op,
        });
    }
    if is_quote(c) {
        let vs = p + 1;
        let mut q = vs;
        let limit = vs.saturating_add(MAX_VALUE).min(t.len());
        while q < limit {
            let b = at(t, q);
            if b == c {
                let (mut s, mut e) = (vs, q);
                // '"value"' nested quotes.
                if e > s + 1 && is_quote(at(t, s)) && at(t, e - 1) == at(t, s) {
                    s += 1;
                    e -= 1;
                }
                return Some(Value {
                    start: s,
                    end: e,
                    quoted: true,
                    op,
                });
            }
            if b == b'\n' || (b == b'\\' && escaped_key) {
                return None;
            }
            if b == b'\\' {
                q += 1;
            }
            q += 1;
        }
        return None;
    }
    if !matches!(op, Op::Assign | Op::Space) {
        return None;
    }
    let vs = p;
    let mut q = p;
    let limit = vs.saturating_add(256).min(t.len());
    while q < limit {
        let b = at(t, q);
        if !b.is_ascii_graphic()
            || matches!(
                b,
                b'"' | b'\''
                    | b'`'
                    | b';'
                    | b','
                    | b'&'
                    | b'<'
                    | b'>'
                    | b'|'
                    | b'('
                    | b')'
                    | b'{'
                    | b'}'
                    | b'['
                    | b']'
                    | b'\\'
            )
        {
            break;
        }
        q += 1;
    }
    if q == vs || q >= limit && limit < t.len() {
        return None;
    }
    // A call or index (`getpass()`, `os.environ[…]`) is code, not a literal.
    if matches!(at(t, q), b'(' | b'[') {
        return None;
    }
    Some(Value {
        start: vs,
        end: q,
        quoted: false,
        op,
    })
}

/// netrc context: `machine … login … password …`.
fn netrc_context(t: &[u8], a: usize) -> bool {
    memmem::rfind(sub(t, a.saturating_sub(120), a), b"login ").is_some()
}

/// `Server=…;User Id=…;Password=…` style context on the same line.
fn connection_string_context(t: &[u8], a: usize) -> bool {
    let line_start = memchr::memrchr(b'\n', sub(t, a.saturating_sub(300), a))
        .map_or(a.saturating_sub(300), |i| a.saturating_sub(300) + i + 1);
    let line = sub(t, line_start, a);
    if !line.contains(&b';') {
        return false;
    }
    [
        &b"server="[..],
        b"data source=",
        b"host=",
        b"user id=",
        b"userid=",
        b"uid=",
        b"database=",
        b"initial catalog=",
        b"provider=",
        b"driver=",
        b"dsn=",
    ]
    .iter()
    .any(|k| contains_ci(line, k))
}

fn is_uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn all(v: &[u8], f: impl Fn(u8) -> bool) -> bool {
    !v.is_empty() && v.iter().all(|&b| f(b))
}

fn hex_with_letter_digit(v: &[u8]) -> bool {
    all(v, |b| b.is_ascii_hexdigit())
        && v.iter().any(u8::is_ascii_digit)
        && v.iter().any(u8::is_ascii_alphabetic)
}

/// Values that are file paths, URLs, PEM blocks or dotted references, not secrets.
fn is_not_secret_shape(v: &[u8], quoted: bool) -> bool {
    if memmem::find(v, b"://").is_some() || memmem::find(v, b"-----BEGIN").is_some() {
        return true;
    }
    if v.starts_with(b"/") || v.starts_with(b"./") || v.starts_with(b"../") || v.starts_with(b"~/")
    {
        return true;
    }
    const EXTS: &[&[u8]] = &[
        b".pem",
        b".key",
        b".json",
        b".txt",
        b".crt",
        b".p12",
        b".pfx",
        b".yaml",
        b".yml",
        b".env",
        b".cer",
        b".der",
        b".jks",
        b".keystore",
        b".properties",
        b".conf",
        b".cfg",
        b".ini",
        b".xml",
        b".toml",
        b".gpg",
        b".asc",
    ];
    let lower_end = sub(v, v.len().saturating_sub(12), v.len());
    if EXTS.iter().any(|e| {
        lower_end.len() >= e.len() && lower_end[lower_end.len() - e.len()..].eq_ignore_ascii_case(e)
    }) {
        return true;
    }
    // Dotted words (`config.secret`, `auth.password.label`).
    if v.contains(&b'.')
        && v.split(|&b| b == b'.')
            .all(|seg| !seg.is_empty() && is_word_like(seg))
    {
        return true;
    }
    if !quoted {
        // Dotted references and environment variable names (`process.env.X`, `DB_PASSWORD`).
        let ident_like = all(v, |b| {
            b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'$'
        });
        let reference_part = |seg: &[u8]| {
            seg.len() <= 3
                || is_word_like(seg)
                || all(seg, |b| {
                    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'
                })
        };
        if ident_like
            && v.contains(&b'.')
            && v.first().is_some_and(|b| !b.is_ascii_digit())
            && v.split(|&b| b == b'.').all(reference_part)
        {
            return true;
        }
        if all(v, |b| {
            b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'
        }) && v.contains(&b'_')
        {
            return true;
        }
    }
    false
}

/// Confidence for a secret/token/key value.
fn secret_conf(v: &[u8]) -> Option<f32> {
    let n = v.len();
    if !(8..=MAX_VALUE).contains(&n) || v.iter().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    if is_placeholder(v, false) {
        return None;
    }
    let h = entropy(v);
    if distinct(v) < 5 || (n >= 16 && h < 2.8) {
        return None;
    }
    let c = Classes::of(v);
    let mut conf: f32 = if is_uuid(v) {
        0.75
    } else if n >= 20 && h >= 3.7 && c.count() >= 2 {
        0.85
    } else if n >= 16 && (hex_with_letter_digit(v) || (h >= 3.3 && c.count() >= 2)) {
        0.8
    } else if n >= 10 && c.count() >= 3 && h >= 3.0 {
        0.75
    } else if c.count() >= 2 && h >= 3.0 {
        0.65
    } else {
        0.5
    };
    if is_word_like(v) || is_wordy(v) || longest_sequence(v) >= 6 {
        conf = conf.min(0.55);
    }
    if [&b"test"[..], b"demo", b"mock", b"fake"]
        .iter()
        .any(|m| contains_ci(v, m))
    {
        conf -= 0.15;
    }
    Some(conf)
}

/// Confidence for a password value by strength.
fn password_conf(v: &[u8]) -> Option<f32> {
    let mut conf: f32 = match password_strength(v)? {
        Strength::Strong => 0.85,
        Strength::Medium => 0.78,
        Strength::Weak => 0.6,
    };
    if [&b"test"[..], b"demo", b"sample", b"fake", b"mock"]
        .iter()
        .any(|m| contains_ci(v, m))
    {
        conf -= 0.1;
    }
    Some(conf)
}

/// A provider format recognisable from the identifier plus the value's exact shape.
fn provider_type(norm: &Norm, v: &[u8]) -> Option<(&'static str, f32)> {
    let n = v.len();
    let alnum = |v: &[u8]| all(v, |b| b.is_ascii_alphanumeric());
    let mixed = |v: &[u8]| {
        let c = Classes::of(v);
        u8::from(c.lower) + u8::from(c.upper) + u8::from(c.digit) >= 2
    };
    if norm.has(b"okta")
        && n == 42
        && v.starts_with(b"00")
        && all(v, |b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && mixed(v)
    {
        return Some(("secrets/okta_api_token", 0.9));
    }
    if norm.has(b"heroku") && is_uuid(v) {
        return Some(("secrets/heroku_api_key", 0.85));
    }
    if norm.has(b"vault")
        && n >= 26
        && matches!(v.first(), Some(b's' | b'b' | b'r'))
        && at(v, 1) == b'.'
        && all(sub(v, 2, n), |b| {
            b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
        })
        && mixed(sub(v, 2, n))
    {
        return Some(("secrets/vault_token", 0.85));
    }
    if norm.has(b"figma") && n > 37 && is_uuid(sub(v, n - 36, n)) && at(v, n - 37) == b'-' {
        return Some(("secrets/figma_token", 0.85));
    }
    if norm.has(b"twilio") && n == 32 && hex_with_letter_digit(v) {
        return Some(("secrets/twilio_auth_token", 0.85));
    }
    if (norm.has(b"datadog") || norm.bytes().starts_with(b"dd"))
        && (n == 32 || n == 40)
        && hex_with_letter_digit(v)
    {
        return Some(("secrets/datadog_api_key", 0.85));
    }
    if norm.has(b"mistral") && n == 32 && alnum(v) && mixed(v) {
        return Some(("secrets/mistral_api_key", 0.85));
    }
    if (norm.has(b"cohere") || norm.bytes().starts_with(b"coapikey"))
        && n == 40
        && alnum(v)
        && mixed(v)
    {
        return Some(("secrets/cohere_api_key", 0.85));
    }
    if (norm.has(b"cloudflare") || norm.bytes().starts_with(b"cfapi"))
        && ((n == 40
            && all(v, |b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            && mixed(v))
            || (n == 37 && hex_with_letter_digit(v)))
    {
        return Some(("secrets/cloudflare_api_token", 0.85));
    }
    if norm.has(b"postmark") && is_uuid(v) {
        return Some(("secrets/postmark_token", 0.85));
    }
    if norm.has(b"sauce") && is_uuid(v) {
        return Some(("secrets/saucelabs_access_key", 0.85));
    }
    if norm.has(b"jenkins") && n == 34 && v.starts_with(b"11") && hex_with_letter_digit(v) {
        return Some(("secrets/jenkins_api_token", 0.85));
    }
    if norm.has(b"discord") && discord_bot_token(v) {
        return Some(("secrets/discord_bot_token", 0.9));
    }
    if (norm.has(b"azure") || norm.has(b"devops") || norm.has(b"ado") || norm.has(b"vsts"))
        && n == 52
        && all(v, |b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
        && v.iter().any(u8::is_ascii_digit)
    {
        return Some(("secrets/azure_devops_pat", 0.85));
    }
    if norm.has(b"bootstrap")
        && n == 23
        && at(v, 6) == b'.'
        && all(sub(v, 0, 6), |b| {
            b.is_ascii_lowercase() || b.is_ascii_digit()
        })
        && all(sub(v, 7, 23), |b| {
            b.is_ascii_lowercase() || b.is_ascii_digit()
        })
    {
        return Some(("secrets/kubernetes_bootstrap_token", 0.85));
    }
    let nb = norm.bytes();
    if (nb == b"privatekey" || nb == b"presharedkey")
        && n == 44
        && v.ends_with(b"=")
        && all(sub(v, 0, 43), |b| {
            b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
        })
        && mixed(v)
    {
        return Some(("secrets/wireguard_key", 0.9));
    }
    None
}

/// Discord bot token: base64 user id, `.`, 6-char timestamp, `.`, HMAC.
fn discord_bot_token(v: &[u8]) -> bool {
    let mut parts = v.split(|&b| b == b'.');
    let (Some(a), Some(b), Some(c), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let word = |p: &[u8]| all(p, |x| x.is_ascii_alphanumeric() || x == b'_' || x == b'-');
    matches!(a.first(), Some(b'M' | b'N' | b'O'))
        && (23..=28).contains(&a.len())
        && b.len() == 6
        && (27..=40).contains(&c.len())
        && word(a)
        && word(b)
        && word(c)
}

/// Runs the keyword detector on a keyword hit `t[s..e]`.
pub(super) fn keyword(t: &[u8], s: usize, e: usize, st: &mut State, sink: &mut Sink) {
    if s < st.ident_done {
        return;
    }
    // The identifier around the keyword.
    let mut is = s;
    while is > 0 && is_ident(at(t, is - 1)) {
        is -= 1;
        if s - is > MAX_IDENT {
            st.ident_done = e;
            return;
        }
    }
    let mut ie = e;
    while is_ident(at(t, ie)) {
        ie += 1;
        if ie - e > MAX_IDENT {
            st.ident_done = ie;
            return;
        }
    }
    st.ident_done = ie;
    // Trim separators: a leading `-`/`--` marks a command-line flag.
    let mut a = is;
    while a < ie && matches!(at(t, a), b'-' | b'.' | b'_') {
        a += 1;
    }
    let cli = at(t, is) == b'-';
    let mut b = ie;
    while b > a && matches!(at(t, b - 1), b'-' | b'.') {
        b -= 1;
    }
    if a >= b || b - a > MAX_IDENT {
        return;
    }
    let ident = sub(t, a, b);
    if !may_assign(t, a, b, cli, ident) {
        return;
    }
    let norm = Norm::new(ident);
    let Some(kind) = classify(ident, &norm) else {
        return;
    };
    let Some(mut v) = parse_value(t, a, b, cli) else {
        return;
    };
    // `password: str = "…"`: skip a type annotation.
    if !v.quoted && v.op == Op::Assign {
        let mut p = v.end;
        while matches!(at(t, p), b' ' | b'\t') {
            p += 1;
        }
        if at(t, p) == b'=' && at(t, p + 1) != b'=' {
            p += 1;
            while matches!(at(t, p), b' ' | b'\t') {
                p += 1;
            }
            match read_value(t, p, Op::Assign, false) {
                Some(nv) => v = nv,
                None => return,
            }
        }
    }
    let value = sub(t, v.start, v.end);
    if value.is_empty() || is_not_secret_shape(value, v.quoted) {
        return;
    }
    // `"password", "token", "key"`: a list of strings, not a key and its value.
    if v.op == Op::Arg {
        let mut p = v.end + 1;
        while matches!(at(t, p), b' ' | b'\t') {
            p += 1;
        }
        if at(t, p) == b',' {
            return;
        }
    }
    // Unquoted YAML comments and tags.
    if !v.quoted && matches!(value.first(), Some(b'#')) && before(t, v.start) == b' ' {
        return;
    }
    // Provider formats named by the identifier.
    if let Some((ty, conf)) = provider_type(&norm, value) {
        sink.push(ty, conf, v.start, v.end, Prio::Provider);
        return;
    }
    let aws = norm.has(b"aws") || norm.bytes().ends_with(b"secretaccesskey");
    if aws && kind == Kind::Secret && aws_secret_shape(value) {
        let paired = [&b"AKIA"[..], b"ASIA"].iter().any(|k| {
            memmem::find(
                sub(t, v.start.saturating_sub(600), v.end.saturating_add(600)),
                k,
            )
            .is_some()
        });
        let conf = if paired { 0.95 } else { 0.9 };
        sink.push(
            "secrets/aws_secret_key",
            conf,
            v.start,
            v.end,
            Prio::Provider,
        );
        return;
    }
    // `Server=…;User Id=…;Password=…;`: an ODBC / ADO.NET connection string.
    let nb = norm.bytes();
    if kind == Kind::Password
        && (nb.ends_with(b"password") || nb.ends_with(b"pwd"))
        && v.op == Op::Assign
        && connection_string_context(t, a)
    {
        let Some(strength) = password_strength(value) else {
            return;
        };
        let conf = match strength {
            Strength::Strong => 0.9,
            Strength::Medium => 0.85,
            Strength::Weak => 0.75,
        };
        sink.push(
            "secrets/db_connection_string",
            conf,
            v.start,
            v.end,
            Prio::Structured,
        );
        return;
    }
    // A bare word in a list (`"password", "token"`), a CLI argument or prose, or unquoted
    // (`password: never log it`), is not a credential.
    if is_word_like(value) && (v.op != Op::Assign || !v.quoted) {
        if v.op == Op::Assign {
            let conf = if kind == Kind::Password { 0.45 } else { 0.4 };
            let ty = if kind == Kind::Password {
                "secrets/generic_password"
            } else {
                "secrets/generic_secret"
            };
            sink.push(ty, conf, v.start, v.end, Prio::Generic);
        }
        return;
    }
    let penalty = match v.op {
        Op::Assign if v.quoted => 0.0,
        Op::Assign | Op::Arg => 0.03,
        Op::Compare => 0.0,
        Op::Space | Op::Prose => 0.05,
    };
    match kind {
        Kind::Password => {
            let Some(conf) = password_conf(value) else {
                return;
            };
            sink.push(
                "secrets/generic_password",
                conf - penalty,
                v.start,
                v.end,
                Prio::Generic,
            );
        }
        Kind::Secret => {
            let Some(mut conf) = secret_conf(value) else {
                return;
            };
            // An AWS secret key must be 40 chars; anything else named so is not one.
            if aws && norm.has(b"secret") && value.len() != 40 {
                conf = conf.min(0.6);
            }
            sink.push(
                "secrets/generic_secret",
                conf - penalty,
                v.start,
                v.end,
                Prio::Generic,
            );
        }
    }
}
