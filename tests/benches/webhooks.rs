//! `cargo xtask bench webhooks`:
//!
//! 1. Delivery: 10,000 changes in the sandbox, delivered to the receiver (deduplication on),
//!    which refuses the first attempt of a fifth of the events; the sandbox also sends one
//!    delivery in fifty twice. Every change must be handled (`webhook_lost=0`) and none twice
//!    (`webhook_handled_twice=0`); the retries wait their 15 s on the sandbox's clock.
//! 2. Verification speed against a bare HMAC-SHA1 loop over the same body, in the same run, in
//!    alternating slices so that the machine's drift falls on both: `webhook_verify_ratio` is
//!    signature checks (headers, hex, constant-time compare) per second over bare MACs per
//!    second; `webhook_verify_read_ratio` adds reading the typed event.
//!
//! Ends with `name=value` lines, one per figure.

use hmac::{Hmac, Mac};
use salesloft_api::webhooks::{
    EVENT_HEADER, SIGNATURE_HEADER, signature, verify, verify_signature,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

const SLICE: Duration = Duration::from_millis(100);
const ROUNDS: usize = 20;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(salesloft_testkit::webhook_load::run(10_000, true, 50));
    eprintln!("{outcome:?}");

    let body = person_body();
    let token = "xT7/Buu0Vz2ffiIPuMlBGu+cwku1dr7G5jeiM0iyfYIT0l4z3azNGjiXWTOX/8OT";
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(EVENT_HEADER, "person_updated".parse().unwrap());
    headers.insert(SIGNATURE_HEADER, signature(token, &body).parse().unwrap());
    assert!(verify(token, &headers, &body).is_ok());

    let (mut bare, mut check, mut full) = (Rate::default(), Rate::default(), Rate::default());
    for _ in 0..ROUNDS {
        bare.slice(|| {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
            mac.update(black_box(&body));
            black_box(mac.finalize());
        });
        check.slice(|| {
            black_box(verify_signature(token, &headers, black_box(&body)).unwrap());
        });
        full.slice(|| {
            black_box(verify(token, &headers, black_box(&body)).unwrap());
        });
    }
    let line = |name: &str, value: String| println!("{name}={value}");
    line("webhook_changes", outcome.changes.to_string());
    line("webhook_attempts", outcome.attempts.to_string());
    line("webhook_refused_first", outcome.refused_first.to_string());
    line("webhook_duplicated", outcome.duplicated.to_string());
    line("webhook_lost", outcome.lost.to_string());
    line("webhook_handled_twice", outcome.handled_twice.to_string());
    line("webhook_seconds", format!("{:.2}", outcome.seconds));
    line("webhook_body_bytes", body.len().to_string());
    line(
        "webhook_hmac_per_second",
        format!("{:.0}", bare.per_second()),
    );
    line(
        "webhook_verify_per_second",
        format!("{:.0}", check.per_second()),
    );
    line(
        "webhook_verify_read_per_second",
        format!("{:.0}", full.per_second()),
    );
    line(
        "webhook_verify_ratio",
        format!("{:.3}", check.per_second() / bare.per_second()),
    );
    line(
        "webhook_verify_read_ratio",
        format!("{:.3}", full.per_second() / bare.per_second()),
    );
}

#[derive(Default)]
struct Rate {
    calls: u64,
    elapsed: Duration,
}

impl Rate {
    fn slice(&mut self, mut f: impl FnMut()) {
        let start = Instant::now();
        while start.elapsed() < SLICE {
            for _ in 0..64 {
                f();
            }
            self.calls += 64;
        }
        self.elapsed += start.elapsed();
    }

    fn per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
}

/// A person as a delivery carries it, about the size of a real one.
fn person_body() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": 12345, "created_at": "2023-03-07T12:12:52.362090-05:00",
        "updated_at": "2023-03-07T12:14:02.101010-05:00", "first_name": "Ada", "last_name": "Lovelace",
        "display_name": "Ada Lovelace", "email_address": "ada@example.com", "title": "Engineer",
        "phone": "+1 555 0100", "city": "Atlanta", "state": "GA", "country": "US",
        "do_not_contact": false, "tags": ["vip", "q3"], "custom_fields": {"Tier": "Gold"},
        "account": {"_href": "https://api.salesloft.com/v2/accounts/7", "id": 7},
        "owner": {"_href": "https://api.salesloft.com/v2/users/1", "id": 1},
        "counts": {"emails_sent": 3, "emails_viewed": 2, "emails_clicked": 0, "emails_replied_to": 1,
                   "emails_bounced": 0, "calls": 2},
        "cadences": [{"_href": "https://api.salesloft.com/v2/cadences/3", "id": 3}],
        "last_contacted_at": "2023-03-06T10:00:00.000000-05:00", "crm_id": "003i000001mnhpD"
    }))
    .unwrap()
}
