//! Text helpers shared by every view: making untrusted text safe to draw (control characters
//! and escape sequences never reach the terminal), display width, cutting to a width with `…`,
//! compact numbers (`12.3k`), and wrapping styled lines to a width. No widgets live here.

use std::borrow::Cow;

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Tabs become this many spaces.
const TAB: &str = "    ";

/// Text safe to put on a terminal: tabs become spaces, other control characters (escape
/// sequences included) become `·`, newlines and carriage returns too (callers split lines first).
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_cleaning) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\t' => out.push_str(TAB),
            c if needs_cleaning(c) => out.push('·'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_cleaning(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Display width in terminal cells.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

fn char_width(c: char) -> usize {
    UnicodeWidthChar::width(c).unwrap_or(0)
}

/// `s` cleaned and cut to at most `max` cells, ending in `…` when cut.
pub fn fit(s: &str, max: usize) -> String {
    let s = clean(s);
    if width(&s) <= max {
        return s.into_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = char_width(c);
        if used + w > max - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `1234` → `1.2k`, `1_250_000` → `1.3M`; below 1000 the number itself.
pub fn compact(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1000..=999_999 => trim_zero(format!("{:.1}", n as f64 / 1000.0)) + "k",
        1_000_000..=999_999_999 => trim_zero(format!("{:.1}", n as f64 / 1e6)) + "M",
        _ => trim_zero(format!("{:.1}", n as f64 / 1e9)) + "G",
    }
}

fn trim_zero(s: String) -> String {
    match s.strip_suffix(".0") {
        Some(t) => t.to_owned(),
        None => s,
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count: `512 B`, `76.1 KB`, `2.3 MB`.
pub fn bytes(n: u64) -> String {
    match n {
        0..=1023 => format!("{n} B"),
        1024..=1_048_575 => format!("{:.1} KB", n as f64 / 1024.0),
        _ => format!("{:.1} MB", n as f64 / 1_048_576.0),
    }
}

/// A latency in milliseconds: `0.4 ms`, `12 ms`, `1.23 s`.
pub fn millis(ms: f64) -> String {
    if !ms.is_finite() || ms <= 0.0 {
        "0 ms".to_owned()
    } else if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// One logical line of styled text, before wrapping.
pub type Segments = Vec<(String, Style)>;

/// Wraps one logical line (already cleaned, no newlines) to `width` cells. Breaks after the last
/// space that fits when there is one, else mid-word; continuation lines start with `indent`
/// spaces. Always returns at least one line.
pub fn wrap(segments: &[(String, Style)], width: usize, indent: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let indent = if indent * 2 >= width { 0 } else { indent };
    // Characters with their style index.
    let chars: Vec<(char, usize)> = segments
        .iter()
        .enumerate()
        .flat_map(|(i, (s, _))| s.chars().map(move |c| (c, i)))
        .collect();
    let mut lines = Vec::new();
    let mut start = 0;
    let mut first = true;
    while start < chars.len() || first {
        let avail = if first { width } else { width - indent };
        // Find how many chars fit.
        let mut used = 0;
        let mut end = start;
        let mut last_space = None;
        while end < chars.len() {
            let w = char_width(chars[end].0);
            if used + w > avail {
                break;
            }
            if chars[end].0 == ' ' {
                last_space = Some(end);
            }
            used += w;
            end += 1;
        }
        if end < chars.len() {
            if let Some(sp) = last_space.filter(|&sp| sp > start) {
                end = sp + 1;
            } else if end == start {
                // A character wider than the line: take it anyway.
                end = start + 1;
            }
        }
        let mut spans = Vec::new();
        if !first && indent > 0 {
            spans.push(Span::raw(" ".repeat(indent)));
        }
        let mut i = start;
        while i < end {
            let style_idx = chars[i].1;
            let mut text = String::new();
            while i < end && chars[i].1 == style_idx {
                text.push(chars[i].0);
                i += 1;
            }
            spans.push(Span::styled(text, segments[style_idx].1));
        }
        lines.push(Line::from(spans));
        start = end;
        first = false;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn cleans_escape_sequences() {
        assert_eq!(clean("a\x1b[31mb\tc"), "a·[31mb    c");
        assert!(matches!(clean("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn fits_with_ellipsis() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        assert_eq!(fit("日本語", 4), "日…");
    }

    #[test]
    fn numbers() {
        assert_eq!(compact(999), "999");
        assert_eq!(compact(12_345), "12.3k");
        assert_eq!(compact(2_000_000), "2M");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(bytes(78_000), "76.2 KB");
        assert_eq!(millis(1234.0), "1.23 s");
    }

    #[test]
    fn wraps_at_spaces_and_keeps_styles() {
        let bold = Style::new().bold();
        let segs = vec![
            ("hello ".to_owned(), Style::new()),
            ("brave new".to_owned(), bold),
            (" world".to_owned(), Style::new()),
        ];
        let lines = wrap(&segs, 10, 2);
        assert_eq!(
            plain(&lines),
            vec!["hello ", "  brave ", "  new ", "  world"]
        );
        assert_eq!(lines[1].spans[1].style, bold);
        assert_eq!(
            plain(&wrap(&[("abcdefghij".into(), Style::new())], 4, 0)),
            vec!["abcd", "efgh", "ij"]
        );
        assert_eq!(plain(&wrap(&[], 4, 0)), vec![""]);
    }
}
