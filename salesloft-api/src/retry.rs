//! Retry policy as data: how many attempts, how long to back off, and for which requests.

use reqwest::{Method, StatusCode};
use std::time::Duration;

/// When and how often a failed request is sent again.
///
/// Retried: connection errors, timeouts, bodies cut short, and 502/503/504 answers, for GET,
/// PUT and DELETE. POST (and PATCH) are retried only with [`RetryPolicy::retry_post`], since
/// the service may have acted on the first one. 429 and 401 have their own handling.
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

    pub fn is_retryable_status(status: StatusCode) -> bool {
        matches!(status.as_u16(), 502..=504)
    }

    /// The backoff before retry number `retry` (1 for the first retry): a random duration up to
    /// `min(max_delay, base_delay * 2^(retry-1))`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(20);
        let ceiling = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        ceiling.mul_f64(rand::random::<f64>())
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
}
