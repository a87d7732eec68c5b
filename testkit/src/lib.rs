//! The one home of test support, for every test crate of the workspace (unpublished; nothing
//! here ships in a published crate or the CLI):
//!
//! - a sandbox and an API-key client on it ([`sandbox_and_client`], [`api_key_client`],
//!   [`unmetered`]), and plain calls beside the client ([`delete`]);
//! - the simulated clock ([`SandboxClock`]): the client's waits move the sandbox's time;
//! - throwaway PostgreSQL servers and SQLite files ([`db`]), and [`on_both_backends!`];
//! - teams of the many-team sandbox connected as the connect flow would ([`connections`]);
//! - scenarios several test crates and benchmarks run: [`webhook_load`], the enroll helpers
//!   ([`already_on_cadence`], [`duplicates`]).

pub mod connections;
pub mod db;
pub mod webhook_load;

pub use db::{Postgres, TestDb, any_pool, postgres, sqlite};

use salesloft_api::{Client, ClientBuilder, RetryPolicy};
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

    fn sleep(&self, duration: Duration) -> salesloft_api::BoxFuture<'static, ()> {
        self.0
            .advance(chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::zero()));
        Box::pin(async {})
    }
}

/// The default retry policy with a 1 ms base delay: backoff takes no time in tests.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(1),
        ..RetryPolicy::default()
    }
}

/// A sandbox with `config`, and an API-key client for it on the sandbox's simulated clock.
pub async fn sandbox_and_client(config: Config, retry: RetryPolicy) -> (SandboxHandle, Client) {
    salesloft_mock::install_tls_provider();
    let sandbox = Sandbox::start(config).await.expect("the sandbox starts");
    let client = api_key_client(&sandbox, retry);
    (sandbox, client)
}

/// An API-key client for `sandbox`, on its simulated clock.
pub fn api_key_client(sandbox: &SandboxHandle, retry: RetryPolicy) -> Client {
    ClientBuilder::new(Arc::new(salesloft_api::ApiKey::new(sandbox.api_key())))
        .base_url(sandbox.api_base_url())
        .retry_policy(retry)
        .clock(Arc::new(SandboxClock(sandbox.clock().clone())))
        .build()
        .expect("the client builds")
}

/// A sandbox with a budget no test reaches, and a client on it that never retries (on the
/// real clock): for tests of what is read and written, not of pacing.
pub async fn unmetered() -> (SandboxHandle, Client) {
    salesloft_mock::install_tls_provider();
    let config = Config {
        rate_limit_per_minute: 1_000_000,
        ..Config::default()
    };
    let sandbox = Sandbox::start(config).await.expect("the sandbox starts");
    let client = ClientBuilder::new(Arc::new(salesloft_api::ApiKey::new(sandbox.api_key())))
        .base_url(sandbox.api_base_url())
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("the client builds");
    (sandbox, client)
}

/// `DELETE /v2/{path}.json` on the sandbox with its API key: the status.
pub async fn delete(sandbox: &SandboxHandle, path: &str) -> u16 {
    let url = format!("{}/v2/{path}.json", sandbox.api_base_url());
    reqwest::Client::new()
        .delete(url)
        .bearer_auth(sandbox.api_key())
        .send()
        .await
        .expect("the sandbox answers")
        .status()
        .as_u16()
}

/// Replaces the sandbox's people with `count` fresh ones, all updated at one instant.
pub fn only_people(sandbox: &SandboxHandle, count: usize) {
    sandbox.remove_people();
    sandbox
        .seed_people(count)
        .expect("the sandbox seeds people");
}

/// Puts `email` on `cadence` as someone else did before a run: a person and a membership.
pub async fn already_on_cadence(client: &Client, cadence: i64, email: &str) {
    let person = client
        .create_person()
        .body_map(|b| b.email_address(email.to_string()))
        .call()
        .await
        .expect("the sandbox creates the person");
    let id = person
        .into_inner()
        .data
        .id
        .and_then(|i| i.as_i64())
        .expect("a person has an integer id");
    client
        .create_cadence_membership()
        .person_id(id)
        .cadence_id(cadence)
        .call()
        .await
        .expect("the sandbox adds the membership");
}

/// How many records the sandbox holds twice: people sharing an email, accounts sharing a
/// domain, memberships sharing (person, cadence).
pub fn duplicates(sandbox: &SandboxHandle) -> usize {
    let mut seen = std::collections::HashSet::new();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_lowercase();
    let keys = sandbox
        .records("people")
        .iter()
        .map(|p| format!("person {}", text(&p["email_address"])))
        .chain(
            sandbox
                .records("accounts")
                .iter()
                .map(|a| format!("account {}", text(&a["domain"]))),
        )
        .chain(
            sandbox
                .records("cadence_memberships")
                .iter()
                .map(|m| format!("membership {} {}", m["person"]["id"], m["cadence"]["id"])),
        )
        .collect::<Vec<_>>();
    keys.into_iter().filter(|k| !seen.insert(k.clone())).count()
}
