//! The console's styles in one place, in two sets: colours, and `NO_COLOR` (no colour at all;
//! only bold, reverse, underline and dim, so blocked rows and findings still stand out).

use ratatui::style::{Color, Modifier, Style};

/// Every style a view uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    /// Whether colours are used at all.
    pub color: bool,
    /// The top bar.
    pub title: Style,
    /// The filter line under it.
    pub filters: Style,
    /// Table headers and section titles.
    pub header: Style,
    /// The selected row.
    pub selected: Style,
    /// A blocked request or a session with blocked requests.
    pub blocked: Style,
    /// A flagged request (a finding that did not block).
    pub flagged: Style,
    /// An allowed request.
    pub allowed: Style,
    /// auth_failed / error decisions.
    pub failed: Style,
    /// Secondary text.
    pub dim: Style,
    /// A finding's matched text in the conversation.
    pub highlight: Style,
    /// A text-search match.
    pub search_match: Style,
    /// The "finding here" marker line.
    pub finding: Style,
    /// Labels in key/value blocks.
    pub label: Style,
    /// The user's turns.
    pub user: Style,
    /// The assistant's turns.
    pub assistant: Style,
    /// tool_use / tool_result headers.
    pub tool: Style,
    /// The status line.
    pub status: Style,
    /// The status line when something is wrong.
    pub error: Style,
    /// Key names in hints and the help overlay.
    pub key: Style,
    /// Overlay borders.
    pub border: Style,
    /// JSON keys in the raw view.
    pub json_key: Style,
    /// Recently changed rows (live mode).
    pub fresh: Style,
    /// The latency bar: detection, upstream, the rest.
    pub bar: [Style; 3],
}

impl Theme {
    /// Colours unless `no_color`.
    pub fn new(no_color: bool) -> Self {
        if no_color {
            Self::mono()
        } else {
            Self::colored()
        }
    }

    /// From the environment: `NO_COLOR` set to anything non-empty turns colour off
    /// (<https://no-color.org>).
    pub fn from_env() -> Self {
        Self::new(std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()))
    }

    /// The colour set.
    pub fn colored() -> Self {
        let base = Style::new();
        Theme {
            color: true,
            title: base
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
            filters: base.fg(Color::Cyan),
            header: base.fg(Color::Yellow).add_modifier(Modifier::BOLD),
            selected: base.bg(Color::DarkGray).add_modifier(Modifier::BOLD),
            blocked: base.fg(Color::LightRed).add_modifier(Modifier::BOLD),
            flagged: base.fg(Color::Yellow),
            allowed: base.fg(Color::Green),
            failed: base.fg(Color::Magenta),
            dim: base.fg(Color::DarkGray),
            highlight: base
                .fg(Color::Black)
                .bg(Color::LightRed)
                .add_modifier(Modifier::BOLD),
            search_match: base.fg(Color::Black).bg(Color::Yellow),
            finding: base.fg(Color::LightRed).add_modifier(Modifier::BOLD),
            label: base.fg(Color::Cyan),
            user: base.fg(Color::LightBlue).add_modifier(Modifier::BOLD),
            assistant: base.fg(Color::LightGreen).add_modifier(Modifier::BOLD),
            tool: base.fg(Color::Magenta),
            status: base.fg(Color::Gray),
            error: base
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
            key: base.fg(Color::Cyan).add_modifier(Modifier::BOLD),
            border: base.fg(Color::Cyan),
            json_key: base.fg(Color::Cyan),
            fresh: base.fg(Color::LightCyan).add_modifier(Modifier::BOLD),
            bar: [
                base.fg(Color::Yellow),
                base.fg(Color::Blue),
                base.fg(Color::DarkGray),
            ],
        }
    }

    /// The `NO_COLOR` set.
    pub fn mono() -> Self {
        let base = Style::new();
        let bold = base.add_modifier(Modifier::BOLD);
        Theme {
            color: false,
            title: base.add_modifier(Modifier::REVERSED | Modifier::BOLD),
            filters: base,
            header: bold.add_modifier(Modifier::UNDERLINED),
            selected: base.add_modifier(Modifier::REVERSED),
            blocked: bold,
            flagged: base.add_modifier(Modifier::UNDERLINED),
            allowed: base,
            failed: base.add_modifier(Modifier::ITALIC),
            dim: base.add_modifier(Modifier::DIM),
            highlight: base.add_modifier(Modifier::REVERSED | Modifier::BOLD),
            search_match: base.add_modifier(Modifier::REVERSED | Modifier::UNDERLINED),
            finding: bold,
            label: bold,
            user: bold,
            assistant: bold,
            tool: base.add_modifier(Modifier::ITALIC),
            status: base,
            error: base.add_modifier(Modifier::REVERSED | Modifier::BOLD),
            key: bold,
            border: base,
            json_key: bold,
            fresh: bold,
            bar: [bold, base, base.add_modifier(Modifier::DIM)],
        }
    }

    /// The style of a decision.
    pub fn decision(&self, decision: &str, blocked: bool) -> Style {
        if blocked {
            return self.blocked;
        }
        match decision {
            "blocked" => self.blocked,
            "flagged" => self.flagged,
            "allowed" => self.allowed,
            _ => self.failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_uses_no_colour() {
        let t = Theme::mono();
        for s in [
            t.title,
            t.blocked,
            t.highlight,
            t.selected,
            t.error,
            t.bar[0],
        ] {
            assert_eq!(s.fg, None);
            assert_eq!(s.bg, None);
        }
        assert!(t.blocked.add_modifier.contains(Modifier::BOLD));
    }
}
