//! Selection and scrolling of a long list, independent of how it is drawn: the selected index,
//! the first row on screen, and the moves (line, page, half page, top, bottom, click). Views
//! draw only the rows in [`ListState::window`], so a list of 100,000 rows costs one screen per
//! frame.

use std::ops::Range;

/// Where a list is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListState {
    /// The selected row (0 when empty).
    pub selected: usize,
    /// The first row on screen.
    pub offset: usize,
    /// Rows in the list.
    pub len: usize,
    /// Rows on screen, as last drawn.
    pub height: usize,
}

impl ListState {
    /// Sets the length, keeping the selection inside it.
    pub fn set_len(&mut self, len: usize) {
        self.len = len;
        self.selected = self.selected.min(len.saturating_sub(1));
        self.offset = self.offset.min(self.selected);
    }

    /// Selects row `i` (clamped).
    pub fn select(&mut self, i: usize) {
        self.selected = i.min(self.len.saturating_sub(1));
    }

    /// Moves down by `n`.
    pub fn down(&mut self, n: usize) {
        self.select(self.selected.saturating_add(n));
    }

    /// Moves up by `n`.
    pub fn up(&mut self, n: usize) {
        self.selected = self.selected.saturating_sub(n);
    }

    /// One screen.
    pub fn page(&self) -> usize {
        self.height.max(1)
    }

    /// First row.
    pub fn top(&mut self) {
        self.selected = 0;
    }

    /// Last row.
    pub fn bottom(&mut self) {
        self.select(usize::MAX);
    }

    /// The rows to draw in `height` lines, scrolling so the selection is on screen.
    pub fn window(&mut self, height: usize) -> Range<usize> {
        self.height = height;
        if height == 0 || self.len == 0 {
            return 0..0;
        }
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        // No empty space below the last row when the list could fill the screen.
        self.offset = self.offset.min(self.len.saturating_sub(height));
        self.offset..(self.offset + height).min(self.len)
    }

    /// The row under screen line `line` (0 = first row drawn), if any.
    pub fn row_at(&self, line: usize) -> Option<usize> {
        let row = self.offset + line;
        (row < self.len).then_some(row)
    }

    /// Whether the selection is within `margin` rows of the end.
    pub fn near_end(&self, margin: usize) -> bool {
        self.selected + margin >= self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrolls_to_keep_the_selection_visible() {
        let mut l = ListState::default();
        l.set_len(100);
        assert_eq!(l.window(10), 0..10);
        l.down(15);
        assert_eq!(l.window(10), 6..16);
        l.up(8);
        assert_eq!(l.window(10), 6..16);
        l.up(2);
        assert_eq!(l.window(10), 5..15);
        l.bottom();
        assert_eq!(l.window(10), 90..100);
        assert_eq!(l.row_at(3), Some(93));
        assert_eq!(l.row_at(10), None);
        l.set_len(5);
        assert_eq!(l.selected, 4);
        assert_eq!(l.window(10), 0..5);
        l.set_len(0);
        assert_eq!(l.window(10), 0..0);
    }
}
