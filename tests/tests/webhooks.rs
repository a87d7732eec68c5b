//! Webhooks end to end against the sandbox: subscriptions through the generated client, the
//! sandbox's signed deliveries and retries on its clock, the receiver's verification and
//! deduplication.

use salesloft_api::webhooks::receiver::Receiver;
use salesloft_api::webhooks::{Delivery, Event, ensure_subscriptions, remove_subscriptions};
use salesloft_api::{Client, RetryPolicy};
use salesloft_mock::webhooks::{DeliveryAttempt, WebhookFault};
use salesloft_mock::{Config, SandboxHandle};
use salesloft_testkit::sandbox_and_client;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "receiver-token";
const EVENTS: &[&str] = &[
    "person_created",
    "person_updated",
    "cadence_membership_created",
];

/// What the receiver's handler saw, and how many first attempts it is still to refuse.
#[derive(Clone, Default)]
struct Seen {
    events: Arc<Mutex<Vec<String>>>,
    refuse: Arc<AtomicUsize>,
}

impl Seen {
    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

/// A receiver on 127.0.0.1 that records `event_type:email` and refuses while `refuse` > 0.
async fn receiver(dedup: bool) -> (String, Seen) {
    let seen = Seen::default();
    let log = seen.clone();
    let mut receiver = Receiver::new(TOKEN, move |delivery: Delivery| {
        let log = log.clone();
        async move {
            let email = match &delivery.event {
                Event::PersonCreated(p) | Event::PersonUpdated(p) => {
                    p.email_address.clone().unwrap_or_default()
                }
                Event::CadenceMembershipCreated(m) => format!(
                    "membership {}",
                    m.id.clone().map(|i| i.to_string()).unwrap_or_default()
                ),
                other => other.event_type().to_string(),
            };
            log.events
                .lock()
                .unwrap()
                .push(format!("{}:{email}", delivery.event.event_type()));
            if log.refuse.load(Ordering::SeqCst) > 0 {
                log.refuse.fetch_sub(1, Ordering::SeqCst);
                return Err("not now");
            }
            Ok(())
        }
    });
    if dedup {
        receiver = receiver.dedup(10_000);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(receiver.serve(listener));
    (url, seen)
}

async fn setup(dedup: bool) -> (SandboxHandle, Client, String, Seen) {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::none()).await;
    let (url, seen) = receiver(dedup).await;
    ensure_subscriptions(&client, &url, TOKEN, EVENTS)
        .await
        .unwrap();
    (sandbox, client, url, seen)
}

async fn create_person(client: &Client, email: &str) -> i64 {
    let person = client
        .create_person()
        .body_map(|b| b.email_address(email.to_string()))
        .call()
        .await
        .unwrap()
        .into_inner()
        .data;
    person.id.and_then(|id| id.as_i64()).unwrap()
}

/// Waits (real time, a few seconds at most) until `done` holds for the delivery log.
async fn until(
    sandbox: &SandboxHandle,
    done: impl Fn(&[DeliveryAttempt]) -> bool,
) -> Vec<DeliveryAttempt> {
    for _ in 0..300 {
        let log = sandbox.webhook_deliveries();
        if done(&log) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the deliveries never got there: {:#?}",
        sandbox.webhook_deliveries()
    );
}

#[tokio::test]
async fn subscriptions_are_created_once_reenabled_and_removed() {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::none()).await;
    let done = ensure_subscriptions(&client, "http://127.0.0.1:9/", TOKEN, EVENTS)
        .await
        .unwrap();
    assert_eq!(
        (done.created, done.enabled, done.subscriptions.len()),
        (3, 0, 3)
    );
    let again = ensure_subscriptions(&client, "http://127.0.0.1:9/", TOKEN, EVENTS)
        .await
        .unwrap();
    assert_eq!(
        (again.created, again.enabled),
        (0, 0),
        "nothing is created twice"
    );

    let id = again.subscriptions[1]
        .id
        .clone()
        .and_then(|i| i.as_i64())
        .unwrap();
    let body = salesloft_api::types::UpdateWebhookSubscriptionBody {
        enabled: Some(false),
    };
    client
        .update_webhook_subscription()
        .id(id)
        .body(body)
        .call()
        .await
        .unwrap();
    let revived = ensure_subscriptions(&client, "http://127.0.0.1:9/", TOKEN, EVENTS)
        .await
        .unwrap();
    assert_eq!((revived.created, revived.enabled), (0, 1));
    assert!(
        revived
            .subscriptions
            .iter()
            .all(|s| s.enabled == Some(true))
    );

    // Another token for the same URL and event is replaced by ours.
    let replaced = ensure_subscriptions(&client, "http://127.0.0.1:9/", "new-token", &EVENTS[..1])
        .await
        .unwrap();
    assert_eq!((replaced.created, replaced.replaced), (1, 1));

    assert_eq!(
        remove_subscriptions(&client, "http://127.0.0.1:9/", &[])
            .await
            .unwrap(),
        3
    );
    let left = client
        .list_webhook_subscriptions()
        .call()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(left.is_empty(), "{left:?}");
    drop(sandbox);
}

#[tokio::test]
async fn a_half_failed_ensure_removes_what_it_created() {
    let (_sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::none()).await;
    let err = ensure_subscriptions(
        &client,
        "http://127.0.0.1:9/",
        TOKEN,
        &["person_created", "person_updated", "no_such_event"],
    )
    .await
    .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(422), "{err}");
    let left = client
        .list_webhook_subscriptions()
        .call()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(
        left.is_empty(),
        "the two created before the failure are removed: {left:?}"
    );
}

#[tokio::test]
async fn changes_arrive_signed_and_typed() {
    let (sandbox, client, _url, seen) = setup(false).await;
    let id = create_person(&client, "grace@example.com").await;
    client
        .update_person()
        .id(id)
        .body_map(|b| b.first_name("Ada".to_string()))
        .call()
        .await
        .unwrap();
    let log = until(&sandbox, |log| {
        log.iter().filter(|a| a.delivered).count() == 2
    })
    .await;
    assert!(
        log.iter().all(|a| a.status == Some(200) && a.attempt == 1),
        "{log:#?}"
    );
    assert_eq!(
        seen.events(),
        [
            "person_created:grace@example.com",
            "person_updated:grace@example.com"
        ]
    );
}

#[tokio::test]
async fn a_refused_delivery_is_sent_again_15_seconds_later_on_the_sandbox_clock() {
    let (sandbox, client, _url, seen) = setup(false).await;
    seen.refuse.store(1, Ordering::SeqCst);
    create_person(&client, "retry@example.com").await;
    until(&sandbox, |log| log.len() == 1).await;
    assert_eq!(sandbox.webhook_deliveries()[0].status, Some(500));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sandbox.webhook_deliveries().len(), 1, "not before its time");

    sandbox.clock().advance(chrono::Duration::seconds(15));
    let log = until(&sandbox, |log| log.len() == 2).await;
    assert_eq!(
        (log[1].attempt, log[1].status, log[1].delivered),
        (2, Some(200), true)
    );
    assert_eq!(log[0].delivery_id, log[1].delivery_id);
    assert_eq!(
        seen.events().len(),
        2,
        "the handler saw it twice: at least once, not at most once"
    );
}

#[tokio::test]
async fn a_delivery_is_given_up_after_four_attempts() {
    let (sandbox, client, _url, seen) = setup(false).await;
    seen.refuse.store(10, Ordering::SeqCst);
    create_person(&client, "never@example.com").await;
    for attempts in 1..=4 {
        until(&sandbox, |log| log.len() == attempts).await;
        sandbox.clock().advance(chrono::Duration::seconds(15));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sandbox.webhook_deliveries().len(), 4);
    assert_eq!(sandbox.webhooks_pending(), 0);
}

#[tokio::test]
async fn faults_drop_mis_sign_and_duplicate_and_dedup_handles_each_event_once() {
    let (sandbox, client, _url, seen) = setup(true).await;
    sandbox
        .inject_webhook_fault(WebhookFault::WrongSignature, 1)
        .unwrap();
    create_person(&client, "signed@example.com").await;
    let log = until(&sandbox, |log| log.len() == 1).await;
    assert_eq!(
        log[0].status,
        Some(401),
        "the receiver refuses a wrong signature"
    );
    assert!(seen.events().is_empty(), "and never calls the handler");
    sandbox.clock().advance(chrono::Duration::seconds(15));
    until(&sandbox, |log| log.len() == 2 && log[1].delivered).await;

    sandbox.inject_webhook_fault(WebhookFault::Drop, 1).unwrap();
    create_person(&client, "dropped@example.com").await;
    let log = until(&sandbox, |log| log.len() == 3).await;
    assert_eq!((log[2].status, log[2].delivered), (None, false));
    sandbox.clock().advance(chrono::Duration::seconds(15));
    until(&sandbox, |log| log.len() == 4 && log[3].delivered).await;

    sandbox
        .inject_webhook_fault(WebhookFault::Duplicate, 1)
        .unwrap();
    create_person(&client, "twice@example.com").await;
    until(&sandbox, |log| log.len() == 5 && log[4].delivered).await;
    assert_eq!(
        seen.events(),
        [
            "person_created:signed@example.com",
            "person_created:dropped@example.com",
            "person_created:twice@example.com"
        ],
        "each event handled once: the duplicate was acknowledged unhandled"
    );
}

#[tokio::test]
async fn the_delivery_log_and_faults_are_on_the_admin_surface() {
    let (sandbox, client, _url, _seen) = setup(false).await;
    create_person(&client, "admin@example.com").await;
    until(&sandbox, |log| log.len() == 1).await;
    let http = reqwest::Client::new();
    let base = sandbox.api_base_url();
    let log: serde_json::Value = http
        .get(format!("{base}/__admin/webhook_deliveries"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log[0]["event_type"], "person_created");
    assert_eq!(log[0]["delivered"], true);
    let bad = http
        .post(format!("{base}/__admin/webhook_faults"))
        .json(&serde_json::json!({"fault": "explode"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let good = http
        .post(format!("{base}/__admin/webhook_faults"))
        .json(&serde_json::json!({"fault": "drop", "count": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_load_with_refusals_and_duplicates_nothing_is_lost_and_dedup_handles_once() {
    let outcome = salesloft_testkit::webhook_load::run(300, true, 20).await;
    assert_eq!(outcome.lost, 0, "{outcome:?}");
    assert_eq!(outcome.handled_twice, 0, "{outcome:?}");
    assert_eq!(
        outcome.refused_first, 60,
        "a fifth of first attempts refused: {outcome:?}"
    );
    assert_eq!(outcome.duplicated, 15, "{outcome:?}");

    // Without deduplication the duplicates are handled twice: at least once, not exactly once.
    let outcome = salesloft_testkit::webhook_load::run(300, false, 20).await;
    assert_eq!(outcome.lost, 0, "{outcome:?}");
    assert!(outcome.handled_twice > 0, "{outcome:?}");
}
