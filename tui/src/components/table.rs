//! Drawing one screen of a table: the columns are laid out for the width, every cell is cut to
//! its column with `…`, and only the rows passed in (the visible window) are built.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, TableState};

use crate::text::fit;
use crate::theme::Theme;

/// One column.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// Header text.
    pub title: &'static str,
    /// Width.
    pub width: Constraint,
    /// Right-aligned (numbers).
    pub right: bool,
}

impl Column {
    /// A left-aligned column of fixed width.
    pub const fn left(title: &'static str, width: u16) -> Self {
        Column {
            title,
            width: Constraint::Length(width),
            right: false,
        }
    }

    /// A right-aligned column of fixed width.
    pub const fn right(title: &'static str, width: u16) -> Self {
        Column {
            title,
            width: Constraint::Length(width),
            right: true,
        }
    }

    /// A left-aligned column taking the rest.
    pub const fn fill(title: &'static str) -> Self {
        Column {
            title,
            width: Constraint::Fill(1),
            right: false,
        }
    }
}

/// One cell: text and style.
pub type CellText = (String, Style);

/// Draws the header and `rows` (one screen) into `area`; `selected` is the index in `rows` of
/// the selected row.
pub fn draw(
    frame: &mut Frame<'_>,
    area: Rect,
    columns: &[Column],
    rows: Vec<(Vec<CellText>, Style)>,
    selected: Option<usize>,
    theme: &Theme,
) {
    let widths: Vec<u16> = Layout::horizontal(columns.iter().map(|c| c.width))
        .spacing(1)
        .split(Rect::new(0, 0, area.width, 1))
        .iter()
        .map(|r| r.width)
        .collect();
    let cell = |text: &str, style: Style, col: usize| -> Cell<'static> {
        let w = usize::from(widths.get(col).copied().unwrap_or(0));
        let line = Line::from(Span::styled(fit(text, w), style));
        let line = if columns[col].right {
            line.alignment(Alignment::Right)
        } else {
            line
        };
        Cell::from(line)
    };
    let header = Row::new(
        columns
            .iter()
            .enumerate()
            .map(|(i, c)| cell(c.title, theme.header, i)),
    );
    let body: Vec<Row<'static>> = rows
        .into_iter()
        .map(|(cells, style)| {
            Row::new(
                cells
                    .iter()
                    .enumerate()
                    .take(columns.len())
                    .map(|(i, (t, s))| cell(t, *s, i)),
            )
            .style(style)
        })
        .collect();
    let table = Table::new(body, widths.iter().map(|w| Constraint::Length(*w)))
        .header(header)
        .column_spacing(1)
        .row_highlight_style(theme.selected);
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);
}
