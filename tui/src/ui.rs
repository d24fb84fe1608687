//! Drawing the whole screen from the [`App`]: the title bar (where you are, live or paused,
//! which API), the filter line, the view on top, the status line (or the `/` search line), and
//! the overlay if one is open. Pure: it reads state and writes a frame, so tests draw it on a
//! `TestBackend`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::{App, Overlay, SearchTarget};
use crate::text::{fit, width};

/// Smallest usable terminal.
pub const MIN_WIDTH: u16 = 40;
/// Smallest usable terminal.
pub const MIN_HEIGHT: u16 = 8;

/// Draws everything.
pub fn draw(frame: &mut Frame<'_>, app: &mut App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let p = Paragraph::new(format!(
            "glitch-console needs at least {MIN_WIDTH}×{MIN_HEIGHT}; this terminal is {}×{}. q quits.",
            area.width, area.height
        ))
        .wrap(Wrap { trim: true });
        frame.render_widget(p, area);
        return;
    }
    let [title, filters, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_title(frame, title, app);
    draw_filters(frame, filters, app);
    app.with_view(|v, cx| v.draw(frame, body, cx));
    draw_status(frame, status, app);
    let theme = app.theme;
    match app.overlay.as_mut() {
        Some(Overlay::Help(help)) => help.draw(frame, body, &theme),
        Some(Overlay::Filters(form)) => form.draw(frame, body, &theme),
        None => {}
    }
}

/// Left text, right text, on one line of `width` cells (the left side is cut first).
fn spread(left: Vec<Span<'static>>, right: Vec<Span<'static>>, width: u16) -> Line<'static> {
    let total = usize::from(width);
    let right_w: usize = right.iter().map(|s| crate::text::width(&s.content)).sum();
    let right_w = right_w.min(total);
    let mut room = total - right_w;
    let mut spans = Vec::new();
    for s in left {
        if room == 0 {
            break;
        }
        let cut = fit(&s.content, room);
        room -= crate::text::width(&cut);
        spans.push(Span::styled(cut, s.style));
    }
    if room > 0 {
        spans.push(Span::raw(" ".repeat(room)));
    }
    if right_w > 0 {
        spans.extend(right);
    }
    Line::from(spans)
}

fn draw_title(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let t = app.theme;
    let crumbs = app.breadcrumbs().join(" ▸ ");
    let left = vec![Span::styled(format!(" glitch-console ▸ {crumbs}"), t.title)];
    let live = if app.live { "● live" } else { "○ paused" };
    let api = fit(&app.api_label, 40);
    // The API's address only when there is room for it next to the path.
    let full = format!(" {live} · {api} ");
    let right = if width(&left[0].content) + width(&full) <= usize::from(area.width) {
        full
    } else {
        format!(" {live} ")
    };
    let right = vec![Span::styled(right, t.title)];
    let line = spread(left, right, area.width).style(t.title);
    frame.render_widget(Paragraph::new(line).style(t.title), area);
}

fn draw_filters(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let t = app.theme;
    let mut spans = vec![Span::styled(" filters: ", t.dim)];
    for (i, (label, value)) in app.filters.summary().into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", t.dim));
        }
        if value.is_empty() {
            spans.push(Span::styled(label.to_owned(), t.filters));
        } else {
            spans.push(Span::styled(format!("{label}="), t.dim));
            spans.push(Span::styled(value, t.filters));
        }
    }
    let hint = vec![Span::styled(" f edit · c clear ", t.dim)];
    frame.render_widget(Paragraph::new(spread(spans, hint, area.width)), area);
}

fn draw_status(frame: &mut Frame<'_>, area: Rect, app: &mut App) {
    let t = app.theme;
    if let Some(line) = &app.search {
        let label = match line.target {
            SearchTarget::Sessions => "search session ids",
            SearchTarget::View if app.event.is_some() => "find in text",
            SearchTarget::View => "find requests",
        };
        let left = vec![
            Span::styled(format!(" {label}: /"), t.key),
            Span::raw(line.text.clone()),
            Span::styled("▏", t.key),
        ];
        let right = vec![Span::styled(" Enter keep · Esc cancel ", t.dim)];
        frame.render_widget(Paragraph::new(spread(left, right, area.width)), area);
        return;
    }
    let status = app.status();
    let style = if status.error { t.error } else { t.status };
    let left = vec![Span::styled(format!(" {}", status.text), style)];
    let keys = app.with_view(|v, _| v.hints());
    // An error keeps the whole line when it needs it.
    let right = if status.error && width(&status.text) + width(keys) + 1 > usize::from(area.width) {
        Vec::new()
    } else {
        vec![Span::styled(keys, t.dim)]
    };
    let line = spread(left, right, area.width);
    let line = if status.error {
        line.style(Style::new())
    } else {
        line
    };
    frame.render_widget(Paragraph::new(line), area);
}
