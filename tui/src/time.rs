//! Time for the console: RFC 3339 parsing and formatting (UTC, milliseconds, as the audit API
//! speaks it), the short forms the tables show, "3m ago", and the time-range inputs of the
//! filter editor (`15m`, `24h`, `7d`, a date, or an RFC 3339 time). Everything is Unix
//! milliseconds in UTC; nothing here reads the local time zone.

use std::time::{SystemTime, UNIX_EPOCH};

const MS_PER_DAY: i64 = 86_400_000;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01: (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The parts of a UTC time: (year, month, day, hour, minute, second, millisecond).
fn parts(ms: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (y, mo, d) = civil_from_days(days);
    (
        y,
        mo,
        d,
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    )
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|±HH:MM]` as Unix milliseconds. Without a zone the
/// time is taken as UTC; a date alone is its midnight.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let s = text.trim();
    let date = s.get(..10)?;
    let (y, mo, d) = (
        digits(date.get(..4)?)?,
        digits(date.get(5..7)?)?,
        digits(date.get(8..10)?)?,
    );
    if date.as_bytes().get(4) != Some(&b'-') || date.as_bytes().get(7) != Some(&b'-') {
        return None;
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, mo, d) * MS_PER_DAY;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(ms);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    // Split off the zone.
    let (clock, zone) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((a, b)) => (a, b),
        None => (clock, ""),
    };
    let mut fields = hms.split(':');
    let h = digits(fields.next()?)?;
    let mi = digits(fields.next()?)?;
    let sec = match fields.next() {
        Some(f) => digits(f)?,
        None => 0,
    };
    if fields.next().is_some() || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    ms += h * 3_600_000 + mi * 60_000 + sec * 1000;
    if !frac.is_empty() {
        digits(frac)?;
        let three: String = frac.chars().chain("000".chars()).take(3).collect();
        ms += digits(&three)?;
    }
    match zone {
        "" | "Z" | "z" => {}
        z => {
            let sign = if z.starts_with('-') { 1 } else { -1 };
            let (zh, zm) = z[1..].split_once(':')?;
            ms += sign * (digits(zh)? * 3_600_000 + digits(zm)? * 60_000);
        }
    }
    Some(ms)
}

/// `2026-01-02T03:04:05.678Z`, the form the audit API accepts.
pub fn format_rfc3339(ms: i64) -> String {
    let (y, mo, d, h, mi, s, milli) = parts(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// `2026-01-02 03:04:05`.
pub fn full(ms: i64) -> String {
    let (y, mo, d, h, mi, s, _) = parts(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// `2026-01-02 03:04:05.678`.
pub fn full_ms(ms: i64) -> String {
    let (y, mo, d, h, mi, s, milli) = parts(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{milli:03}")
}

/// `01-02 03:04`.
pub fn short(ms: i64) -> String {
    let (_, mo, d, h, mi, _, _) = parts(ms);
    format!("{mo:02}-{d:02} {h:02}:{mi:02}")
}

/// `03:04:05.678`.
pub fn clock_ms(ms: i64) -> String {
    let (_, _, _, h, mi, s, milli) = parts(ms);
    format!("{h:02}:{mi:02}:{s:02}.{milli:03}")
}

/// `03:04:05`.
pub fn clock(ms: i64) -> String {
    let (_, _, _, h, mi, s, _) = parts(ms);
    format!("{h:02}:{mi:02}:{s:02}")
}

/// How long ago `ms` was, coarsely: `now`, `42s ago`, `3m ago`, `5h ago`, `2d ago`.
pub fn ago(ms: i64, now: i64) -> String {
    let secs = (now - ms).max(0) / 1000;
    match secs {
        0..=1 => "now".to_owned(),
        2..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// A duration such as `90s`, `15m`, `24h`, `7d`, `2w`, in milliseconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let s = text.trim();
    let unit = s.chars().last()?;
    let n = digits(&s[..s.len() - unit.len_utf8()])?;
    let per = match unit {
        's' => 1000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => MS_PER_DAY,
        'w' => 7 * MS_PER_DAY,
        _ => return None,
    };
    n.checked_mul(per)
}

/// A time-range bound as typed in the filter editor: a duration back from `now` (`24h`), or a
/// date or RFC 3339 time. `Err` holds a message for the editor.
pub fn parse_bound(text: &str, now: i64) -> Result<i64, String> {
    if let Some(d) = parse_duration(text) {
        return Ok(now - d);
    }
    parse_rfc3339(text).ok_or_else(|| {
        format!(
            "{:?} is not a time: use 15m, 24h, 7d, 2026-01-02 or 2026-01-02T03:04:05Z",
            text.trim()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339() {
        let ms = parse_rfc3339("2026-01-02T03:04:05.678Z").unwrap();
        assert_eq!(format_rfc3339(ms), "2026-01-02T03:04:05.678Z");
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-01-02T05:04:05+02:00"),
            parse_rfc3339("2026-01-02T03:04:05Z")
        );
        assert_eq!(
            parse_rfc3339("2026-01-02"),
            parse_rfc3339("2026-01-02T00:00:00Z")
        );
        assert_eq!(parse_rfc3339("2024-02-29 12:00"), Some(1_709_208_000_000));
        assert_eq!(parse_rfc3339("2026-13-02"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(
            parse_rfc3339("2026-01-02T03:04:05.1234567Z").map(|m| m % 1000),
            Some(123)
        );
    }

    #[test]
    fn short_forms() {
        let ms = parse_rfc3339("2026-01-02T03:04:05.678Z").unwrap();
        assert_eq!(full(ms), "2026-01-02 03:04:05");
        assert_eq!(short(ms), "01-02 03:04");
        assert_eq!(clock_ms(ms), "03:04:05.678");
        assert_eq!(ago(ms - 180_000, ms), "3m ago");
        assert_eq!(ago(ms, ms), "now");
    }

    #[test]
    fn bounds() {
        assert_eq!(parse_duration("15m"), Some(900_000));
        assert_eq!(parse_duration("2w"), Some(14 * MS_PER_DAY));
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_bound("1h", 10_000_000), Ok(6_400_000));
        assert!(parse_bound("soon", 0).unwrap_err().contains("not a time"));
    }
}
