//! The session view: one session's requests in time order (time, decision, status, model,
//! tokens, latency, triggered detectors), blocked ones marked and bold. Events come from
//! `GET /v1/sessions/{id}/events` page by page; the shared filters (path, decision, detector,
//! blocked only, time range) and the view's own `/` search are applied to the rows loaded, and
//! more pages are asked for while the filtered list is short. In live mode the last page is asked
//! for again (from the cursor that fetched it) and new requests are appended.

use std::collections::HashSet;

use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Alignment, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::list::ListState;
use super::sessions::{WIDE, short_model};
use super::table::{self, CellText, Column};
use super::{
    Action, Component, Ctx, Status, WHEEL_ROWS, error_message, error_status, is_enter, list_key,
    short_id,
};
use crate::api::model::{EventSummary, SessionRow};
use crate::api::{Job, Payload, Purpose, Query, Reply, Ticket};
use crate::feed::Feed;
use crate::text::{compact, fit, millis};
use crate::time::{clock, clock_ms, full_ms, short};

/// Events in the first page.
pub const FIRST_PAGE: usize = 500;
/// Events in each further page (and each live refresh).
pub const MORE_PAGE: usize = 1000;

/// Totals over the loaded requests, kept up to date as pages arrive (not recounted per frame).
#[derive(Clone, Debug, Default)]
struct Totals {
    blocked: u64,
    input_tokens: u64,
    output_tokens: u64,
    first: Option<i64>,
    last: Option<i64>,
    models: Vec<String>,
}

impl Totals {
    fn add(&mut self, e: &EventSummary) {
        self.blocked += u64::from(e.is_blocked());
        self.input_tokens += e.input_tokens;
        self.output_tokens += e.output_tokens;
        if let Some(t) = e.time {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
        if !e.model.is_empty() {
            let m = short_model(&e.model);
            if !self.models.contains(&m) {
                self.models.push(m);
            }
        }
    }
}

/// One session's requests.
#[derive(Debug)]
pub struct SessionView {
    session: SessionRow,
    feed: Feed,
    events: Vec<EventSummary>,
    seen: HashSet<String>,
    visible: Vec<usize>,
    list: ListState,
    /// The cursor that fetched the latest page (live refreshes start there).
    tail_cursor: Option<String>,
    find: String,
    placed: bool,
    body: Rect,
    totals: Totals,
}

impl SessionView {
    /// The view of `session`; it asks for its events on the next [`Component::jobs`].
    pub fn new(session: SessionRow) -> Self {
        SessionView {
            session,
            feed: Feed::new(),
            events: Vec::new(),
            seen: HashSet::new(),
            visible: Vec::new(),
            list: ListState::default(),
            tail_cursor: None,
            find: String::new(),
            placed: false,
            body: Rect::default(),
            totals: Totals::default(),
        }
    }

    /// The session shown.
    pub fn session(&self) -> &SessionRow {
        &self.session
    }

    /// The events loaded, oldest first.
    pub fn events(&self) -> &[EventSummary] {
        &self.events
    }

    /// The selected event.
    pub fn selected(&self) -> Option<&EventSummary> {
        self.visible
            .get(self.list.selected)
            .and_then(|&i| self.events.get(i))
    }

    fn matches_find(&self, e: &EventSummary) -> bool {
        let needle = self.find.trim().to_lowercase();
        if needle.is_empty() {
            return true;
        }
        let hay = format!(
            "{} {} {} {} {} {}",
            e.event_id,
            e.decision,
            e.model,
            e.path,
            e.status,
            e.detectors().join(" ")
        )
        .to_lowercase();
        hay.contains(&needle)
    }

    fn refilter(&mut self, cx: &Ctx<'_>) {
        let keep = self.selected().map(|e| e.event_id.clone());
        self.visible = (0..self.events.len())
            .filter(|&i| {
                let e = &self.events[i];
                cx.filters.matches_event(e, cx.now) && self.matches_find(e)
            })
            .collect();
        self.list.set_len(self.visible.len());
        if let Some(id) = keep
            && let Some(pos) = self
                .visible
                .iter()
                .position(|&i| self.events[i].event_id == id)
        {
            self.list.select(pos);
        }
    }

    fn add(&mut self, items: Vec<EventSummary>, cx: &Ctx<'_>) {
        let old_len = self.events.len();
        for e in items {
            if !e.event_id.is_empty() && !self.seen.insert(e.event_id.clone()) {
                continue;
            }
            self.totals.add(&e);
            self.events.push(e);
        }
        // Pages come oldest first; a late event from another sensor may be out of order.
        let out_of_order = self.events[old_len.saturating_sub(1)..]
            .windows(2)
            .any(|w| w[0].time.is_some() && w[1].time.is_some() && w[0].time > w[1].time);
        if out_of_order {
            self.events.sort_by_key(|e| e.time);
            self.refilter(cx);
        } else {
            // Only the new rows need filtering.
            for i in old_len..self.events.len() {
                let e = &self.events[i];
                if cx.filters.matches_event(e, cx.now) && self.matches_find(e) {
                    self.visible.push(i);
                }
            }
            self.list.set_len(self.visible.len());
        }
        // First time there is something to show: start on the first blocked request.
        if !self.placed && !self.visible.is_empty() {
            self.placed = true;
            if let Some(pos) = self
                .visible
                .iter()
                .position(|&i| self.events[i].is_blocked())
            {
                self.list.select(pos);
            }
        }
    }

    fn jump_blocked(&mut self, forward: bool) {
        let n = self.visible.len();
        let blocked = |p: usize| self.events[self.visible[p]].is_blocked();
        let found = if forward {
            (self.list.selected + 1..n).find(|&p| blocked(p))
        } else {
            (0..self.list.selected).rev().find(|&p| blocked(p))
        };
        if let Some(p) = found {
            self.list.select(p);
        }
    }

    fn query(&self, cursor: Option<String>, limit: usize) -> Query {
        Query::SessionEvents {
            project_id: self.session.project_id.clone(),
            session_id: self.session.session_id.clone(),
            cursor,
            limit,
        }
    }

    fn header(&self, cx: &Ctx<'_>) -> Vec<Line<'static>> {
        let t = cx.theme;
        let s = &self.session;
        let totals = &self.totals;
        let blocked = totals.blocked;
        let (tin, tout) = (totals.input_tokens, totals.output_tokens);
        let first = totals.first.or(s.first_seen);
        let last = totals.last.or(s.last_seen);
        let models = &totals.models;
        let more = if self.feed.next_cursor.is_some() {
            "+"
        } else {
            ""
        };
        let line1 = Line::from(vec![
            Span::styled("Session ", t.label),
            Span::styled(s.session_id.clone(), t.header),
            Span::styled("  project ", t.label),
            Span::raw(if s.project_id.is_empty() {
                "—".to_owned()
            } else {
                s.project_id.clone()
            }),
        ]);
        let mut spans = vec![
            Span::raw(format!("{}{more} requests", self.events.len())),
            Span::styled(" · ", t.dim),
            Span::styled(
                format!("{blocked}{more} blocked"),
                if blocked > 0 { t.blocked } else { Style::new() },
            ),
            Span::styled(" · ", t.dim),
            Span::raw(format!(
                "{} → {}",
                first.map_or_else(|| "—".to_owned(), short),
                last.map_or_else(|| "—".to_owned(), short)
            )),
            Span::styled(" · ", t.dim),
            Span::raw(format!("tokens {}/{}", compact(tin), compact(tout))),
        ];
        if !models.is_empty() {
            spans.push(Span::styled(" · ", t.dim));
            spans.push(Span::styled(models.join(","), t.dim));
        }
        vec![line1, Line::from(spans)]
    }

    fn cells(e: &EventSummary, wide: bool, cx: &Ctx<'_>) -> (Vec<CellText>, Style) {
        let t = cx.theme;
        let blocked = e.is_blocked();
        let decision_style = t.decision(&e.decision, blocked);
        let row_style = if blocked { t.blocked } else { Style::new() };
        let marker = if blocked {
            ("✖".to_owned(), t.blocked)
        } else if e.decision == "flagged" || !e.findings.is_empty() {
            ("▲".to_owned(), t.flagged)
        } else {
            (" ".to_owned(), Style::new())
        };
        let time = e
            .time
            .map_or_else(|| "—".to_owned(), if wide { full_ms } else { clock_ms });
        let status = if e.status == 0 {
            "—".to_owned()
        } else {
            e.status.to_string()
        };
        let detectors = e.detectors().join(", ");
        let detectors = if detectors.is_empty() && !e.error.is_empty() {
            (e.error.clone(), t.failed)
        } else {
            (detectors, if blocked { t.blocked } else { t.flagged })
        };
        let model = if wide {
            e.model.clone()
        } else {
            short_model(&e.model)
        };
        let mut cells = vec![
            marker,
            (time, Style::new()),
            (
                if e.decision.is_empty() {
                    "?".into()
                } else {
                    e.decision.clone()
                },
                decision_style,
            ),
            (status, Style::new()),
        ];
        if wide {
            let up = if e.upstream_status == 0 {
                "—".to_owned()
            } else {
                e.upstream_status.to_string()
            };
            cells.push((up, t.dim));
            cells.push((e.path.clone(), t.dim));
        }
        cells.push((model, Style::new()));
        if wide {
            cells.push((compact(e.input_tokens), Style::new()));
            cells.push((compact(e.output_tokens), Style::new()));
        } else {
            cells.push((
                format!("{}/{}", compact(e.input_tokens), compact(e.output_tokens)),
                Style::new(),
            ));
        }
        cells.push((millis(e.latency_ms), t.dim));
        cells.push(detectors);
        (cells, row_style)
    }

    fn columns(wide: bool) -> Vec<Column> {
        if wide {
            vec![
                Column::left("", 1),
                Column::left("TIME (UTC)", 23),
                Column::left("DECISION", 11),
                Column::right("ST", 3),
                Column::right("UP", 3),
                Column::left("PATH", 22),
                Column::left("MODEL", 26),
                Column::right("TOK IN", 7),
                Column::right("TOK OUT", 7),
                Column::right("LATENCY", 9),
                Column::fill("DETECTORS"),
            ]
        } else {
            vec![
                Column::left("", 1),
                Column::left("TIME", 12),
                Column::left("DECISION", 8),
                Column::right("ST", 3),
                Column::left("MODEL", 10),
                Column::right("TOKENS", 10),
                Column::right("LATENCY", 8),
                Column::fill("DETECTORS"),
            ]
        }
    }
}

impl Component for SessionView {
    fn handle_key(&mut self, key: KeyEvent, _cx: &Ctx<'_>) -> Action {
        if list_key(&key, &mut self.list) {
            return Action::None;
        }
        if is_enter(&key) {
            return self
                .selected()
                .cloned()
                .map_or(Action::None, Action::OpenEvent);
        }
        match key.code {
            KeyCode::Char(']') => self.jump_blocked(true),
            KeyCode::Char('[') => self.jump_blocked(false),
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Left | KeyCode::Char('h') => {
                return Action::Back;
            }
            _ => {}
        }
        Action::None
    }

    fn handle_mouse(&mut self, mouse: MouseEvent, _cx: &Ctx<'_>) -> Action {
        match mouse.kind {
            MouseEventKind::ScrollDown => self.list.down(WHEEL_ROWS),
            MouseEventKind::ScrollUp => self.list.up(WHEEL_ROWS),
            MouseEventKind::Down(MouseButton::Left) => {
                let inside = mouse.row >= self.body.y
                    && mouse.row < self.body.bottom()
                    && mouse.column >= self.body.x
                    && mouse.column < self.body.right();
                if inside && let Some(pos) = self.list.row_at(usize::from(mouse.row - self.body.y))
                {
                    if pos == self.list.selected {
                        return self
                            .selected()
                            .cloned()
                            .map_or(Action::None, Action::OpenEvent);
                    }
                    self.list.select(pos);
                }
            }
            _ => {}
        }
        Action::None
    }

    fn draw(&mut self, frame: &mut Frame<'_>, area: Rect, cx: &Ctx<'_>) {
        if area.height < 4 {
            return;
        }
        let [head, _, body] = Layout::vertical([
            ratatui::layout::Constraint::Length(2),
            ratatui::layout::Constraint::Length(1),
            ratatui::layout::Constraint::Fill(1),
        ])
        .areas(area);
        let header: Vec<Line<'static>> = self
            .header(cx)
            .into_iter()
            .map(|l| {
                let text = l.to_string();
                if crate::text::width(&text) > usize::from(area.width) {
                    // Cut long header lines rather than wrap them.
                    let mut spans = Vec::new();
                    let mut left = usize::from(area.width);
                    for s in l.spans {
                        if left == 0 {
                            break;
                        }
                        let cut = fit(&s.content, left);
                        left = left.saturating_sub(crate::text::width(&cut));
                        spans.push(Span::styled(cut, s.style));
                    }
                    Line::from(spans)
                } else {
                    l
                }
            })
            .collect();
        frame.render_widget(Paragraph::new(header), head);
        if self.visible.is_empty() {
            let error = error_message(&self.feed, cx.now).filter(|_| !self.feed.loaded);
            let style = if error.is_some() {
                cx.theme.failed
            } else {
                cx.theme.dim
            };
            let text = if let Some(e) = error {
                e
            } else if !self.feed.loaded {
                "Loading the session's requests…".to_owned()
            } else if self.events.is_empty() {
                "This session has no requests.".to_owned()
            } else if self.feed.next_cursor.is_some() {
                "No request loaded so far matches the filters; loading more…".to_owned()
            } else {
                "No request in this session matches the filters (header line). Press c to clear them."
                    .to_owned()
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
            self.body = Rect::default();
            return;
        }
        let wide = area.width >= WIDE;
        let window = self.list.window(usize::from(body.height.saturating_sub(1)));
        let selected = self.list.selected - window.start;
        let rows = window
            .map(|pos| Self::cells(&self.events[self.visible[pos]], wide, cx))
            .collect();
        table::draw(
            frame,
            body,
            &Self::columns(wide),
            rows,
            Some(selected),
            cx.theme,
        );
        self.body = Rect {
            y: body.y + 1,
            height: body.height.saturating_sub(1),
            ..body
        };
    }

    fn jobs(&mut self, cx: &Ctx<'_>, out: &mut Vec<Job>) {
        if let Some(job) = self.feed.due_retry(cx.now) {
            out.push(job);
            return;
        }
        if !self.feed.idle() {
            return;
        }
        if !self.feed.loaded {
            out.push(
                self.feed
                    .issue(Purpose::First, self.query(None, FIRST_PAGE)),
            );
            return;
        }
        if let Some(cursor) = self.feed.next_cursor.clone() {
            let margin = self.list.page() * 3 + 50;
            if self.list.near_end(margin) || !self.find.is_empty() {
                let q = self.query(Some(cursor), MORE_PAGE);
                out.push(self.feed.issue(Purpose::More, q));
            }
            return;
        }
        if cx.live && self.feed.poll_due(cx.now, cx.refresh_ms) {
            let q = self.query(self.tail_cursor.clone(), MORE_PAGE);
            out.push(self.feed.issue(Purpose::Poll, q));
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
            Ok(Payload::Events(page)) => {
                self.feed.succeeded(cx.now);
                self.feed.loaded = true;
                self.tail_cursor = match &page.next_cursor {
                    Some(next) => Some(next.clone()),
                    None => reply.query.cursor().map(str::to_owned),
                };
                self.feed.next_cursor = page.next_cursor;
                self.add(page.items, cx);
            }
            Ok(_) => return false,
        }
        true
    }

    fn status(&self, cx: &Ctx<'_>) -> Status {
        if let Some(status) = error_status(&self.feed, cx.now) {
            return status;
        }
        if !self.feed.loaded {
            return Status {
                text: "loading requests…".to_owned(),
                error: false,
            };
        }
        let mut text = format!(
            "{} of {} requests shown",
            self.visible.len(),
            self.events.len()
        );
        if !self.find.is_empty() {
            text.push_str(&format!(" · matching \"{}\"", self.find));
        }
        if self.feed.next_cursor.is_some() {
            text.push_str(" · more below");
        }
        if let Some(t) = self.feed.last_ok {
            text.push_str(&format!(" · updated {}", clock(t)));
        }
        Status { text, error: false }
    }

    fn breadcrumb(&self) -> String {
        format!("session {}", short_id(&self.session.session_id))
    }

    fn hints(&self) -> &'static str {
        " ↵ open · esc back · ] blocked · ? help "
    }

    fn filters_changed(&mut self, cx: &Ctx<'_>) {
        self.refilter(cx);
    }

    fn reload(&mut self) {
        let keep = self.list.selected;
        *self = SessionView {
            find: std::mem::take(&mut self.find),
            ..SessionView::new(self.session.clone())
        };
        self.list.selected = keep;
        self.placed = true;
    }

    fn find(&self) -> Option<&str> {
        Some(&self.find)
    }

    fn set_find(&mut self, text: &str) {
        self.find = text.to_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::Page;
    use crate::filter::Filters;
    use crate::theme::Theme;

    fn ev(id: &str, t: i64, decision: &str) -> EventSummary {
        EventSummary {
            event_id: id.into(),
            time: Some(t),
            decision: decision.into(),
            path: "/v1/messages".into(),
            ..EventSummary::default()
        }
    }

    #[test]
    fn pages_forward_and_tails_from_the_last_cursor() {
        let filters = Filters::default();
        let theme = Theme::mono();
        let cx = Ctx {
            theme: &theme,
            filters: &filters,
            now: 10_000,
            live: true,
            refresh_ms: 2000,
        };
        let mut v = SessionView::new(SessionRow {
            session_id: "s".into(),
            project_id: "p".into(),
            ..SessionRow::default()
        });
        let mut jobs = Vec::new();
        v.jobs(&cx, &mut jobs);
        let answer = |v: &SessionView, job: &Job, items, next: Option<&str>| Reply {
            ticket: Ticket {
                epoch: v.feed.epoch,
                purpose: job.ticket.purpose,
            },
            query: job.query.clone(),
            result: Ok(Payload::Events(Page {
                items,
                next_cursor: next.map(str::to_owned),
            })),
        };
        let r = answer(
            &v,
            &jobs[0],
            vec![ev("1", 1, "allowed"), ev("2", 2, "blocked")],
            Some("c1"),
        );
        assert!(v.on_reply(r, &cx));
        // Starts on the first blocked request.
        assert_eq!(v.selected().unwrap().event_id, "2");
        jobs.clear();
        v.jobs(&cx, &mut jobs);
        assert_eq!(jobs[0].query.cursor(), Some("c1"));
        let r = answer(&v, &jobs[0], vec![ev("3", 3, "allowed")], None);
        assert!(v.on_reply(r, &cx));
        // Live refresh re-reads from the cursor of the last page; duplicates are dropped.
        let later = Ctx { now: 20_000, ..cx };
        jobs.clear();
        v.jobs(&later, &mut jobs);
        assert_eq!(jobs[0].ticket.purpose, Purpose::Poll);
        assert_eq!(jobs[0].query.cursor(), Some("c1"));
        let r = answer(
            &v,
            &jobs[0],
            vec![ev("3", 3, "allowed"), ev("4", 4, "flagged")],
            None,
        );
        assert!(v.on_reply(r, &later));
        let ids: Vec<_> = v.events().iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids, vec!["1", "2", "3", "4"]);
        // Filters and the view's search narrow the rows.
        let blocked = Filters {
            blocked_only: true,
            ..Filters::default()
        };
        v.filters_changed(&Ctx {
            filters: &blocked,
            ..later
        });
        assert_eq!(v.visible.len(), 1);
        v.set_find("flag");
        v.filters_changed(&later);
        assert_eq!(v.visible.len(), 1);
        assert_eq!(v.selected().unwrap().event_id, "4");
    }
}
