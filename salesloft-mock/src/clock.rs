//! The sandbox's clock: real time plus an offset that tests move forward.
//!
//! Token expiry, rate-limit minutes, timestamps and the `Date` header all read this clock, so
//! a test can jump two hours or to the next minute without waiting.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A clock move that would leave the years a timestamp can show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfRange;

#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_micros: Arc<AtomicI64>,
}

impl Clock {
    /// Now, to the microsecond: the service stores and compares timestamps at that precision.
    pub fn now(&self) -> DateTime<Utc> {
        let offset = Duration::microseconds(self.offset_micros.load(Ordering::SeqCst));
        let now = Utc::now()
            .checked_add_signed(offset)
            .unwrap_or_else(Utc::now);
        now.trunc_subsecs(6)
    }

    /// Moves the clock forward (a negative duration moves it back). A move that would leave
    /// the years 1..=9999 (where timestamps can be written) is ignored; [`Clock::try_advance`]
    /// says so.
    pub fn advance(&self, by: Duration) {
        let _ = self.try_advance(by);
    }

    /// Moves the clock, or leaves it and answers `Err` when the result would leave the years
    /// 1..=9999: no admin call may leave the sandbox unable to tell the time.
    pub fn try_advance(&self, by: Duration) -> Result<(), OutOfRange> {
        let micros = by.num_microseconds().ok_or(OutOfRange)?;
        self.offset_micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |offset| {
                let moved = offset.checked_add(micros)?;
                let at = Utc::now().checked_add_signed(Duration::microseconds(moved))?;
                // A margin of a year, so that later moves and token lifetimes stay in range.
                let safe = at.checked_add_signed(Duration::days(366))?;
                let early = at.checked_sub_signed(Duration::days(366))?;
                (Self::in_range(safe) && Self::in_range(early)).then_some(moved)
            })
            .map(|_| ())
            .map_err(|_| OutOfRange)
    }

    /// Whether `at` is in the years 1..=9999.
    pub fn in_range(at: DateTime<Utc>) -> bool {
        use chrono::Datelike;
        (1..=9999).contains(&at.year())
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

    #[test]
    fn moves_out_of_range_are_refused_and_change_nothing() {
        let clock = Clock::default();
        let before = clock.now();
        assert!(
            clock
                .try_advance(Duration::seconds(9_000_000_000_000))
                .is_err()
        );
        assert!(clock.try_advance(Duration::MAX).is_err());
        assert!(clock.try_advance(Duration::MIN).is_err());
        assert!(clock.try_advance(Duration::days(365 * 8000)).is_err());
        assert!(clock.now() - before < Duration::minutes(1));
        assert!(clock.try_advance(Duration::days(365 * 100)).is_ok());
    }
}
