//! Splitting a text into the windows sent to a classifier: `window_chars` characters each (on
//! character boundaries), consecutive windows overlapping by `overlap_chars`, so an attack that
//! straddles a boundary is still seen whole by one window. Windows never span two texts.

use std::ops::Range;

/// Byte ranges of the windows of `text`. A text of at most `window_chars` characters is one
/// window; whitespace-only windows (and so empty or whitespace-only texts) are left out.
/// `overlap_chars` must be smaller than `window_chars` (validated in the config).
pub(crate) fn windows(text: &str, window_chars: usize, overlap_chars: usize) -> Vec<Range<usize>> {
    let window_chars = window_chars.max(1);
    let step = window_chars.saturating_sub(overlap_chars).max(1);
    let mut out = Vec::new();
    let mut start = 0usize;
    loop {
        let rest = &text[start..];
        let end = rest
            .char_indices()
            .nth(window_chars)
            .map_or(text.len(), |(i, _)| start + i);
        if !text[start..end].trim().is_empty() {
            out.push(start..end);
        }
        if end >= text.len() {
            break;
        }
        start += rest.char_indices().nth(step).map_or(rest.len(), |(i, _)| i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_window_and_blank_is_none() {
        assert_eq!(windows("hello", 10, 2), vec![0..5]);
        assert!(windows("", 10, 2).is_empty());
        assert!(windows("  \n\t ", 10, 2).is_empty());
        assert_eq!(windows("0123456789", 10, 2), vec![0..10]);
    }

    #[test]
    fn long_text_overlaps_and_covers_everything() {
        let text = "abcdefghijklmnopqrstuvwxyz";
        let w = windows(text, 10, 3);
        assert_eq!(w, vec![0..10, 7..17, 14..24, 21..26]);
        for pair in w.windows(2) {
            assert_eq!(pair[0].end - pair[1].start, 3);
        }
    }

    #[test]
    fn char_boundaries_are_respected() {
        let text = "é".repeat(25) + "日本語のテキスト" + &"😀".repeat(7);
        for (size, overlap) in [(4, 1), (5, 2), (7, 0), (16, 8)] {
            let w = windows(&text, size, overlap);
            let mut covered = 0;
            for r in &w {
                let piece = &text[r.clone()]; // panics if not on a char boundary
                assert!(piece.chars().count() <= size);
                assert!(r.start <= covered);
                covered = covered.max(r.end);
            }
            assert_eq!(covered, text.len());
        }
    }

    #[test]
    fn whitespace_windows_are_skipped() {
        let text = format!("abc{}xyz", " ".repeat(40));
        let w = windows(&text, 10, 0);
        assert!(w.iter().all(|r| !text[r.clone()].trim().is_empty()));
        assert_eq!(w.first(), Some(&(0..10)));
        assert_eq!(w.last().map(|r| r.end), Some(text.len()));
    }
}
