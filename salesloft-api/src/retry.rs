//! Retry policy as data (how many attempts, how long to back off, for which requests) and the
//! one rule that says what an attempt's outcome calls for: [`RetryPolicy::decide`], a pure
//! function that the transport only carries out.

use reqwest::{Method, StatusCode};
use std::time::Duration;

/// When and how often a failed request is sent again.
///
/// Retried: connection errors, timeouts, answers that break after their headers (a connection
/// dropped mid-body, a body cut short, a 2xx body that is not JSON), and 500/502/503/504
/// answers, for GET, PUT and DELETE. POST (and PATCH) are retried only with
/// [`RetryPolicy::retry_post`], since the service may have acted on the first one. 429 and 401
/// have their own handling; any other 4xx is the answer.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (1 = no retries).
    pub max_attempts: u32,
    /// The first backoff; each retry doubles it, up to `max_delay`, with full jitter.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Also retry POST and PATCH (only when the operation is safe to repeat).
    pub retry_post: bool,
    /// How many times a 429 is waited out and resent before the error is returned.
    pub rate_limit_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            retry_post: false,
            rate_limit_attempts: 3,
        }
    }
}

impl RetryPolicy {
    /// No retries at all (429s included): every failure reaches the caller at once.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            rate_limit_attempts: 0,
            ..Self::default()
        }
    }

    /// Whether a failed request with this method may be sent again at all.
    pub fn may_retry(&self, method: &Method) -> bool {
        let idempotent = matches!(
            *method,
            Method::GET | Method::PUT | Method::DELETE | Method::HEAD
        );
        let opted_in = self.retry_post && matches!(*method, Method::POST | Method::PATCH);
        self.max_attempts > 1 && (idempotent || opted_in)
    }

    /// The answers that are worth sending the same request again: a server error, a gateway
    /// that failed or timed out, or a service that is unavailable for a moment.
    pub fn is_retryable_status(status: StatusCode) -> bool {
        matches!(status.as_u16(), 500 | 502..=504)
    }

    /// The named exception to "a 500 is transient": SalesLoft's list pages past 500 fail with
    /// server errors every time, so a 500 there is the answer, not a moment's trouble.
    pub fn is_deterministic_server_error(status: StatusCode, page: u64) -> bool {
        status == StatusCode::INTERNAL_SERVER_ERROR && page > 500
    }

    /// The page a request's URL asks for (`page=`; page 1 without one).
    pub fn page_asked(url: &reqwest::Url) -> u64 {
        url.query_pairs()
            .find(|(name, _)| name == "page")
            .and_then(|(_, value)| value.trim().parse().ok())
            .unwrap_or(1)
    }

    /// What `outcome` calls for, given the attempts made so far. `resendable` is
    /// [`RetryPolicy::may_retry`] for the request's method.
    pub fn decide(&self, outcome: Outcome, resendable: bool, tries: &Tries) -> Action {
        let backoff_left = resendable && tries.failures + 1 < self.max_attempts;
        match outcome {
            Outcome::SendFailed { transient: true } if backoff_left => Action::Backoff,
            Outcome::SendFailed { .. } => Action::Return,
            Outcome::BrokenBody if backoff_left => Action::Backoff,
            Outcome::BrokenBody => Action::Return,
            Outcome::Answered(StatusCode::UNAUTHORIZED) if !tries.refreshed => Action::Refresh,
            Outcome::Answered(StatusCode::TOO_MANY_REQUESTS)
                if tries.rate_limited < self.rate_limit_attempts =>
            {
                Action::WaitForBudget
            }
            Outcome::Answered(status) if Self::is_retryable_status(status) && backoff_left => {
                Action::Backoff
            }
            Outcome::Answered(_) => Action::Return,
        }
    }

    /// The backoff before retry number `retry` (1 for the first retry): a random duration up to
    /// `min(max_delay, base_delay * 2^(retry-1))`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(20);
        let ceiling = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        ceiling.mul_f64(jitter())
    }
}

/// A number in [0, 1), different on every call: enough to spread retries (full jitter), not
/// for secrets. std's `RandomState` is seeded from the OS once per thread and changes with
/// every instance, so hashing nothing with a new one gives a fresh random 64-bit value; a
/// random-number crate (and its dependencies) is not worth it for this.
fn jitter() -> f64 {
    use std::hash::BuildHasher;
    let bits = std::collections::hash_map::RandomState::new().hash_one(());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// What one attempt came to, as far as retrying is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No answer. Transient: the connection failed, timed out or broke mid-body.
    SendFailed { transient: bool },
    /// An answer with this status.
    Answered(StatusCode),
    /// A 2xx answer whose whole body arrived but is not JSON (cut short, or garbage): the
    /// answer broke on the way, as a dropped connection does. JSON of the wrong shape is not
    /// this: that is the decoder's error.
    BrokenBody,
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Hand the outcome to the caller.
    Return,
    /// A 401: ask the token source for a new token and send once more.
    Refresh,
    /// A 429: wait until the budget allows, then send again.
    WaitForBudget,
    /// Back off ([`RetryPolicy::backoff`]), then send again.
    Backoff,
}

/// The attempts made so far, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tries {
    /// Attempts sent, the current one included.
    pub attempt: u32,
    /// Transient failures, broken bodies and 500/502-504 answers backed off from.
    pub failures: u32,
    /// 429s waited out.
    pub rate_limited: u32,
    /// Whether a 401 has been answered with a refresh.
    pub refreshed: bool,
}

impl Tries {
    /// Counts the action about to be carried out.
    pub fn record(&mut self, action: Action) {
        match action {
            Action::Backoff => self.failures += 1,
            Action::WaitForBudget => self.rate_limited += 1,
            Action::Refresh => self.refreshed = true,
            Action::Return => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_are_not_retried_unless_opted_in() {
        let policy = RetryPolicy::default();
        assert!(
            policy.may_retry(&Method::GET)
                && policy.may_retry(&Method::PUT)
                && policy.may_retry(&Method::DELETE)
        );
        assert!(!policy.may_retry(&Method::POST));
        assert!(
            RetryPolicy {
                retry_post: true,
                ..policy
            }
            .may_retry(&Method::POST)
        );
        let once = RetryPolicy {
            retry_post: true,
            ..RetryPolicy::none()
        };
        assert!(
            !once.may_retry(&Method::GET) && !once.may_retry(&Method::POST),
            "one attempt in all: nothing is retried"
        );
    }

    #[test]
    fn the_rule_as_a_table() {
        use Action::*;
        let policy = RetryPolicy::default(); // 4 attempts, 3 rate-limit waits
        let fresh = Tries::default();
        let spent = Tries {
            failures: 3,
            rate_limited: 3,
            refreshed: true,
            ..fresh
        };
        let ok = StatusCode::OK;
        let transient = Outcome::SendFailed { transient: true };
        let fatal = Outcome::SendFailed { transient: false };
        let answered = |code: u16| Outcome::Answered(StatusCode::from_u16(code).unwrap());
        // (outcome, resendable, tries, action)
        let table = [
            (Outcome::Answered(ok), true, fresh, Return),
            (transient, true, fresh, Backoff),
            (transient, false, fresh, Return),
            (transient, true, spent, Return),
            (fatal, true, fresh, Return),
            (answered(401), true, fresh, Refresh),
            (answered(401), false, fresh, Refresh),
            (answered(401), true, spent, Return),
            (answered(429), false, fresh, WaitForBudget),
            (answered(429), true, spent, Return),
            (answered(502), true, fresh, Backoff),
            (answered(503), true, fresh, Backoff),
            (answered(504), true, fresh, Backoff),
            (answered(503), false, fresh, Return),
            (answered(503), true, spent, Return),
            (answered(500), true, fresh, Backoff),
            (answered(500), false, fresh, Return),
            (answered(500), true, spent, Return),
            (Outcome::BrokenBody, true, fresh, Backoff),
            (Outcome::BrokenBody, false, fresh, Return),
            (Outcome::BrokenBody, true, spent, Return),
            (answered(501), true, fresh, Return),
            (answered(400), true, fresh, Return),
            (answered(404), true, fresh, Return),
            (answered(422), true, fresh, Return),
        ];
        for (outcome, resendable, tries, action) in table {
            assert_eq!(
                policy.decide(outcome, resendable, &tries),
                action,
                "{outcome:?}, resendable {resendable}, {tries:?}"
            );
        }
        let none = RetryPolicy::none();
        assert_eq!(none.decide(answered(429), true, &fresh), Return);
        assert_eq!(none.decide(transient, true, &fresh), Return);
        let mut counted = Tries::default();
        for action in [Backoff, WaitForBudget, Refresh, Backoff, Return] {
            counted.record(action);
        }
        assert_eq!(
            (counted.failures, counted.rate_limited, counted.refreshed),
            (2, 1, true)
        );
    }

    #[test]
    fn a_500_past_page_500_is_the_answer() {
        let url = |q: &str| reqwest::Url::parse(&format!("http://x/v2/people.json?{q}")).unwrap();
        let deterministic = |code: u16, q: &str| {
            let page = RetryPolicy::page_asked(&url(q));
            RetryPolicy::is_deterministic_server_error(StatusCode::from_u16(code).unwrap(), page)
        };
        assert!(deterministic(500, "page=501&per_page=100"));
        assert!(!deterministic(500, "page=500"), "page 500 is still served");
        assert!(!deterministic(500, "per_page=100"), "no page: page 1");
        assert!(
            !deterministic(503, "page=900"),
            "only a 500 is the exception"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            ..Default::default()
        };
        for _ in 0..100 {
            assert!(policy.backoff(1) <= Duration::from_millis(100));
            assert!(policy.backoff(2) <= Duration::from_millis(200));
            assert!(policy.backoff(10) <= Duration::from_millis(300));
        }
    }

    #[test]
    fn jitter_spreads_over_the_unit_interval() {
        let draws: Vec<f64> = (0..4000).map(|_| jitter()).collect();
        assert!(draws.iter().all(|x| (0.0..1.0).contains(x)));
        // Each tenth of [0, 1) gets its share (400 expected; a fixed or clustered source fails).
        for tenth in 0..10 {
            let low = tenth as f64 / 10.0;
            let n = draws
                .iter()
                .filter(|x| (low..low + 0.1).contains(*x))
                .count();
            assert!((250..=550).contains(&n), "{n} draws in [{low}, {low}+0.1)");
        }
    }
}
