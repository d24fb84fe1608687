//! The filter editor (`f`): a small form over the shared [`Filters`], checked as a whole when
//! applied (a bad decision or time is named in the form, nothing changes until it is fixed).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::filter::{DECISIONS, Filters};
use crate::text::fit;
use crate::theme::Theme;

const LABELS: [&str; 7] = [
    "Project",
    "Path",
    "Detector type",
    "Decision",
    "Since",
    "Until",
    "Blocked only",
];

const HINTS: [&str; 7] = [
    "exact project id; empty: every project",
    "exact path; empty: every path",
    "pii/email, or a family: secrets/*",
    "← → to choose; empty: any",
    "15m, 24h, 7d, 2026-01-02 or 2026-01-02T03:04:05Z",
    "same forms; empty: now",
    "Space to toggle",
];

const DECISION_FIELD: usize = 3;
const BLOCKED_FIELD: usize = 6;

/// What the editor wants after a key.
#[derive(Clone, Debug, PartialEq)]
pub enum FormResult {
    /// Keep editing.
    Continue,
    /// Close without changes.
    Cancel,
    /// Close and use these filters.
    Apply(Filters),
}

/// The editor's state.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterForm {
    base: Filters,
    fields: [String; 6],
    blocked: bool,
    focus: usize,
    error: Option<String>,
}

impl FilterForm {
    /// An editor starting from `filters`.
    pub fn new(filters: &Filters) -> Self {
        FilterForm {
            base: filters.clone(),
            fields: [
                filters.project.clone(),
                filters.path.clone(),
                filters.detector.clone(),
                filters.decision.clone(),
                filters.since.clone(),
                filters.until.clone(),
            ],
            blocked: filters.blocked_only,
            focus: 0,
            error: None,
        }
    }

    fn filters(&self) -> Filters {
        let f = |i: usize| self.fields[i].trim().to_owned();
        Filters {
            project: f(0),
            path: f(1),
            detector: f(2),
            decision: f(3),
            since: f(4),
            until: f(5),
            blocked_only: self.blocked,
            search: self.base.search.clone(),
        }
    }

    fn cycle_decision(&mut self, forward: bool) {
        let current = self.fields[DECISION_FIELD].trim();
        let choices: Vec<&str> = std::iter::once("").chain(DECISIONS).collect();
        let at = choices.iter().position(|c| *c == current).unwrap_or(0);
        let n = choices.len();
        let next = if forward {
            (at + 1) % n
        } else {
            (at + n - 1) % n
        };
        self.fields[DECISION_FIELD] = choices[next].to_owned();
    }

    /// Handles a key.
    pub fn handle_key(&mut self, key: KeyEvent, now: i64) -> FormResult {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return FormResult::Cancel,
            KeyCode::Enter => {
                let filters = self.filters();
                match filters.validate(now) {
                    Ok(()) => return FormResult::Apply(filters),
                    Err(e) => self.error = Some(e),
                }
            }
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % LABELS.len(),
            KeyCode::BackTab | KeyCode::Up => {
                self.focus = (self.focus + LABELS.len() - 1) % LABELS.len();
            }
            KeyCode::Char('u') if ctrl => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.clear();
                }
            }
            KeyCode::Char(' ') if self.focus == BLOCKED_FIELD => self.blocked = !self.blocked,
            KeyCode::Left | KeyCode::Right if self.focus == DECISION_FIELD => {
                self.cycle_decision(key.code == KeyCode::Right);
            }
            KeyCode::Backspace => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.pop();
                }
            }
            KeyCode::Char(c) if !ctrl => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.push(c);
                    self.error = None;
                }
            }
            _ => {}
        }
        FormResult::Continue
    }

    /// Draws the editor centred in `area`.
    pub fn draw(&self, frame: &mut Frame<'_>, area: Rect, theme: &Theme) {
        let width = area.width.saturating_sub(2).min(78);
        let height = area.height.min(11);
        if width < 30 || height < 5 {
            return;
        }
        let popup = Rect {
            x: area.x + (area.width - width) / 2,
            y: area.y + (area.height - height) / 2,
            width,
            height,
        };
        let inner_w = usize::from(width - 2);
        let value_w = inner_w.saturating_sub(16).min(30);
        let mut lines = Vec::new();
        for (i, label) in LABELS.iter().enumerate() {
            let focused = i == self.focus;
            let value = if i == BLOCKED_FIELD {
                (if self.blocked { "[x]" } else { "[ ]" }).to_owned()
            } else {
                let v = &self.fields[i];
                let shown = if focused {
                    format!("{v}▏")
                } else {
                    v.clone()
                };
                format!("{:<value_w$}", fit(&shown, value_w))
            };
            let value_style = if focused {
                theme.selected
            } else {
                Style::new()
            };
            let marker = if focused { "▶ " } else { "  " };
            let spans = vec![
                Span::styled(marker, theme.key),
                Span::styled(format!("{label:<14}"), theme.label),
                Span::styled(value, value_style),
            ];
            lines.push(Line::from(spans));
        }
        lines.push(Line::from(Span::styled(
            fit(
                &format!("  {}: {}", LABELS[self.focus], HINTS[self.focus]),
                inner_w,
            ),
            theme.dim,
        )));
        match &self.error {
            Some(e) => lines.push(Line::from(Span::styled(fit(e, inner_w), theme.error))),
            None => lines.push(Line::from(Span::styled(
                fit(
                    "Enter apply · Esc cancel · Tab/↑↓ move · Ctrl-u clear field",
                    inner_w,
                ),
                theme.dim,
            ))),
        }
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border)
            .title(Span::styled(" Filters ", theme.header));
        frame.render_widget(Clear, popup);
        frame.render_widget(Paragraph::new(lines).block(block), popup);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn edits_validates_and_applies() {
        let mut form = FilterForm::new(&Filters::default());
        for c in "proj_a".chars() {
            form.handle_key(key(KeyCode::Char(c)), 0);
        }
        form.handle_key(key(KeyCode::Tab), 0);
        form.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL), 0);
        for _ in 0..2 {
            form.handle_key(key(KeyCode::Down), 0);
        }
        form.handle_key(key(KeyCode::Right), 0);
        form.handle_key(key(KeyCode::Right), 0);
        form.handle_key(key(KeyCode::Down), 0);
        for c in "soon".chars() {
            form.handle_key(key(KeyCode::Char(c)), 0);
        }
        assert_eq!(
            form.handle_key(key(KeyCode::Enter), 0),
            FormResult::Continue
        );
        assert!(
            form.error
                .as_deref()
                .unwrap_or_default()
                .contains("not a time")
        );
        for _ in 0..4 {
            form.handle_key(key(KeyCode::Backspace), 0);
        }
        for c in "24h".chars() {
            form.handle_key(key(KeyCode::Char(c)), 0);
        }
        form.handle_key(key(KeyCode::Down), 0);
        form.handle_key(key(KeyCode::Down), 0);
        form.handle_key(key(KeyCode::Char(' ')), 0);
        let FormResult::Apply(f) = form.handle_key(key(KeyCode::Enter), 0) else {
            panic!("not applied: {form:?}");
        };
        assert_eq!(f.project, "proj_a");
        assert_eq!(f.path, "");
        assert_eq!(f.decision, "blocked");
        assert_eq!(f.since, "24h");
        assert!(f.blocked_only);
        assert_eq!(form.handle_key(key(KeyCode::Esc), 0), FormResult::Cancel);
    }
}
