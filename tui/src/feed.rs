//! The loading state of one view's data: the epoch that names it (answers with another epoch
//! are stale), whether the first page arrived, the call in flight, the next page's cursor, the
//! last error, and when to try again after one (1 s, 2 s, 4 s … up to 30 s).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::api::{ApiError, Job, Purpose, Query, Ticket};

/// Longest wait before retrying.
pub const MAX_BACKOFF_MS: i64 = 30_000;

static EPOCHS: AtomicU64 = AtomicU64::new(1);

/// A fresh epoch, never used before in this process.
pub fn next_epoch() -> u64 {
    EPOCHS.fetch_add(1, Ordering::Relaxed)
}

/// Paging, polling and retry state.
#[derive(Clone, Debug)]
pub struct Feed {
    /// Answers for another epoch are dropped.
    pub epoch: u64,
    /// The first page has arrived.
    pub loaded: bool,
    /// The call in flight, if any.
    pub in_flight: Option<Purpose>,
    /// The cursor of the next page.
    pub next_cursor: Option<String>,
    /// The last call's error, until one succeeds.
    pub error: Option<ApiError>,
    /// Failures in a row.
    pub failures: u32,
    /// When the failed job may be tried again.
    pub retry_at: Option<i64>,
    retry: Option<Job>,
    /// When a call last succeeded.
    pub last_ok: Option<i64>,
}

impl Feed {
    /// A feed with a fresh epoch.
    pub fn new() -> Self {
        Feed {
            epoch: next_epoch(),
            loaded: false,
            in_flight: None,
            next_cursor: None,
            error: None,
            failures: 0,
            retry_at: None,
            retry: None,
            last_ok: None,
        }
    }

    /// Nothing in flight and no error outstanding (a retry pending, or one that retrying
    /// cannot fix, which waits for a reload or new filters).
    pub fn idle(&self) -> bool {
        self.in_flight.is_none() && self.error.is_none()
    }

    /// Records `query` as in flight and returns its job.
    pub fn issue(&mut self, purpose: Purpose, query: Query) -> Job {
        self.in_flight = Some(purpose);
        Job {
            ticket: Ticket {
                epoch: self.epoch,
                purpose,
            },
            query,
        }
    }

    /// The failed job again, once its wait is over.
    pub fn due_retry(&mut self, now: i64) -> Option<Job> {
        if self.in_flight.is_some() || self.retry_at.is_some_and(|t| now < t) {
            return None;
        }
        let job = self.retry.take()?;
        self.in_flight = Some(job.ticket.purpose);
        Some(job)
    }

    /// Whether an answer belongs to this feed.
    pub fn owns(&self, ticket: &Ticket) -> bool {
        ticket.epoch == self.epoch
    }

    /// A call succeeded.
    pub fn succeeded(&mut self, now: i64) {
        self.in_flight = None;
        self.error = None;
        self.failures = 0;
        self.retry = None;
        self.retry_at = None;
        self.last_ok = Some(now);
    }

    /// A call failed: keep the error and schedule a retry when one can help.
    pub fn failed(&mut self, job: Job, error: ApiError, now: i64) {
        self.in_flight = None;
        self.failures = self.failures.saturating_add(1);
        if error.retryable() {
            let wait = (1000_i64 << self.failures.saturating_sub(1).min(10)).min(MAX_BACKOFF_MS);
            self.retry_at = Some(now + wait);
            self.retry = Some(job);
        } else {
            self.retry_at = None;
            self.retry = None;
        }
        self.error = Some(error);
    }

    /// Seconds until the next retry, if one is scheduled.
    pub fn retry_in(&self, now: i64) -> Option<i64> {
        self.retry.as_ref()?;
        self.retry_at.map(|t| ((t - now).max(0) + 999) / 1000)
    }

    /// Whether a live refresh is due.
    pub fn poll_due(&self, now: i64, every_ms: i64) -> bool {
        self.loaded && self.idle() && self.last_ok.is_none_or(|t| now - t >= every_ms)
    }
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(feed: &mut Feed) -> Job {
        feed.issue(
            Purpose::First,
            Query::Event {
                event_id: "e".into(),
            },
        )
    }

    #[test]
    fn backs_off_and_retries() {
        let mut f = Feed::new();
        assert_ne!(f.epoch, Feed::new().epoch);
        let j = job(&mut f);
        assert!(!f.idle());
        let down = ApiError::Unreachable {
            url: "u".into(),
            reason: "refused".into(),
        };
        f.failed(j.clone(), down.clone(), 0);
        assert_eq!(f.retry_in(0), Some(1));
        assert!(f.due_retry(500).is_none());
        let again = f.due_retry(1000).unwrap();
        assert_eq!(again, j);
        f.failed(again, down.clone(), 1000);
        assert_eq!(f.retry_at, Some(3000));
        for _ in 0..10 {
            let j = job(&mut f);
            f.failed(j, down.clone(), 0);
        }
        assert_eq!(f.retry_at, Some(MAX_BACKOFF_MS));
        let j = f.due_retry(MAX_BACKOFF_MS).unwrap();
        f.succeeded(40_000);
        assert!(f.error.is_none() && f.idle());
        f.failed(
            j,
            ApiError::NotFound {
                message: "gone".into(),
            },
            0,
        );
        assert!(f.due_retry(i64::MAX).is_none());
        assert!(f.error.is_some());
    }
}
