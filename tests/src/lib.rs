//! Helpers shared by the cross-crate tests and benchmarks.

use salesloft_api::{BoxFuture, Client, ClientBuilder, RetryPolicy};
use salesloft_mock::{Config, Sandbox, SandboxHandle};
use std::sync::Arc;
use std::time::Duration;

/// The client's clock made of the sandbox's: a wait moves the sandbox's time forward at once,
/// so minutes of rate-limit pacing take no real time and both sides agree on the minute.
#[derive(Clone, Debug)]
pub struct SandboxClock(pub salesloft_mock::Clock);

impl salesloft_api::Clock for SandboxClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.0
            .advance(chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::zero()));
        Box::pin(async {})
    }
}

/// A sandbox with `config`, and an API-key client for it on the sandbox's simulated clock.
pub async fn sandbox_and_client(config: Config, retry: RetryPolicy) -> (SandboxHandle, Client) {
    let sandbox = Sandbox::start(config).await.expect("the sandbox starts");
    let client = api_key_client(&sandbox, retry);
    (sandbox, client)
}

pub fn api_key_client(sandbox: &SandboxHandle, retry: RetryPolicy) -> Client {
    ClientBuilder::new(Arc::new(salesloft_api::ApiKey::new(sandbox.api_key())))
        .base_url(sandbox.api_base_url())
        .retry_policy(retry)
        .clock(Arc::new(SandboxClock(sandbox.clock().clone())))
        .build()
        .expect("the client builds")
}

/// Replaces the sandbox's people with `count` fresh ones, all updated at one instant.
pub fn only_people(sandbox: &SandboxHandle, count: usize) {
    sandbox.with_store(|store| store.people.rows.clear());
    sandbox.seed_people(count);
}
