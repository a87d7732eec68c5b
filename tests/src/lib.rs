//! Helpers shared by the cross-crate tests and benchmarks.

pub mod webhook_load;

use salesloft_api::{Client, ClientBuilder, RetryPolicy};
use salesloft_mock::{Config, Sandbox, SandboxHandle};
use std::sync::Arc;
use std::time::Duration;

pub use demo::sandbox::{
    SandboxClock, app as sandbox_app, browser, follow_authorization, login as login_to_sandbox,
};

/// The default retry policy with a 1 ms base delay: backoff takes no time in tests.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(1),
        ..RetryPolicy::default()
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
    sandbox.remove_people();
    sandbox.seed_people(count).unwrap();
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

/// The README's Rust snippets, compiled as doctests: the README cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
