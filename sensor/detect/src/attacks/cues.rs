//! The cue pass: one ASCII-case-insensitive Aho-Corasick DFA over the raw text that finds where
//! attack text may be (override verbs, persona names, chat-template tokens, the base64, hex and
//! binary encodings of the key words, their rot13 and reversed spellings, a few leetspeak and
//! spaced-out spellings, multilingual keywords). Everything else the detector does happens only
//! in windows around these hits, so this pass is the cost of scanning clean text. It runs four
//! interleaved lanes over four quarters of the text: the DFA loop is bound by the latency of one
//! table load per byte, and four independent lanes keep four loads in flight.

use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind};
use base64::Engine as _;

/// What a cue hit asks the detector to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CueKind {
    /// Normalise and check a window around the hit.
    Plain,
    /// The window is rot13 text.
    Rot13,
    /// The window is reversed text.
    Reverse,
    /// The hit is inside a base64 blob.
    Base64,
    /// The hit is inside a hex blob.
    Hex,
    /// The hit is inside a run of 8-bit binary groups.
    Binary,
    /// A markdown image: checked for a data-carrying URL first.
    Image,
}

/// What must be near a gated cue for it to count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Gate {
    /// Always counts.
    Open,
    /// Secrets and data: a send verb and a destination nearby.
    Exfil,
    /// "decode": a "follow / execute / do what it says" nearby.
    Decode,
    /// curl/wget: a pipe, a command substitution or a secret file after it.
    Curl,
    /// `"role"`: "system" or "developer" right after it.
    Role,
    /// ignore/forget/disregard: something to override after it.
    Override,
    /// "prompt": a reveal or override verb, a possessive or a marker around it.
    Prompt,
}

/// One cue hit: byte range in the scanned text.
#[derive(Clone, Copy, Debug)]
pub(super) struct CueHit {
    pub kind: CueKind,
    pub gate: Gate,
    pub start: usize,
    pub end: usize,
}

/// Plain cues (ASCII case-insensitive; non-ASCII ones are also added capitalised and upper-case).
const PLAIN: &[&str] = &[
    // instruction override (en + es/fr/de/it/pt)
    "pay no attention",
    "not follow",
    "stop following",
    "set aside",
    "instruction",
    "guideline",
    "directive",
    "supersede",
    "precedence over",
    "olvid",
    "oubli",
    "vergiss",
    "vergess",
    "dimentic",
    "esquec",
    "esqueç",
    "instruc",
    "istruzion",
    "anweisung",
    "richtlinie",
    "regeln",
    "consigne",
    "direttiv",
    "directri",
    "diretriz",
    "from now on",
    "from this point",
    "from this moment",
    "henceforth",
    "for the rest of",
    "for the remainder of",
    "ab jetzt",
    "ab sofort",
    "von nun an",
    "désormais",
    "desormais",
    "dorénavant",
    "a partir de",
    "de ahora en adelante",
    "d'ora in",
    "da ora in poi",
    "de agora em diante",
    "new task",
    "real task",
    "actual task",
    "true task",
    "new goal",
    "new objective",
    "new rules",
    "rules have",
    "rules are",
    "rules has",
    "rules were",
    // system prompt extraction
    "system message",
    "verbatim",
    "word for word",
    "word-for-word",
    "above this",
    "written above",
    "words above",
    "text above",
    "everything above",
    "context window",
    "mot pour mot",
    "palabra por palabra",
    "parola per parola",
    "palavra por palavra",
    "wortwörtlich",
    "wortwoertlich",
    "wortwortlich",
    // delimiters and roles
    "<|",
    "[inst]",
    "[/inst]",
    "<<sys",
    "<start_of_turn",
    "<end_of_turn",
    "</system",
    "<system>",
    "[system",
    "[admin",
    "[developer",
    "system: ",
    "system:\t",
    "system:\n",
    "system:\r",
    "system : ",
    "system :\t",
    "system :\n",
    "system :\r",
    "system note",
    "system update",
    "system alert",
    "system notice",
    "system override",
    "admin note",
    "admin: ",
    "admin:\t",
    "admin:\n",
    "admin:\r",
    "administrator: ",
    "administrator:\t",
    "administrator:\n",
    "administrator:\r",
    "developer: ",
    "developer:\t",
    "developer:\n",
    "developer:\r",
    "developer note",
    "systemhinweis",
    "nota del sistema",
    "nota di sistema",
    "note système",
    "note systeme",
    "human: ",
    "human:\t",
    "human:\n",
    "human:\r",
    "assistant: ",
    "assistant:\t",
    "assistant:\n",
    "assistant:\r",
    "end of user",
    "end of the user",
    "end of input",
    "end of document",
    "end of the document",
    "end of context",
    "end of prompt",
    "end of system",
    "end of conversation",
    "end of data",
    "end of email",
    "end of untrusted",
    "begin system",
    "start of system",
    "begin new",
    // addressing the model from inside content
    "note to",
    "note for",
    "notice to",
    "message to the",
    "message for the",
    "instructions for",
    "important for",
    "attention ai",
    "if you are an",
    "if you're an",
    "ai assistant",
    "ai agent",
    "ai model",
    "ai system",
    "no limit",
    "without limit",
    "without any limit",
    "respond twice",
    "answer twice",
    "reply twice",
    "instruç",
    "coding agent",
    "dear ai",
    "dear assistant",
    "dear claude",
    "when you read",
    "when you process",
    "when you summar",
    "when you see this",
    "your memory",
    "long-term memory",
    "long term memory",
    "persistent memory",
    // exfiltration
    "![",
    // encodings
    "\\u00",
    // jailbreak
    "jailbr",
    "do anything now",
    "strive to avoid norms",
    "machiavellian",
    "dan mode",
    "dan,",
    "dan.",
    "dan:",
    "dan ",
    "[dan]",
    "stan ",
    "stan,",
    "stan:",
    "[stan]",
    "dude",
    "mongo tom",
    "confidant",
    "antigpt",
    "anti-gpt",
    "developer mode",
    "dev mode",
    "god mode",
    "mode enabled",
    "mode activated",
    "modo desarrollador",
    "modo programador",
    "mode développeur",
    "mode developpeur",
    "entwicklermodus",
    "modalità sviluppatore",
    "modalita sviluppatore",
    "modo desenvolvedor",
    "restriction",
    "restriccion",
    "restrizion",
    "restriç",
    "restric",
    "einschränk",
    "einschraenk",
    "uneingeschr",
    "keine regeln",
    "sin reglas",
    "sans règles",
    "sans regles",
    "senza regole",
    "sem regras",
    "censor",
    "unfilter",
    "no filter",
    "without filter",
    "without any filter",
    "ethic",
    "moral",
    "safety filter",
    "safety rule",
    "safety check",
    "safety restriction",
    "safety measure",
    "safety polic",
    "safety guard",
    "safety setting",
    "security protocol",
    "safeguard",
    "guardrail",
    "content polic",
    "exempt from",
    "not meant for",
    "not apply",
    "not applicable",
    "you are no longer",
    "you're no longer",
    "no longer bound",
    "no longer restricted",
    "no longer limited",
    "no longer apply",
    "no longer follow",
    "no longer required",
    "you are now",
    "you're now",
    "now you are",
    "du bist jetzt",
    "du bist nun",
    "ahora eres",
    "ahora estas",
    "ahora estás",
    "vous êtes",
    "vous etes",
    "tu es désormais",
    "ora sei",
    "adesso sei",
    "agora você",
    "agora voce",
    "agora es",
    "act as",
    "acting as",
    "pretend",
    "roleplay",
    "role-play",
    "role play",
    "simulate",
    "uncensored",
    "unrestricted",
    "unaligned",
    "amoral",
    "unethical",
    "unhinged",
    "evil",
    "opposite",
    "two different",
    "two separate",
    "two ways",
    "two responses",
    "once normally",
    "in character",
    "break character",
    "none of your responses",
    "refuse",
    "disclaimer",
    "hypothetic",
    "fictional",
    "for a novel",
    "for a story",
    "for my novel",
    "for my story",
    "in a world where",
    "imagine",
    "grandma",
    "grandmother",
    "granny",
    "grandpa",
    "confines",
    "abide by",
    "comply with",
    "any question",
    "anything the user",
    "anything i ask",
    "safety protocol",
    "protocols disabled",
    // leetspeak and spaced-out spellings of the key words
    "gn0r",
    "1gnor",
    "gnor3",
    "n57ru",
    "n5tru",
    "ns7ru",
    "1nstru",
    "nstruc7",
    "uct10n",
    "ucti0n",
    "pr3v",
    "rev10u",
    "revi0u",
    "ev10u",
    "5y5t",
    "sy5t",
    "5yst",
    "syst3m",
    "pr0mp",
    "promp7",
    "j41l",
    "ja1l",
    "j4il",
    "lbr34k",
    "lbr3ak",
    "d15r",
    "d1sr",
    "disr3g",
    "i g n o r",
    "i-g-n-o-r",
    "i.g.n.o.r",
    "i_g_n_o_r",
    "i*g*n*o*r",
    "n s t r u c",
    "s y s t e m",
    "p r o m p t",
    "j a i l b r",
    "d i s r e g",
    "f o r g e t",
    "p r e v i o u s",
];

/// Cues that open a window only when a cheap look at the raw bytes around them finds what their
/// rules also need (common words in code and prose: `password`, `decode`, `curl`, `ignore`).
const GATED: &[(Gate, &[&str])] = &[
    (
        Gate::Exfil,
        &[
            "id_rsa",
            "id_ed25519",
            "id_ecdsa",
            ".ssh",
            ".aws",
            ".netrc",
            ".npmrc",
            "/etc/passwd",
            "/etc/shadow",
            "credential",
            "password",
            "private key",
            "api key",
            "api_key",
            "apikey",
            "secrets",
            "environment variable",
            "env var",
            "printenv",
            "customer",
            "externally",
            "external server",
            "external address",
            "external email",
            "external url",
            "external endpoint",
            "external site",
            "adresse externe",
            "direccion externa",
            "indirizzo esterno",
            "attacker",
            "exfil",
            "webhook",
        ],
    ),
    (
        Gate::Decode,
        &[
            "decode",
            "decipher",
            "decrypt",
            "deobfuscate",
            "rot13",
            "what it says",
        ],
    ),
    (Gate::Curl, &["curl", "wget"]),
    (Gate::Role, &["\"role\"", "'role'"]),
    (Gate::Override, &["ignor", "disregard", "forget", "forgot"]),
    (Gate::Prompt, &["prompt"]),
];

/// Non-ASCII keywords (added lower-case, capitalised and upper-case).
const PLAIN_UNICODE: &[&str] = &[
    "игнорир",
    "проигнорир",
    "забудь",
    "забыть",
    "не обращай",
    "инструкци",
    "системн",
    "промпт",
    "режим разработчика",
    "без ограничений",
    "теперь ты",
    "ты теперь",
    "отныне",
    "с этого момента",
    "忽略",
    "无视",
    "無視",
    "忘记",
    "忘掉",
    "忘れ",
    "不要理会",
    "不要遵守",
    "系统提示",
    "系统指令",
    "初始指令",
    "システムプロンプト",
    "开发者模式",
    "開発者モード",
    "越狱",
    "脱獄",
    "没有限制",
    "不受限制",
    "无限制",
    "制限なし",
    "从现在",
    "你现在是",
    "现在你是",
    "今後",
];

/// Rot13 of the key words.
const ROT13: &[&str] = &[
    "vtaber",
    "vafgehpgvba",
    "cerivbhf",
    "qvfertneq",
    "flfgrz cebzcg",
    "wnvyoernx",
    "sbetrg lbhe",
];

/// Reversed key words.
const REVERSED: &[&str] = &[
    "erongi",
    "noitcurtsni",
    "suoiverp",
    "drageresid",
    "tpmorp metsys",
    "kaerbliaj",
    "tegrof",
];

/// Words whose base64 and hex encodings are cues (in these exact spellings).
const ENCODED_WORDS: &[&str] = &[
    "ignore",
    "Ignore",
    "IGNORE",
    "instruction",
    "Instruction",
    "INSTRUCTION",
    "previous",
    "Previous",
    "disregard",
    "Disregard",
    "system prompt",
    "System prompt",
    "jailbreak",
    "developer mode",
    "you are now",
    "You are now",
    "forget",
    "Forget",
    "reveal",
    "Reveal",
];

/// Cues that only appear in 8-bit binary text: the binary for a space, and for "in".
const BINARY: &[&str] = &["00100000", "01101001 01101110"];

/// The compiled cue automaton.
pub(super) struct Cues {
    dfa: Option<DFA>,
    kinds: Vec<(CueKind, Gate)>,
    uni: Option<aho_corasick::AhoCorasick>,
    uni_kinds: Vec<(CueKind, Gate)>,
}

impl Cues {
    /// Compiles the cue list. Never fails: an automaton that does not build finds nothing.
    pub(super) fn new() -> Self {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut kinds = Vec::new();
        let mut add = |p: Vec<u8>, k: CueKind, g: Gate| {
            if !p.is_empty() && !patterns.contains(&p) {
                patterns.push(p);
                kinds.push((k, g));
            }
        };
        for p in PLAIN {
            add(p.as_bytes().to_vec(), CueKind::Plain, Gate::Open);
        }
        for p in PLAIN_UNICODE {
            for v in case_variants(p) {
                add(v.into_bytes(), CueKind::Plain, Gate::Open);
            }
        }
        for (gate, words) in GATED {
            for w in *words {
                add(w.as_bytes().to_vec(), CueKind::Plain, *gate);
            }
        }
        for p in ROT13 {
            add(p.as_bytes().to_vec(), CueKind::Rot13, Gate::Open);
        }
        for p in REVERSED {
            add(p.as_bytes().to_vec(), CueKind::Reverse, Gate::Open);
        }
        for w in ENCODED_WORDS {
            for s in base64_stable_substrings(w.as_bytes()) {
                add(s.into_bytes(), CueKind::Base64, Gate::Open);
            }
            let hex: String = w.bytes().map(|b| format!("{b:02x}")).collect();
            add(hex.into_bytes(), CueKind::Hex, Gate::Open);
        }
        for p in BINARY {
            add(p.as_bytes().to_vec(), CueKind::Binary, Gate::Open);
        }
        add(b"![".to_vec(), CueKind::Image, Gate::Open);
        // "![" is also in PLAIN: the first kind wins, so fix it up.
        if let Some(i) = patterns.iter().position(|p| p == b"![") {
            kinds[i] = (CueKind::Image, Gate::Open);
        }
        // Keywords with non-ASCII bytes go to a second automaton, run only around non-ASCII
        // text: kept out of the main DFA, they would multiply its size (byte classes).
        let (mut ascii, mut ascii_kinds) = (Vec::new(), Vec::new());
        let (mut uni, mut uni_kinds) = (Vec::new(), Vec::new());
        for (p, k) in patterns.into_iter().zip(kinds) {
            if p.is_ascii() {
                ascii.push(p);
                ascii_kinds.push(k);
            } else {
                uni.push(p);
                uni_kinds.push(k);
            }
        }
        let dfa = DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(&ascii)
            .ok();
        let uni_ac = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&uni)
            .ok();
        Cues {
            dfa,
            kinds: ascii_kinds,
            uni: uni_ac,
            uni_kinds,
        }
    }

    /// Appends the hits of the non-ASCII keywords inside `spans` of `hay`.
    pub(super) fn find_unicode(&self, hay: &[u8], spans: &[(usize, usize)], out: &mut Vec<CueHit>) {
        let Some(ac) = &self.uni else { return };
        for &(s, e) in spans {
            let Some(part) = hay.get(s..e) else { continue };
            for m in ac.find_overlapping_iter(part) {
                let (kind, gate) = self
                    .uni_kinds
                    .get(m.pattern().as_usize())
                    .copied()
                    .unwrap_or((CueKind::Plain, Gate::Open));
                out.push(CueHit {
                    kind,
                    gate,
                    start: s + m.start(),
                    end: s + m.end(),
                });
            }
        }
    }

    /// Size of the automaton (for the speed test's report).
    #[cfg(test)]
    pub(super) fn memory(&self) -> (usize, usize) {
        self.dfa
            .as_ref()
            .map_or((0, 0), |d| (d.memory_usage(), d.patterns_len()))
    }

    /// Appends every cue hit in `hay` (in no particular order), at most `limit` of them.
    /// Returns false when the limit was reached.
    pub(super) fn find(&self, hay: &[u8], limit: usize, out: &mut Vec<CueHit>) -> bool {
        let Some(dfa) = &self.dfa else {
            return true;
        };
        let Ok(start) = dfa.start_state(Anchored::No) else {
            return true;
        };
        let mut sink = Sink {
            dfa,
            kinds: &self.kinds,
            out,
            limit,
            full: false,
        };
        const LANES: usize = 4;
        let warm = dfa.max_pattern_len();
        let quarter = hay.len() / LANES;
        if quarter <= warm.saturating_mul(4) || quarter < 1024 {
            let mut sid = start;
            for (i, &b) in hay.iter().enumerate() {
                sid = dfa.next_state(Anchored::No, sid, b);
                if dfa.is_special(sid) {
                    sink.report(sid, i + 1);
                }
            }
            return !sink.full;
        }
        // Lane k owns bytes [k*q, (k+1)*q) (the last lane also the remainder) and starts
        // `warm` bytes early so matches that end in its part are found with the right state.
        let q = quarter;
        let mut sids = [start; LANES];
        for (k, sid) in sids.iter_mut().enumerate().skip(1) {
            for &b in &hay[k * q - warm..k * q] {
                *sid = dfa.next_state(Anchored::No, *sid, b);
            }
        }
        let (a, rest) = hay.split_at(q);
        let (b, rest) = rest.split_at(q);
        let (c, rest) = rest.split_at(q);
        let (d, tail) = rest.split_at(q);
        let [mut s0, mut s1, mut s2, mut s3] = sids;
        for (j, (((&x0, &x1), &x2), &x3)) in a.iter().zip(b).zip(c).zip(d).enumerate() {
            s0 = dfa.next_state(Anchored::No, s0, x0);
            s1 = dfa.next_state(Anchored::No, s1, x1);
            s2 = dfa.next_state(Anchored::No, s2, x2);
            s3 = dfa.next_state(Anchored::No, s3, x3);
            if dfa.is_special(s0) | dfa.is_special(s1) | dfa.is_special(s2) | dfa.is_special(s3) {
                sink.report(s0, j + 1);
                sink.report(s1, q + j + 1);
                sink.report(s2, 2 * q + j + 1);
                sink.report(s3, 3 * q + j + 1);
            }
        }
        for (j, &x) in tail.iter().enumerate() {
            s3 = dfa.next_state(Anchored::No, s3, x);
            if dfa.is_special(s3) {
                sink.report(s3, 4 * q + j + 1);
            }
        }
        !sink.full
    }
}

struct Sink<'a> {
    dfa: &'a DFA,
    kinds: &'a [(CueKind, Gate)],
    out: &'a mut Vec<CueHit>,
    limit: usize,
    full: bool,
}

impl Sink<'_> {
    #[inline]
    fn report(&mut self, sid: aho_corasick::automaton::StateID, end: usize) {
        if !self.dfa.is_match(sid) {
            return;
        }
        for i in 0..self.dfa.match_len(sid) {
            if self.out.len() >= self.limit {
                self.full = true;
                return;
            }
            let pid = self.dfa.match_pattern(sid, i);
            let len = self.dfa.pattern_len(pid);
            let (kind, gate) = self
                .kinds
                .get(pid.as_usize())
                .copied()
                .unwrap_or((CueKind::Plain, Gate::Open));
            self.out.push(CueHit {
                kind,
                gate,
                start: end.saturating_sub(len),
                end,
            });
        }
    }
}

/// Lower-case, capitalised and upper-case spellings of a keyword.
fn case_variants(s: &str) -> Vec<String> {
    let lower = s.to_lowercase();
    let upper = s.to_uppercase();
    let mut chars = lower.chars();
    let cap: String = match chars.next() {
        Some(f) => f.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    let mut out = vec![lower];
    for v in [cap, upper] {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The base64 characters that encode `word` whatever its offset in the encoded data: for each
/// of the three alignments, the characters whose six bits all come from the word.
pub(super) fn base64_stable_substrings(word: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for shift in 0..3usize {
        let mut data = vec![0u8; shift];
        data.extend_from_slice(word);
        let enc = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&data);
        let first = (shift * 8).div_ceil(6);
        let last = ((shift + word.len()) * 8) / 6; // exclusive
        if let Some(s) = enc.get(first..last)
            && s.len() >= 6
        {
            out.push(s.to_owned());
        }
    }
    out
}

/// Word lists a gated cue needs nearby: every list must have a word in the look-around.
const GATE_WORDS: &[(Gate, usize, usize, &[&[&str]])] = &[
    (
        Gate::Exfil,
        160,
        160,
        &[
            &[
                "send", "upload", "post", "forward", "mail", "transmit", "exfil", "leak", "copy",
                "pipe", "submit", "share", "sync", "deliver", "beacon", "envo", "envi", "manda",
                "invia", "sende", "schick", "curl", "wget", "nc ",
            ],
            &[
                "http", "@", "webhook", "extern", "attacker", "remote", "third", "outside",
                "offsite", "off-site", "ftp", "wss:",
            ],
        ],
    ),
    (
        Gate::Decode,
        160,
        200,
        &[&[
            "follow",
            "execute",
            "do what",
            "do exactly",
            "do it",
            "obey",
            "run it",
            "run the",
            "perform",
            "carry out",
            "act on",
            "comply",
            "what it says",
            "instruction",
            "command",
            "and do",
            "then do",
        ]],
    ),
    (
        Gate::Curl,
        0,
        240,
        &[&[
            "|", "$(", "`", "id_rsa", ".ssh", ".env", "passwd", ".aws", ".netrc", ".npmrc",
        ]],
    ),
    (Gate::Role, 0, 40, &[&["system", "developer"]]),
    (
        Gate::Override,
        0,
        100,
        &[&[
            "instruc",
            "directive",
            "guideline",
            "guidance",
            "programming",
            "prompt",
            "training",
            "condition",
            "ethic",
            "safeguard",
            "guardrail",
            "polic",
            "principle",
            "command",
            "order",
            "rule",
            "restriction",
            "constraint",
            "limitation",
            "filter",
            "protocol",
            "boundar",
            "everything",
            "anything",
            "all of",
            "whatever",
            "above",
            "previous",
            "prior",
            "earlier",
            "preceding",
            "foregoing",
            "user",
            "human",
            "operator",
            "anweisung",
            "richtlinie",
            "regel",
            "istruzion",
            "regol",
            "regla",
            "regle",
            "r\u{e8}gle",
            "consigne",
            "direttiv",
            "directri",
            "diretriz",
            "regra",
            "todo",
            "tout",
            "alles",
            "tutto",
            "tudo",
            "instru",
        ]],
    ),
    (
        Gate::Prompt,
        64,
        40,
        &[&[
            "reveal",
            "print",
            "repeat",
            "output",
            "show",
            "display",
            "tell",
            "give",
            "shar",
            "dump",
            "leak",
            "list",
            "write",
            "recit",
            "echo",
            "copy",
            "return",
            "expos",
            "disclos",
            "provid",
            "spell",
            "read",
            "summar",
            "translat",
            "what",
            "verrat",
            "zeig",
            "nenn",
            "gib",
            "revel",
            "rivel",
            "muestr",
            "mostr",
            "montr",
            "dame",
            "dammi",
            "donne",
            "ignor",
            "disregard",
            "forget",
            "overrid",
            "bypass",
            "new",
            "hidden",
            "secret",
            "initial",
            "original",
            "your",
            "dein",
            " tu ",
            " ton ",
            "votre",
            " tes ",
            " tus ",
            " tuo ",
            "#",
            "[",
            "<",
            "verbatim",
            "word for word",
        ]],
    ),
];

/// Compiled gate word lists.
pub(super) struct Gates {
    gates: Vec<(Gate, usize, usize, Vec<aho_corasick::AhoCorasick>)>,
}

impl Gates {
    pub(super) fn new() -> Self {
        let gates = GATE_WORDS
            .iter()
            .map(|(g, b, a, lists)| {
                let acs = lists
                    .iter()
                    .filter_map(|words| {
                        aho_corasick::AhoCorasick::builder()
                            .ascii_case_insensitive(true)
                            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                            .build(*words)
                            .ok()
                    })
                    .collect();
                (*g, *b, *a, acs)
            })
            .collect();
        Gates { gates }
    }

    /// Whether a gated cue at `start..end` of `hay` has what its rules need nearby.
    pub(super) fn open(&self, gate: Gate, hay: &[u8], start: usize, end: usize) -> bool {
        let Some((_, before, after, acs)) = self.gates.iter().find(|g| g.0 == gate) else {
            return true;
        };
        let s = start.saturating_sub(*before);
        let e = end.saturating_add(*after).min(hay.len());
        let w = &hay[s.min(e)..e];
        acs.iter().all(|ac| ac.is_match(w))
    }
}
