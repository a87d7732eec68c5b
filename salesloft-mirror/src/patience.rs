//! How long a run waits out a service that keeps failing before it gives up on a resource.
//!
//! The client retries each request a few times within a second or so: enough for a blip, not
//! for an outage of a minute. A mirror run has time: a page that still fails with an error
//! worth trying again is asked again after a pause (growing, capped), until the patience is
//! spent. Then the resource is reported as failed and the run goes on.

use salesloft_api::{ApiError, RetryPolicy};
use std::future::Future;
use std::time::{Duration, Instant};

/// The longest pause between two rounds of the client's retries.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// How long a read keeps asking for one page before giving up (zero: never ask again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patience(pub Duration);

impl Default for Patience {
    fn default() -> Self {
        Self(Duration::from_secs(120))
    }
}

impl Patience {
    /// The pause after `round` failed rounds (1, 2, 4, ... seconds, at most [`MAX_PAUSE`]).
    fn pause(round: u32) -> Duration {
        Duration::from_secs(1 << round.min(8)).min(MAX_PAUSE)
    }

    /// Runs `ask` until it succeeds, fails with an error not worth trying again, or the
    /// patience is spent (the last error is then the answer). `page` is the page number asked,
    /// for the client's named exception: a 500 past page 500 is the service's answer.
    pub(crate) async fn wait_out<T, F, Fut>(&self, page: u64, mut ask: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let started = Instant::now();
        let mut round = 0;
        loop {
            let error = match ask().await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            let deterministic = error
                .status()
                .is_some_and(|status| RetryPolicy::is_deterministic_server_error(status, page));
            let pause = Self::pause(round);
            if !error.is_retryable() || deterministic || started.elapsed() + pause > self.0 {
                return Err(error);
            }
            tracing::warn!(
                pause_s = pause.as_secs(),
                error = %salesloft_api::text::printable(&error.to_string()),
                "the service keeps failing: asking again after a pause"
            );
            tokio::time::sleep(pause).await;
            round += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_and_are_capped() {
        let pauses: Vec<u64> = (0..6).map(|r| Patience::pause(r).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 5, 5, 5]);
        assert_eq!(Patience::pause(u32::MAX), MAX_PAUSE);
    }
}
