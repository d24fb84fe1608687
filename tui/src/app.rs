//! The console's state: the view stack (sessions → session → event), the shared filters, live
//! mode, the overlays (help, filter editor), the `/` search line, and the jobs waiting for the
//! loader. Keys go to the search line or overlay first, then to the app's global keys, then to
//! the view on top. Nothing here does I/O or draws; `ui` draws it and `lib::run` feeds it
//! terminal events, ticks and loader replies.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent};

use crate::api::Job;
use crate::api::Reply;
use crate::components::event::EventView;
use crate::components::filters::{FilterForm, FormResult};
use crate::components::help::Help;
use crate::components::session::SessionView;
use crate::components::sessions::SessionsView;
use crate::components::{Action, Component, Ctx, Status};
use crate::event::AppEvent;
use crate::filter::Filters;
use crate::theme::Theme;

/// How long a notice stays in the status line.
const NOTICE_MS: i64 = 3000;

/// What the app starts with.
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// The API as shown in the title bar.
    pub api_label: String,
    /// Starting filters.
    pub filters: Filters,
    /// Live mode at start.
    pub live: bool,
    /// Live refresh period.
    pub refresh_ms: i64,
    /// Styles.
    pub theme: Theme,
}

/// An open overlay.
#[derive(Clone, Debug, PartialEq)]
pub enum Overlay {
    /// The key list.
    Help(Help),
    /// The filter editor.
    Filters(Box<FilterForm>),
}

/// What the search line edits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchTarget {
    /// The session-id search of the home view (one of the shared filters).
    Sessions,
    /// The view's own search.
    View,
}

/// The `/` line being typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchLine {
    /// What it edits.
    pub target: SearchTarget,
    /// The text so far.
    pub text: String,
    /// The text before, restored by Esc.
    pub before: String,
}

/// The whole state.
#[derive(Debug)]
pub struct App {
    /// Styles.
    pub theme: Theme,
    /// The shared filters.
    pub filters: Filters,
    /// Live mode.
    pub live: bool,
    /// Live refresh period.
    pub refresh_ms: i64,
    /// The API as shown in the title bar.
    pub api_label: String,
    /// Now, in Unix milliseconds (set by ticks).
    pub now: i64,
    /// The home view.
    pub sessions: SessionsView,
    /// The open session, if any.
    pub session: Option<SessionView>,
    /// The open event, if any.
    pub event: Option<EventView>,
    /// The open overlay, if any.
    pub overlay: Option<Overlay>,
    /// The search line, while typing.
    pub search: Option<SearchLine>,
    /// Set when the user asked to quit.
    pub should_quit: bool,
    /// Jobs not yet handed to the loader.
    pub outbox: Vec<Job>,
    notice: Option<(String, i64)>,
}

impl App {
    /// A fresh app at `now`.
    pub fn new(config: AppConfig, now: i64) -> Self {
        App {
            sessions: SessionsView::new(&config.filters),
            theme: config.theme,
            filters: config.filters,
            live: config.live,
            refresh_ms: config.refresh_ms,
            api_label: config.api_label,
            now,
            session: None,
            event: None,
            overlay: None,
            search: None,
            should_quit: false,
            outbox: Vec::new(),
            notice: None,
        }
    }

    /// Runs `f` on the view on top, with the context.
    pub fn with_view<R>(&mut self, f: impl FnOnce(&mut dyn Component, &Ctx<'_>) -> R) -> R {
        let cx = Ctx {
            theme: &self.theme,
            filters: &self.filters,
            now: self.now,
            live: self.live,
            refresh_ms: self.refresh_ms,
        };
        let view: &mut dyn Component = if let Some(e) = self.event.as_mut() {
            e
        } else if let Some(s) = self.session.as_mut() {
            s
        } else {
            &mut self.sessions
        };
        f(view, &cx)
    }

    /// The title bar's path: `Sessions ▸ Session … ▸ Event …`.
    pub fn breadcrumbs(&self) -> Vec<String> {
        let mut out = vec![self.sessions.breadcrumb()];
        if let Some(s) = &self.session {
            out.push(s.breadcrumb());
        }
        if let Some(e) = &self.event {
            out.push(e.breadcrumb());
        }
        out
    }

    /// Whether the home view is on top.
    pub fn at_home(&self) -> bool {
        self.session.is_none() && self.event.is_none()
    }

    /// The status line's text.
    pub fn status(&mut self) -> Status {
        if let Some((text, at)) = &self.notice
            && self.now - at < NOTICE_MS
        {
            return Status {
                text: text.clone(),
                error: false,
            };
        }
        self.with_view(|v, cx| v.status(cx))
    }

    fn notify(&mut self, text: impl Into<String>) {
        self.notice = Some((text.into(), self.now));
    }

    /// Handles one terminal event or tick.
    pub fn handle_event(&mut self, event: AppEvent) {
        match event {
            AppEvent::Key(key) => self.handle_key(key),
            AppEvent::Mouse(mouse) => self.handle_mouse(mouse),
            AppEvent::Tick(now) => self.now = now,
            AppEvent::Resize => {}
            AppEvent::Closed => self.should_quit = true,
        }
        self.collect_jobs();
    }

    /// Asks the view on top which calls it needs, into the outbox.
    pub fn collect_jobs(&mut self) {
        let mut jobs = Vec::new();
        self.with_view(|v, cx| v.jobs(cx, &mut jobs));
        self.outbox.extend(jobs);
    }

    /// Hands a loader reply to the view it belongs to (stale ones are dropped).
    pub fn on_reply(&mut self, reply: Reply) {
        let cx = Ctx {
            theme: &self.theme,
            filters: &self.filters,
            now: self.now,
            live: self.live,
            refresh_ms: self.refresh_ms,
        };
        let views: [Option<&mut dyn Component>; 3] = [
            self.event.as_mut().map(|e| e as &mut dyn Component),
            self.session.as_mut().map(|s| s as &mut dyn Component),
            Some(&mut self.sessions),
        ];
        // Each view's epoch is unique: a reply belongs to at most one; stale ones to none.
        if let Some(view) = views.into_iter().flatten().find(|v| v.owns(&reply.ticket)) {
            view.on_reply(reply, &cx);
        }
        self.collect_jobs();
    }

    fn set_filters(&mut self, filters: Filters) {
        self.filters = filters;
        let cx = Ctx {
            theme: &self.theme,
            filters: &self.filters,
            now: self.now,
            live: self.live,
            refresh_ms: self.refresh_ms,
        };
        self.sessions.filters_changed(&cx);
        if let Some(s) = self.session.as_mut() {
            s.filters_changed(&cx);
        }
        if let Some(e) = self.event.as_mut() {
            e.filters_changed(&cx);
        }
    }

    fn handle_search_key(&mut self, key: KeyEvent) {
        let Some(line) = self.search.as_mut() else {
            return;
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let mut done = false;
        match key.code {
            KeyCode::Enter => done = true,
            KeyCode::Esc => {
                line.text = line.before.clone();
                done = true;
            }
            KeyCode::Backspace => {
                line.text.pop();
            }
            KeyCode::Char('u') if ctrl => line.text.clear(),
            KeyCode::Char(c) if !ctrl => line.text.push(c),
            _ => return,
        }
        let (target, text) = (line.target, line.text.clone());
        if done {
            self.search = None;
        }
        match target {
            SearchTarget::Sessions => {
                let filters = Filters {
                    search: text,
                    ..self.filters.clone()
                };
                self.set_filters(filters);
            }
            SearchTarget::View => {
                self.with_view(|v, cx| {
                    v.set_find(&text);
                    v.filters_changed(cx);
                });
            }
        }
    }

    fn start_search(&mut self) {
        let (target, before) = if self.at_home() {
            (SearchTarget::Sessions, self.filters.search.clone())
        } else {
            let before = self.with_view(|v, _| v.find().unwrap_or_default().to_owned());
            (SearchTarget::View, before)
        };
        self.search = Some(SearchLine {
            target,
            text: before.clone(),
            before,
        });
    }

    /// Handles a key.
    pub fn handle_key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c')) {
            self.should_quit = true;
            return;
        }
        if self.search.is_some() {
            self.handle_search_key(key);
            return;
        }
        match self.overlay.as_mut() {
            Some(Overlay::Help(help)) => {
                if !help.handle_key(key) {
                    self.overlay = None;
                }
                return;
            }
            Some(Overlay::Filters(form)) => {
                match form.handle_key(key, self.now) {
                    FormResult::Continue => {}
                    FormResult::Cancel => self.overlay = None,
                    FormResult::Apply(filters) => {
                        self.overlay = None;
                        self.set_filters(filters);
                        self.notify("filters applied");
                    }
                }
                return;
            }
            None => {}
        }
        if !ctrl {
            match key.code {
                KeyCode::Char('q') => {
                    self.should_quit = true;
                    return;
                }
                KeyCode::Char('?') => {
                    self.overlay = Some(Overlay::Help(Help::default()));
                    return;
                }
                KeyCode::Char('/') => {
                    self.start_search();
                    return;
                }
                KeyCode::Char('f') => {
                    self.overlay = Some(Overlay::Filters(Box::new(FilterForm::new(&self.filters))));
                    return;
                }
                KeyCode::Char('b') => {
                    let filters = Filters {
                        blocked_only: !self.filters.blocked_only,
                        ..self.filters.clone()
                    };
                    let on = filters.blocked_only;
                    self.set_filters(filters);
                    self.notify(if on { "blocked only" } else { "all requests" });
                    return;
                }
                KeyCode::Char('c') => {
                    self.set_filters(Filters::default());
                    self.with_view(|v, cx| {
                        v.set_find("");
                        v.filters_changed(cx);
                    });
                    self.notify("filters cleared (path back to /v1/messages)");
                    return;
                }
                KeyCode::Char('a') => {
                    self.live = !self.live;
                    self.notify(if self.live {
                        "live mode on: new sessions and requests appear as they arrive"
                    } else {
                        "live mode off: r reloads"
                    });
                    return;
                }
                KeyCode::Char('r') => {
                    self.with_view(|v, _| v.reload());
                    self.notify("reloading");
                    return;
                }
                KeyCode::Esc if self.at_home() && !self.filters.search.is_empty() => {
                    let filters = Filters {
                        search: String::new(),
                        ..self.filters.clone()
                    };
                    self.set_filters(filters);
                    return;
                }
                _ => {}
            }
        }
        let action = self.with_view(|v, cx| v.handle_key(key, cx));
        self.apply(action);
    }

    /// Handles a mouse event.
    pub fn handle_mouse(&mut self, mouse: MouseEvent) {
        if self.overlay.is_some() || self.search.is_some() {
            return;
        }
        let action = self.with_view(|v, cx| v.handle_mouse(mouse, cx));
        self.apply(action);
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::None => {}
            Action::Back => {
                if self.event.take().is_none() {
                    self.session = None;
                }
            }
            Action::OpenSession(row) => {
                self.session = Some(SessionView::new(row));
                self.event = None;
            }
            Action::OpenEvent(summary) => self.event = Some(EventView::new(summary)),
        }
    }
}
