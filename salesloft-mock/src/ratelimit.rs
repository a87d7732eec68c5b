//! SalesLoft's rate limit: a cost budget per team per calendar minute (600 by default).

use crate::store::Store;
use chrono::{DateTime, Utc};

/// The outcome of charging one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Charge {
    /// What this request costs (`x-ratelimit-endpoint-cost`).
    pub cost: u32,
    /// Budget left in this minute after it (`x-ratelimit-remaining-minute`).
    pub remaining: u32,
    /// False when the budget could not pay: the answer is 429 and nothing is spent.
    pub allowed: bool,
}

fn minute_of(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(60)
}

/// Budget left for the store's team in the minute of `now`.
pub fn remaining(store: &mut Store, now: DateTime<Utc>) -> u32 {
    let limit = store.config.rate_limit_per_minute;
    let minute = minute_of(now);
    let budget = &mut store.budget;
    if budget.0 != minute {
        *budget = (minute, 0);
    }
    limit.saturating_sub(budget.1)
}

/// Charges `cost` to the store's team in the minute of `now` if the budget left can pay.
pub fn charge(store: &mut Store, cost: u32, now: DateTime<Utc>) -> Charge {
    let left = remaining(store, now);
    if cost > left {
        return Charge {
            cost,
            remaining: left,
            allowed: false,
        };
    }
    store.budget.1 += cost;
    Charge {
        cost,
        remaining: left - cost,
        allowed: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use chrono::{Duration, TimeZone};

    #[test]
    fn budget_per_calendar_minute() {
        let config = Config {
            rate_limit_per_minute: 10,
            ..Config::default()
        };
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 30).unwrap();
        let mut store = Store::new(config.clone(), "http://x".into());
        let mut other = Store::for_team(2, config, "http://x".into());
        assert_eq!(
            charge(&mut store, 8, start),
            Charge {
                cost: 8,
                remaining: 2,
                allowed: true
            }
        );
        assert_eq!(
            charge(&mut store, 3, start),
            Charge {
                cost: 3,
                remaining: 2,
                allowed: false
            }
        );
        assert_eq!(
            charge(&mut other, 3, start).remaining,
            7,
            "budgets are per team"
        );
        let next_minute = start + Duration::seconds(30);
        assert_eq!(
            charge(&mut store, 3, next_minute),
            Charge {
                cost: 3,
                remaining: 7,
                allowed: true
            }
        );
    }
}
