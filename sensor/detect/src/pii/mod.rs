//! PII signature detectors (`pii/*`): e-mail addresses, payment card numbers, US social security
//! numbers, phone numbers, IP addresses and IBANs, all found by one [`PiiDetector`] in one pass.
//! LLM-backed PII types (`pii/name`, `pii/address`) do not live here.
//!
//! # How a text is scanned
//!
//! One forward pass looks only at the bytes that can start a candidate: ASCII digits, `:` and `@`
//! (8 bytes at a time, SWAR). Everything else is validated locally around that byte:
//!
//! - `@` → an e-mail address: local part scanned backwards, domain forwards (`email.rs`);
//! - a digit → a dotted quad (`ip.rs`), an IPv6 address starting with a hex group, an IBAN whose
//!   two-letter country code precedes the digit (`iban.rs`), or else a *number chain*: digit
//!   groups joined by single spaces, dashes, dots or parentheses, optionally after `+`
//!   (`numeric.rs`), read as a card number, then an SSN, then a phone number;
//! - `:` → an IPv6 address (`::1`, `fe80::1`, `abcd:…`).
//!
//! Digits inside identifiers (`sha256`, `x86_64`, hex hashes, UUID parts), digits glued to other
//! numbers by `.`, `:`, `,`, `/` (versions, times, line:column, dates like `12/25`) and digits
//! glued to `@` or a minus sign are never the start of a match. No allocation happens unless
//! something matches. Matches are reported in text order and never overlap: one span, one type
//! (an e-mail address wins over a number in its local part).
//!
//! Data in code gets no high score by accident: card-shaped numbers that are items of a number
//! list (`(5503284107318959, 446)`, u64 tables) or 17–19 digits long stay under L3 without card
//! context, and groups joined only by spaces inside a longer run of numbers (a table) are never
//! read as phone or card numbers without context.
//!
//! # Confidence
//!
//! Each type has a base confidence from the strength of its pattern and its validation (Luhn,
//! SSA rules, mod-97, IP ranges, TLD...), then *context enhancement* in the style of Microsoft
//! Presidio: the 50 bytes on each side of the match are searched (ASCII case-insensitive, whole
//! words, see `CONTEXT_WORDS`) for the type's context words, and a hit raises the confidence by a
//! type-specific step.
//! Some weak patterns (bare 9 digits as an SSN, phone numbers in loose national formats, Luhn-valid
//! numbers of no known card brand) are only reported with context. A strong phone word right
//! before a phone number (`Phone: `, `Mobile:\n`, `call me at `: at most 12 bytes, no digit in
//! between) is a *label* and lifts the loose formats to 0.75. The values (L1 = 0.90, L2 = 0.75,
//! L3 = 0.50, L4 = 0.25):
//!
//! | type | no context | with context |
//! |---|---|---|
//! | `pii/email`, well-formed, known TLD | 0.90 | 0.96 |
//! | `pii/email`, unknown TLD | 0.60 | 0.70 |
//! | `pii/email`, a TLD that is also a source-file extension (`.rs`, `.py`, `.md`…) | 0.50 | 0.60 |
//! | `pii/email`, `noreply`/example/test domains, `user@localhost` | 0.30–0.40 | same |
//! | `pii/email`, SSH remote `git@host:org/repo`, URL user info | 0.30 | same |
//! | `pii/credit_card`, Luhn + brand with its usual length (Visa 16, MC, Amex...) | 0.80 (0.85 grouped) | 0.95 |
//! | `pii/credit_card`, Luhn + less usual brand length (Visa 13, Diners 16) | 0.65 | 0.90 |
//! | `pii/credit_card`, Luhn + 17–19 digits, Maestro, old JCB 15, or an item of a number list | 0.45 | 0.85 |
//! | `pii/credit_card`, Luhn, no known brand | — | 0.60 |
//! | `pii/us_social_security_number` `AAA-GG-SSSS` (SSA-valid) | 0.70 | 0.95 |
//! | `pii/us_social_security_number` `AAA GG SSSS`, `AAA.GG.SSSS` / 9 bare digits | — | 0.85 / 0.60 |
//! | `pii/phone_number` `+CC …` (valid country code) | 0.75 | 0.95 |
//! | `pii/phone_number` NANP `(415) 555-2671`, `415-555-2671` (`+1`/`1-` adds 0.05) | 0.75 | 0.95 |
//! | `pii/phone_number` NANP `415.555.2671` / `415 555 2671` | 0.65 / 0.60 | 0.85 / 0.80 |
//! | `pii/phone_number` `0044 …` | 0.55 | 0.80 |
//! | `pii/phone_number` `+1`/`001` but not a valid NANP area code/exchange | 0.50 / 0.30 | 0.70 / 0.55 |
//! | `pii/phone_number` bare NANP 10 digits, loose national formats, `0` + 9–10 digits | — | 0.60–0.65 (label: 0.75) |
//! | `pii/ip_address` public IPv4 / global IPv6 | 0.85 | 0.95 |
//! | `pii/ip_address` uncompressed IPv6 outside 2000::/3 | 0.75 | 0.85 |
//! | `pii/ip_address` private (10/8, 172.16/12, 192.168/16, 100.64/10, 169.254/16, fc00::/7, fe80::/10) | 0.50 | 0.55 |
//! | `pii/ip_address` documentation, benchmarking, multicast, reserved | 0.45 | 0.50 |
//! | `pii/ip_address` loopback, unspecified / netmask-like (`255.…`) | 0.40 / 0.30 | same |
//! | `pii/ip_address` IPv4 like a section number/OID (first octet < 10, all < 100: `2.5.29.15`) | ≤ 0.60 | address context: as above |
//! | `pii/ip_address` IPv4 near "version", "release", "build", "section", "RFC", "OID" | 0.30 | address context: as above |
//! | `pii/iban_code` valid length + mod-97, upper case | 0.95 | 0.99 |
//! | `pii/iban_code` valid, lower case | 0.90 | 0.94 |
//!
//! Well-known test card numbers (4111 1111 1111 1111, 5555 5555 5555 4444, ...) are reported like
//! any other card number: they are valid numbers, and the policy, not the detector, decides
//! whether test data in a prompt matters.

mod email;
mod iban;
mod ip;
mod numeric;

#[cfg(test)]
mod tests;

use aho_corasick::AhoCorasick;

use crate::engine::{RawMatch, SignatureDetector};

/// `pii/email`
pub const EMAIL: &str = "pii/email";
/// `pii/credit_card`
pub const CREDIT_CARD: &str = "pii/credit_card";
/// `pii/us_social_security_number`
pub const US_SSN: &str = "pii/us_social_security_number";
/// `pii/phone_number`
pub const PHONE_NUMBER: &str = "pii/phone_number";
/// `pii/ip_address`
pub const IP_ADDRESS: &str = "pii/ip_address";
/// `pii/iban_code`
pub const IBAN_CODE: &str = "pii/iban_code";

const TYPES: [&str; 6] = [
    EMAIL,
    CREDIT_CARD,
    US_SSN,
    PHONE_NUMBER,
    IP_ADDRESS,
    IBAN_CODE,
];

/// All PII detectors as one signature detector.
#[derive(Debug)]
pub struct PiiDetector {
    context: ContextWords,
}

impl Default for PiiDetector {
    fn default() -> Self {
        PiiDetector::new()
    }
}

impl PiiDetector {
    /// Compiles the detector (the context-word automaton; never fails: without it, confidences
    /// are computed without context).
    pub fn new() -> Self {
        PiiDetector {
            context: ContextWords::new(),
        }
    }
}

impl SignatureDetector for PiiDetector {
    fn detector_types(&self) -> &[&'static str] {
        &TYPES
    }

    fn scan(&self, text: &str, out: &mut Vec<RawMatch>) {
        let mut scanner = Scanner {
            bytes: text.as_bytes(),
            context: &self.context,
            out,
            base: 0,
        };
        scanner.base = scanner.out.len();
        scanner.run();
    }
}

/// One scan of one text.
pub(crate) struct Scanner<'a> {
    pub(crate) bytes: &'a [u8],
    context: &'a ContextWords,
    out: &'a mut Vec<RawMatch>,
    /// Index in `out` of this scan's first match.
    base: usize,
}

impl Scanner<'_> {
    fn run(&mut self) {
        let mut i = 0;
        while let Some(p) = next_candidate(self.bytes, i) {
            let next = match self.bytes.get(p) {
                Some(b'@') => email::at_sign(self, p),
                Some(b':') => ip::at_colon(self, p),
                _ => self.at_digit(p),
            };
            i = next.max(p + 1);
        }
    }

    /// A digit at `i`: what it starts, or the word it is in. Returns where to go on.
    fn at_digit(&mut self, i: usize) -> usize {
        let b = self.bytes;
        if is_word(at(b, i.wrapping_sub(1))) {
            // Inside a word: only an IBAN (`GB82…`) or an IPv6 group (`fe80:…`) starts here.
            let mut ws = i;
            while ws > 0 && i - ws < 64 && is_word(at(b, ws - 1)) {
                ws -= 1;
            }
            let we = word_end(b, i);
            if at(b, we) == b':'
                && we - ws <= 4
                && b[ws..we].iter().all(u8::is_ascii_hexdigit)
                && let Some(end) = ip::try_ipv6(self, ws)
            {
                return end;
            }
            if i - ws == 2
                && !is_word(at(b, ws.wrapping_sub(1)))
                && let Some(end) = iban::try_iban(self, ws)
            {
                return end;
            }
            return we;
        }
        let we = word_end(b, i);
        if at(b, we) == b':'
            && we - i <= 4
            && let Some(end) = ip::try_ipv6(self, i)
        {
            return end;
        }
        if let Some(end) = ip::try_ipv4(self, i) {
            return end;
        }
        numeric::scan_chain(self, i)
    }

    /// Context categories found around `start..end` (the match itself excluded).
    pub(crate) fn context(&self, start: usize, end: usize) -> u16 {
        self.context.around(self.bytes, start, end)
    }

    /// Records a match, keeping this scan's matches ordered and disjoint: an e-mail address
    /// (found from its `@`, after what precedes it) replaces the matches it overlaps; any other
    /// type gives way to an earlier overlapping match.
    pub(crate) fn push(
        &mut self,
        detector_type: &'static str,
        confidence: f32,
        start: usize,
        end: usize,
    ) {
        if start >= end || end > self.bytes.len() {
            return;
        }
        while self.out.len() > self.base {
            let Some(last) = self.out.last() else { break };
            if last.end <= start {
                break;
            }
            if detector_type == EMAIL {
                self.out.pop();
            } else {
                return;
            }
        }
        self.out.push(RawMatch {
            detector_type,
            confidence: confidence.clamp(0.0, 1.0),
            start,
            end,
        });
    }
}

/// The byte at `i`, or 0 outside the text (0 is neither a word byte nor a digit).
#[inline]
pub(crate) fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

/// `[A-Za-z0-9_]`
#[inline]
pub(crate) fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// A byte that makes a context word part of a longer word: `[A-Za-z0-9_]` or non-ASCII
/// (`EXT4_IOC`, `ND_IOCTL_CALL`, `phía`).
#[inline]
fn joins_word(c: u8) -> bool {
    is_word(c) || c >= 0x80
}

/// End of the word (`[A-Za-z0-9_]*`) starting at `i`.
#[inline]
pub(crate) fn word_end(b: &[u8], mut i: usize) -> usize {
    while is_word(at(b, i)) {
        i += 1;
    }
    i
}

const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `x` that is in `0x30..=0x3a` (digits and `:`), and of each byte
/// that is `0x40` (`@`) — the lowest set bit is always exact. Digits: the bit-twiddling
/// "hasbetween", exact per byte (no borrow or carry crosses lanes, bytes >= 0x80 never count).
/// `@`: "haszero" of `x ^ 0x40…`, exact up to its first hit.
#[inline]
fn candidate_mask(x: u64) -> u64 {
    let low = x & LO7;
    let digits = (ONES * (127 + 0x3b)).wrapping_sub(low) & !x & (low + ONES * (127 - 0x2f)) & HIGH;
    let at = x ^ (ONES * 0x40);
    let at = at.wrapping_sub(ONES) & !at & HIGH;
    digits | at
}

#[inline]
fn is_candidate(c: u8) -> bool {
    (b'0'..=b':').contains(&c) || c == b'@'
}

/// The next byte at or after `i` that can start a candidate.
#[inline]
fn next_candidate(b: &[u8], mut i: usize) -> Option<usize> {
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let mask = candidate_mask(u64::from_le_bytes(word));
        if mask != 0 {
            return Some(i + (mask.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while i < b.len() {
        if is_candidate(b[i]) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Context categories (bit flags).
pub(crate) mod ctx {
    pub const CARD: u16 = 1;
    pub const SSN: u16 = 1 << 1;
    pub const PHONE: u16 = 1 << 2;
    pub const EMAIL: u16 = 1 << 3;
    pub const IP: u16 = 1 << 4;
    pub const IBAN: u16 = 1 << 5;
    pub const VERSION: u16 = 1 << 6;
    /// A strong phone word labelling the match: it ends at most [`super::LABEL_GAP`] bytes
    /// before it, with no digit in between (`Phone: `, `call me at `, `Mobile:\n`).
    pub const PHONE_LABEL: u16 = 1 << 8;
    /// Categories that only count as a label right before the match.
    pub const LABELS: u16 = 0xff00;
}

/// Most bytes between a label word and the value it labels.
const LABEL_GAP: usize = 12;

/// How far context words are looked for on each side of a match, in bytes.
const CONTEXT_WINDOW: usize = 50;

/// Context words per category. Whole words, ASCII case-insensitive; inflected forms are listed.
const CONTEXT_WORDS: &[(u16, &[&str])] = &[
    (
        ctx::CARD,
        &[
            "card",
            "cards",
            "card#",
            "cardholder",
            "cardnumber",
            "credit",
            "debit",
            "cc",
            "ccn",
            "visa",
            "mastercard",
            "amex",
            "american express",
            "discover",
            "diners",
            "jcb",
            "maestro",
            "unionpay",
            "payment",
            "payments",
            "pay",
            "exp",
            "expiry",
            "expires",
            "expiring",
            "expiration",
            "cvv",
            "cvc",
            "billing",
            "billed",
            "charge",
            "charged",
        ],
    ),
    (
        ctx::SSN,
        &[
            "ssn",
            "ssns",
            "ssn#",
            "ss#",
            "social security",
            "social-security",
            "soc sec",
            "ssa",
        ],
    ),
    (
        ctx::PHONE,
        &[
            "phone",
            "phones",
            "phone#",
            "telephone",
            "tel",
            "mobile",
            "mob",
            "cell",
            "cellphone",
            "cell phone",
            "fax",
            "call",
            "calls",
            "called",
            "calling",
            "dial",
            "contact",
            "whatsapp",
            "sms",
            "text me",
            "voicemail",
            "landline",
            "desk",
            "office",
            "hotline",
            "ext",
            "extension",
            "answer",
            "answering",
            "message",
            "messages",
            "reach",
            "ph",
        ],
    ),
    (
        ctx::PHONE_LABEL,
        &[
            "phone",
            "phones",
            "phone#",
            "telephone",
            "tel",
            "mobile",
            "mob",
            "cell",
            "cellphone",
            "cell phone",
            "fax",
            "call",
            "calls",
            "called",
            "calling",
            "dial",
            "whatsapp",
            "sms",
            "ph",
            "hotline",
            "landline",
        ],
    ),
    (
        ctx::EMAIL,
        &[
            "email", "emails", "e-mail", "e-mails", "mail", "mailto", "contact", "inbox",
        ],
    ),
    (
        ctx::IP,
        &[
            "ip",
            "ips",
            "ipv4",
            "ipv6",
            "ip address",
            "addr",
            "host",
            "hostname",
            "server",
            "client",
            "remote",
            "proxy",
            "gateway",
            "dns",
            "inet",
            "connect",
            "firewall",
            "subnet",
            "ping",
        ],
    ),
    (
        ctx::IBAN,
        &[
            "iban",
            "bank",
            "account",
            "acct",
            "transfer",
            "wire",
            "sepa",
            "bic",
            "swift",
            "payment",
            "beneficiary",
        ],
    ),
    (
        ctx::VERSION,
        &[
            "version", "versions", "ver", "release", "build", "section", "sections", "oid", "rfc",
            "chapter", "clause", "step",
        ],
    ),
];

/// The context-word automaton.
#[derive(Debug)]
struct ContextWords {
    automaton: Option<AhoCorasick>,
    /// Category flags per pattern id.
    flags: Vec<u16>,
}

impl ContextWords {
    fn new() -> Self {
        let mut words: Vec<&str> = Vec::new();
        let mut flags: Vec<u16> = Vec::new();
        for (flag, list) in CONTEXT_WORDS {
            for w in *list {
                match words.iter().position(|x| x == w) {
                    Some(k) => flags[k] |= flag,
                    None => {
                        words.push(w);
                        flags.push(*flag);
                    }
                }
            }
        }
        let automaton = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&words)
            .ok();
        ContextWords { automaton, flags }
    }

    fn around(&self, b: &[u8], start: usize, end: usize) -> u16 {
        let Some(ac) = &self.automaton else { return 0 };
        let lo = start.saturating_sub(CONTEXT_WINDOW);
        let hi = end.saturating_add(CONTEXT_WINDOW).min(b.len());
        let mut found = 0;
        for (from, to) in [(lo, start.min(b.len())), (end.min(hi), hi)] {
            let Some(hay) = b.get(from..to) else { continue };
            let Ok(matches) = ac.try_find_overlapping_iter(hay) else {
                continue;
            };
            for m in matches {
                let (s, e) = (from + m.start(), from + m.end());
                let before = if s == 0 { 0 } else { at(b, s - 1) };
                if joins_word(before) || joins_word(at(b, e)) {
                    continue;
                }
                let mut flags = self.flags.get(m.pattern().as_usize()).copied().unwrap_or(0);
                let label = to == start
                    && start - e <= LABEL_GAP
                    && !b[e..start].iter().any(u8::is_ascii_digit);
                if !label {
                    flags &= !ctx::LABELS;
                }
                found |= flags;
            }
        }
        found
    }
}
