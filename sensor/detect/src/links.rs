//! `unknown_links`: URLs in the text graded against the policy's allow and deny lists and a set
//! of suspicious patterns. A host on the deny list scores 1.0; credentials in the URL 0.95;
//! punycode hosts and public IP-literal hosts 0.85; URL shorteners 0.8; unusual TLDs 0.7; a host
//! missing from a non-empty allow list 0.55; any other unknown host 0.3 (L4 only). Hosts on the
//! allow list, loopback/private addresses and a short list of well-known developer domains are
//! not reported. Compiled per policy, because the lists are part of the policy.

use crate::engine::{RawMatch, SignatureDetector};
use crate::policy::{MatchList, MatchType};

/// The detector type this module reports.
pub const UNKNOWN_LINKS: &str = "unknown_links";

const SHORTENERS: &[&str] = &[
    "bit.ly",
    "tinyurl.com",
    "t.co",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "rb.gy",
    "tiny.cc",
    "bl.ink",
    "t.ly",
    "s.id",
    "v.gd",
    "lnkd.in",
];

const UNUSUAL_TLDS: &[&str] = &[
    "zip", "mov", "xyz", "top", "tk", "ml", "ga", "cf", "gq", "click", "country", "kim", "work",
    "loan", "men", "review", "support", "icu", "rest", "cam", "quest", "monster", "buzz", "lol",
];

/// Domains developers paste all day; not reported unless denied.
const WELL_KNOWN: &[&str] = &[
    "github.com",
    "githubusercontent.com",
    "gitlab.com",
    "bitbucket.org",
    "docs.rs",
    "crates.io",
    "rust-lang.org",
    "npmjs.com",
    "npmjs.org",
    "pypi.org",
    "python.org",
    "nodejs.org",
    "stackoverflow.com",
    "developer.mozilla.org",
    "mozilla.org",
    "wikipedia.org",
    "anthropic.com",
    "claude.ai",
    "google.com",
    "microsoft.com",
    "apple.com",
    "golang.org",
    "go.dev",
    "kernel.org",
    "w3.org",
    "ietf.org",
    "json-schema.org",
    "example.com",
    "example.org",
    "example.net",
];

/// A compiled allow or deny list.
#[derive(Clone, Debug, Default)]
struct HostList {
    exact: Vec<String>,
    wildcard: Vec<String>,
}

impl HostList {
    fn new(list: &MatchList) -> Self {
        let mut out = HostList::default();
        for entry in &list.entries {
            let entry = entry.to_ascii_lowercase();
            match list.match_type {
                MatchType::Exact => out.exact.push(entry),
                MatchType::Wildcard => out.wildcard.push(entry),
            }
        }
        out
    }

    fn contains(&self, host: &str) -> bool {
        self.exact.iter().any(|e| e == host) || self.wildcard.iter().any(|p| glob_match(p, host))
    }

    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty()
    }
}

/// `*` matches any run of characters (dots included); everything else literally.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while ti < t.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// Grades URLs by the policy's lists and suspicious patterns.
#[derive(Clone, Debug)]
pub struct LinkDetector {
    allow: HostList,
    deny: HostList,
}

impl LinkDetector {
    /// Compiles the policy's lists.
    pub fn new(allow: &MatchList, deny: &MatchList) -> Self {
        LinkDetector {
            allow: HostList::new(allow),
            deny: HostList::new(deny),
        }
    }

    /// The confidence for one URL, or `None` when it is not reported.
    fn grade(&self, url: &Url<'_>) -> Option<f32> {
        let host = url.host.to_ascii_lowercase();
        let host = host.trim_end_matches('.');
        if host.is_empty() {
            return None;
        }
        if self.deny.contains(host) {
            return Some(1.0);
        }
        if self.allow.contains(host) {
            return None;
        }
        if url.has_credentials {
            return Some(0.95);
        }
        if let Some(ip) = parse_ip(host) {
            return if is_local_ip(ip) { None } else { Some(0.85) };
        }
        if host == "localhost"
            || host.ends_with(".localhost")
            || host.ends_with(".local")
            || host.ends_with(".internal")
        {
            return None;
        }
        if host.split('.').any(|label| label.starts_with("xn--")) {
            return Some(0.85);
        }
        if SHORTENERS.contains(&host) {
            return Some(0.8);
        }
        let tld = host.rsplit('.').next().unwrap_or("");
        if UNUSUAL_TLDS.contains(&tld) {
            return Some(0.7);
        }
        if WELL_KNOWN
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")))
        {
            return None;
        }
        if !self.allow.is_empty() {
            return Some(0.55);
        }
        Some(0.3)
    }
}

impl SignatureDetector for LinkDetector {
    fn detector_types(&self) -> &[&'static str] {
        &[UNKNOWN_LINKS]
    }

    fn scan(&self, text: &str, out: &mut Vec<RawMatch>) {
        for url in find_urls(text) {
            if let Some(confidence) = self.grade(&url) {
                out.push(RawMatch {
                    detector_type: UNKNOWN_LINKS,
                    confidence,
                    start: url.start,
                    end: url.end,
                });
            }
        }
    }
}

/// One URL found in a text.
#[derive(Debug, PartialEq)]
struct Url<'a> {
    start: usize,
    end: usize,
    host: &'a str,
    has_credentials: bool,
}

fn is_url_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b)
}

/// URLs with an http(s) or ftp scheme, or starting with `www.`.
fn find_urls(text: &str) -> impl Iterator<Item = Url<'_>> {
    let bytes = text.as_bytes();
    let scheme_urls = memchr::memmem::find_iter(bytes, b"://").filter_map(move |sep| {
        let mut start = sep;
        while start > 0 && bytes[start - 1].is_ascii_alphabetic() {
            start -= 1;
        }
        let scheme = text.get(start..sep)?.to_ascii_lowercase();
        if !matches!(scheme.as_str(), "http" | "https" | "ftp" | "ws" | "wss") {
            return None;
        }
        parse_after_scheme(text, start, sep + 3)
    });
    let www_urls = memchr::memmem::find_iter(bytes, b"www.").filter_map(move |at| {
        // Only a bare `www.` (not the host part of a URL with a scheme).
        if at >= 3 && &bytes[at - 3..at] == b"://" {
            return None;
        }
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'.') {
            return None;
        }
        parse_after_scheme(text, at, at)
    });
    scheme_urls.chain(www_urls)
}

fn parse_after_scheme(text: &str, start: usize, authority_start: usize) -> Option<Url<'_>> {
    let bytes = text.as_bytes();
    let mut end = authority_start;
    while end < bytes.len() && is_url_char(bytes[end]) {
        end += 1;
    }
    // Trailing punctuation is usually the sentence's, not the URL's.
    while end > authority_start
        && matches!(
            bytes[end - 1],
            b'.' | b',' | b';' | b':' | b'!' | b'?' | b')' | b']' | b'\''
        )
    {
        end -= 1;
    }
    let rest = text.get(authority_start..end)?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let (has_credentials, host_port) = match authority.rfind('@') {
        Some(at) => (true, &authority[at + 1..]),
        None => (false, authority),
    };
    let host = if let Some(inner) = host_port.strip_prefix('[') {
        inner.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.is_empty() || !(host.contains('.') || host.contains(':') || host == "localhost") {
        return None;
    }
    Some(Url {
        start,
        end,
        host,
        has_credentials,
    })
}

/// The URL with its userinfo replaced by `***` and query values by `***`, and the userinfo
/// (the credential) itself when there is one.
pub fn redact_url(url: &str) -> (String, Option<String>) {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (credential, host) = match authority.rfind('@') {
        Some(at) => (Some(authority[..at].to_owned()), &authority[at + 1..]),
        None => (None, authority),
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    if credential.is_some() {
        out.push_str("***@");
    }
    out.push_str(host);
    let (tail, fragment) = match tail.find('#') {
        Some(i) => tail.split_at(i),
        None => (tail, ""),
    };
    match tail.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let redacted: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) => format!("{k}=***"),
                    None => pair.to_owned(),
                })
                .collect();
            out.push_str(&redacted.join("&"));
        }
        None => out.push_str(tail),
    }
    out.push_str(fragment);
    (out, credential)
}

fn parse_ip(host: &str) -> Option<std::net::IpAddr> {
    host.parse().ok()
}

fn is_local_ip(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
        }
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector(allow: &[&str], deny: &[&str]) -> LinkDetector {
        LinkDetector::new(
            &MatchList {
                entries: allow.iter().map(|s| s.to_string()).collect(),
                match_type: MatchType::Wildcard,
            },
            &MatchList {
                entries: deny.iter().map(|s| s.to_string()).collect(),
                match_type: MatchType::Exact,
            },
        )
    }

    fn grades(d: &LinkDetector, text: &str) -> Vec<(String, f32)> {
        let mut out = Vec::new();
        d.scan(text, &mut out);
        out.iter()
            .map(|m| (text[m.start..m.end].to_owned(), m.confidence))
            .collect()
    }

    #[test]
    fn grading() {
        let d = detector(&["*.corp.example"], &["evil.test"]);
        let g = grades(
            &d,
            "see https://evil.test/x, http://a.corp.example/ok and https://bit.ly/abc.",
        );
        assert_eq!(
            g,
            vec![
                ("https://evil.test/x".into(), 1.0),
                ("https://bit.ly/abc".into(), 0.8)
            ]
        );
        let g = grades(
            &d,
            "https://user:pw@host.io/ http://8.8.8.8/a http://10.0.0.1/ http://xn--80ak6aa92e.com https://files.zip/a https://random.io",
        );
        assert_eq!(
            g,
            vec![
                ("https://user:pw@host.io/".into(), 0.95),
                ("http://8.8.8.8/a".into(), 0.85),
                ("http://xn--80ak6aa92e.com".into(), 0.85),
                ("https://files.zip/a".into(), 0.7),
                ("https://random.io".into(), 0.55),
            ]
        );
        let open = detector(&[], &[]);
        assert_eq!(
            grades(&open, "go to www.random.io now"),
            vec![("www.random.io".into(), 0.3)]
        );
        assert!(grades(&open, "http://localhost:8080/x https://github.com/a/b https://docs.rs/regex http://[::1]:3000/").is_empty());
    }

    #[test]
    fn redaction() {
        let (shown, cred) =
            redact_url("https://x-access-token:ghs_abc@github.com/o/r?token=t1&x=2#f");
        assert_eq!(shown, "https://***@github.com/o/r?token=***&x=***#f");
        assert_eq!(cred.as_deref(), Some("x-access-token:ghs_abc"));
        assert_eq!(redact_url("www.a.io/p").0, "www.a.io/p");
    }

    #[test]
    fn glob() {
        assert!(glob_match("*.example.com", "a.b.example.com"));
        assert!(!glob_match("*.example.com", "example.com"));
        assert!(glob_match("api.*.io", "api.foo.io"));
        assert!(!glob_match("api.*.io", "api.foo.com"));
        assert!(glob_match("*", "anything"));
    }

    #[test]
    fn odd_text_never_panics() {
        let d = detector(&[], &[]);
        for t in [
            "://",
            "http://",
            "https://é",
            "wwwww.",
            "x://y",
            "http://[",
            "http://a@",
            "ħttp://ü.com",
        ] {
            let mut out = Vec::new();
            d.scan(t, &mut out);
            for m in out {
                assert!(t.is_char_boundary(m.start) && t.is_char_boundary(m.end));
            }
        }
    }
}
