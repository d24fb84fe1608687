//! Secret detectors (`secrets/<provider>`): credentials, API keys, tokens, private keys, JWTs,
//! connection strings and hard-coded passwords in prompt text.
//!
//! Finding candidates: every detector starts at a literal (a token prefix such as `ghp_` or
//! `sk-`, an in-token marker such as `.atlasv1.` or `AZDO`, a structure start such as
//! `-----BEGIN ` or `://`, or a fragment of a secret keyword such as `ssw` or `Key`). Each
//! literal is searched by an *anchor*: its three-byte window richest in bytes that are rare in
//! prose (so `ghp_` is found by `hp_`), and the anchors are split over a few small multi-literal
//! searchers, which the `aho-corasick` crate runs with its SIMD "Teddy" algorithm at GB/s.
//! Only where a searcher reports an anchor is the full literal checked and its detector run: an
//! anchored regex on a small window for token formats ([`rules`]), hand-written parsing for
//! structured values ([`structured`]) and for keyword assignments ([`generic`]).
//!
//! Reporting: overlapping candidates are resolved in favour of the most specific type (provider
//! token over structure over header/URL credential over generic assignment), then confidence;
//! matches are reported in text order, spans on char boundaries. No allocation happens unless
//! something is found.

mod generic;
mod rules;
mod structured;
mod util;

#[cfg(test)]
mod quality;
#[cfg(test)]
mod tests;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::engine::{RawMatch, SignatureDetector};
use rules::{Anchor, Compiled, Post};
use util::{at, before, fake_cap, is_b64ish, sub};

/// Which of two overlapping matches wins: higher priority first, then confidence, then length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Prio {
    /// Keyword assignments with an entropy-checked value.
    Generic = 0,
    /// Header and URL credentials of no particular provider.
    Context = 1,
    /// Structured secrets: private keys, JWTs, connection strings, password hashes.
    Structured = 2,
    /// Provider token formats.
    Provider = 3,
    /// A whole credential file (GCP service account) around a private key.
    Bundle = 4,
}

/// One candidate match, before overlap resolution.
#[derive(Clone, Copy, Debug)]
pub(super) struct Hit {
    pub ty: &'static str,
    pub conf: f32,
    pub start: usize,
    pub end: usize,
    pub prio: Prio,
}

/// Candidates found in one text. Allocates only when something is found.
#[derive(Debug, Default)]
pub(super) struct Sink {
    hits: Vec<Hit>,
}

impl Sink {
    pub fn push(&mut self, ty: &'static str, conf: f32, start: usize, end: usize, prio: Prio) {
        if end > start && conf > 0.0 {
            self.hits.push(Hit {
                ty,
                conf: conf.clamp(0.0, 1.0),
                start,
                end,
                prio,
            });
        }
    }

    /// Resolves overlaps (the best candidate of each overlapping group wins) and appends the
    /// survivors in text order. Spans that are not on char boundaries are dropped.
    fn finish(mut self, text: &str, out: &mut Vec<RawMatch>) {
        if self.hits.is_empty() {
            return;
        }
        self.hits
            .sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        let better = |a: &Hit, b: &Hit| {
            (a.prio, a.conf, a.end - a.start) > (b.prio, b.conf, b.end - b.start)
        };
        let mut kept: Vec<Hit> = Vec::with_capacity(self.hits.len());
        for h in self.hits {
            if h.end > text.len()
                || !text.is_char_boundary(h.start)
                || !text.is_char_boundary(h.end)
            {
                continue;
            }
            if let Some(last) = kept.last_mut()
                && h.start < last.end
            {
                if better(&h, last) {
                    *last = h;
                }
                continue;
            }
            kept.push(h);
        }
        out.extend(kept.into_iter().map(|h| RawMatch {
            detector_type: h.ty,
            confidence: h.conf,
            start: h.start,
            end: h.end,
        }));
    }
}

/// Per-scan progress markers so one structure is parsed once.
#[derive(Debug, Default)]
pub(super) struct State {
    /// End of the last identifier the keyword detector looked at.
    pub ident_done: usize,
    /// End of the last private key block parsed.
    pub pem_done: usize,
}

/// What to run when a searcher finds a literal.
#[derive(Clone, Copy, Debug)]
enum Handler {
    /// Prefixed token rule `rule`, literal `lit` of that rule.
    Token { rule: usize, lit: usize },
    /// Secret keyword inside an identifier.
    Keyword,
    /// Structured detectors.
    Structured(structured::Kind),
}

/// Most anchors per searcher: up to this many, the `aho-corasick` crate searches with its
/// SIMD "Teddy" algorithm (GB/s); beyond it, a DFA (a few hundred MB/s).
const GROUP_SIZE: usize = 64;

/// Shortest text worth scanning.
const MIN_TEXT: usize = 8;

/// A trigger literal to verify around an anchor hit: the literal starts `off` bytes before the
/// anchor.
#[derive(Clone, Debug)]
struct Cand {
    off: usize,
    lit: Vec<u8>,
    handler: Handler,
}

/// A multi-literal searcher: the SIMD "Teddy" searcher when the CPU has it (up to 64
/// literals), else an Aho-Corasick automaton.
#[derive(Debug)]
enum Finder {
    Packed(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

impl Finder {
    fn build(anchors: &[&[u8]]) -> Option<Finder> {
        use aho_corasick::packed;
        let packed = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostLongest)
            .builder()
            .extend(anchors)
            .build();
        if let Some(p) = packed {
            return Some(Finder::Packed(p));
        }
        AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(anchors)
            .ok()
            .map(Finder::Automaton)
    }

    /// Calls `f(pattern, start)` for each non-overlapping leftmost-longest match.
    fn each(&self, t: &[u8], mut f: impl FnMut(usize, usize)) {
        match self {
            Finder::Packed(p) => {
                for m in p.find_iter(t) {
                    f(m.pattern().as_usize(), m.start());
                }
            }
            Finder::Automaton(a) => {
                for m in a.find_iter(t) {
                    f(m.pattern().as_usize(), m.start());
                }
            }
        }
    }
}

/// One searcher and, per anchor, the triggers to verify when it matches: its own and those of
/// the anchors of the group it starts with (a leftmost-longest search reports only the longest
/// anchor at each position).
#[derive(Debug)]
struct Group {
    finder: Finder,
    /// By pattern id.
    cands: Vec<Vec<Cand>>,
}

impl Group {
    fn build(anchors: &[(Vec<u8>, Vec<Cand>)]) -> Option<Group> {
        let pats: Vec<&[u8]> = anchors.iter().map(|(a, _)| a.as_slice()).collect();
        let finder = Finder::build(&pats)?;
        let cands = anchors
            .iter()
            .map(|(a, _)| {
                anchors
                    .iter()
                    .filter(|(other, _)| a.starts_with(other))
                    .flat_map(|(_, cs)| cs.iter().cloned())
                    .collect()
            })
            .collect();
        Some(Group { finder, cands })
    }
}

/// Picks the anchor of a trigger literal: the suffix starting at the three-byte window with
/// the most bytes that are rare in prose (not lowercase letters or spaces), so the SIMD
/// searcher's fingerprints rarely fire on ordinary text.
fn anchor_of(lit: &[u8]) -> (usize, Vec<u8>) {
    let rare = |w: &[u8]| {
        w.iter()
            .filter(|b| !(b.is_ascii_lowercase() || **b == b' '))
            .count()
    };
    let best = (0..=lit.len().saturating_sub(3))
        .max_by(|&i, &j| {
            rare(util::sub(lit, i, i + 3))
                .cmp(&rare(util::sub(lit, j, j + 3)))
                .then(j.cmp(&i))
        })
        .unwrap_or(0);
    (best, util::sub(lit, best, lit.len()).to_vec())
}

/// Chunk size that splits `n` items into the fewest chunks of at most `max`, evenly.
fn balanced(n: usize, max: usize) -> usize {
    let chunks = n.div_ceil(max.max(1)).max(1);
    n.div_ceil(chunks).max(1)
}

/// Adds a trigger under its anchor.
fn add(list: &mut Vec<(Vec<u8>, Vec<Cand>)>, anchor: Vec<u8>, cand: Cand) {
    match list.iter_mut().find(|(a, _)| *a == anchor) {
        Some((_, cs)) => cs.push(cand),
        None => list.push((anchor, vec![cand])),
    }
}

/// All secret detectors as one signature detector.
#[derive(Debug)]
pub struct SecretsDetector {
    /// Searchers, keywords and structures first.
    groups: Vec<Group>,
    tokens: Vec<Compiled>,
    types: Vec<&'static str>,
}

impl Default for SecretsDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl SecretsDetector {
    /// Compiles the detector. Patterns are constants: a rule that fails to compile is skipped
    /// (and fails a unit test), never a panic.
    pub fn new() -> Self {
        let tokens = rules::compile();
        // Keyword anchors: the keyword detector finds the identifier around them itself.
        let mut first: Vec<(Vec<u8>, Vec<Cand>)> = Vec::new();
        for k in generic::ANCHORS {
            let lit = k.as_bytes().to_vec();
            let cand = Cand {
                off: 0,
                lit: lit.clone(),
                handler: Handler::Keyword,
            };
            add(&mut first, lit, cand);
        }
        let mut rest: Vec<(Vec<u8>, Vec<Cand>)> = Vec::new();
        let mut trigger = |lit: Vec<u8>, handler: Handler| {
            let (off, anchor) = anchor_of(&lit);
            add(&mut rest, anchor, Cand { off, lit, handler });
        };
        for (l, kind) in structured::TRIGGERS {
            trigger(l.as_bytes().to_vec(), Handler::Structured(*kind));
        }
        for (rule, c) in tokens.iter().enumerate() {
            for (lit, l) in c.def.lits.iter().enumerate() {
                trigger(l.as_bytes().to_vec(), Handler::Token { rule, lit });
            }
        }
        // Anchors shorter than three bytes get their own searcher so the others keep
        // three-byte fingerprints; anchors whose fingerprint is plain lowercase join the
        // keyword searcher, which stays small (Teddy's buckets stay selective); the rest fill
        // searchers of up to 64.
        let (short, rest): (Vec<_>, Vec<_>) = rest.into_iter().partition(|(a, _)| a.len() < 3);
        let (common, rare): (Vec<_>, Vec<_>) = rest
            .into_iter()
            .partition(|(a, _)| util::sub(a, 0, 3).iter().all(|b| b.is_ascii_lowercase()));
        first.extend(common);
        // Anchors led by a lowercase letter share Teddy buckets poorly: smaller searchers.
        let (lower_led, mut other): (Vec<_>, Vec<_>) = rare
            .into_iter()
            .partition(|(a, _)| a.first().is_some_and(u8::is_ascii_lowercase));
        other.sort_by(|a, b| a.0.cmp(&b.0));
        let mut groups: Vec<Group> = Vec::new();
        for chunk in first
            .chunks(balanced(first.len(), GROUP_SIZE))
            .chain(other.chunks(balanced(other.len(), GROUP_SIZE)))
            .chain(lower_led.chunks(balanced(lower_led.len(), GROUP_SIZE)))
            .chain(short.chunks(GROUP_SIZE))
        {
            if let Some(g) = Group::build(chunk) {
                groups.push(g);
            }
        }
        let mut types: Vec<&'static str> = Vec::new();
        for ty in tokens
            .iter()
            .map(|c| c.def.ty)
            .chain(generic::TYPES.iter().copied())
            .chain(structured::TYPES.iter().copied())
        {
            if !types.contains(&ty) {
                types.push(ty);
            }
        }
        SecretsDetector {
            groups,
            tokens,
            types,
        }
    }

    fn dispatch(&self, h: Handler, t: &[u8], s: usize, e: usize, st: &mut State, sink: &mut Sink) {
        match h {
            Handler::Token { rule, lit } => {
                if let Some(c) = self.tokens.get(rule) {
                    run_token(c, lit, t, s, e, sink);
                }
            }
            Handler::Keyword => generic::keyword(t, s, e, st, sink),
            Handler::Structured(kind) => structured::run(kind, t, s, e, st, sink),
        }
    }
}

/// Runs one token rule at a literal hit `t[s..e]`.
fn run_token(c: &Compiled, lit: usize, t: &[u8], s: usize, e: usize, sink: &mut Sink) {
    let def = c.def;
    let Some(l) = def.lits.get(lit) else {
        return;
    };
    if sub(t, s, e) != l.as_bytes() {
        return;
    }
    let (ws, we) = match def.anchor {
        Anchor::Start => {
            if (def.edge.before)(before(t, s)) {
                return;
            }
            (s, s.saturating_add(def.max))
        }
        Anchor::Around { back, fwd } => (s.saturating_sub(back), e.saturating_add(fwd)),
    };
    let win = sub(t, ws, we);
    // (match start, match end, reported start, reported end) relative to the window.
    let mut found_span = None;
    if c.group {
        for caps in c.re.captures_iter(win) {
            let (Some(m), Some(g)) = (caps.get(0), caps.get(1)) else {
                continue;
            };
            if covers(def.anchor, m.start() + ws, m.end() + ws, s, e) {
                found_span = Some((m.start(), m.end(), g.start(), g.end()));
                break;
            }
        }
    } else {
        for m in c.re.find_iter(win) {
            if covers(def.anchor, m.start() + ws, m.end() + ws, s, e) {
                found_span = Some((m.start(), m.end(), m.start(), m.end()));
                break;
            }
        }
    }
    let Some((ms, me, rs, re)) = found_span else {
        return;
    };
    let (ms, me, rs, re) = (ms + ws, me + ws, rs + ws, re + ws);
    if (def.edge.before)(before(t, ms)) || (def.edge.after)(at(t, me)) {
        return;
    }
    let token = sub(t, rs, re);
    let body = match def.anchor {
        Anchor::Start if !c.group => sub(token, l.len(), token.len()),
        _ => token,
    };
    let Some(mut conf) = rules::post_conf(def.post, def.conf, token, body) else {
        return;
    };
    if def.post == Post::AwsKeyId
        && let Some((ss, se)) = aws_secret_after(t, re)
    {
        conf = 0.95;
        sink.push("secrets/aws_secret_key", 0.9, ss, se, Prio::Provider);
    }
    sink.push(def.ty, conf, rs, re, Prio::Provider);
}

fn covers(anchor: Anchor, ms: usize, me: usize, s: usize, e: usize) -> bool {
    match anchor {
        Anchor::Start => ms == s,
        Anchor::Around { .. } => ms <= s && me >= e,
    }
}

/// A 40-character AWS secret access key shape (base64 alphabet, mixed case and a digit or
/// `/`/`+`) within 300 bytes after an access key id.
fn aws_secret_after(t: &[u8], from: usize) -> Option<(usize, usize)> {
    let end = from.saturating_add(300).min(t.len());
    let mut p = from;
    while p < end {
        if !is_b64ish(at(t, p)) {
            p += 1;
            continue;
        }
        let start = p;
        while p < t.len() && is_b64ish(at(t, p)) {
            p += 1;
        }
        let run = sub(t, start, p);
        if run.len() == 40 && aws_secret_shape(run) {
            return Some((start, p));
        }
    }
    None
}

/// True for a plausible AWS secret access key: 40 chars of `[A-Za-z0-9/+]`, both cases and a
/// digit (or `/`, `+`), not a documentation value.
pub(super) fn aws_secret_shape(v: &[u8]) -> bool {
    if v.len() != 40
        || !v
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'/' || *b == b'+')
    {
        return false;
    }
    let c = util::Classes::of(v);
    c.lower && c.upper && (c.digit || c.symbol) && fake_cap(v).is_none()
}

impl SignatureDetector for SecretsDetector {
    fn detector_types(&self) -> &[&'static str] {
        &self.types
    }

    fn scan(&self, text: &str, out: &mut Vec<RawMatch>) {
        let t = text.as_bytes();
        // Nothing this short can hold a credential.
        if t.len() < MIN_TEXT {
            return;
        }
        let mut sink = Sink::default();
        for g in &self.groups {
            let mut st = State::default();
            g.finder.each(t, |pid, start| {
                let Some(cands) = g.cands.get(pid) else {
                    return;
                };
                for c in cands {
                    let Some(s) = start.checked_sub(c.off) else {
                        continue;
                    };
                    if sub(t, s, s + c.lit.len()) == c.lit.as_slice() {
                        self.dispatch(c.handler, t, s, s + c.lit.len(), &mut st, &mut sink);
                    }
                }
            });
        }
        sink.finish(text, out);
    }
}
