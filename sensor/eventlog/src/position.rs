//! [`Position`]: a place in the log, and its `segment:offset` text form.

use std::fmt;
use std::str::FromStr;

use crate::EventLogError;

/// A place in the log: a segment index and a byte offset inside that segment
/// file (header included, so the first record of a segment is at offset 8).
///
/// `Position::default()` (`0:0`) means "the very beginning of the log", i.e.
/// the first record of the oldest existing segment. Positions order first by
/// segment, then by offset, which matches log order.
///
/// The text form is `segment:offset` (both decimal), e.g. `3:1048576`, and
/// round-trips through `Display` and `FromStr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// Index of the segment file (`{segment:020}.seg`).
    pub segment: u64,
    /// Byte offset inside the segment file.
    pub offset: u64,
}

impl Position {
    /// Builds a position.
    pub const fn new(segment: u64, offset: u64) -> Self {
        Self { segment, offset }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.segment, self.offset)
    }
}

impl FromStr for Position {
    type Err = EventLogError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || EventLogError::BadPosition(format!("{s:?} is not of the form segment:offset"));
        let (segment, offset) = s.split_once(':').ok_or_else(bad)?;
        let number = |part: &str| -> Result<u64, EventLogError> {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse::<u64>().map_err(|_| bad())
        };
        Ok(Self {
            segment: number(segment)?,
            offset: number(offset)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_from_str_round_trip() {
        for pos in [
            Position::default(),
            Position::new(0, 8),
            Position::new(42, 1_048_576),
            Position::new(u64::MAX, u64::MAX),
        ] {
            let text = pos.to_string();
            assert_eq!(text.parse::<Position>().unwrap(), pos);
        }
        assert_eq!(Position::new(3, 17).to_string(), "3:17");
        assert_eq!("7:8".parse::<Position>().unwrap(), Position::new(7, 8));
    }

    #[test]
    fn bad_strings_are_rejected() {
        for bad in [
            "",
            ":",
            "1",
            "1:",
            ":1",
            "a:1",
            "1:b",
            "1:2:3",
            " 1:2",
            "1:2 ",
            "+1:2",
            "-1:2",
            "1:18446744073709551616",
        ] {
            match bad.parse::<Position>() {
                Err(EventLogError::BadPosition(msg)) => assert!(!msg.is_empty()),
                other => panic!("{bad:?} parsed as {other:?}"),
            }
        }
    }

    #[test]
    fn ordering_follows_log_order() {
        assert!(Position::new(0, 100) < Position::new(1, 8));
        assert!(Position::new(1, 8) < Position::new(1, 9));
    }
}
