//! The webhook receiver's answers, request by request (tower's `oneshot`, no socket).
#![cfg(feature = "webhook-receiver")]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use salesloft_api::webhooks::receiver::Receiver;
use salesloft_api::webhooks::{EVENT_HEADER, Event, SIGNATURE_HEADER, signature};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const TOKEN: &str = "callback-token";
const PERSON: &[u8] = br#"{"id": 5, "email_address": "ada@example.com", "updated_at": "2024-01-02T03:04:05.000001Z"}"#;

fn delivery(event: Option<&str>, signature: Option<&str>, body: &[u8]) -> Request<Body> {
    let mut request = Request::post("/");
    if let Some(event) = event {
        request = request.header(EVENT_HEADER, event);
    }
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    request.body(Body::from(body.to_vec())).unwrap()
}

fn signed(body: &[u8]) -> Request<Body> {
    delivery(Some("person_updated"), Some(&signature(TOKEN, body)), body)
}

/// A receiver whose handler records each event and fails while `failing` is above zero.
fn receiver(failing: usize) -> (Receiver, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let failing = Arc::new(AtomicUsize::new(failing));
    let log = seen.clone();
    let receiver = Receiver::new(TOKEN, move |delivery| {
        let log = log.clone();
        let failing = failing.clone();
        async move {
            if let Event::PersonUpdated(person) = &delivery.event {
                log.lock()
                    .unwrap()
                    .push(person.email_address.clone().unwrap_or_default());
            }
            if failing.load(Ordering::SeqCst) > 0 {
                failing.fetch_sub(1, Ordering::SeqCst);
                return Err("the database is down");
            }
            Ok(())
        }
    });
    (receiver, seen)
}

async fn status(router: &axum::Router, request: Request<Body>) -> StatusCode {
    router.clone().oneshot(request).await.unwrap().status()
}

#[tokio::test]
async fn a_verified_delivery_reaches_the_handler_and_bad_ones_never_do() {
    let (receiver, seen) = receiver(0);
    let router = receiver.into_router();
    assert_eq!(status(&router, signed(PERSON)).await, StatusCode::OK);
    assert_eq!(*seen.lock().unwrap(), ["ada@example.com"]);

    let wrong = delivery(
        Some("person_updated"),
        Some(&signature("other", PERSON)),
        PERSON,
    );
    assert_eq!(status(&router, wrong).await, StatusCode::UNAUTHORIZED);
    let not_hex = delivery(Some("person_updated"), Some("not hex"), PERSON);
    assert_eq!(status(&router, not_hex).await, StatusCode::UNAUTHORIZED);
    let no_event = delivery(None, Some(&signature(TOKEN, PERSON)), PERSON);
    assert_eq!(status(&router, no_event).await, StatusCode::BAD_REQUEST);
    let no_signature = delivery(Some("person_updated"), None, PERSON);
    assert_eq!(status(&router, no_signature).await, StatusCode::BAD_REQUEST);
    assert_eq!(
        status(&router, signed(b"not json")).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the handler saw none of them"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_with_or_without_a_length() {
    let (receiver, seen) = receiver(0);
    let router = receiver.body_limit(64).into_router();
    let big = format!(r#"{{"id": 1, "pad": "{}"}}"#, "x".repeat(100));
    assert_eq!(
        status(&router, signed(big.as_bytes())).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(big.into_bytes())]);
    let request = Request::post("/")
        .header(EVENT_HEADER, "person_updated")
        .header(SIGNATURE_HEADER, "0".repeat(40))
        .body(Body::from_stream(stream))
        .unwrap();
    assert_eq!(
        status(&router, request).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failing_handler_gets_the_delivery_again_and_dedup_stops_a_second_handling() {
    let (receiver, seen) = receiver(1);
    let router = receiver.dedup(100).into_router();
    assert_eq!(
        status(&router, signed(PERSON)).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        status(&router, signed(PERSON)).await,
        StatusCode::OK,
        "the retry is handled"
    );
    assert_eq!(
        status(&router, signed(PERSON)).await,
        StatusCode::OK,
        "a duplicate is acknowledged"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "failed once, handled once, the duplicate not at all"
    );

    let newer =
        br#"{"id": 5, "email_address": "ada@example.com", "updated_at": "2024-01-02T03:04:06Z"}"#;
    assert_eq!(status(&router, signed(newer)).await, StatusCode::OK);
    assert_eq!(
        seen.lock().unwrap().len(),
        3,
        "a later change of the same record is a new event"
    );
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_receiver_keeps_serving() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let router = Receiver::new(TOKEN, move |_| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                panic!("handler bug");
            }
            Ok::<(), String>(())
        }
    })
    .dedup(10)
    .into_router();
    assert_eq!(
        status(&router, signed(PERSON)).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(status(&router, signed(PERSON)).await, StatusCode::OK);
}
