//! A scrollable styled document: what the event view shows. A [`Doc`] is built once from the
//! event (logical lines of styled segments, with anchors at findings and sections); [`Wrapped`]
//! is that document wrapped to one width, with text-search matches marked, cached until the
//! width or the search changes. Rendering draws only the rows on screen, so a long conversation
//! costs nothing per frame.

use std::ops::Range;

use ratatui::style::Style;
use ratatui::text::Line;

use crate::text::{Segments, clean, wrap};

/// What an anchor marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnchorKind {
    /// A finding (in the text, or in the findings list when its location is not in the text).
    Finding,
    /// The start of a section or a message.
    Section,
}

/// A line worth jumping to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// The logical line.
    pub line: usize,
    /// What is there.
    pub kind: AnchorKind,
}

/// One logical line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DocLine {
    /// Styled pieces (already cleaned of control characters).
    pub segs: Segments,
    /// Indent of continuation rows when wrapped.
    pub indent: usize,
}

/// A document before wrapping.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Doc {
    /// The lines.
    pub lines: Vec<DocLine>,
    /// Places to jump to, in line order.
    pub anchors: Vec<Anchor>,
}

impl Doc {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one line of segments (each cleaned; a segment must hold no newline).
    pub fn line(&mut self, segs: Vec<(String, Style)>) {
        self.line_indented(segs, 0);
    }

    /// Adds one line whose wrapped rows continue at `indent`.
    pub fn line_indented(&mut self, segs: Vec<(String, Style)>, indent: usize) {
        let segs = segs
            .into_iter()
            .map(|(s, st)| (clean(&s.replace(['\n', '\r'], " ")).into_owned(), st))
            .collect();
        self.lines.push(DocLine { segs, indent });
    }

    /// Adds an empty line.
    pub fn blank(&mut self) {
        self.lines.push(DocLine::default());
    }

    /// Marks the next line added as an anchor.
    pub fn anchor_next(&mut self, kind: AnchorKind) {
        self.anchors.push(Anchor {
            line: self.lines.len(),
            kind,
        });
    }

    /// Adds a multi-line text, each line prefixed by `prefix` spaces, with `marks` (byte ranges
    /// into `text`) drawn in their style.
    pub fn text(
        &mut self,
        text: &str,
        base: Style,
        prefix: usize,
        marks: &[(Range<usize>, Style)],
    ) {
        let pad = " ".repeat(prefix);
        let mut offset = 0;
        for raw in text.split('\n') {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let range = offset..offset + line.len();
            offset += raw.len() + 1;
            let mut segs: Segments = Vec::new();
            if prefix > 0 {
                segs.push((pad.clone(), Style::new()));
            }
            let mut at = range.start;
            let mut cuts: Vec<(Range<usize>, Style)> = marks
                .iter()
                .filter_map(|(m, st)| {
                    let s = m.start.max(range.start);
                    let e = m.end.min(range.end);
                    (s < e).then_some((s..e, *st))
                })
                .collect();
            cuts.sort_by_key(|(r, _)| r.start);
            for (r, st) in cuts {
                if r.start < at {
                    continue;
                }
                if let Some(before) = text.get(at..r.start) {
                    segs.push((before.to_owned(), base));
                }
                if let Some(m) = text.get(r.clone()) {
                    segs.push((m.to_owned(), st));
                }
                at = r.end;
            }
            if let Some(rest) = text.get(at..range.end) {
                segs.push((rest.to_owned(), base));
            }
            self.line_indented(segs, prefix);
        }
    }

    /// Wrapped to `width`, with every case-insensitive occurrence of `find` drawn in `mark`.
    pub fn wrap(&self, width: u16, find: &str, mark: Style) -> Wrapped {
        let width = usize::from(width.max(1));
        let needle = find.to_ascii_lowercase();
        let mut lines = Vec::with_capacity(self.lines.len());
        let mut starts = Vec::with_capacity(self.lines.len());
        let mut matches = Vec::new();
        for line in &self.lines {
            starts.push(lines.len());
            let segs;
            let segs_ref = if needle.is_empty() {
                &line.segs
            } else {
                let (marked, hit) = mark_matches(&line.segs, &needle, mark);
                if hit {
                    matches.push(lines.len());
                }
                segs = marked;
                &segs
            };
            lines.extend(wrap(segs_ref, width, line.indent));
        }
        Wrapped {
            width: width as u16,
            find: find.to_owned(),
            lines,
            starts,
            matches,
        }
    }
}

/// Splits segments so every occurrence of `needle` (lowercase ASCII compare) gets `mark`.
fn mark_matches(segs: &Segments, needle: &str, mark: Style) -> (Segments, bool) {
    let mut out = Vec::with_capacity(segs.len());
    let mut hit = false;
    for (text, style) in segs {
        let lower = text.to_ascii_lowercase();
        let mut at = 0;
        while let Some(pos) = lower[at..].find(needle) {
            let start = at + pos;
            let end = start + needle.len();
            if start > at {
                out.push((text[at..start].to_owned(), *style));
            }
            out.push((text[start..end].to_owned(), mark));
            hit = true;
            at = end;
        }
        if at < text.len() {
            out.push((text[at..].to_owned(), *style));
        }
    }
    (out, hit)
}

/// A document wrapped to a width.
#[derive(Clone, Debug, Default)]
pub struct Wrapped {
    /// The width it was wrapped to.
    pub width: u16,
    /// The search it marks.
    pub find: String,
    /// The rows.
    pub lines: Vec<Line<'static>>,
    /// The first row of each logical line.
    pub starts: Vec<usize>,
    /// The first row of each logical line with a search match.
    pub matches: Vec<usize>,
}

impl Wrapped {
    /// The row where logical line `line` starts.
    pub fn row_of(&self, line: usize) -> usize {
        self.starts
            .get(line)
            .copied()
            .unwrap_or(self.lines.len().saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_marks_ranges_across_lines() {
        let hl = Style::new().bold();
        let mut doc = Doc::new();
        let text = "first line\nkey AKIA******** here";
        let start = text.find("AKIA").unwrap();
        doc.text(text, Style::new(), 2, &[(start..start + 12, hl)]);
        assert_eq!(doc.lines.len(), 2);
        let second = &doc.lines[1].segs;
        assert_eq!(second[1], ("key ".to_owned(), Style::new()));
        assert_eq!(second[2], ("AKIA********".to_owned(), hl));
        assert_eq!(second[3].0, " here");
    }

    #[test]
    fn wrap_marks_search_matches() {
        let mut doc = Doc::new();
        doc.line(vec![("nothing".into(), Style::new())]);
        doc.line(vec![("the Secret word".into(), Style::new())]);
        let mark = Style::new().underlined();
        let w = doc.wrap(40, "secret", mark);
        assert_eq!(w.matches, vec![1]);
        assert_eq!(w.lines[1].spans[1].content, "Secret");
        assert_eq!(w.lines[1].spans[1].style, mark);
    }

    #[test]
    fn control_characters_never_reach_the_screen() {
        let mut doc = Doc::new();
        doc.text("a\x1b[2Jb\tc", Style::new(), 0, &[]);
        let w = doc.wrap(40, "", Style::new());
        assert_eq!(w.lines[0].to_string(), "a·[2Jb    c");
    }
}
