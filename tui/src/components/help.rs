//! The `?` overlay: every key, grouped by where it works. The same table is the reference in
//! the crate README. Scrolls with j/k when the terminal is too short to show it whole.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::theme::Theme;

/// `(section, [(keys, what they do)])`.
pub const KEYS: &[(&str, &[(&str, &str)])] = &[
    (
        "Everywhere",
        &[
            ("?", "this help"),
            ("q  Ctrl-c", "quit"),
            ("Enter  l  →", "open the selected session / request"),
            (
                "Esc  h  ←  Backspace",
                "back; at home Esc clears the search",
            ),
            ("j k  ↓ ↑", "move the selection / scroll"),
            ("PgDn PgUp  Ctrl-f Ctrl-b", "one page down / up"),
            ("Ctrl-d Ctrl-u", "half a page down / up"),
            ("g G  Home End", "top / bottom"),
            ("mouse wheel", "scroll; click selects, click again opens"),
            ("/", "search session ids / requests / request text"),
            ("f", "edit the filters"),
            ("b", "blocked only, on / off"),
            ("c", "clear the filters and the search"),
            ("a", "live mode on / off: new data shows by itself"),
            ("r", "reload now"),
        ],
    ),
    (
        "Sessions and session views",
        &[("] [", "next / previous with blocked requests")],
    ),
    (
        "Request view",
        &[
            ("] [", "next / previous finding"),
            ("} {", "next / previous section or message"),
            ("n N", "next / previous search match"),
            ("t", "show / hide the tool definitions"),
            ("J", "raw JSON / rendered"),
            ("Space", "one page down"),
        ],
    ),
    (
        "Filter editor (f)",
        &[
            ("Tab ↓  Shift-Tab ↑", "next / previous field"),
            ("← →", "choose the decision"),
            ("Space", "toggle blocked only"),
            ("Ctrl-u", "clear the field"),
            ("Enter", "apply"),
            ("Esc", "cancel"),
        ],
    ),
    (
        "Search line (/)",
        &[("Enter", "keep the search"), ("Esc", "cancel it")],
    ),
];

/// The overlay's scroll position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Help {
    scroll: usize,
    height: usize,
    total: usize,
}

impl Help {
    /// Handles a key; returns false when the overlay should close.
    pub fn handle_key(&mut self, key: KeyEvent) -> bool {
        let max = self.total.saturating_sub(self.height);
        match key.code {
            KeyCode::Down | KeyCode::Char('j') if self.scroll < max => self.scroll += 1,
            KeyCode::Up | KeyCode::Char('k') if self.scroll > 0 => self.scroll -= 1,
            KeyCode::PageDown | KeyCode::Char(' ') if max > 0 => {
                self.scroll = (self.scroll + self.height.max(1)).min(max);
            }
            KeyCode::PageUp if self.scroll > 0 => {
                self.scroll = self.scroll.saturating_sub(self.height.max(1));
            }
            _ => return false,
        }
        true
    }

    /// Draws the overlay centred in `area`.
    pub fn draw(&mut self, frame: &mut Frame<'_>, area: Rect, theme: &Theme) {
        let key_width = KEYS
            .iter()
            .flat_map(|(_, k)| k.iter())
            .map(|(k, _)| crate::text::width(k))
            .max()
            .unwrap_or(10);
        let mut lines = Vec::new();
        for (i, (section, keys)) in KEYS.iter().enumerate() {
            if i > 0 {
                lines.push(Line::raw(""));
            }
            lines.push(Line::from(Span::styled(*section, theme.header)));
            for (k, what) in keys.iter() {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {k:<key_width$}  "), theme.key),
                    Span::raw(*what),
                ]));
            }
        }
        let width = area.width.saturating_sub(2).min(84);
        let height = area.height.saturating_sub(2).min(lines.len() as u16 + 2);
        if width < 10 || height < 3 {
            return;
        }
        let popup = Rect {
            x: area.x + (area.width - width) / 2,
            y: area.y + (area.height - height) / 2,
            width,
            height,
        };
        self.height = usize::from(height - 2);
        self.total = lines.len();
        self.scroll = self.scroll.min(self.total.saturating_sub(self.height));
        let more = if self.total > self.height {
            " · j/k scroll"
        } else {
            ""
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border)
            .title(Span::styled(" Keys ", theme.header))
            .title_bottom(Span::styled(
                format!(" any other key closes{more} "),
                theme.dim,
            ));
        frame.render_widget(Clear, popup);
        frame.render_widget(
            Paragraph::new(lines)
                .block(block)
                .scroll((self.scroll as u16, 0)),
            popup,
        );
    }
}
