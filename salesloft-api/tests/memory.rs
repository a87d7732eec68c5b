//! What the client keeps of what the network sent is held at its real size. A caller that
//! keeps the errors of answers with MB-sized bodies (an undecodable body; a 422 with a 2 MB
//! message and a 1 MB `errors` map), or a webhook dedup window fed 20,000 events whose keys
//! are 10 KB each, grows by at most [`BOUND_MB`]: each error keeps at most a 1 MiB copy of a
//! body and 1 KiB of a message, the window 20 bytes a key.
//!
//! Why 64 MB: 100 × 1 KiB messages, 100 × (20 fields × 256 B), 10,000 digests are a few MB;
//! the raw bodies are measured with 20 errors, allowed their 1 MiB each by design. Kept
//! whole, the same would take 80 MB more, 300 MB and 100 MB.
//! One test in this binary, so no other test's allocations share the measure.

mod support;

use salesloft_api::webhooks::{Dedup, EventKey, Seen};
use salesloft_api::{ApiError, Id};
use support::CaptureServer;

const BOUND_MB: u64 = 64;
const BIG: usize = 2_000_000;

fn rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

async fn errors(server: &CaptureServer, count: usize) -> Vec<ApiError> {
    let client = server.client();
    let mut kept = Vec::new();
    for _ in 0..count {
        kept.push(
            client
                .get_me()
                .send()
                .await
                .map(drop)
                .map_err(ApiError::from)
                .unwrap_err(),
        );
    }
    kept
}

#[tokio::test]
async fn errors_and_the_dedup_window_hold_bounded_copies() {
    let server = CaptureServer::start().await;
    let filler = "x".repeat(BIG);

    // A body that does not decode (a list where a record belongs): 3 MB on the wire, 1 MiB kept.
    server.answer(
        "/v2/me.json",
        200,
        &format!(r#"{{"data": ["{filler}", "{filler}"]}}"#),
    );
    let warm = errors(&server, 2).await;
    drop(warm);
    let start = rss_mb();
    let undecodable = errors(&server, 20).await;
    let after_bodies = rss_mb();
    let first = &undecodable[0];
    let raw = first.raw_body().unwrap();
    assert_eq!(raw.len(), salesloft_api::error::MAX_RAW_BODY);
    assert!(raw.starts_with(br#"{"data": ["xxx"#));
    assert!(
        after_bodies <= start + 20 + BOUND_MB,
        "20 undecodable answers of 4 MB grew the process from {start} MB to {after_bodies} MB"
    );
    drop(undecodable);

    // A 422 with a 2 MB message and 20 fields of 50 KB messages each.
    let fields: Vec<String> = (0..20)
        .map(|n| format!(r#""field{n}": ["{}"]"#, &filler[..50_000]))
        .collect();
    server.answer(
        "/v2/me.json",
        422,
        &format!(
            r#"{{"error": "{filler}", "errors": {{{}}}}}"#,
            fields.join(",")
        ),
    );
    let start = rss_mb();
    let refused = errors(&server, 100).await;
    let after_refused = rss_mb();
    let ApiError::Service {
        message,
        field_errors,
        ..
    } = &refused[0]
    else {
        panic!("a 422 is a service error: {:?}", refused[0])
    };
    assert!(
        message.len() <= salesloft_api::error::MAX_MESSAGE + 3,
        "{}",
        message.len()
    );
    assert!(field_errors.len() <= salesloft_api::error::MAX_FIELD_ERRORS);
    assert!(field_errors.values().flatten().all(|m| m.len() <= 256 + 3));
    assert!(
        after_refused <= start + BOUND_MB,
        "100 refused answers grew the process from {start} MB to {after_refused} MB"
    );

    // The dedup window: 20,000 handled events with 10 KB keys, a window of 10,000.
    let dedup = Dedup::new(10_000);
    let start = rss_mb();
    let long = &filler[..5_000];
    for n in 0..20_000i64 {
        let key = EventKey {
            event_type: "person_updated".into(),
            record_id: Some(Id::from(format!("{n}-{long}"))),
            updated_at: Some(format!("2024-01-01T00:00:00.{n:06}Z{long}")),
        };
        let Seen::New(claim) = dedup.claim(&key) else {
            panic!("event {n} is new")
        };
        claim.handled();
    }
    let after_window = rss_mb();
    assert_eq!(dedup.len(), 10_000);
    assert!(
        after_window <= start + BOUND_MB,
        "the dedup window grew the process from {start} MB to {after_window} MB"
    );
    drop(refused);
}
