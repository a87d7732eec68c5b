//! Pacing against SalesLoft's rate limit: 600 cost per team per calendar minute, read back
//! from `x-ratelimit-remaining-minute` on every response. When the budget left cannot pay for
//! the next request, wait for the next minute instead of earning a 429.

use crate::clock::Clock;
use chrono::{DateTime, Utc};
use reqwest::header::{DATE, HeaderMap, HeaderName, HeaderValue};
use std::sync::Mutex;
use std::time::Duration;

/// What a request for `page` costs (deep pages cost more).
pub fn page_cost(page: u64) -> u32 {
    match page {
        0..=100 => 1,
        101..=150 => 3,
        151..=250 => 8,
        251..=500 => 10,
        _ => 30,
    }
}

/// The cost of a request, from its `page` query parameter.
pub fn request_cost(url: &reqwest::Url) -> u32 {
    if !url.query().is_some_and(|q| q.contains("page=")) {
        return 1;
    }
    let page = url
        .query_pairs()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse::<u64>().ok());
    page_cost(page.unwrap_or(1))
}

/// `x-ratelimit-endpoint-cost`: what the request just answered cost.
pub const COST_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-endpoint-cost");
/// `x-ratelimit-remaining-minute`: what is left of the team's budget this minute.
pub const REMAINING_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-remaining-minute");

/// The rate-limit figures of one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RateLimitInfo {
    /// `x-ratelimit-endpoint-cost`
    pub cost: Option<u32>,
    /// `x-ratelimit-remaining-minute`
    pub remaining: Option<u32>,
}

impl RateLimitInfo {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let number = |value: &HeaderValue| value.to_str().ok()?.trim().parse().ok();
        // One pass over the few headers of an answer costs less than hashing both long names.
        let mut info = Self::default();
        for (name, value) in headers {
            if *name == COST_HEADER {
                info.cost = number(value);
            } else if *name == REMAINING_HEADER {
                info.remaining = number(value);
            }
        }
        info
    }
}

const MINUTE_MS: i64 = 60_000;

#[derive(Debug, Default)]
struct Budget {
    /// The service's minute (milliseconds since the epoch / 60,000) the figure belongs to.
    minute: Option<i64>,
    /// Budget left in that minute, less what requests in flight have reserved.
    remaining: Option<u32>,
    /// Service clock minus local clock, from the `Date` header, in milliseconds.
    offset_ms: i64,
    /// The last `Date` header read, and its minute: the same second needs no second parse.
    last_date: Option<(HeaderValue, i64)>,
}

impl Budget {
    fn service_now_ms(&self, clock: &dyn Clock) -> i64 {
        clock.now().timestamp_millis() + self.offset_ms
    }

    /// The service's minute when it answered: its `Date` header, else our clock corrected.
    fn minute_of(&mut self, date: Option<&HeaderValue>, clock: &dyn Clock) -> i64 {
        date.and_then(|date| self.minute_of_date(date, clock))
            .unwrap_or_else(|| self.service_now_ms(clock).div_euclid(MINUTE_MS))
    }

    /// The minute of a `Date` header (the last one's is remembered), learning the service's
    /// clock from it; `None` if it does not parse.
    fn minute_of_date(&mut self, date: &HeaderValue, clock: &dyn Clock) -> Option<i64> {
        if let Some((last, minute)) = &self.last_date
            && last == date
        {
            return Some(*minute);
        }
        let parsed = DateTime::parse_from_rfc2822(date.to_str().ok()?).ok()?;
        let service_ms = parsed.with_timezone(&Utc).timestamp_millis();
        self.offset_ms = service_ms - clock.now().timestamp_millis();
        let minute = service_ms.div_euclid(MINUTE_MS);
        self.last_date = Some((date.clone(), minute));
        Some(minute)
    }
}

/// A team's budget shared with other processes (several machines calling for one team): asked
/// before each request, after this client's own pacer, and told what each answer said of the
/// budget left. The answers' figures are the truth (the team's other integrations spend from
/// the same budget); the shared figure is corrected down by them.
pub trait SharedBudget: Send + Sync + std::fmt::Debug {
    /// Takes `cost` from the budget: `None` when taken, else how long to wait before asking
    /// again. A budget that cannot be reached lets the request go (the client's own pacing
    /// and the service's 429s still hold).
    fn take(&self, cost: u32) -> crate::token::BoxFuture<'_, Option<Duration>>;
    /// What an answer said: the budget left this minute (`x-ratelimit-remaining-minute`), or
    /// that it is spent (a 429). Called with the answer in hand, so it must not wait: record
    /// it in the background.
    fn observed(&self, remaining: Option<u32>, spent: bool);
}

/// The team's budget a minute (SERVICE.md §3).
pub const TEAM_BUDGET_PER_MINUTE: u32 = 600;

/// The budget shared by every clone of a client.
#[derive(Debug, Default)]
pub struct Pacer {
    budget: Mutex<Budget>,
    /// Cost a minute left to the team's other integrations (see [`Pacer::set_share`]).
    keep_back: std::sync::atomic::AtomicU32,
}

/// Date headers have whole seconds: waiting this much past the minute makes sure it turned.
const MINUTE_MARGIN: Duration = Duration::from_millis(1_000);

impl Pacer {
    fn budget(&self) -> std::sync::MutexGuard<'_, Budget> {
        self.budget.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Uses only `share` (0 to 1) of the team's budget a minute, leaving the rest to the
    /// team's other integrations: 0.8 stops for the minute once 120 of 600 are left.
    pub fn set_share(&self, share: f64) {
        let share = if share.is_finite() {
            share.clamp(0.0, 1.0)
        } else {
            1.0
        };
        let keep = (f64::from(TEAM_BUDGET_PER_MINUTE) * (1.0 - share)).round() as u32;
        self.keep_back.store(
            keep.min(TEAM_BUDGET_PER_MINUTE - 1),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// How long to wait before a request costing `cost` can be paid for; `None` reserves the
    /// cost and lets it go now.
    pub fn reserve(&self, cost: u32, clock: &dyn Clock) -> Option<Duration> {
        let keep_back = self.keep_back.load(std::sync::atomic::Ordering::Relaxed);
        let mut budget = self.budget();
        match budget.remaining {
            // Unknown (no answer yet this minute): go, and learn from the answer.
            None => None,
            // Enough, even if the figure is of a minute gone by (a new minute has more).
            Some(left) if left >= cost.saturating_add(keep_back) => {
                budget.remaining = Some(left - cost);
                None
            }
            Some(_) => {
                let now = budget.service_now_ms(clock);
                let minute = now.div_euclid(MINUTE_MS);
                if budget.minute.is_some_and(|m| m < minute) {
                    // The spent figure was of a minute gone by: this one starts unknown.
                    budget.minute = Some(minute);
                    budget.remaining = None;
                    return None;
                }
                let until_next = ((minute + 1) * MINUTE_MS - now).max(0) as u64;
                Some(Duration::from_millis(until_next) + MINUTE_MARGIN)
            }
        }
    }

    /// After `reserve` answered `wait`: waits, then reserves `cost` (waiting again if another
    /// request took the new minute's budget first).
    pub async fn acquire_after(&self, mut wait: Duration, cost: u32, clock: &dyn Clock) {
        loop {
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                cost,
                "rate-limit budget spent: waiting for the next minute"
            );
            clock.sleep(wait).await;
            match self.reserve(cost, clock) {
                None => return,
                Some(again) => wait = again,
            }
        }
    }

    /// Learns the budget left from a response (and the service's clock from its `Date`).
    pub fn observe(
        &self,
        headers: &HeaderMap,
        info: RateLimitInfo,
        spent: bool,
        clock: &dyn Clock,
    ) {
        let remaining = if spent { Some(0) } else { info.remaining };
        let mut budget = self.budget();
        let minute = budget.minute_of(headers.get(DATE), clock);
        let Some(remaining) = remaining else { return };
        match budget.minute {
            Some(m) if m > minute => {}
            Some(m) if m == minute => {
                budget.remaining = Some(budget.remaining.map_or(remaining, |r| r.min(remaining)))
            }
            _ => {
                budget.minute = Some(minute);
                budget.remaining = Some(remaining);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::BoxFuture;
    use std::sync::Arc;

    #[derive(Debug)]
    struct Fixed(DateTime<Utc>);

    impl Clock for Fixed {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
        fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
            Box::pin(async {})
        }
    }

    fn headers(remaining: u32) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining-minute", remaining.into());
        h.insert("x-ratelimit-endpoint-cost", 1.into());
        h
    }

    #[test]
    fn a_budget_share_stops_while_the_others_part_is_left() {
        let at = DateTime::parse_from_rfc3339("2026-01-01T12:00:10Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Arc::new(Fixed(at));
        let pacer = Pacer::default();
        pacer.set_share(0.8);
        pacer.observe(
            &headers(122),
            RateLimitInfo::from_headers(&headers(122)),
            false,
            clock.as_ref(),
        );
        assert_eq!(
            pacer.reserve(1, clock.as_ref()),
            None,
            "121 left, 120 kept back"
        );
        assert_eq!(pacer.reserve(1, clock.as_ref()), None);
        assert!(
            pacer.reserve(1, clock.as_ref()).is_some(),
            "120 left: the others' part"
        );
        pacer.set_share(f64::NAN);
        assert_eq!(
            pacer.reserve(1, clock.as_ref()),
            None,
            "a share that is not a number is 1"
        );
    }

    #[test]
    fn waits_for_the_next_minute_when_the_budget_cannot_pay() {
        let at = DateTime::parse_from_rfc3339("2026-01-01T12:00:45Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Arc::new(Fixed(at));
        let pacer = Pacer::default();
        assert_eq!(pacer.reserve(1, clock.as_ref()), None, "unknown budget: go");
        pacer.observe(
            &headers(2),
            RateLimitInfo::from_headers(&headers(2)),
            false,
            clock.as_ref(),
        );
        assert_eq!(pacer.reserve(1, clock.as_ref()), None);
        assert_eq!(pacer.reserve(1, clock.as_ref()), None);
        let wait = pacer.reserve(1, clock.as_ref()).expect("budget spent");
        assert_eq!(wait, Duration::from_secs(15) + MINUTE_MARGIN);
        assert!(
            pacer.reserve(3, clock.as_ref()).is_some(),
            "a deep page needs 3"
        );
        let later = Fixed(at + chrono::Duration::seconds(16));
        assert_eq!(
            pacer.reserve(1, &later),
            None,
            "a new minute starts unknown"
        );
    }

    #[test]
    fn the_date_header_sets_the_service_clock() {
        let local = DateTime::parse_from_rfc3339("2026-01-01T12:00:10Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Fixed(local);
        let pacer = Pacer::default();
        let mut h = headers(0);
        h.insert(DATE, "Thu, 01 Jan 2026 12:00:50 GMT".parse().unwrap());
        pacer.observe(&h, RateLimitInfo::from_headers(&h), false, &clock);
        assert_eq!(
            pacer.reserve(1, &clock),
            Some(Duration::from_secs(10) + MINUTE_MARGIN),
            "the service is 40 s ahead"
        );
    }

    #[test]
    fn costs_from_the_page_parameter() {
        let url = |q: &str| reqwest::Url::parse(&format!("http://x/v2/people.json?{q}")).unwrap();
        assert_eq!(request_cost(&url("page=1")), 1);
        assert_eq!(request_cost(&url("per_page=100&page=120")), 3);
        assert_eq!(request_cost(&url("page=600")), 30);
        assert_eq!(request_cost(&url("")), 1);
    }
}
