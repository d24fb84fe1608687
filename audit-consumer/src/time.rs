//! Wall-clock time as the index stores it (Unix milliseconds, an `i64` in both databases) and as
//! the API shows and accepts it (RFC 3339, UTC with milliseconds on output; any offset and
//! fraction on input). No time-zone database: only fixed offsets exist in RFC 3339.

use std::time::{SystemTime, UNIX_EPOCH};

/// Latest time the index keeps: 9999-12-31T23:59:59.999Z (later values are clamped to it).
pub const MAX_MS: i64 = 253_402_300_799_999;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A protobuf timestamp as Unix milliseconds, clamped to `0..=MAX_MS`.
pub fn timestamp_ms(ts: &prost_types::Timestamp) -> i64 {
    let nanos_ms = i64::from(ts.nanos.clamp(0, 999_999_999)) / 1_000_000;
    ts.seconds
        .saturating_mul(1000)
        .saturating_add(nanos_ms)
        .clamp(0, MAX_MS)
}

/// `2026-01-02T03:04:05.678Z` for a Unix-millisecond time (clamped to `0..=MAX_MS`).
pub fn rfc3339_ms(ms: i64) -> String {
    let ms = ms.clamp(0, MAX_MS);
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Parses an RFC 3339 date-time (`2026-01-02T03:04:05Z`, `2026-01-02T03:04:05.5+02:00`, `t`/`z`
/// or a space accepted as separators) into Unix milliseconds (fractions below a millisecond are
/// dropped). `None` if it is not one.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            part.iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')),
        )
    };
    let year = num(0, 4)?;
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    let hour = num(11, 2)?;
    let minute = num(14, 2)?;
    let second = num(17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..3 {
            millis *= 10;
        }
    }
    let offset_secs = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1, 2)?;
            let om = num(i + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = oh * 3600 + om * 60;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * 1000 + millis)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 to a (year, month, day) civil date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A civil date to days since 1970-01-01 (the inverse of [`civil_from_days`]).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339_ms(1_767_323_045_678), "2026-01-02T03:04:05.678Z");
        assert_eq!(rfc3339_ms(-5), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(i64::MAX), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_rfc3339() {
        assert_eq!(
            parse_rfc3339("2026-01-02T03:04:05.678Z"),
            Some(1_767_323_045_678)
        );
        assert_eq!(
            parse_rfc3339("2026-01-02T03:04:05Z"),
            Some(1_767_323_045_000)
        );
        assert_eq!(
            parse_rfc3339("2026-01-02t03:04:05.6789123z"),
            Some(1_767_323_045_678)
        );
        assert_eq!(
            parse_rfc3339("2026-01-02T05:04:05.5+02:00"),
            Some(1_767_323_045_500)
        );
        assert_eq!(
            parse_rfc3339("2026-01-01T22:04:05-05:00"),
            Some(1_767_323_045_000)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2000-02-29 00:00:00.123Z"),
            Some(951_782_400_123)
        );
        for ms in [0, 951_782_400_123, 1_767_323_045_678, MAX_MS] {
            assert_eq!(parse_rfc3339(&rfc3339_ms(ms)), Some(ms));
        }
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for bad in [
            "",
            "yesterday",
            "2026-01-02",
            "2026-01-02T03:04:05",
            "2026-13-02T03:04:05Z",
            "2026-02-30T03:04:05Z",
            "2025-02-29T03:04:05Z",
            "2026-01-02T24:04:05Z",
            "2026-01-02T03:04:05.Z",
            "2026-01-02T03:04:05+0200",
            "2026-01-02T03:04:05Zjunk",
            "2026-01-02X03:04:05Z",
            "+026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.123+02:00x",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_clamp() {
        let ts = prost_types::Timestamp {
            seconds: 1_767_323_045,
            nanos: 678_900_000,
        };
        assert_eq!(timestamp_ms(&ts), 1_767_323_045_678);
        let huge = prost_types::Timestamp {
            seconds: i64::MAX,
            nanos: -1,
        };
        assert_eq!(timestamp_ms(&huge), MAX_MS);
        let negative = prost_types::Timestamp {
            seconds: -100,
            nanos: 0,
        };
        assert_eq!(timestamp_ms(&negative), 0);
    }
}
