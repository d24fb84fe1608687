//! The event view: one request as the gateway saw it, loaded with `GET /v1/events/{id}` and
//! drawn from [`super::event_doc`] (the conversation with findings highlighted, headers,
//! latency), or as raw JSON (`J`). A pager: j/k and pages scroll, `]`/`[` jump between
//! findings, `}`/`{` between sections and messages, `t` expands the tool definitions, and `/`
//! searches the text (`n`/`N` for the next and previous match).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use serde_json::Value;

use super::event_doc::{DocOptions, event_doc, raw_doc};
use super::{Action, Component, Ctx, Status, WHEEL_ROWS, error_message, error_status, short_id};
use crate::api::model::{EventSummary, WholeEvent};
use crate::api::{Job, Payload, Purpose, Query, Reply, Ticket};
use crate::doc::{AnchorKind, Doc, Wrapped};
use crate::feed::Feed;
use crate::text::fit;
use crate::time::full;

/// One event.
#[derive(Debug)]
pub struct EventView {
    summary: EventSummary,
    feed: Feed,
    event: Option<WholeEvent>,
    show_tools: bool,
    raw: bool,
    doc: Option<Doc>,
    wrapped: Option<Wrapped>,
    scroll: usize,
    height: usize,
    width: u16,
    find: String,
    jump_to_match: bool,
    notice: Option<String>,
}

impl EventView {
    /// The view of the event `summary` names; the whole event loads on the next
    /// [`Component::jobs`].
    pub fn new(summary: EventSummary) -> Self {
        EventView {
            summary,
            feed: Feed::new(),
            event: None,
            show_tools: false,
            raw: false,
            doc: None,
            wrapped: None,
            scroll: 0,
            height: 0,
            width: 0,
            find: String::new(),
            jump_to_match: false,
            notice: None,
        }
    }

    /// The event as loaded, if it has arrived.
    pub fn event(&self) -> Option<&Value> {
        self.event.as_ref().map(|e| &e.value)
    }

    /// Shows the whole event now (tests, and an event already at hand).
    pub fn set_event(&mut self, event: WholeEvent) {
        self.summary = EventSummary::from_json(&event.value);
        self.event = Some(event);
        self.feed.loaded = true;
        self.rebuild();
    }

    fn rebuild(&mut self) {
        self.doc = None;
        self.wrapped = None;
    }

    fn ensure_doc(&mut self, cx: &Ctx<'_>, width: u16) {
        let Some(event) = &self.event else {
            return;
        };
        if self.doc.is_none() {
            self.doc = Some(if self.raw {
                raw_doc(&event.body, cx.theme)
            } else {
                event_doc(
                    &event.value,
                    DocOptions {
                        show_tools: self.show_tools,
                    },
                    cx.theme,
                )
            });
            self.wrapped = None;
        }
        let stale = self
            .wrapped
            .as_ref()
            .is_none_or(|w| w.width != width || w.find != self.find);
        if stale && let Some(doc) = &self.doc {
            self.wrapped = Some(doc.wrap(width, &self.find, cx.theme.search_match));
        }
    }

    fn max_scroll(&self) -> usize {
        self.wrapped
            .as_ref()
            .map_or(0, |w| w.lines.len().saturating_sub(self.height.max(1)))
    }

    fn scroll_by(&mut self, delta: isize) {
        let target = self.scroll.saturating_add_signed(delta);
        self.scroll = target.min(self.max_scroll());
    }

    /// Rows of the anchors of `kind`, in order.
    fn anchor_rows(&self, kind: AnchorKind) -> Vec<usize> {
        match (&self.doc, &self.wrapped) {
            (Some(doc), Some(w)) => doc
                .anchors
                .iter()
                .filter(|a| a.kind == kind)
                .map(|a| w.row_of(a.line))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn jump(&mut self, rows: Vec<usize>, forward: bool, what: &str) {
        // Jump targets sit two rows below the top so the context above shows.
        let current = self.scroll + 2;
        let target = if forward {
            rows.iter().copied().find(|&r| r > current)
        } else {
            rows.iter().copied().rev().find(|&r| r < current)
        };
        match target {
            Some(r) => {
                self.scroll = r.saturating_sub(2).min(self.max_scroll());
                self.notice = None;
            }
            None => {
                self.notice = Some(if rows.is_empty() {
                    format!("no {what}")
                } else if forward {
                    format!("no {what} below")
                } else {
                    format!("no {what} above")
                });
            }
        }
    }

    fn title(&self, cx: &Ctx<'_>, width: u16) -> Line<'static> {
        let t = cx.theme;
        let e = &self.summary;
        let mut spans = vec![
            Span::styled("Event ", t.label),
            Span::styled(e.event_id.clone(), t.header),
            Span::styled("  ", t.dim),
            Span::styled(
                if e.decision.is_empty() {
                    "?".to_owned()
                } else {
                    e.decision.to_uppercase()
                },
                t.decision(&e.decision, e.is_blocked()),
            ),
        ];
        if e.status > 0 {
            spans.push(Span::raw(format!(" {}", e.status)));
        }
        if self.raw {
            spans.push(Span::styled("  raw JSON", t.key));
        }
        if let Some(time) = e.time {
            spans.push(Span::styled(format!("  {}", full(time)), t.dim));
        }
        let mut left = usize::from(width);
        let mut out = Vec::new();
        for s in spans {
            let cut = fit(&s.content, left);
            left = left.saturating_sub(crate::text::width(&cut));
            out.push(Span::styled(cut, s.style));
            if left == 0 {
                break;
            }
        }
        Line::from(out)
    }
}

impl Component for EventView {
    fn handle_key(&mut self, key: KeyEvent, cx: &Ctx<'_>) -> Action {
        // After t or J the document is rebuilt here, so a jump right after sees it.
        if self.width > 0 {
            self.ensure_doc(cx, self.width);
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let page = self.height.max(1) as isize;
        self.notice = None;
        match key.code {
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Left | KeyCode::Char('h') => {
                return Action::Back;
            }
            KeyCode::Down | KeyCode::Char('j') | KeyCode::Enter if !ctrl => self.scroll_by(1),
            KeyCode::Up | KeyCode::Char('k') if !ctrl => self.scroll_by(-1),
            KeyCode::PageDown | KeyCode::Char(' ') => self.scroll_by(page),
            KeyCode::PageUp => self.scroll_by(-page),
            KeyCode::Char('f') if ctrl => self.scroll_by(page),
            KeyCode::Char('b') if ctrl => self.scroll_by(-page),
            KeyCode::Char('d') if ctrl => self.scroll_by(page / 2 + 1),
            KeyCode::Char('u') if ctrl => self.scroll_by(-(page / 2 + 1)),
            KeyCode::Home | KeyCode::Char('g') => self.scroll = 0,
            KeyCode::End | KeyCode::Char('G') => self.scroll = self.max_scroll(),
            KeyCode::Char(']') => {
                let rows = self.anchor_rows(AnchorKind::Finding);
                self.jump(rows, true, "finding");
            }
            KeyCode::Char('[') => {
                let rows = self.anchor_rows(AnchorKind::Finding);
                self.jump(rows, false, "finding");
            }
            KeyCode::Char('}') => {
                let rows = self.anchor_rows(AnchorKind::Section);
                self.jump(rows, true, "section");
            }
            KeyCode::Char('{') => {
                let rows = self.anchor_rows(AnchorKind::Section);
                self.jump(rows, false, "section");
            }
            KeyCode::Char('n') => {
                let rows = self
                    .wrapped
                    .as_ref()
                    .map(|w| w.matches.clone())
                    .unwrap_or_default();
                self.jump(rows, true, "match");
            }
            KeyCode::Char('N') => {
                let rows = self
                    .wrapped
                    .as_ref()
                    .map(|w| w.matches.clone())
                    .unwrap_or_default();
                self.jump(rows, false, "match");
            }
            KeyCode::Char('t') if !self.raw => {
                self.show_tools = !self.show_tools;
                self.rebuild();
            }
            KeyCode::Char('J') => {
                self.raw = !self.raw;
                self.scroll = 0;
                self.rebuild();
            }
            _ => {}
        }
        Action::None
    }

    fn handle_mouse(&mut self, mouse: MouseEvent, _cx: &Ctx<'_>) -> Action {
        match mouse.kind {
            MouseEventKind::ScrollDown => self.scroll_by(WHEEL_ROWS as isize),
            MouseEventKind::ScrollUp => self.scroll_by(-(WHEEL_ROWS as isize)),
            _ => {}
        }
        Action::None
    }

    fn draw(&mut self, frame: &mut Frame<'_>, area: Rect, cx: &Ctx<'_>) {
        if area.height < 3 {
            return;
        }
        let title_area = Rect { height: 1, ..area };
        let body = Rect {
            y: area.y + 1,
            height: area.height - 1,
            ..area
        };
        frame.render_widget(Paragraph::new(self.title(cx, area.width)), title_area);
        // Leave the last column for the scroll position marker.
        let text_width = body.width.saturating_sub(1).max(1);
        self.width = text_width;
        self.ensure_doc(cx, text_width);
        self.height = usize::from(body.height);
        let Some(w) = &self.wrapped else {
            let (text, style) = match error_message(&self.feed, cx.now) {
                Some(e) => (e, cx.theme.failed),
                None => ("Loading the event…".to_owned(), cx.theme.dim),
            };
            let p = Paragraph::new(text)
                .style(style)
                .alignment(Alignment::Center)
                .wrap(Wrap { trim: true });
            frame.render_widget(
                p,
                Rect {
                    y: body.y + body.height / 3,
                    height: body.height - body.height / 3,
                    ..body
                },
            );
            return;
        };
        self.scroll = self
            .scroll
            .min(w.lines.len().saturating_sub(self.height.max(1)));
        if self.jump_to_match {
            self.jump_to_match = false;
            let rows = w.matches.clone();
            // From just above the screen, so a match already on screen counts.
            let from = self.scroll;
            self.scroll = self.scroll.saturating_sub(3);
            self.jump(rows, true, "match");
            if self.notice.is_some() {
                self.scroll = from;
            }
        }
        let Some(w) = &self.wrapped else {
            return;
        };
        let end = (self.scroll + self.height).min(w.lines.len());
        let visible: Vec<Line<'static>> = w.lines[self.scroll..end].to_vec();
        frame.render_widget(
            Paragraph::new(visible),
            Rect {
                width: text_width,
                ..body
            },
        );
        // A one-column scroll bar: where the screen is in the document.
        let total = w.lines.len().max(1);
        if total > self.height && body.height > 0 {
            let h = usize::from(body.height);
            let thumb = (h * h / total).clamp(1, h);
            let top = (self.scroll * h / total).min(h - thumb);
            let buf = frame.buffer_mut();
            for i in 0..h {
                let symbol = if (top..top + thumb).contains(&i) {
                    "┃"
                } else {
                    "│"
                };
                let style = if (top..top + thumb).contains(&i) {
                    cx.theme.header
                } else {
                    cx.theme.dim
                };
                if let Some(cell) = buf.cell_mut((body.right() - 1, body.y + i as u16)) {
                    cell.set_symbol(symbol).set_style(style);
                }
            }
        }
    }

    fn jobs(&mut self, cx: &Ctx<'_>, out: &mut Vec<Job>) {
        if let Some(job) = self.feed.due_retry(cx.now) {
            out.push(job);
            return;
        }
        if !self.feed.loaded && self.feed.idle() {
            let q = Query::Event {
                event_id: self.summary.event_id.clone(),
            };
            out.push(self.feed.issue(Purpose::First, q));
        }
    }

    fn owns(&self, ticket: &Ticket) -> bool {
        self.feed.owns(ticket)
    }

    fn on_reply(&mut self, reply: Reply, cx: &Ctx<'_>) -> bool {
        if !self.feed.owns(&reply.ticket) {
            return false;
        }
        match reply.result {
            Err(e) => {
                let job = Job {
                    ticket: reply.ticket,
                    query: reply.query,
                };
                self.feed.failed(job, e, cx.now);
            }
            Ok(Payload::Event(v)) => {
                self.feed.succeeded(cx.now);
                self.set_event(*v);
            }
            Ok(_) => return false,
        }
        true
    }

    fn status(&self, cx: &Ctx<'_>) -> Status {
        if let Some(status) = error_status(&self.feed, cx.now) {
            return status;
        }
        if let Some(n) = &self.notice {
            return Status {
                text: n.clone(),
                error: false,
            };
        }
        let Some(w) = &self.wrapped else {
            return Status {
                text: "loading the event…".to_owned(),
                error: false,
            };
        };
        let total = w.lines.len();
        let pct = if total <= self.height {
            100
        } else {
            ((self.scroll + self.height).min(total) * 100) / total
        };
        let mut text = format!("line {}/{} ({pct}%)", (self.scroll + 1).min(total), total);
        if !self.find.is_empty() {
            text.push_str(&format!(
                " · \"{}\": {} lines match, n/N",
                self.find,
                w.matches.len()
            ));
        }
        Status { text, error: false }
    }

    fn breadcrumb(&self) -> String {
        format!("event {}", short_id(&self.summary.event_id))
    }

    fn hints(&self) -> &'static str {
        if self.raw {
            " J rendered · esc back · / find · ? help "
        } else {
            " ] finding · J raw · esc back · ? help "
        }
    }

    fn filters_changed(&mut self, _cx: &Ctx<'_>) {}

    fn reload(&mut self) {
        let keep = self.scroll;
        *self = EventView {
            raw: self.raw,
            show_tools: self.show_tools,
            find: std::mem::take(&mut self.find),
            ..EventView::new(self.summary.clone())
        };
        self.scroll = keep;
    }

    fn find(&self) -> Option<&str> {
        Some(&self.find)
    }

    fn set_find(&mut self, text: &str) {
        self.find = text.to_owned();
        // Jump to the first match at or below the current position once wrapped.
        self.jump_to_match = !self.find.is_empty();
    }
}
