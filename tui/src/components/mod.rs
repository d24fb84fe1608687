//! The console's views as components: [`sessions`] (home), [`session`] (one session's
//! requests), [`event`] (one request, rendered by [`event_doc`]), and the overlays [`help`] and
//! [`filters`]. Every view implements [`Component`]: it handles the keys and mouse events the
//! app passes down, says which API calls it needs ([`Component::jobs`]), takes their answers,
//! and draws itself into a given area with no I/O, so a `TestBackend` can draw it.

pub mod event;
pub mod event_doc;
pub mod filters;
pub mod help;
pub mod list;
pub mod session;
pub mod sessions;
pub mod table;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use crate::api::model::{EventSummary, SessionRow};
use crate::api::{Job, Reply, Ticket};
use crate::feed::Feed;
use crate::filter::Filters;
use crate::theme::Theme;
use list::ListState;

/// What every component may look at.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    /// Styles.
    pub theme: &'a Theme,
    /// The shared filters.
    pub filters: &'a Filters,
    /// Now, in Unix milliseconds.
    pub now: i64,
    /// Live mode on.
    pub live: bool,
    /// Live refresh period.
    pub refresh_ms: i64,
}

/// What a component asks the app to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Nothing.
    None,
    /// Leave this view.
    Back,
    /// Open a session.
    OpenSession(SessionRow),
    /// Open an event.
    OpenEvent(EventSummary),
}

/// The status line's left part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// The text.
    pub text: String,
    /// Something is wrong.
    pub error: bool,
}

/// The status of a feed that failed: what, when it is tried again, the details.
pub fn error_status(feed: &Feed, now: i64) -> Option<Status> {
    let e = feed.error.as_ref()?;
    let when = match feed.retry_in(now) {
        Some(s) => format!("retrying in {s}s"),
        None => "r retries".to_owned(),
    };
    Some(Status {
        text: format!("{} — {when} · {}", e.headline(), e.detail()),
        error: true,
    })
}

/// What an empty view says while its feed is failing: the whole error, and what happens next.
pub fn error_message(feed: &Feed, now: i64) -> Option<String> {
    let e = feed.error.as_ref()?;
    let next = match feed.retry_in(now) {
        Some(s) => format!("Retrying in {s}s."),
        None => "Change the filters (f) or press r to try again.".to_owned(),
    };
    Some(format!("{e}\n\n{next}"))
}

/// A view.
pub trait Component {
    /// Handles a key the app did not take itself.
    fn handle_key(&mut self, key: KeyEvent, cx: &Ctx<'_>) -> Action;

    /// Handles a mouse event inside the view.
    fn handle_mouse(&mut self, mouse: MouseEvent, cx: &Ctx<'_>) -> Action;

    /// Draws the view into `area`.
    fn draw(&mut self, frame: &mut Frame<'_>, area: Rect, cx: &Ctx<'_>);

    /// Adds the API calls the view needs now (first page, next page, live refresh, retry).
    fn jobs(&mut self, cx: &Ctx<'_>, out: &mut Vec<Job>);

    /// Whether an answer is this view's (its epoch).
    fn owns(&self, ticket: &Ticket) -> bool;

    /// Takes an answer; returns false when it was not this view's (or is stale).
    fn on_reply(&mut self, reply: Reply, cx: &Ctx<'_>) -> bool;

    /// What the status line says about this view.
    fn status(&self, cx: &Ctx<'_>) -> Status;

    /// The view's name in the title bar.
    fn breadcrumb(&self) -> String;

    /// The main keys, for the right of the status line.
    fn hints(&self) -> &'static str;

    /// The shared filters changed.
    fn filters_changed(&mut self, cx: &Ctx<'_>);

    /// Load everything again (`r`).
    fn reload(&mut self);

    /// The view's own text search (`/` outside the home view), if it has one.
    fn find(&self) -> Option<&str> {
        None
    }

    /// Sets the view's own text search.
    fn set_find(&mut self, _text: &str) {}
}

/// The common list moves: j/k/arrows, PgUp/PgDn, Ctrl-d/u/f/b, g/G/Home/End. Returns whether
/// `key` was one of them.
pub fn list_key(key: &KeyEvent, list: &mut ListState) -> bool {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let page = list.page();
    match key.code {
        KeyCode::Down | KeyCode::Char('j') if !ctrl => list.down(1),
        KeyCode::Up | KeyCode::Char('k') if !ctrl => list.up(1),
        KeyCode::PageDown => list.down(page),
        KeyCode::PageUp => list.up(page),
        KeyCode::Char('f') if ctrl => list.down(page),
        KeyCode::Char('b') if ctrl => list.up(page),
        KeyCode::Char('d') if ctrl => list.down(page / 2 + 1),
        KeyCode::Char('u') if ctrl => list.up(page / 2 + 1),
        KeyCode::Home | KeyCode::Char('g') if !ctrl => list.top(),
        KeyCode::End | KeyCode::Char('G') if !ctrl => list.bottom(),
        _ => return false,
    }
    true
}

/// Whether `key` means "go in" (Enter, l, →).
pub fn is_enter(key: &KeyEvent) -> bool {
    matches!(
        key.code,
        KeyCode::Enter | KeyCode::Right | KeyCode::Char('l')
    ) && !key.modifiers.contains(KeyModifiers::CONTROL)
}

/// An id cut for the title bar: a UUID's first group (`6f1c2d3e`), else up to 12 characters.
pub fn short_id(id: &str) -> String {
    let head = id.split('-').next().unwrap_or(id);
    let head = if head.len() >= 6 { head } else { id };
    crate::text::fit(head, 12)
}

/// Rows the mouse wheel moves.
pub const WHEEL_ROWS: usize = 3;
