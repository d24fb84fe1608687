//! The per-endpoint circuit breaker: Closed → Open after `failures` consecutive failed calls;
//! Open rejects calls at once until `open_for` has passed; then HalfOpen lets exactly one probe
//! call through at a time (the others are rejected); the probe's success closes the breaker, its
//! failure opens it again. The state lives in a std mutex never held across an await.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use prometheus_client::metrics::gauge::Gauge;

/// The breaker's state, as exported (`glitch_sensor_classifier_breaker_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through (gauge 0).
    Closed,
    /// Calls are rejected (gauge 1).
    Open,
    /// One probe call at a time goes through (gauge 2).
    HalfOpen,
}

impl BreakerState {
    fn gauge_value(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

pub(crate) struct Breaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<State>,
    gauge: Gauge,
}

/// Permission for one call; report how it went with [`Pass::finish`]. A probe pass dropped
/// without a result (the call was cancelled) frees the probe slot for the next call.
pub(crate) struct Pass {
    breaker: Arc<Breaker>,
    probe: bool,
    finished: bool,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, open_for: Duration, gauge: Gauge) -> Self {
        gauge.set(0);
        Breaker {
            threshold: threshold.max(1),
            open_for,
            state: Mutex::new(State::Closed { failures: 0 }),
            gauge,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, state: &mut State, new: State) {
        *state = new;
        self.gauge.set(Self::public(new).gauge_value());
    }

    fn public(state: State) -> BreakerState {
        match state {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// The state now (an Open breaker whose time is up reports HalfOpen).
    pub(crate) fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            s => Self::public(s),
        }
    }

    /// A pass for one call, or `None` when the breaker rejects it.
    pub(crate) fn try_pass(self: &Arc<Self>) -> Option<Pass> {
        self.try_pass_at(Instant::now())
    }

    fn try_pass_at(self: &Arc<Self>, now: Instant) -> Option<Pass> {
        let mut state = self.lock();
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until } if now < until => return None,
            State::Open { .. } | State::HalfOpen { probing: false } => {
                self.set(&mut state, State::HalfOpen { probing: true });
                true
            }
            State::HalfOpen { probing: true } => return None,
        };
        Some(Pass {
            breaker: self.clone(),
            probe,
            finished: false,
        })
    }

    fn record(&self, probe: bool, success: bool, now: Instant) {
        let mut state = self.lock();
        match (*state, probe, success) {
            (_, true, true) => self.set(&mut state, State::Closed { failures: 0 }),
            (_, true, false) => self.set(
                &mut state,
                State::Open {
                    until: now + self.open_for,
                },
            ),
            (State::Closed { .. }, false, true) => *state = State::Closed { failures: 0 },
            (State::Closed { failures }, false, false) => {
                let failures = failures.saturating_add(1);
                if failures >= self.threshold {
                    self.set(
                        &mut state,
                        State::Open {
                            until: now + self.open_for,
                        },
                    );
                } else {
                    *state = State::Closed { failures };
                }
            }
            // A call let through before the breaker opened: its result changes nothing.
            (State::Open { .. } | State::HalfOpen { .. }, false, _) => {}
        }
    }

    fn release_probe(&self) {
        let mut state = self.lock();
        if let State::HalfOpen { probing: true } = *state {
            self.set(&mut state, State::HalfOpen { probing: false });
        }
    }
}

impl Pass {
    /// False when the breaker opened since this (non-probe) pass was given, e.g. while the call
    /// waited for a concurrency permit: the call should not be made.
    pub(crate) fn still_valid(&self) -> bool {
        self.probe || matches!(*self.breaker.lock(), State::Closed { .. })
    }

    /// Records the call's result.
    pub(crate) fn finish(mut self, success: bool) {
        self.finished = true;
        self.breaker.record(self.probe, success, Instant::now());
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        if self.probe && !self.finished {
            self.breaker.release_probe();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32, open_ms: u64) -> Arc<Breaker> {
        Arc::new(Breaker::new(
            threshold,
            Duration::from_millis(open_ms),
            Gauge::default(),
        ))
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let b = breaker(3, 1000);
        for _ in 0..2 {
            b.try_pass().unwrap().finish(false);
        }
        b.try_pass().unwrap().finish(true);
        for _ in 0..2 {
            b.try_pass().unwrap().finish(false);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.try_pass().unwrap().finish(false);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.gauge.get(), 1);
        assert!(b.try_pass().is_none());
    }

    #[test]
    fn half_open_lets_one_probe_through() {
        let b = breaker(1, 100);
        b.try_pass().unwrap().finish(false);
        let later = Instant::now() + Duration::from_millis(200);
        let probe = b.try_pass_at(later).unwrap();
        assert_eq!(b.gauge.get(), 2);
        assert!(b.try_pass_at(later).is_none(), "one probe at a time");
        // A failed probe re-opens.
        probe.finish(false);
        assert_eq!(b.gauge.get(), 1);
        assert!(b.try_pass_at(Instant::now()).is_none());
        let later = Instant::now() + Duration::from_millis(200);
        // A cancelled probe frees the slot.
        drop(b.try_pass_at(later).unwrap());
        let probe = b.try_pass_at(later).unwrap();
        probe.finish(true);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.gauge.get(), 0);
        assert!(b.try_pass().is_some());
    }

    #[test]
    fn late_results_while_open_change_nothing() {
        let b = breaker(1, 10_000);
        let early = b.try_pass().unwrap();
        assert!(early.still_valid());
        b.try_pass().unwrap().finish(false);
        assert!(!early.still_valid());
        early.finish(true);
        assert_eq!(b.state(), BreakerState::Open);
    }
}
