//! Turns one whole event (the JSON of `GET /v1/events/{id}`) into the event view's document:
//! a summary, the latency breakdown, the findings, the conversation as the gateway saw it
//! (system prompt, tools collapsed unless asked for, user and assistant turns, tool_use and
//! tool_result blocks, the response), and the request headers; or, for the raw view, the
//! pretty-printed JSON. Each finding is placed at its `location` in the text, its matched text
//! found from its excerpt and highlighted. Anything missing or of an unexpected shape renders
//! as what it is (text, or compact JSON) and never fails.

use std::ops::Range;

use ratatui::style::Style;
use serde_json::Value;

use crate::api::model::{f64_at, str_at, strings_at, time_at, u64_at};
use crate::doc::{AnchorKind, Doc};
use crate::text::{bytes, millis, thousands};
use crate::theme::Theme;
use crate::time::full_ms;

/// Request headers whose values are credentials; shown as `[REDACTED]` whatever arrives.
const CREDENTIAL_HEADERS: [&str; 6] = [
    "authorization",
    "x-api-key",
    "x-glitch-key",
    "cookie",
    "proxy-authorization",
    "set-cookie",
];

/// Longest JSON shown for an unknown block before it is cut.
const MAX_INLINE_JSON: usize = 2000;

/// Width of the latency bar.
const BAR: usize = 24;

/// How to draw the conversation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DocOptions {
    /// Tool definitions in full (collapsed to names by default).
    pub show_tools: bool,
}

/// Where in the request a finding points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    /// `system` (None) or `system[i]`.
    System(Option<usize>),
    /// `messages[i]`, `.content[j]`, `.content[k]` (inside a tool_result).
    Message {
        /// Message index.
        index: usize,
        /// Content block.
        block: Option<usize>,
        /// Block inside a tool_result.
        inner: Option<usize>,
    },
    /// The response (`output`, `content[i]` of the response).
    Response,
    /// Somewhere the console cannot point at (batch requests, `body`).
    Other,
}

fn index_in(s: &str, name: &str) -> Option<(usize, usize)> {
    let rest = s.strip_prefix(name)?.strip_prefix('[')?;
    let close = rest.find(']')?;
    let n = rest[..close].parse().ok()?;
    Some((n, name.len() + close + 2))
}

/// Reads a finding's `location`.
pub fn parse_location(location: &str, direction: &str) -> Loc {
    let l = location.trim();
    if direction == "output" || l == "output" || l.starts_with("content[") {
        return Loc::Response;
    }
    if l == "system" {
        return Loc::System(None);
    }
    if let Some((i, used)) = index_in(l, "system")
        && used == l.len()
    {
        return Loc::System(Some(i));
    }
    if let Some((index, used)) = index_in(l, "messages") {
        let mut rest = &l[used..];
        let mut parts = Vec::new();
        while let Some(r) = rest.strip_prefix('.') {
            match index_in(r, "content") {
                Some((n, u)) => {
                    parts.push(n);
                    rest = &r[u..];
                }
                None => return Loc::Other,
            }
        }
        if !rest.is_empty() || parts.len() > 2 {
            return Loc::Other;
        }
        return Loc::Message {
            index,
            block: parts.first().copied(),
            inner: parts.get(1).copied(),
        };
    }
    Loc::Other
}

/// Finds a finding's matched text in `text` from its excerpt (`…before[match]after…`, whitespace
/// shown as spaces, the match masked when it is a secret, as it is in the stored text).
/// Returns the byte range of the match in `text`.
pub fn locate(text: &str, excerpt: &str) -> Option<Range<usize>> {
    let ex = excerpt.strip_prefix('…').unwrap_or(excerpt);
    let ex = ex.strip_suffix('…').unwrap_or(ex);
    let norm: String = text
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    let to_text = |norm_pos: usize, len_chars: usize| -> Option<Range<usize>> {
        let char_start = norm.get(..norm_pos)?.chars().count();
        let mut idx = text.char_indices().map(|(i, _)| i).skip(char_start);
        let start = idx.next()?;
        let end = text
            .char_indices()
            .map(|(i, _)| i)
            .nth(char_start + len_chars)
            .unwrap_or(text.len());
        Some(start..end)
    };
    let opens: Vec<usize> = ex.match_indices('[').map(|(i, _)| i).collect();
    let closes: Vec<usize> = ex.match_indices(']').map(|(i, _)| i).collect();
    let candidates = || {
        opens.iter().flat_map(|&o| {
            closes
                .iter()
                .rev()
                .filter(move |&&c| c > o + 1)
                .map(move |&c| (o, c))
        })
    };
    // With the context on both sides: the strongest evidence of the right place.
    for (o, c) in candidates() {
        let (before, needle, after) = (&ex[..o], &ex[o + 1..c], &ex[c + 1..]);
        let full = format!("{before}{needle}{after}");
        if let Some(pos) = norm.find(&full) {
            return to_text(pos + before.len(), needle.chars().count());
        }
    }
    // The match alone, when long enough not to be a coincidence.
    for (o, c) in candidates() {
        let needle = &ex[o + 1..c];
        if needle.chars().count() >= 4
            && let Some(pos) = norm.find(needle)
        {
            return to_text(pos, needle.chars().count());
        }
    }
    None
}

struct Finding {
    n: usize,
    detector: String,
    source: String,
    confidence: f64,
    level: String,
    action: String,
    direction: String,
    location: String,
    excerpt: String,
    loc: Loc,
}

struct Builder<'a> {
    doc: Doc,
    theme: &'a Theme,
    findings: &'a [Finding],
    placed: Vec<bool>,
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > MAX_INLINE_JSON {
        let cut: String = s.chars().take(MAX_INLINE_JSON).collect();
        format!("{cut}… (cut)")
    } else {
        s
    }
}

impl<'a> Builder<'a> {
    fn new(theme: &'a Theme, findings: &'a [Finding]) -> Self {
        Builder {
            doc: Doc::new(),
            theme,
            findings,
            placed: vec![false; findings.len()],
        }
    }

    fn section(&mut self, title: &str, note: &str) {
        self.doc.blank();
        self.doc.anchor_next(AnchorKind::Section);
        let mut segs = vec![(format!("── {title} "), self.theme.header)];
        if !note.is_empty() {
            segs.push((format!("{note} "), self.theme.dim));
        }
        segs.push(("──".to_owned(), self.theme.header));
        self.doc.line(segs);
    }

    fn kv(&mut self, label: &str, segs: Vec<(String, Style)>) {
        let mut line = vec![(format!(" {label:<10}"), self.theme.label)];
        line.extend(segs);
        self.doc.line_indented(line, 11);
    }

    fn plain(&self, s: impl Into<String>) -> (String, Style) {
        (s.into(), Style::new())
    }

    fn dim(&self, s: impl Into<String>) -> (String, Style) {
        (s.into(), self.theme.dim)
    }

    /// A text with the findings that point at it: a marker line per finding, the match
    /// highlighted.
    fn text_at(&mut self, text: &str, base: Style, indent: usize, here: impl Fn(&Loc) -> bool) {
        let mut marks = Vec::new();
        for (i, f) in self.findings.iter().enumerate() {
            if !here(&f.loc) {
                continue;
            }
            self.placed[i] = true;
            self.doc.anchor_next(AnchorKind::Finding);
            let range = locate(text, &f.excerpt);
            let where_ = if range.is_some() {
                ""
            } else {
                " (match not found in the stored text)"
            };
            self.doc.line_indented(
                vec![
                    (" ".repeat(indent), Style::new()),
                    (
                        format!(
                            "⚑ finding [{}] {} · {} · {}{}",
                            f.n, f.detector, f.action, f.level, where_
                        ),
                        self.theme.finding,
                    ),
                ],
                indent + 2,
            );
            if let Some(r) = range {
                marks.push((r, self.theme.highlight));
            }
        }
        if text.is_empty() {
            self.doc.line(vec![
                (" ".repeat(indent), Style::new()),
                self.dim("(empty)"),
            ]);
        } else {
            self.doc.text(text, base, indent, &marks);
        }
    }

    fn json_at(&mut self, v: &Value, indent: usize, here: impl Fn(&Loc) -> bool) {
        let text = match v {
            Value::String(s) => s.clone(),
            other => pretty(other),
        };
        self.text_at(&text, Style::new(), indent, here);
    }

    fn summary(&mut self, e: &Value) {
        let t = *self.theme;
        let decision = str_at(e, "decision");
        let blocked = e
            .get("risk")
            .is_some_and(|r| r.get("blocked") == Some(&Value::Bool(true)));
        self.kv("Event", vec![self.plain(str_at(e, "event_id"))]);
        let time = time_at(e, "time")
            .map_or_else(|| str_at(e, "time"), |ms| format!("{} UTC", full_ms(ms)));
        self.kv("Time", vec![self.plain(time)]);
        let status = u64_at(e, "status");
        let upstream = u64_at(e, "upstream_status");
        let mut d = vec![
            (
                if decision.is_empty() {
                    "?".to_owned()
                } else {
                    decision.to_uppercase()
                },
                t.decision(&decision, blocked),
            ),
            self.dim(" · status "),
            self.plain(if status == 0 {
                "—".to_owned()
            } else {
                status.to_string()
            }),
            self.dim(" · upstream "),
            self.plain(if upstream == 0 {
                "— (not forwarded)".to_owned()
            } else {
                upstream.to_string()
            }),
        ];
        let completion = str_at(e, "completion");
        if !completion.is_empty() {
            d.push(self.dim(" · "));
            d.push(self.plain(completion));
        }
        self.kv("Decision", d);
        let query = str_at(e, "query");
        let mut req = vec![self.plain(format!(
            "{} {}{}{}",
            str_at(e, "method"),
            str_at(e, "path"),
            if query.is_empty() { "" } else { "?" },
            query
        ))];
        if e.get("stream") == Some(&Value::Bool(true)) {
            req.push(self.dim(" · stream"));
        }
        let model = str_at(e, "model");
        if !model.is_empty() {
            req.push(self.dim(" · "));
            req.push(self.plain(model));
        }
        self.kv("Request", req);
        self.kv(
            "Session",
            vec![
                self.plain(or_dash(str_at(e, "session_id"))),
                self.dim(" · project "),
                self.plain(or_dash(str_at(e, "project_id"))),
                self.dim(" · key "),
                self.plain(or_dash(str_at(e, "key_id"))),
            ],
        );
        if let Some(risk) = e.get("risk").filter(|r| r.is_object()) {
            let cats = strings_at(risk, "categories");
            let mut r = vec![(
                if blocked {
                    "blocked".to_owned()
                } else {
                    "not blocked".to_owned()
                },
                if blocked { t.blocked } else { Style::new() },
            )];
            if !cats.is_empty() {
                r.push(self.dim(" · "));
                r.push(self.plain(cats.join(", ")));
            }
            let conf = f64_at(risk, "confidence");
            if conf > 0.0 {
                r.push(self.dim(format!(" · confidence {conf:.2}")));
            }
            self.kv("Risk", r);
        }
        let error = str_at(e, "error");
        if !error.is_empty() {
            self.kv("Error", vec![(error, t.failed)]);
        }
    }

    fn details(&mut self, e: &Value) {
        self.section("Details", "");
        let mut sensor = vec![
            self.plain(or_dash(str_at(e, "sensor_id"))),
            self.dim(" · region "),
            self.plain(or_dash(str_at(e, "region"))),
            self.dim(" · policy "),
            self.plain(or_dash(str_at(e, "policy_id"))),
        ];
        let version = u64_at(e, "config_version");
        if version > 0 {
            sensor.push(self.dim(format!(" (config v{version})")));
        }
        self.kv("Sensor", sensor);
        self.kv(
            "Tokens",
            vec![
                self.plain(format!("in {}", thousands(u64_at(e, "input_tokens")))),
                self.dim(" · "),
                self.plain(format!("out {}", thousands(u64_at(e, "output_tokens")))),
                self.dim(" · request "),
                self.plain(bytes(u64_at(e, "request_bytes"))),
                self.dim(" · response "),
                self.plain(bytes(u64_at(e, "response_bytes"))),
            ],
        );
        self.latency(e);
        self.llm_stage(e);
        for (label, key) in [
            ("Client", "user_agent"),
            ("Trace", "trace_id"),
            ("Upstream", "upstream_request_id"),
        ] {
            let v = str_at(e, key);
            if !v.is_empty() {
                self.kv(label, vec![self.plain(v)]);
            }
        }
    }

    /// The LLM classifier stage, when the event has one (and the request it follows up).
    fn llm_stage(&mut self, e: &Value) {
        let follow_up_of = str_at(e, "follow_up_of");
        if !follow_up_of.is_empty() {
            self.kv(
                "Follows",
                vec![
                    self.dim("async classifier verdict for "),
                    self.plain(follow_up_of),
                ],
            );
        }
        let Some(l) = e.get("llm").filter(|l| l.is_object()) else {
            return;
        };
        let status = str_at(l, "status");
        let failed = !matches!(status.as_str(), "ok" | "cancelled" | "pending" | "");
        let t = self.theme;
        let mut r = vec![(
            or_dash(status),
            if failed { t.failed } else { Style::new() },
        )];
        let action = str_at(l, "failure_action");
        if !action.is_empty() {
            r.push(self.dim(format!(" (fail {action})")));
        }
        r.push(self.dim(format!(
            " · {} · {:.1} ms · {} calls · {} cached",
            or_dash(str_at(l, "mode")),
            f64_at(l, "latency_ms"),
            u64_at(l, "calls"),
            u64_at(l, "cache_hits")
        )));
        if let Some(errors) = l.get("errors").and_then(Value::as_array)
            && !errors.is_empty()
        {
            let list: Vec<&str> = errors.iter().filter_map(Value::as_str).collect();
            r.push(self.dim(" · "));
            r.push((list.join(", "), t.failed));
        }
        self.kv("LLM", r);
    }

    fn latency(&mut self, e: &Value) {
        let l = e.get("latency_ms").cloned().unwrap_or(Value::Null);
        let (total, detection, first_byte) = (
            f64_at(&l, "total"),
            f64_at(&l, "detection"),
            f64_at(&l, "upstream_first_byte"),
        );
        let mut segs = vec![
            self.plain(format!("total {}", millis(total))),
            self.dim(" · "),
            (
                format!("detection {}", millis(detection)),
                self.theme.bar[0],
            ),
            self.dim(" · "),
        ];
        if first_byte > 0.0 {
            segs.push((
                format!("upstream first byte {}", millis(first_byte)),
                self.theme.bar[1],
            ));
        } else {
            segs.push(self.dim("not forwarded"));
        }
        self.kv("Latency", segs);
        if total > 0.0 {
            let cells =
                |ms: f64| ((ms / total) * BAR as f64).round().clamp(0.0, BAR as f64) as usize;
            let det = cells(detection.min(total));
            let up = cells((first_byte - detection).clamp(0.0, total)).min(BAR - det);
            let rest = BAR - det - up;
            self.kv(
                "",
                vec![
                    ("█".repeat(det), self.theme.bar[0]),
                    ("▓".repeat(up), self.theme.bar[1]),
                    ("░".repeat(rest), self.theme.bar[2]),
                    self.dim(" "),
                    ("█".to_owned(), self.theme.bar[0]),
                    self.dim(" detection "),
                    ("▓".to_owned(), self.theme.bar[1]),
                    self.dim(" upstream "),
                    ("░".to_owned(), self.theme.bar[2]),
                    self.dim(" rest"),
                ],
            );
        }
    }

    fn findings_list(&mut self) {
        let t = *self.theme;
        let note = if self.findings.is_empty() { "none" } else { "" };
        self.section(&format!("Findings ({})", self.findings.len()), note);
        for (i, f) in self.findings.iter().enumerate() {
            if !self.placed[i] {
                self.doc.anchor_next(AnchorKind::Finding);
            }
            let style = if f.action == "block" {
                t.blocked
            } else {
                t.flagged
            };
            self.doc.line_indented(
                vec![
                    (format!(" [{}] ", f.n), t.finding),
                    (or_dash(f.detector.clone()), style),
                    (
                        format!(
                            "  {} · {} · confidence {:.2} · {} · {}",
                            or_dash(f.action.clone()),
                            or_dash(f.level.clone()),
                            f.confidence,
                            or_dash(f.source.clone()),
                            or_dash(f.direction.clone())
                        ),
                        Style::new(),
                    ),
                ],
                5,
            );
            let placed = if self.placed[i] {
                "highlighted in the conversation below"
            } else {
                "not in the stored conversation"
            };
            self.doc.line_indented(
                vec![
                    self.dim("     at "),
                    self.plain(or_dash(f.location.clone())),
                    self.dim(format!(" ({placed})")),
                ],
                5,
            );
            if !f.excerpt.is_empty() {
                let mut segs = vec![self.dim("     ")];
                match (f.excerpt.find('['), f.excerpt.rfind(']')) {
                    (Some(o), Some(c)) if o < c => {
                        segs.push(self.plain(&f.excerpt[..o]));
                        segs.push((f.excerpt[o..=c].to_owned(), t.highlight));
                        segs.push(self.plain(&f.excerpt[c + 1..]));
                    }
                    _ => segs.push(self.plain(f.excerpt.clone())),
                }
                self.doc.line_indented(segs, 5);
            }
        }
    }

    fn system(&mut self, system: Option<&Value>) {
        match system {
            None | Some(Value::Null) => {
                self.section("System", "none");
            }
            Some(Value::String(s)) => {
                self.section("System", "");
                self.text_at(s, Style::new(), 2, |l| {
                    matches!(l, Loc::System(None) | Loc::System(Some(0)))
                });
            }
            Some(Value::Array(blocks)) => {
                self.section("System", &format!("{} blocks", blocks.len()));
                for (i, b) in blocks.iter().enumerate() {
                    if i > 0 {
                        self.doc.line(vec![self.dim("  ·")]);
                    }
                    match b.get("text").and_then(Value::as_str) {
                        Some(text) => {
                            self.text_at(text, Style::new(), 2, |l| *l == Loc::System(Some(i)))
                        }
                        None => self.json_at(b, 2, |l| *l == Loc::System(Some(i))),
                    }
                }
            }
            Some(other) => {
                self.section("System", "");
                self.json_at(other, 2, |l| matches!(l, Loc::System(_)));
            }
        }
    }

    fn tools(&mut self, conv: &Value, opts: DocOptions) {
        let tools = conv.get("tools");
        let mut names = strings_at(conv, "tool_names");
        if let Some(Value::Array(list)) = tools
            && names.is_empty()
        {
            names = list.iter().map(|t| str_at(t, "name")).collect();
        }
        let sha = str_at(conv, "tools_sha256");
        match tools {
            Some(Value::Array(list)) if opts.show_tools => {
                self.section(&format!("Tools ({})", list.len()), "t to collapse");
                for tool in list {
                    self.doc.line(vec![
                        ("  • ".to_owned(), self.theme.tool),
                        (or_dash(str_at(tool, "name")), self.theme.tool),
                    ]);
                    let desc = str_at(tool, "description");
                    if !desc.is_empty() {
                        self.doc.text(&desc, self.theme.dim, 4, &[]);
                    }
                    if let Some(schema) = tool.get("input_schema") {
                        self.doc.text(&pretty(schema), Style::new(), 4, &[]);
                    }
                }
            }
            Some(Value::String(s)) if opts.show_tools => {
                self.section(
                    "Tools",
                    "cut to the size cap; shown as stored · t to collapse",
                );
                self.doc.text(s, Style::new(), 2, &[]);
            }
            _ => {
                let expandable = matches!(tools, Some(Value::Array(_) | Value::String(_)));
                let note = if expandable {
                    "collapsed · t to expand"
                } else if names.is_empty() {
                    "none"
                } else {
                    ""
                };
                self.section(&format!("Tools ({})", names.len()), note);
                if !names.is_empty() {
                    self.doc.line_indented(
                        vec![
                            ("  ".to_owned(), Style::new()),
                            (names.join(", "), self.theme.tool),
                        ],
                        2,
                    );
                }
                if !expandable && !names.is_empty() {
                    let short: String = sha.chars().take(12).collect();
                    let which = if short.is_empty() {
                        String::new()
                    } else {
                        format!(" (sha256 {short}…)")
                    };
                    self.doc.line_indented(
                        vec![self.dim(format!(
                            "  definitions are stored once, with the first event that sent this set{which}"
                        ))],
                        2,
                    );
                }
            }
        }
    }

    fn block(&mut self, index: usize, j: usize, b: &Value) {
        let t = *self.theme;
        let at = move |l: &Loc| {
            *l == Loc::Message {
                index,
                block: Some(j),
                inner: None,
            }
        };
        let Some(kind) = b.get("type").and_then(Value::as_str) else {
            match b {
                Value::String(s) => self.text_at(s, Style::new(), 4, at),
                other => self.json_at(other, 4, at),
            }
            return;
        };
        match kind {
            "text" => self.text_at(&str_at(b, "text"), Style::new(), 4, at),
            "tool_use" | "server_tool_use" => {
                self.doc.line_indented(
                    vec![
                        (format!("    ⚙ {kind} "), t.tool),
                        (or_dash(str_at(b, "name")), t.tool),
                        self.dim(format!("  {}", str_at(b, "id"))),
                    ],
                    6,
                );
                let input = b.get("input").cloned().unwrap_or(Value::Null);
                self.json_at(&input, 6, at);
            }
            "tool_result" => {
                let mut head = vec![
                    ("    ↩ tool_result ".to_owned(), t.tool),
                    self.dim(format!("for {}", or_dash(str_at(b, "tool_use_id")))),
                ];
                if b.get("is_error") == Some(&Value::Bool(true)) {
                    head.push((" error".to_owned(), t.failed));
                }
                self.doc.line_indented(head, 6);
                match b.get("content") {
                    None | Some(Value::Null) => self.text_at("", Style::new(), 6, at),
                    Some(Value::String(s)) => self.text_at(s, Style::new(), 6, at),
                    Some(Value::Array(inner)) => {
                        for (k, ib) in inner.iter().enumerate() {
                            let at_k = move |l: &Loc| {
                                *l == Loc::Message {
                                    index,
                                    block: Some(j),
                                    inner: Some(k),
                                }
                            };
                            match ib.get("type").and_then(Value::as_str) {
                                Some("text") => {
                                    self.text_at(&str_at(ib, "text"), Style::new(), 6, at_k)
                                }
                                Some("image") => self.doc.line(vec![
                                    self.dim(format!("      [image {}]", media_type(ib))),
                                ]),
                                _ => self.json_at(ib, 6, at_k),
                            }
                        }
                    }
                    Some(other) => self.json_at(other, 6, at),
                }
            }
            "thinking" => {
                self.doc.line(vec![("    ✻ thinking".to_owned(), t.dim)]);
                self.doc.text(&str_at(b, "thinking"), t.dim, 6, &[]);
            }
            "redacted_thinking" => {
                self.doc
                    .line(vec![("    ✻ thinking (redacted)".to_owned(), t.dim)]);
            }
            "image" => self
                .doc
                .line(vec![self.dim(format!("    [image {}]", media_type(b)))]),
            "document" => {
                let source = b.get("source").cloned().unwrap_or(Value::Null);
                self.doc.line(vec![self.dim(format!(
                    "    [document {} {}]",
                    str_at(b, "title"),
                    media_type(b)
                ))]);
                if str_at(&source, "type") == "text" {
                    self.text_at(&str_at(&source, "data"), Style::new(), 6, at);
                }
            }
            other => {
                self.doc.line(vec![(format!("    [{other}]"), t.tool)]);
                let text = compact(b);
                self.text_at(&text, t.dim, 6, at);
            }
        }
    }

    fn messages(&mut self, messages: Option<&Value>) {
        let t = *self.theme;
        match messages {
            Some(Value::Array(list)) => {
                self.section(&format!("Messages ({})", list.len()), "");
                for (index, m) in list.iter().enumerate() {
                    let role = str_at(m, "role");
                    let style = match role.as_str() {
                        "user" => t.user,
                        "assistant" => t.assistant,
                        _ => t.label,
                    };
                    self.doc.blank();
                    self.doc.anchor_next(AnchorKind::Section);
                    self.doc.line(vec![
                        ("▍".to_owned(), style),
                        (or_dash(role), style),
                        self.dim(format!(" #{index}")),
                    ]);
                    let whole = move |l: &Loc| {
                        *l == Loc::Message {
                            index,
                            block: None,
                            inner: None,
                        }
                    };
                    match m.get("content") {
                        Some(Value::String(s)) => self.text_at(s, Style::new(), 4, whole),
                        Some(Value::Array(blocks)) => {
                            // A finding on the message as a whole (unusual with blocks).
                            if self.findings.iter().any(|f| whole(&f.loc)) {
                                self.text_at("", Style::new(), 4, whole);
                            }
                            for (j, b) in blocks.iter().enumerate() {
                                self.block(index, j, b);
                            }
                        }
                        Some(other) => self.json_at(other, 4, whole),
                        None => self.json_at(m, 4, whole),
                    }
                }
            }
            Some(Value::String(s)) => {
                self.section("Messages", "cut to the size cap; shown as stored");
                self.text_at(s, Style::new(), 2, |l| matches!(l, Loc::Message { .. }));
            }
            None | Some(Value::Null) => self.section("Messages", "none"),
            Some(other) => {
                self.section("Messages", "");
                self.json_at(other, 2, |l| matches!(l, Loc::Message { .. }));
            }
        }
    }

    fn conversation(&mut self, e: &Value, opts: DocOptions) {
        let conv = e.get("conversation").cloned().unwrap_or(Value::Null);
        let mut notes = Vec::new();
        if conv.get("truncated") == Some(&Value::Bool(true)) {
            notes.push("parts were cut to the size cap".to_owned());
        }
        let omitted = str_at(&conv, "omitted_reason");
        if !omitted.is_empty() {
            notes.push(format!("omitted: {omitted}"));
        }
        if conv.is_null() {
            notes.push("not recorded".to_owned());
        }
        self.section("Conversation", &notes.join(" · "));
        self.system(conv.get("system"));
        self.tools(&conv, opts);
        self.messages(conv.get("messages"));
        let response = str_at(&conv, "response_text");
        let has_output = self.findings.iter().any(|f| f.loc == Loc::Response);
        if !response.is_empty() || has_output {
            self.section("Response", "assistant, as relayed");
            self.text_at(&response, Style::new(), 2, |l| *l == Loc::Response);
        }
    }

    fn headers(&mut self, e: &Value) {
        let t = *self.theme;
        let mut headers: Vec<(String, String)> = match e.get("request_headers") {
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    let value = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), value)
                })
                .collect(),
            _ => Vec::new(),
        };
        headers.sort();
        self.section(
            &format!("Request headers ({})", headers.len()),
            "credentials redacted",
        );
        for (name, value) in headers {
            let value = if CREDENTIAL_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                "[REDACTED]".to_owned()
            } else {
                value
            };
            let style = if value == "[REDACTED]" {
                t.dim
            } else {
                Style::new()
            };
            self.doc
                .line_indented(vec![(format!("  {name}: "), t.label), (value, style)], 4);
        }
    }
}

fn or_dash(s: String) -> String {
    if s.is_empty() { "—".to_owned() } else { s }
}

fn media_type(b: &Value) -> String {
    let source = b.get("source").cloned().unwrap_or(Value::Null);
    let mt = str_at(&source, "media_type");
    let kind = str_at(&source, "type");
    [mt, kind]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

fn findings_of(e: &Value) -> Vec<Finding> {
    let Some(Value::Array(list)) = e.get("findings") else {
        return Vec::new();
    };
    list.iter()
        .filter(|f| f.is_object())
        .enumerate()
        .map(|(i, f)| {
            let location = str_at(f, "location");
            let direction = str_at(f, "direction");
            Finding {
                n: i + 1,
                loc: parse_location(&location, &direction),
                detector: str_at(f, "detector_type"),
                source: str_at(f, "source"),
                confidence: f64_at(f, "confidence"),
                level: str_at(f, "level"),
                action: str_at(f, "action"),
                direction,
                location,
                excerpt: str_at(f, "excerpt"),
            }
        })
        .collect()
}

/// The event view's document.
pub fn event_doc(e: &Value, opts: DocOptions, theme: &Theme) -> Doc {
    let findings = findings_of(e);
    // The conversation first, to know which findings it places.
    let mut conv = Builder::new(theme, &findings);
    conv.conversation(e, opts);
    conv.details(e);
    conv.headers(e);
    let mut head = Builder::new(theme, &findings);
    head.placed = conv.placed.clone();
    head.summary(e);
    head.findings_list();
    let mut doc = head.doc;
    let offset = doc.lines.len();
    doc.lines.extend(conv.doc.lines);
    doc.anchors
        .extend(conv.doc.anchors.into_iter().map(|mut a| {
            a.line += offset;
            a
        }));
    doc
}

/// JSON text re-indented two spaces per level without parsing it, so keys keep the order the
/// API sent them in (text that is not JSON comes out re-spaced but complete).
pub fn reindent(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 4);
    let mut depth: usize = 0;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = json.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                while chars.peek().is_some_and(|n| n.is_whitespace()) {
                    chars.next();
                }
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    chars.next();
                    out.push(c);
                    out.push(close);
                } else {
                    out.push(c);
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// The raw view: the response body re-indented, keys styled.
pub fn raw_doc(body: &str, theme: &Theme) -> Doc {
    let mut doc = Doc::new();
    for line in reindent(body).lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let key_end = trimmed
            .strip_prefix('"')
            .and_then(|rest| rest.find("\": ").map(|i| i + 3));
        match key_end {
            Some(end) => doc.line_indented(
                vec![
                    (line[..indent].to_owned(), Style::new()),
                    (trimmed[..end].to_owned(), theme.json_key),
                    (trimmed[end..].to_owned(), Style::new()),
                ],
                indent + 2,
            ),
            None => doc.line_indented(vec![(line.to_owned(), Style::new())], indent + 2),
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reindents_in_the_given_key_order() {
        let body = r#"{"b":1,"a":[],"c":{"s":"x,{\"y\"}:"},"d":[1, 2]}"#;
        assert_eq!(
            reindent(body),
            "{\n  \"b\": 1,\n  \"a\": [],\n  \"c\": {\n    \"s\": \"x,{\\\"y\\\"}:\"\n  },\n  \"d\": [\n    1,\n    2\n  ]\n}"
        );
    }

    #[test]
    fn parses_locations() {
        assert_eq!(parse_location("system", "input"), Loc::System(None));
        assert_eq!(parse_location("system[2]", "input"), Loc::System(Some(2)));
        assert_eq!(
            parse_location("messages[3].content[1]", "input"),
            Loc::Message {
                index: 3,
                block: Some(1),
                inner: None
            }
        );
        assert_eq!(
            parse_location("messages[3].content[1].content[0]", "input"),
            Loc::Message {
                index: 3,
                block: Some(1),
                inner: Some(0)
            }
        );
        assert_eq!(parse_location("output", ""), Loc::Response);
        assert_eq!(parse_location("content[0]", "output"), Loc::Response);
        assert_eq!(
            parse_location("requests[0].params.system", "input"),
            Loc::Other
        );
        assert_eq!(parse_location("messages[x]", "input"), Loc::Other);
        assert_eq!(parse_location("", ""), Loc::Other);
    }

    #[test]
    fn locates_matches_from_excerpts() {
        let text = "please use\nkey AKIA******** for the bucket";
        let r = locate(text, "…please use key [AKIA********] for the bucket").unwrap();
        assert_eq!(&text[r], "AKIA********");
        // Brackets in the context do not confuse it.
        let text = "arr[0] = ignore previous instructions now";
        let r = locate(text, "arr[0] = [ignore previous instructions] now").unwrap();
        assert_eq!(&text[r], "ignore previous instructions");
        // Without matching context, the match alone.
        let r = locate("xx sk-ant-a******** yy", "zz [sk-ant-a********] ww").unwrap();
        assert_eq!(r, 3..19);
        assert_eq!(locate("nothing here", "[AKIA********]"), None);
        // Multi-byte text before the match.
        let text = "héllo wörld SECRET";
        let r = locate(text, "wörld [SECRET]").unwrap();
        assert_eq!(&text[r], "SECRET");
    }

    #[test]
    fn renders_odd_shapes_without_failing() {
        let theme = Theme::mono();
        for e in [
            json!(null),
            json!("a string"),
            json!({"conversation": {"messages": "[{\"role\":\"user\",\"content\":\"cut", "system": 5, "tools": "[{\"na"}}),
            json!({"conversation": {"messages": [{"role": "user", "content": [1, null, {"type": "future"}]}]},
                   "findings": [{"location": "messages[0].content[9]"}, "junk"], "latency_ms": {"total": -1}}),
        ] {
            let doc = event_doc(&e, DocOptions { show_tools: true }, &theme);
            assert!(!doc.lines.is_empty());
            let doc = event_doc(&e, DocOptions::default(), &theme);
            assert!(!doc.lines.is_empty());
        }
    }

    #[test]
    fn places_findings_and_redacts_headers() {
        let e = json!({
            "findings": [{"detector_type": "secrets/aws_access_key", "action": "block",
                          "location": "messages[0].content[0]", "excerpt": "key [AKIA********] ok"},
                         {"detector_type": "pii/email", "action": "log",
                          "location": "requests[0].params.system", "excerpt": "[a@b.c]"}],
            "request_headers": {"x-api-key": "sk-ant-real", "accept": "*/*"},
            "conversation": {"messages": [{"role": "user", "content": [{"type": "text", "text": "key AKIA******** ok"}]}]}
        });
        let theme = Theme::colored();
        let doc = event_doc(&e, DocOptions::default(), &theme);
        let text: Vec<String> = doc
            .lines
            .iter()
            .map(|l| l.segs.iter().map(|(s, _)| s.as_str()).collect())
            .collect();
        let all = text.join("\n");
        assert!(all.contains("⚑ finding [1] secrets/aws_access_key"));
        assert!(all.contains("not in the stored conversation"));
        assert!(all.contains("x-api-key: [REDACTED]"));
        assert!(!all.contains("sk-ant-real"));
        let highlighted = doc
            .lines
            .iter()
            .flat_map(|l| l.segs.iter())
            .any(|(s, st)| s == "AKIA********" && *st == theme.highlight);
        assert!(highlighted);
        let findings = doc
            .anchors
            .iter()
            .filter(|a| a.kind == AnchorKind::Finding)
            .count();
        assert_eq!(findings, 2);
    }
}
