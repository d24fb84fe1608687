//! `pii/email`: e-mail addresses found from their `@`: a practical RFC 5321 subset
//! (`[A-Za-z0-9._%+-]` local part of up to 64 bytes, dot-separated LDH labels, alphabetic or
//! `xn--` TLD) scored by how real the domain looks. Addresses that are not a person's address in
//! practice score low: SSH remotes (`git@github.com:org/repo`), URL user info
//! (`ssh://git@host/…`), `noreply`-style senders, reserved/example domains and `user@localhost`.
//! A TLD that is a common file extension (`icon@2x.png`, `pkg@1.2.js`) is no address at all.

use super::{EMAIL, Scanner, at, ctx};

const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 253;

/// Well-formed address, known TLD.
const KNOWN_TLD: f32 = 0.90;
const KNOWN_TLD_CONTEXT: f32 = 0.96;
/// A TLD that is not a known one.
const UNKNOWN_TLD: f32 = 0.60;
const UNKNOWN_TLD_CONTEXT: f32 = 0.70;
/// A two-letter TLD that is also a source-file extension (`.rs`, `.py`, `.md`...).
const CODE_TLD: f32 = 0.50;
const CODE_TLD_CONTEXT: f32 = 0.60;
/// `noreply@…`, example/test/reserved domains.
const PLACEHOLDER: f32 = 0.40;
/// `git@…`
const GIT_USER: f32 = 0.35;
/// SSH remotes, URL user info, `user@localhost`.
const NOT_A_MAILBOX: f32 = 0.30;

/// Generic and common TLDs (lower case, sorted). Two-letter TLDs are all country codes.
const KNOWN_TLDS: &[&str] = &[
    "academy",
    "aero",
    "agency",
    "app",
    "art",
    "asia",
    "bank",
    "bar",
    "best",
    "biz",
    "blog",
    "business",
    "cafe",
    "capital",
    "care",
    "cat",
    "center",
    "chat",
    "city",
    "cloud",
    "club",
    "codes",
    "coffee",
    "com",
    "community",
    "company",
    "consulting",
    "coop",
    "credit",
    "design",
    "dev",
    "digital",
    "direct",
    "edu",
    "education",
    "email",
    "energy",
    "engineering",
    "events",
    "expert",
    "finance",
    "financial",
    "fm",
    "foundation",
    "fun",
    "game",
    "games",
    "global",
    "gmbh",
    "gov",
    "group",
    "guru",
    "health",
    "host",
    "inc",
    "info",
    "ink",
    "int",
    "international",
    "jobs",
    "law",
    "legal",
    "life",
    "link",
    "live",
    "llc",
    "ltd",
    "mail",
    "management",
    "marketing",
    "media",
    "mil",
    "mobi",
    "moe",
    "money",
    "museum",
    "name",
    "net",
    "network",
    "news",
    "ninja",
    "one",
    "online",
    "org",
    "partners",
    "photo",
    "photography",
    "page",
    "plus",
    "post",
    "pro",
    "pub",
    "rocks",
    "run",
    "school",
    "science",
    "services",
    "shop",
    "site",
    "social",
    "software",
    "solutions",
    "space",
    "store",
    "studio",
    "support",
    "systems",
    "team",
    "tech",
    "technology",
    "tel",
    "today",
    "tools",
    "top",
    "travel",
    "tv",
    "university",
    "vip",
    "wang",
    "website",
    "wiki",
    "win",
    "work",
    "works",
    "world",
    "xxx",
    "xyz",
    "zone",
];

/// TLD-looking file extensions: `name@2x.png`, `pkg@1.2.3.tgz`... never an address.
const FILE_TLDS: &[&str] = &[
    "bak", "bat", "bin", "bmp", "c", "cfg", "cjs", "class", "conf", "cpp", "css", "csv", "dat",
    "db", "dll", "doc", "docx", "exe", "gif", "gradle", "h", "hpp", "htm", "html", "ico", "ini",
    "jar", "java", "jpeg", "jpg", "json", "jsx", "kts", "lock", "log", "lua", "map", "mjs", "mp3",
    "mp4", "otf", "pdf", "php", "png", "ps1", "scss", "sql", "svg", "swift", "tar", "tgz", "toml",
    "tsx", "ttf", "txt", "vue", "wasm", "wav", "webm", "webp", "woff", "woff2", "xls", "xlsx",
    "xml", "yaml", "yml", "zip",
];

/// Two-letter country-code TLDs that are far more often a source-file extension.
const CODE_TLDS: &[&str] = &[
    "cc", "cs", "go", "gz", "hs", "js", "kt", "md", "ml", "pl", "py", "rb", "rs", "sh", "so", "ts",
];

/// Reserved, example and internal-only TLDs.
const PLACEHOLDER_TLDS: &[&str] = &[
    "corp",
    "example",
    "home",
    "internal",
    "invalid",
    "lan",
    "local",
    "localdomain",
    "localhost",
    "test",
];

/// Local parts of automated senders (substring, lower case).
const NOREPLY: &[&str] = &[
    "noreply",
    "no-reply",
    "no_reply",
    "donotreply",
    "do-not-reply",
    "do_not_reply",
    "mailer-daemon",
    "postmaster",
    "bounce",
];

#[inline]
fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

#[inline]
fn is_label(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

/// An `@` at `p`. Returns where to go on.
pub(super) fn at_sign(s: &mut Scanner<'_>, p: usize) -> usize {
    let b = s.bytes;
    let next = p + 1;
    // Local part, backwards.
    let mut ls = p;
    while ls > 0 && p - ls < MAX_LOCAL && is_local(at(b, ls - 1)) {
        ls -= 1;
    }
    if ls > 0 && is_local(at(b, ls - 1)) {
        return next;
    }
    while ls < p && matches!(at(b, ls), b'.' | b'-' | b'+') {
        ls += 1;
    }
    let Some(local) = b.get(ls..p) else {
        return next;
    };
    if local.is_empty() || local.ends_with(b".") || local.windows(2).any(|w| w == b"..") {
        return next;
    }
    // Domain, forwards.
    let mut pos = p + 1;
    let mut labels = 0usize;
    let mut tld = (pos, pos);
    loop {
        let start = pos;
        while is_label(at(b, pos)) && pos - start < 63 {
            pos += 1;
        }
        while pos > start && at(b, pos - 1) == b'-' {
            pos -= 1;
        }
        if pos == start || at(b, start) == b'-' {
            if labels == 0 {
                return next;
            }
            // "a@b.c.-x": stop before the dot.
            pos = start - 1;
            break;
        }
        labels += 1;
        tld = (start, pos);
        if pos - (p + 1) > MAX_DOMAIN {
            return next;
        }
        if at(b, pos) == b'.' && at(b, pos + 1).is_ascii_alphanumeric() {
            pos += 1;
        } else {
            break;
        }
    }
    let end = pos;
    let after = at(b, end);
    if after == b'@' || after.is_ascii_alphanumeric() {
        return next;
    }
    let Some(domain) = b.get(p + 1..end) else {
        return next;
    };
    if labels == 1 {
        if domain.eq_ignore_ascii_case(b"localhost") {
            s.push(EMAIL, NOT_A_MAILBOX, ls, end);
            return end;
        }
        return next;
    }
    let Some(tld) = b.get(tld.0..tld.1) else {
        return next;
    };
    let mut lower = [0u8; 24];
    let tld_lower: &[u8] = match lower.get_mut(..tld.len()) {
        Some(buf) => {
            buf.copy_from_slice(tld);
            buf.make_ascii_lowercase();
            buf
        }
        None => b"",
    };
    let idn = tld_lower.starts_with(b"xn--");
    if tld.len() < 2 || !(idn || tld.iter().all(u8::is_ascii_alphabetic)) {
        return next;
    }
    if in_list(FILE_TLDS, tld_lower) {
        return next;
    }
    let confidence = score(s, b, ls, end, local, domain, tld_lower, idn);
    s.push(EMAIL, confidence, ls, end);
    end
}

fn in_list(list: &[&str], word: &[u8]) -> bool {
    list.iter().any(|w| w.as_bytes() == word)
}

fn contains_ci(hay: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    hay.len() >= n.len() && hay.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

#[allow(clippy::too_many_arguments)]
fn score(
    s: &Scanner<'_>,
    b: &[u8],
    ls: usize,
    end: usize,
    local: &[u8],
    domain: &[u8],
    tld: &[u8],
    idn: bool,
) -> f32 {
    // SSH remote / scp target: `git@github.com:org/repo`, `user@host:~/x`.
    let after = at(b, end);
    let next = at(b, end + 1);
    if after == b':' && (next.is_ascii_alphanumeric() || matches!(next, b'/' | b'~' | b'.' | b'_'))
    {
        return NOT_A_MAILBOX;
    }
    // URL user info: `ssh://git@host/...`, `https://user:pass@host`.
    let before = if ls == 0 { 0 } else { at(b, ls - 1) };
    if before == b'/' {
        return NOT_A_MAILBOX;
    }
    if before == b':' {
        let word_start = b[..ls - 1]
            .iter()
            .rposition(|c| !c.is_ascii_alphabetic())
            .map_or(0, |k| k + 1);
        if !b[word_start..ls - 1].eq_ignore_ascii_case(b"mailto") {
            return NOT_A_MAILBOX;
        }
    }
    if local.eq_ignore_ascii_case(b"git") {
        return GIT_USER;
    }
    if NOREPLY.iter().any(|w| contains_ci(local, w))
        || domain
            .split(|&c| c == b'.')
            .any(|l| l.eq_ignore_ascii_case(b"noreply") || l.eq_ignore_ascii_case(b"no-reply"))
    {
        return PLACEHOLDER;
    }
    if in_list(PLACEHOLDER_TLDS, tld) || is_example_domain(domain) {
        return PLACEHOLDER;
    }
    let context = s.context(ls, end) & ctx::EMAIL != 0;
    let (plain, with_context) = if tld.len() == 2 && !idn {
        if in_list(CODE_TLDS, tld) {
            (CODE_TLD, CODE_TLD_CONTEXT)
        } else {
            (KNOWN_TLD, KNOWN_TLD_CONTEXT)
        }
    } else if in_list(KNOWN_TLDS, tld) {
        (KNOWN_TLD, KNOWN_TLD_CONTEXT)
    } else {
        (UNKNOWN_TLD, UNKNOWN_TLD_CONTEXT)
    };
    if context { with_context } else { plain }
}

/// `example.com`, `mail.example.org`, `example.co.uk`: a label `example` right before the
/// registrable suffix.
fn is_example_domain(domain: &[u8]) -> bool {
    let labels: [&[u8]; 3] = {
        let mut it = domain.rsplit(|&c| c == b'.');
        [
            it.next().unwrap_or(b""),
            it.next().unwrap_or(b""),
            it.next().unwrap_or(b""),
        ]
    };
    let ex = |l: &[u8]| l.eq_ignore_ascii_case(b"example");
    ex(labels[1]) || (labels[1].len() <= 3 && labels[0].len() == 2 && ex(labels[2]))
}
