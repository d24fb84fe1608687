//! Structured secrets parsed by hand at their start literal: PEM/OpenSSH/PGP private key
//! blocks (also base64-wrapped and PuTTY files), GCP service-account JSON, JWTs (header decoded
//! with the base64 crate), credentials in URLs (database URLs and others), `Authorization:
//! Bearer/Basic` values and passwords passed to well-known credential constructors.

use memchr::memmem;

use super::util::{
    Strength, at, b64_decode_prefix, before, contains_ci, distinct, fake_cap, is_alnum, is_b64ish,
    is_placeholder, password_strength, sub,
};
use super::{Prio, Sink, State};

/// Structured detector kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Pem,
    Pem64,
    Putty,
    ServiceAccount,
    Jwt,
    Url,
    Bearer,
    Basic,
    /// Credential constructor; the value is the password argument index.
    CredCall(usize),
    /// `curl -u user:password`.
    CurlUser,
}

/// Literals that start a structured detector.
pub(super) const TRIGGERS: &[(&str, Kind)] = &[
    ("-----BEGIN ", Kind::Pem),
    ("LS0tLS1CRUdJTi", Kind::Pem64),
    ("PuTTY-User-Key-File-", Kind::Putty),
    ("service_account", Kind::ServiceAccount),
    ("eyJ", Kind::Jwt),
    ("://", Kind::Url),
    ("Bearer ", Kind::Bearer),
    ("BEARER ", Kind::Bearer),
    ("bearer ", Kind::Bearer),
    ("Basic ", Kind::Basic),
    ("BASIC ", Kind::Basic),
    ("NetworkCredential(", Kind::CredCall(1)),
    ("HTTPBasicAuth(", Kind::CredCall(1)),
    ("PasswordAuthentication(", Kind::CredCall(1)),
    ("UsernamePasswordCredentials(", Kind::CredCall(1)),
    ("-u ", Kind::CurlUser),
    (" --user", Kind::CurlUser),
];

/// Types this module reports.
pub(super) const TYPES: &[&str] = &[
    "secrets/private_key",
    "secrets/gcp_service_account",
    "secrets/jwt",
    "secrets/database_url",
    "secrets/url_credentials",
    "secrets/bearer_token",
    "secrets/basic_auth",
    "secrets/generic_password",
];

/// Runs structured detector `kind` at the literal hit `t[s..e]`.
pub(super) fn run(kind: Kind, t: &[u8], s: usize, e: usize, st: &mut State, sink: &mut Sink) {
    match kind {
        Kind::Pem => {
            if s < st.pem_done || sub(t, s, e) != b"-----BEGIN " {
                return;
            }
            if let Some((end, conf)) = pem_at(t, s) {
                st.pem_done = end;
                sink.push("secrets/private_key", conf, s, end, Prio::Structured);
            }
        }
        Kind::Pem64 => pem64(t, s, sink),
        Kind::Putty => putty(t, s, e, sink),
        Kind::ServiceAccount => service_account(t, s, e, st, sink),
        Kind::Jwt => jwt(t, s, sink),
        Kind::Url => url(t, s, sink),
        Kind::Bearer => bearer(t, s, e, sink),
        Kind::Basic => basic(t, s, e, sink),
        Kind::CredCall(idx) => cred_call(t, e, idx, sink),
        Kind::CurlUser => curl_user(t, s, e, sink),
    }
}

/// Parses a PEM private key block starting at `t[s..]` (`-----BEGIN `): the label must name a
/// private key and at least 64 base64 characters of key material must follow (JSON `\n`
/// escapes, quotes and string concatenation between lines are skipped). Returns the end of the
/// block (after `-----END …-----`, or after the last key character when cut off) and the
/// confidence.
pub(super) fn pem_at(t: &[u8], s: usize) -> Option<(usize, f32)> {
    let hdr = sub(t, s, s + 80);
    let label_start = 11;
    let label_len = memmem::find(sub(hdr, label_start, hdr.len()), b"-----")?;
    let label = sub(hdr, label_start, label_start + label_len);
    if !(label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK"))
        || !label
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b' ')
    {
        return None;
    }
    let mut encrypted = memmem::find(label, b"ENCRYPTED").is_some();
    let mut p = s + label_start + label_len + 5;
    let limit = p.saturating_add(64 * 1024).min(t.len());
    let mut material = 0usize;
    let mut last = p;
    let mut seen = [false; 128];
    let mut end = None;
    while p < limit {
        let c = at(t, p);
        if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=') {
            material += 1;
            seen[usize::from(c & 0x7f)] = true;
            p += 1;
            last = p;
            continue;
        }
        match c {
            b'-' => {
                if sub(t, p, p + 9) == b"-----END " {
                    let rest = sub(t, p + 9, p + 80);
                    if let Some(k) = memmem::find(rest, b"-----") {
                        end = Some(p + 9 + k + 5);
                    }
                }
                break;
            }
            b' ' | b'\t' | b'\r' | b'\n' | b'"' | b'\'' | b',' => p += 1,
            b'\\' => p += 1 + usize::from(matches!(at(t, p + 1), b'n' | b'r' | b't')),
            b':' if material < 64 => {
                // Header lines: Proc-Type, DEK-Info, Version, Comment.
                let line_end = memchr::memchr(b'\n', sub(t, p, limit)).map_or(limit, |i| p + i);
                if contains_ci(sub(t, p, line_end), b"encrypted") {
                    encrypted = true;
                }
                material = 0;
                seen = [false; 128];
                p = line_end;
            }
            _ => break,
        }
    }
    if material < 64 {
        return None;
    }
    let variety = seen.iter().filter(|&&x| x).count();
    let mut conf: f32 = match end {
        Some(_) => 0.95,
        None if material >= 200 => 0.9,
        None => 0.8,
    };
    if encrypted {
        conf -= 0.1;
    }
    if variety < 16 {
        conf = conf.min(0.4);
    }
    Some((end.unwrap_or(last), conf))
}

/// A base64-wrapped PEM private key (`LS0tLS1CRUdJTi…` is `-----BEGIN`).
fn pem64(t: &[u8], s: usize, sink: &mut Sink) {
    if is_alnum(before(t, s)) || matches!(before(t, s), b'+' | b'/') {
        return;
    }
    let mut end = s;
    while end < t.len() && end - s < 64 * 1024 && is_b64ish(at(t, end)) {
        end += 1;
    }
    if end - s < 200 {
        return;
    }
    let mut buf = [0u8; 60];
    let Some(head) = b64_decode_prefix(sub(t, s, s + 80), &mut buf) else {
        return;
    };
    if head.starts_with(b"-----BEGIN ") && memmem::find(head, b"PRIVATE KEY").is_some() {
        sink.push("secrets/private_key", 0.9, s, end, Prio::Structured);
    }
}

/// A PuTTY private key file with its private lines.
fn putty(t: &[u8], s: usize, e: usize, sink: &mut Sink) {
    if sub(t, s, e) != b"PuTTY-User-Key-File-" {
        return;
    }
    let window = sub(t, s, s + 8192);
    let Some(k) = memmem::find(window, b"Private-Lines:") else {
        return;
    };
    let mut p = s + k + 14;
    // Skip the count and the line break.
    while p < t.len() && at(t, p) != b'\n' {
        p += 1;
    }
    let start_material = p;
    let mut material = 0;
    while p < t.len() && p - start_material < 8192 {
        let c = at(t, p);
        if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=') {
            material += 1;
        } else if !matches!(c, b'\n' | b'\r') {
            break;
        }
        p += 1;
    }
    if material < 40 {
        return;
    }
    let conf = if contains_ci(window, b"Encryption: none") {
        0.9
    } else {
        0.8
    };
    sink.push("secrets/private_key", conf, s, p, Prio::Structured);
}

/// `"type": "service_account"` with a `private_key` PEM nearby: the key block is reported as a
/// GCP service account credential.
fn service_account(t: &[u8], s: usize, e: usize, st: &mut State, sink: &mut Sink) {
    if sub(t, s, e) != b"service_account" {
        return;
    }
    if memmem::find(sub(t, s.saturating_sub(24), s), b"type").is_none() {
        return;
    }
    let ws = s.saturating_sub(6000);
    let window = sub(t, ws, s + 6000);
    let Some(k) = memmem::find(window, b"private_key\"")
        .or_else(|| memmem::find(window, b"private_key\\\""))
        .or_else(|| memmem::find(window, b"private_key:"))
    else {
        return;
    };
    let kp = ws + k;
    let Some(b) = memmem::find(sub(t, kp, kp + 200), b"-----BEGIN ") else {
        return;
    };
    let begin = kp + b;
    if let Some((end, conf)) = pem_at(t, begin) {
        st.pem_done = st.pem_done.max(end);
        sink.push(
            "secrets/gcp_service_account",
            conf.max(0.9),
            begin,
            end,
            Prio::Bundle,
        );
    }
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Length of the base64url run at `p` (capped at `max`).
fn run_len(t: &[u8], p: usize, max: usize) -> usize {
    let mut q = p;
    while q < t.len() && q - p < max && is_b64url(at(t, q)) {
        q += 1;
    }
    q - p
}

/// A JWT (or JWE): `eyJ…` header segment that decodes to JSON with `"alg"`, a payload segment
/// and a signature.
fn jwt(t: &[u8], s: usize, sink: &mut Sink) {
    if sub(t, s, s + 3) != b"eyJ" || is_b64url(before(t, s)) || before(t, s) == b'.' {
        return;
    }
    let h_len = run_len(t, s, 4096);
    if h_len < 10 || at(t, s + h_len) != b'.' {
        return;
    }
    let ps = s + h_len + 1;
    let p_len = run_len(t, ps, 64 * 1024);
    if p_len < 4 {
        return;
    }
    let mut end = ps + p_len;
    let mut sig_len = 0;
    let mut segments = 2;
    while at(t, end) == b'.' && segments < 5 {
        let l = run_len(t, end + 1, 8192);
        segments += 1;
        sig_len = l;
        end += 1 + l;
        if l == 0 {
            break;
        }
    }
    if is_b64ish(at(t, end)) && at(t, end) != b'=' {
        return;
    }
    let mut hbuf = [0u8; 384];
    let Some(header) = b64_decode_prefix(sub(t, s, s + h_len), &mut hbuf) else {
        return;
    };
    if header.first() != Some(&b'{')
        || (memmem::find(header, b"\"alg\"").is_none()
            && memmem::find(header, b"\"enc\"").is_none())
    {
        return;
    }
    let unsigned = memmem::find(header, b"\"none\"").is_some() || sig_len == 0;
    let mut pbuf = [0u8; 1536];
    let payload = b64_decode_prefix(sub(t, ps, ps + p_len), &mut pbuf).unwrap_or(&[]);
    let payload_json = payload.first() == Some(&b'{');
    let anon = memmem::find(payload, b"\"role\":\"anon\"").is_some()
        || memmem::find(payload, b"\"role\": \"anon\"").is_some();
    let mut conf: f32 = if unsigned {
        0.55
    } else if !payload_json {
        0.7
    } else if anon {
        0.6
    } else {
        0.8
    };
    if sig_len > 0
        && let Some(cap) = fake_cap(sub(t, end - sig_len, end))
    {
        conf = conf.min(cap);
    }
    sink.push("secrets/jwt", conf, s, end, Prio::Structured);
}

const DB_SCHEMES: &[&[u8]] = &[
    b"postgres",
    b"postgresql",
    b"pgsql",
    b"mysql",
    b"mysqlx",
    b"mariadb",
    b"mongodb",
    b"mongodb+srv",
    b"redis",
    b"rediss",
    b"valkey",
    b"amqp",
    b"amqps",
    b"mssql",
    b"sqlserver",
    b"oracle",
    b"cockroachdb",
    b"clickhouse",
    b"couchdb",
    b"couchbase",
    b"couchbases",
    b"cassandra",
    b"neo4j",
    b"neo4j+s",
    b"bolt",
    b"memcached",
    b"influxdb",
    b"db2",
    b"snowflake",
    b"redshift",
    b"presto",
    b"trino",
    b"timescaledb",
    b"postgis",
    b"nats",
    b"kafka",
];
const OTHER_SCHEMES: &[&[u8]] = &[
    b"http",
    b"https",
    b"ftp",
    b"ftps",
    b"sftp",
    b"ssh",
    b"smtp",
    b"smtps",
    b"imap",
    b"imaps",
    b"pop3",
    b"pop3s",
    b"ldap",
    b"ldaps",
    b"git",
    b"svn",
    b"ws",
    b"wss",
    b"mqtt",
    b"mqtts",
    b"rtmp",
    b"rtsp",
    b"socks5",
    b"socks5h",
    b"socks",
    b"ssh+git",
    b"git+https",
    b"git+ssh",
];

/// Credentials in a URL's authority: `scheme://user:password@host`.
fn url(t: &[u8], s: usize, sink: &mut Sink) {
    // Scheme.
    let mut a = s;
    while a > 0 && s - a < 20 {
        let c = at(t, a - 1);
        if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'.' | b'-') {
            a -= 1;
        } else {
            break;
        }
    }
    while a < s && !at(t, a).is_ascii_alphabetic() {
        a += 1;
    }
    let scheme = sub(t, a, s);
    if scheme.is_empty() {
        return;
    }
    let is_db = DB_SCHEMES.iter().any(|x| scheme.eq_ignore_ascii_case(x));
    if !is_db && !OTHER_SCHEMES.iter().any(|x| scheme.eq_ignore_ascii_case(x)) {
        return;
    }
    // Authority.
    let hs = s + 3;
    let mut p = hs;
    let limit = hs.saturating_add(512).min(t.len());
    while p < limit {
        let c = at(t, p);
        if !c.is_ascii_graphic()
            || matches!(
                c,
                b'/' | b'?'
                    | b'#'
                    | b'"'
                    | b'\''
                    | b'`'
                    | b'<'
                    | b'>'
                    | b'\\'
                    | b'('
                    | b')'
                    | b'{'
                    | b'}'
                    | b'|'
            )
        {
            break;
        }
        p += 1;
    }
    let auth_end = p;
    let authority = sub(t, hs, auth_end);
    let Some(at_pos) = memchr::memrchr(b'@', authority) else {
        return;
    };
    let userinfo = sub(authority, 0, at_pos);
    let host = sub(authority, at_pos + 1, authority.len());
    let Some(colon) = memchr::memchr(b':', userinfo) else {
        return;
    };
    let user = sub(userinfo, 0, colon);
    let pw = sub(userinfo, colon + 1, userinfo.len());
    if pw.is_empty() || host.is_empty() || !host.iter().any(u8::is_ascii_alphanumeric) {
        return;
    }
    if (!user.is_empty() && is_placeholder(user, false) && user.len() < 3)
        || user.first() == Some(&b'$')
        || user.first() == Some(&b'<')
        || user.first() == Some(&b'{')
    {
        return;
    }
    let Some(strength) = password_strength(pw) else {
        return;
    };
    let same_as_user = pw.eq_ignore_ascii_case(user);
    let doc_host = contains_ci(host, b"example.");
    let (ty, mut conf): (&str, f32) = if is_db {
        let c = match strength {
            Strength::Strong => 0.9,
            Strength::Medium => 0.85,
            Strength::Weak => 0.75,
        };
        ("secrets/database_url", c)
    } else {
        let c = match strength {
            Strength::Strong => 0.85,
            Strength::Medium => 0.75,
            Strength::Weak => 0.6,
        };
        ("secrets/url_credentials", c)
    };
    if same_as_user {
        conf = conf.min(0.6);
    }
    if doc_host {
        conf -= 0.1;
    }
    let prio = if is_db {
        Prio::Structured
    } else {
        Prio::Context
    };
    sink.push(ty, conf, a, auth_end, prio);
}

/// `Bearer <token>` with a random-looking token.
fn bearer(t: &[u8], s: usize, _e: usize, sink: &mut Sink) {
    if is_alnum(before(t, s)) || !sub(t, s, s + 6).eq_ignore_ascii_case(b"bearer") {
        return;
    }
    let mut p = s + 6;
    let mut spaces = 0;
    while matches!(at(t, p), b' ' | b'\t') && spaces < 3 {
        p += 1;
        spaces += 1;
    }
    if spaces == 0 {
        return;
    }
    let vs = p;
    while p < t.len()
        && p - vs < 4096
        && (at(t, p).is_ascii_alphanumeric()
            || matches!(at(t, p), b'.' | b'_' | b'~' | b'+' | b'/' | b'-' | b'='))
    {
        p += 1;
    }
    let v = sub(t, vs, p);
    if v.len() < 20 || is_alnum(at(t, p)) || matches!(at(t, p), b'$' | b'{' | b'<' | b'%') {
        return;
    }
    if is_placeholder(v, false) || fake_cap(v).is_some() {
        return;
    }
    let c = super::util::Classes::of(v);
    let kinds = u8::from(c.lower) + u8::from(c.upper) + u8::from(c.digit);
    if kinds < 2 || super::util::entropy(v) < 3.2 || distinct(v) < 10 {
        return;
    }
    sink.push("secrets/bearer_token", 0.8, vs, p, Prio::Context);
}

/// `Basic <base64(user:password)>`.
fn basic(t: &[u8], s: usize, e: usize, sink: &mut Sink) {
    if is_alnum(before(t, s)) || !sub(t, s, e).eq_ignore_ascii_case(b"basic ") {
        return;
    }
    let _ = e;
    let mut p = s + 6;
    while at(t, p) == b' ' {
        p += 1;
    }
    let vs = p;
    while p < t.len()
        && p - vs < 512
        && (at(t, p).is_ascii_alphanumeric() || matches!(at(t, p), b'+' | b'/' | b'='))
    {
        p += 1;
    }
    let v = sub(t, vs, p);
    if v.len() < 8 || is_alnum(at(t, p)) {
        return;
    }
    let mut buf = [0u8; 384];
    let Some(dec) = b64_decode_prefix(v, &mut buf) else {
        return;
    };
    if dec.len() < 3 || !dec.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return;
    }
    let Some(colon) = memchr::memchr(b':', dec) else {
        return;
    };
    let (user, pw) = (sub(dec, 0, colon), sub(dec, colon + 1, dec.len()));
    if user.is_empty() {
        return;
    }
    let Some(strength) = password_strength(pw) else {
        return;
    };
    let conf = match strength {
        Strength::Strong => 0.85,
        Strength::Medium => 0.8,
        Strength::Weak => 0.7,
    };
    sink.push("secrets/basic_auth", conf, vs, p, Prio::Context);
}

/// The password argument of a credential constructor: `NetworkCredential("user", "pw")`.
fn cred_call(t: &[u8], e: usize, idx: usize, sink: &mut Sink) {
    let mut p = e;
    let mut arg = 0;
    loop {
        while matches!(at(t, p), b' ' | b'\t' | b'\r' | b'\n') {
            p += 1;
        }
        let q = at(t, p);
        if !matches!(q, b'"' | b'\'') {
            return;
        }
        let vs = p + 1;
        let Some(len) = memchr::memchr(q, sub(t, vs, vs + 256)) else {
            return;
        };
        let ve = vs + len;
        if arg == idx {
            let v = sub(t, vs, ve);
            let Some(strength) = password_strength(v) else {
                return;
            };
            let conf = match strength {
                Strength::Strong => 0.9,
                Strength::Medium => 0.85,
                Strength::Weak => 0.7,
            };
            sink.push("secrets/generic_password", conf, vs, ve, Prio::Structured);
            return;
        }
        p = ve + 1;
        while matches!(at(t, p), b' ' | b'\t' | b'\r' | b'\n') {
            p += 1;
        }
        if at(t, p) != b',' {
            return;
        }
        p += 1;
        arg += 1;
        if arg > idx {
            return;
        }
    }
}

/// `curl … -u user:password` / `--user user:password` (also after `\` line continuations).
fn curl_user(t: &[u8], s: usize, e: usize, sink: &mut Sink) {
    if at(t, s) == b'-' && !matches!(before(t, s), b' ' | b'\t' | b'\n') {
        return;
    }
    // The command must be curl: look back over the same logical line.
    let back_start = s.saturating_sub(400);
    let back = sub(t, back_start, s);
    let Some(c) = memmem::rfind(back, b"curl") else {
        return;
    };
    let between = sub(back, c, back.len());
    let mut i = 0;
    while let Some(nl) = memchr::memchr(b'\n', sub(between, i, between.len())) {
        let at_nl = i + nl;
        let cont = (at_nl > 0 && between.get(at_nl - 1) == Some(&b'\\'))
            || (at_nl > 1
                && between.get(at_nl - 1) == Some(&b'\r')
                && between.get(at_nl - 2) == Some(&b'\\'));
        if !cont {
            return;
        }
        i = at_nl + 1;
    }
    let mut p = e;
    if sub(t, s, e) == b" --user" {
        if !matches!(at(t, p), b' ' | b'=') {
            return;
        }
        p += 1;
    }
    while at(t, p) == b' ' {
        p += 1;
    }
    let quote = at(t, p);
    let quoted = matches!(quote, b'"' | b'\'');
    if quoted {
        p += 1;
    }
    let vs = p;
    while p < t.len() && p - vs < 300 {
        let b = at(t, p);
        if (quoted && b == quote)
            || (!quoted && (b.is_ascii_whitespace() || b == b';'))
            || b == b'\n'
        {
            break;
        }
        p += 1;
    }
    let v = sub(t, vs, p);
    let Some(colon) = memchr::memchr(b':', v) else {
        return;
    };
    let (user, pw) = (sub(v, 0, colon), sub(v, colon + 1, v.len()));
    if user.is_empty() || matches!(user.first(), Some(b'$' | b'<' | b'{' | b'%')) {
        return;
    }
    let Some(strength) = password_strength(pw) else {
        return;
    };
    let conf = match strength {
        Strength::Strong => 0.85,
        Strength::Medium => 0.8,
        Strength::Weak => 0.7,
    };
    let ps = vs + colon + 1;
    sink.push("secrets/basic_auth", conf, ps, p, Prio::Context);
}
