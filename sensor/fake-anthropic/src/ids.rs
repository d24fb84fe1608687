//! Unique ids (request, message, tool-use, batch) and RFC 3339 timestamps.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(1);

/// A per-process salt so ids differ between runs of the fake.
fn salt() -> u32 {
    static SALT: OnceLock<u32> = OnceLock::new();
    *SALT.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let mixed = nanos ^ (u128::from(std::process::id()) << 17);
        // Truncation is intended: we only want some bits of variety.
        (mixed as u32) ^ ((mixed >> 32) as u32)
    })
}

/// A new id `PREFIX_011CF<salt><counter>`, unique within the process.
fn next(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_011CF{:08x}{n:012x}", salt())
}

pub(crate) fn request_id() -> String {
    next("req")
}

pub(crate) fn message_id() -> String {
    next("msg")
}

pub(crate) fn tool_use_id() -> String {
    next("toolu")
}

pub(crate) fn batch_id() -> String {
    next("msgbatch")
}

/// `time` formatted as RFC 3339 in UTC with second precision, e.g.
/// `2025-09-29T12:34:56Z`.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// RFC 3339 for now plus `ahead`.
pub(crate) fn rfc3339_in(ahead: Duration) -> String {
    rfc3339(SystemTime::now() + ahead)
}

/// Days since 1970-01-01 to a (year, month, day) civil date (Howard Hinnant's
/// algorithm, restricted to dates after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_759_104_000 + 3_723);
        assert_eq!(rfc3339(t), "2025-09-29T01:02:03Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn ids_are_unique_and_prefixed() {
        let a = request_id();
        let b = request_id();
        assert_ne!(a, b);
        assert!(a.starts_with("req_"));
        assert!(message_id().starts_with("msg_"));
        assert!(tool_use_id().starts_with("toolu_"));
        assert!(batch_id().starts_with("msgbatch_"));
    }
}
