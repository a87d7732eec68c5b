//! Many changes in the sandbox, delivered to a receiver that refuses a fifth of first
//! attempts: is every change handled at least once, and (with deduplication) at most once?
//! Shared by `tests/webhooks.rs` (a few hundred changes) and `cargo xtask bench webhooks`
//! (10,000).

use futures::StreamExt;
use salesloft_api::webhooks::receiver::Receiver;
use salesloft_api::webhooks::{Delivery, EventKey, ensure_subscriptions};
use salesloft_api::{Client, RetryPolicy};
use salesloft_mock::Config;
use salesloft_mock::webhooks::WebhookFault;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a run found.
#[derive(Debug)]
pub struct Outcome {
    pub changes: usize,
    /// Changes whose event no handler call ever accepted.
    pub lost: usize,
    /// Events the handler accepted more than once.
    pub handled_twice: usize,
    /// First attempts the receiver refused on purpose.
    pub refused_first: usize,
    /// Deliveries the sandbox sent twice (its duplicate fault).
    pub duplicated: usize,
    pub attempts: usize,
    pub seconds: f64,
}

#[derive(Default)]
struct Handled {
    /// Accepted handler calls per event.
    accepted: HashMap<EventKey, usize>,
    /// Events whose first attempt was refused.
    refused: HashSet<EventKey>,
}

/// `changes` people created through the client; the receiver refuses the first attempt of
/// every fifth event; the sandbox duplicates one delivery in `duplicate_every`.
pub async fn run(changes: usize, dedup: bool, duplicate_every: usize) -> Outcome {
    let config = Config {
        rate_limit_per_minute: 10_000_000,
        ..Config::default()
    };
    let (sandbox, client) = crate::sandbox_and_client(config, RetryPolicy::default()).await;
    let handled = Arc::new(Mutex::new(Handled::default()));
    let log = handled.clone();
    let mut receiver = Receiver::new("load-token", move |delivery: Delivery| {
        let log = log.clone();
        async move {
            let mut handled = log.lock().unwrap();
            let key = delivery.key;
            let id = key.record_id.as_ref().and_then(|i| i.as_i64()).unwrap_or(0);
            if id % 5 == 0 && handled.refused.insert(key.clone()) {
                return Err("refused on purpose");
            }
            *handled.accepted.entry(key).or_default() += 1;
            Ok(())
        }
    });
    if dedup {
        receiver = receiver.dedup(changes * 2);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(receiver.serve(listener));
    ensure_subscriptions(&client, &url, "load-token", &["person_created"])
        .await
        .unwrap();
    if let Some(duplicates) = changes.checked_div(duplicate_every) {
        // The faults apply to the first attempts in order.
        sandbox
            .inject_webhook_fault(WebhookFault::Duplicate, duplicates)
            .unwrap();
    }

    let started = Instant::now();
    futures::stream::iter(0..changes)
        .map(|n| create(&client, n))
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    // Every first attempt made, then the retries' 15 s on the sandbox's clock.
    wait(|| first_attempts(&sandbox) >= changes).await;
    sandbox.clock().advance(chrono::Duration::seconds(15));
    wait(|| sandbox.webhooks_pending() == 0).await;
    let seconds = started.elapsed().as_secs_f64();

    let log = sandbox.webhook_deliveries();
    let handled = handled.lock().unwrap();
    Outcome {
        changes,
        lost: changes.saturating_sub(handled.accepted.len()),
        handled_twice: handled.accepted.values().filter(|n| **n > 1).count(),
        refused_first: handled.refused.len(),
        duplicated: log
            .iter()
            .filter(|a| a.fault == Some(WebhookFault::Duplicate))
            .count(),
        attempts: log.len(),
        seconds,
    }
}

fn first_attempts(sandbox: &salesloft_mock::SandboxHandle) -> usize {
    sandbox
        .webhook_deliveries()
        .iter()
        .filter(|a| a.attempt == 1)
        .count()
}

async fn create(client: &Client, n: usize) {
    client
        .create_person()
        .body_map(|b| b.email_address(format!("load{n}@example.com")))
        .call()
        .await
        .expect("the sandbox creates the person");
}

/// Polls `done` for up to two minutes.
async fn wait(done: impl Fn() -> bool) {
    for _ in 0..4_800 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the deliveries did not finish in time");
}
