//! The sandbox's clock: real time plus an offset that tests move forward.
//!
//! Token expiry, rate-limit minutes, timestamps and the `Date` header all read this clock, so
//! a test can jump two hours or to the next minute without waiting.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_micros: Arc<AtomicI64>,
}

impl Clock {
    /// Now, to the microsecond: the service stores and compares timestamps at that precision.
    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now() + Duration::microseconds(self.offset_micros.load(Ordering::SeqCst));
        now.trunc_subsecs(6)
    }

    /// Moves the clock forward (a negative duration moves it back).
    pub fn advance(&self, by: Duration) {
        let micros = by.num_microseconds().unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::SeqCst);
    }

    /// Moves the clock to the start of the next calendar minute.
    pub fn advance_to_next_minute(&self) {
        let now = self.now();
        let into_minute = now.timestamp_micros().rem_euclid(60_000_000);
        self.advance(Duration::microseconds(60_000_000 - into_minute));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_and_reaches_the_next_minute() {
        let clock = Clock::default();
        let before = clock.now();
        clock.advance(Duration::hours(2));
        assert!(clock.now() - before >= Duration::hours(2));
        clock.advance_to_next_minute();
        assert!(clock.now().timestamp_micros().rem_euclid(60_000_000) < 1_000_000);
    }
}
