//! The home view: one row per Claude Code session, newest activity first, with its project,
//! first and last request, request and blocked counts, models and tokens. Rows come from
//! `GET /v1/sessions` page by page as the selection nears the end; in live mode the first page
//! is asked for again every refresh period and merged in (changed rows are marked for a few
//! seconds and the selection stays on its session). With a detector or decision filter the rows
//! are instead built from the matching events of `GET /v1/events` (the sessions endpoint knows
//! nothing of findings), so the counts are of matching requests.

use std::collections::{HashMap, HashSet};

use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Paragraph, Wrap};

use super::list::ListState;
use super::table::{self, CellText, Column};
use super::{
    Action, Component, Ctx, Status, WHEEL_ROWS, error_message, error_status, is_enter, list_key,
};
use crate::api::model::{EventSummary, SessionKey, SessionRow};
use crate::api::{Job, Payload, Purpose, Query, Reply, Ticket};
use crate::feed::Feed;
use crate::filter::{Filters, Params};
use crate::text::compact;
use crate::time::{ago, clock, format_rfc3339, full, short};

/// Sessions in the first page.
pub const FIRST_PAGE: usize = 200;
/// Sessions in each further page.
pub const MORE_PAGE: usize = 500;
/// Sessions asked for on each live refresh.
pub const POLL_PAGE: usize = 100;
/// Events per page when building rows from events.
pub const SCAN_PAGE: usize = 1000;
/// How long a changed row stays marked.
pub const FRESH_MS: i64 = 10_000;
/// Widths from which the wide layout is used.
pub const WIDE: u16 = 140;

/// Rows built from events (detector or decision filter).
#[derive(Clone, Debug, Default)]
struct Scan {
    seen: HashSet<String>,
    newest: Option<i64>,
    matched: u64,
    without_session: u64,
    /// A live refresh that returned more than one page continues here.
    poll_more: Option<(Params, String)>,
}

/// The home view.
#[derive(Debug)]
pub struct SessionsView {
    feed: Feed,
    query: Filters,
    rows: Vec<SessionRow>,
    index: HashMap<SessionKey, usize>,
    visible: Vec<usize>,
    list: ListState,
    fresh: HashMap<SessionKey, i64>,
    scan: Option<Scan>,
    body: Rect,
}

/// `claude-sonnet-4-5-20250929` → `sonnet-4-5`.
pub fn short_model(model: &str) -> String {
    let m = model.strip_prefix("claude-").unwrap_or(model);
    match m.rsplit_once('-') {
        Some((head, date)) if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) => {
            head.to_owned()
        }
        _ => m.to_owned(),
    }
}

impl SessionsView {
    /// An empty view for `filters`; it asks for its first page on the next [`Component::jobs`].
    pub fn new(filters: &Filters) -> Self {
        let mut v = SessionsView {
            feed: Feed::new(),
            query: filters.clone(),
            rows: Vec::new(),
            index: HashMap::new(),
            visible: Vec::new(),
            list: ListState::default(),
            fresh: HashMap::new(),
            scan: None,
            body: Rect::default(),
        };
        v.reset(filters);
        v
    }

    fn reset(&mut self, filters: &Filters) {
        self.feed = Feed::new();
        self.query = filters.clone();
        self.rows.clear();
        self.index.clear();
        self.visible.clear();
        self.fresh.clear();
        self.list = ListState::default();
        self.scan = filters.needs_event_scan().then(Scan::default);
    }

    /// The session rows loaded, newest first.
    pub fn rows(&self) -> &[SessionRow] {
        &self.rows
    }

    /// The selected session, if any.
    pub fn selected(&self) -> Option<&SessionRow> {
        self.visible
            .get(self.list.selected)
            .and_then(|&i| self.rows.get(i))
    }

    fn selected_key(&self) -> Option<SessionKey> {
        self.selected().map(SessionRow::key)
    }

    fn refilter(&mut self, filters: &Filters) {
        let keep = self.selected_key();
        self.visible = (0..self.rows.len())
            .filter(|&i| filters.matches_session(&self.rows[i]))
            .collect();
        self.list.set_len(self.visible.len());
        if let Some(key) = keep
            && let Some(&row) = self.index.get(&key)
            && let Some(pos) = self.visible.iter().position(|&v| v == row)
        {
            self.list.select(pos);
        }
    }

    fn resort(&mut self, filters: &Filters) {
        let keep = self.selected_key();
        self.rows.sort_by(|a, b| {
            b.last_seen
                .cmp(&a.last_seen)
                .then_with(|| a.project_id.cmp(&b.project_id))
                .then_with(|| a.session_id.cmp(&b.session_id))
        });
        self.index = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.key(), i))
            .collect();
        self.visible = (0..self.rows.len())
            .filter(|&i| filters.matches_session(&self.rows[i]))
            .collect();
        self.list.set_len(self.visible.len());
        if let Some(key) = keep
            && let Some(&row) = self.index.get(&key)
            && let Some(pos) = self.visible.iter().position(|&v| v == row)
        {
            self.list.select(pos);
        }
    }

    fn merge(&mut self, items: Vec<SessionRow>, mark: bool, cx: &Ctx<'_>) {
        let old_len = self.rows.len();
        let mut moved = false;
        for row in items {
            if row.session_id.is_empty() {
                continue;
            }
            let key = row.key();
            match self.index.get(&key) {
                Some(&i) => {
                    let old = &self.rows[i];
                    if old.last_seen != row.last_seen {
                        moved = true;
                    }
                    if mark && (old.last_seen != row.last_seen || old.requests != row.requests) {
                        self.fresh.insert(key, cx.now);
                    }
                    self.rows[i] = row;
                }
                None => {
                    if mark {
                        self.fresh.insert(key.clone(), cx.now);
                    }
                    self.index.insert(key, self.rows.len());
                    self.rows.push(row);
                }
            }
        }
        // A next page appends rows that are already in order: no need to sort 100,000 rows.
        let in_order = !moved
            && self.rows[old_len.saturating_sub(1)..]
                .windows(2)
                .all(|w| w[0].last_seen >= w[1].last_seen);
        if in_order {
            for i in old_len..self.rows.len() {
                if cx.filters.matches_session(&self.rows[i]) {
                    self.visible.push(i);
                }
            }
            self.list.set_len(self.visible.len());
            // Rows changed in place (counts) need no other work.
        } else {
            self.resort(cx.filters);
        }
    }

    fn fold(&mut self, events: &[EventSummary], mark: bool, cx: &Ctx<'_>) {
        let Some(scan) = self.scan.as_mut() else {
            return;
        };
        for e in events {
            if !e.event_id.is_empty() && !scan.seen.insert(e.event_id.clone()) {
                continue;
            }
            if let Some(t) = e.time {
                scan.newest = Some(scan.newest.map_or(t, |n| n.max(t)));
            }
            if !cx.filters.matches_event(e, cx.now) {
                continue;
            }
            scan.matched += 1;
            if e.session_id.is_empty() {
                scan.without_session += 1;
                continue;
            }
            let key = (e.project_id.clone(), e.session_id.clone());
            let i = match self.index.get(&key) {
                Some(&i) => i,
                None => {
                    self.index.insert(key.clone(), self.rows.len());
                    self.rows.push(SessionRow {
                        session_id: e.session_id.clone(),
                        project_id: e.project_id.clone(),
                        ..SessionRow::default()
                    });
                    self.rows.len() - 1
                }
            };
            let row = &mut self.rows[i];
            if let Some(t) = e.time {
                row.first_seen = Some(row.first_seen.map_or(t, |f| f.min(t)));
                row.last_seen = Some(row.last_seen.map_or(t, |l| l.max(t)));
            }
            row.requests += 1;
            row.blocked += u64::from(e.is_blocked());
            row.input_tokens += e.input_tokens;
            row.output_tokens += e.output_tokens;
            if !e.model.is_empty() && !row.models.contains(&e.model) {
                row.models.push(e.model.clone());
            }
            if mark {
                self.fresh.insert(key, cx.now);
            }
        }
        self.resort(cx.filters);
    }

    fn first_query(&self, cx: &Ctx<'_>, cursor: Option<String>, limit: usize) -> Query {
        if self.scan.is_some() {
            Query::Events {
                params: cx.filters.event_params(cx.now),
                cursor,
                limit: SCAN_PAGE,
            }
        } else {
            Query::Sessions {
                params: cx.filters.session_params(cx.now),
                cursor,
                limit,
            }
        }
    }

    fn poll_query(&self, cx: &Ctx<'_>) -> Query {
        match &self.scan {
            Some(scan) => {
                let mut params = cx.filters.event_params(cx.now);
                if let Some(newest) = scan.newest {
                    let since = params
                        .iter()
                        .find(|(k, _)| *k == "since")
                        .and_then(|(_, v)| crate::time::parse_rfc3339(v));
                    params.retain(|(k, _)| *k != "since");
                    params.push((
                        "since",
                        format_rfc3339(since.map_or(newest, |s| s.max(newest))),
                    ));
                }
                Query::Events {
                    params,
                    cursor: None,
                    limit: SCAN_PAGE,
                }
            }
            None => self.first_query(cx, None, POLL_PAGE),
        }
    }

    fn jump_blocked(&mut self, forward: bool) {
        let n = self.visible.len();
        let blocked = |pos: usize| self.rows[self.visible[pos]].blocked > 0;
        let found = if forward {
            (self.list.selected + 1..n).find(|&p| blocked(p))
        } else {
            (0..self.list.selected).rev().find(|&p| blocked(p))
        };
        if let Some(p) = found {
            self.list.select(p);
        }
    }

    fn cells(&self, row: &SessionRow, wide: bool, cx: &Ctx<'_>) -> Vec<CellText> {
        let t = cx.theme;
        let fresh = self
            .fresh
            .get(&row.key())
            .is_some_and(|&at| cx.now - at < FRESH_MS);
        let marker = if row.blocked > 0 {
            ("!".to_owned(), t.blocked)
        } else if fresh {
            ("+".to_owned(), t.fresh)
        } else {
            (" ".to_owned(), Style::new())
        };
        let id_style = if fresh { t.fresh } else { Style::new() };
        let when =
            |ms: Option<i64>| ms.map_or_else(|| "—".to_owned(), if wide { full } else { short });
        let blocked = if row.blocked > 0 {
            (row.blocked.to_string(), t.blocked)
        } else {
            ("0".to_owned(), t.dim)
        };
        let models = row
            .models
            .iter()
            .map(|m| short_model(m))
            .collect::<Vec<_>>()
            .join(",");
        let mut cells = vec![
            marker,
            (row.session_id.clone(), id_style),
            (row.project_id.clone(), Style::new()),
            (when(row.first_seen), t.dim),
            (when(row.last_seen), Style::new()),
        ];
        if wide {
            cells.push((
                row.last_seen.map_or_else(String::new, |l| ago(l, cx.now)),
                t.dim,
            ));
        }
        cells.push((row.requests.to_string(), Style::new()));
        cells.push(blocked);
        if wide {
            cells.push((compact(row.input_tokens), Style::new()));
            cells.push((compact(row.output_tokens), Style::new()));
        } else {
            cells.push((
                format!(
                    "{}/{}",
                    compact(row.input_tokens),
                    compact(row.output_tokens)
                ),
                Style::new(),
            ));
        }
        cells.push((models, t.dim));
        cells
    }

    fn columns(wide: bool) -> Vec<Column> {
        if wide {
            vec![
                Column::left("", 1),
                Column::left("SESSION", 36),
                Column::left("PROJECT", 16),
                Column::left("FIRST SEEN", 19),
                Column::left("LAST SEEN", 19),
                Column::left("", 8),
                Column::right("REQS", 6),
                Column::right("BLOCKED", 7),
                Column::right("TOK IN", 7),
                Column::right("TOK OUT", 7),
                Column::fill("MODELS"),
            ]
        } else {
            vec![
                Column::left("", 1),
                Column::left("SESSION", 12),
                Column::left("PROJECT", 9),
                Column::left("FIRST", 11),
                Column::left("LAST", 11),
                Column::right("REQS", 4),
                Column::right("BLK", 3),
                Column::right("TOKENS", 10),
                Column::fill("MODELS"),
            ]
        }
    }
}

impl Component for SessionsView {
    fn handle_key(&mut self, key: KeyEvent, _cx: &Ctx<'_>) -> Action {
        if list_key(&key, &mut self.list) {
            return Action::None;
        }
        if is_enter(&key) {
            return self
                .selected()
                .cloned()
                .map_or(Action::None, Action::OpenSession);
        }
        match key.code {
            KeyCode::Char(']') => self.jump_blocked(true),
            KeyCode::Char('[') => self.jump_blocked(false),
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
                            .map_or(Action::None, Action::OpenSession);
                    }
                    self.list.select(pos);
                }
            }
            _ => {}
        }
        Action::None
    }

    fn draw(&mut self, frame: &mut Frame<'_>, area: Rect, cx: &Ctx<'_>) {
        if area.height < 2 {
            return;
        }
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
                "Loading sessions…".to_owned()
            } else if self.rows.is_empty() {
                "No sessions match these filters yet. Press c to clear filters, f to edit them."
                    .to_owned()
            } else {
                "No loaded session matches the search. Esc clears it.".to_owned()
            };
            let p = Paragraph::new(text)
                .style(style)
                .alignment(Alignment::Center)
                .wrap(Wrap { trim: true });
            let mid = Rect {
                y: area.y + area.height / 3,
                height: area.height - area.height / 3,
                ..area
            };
            frame.render_widget(p, mid);
            self.body = Rect::default();
            return;
        }
        let wide = area.width >= WIDE;
        let window = self.list.window(usize::from(area.height - 1));
        let selected = self.list.selected - window.start;
        let rows = window
            .map(|pos| {
                let row = &self.rows[self.visible[pos]];
                (self.cells(row, wide, cx), Style::new())
            })
            .collect();
        table::draw(
            frame,
            area,
            &Self::columns(wide),
            rows,
            Some(selected),
            cx.theme,
        );
        self.body = Rect {
            y: area.y + 1,
            height: area.height - 1,
            ..area
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
            let q = self.first_query(cx, None, FIRST_PAGE);
            out.push(self.feed.issue(Purpose::First, q));
            return;
        }
        if let Some(cursor) = self.feed.next_cursor.clone() {
            let searching = !cx.filters.search.trim().is_empty();
            let margin = self.list.page() * 2 + 20;
            if self.scan.is_some() || searching || self.list.near_end(margin) {
                let q = self.first_query(cx, Some(cursor), MORE_PAGE);
                out.push(self.feed.issue(Purpose::More, q));
                return;
            }
        }
        if let Some((params, cursor)) = self.scan.as_mut().and_then(|s| s.poll_more.take()) {
            let q = Query::Events {
                params,
                cursor: Some(cursor),
                limit: SCAN_PAGE,
            };
            out.push(self.feed.issue(Purpose::Poll, q));
            return;
        }
        if cx.live && self.feed.poll_due(cx.now, cx.refresh_ms) {
            let q = self.poll_query(cx);
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
        let purpose = reply.ticket.purpose;
        match reply.result {
            Err(e) => {
                let job = Job {
                    ticket: reply.ticket,
                    query: reply.query,
                };
                self.feed.failed(job, e, cx.now);
            }
            Ok(Payload::Sessions(page)) => {
                self.feed.succeeded(cx.now);
                if purpose != Purpose::Poll {
                    self.feed.next_cursor = page.next_cursor;
                }
                self.merge(page.items, purpose == Purpose::Poll && self.feed.loaded, cx);
                self.feed.loaded = true;
            }
            Ok(Payload::Events(page)) => {
                self.feed.succeeded(cx.now);
                if purpose == Purpose::Poll {
                    if let (Some(scan), Some(next), Query::Events { params, .. }) =
                        (self.scan.as_mut(), page.next_cursor, &reply.query)
                    {
                        scan.poll_more = Some((params.clone(), next));
                    }
                } else {
                    self.feed.next_cursor = page.next_cursor;
                }
                self.fold(
                    &page.items,
                    purpose == Purpose::Poll && self.feed.loaded,
                    cx,
                );
                self.feed.loaded = true;
            }
            Ok(Payload::Event(_)) => return false,
        }
        true
    }

    fn status(&self, cx: &Ctx<'_>) -> Status {
        if let Some(status) = error_status(&self.feed, cx.now) {
            return status;
        }
        if !self.feed.loaded {
            return Status {
                text: "loading sessions…".to_owned(),
                error: false,
            };
        }
        let mut text = if cx.filters.search.trim().is_empty() {
            format!("{} sessions", self.visible.len())
        } else {
            format!(
                "{} of {} sessions match",
                self.visible.len(),
                self.rows.len()
            )
        };
        if let Some(scan) = &self.scan {
            text.push_str(&format!(" · from {} matching requests", scan.matched));
            if scan.without_session > 0 {
                text.push_str(&format!(" ({} without a session)", scan.without_session));
            }
        }
        if self.feed.next_cursor.is_some() {
            text.push_str(if self.feed.in_flight == Some(Purpose::More) {
                " · loading more…"
            } else {
                " · more below"
            });
        }
        if let Some(t) = self.feed.last_ok {
            text.push_str(&format!(" · updated {}", clock(t)));
        }
        Status { text, error: false }
    }

    fn breadcrumb(&self) -> String {
        "Sessions".to_owned()
    }

    fn hints(&self) -> &'static str {
        " ↵ open · / search · f filter · ? help "
    }

    fn filters_changed(&mut self, cx: &Ctx<'_>) {
        if self.query.same_query(cx.filters) {
            self.refilter(cx.filters);
        } else {
            self.reset(cx.filters);
        }
    }

    fn reload(&mut self) {
        let q = self.query.clone();
        let keep = self.list.selected;
        self.reset(&q);
        self.list.selected = keep;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::Page;
    use crate::theme::Theme;

    fn row(id: &str, last: i64, blocked: u64) -> SessionRow {
        SessionRow {
            session_id: id.into(),
            project_id: "p".into(),
            first_seen: Some(last - 1000),
            last_seen: Some(last),
            requests: 3,
            blocked,
            ..SessionRow::default()
        }
    }

    fn reply(
        view: &SessionsView,
        purpose: Purpose,
        items: Vec<SessionRow>,
        next: Option<&str>,
    ) -> Reply {
        Reply {
            ticket: Ticket {
                epoch: view.feed.epoch,
                purpose,
            },
            query: Query::Event {
                event_id: String::new(),
            },
            result: Ok(Payload::Sessions(Page {
                items,
                next_cursor: next.map(str::to_owned),
            })),
        }
    }

    #[test]
    fn loads_pages_and_merges_live_refreshes() {
        let filters = Filters::default();
        let theme = Theme::mono();
        let cx = Ctx {
            theme: &theme,
            filters: &filters,
            now: 100_000,
            live: true,
            refresh_ms: 2000,
        };
        let mut v = SessionsView::new(&filters);
        let mut jobs = Vec::new();
        v.jobs(&cx, &mut jobs);
        assert!(matches!(
            &jobs[..],
            [Job {
                query: Query::Sessions { cursor: None, .. },
                ..
            }]
        ));
        // Nothing more while the first page is in flight.
        v.jobs(&cx, &mut jobs);
        assert_eq!(jobs.len(), 1);
        assert!(v.on_reply(
            reply(
                &v,
                Purpose::First,
                vec![row("a", 3000, 0), row("b", 2000, 1)],
                Some("c1")
            ),
            &cx
        ));
        v.list.height = 10;
        jobs.clear();
        v.jobs(&cx, &mut jobs);
        assert!(
            matches!(&jobs[..], [Job { query: Query::Sessions { cursor: Some(c), .. }, .. }] if c == "c1")
        );
        assert!(v.on_reply(reply(&v, Purpose::More, vec![row("c", 1000, 0)], None), &cx));
        // Select "b", then a live refresh moves "c" to the top: the selection follows "b".
        v.list.select(1);
        assert_eq!(v.selected().unwrap().session_id, "b");
        let later = Ctx { now: 103_000, ..cx };
        jobs.clear();
        v.jobs(&later, &mut jobs);
        assert!(matches!(
            &jobs[..],
            [Job {
                ticket: Ticket {
                    purpose: Purpose::Poll,
                    ..
                },
                ..
            }]
        ));
        assert!(v.on_reply(
            reply(&v, Purpose::Poll, vec![row("c", 5000, 0)], Some("ignored")),
            &later
        ));
        let ids: Vec<_> = v.rows().iter().map(|r| r.session_id.as_str()).collect();
        assert_eq!(ids, vec!["c", "a", "b"]);
        assert_eq!(v.selected().unwrap().session_id, "b");
        assert!(v.fresh.contains_key(&("p".to_owned(), "c".to_owned())));
        assert!(v.feed.next_cursor.is_none());
        // A stale answer (old epoch) is refused.
        let mut stale = reply(&v, Purpose::First, vec![row("z", 1, 0)], None);
        stale.ticket.epoch = 0;
        assert!(!v.on_reply(stale, &later));
    }

    #[test]
    fn builds_rows_from_events_with_a_detector_filter() {
        let filters = Filters {
            detector: "secrets/*".into(),
            ..Filters::default()
        };
        let theme = Theme::mono();
        let cx = Ctx {
            theme: &theme,
            filters: &filters,
            now: 0,
            live: false,
            refresh_ms: 2000,
        };
        let mut v = SessionsView::new(&filters);
        let mut jobs = Vec::new();
        v.jobs(&cx, &mut jobs);
        let Query::Events { params, .. } = &jobs[0].query else {
            panic!("{jobs:?}")
        };
        assert!(
            !params.iter().any(|(k, _)| *k == "detector_type"),
            "a family is matched locally"
        );
        let event = |id: &str, session: &str, detector: &str| EventSummary {
            event_id: id.into(),
            session_id: session.into(),
            project_id: "p".into(),
            path: "/v1/messages".into(),
            decision: "blocked".into(),
            time: Some(5),
            input_tokens: 10,
            findings: vec![crate::api::model::FindingSummary {
                detector_type: detector.into(),
                action: "block".into(),
            }],
            ..EventSummary::default()
        };
        let r = Reply {
            ticket: jobs[0].ticket,
            query: jobs[0].query.clone(),
            result: Ok(Payload::Events(Page {
                items: vec![
                    event("1", "s1", "secrets/aws_access_key"),
                    event("2", "s1", "secrets/github_token"),
                    event("2", "s1", "secrets/github_token"),
                    event("3", "s2", "pii/email"),
                    event("4", "", "secrets/x"),
                ],
                next_cursor: None,
            })),
        };
        assert!(v.on_reply(r, &cx));
        assert_eq!(v.rows().len(), 1);
        assert_eq!(v.rows()[0].requests, 2);
        assert_eq!(v.rows()[0].blocked, 2);
        assert_eq!(v.rows()[0].input_tokens, 20);
        assert!(v.status(&cx).text.contains("1 without a session"));
    }

    #[test]
    fn shortens_model_names() {
        assert_eq!(short_model("claude-sonnet-4-5-20250929"), "sonnet-4-5");
        assert_eq!(short_model("claude-opus-4-1"), "opus-4-1");
        assert_eq!(short_model("gpt-x"), "gpt-x");
    }
}
