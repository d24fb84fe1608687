//! Per-project rate limits (requests per minute and estimated input tokens per minute) as token
//! buckets local to this sensor. The lock is held for a few arithmetic operations, never across
//! an await.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use glitch_detect::policy::RateLimits;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(capacity: f64, now: Instant) -> Self {
        Bucket {
            tokens: capacity,
            updated: now,
        }
    }

    fn refill(&mut self, capacity: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * capacity / 60.0).min(capacity);
        self.updated = now;
    }

    /// Seconds until `amount` is available (0 when it is now).
    fn wait_for(&self, amount: f64, capacity: f64) -> f64 {
        if self.tokens >= amount {
            0.0
        } else {
            (amount - self.tokens) * 60.0 / capacity
        }
    }
}

#[derive(Debug)]
struct ProjectBuckets {
    requests: Bucket,
    tokens: Bucket,
}

/// A rate-limit refusal.
#[derive(Clone, Debug, PartialEq)]
pub enum RateLimitRefusal {
    /// Too many requests or tokens this minute; retry after this many seconds.
    Exceeded {
        /// What ran out.
        what: &'static str,
        /// Seconds until it is available again.
        retry_after: u64,
    },
    /// One request is bigger than `max_input_tokens`.
    RequestTooBig {
        /// Estimated input tokens of the request.
        estimated: u64,
        /// The limit.
        limit: u64,
    },
}

/// Buckets of every project seen by this sensor.
#[derive(Debug, Default)]
pub struct RateLimiter {
    projects: Mutex<HashMap<String, ProjectBuckets>>,
}

/// Input tokens estimated from a body's size (about 4 bytes per token).
pub fn estimate_tokens(body_len: usize) -> u64 {
    (body_len as u64).div_ceil(4)
}

impl RateLimiter {
    /// Takes one request and `estimated_tokens` from the project's buckets, or says why not.
    pub fn check(
        &self,
        project_id: &str,
        limits: &RateLimits,
        estimated_tokens: u64,
    ) -> Result<(), RateLimitRefusal> {
        if !limits.enabled {
            return Ok(());
        }
        if estimated_tokens > limits.max_input_tokens {
            return Err(RateLimitRefusal::RequestTooBig {
                estimated: estimated_tokens,
                limit: limits.max_input_tokens,
            });
        }
        let now = Instant::now();
        let rpm = f64::from(limits.requests_per_minute.max(1));
        let tpm = (limits.tokens_per_minute.max(1)) as f64;
        let mut projects = self.projects.lock().unwrap_or_else(PoisonError::into_inner);
        let buckets = projects
            .entry(project_id.to_owned())
            .or_insert_with(|| ProjectBuckets {
                requests: Bucket::full(rpm, now),
                tokens: Bucket::full(tpm, now),
            });
        buckets.requests.refill(rpm, now);
        buckets.tokens.refill(tpm, now);
        // Never ask for more than the bucket holds, or a big request could never pass.
        let tokens_wanted = (estimated_tokens as f64).min(tpm);
        let wait_requests = buckets.requests.wait_for(1.0, rpm);
        if wait_requests > 0.0 {
            return Err(RateLimitRefusal::Exceeded {
                what: "requests per minute",
                retry_after: wait_requests.ceil() as u64,
            });
        }
        let wait_tokens = buckets.tokens.wait_for(tokens_wanted, tpm);
        if wait_tokens > 0.0 {
            return Err(RateLimitRefusal::Exceeded {
                what: "input tokens per minute",
                retry_after: wait_tokens.ceil() as u64,
            });
        }
        buckets.requests.tokens -= 1.0;
        buckets.tokens.tokens -= tokens_wanted;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rpm: u32, tpm: u64, max: u64) -> RateLimits {
        RateLimits {
            enabled: true,
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
            max_input_tokens: max,
        }
    }

    #[test]
    fn requests_per_minute() {
        let rl = RateLimiter::default();
        let l = limits(3, 1_000_000, 1_000_000);
        for _ in 0..3 {
            rl.check("p", &l, 10).unwrap();
        }
        match rl.check("p", &l, 10) {
            Err(RateLimitRefusal::Exceeded { what, retry_after }) => {
                assert_eq!(what, "requests per minute");
                assert!((1..=20).contains(&retry_after));
            }
            other => panic!("{other:?}"),
        }
        // Other projects have their own buckets; disabled limits never refuse.
        rl.check("q", &l, 10).unwrap();
        let off = RateLimits::default();
        for _ in 0..100 {
            rl.check("p", &off, 10).unwrap();
        }
    }

    #[test]
    fn tokens_and_request_size() {
        let rl = RateLimiter::default();
        let l = limits(1000, 100, 1000);
        rl.check("p", &l, 80).unwrap();
        assert!(matches!(
            rl.check("p", &l, 80),
            Err(RateLimitRefusal::Exceeded {
                what: "input tokens per minute",
                ..
            })
        ));
        assert_eq!(
            rl.check("p", &l, 5000),
            Err(RateLimitRefusal::RequestTooBig {
                estimated: 5000,
                limit: 1000
            })
        );
        assert_eq!(estimate_tokens(9), 3);
    }
}
