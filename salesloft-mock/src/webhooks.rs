//! Webhooks as the service sends them (SERVICE.md §7): stateful `/v2/webhook_subscriptions`,
//! and a delivery of every change to people, accounts and cadence memberships to each enabled
//! subscription of its event type.
//!
//! A delivery is a POST of the bare record with `x-salesloft-event` and
//! `x-salesloft-signature` (hex HMAC-SHA1 of the body keyed with the subscription's
//! `callback_token`). Anything but a 2xx answer is sent again three more times, 15 s apart on
//! the sandbox's clock (a test moves the clock instead of waiting). Every attempt is logged.
//! Faults spoil the next attempts: dropped (not sent, counted as failed), signed with a wrong
//! key, or sent twice.

use crate::call::{Call, Reply};
use crate::generic::catalog::catalog;
use crate::generic::table::Record;
use crate::outbox::Pending;
use crate::state::Shared;
use crate::store::Store;
use axum::http::Method;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use std::sync::Arc;

pub use crate::outbox::{
    ATTEMPTS, DeliveryAttempt, EVENT_TYPES, LOG_BYTES, LOG_LIMIT, MAX_SUBSCRIPTIONS,
    RETRY_AFTER_SECONDS, WebhookFault, event_of,
};

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Hex HMAC-SHA1 of `body` keyed with `token`.
pub fn sign(token: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The change a call makes to a resource that sends webhooks, noted before it runs (a deleted
/// record is sent as it was).
pub enum Change {
    None,
    Written(String),
    /// An upsert of `person` or `account`: created or updated, as its answer says.
    Upserted(&'static str),
    Deleted(String, Value),
}

impl Change {
    /// The rule: a create sends `<singular>_created`, an update `_updated`, a delete
    /// `_deleted`, where the service has that event. Hooks: upserts (created or updated, as
    /// the answer says), a task marked completed, and taking a person off a cadence (the
    /// membership stays: an update).
    pub fn before(store: &Store, call: &Call) -> Self {
        let m = call.method;
        match call.segments.as_slice() {
            ["person_upserts"] if m == Method::POST => return Self::Upserted("person"),
            ["account_upserts"] if m == Method::POST => return Self::Upserted("account"),
            _ => {}
        }
        let Some((resource, id)) = catalog().for_path(&call.segments) else {
            return Self::None;
        };
        let as_was = |raw: &str| {
            let key = crate::generic::key_of(resource.id_form, raw)?;
            store
                .table(&resource.name)?
                .rows
                .get(&key)
                .map(Record::render)
        };
        let event = |action| event_of(&resource.singular, action);
        let completes = call.body.get("current_state").and_then(Value::as_str) == Some("completed");
        let change = match id {
            // A task marked done sends `task_completed` rather than `task_updated`.
            Some(_) if m == Method::PUT && resource.name == "tasks" && completes => {
                event("completed").map(Self::Written)
            }
            None if m == Method::POST => event("created").map(Self::Written),
            Some(_) if m == Method::PUT => event("updated").map(Self::Written),
            Some(raw) if m == Method::DELETE && resource.name == "cadence_memberships" => {
                as_was(raw).map(|mut record| {
                    record["currently_on_cadence"] = json!(false);
                    Self::Deleted("cadence_membership_updated".into(), record)
                })
            }
            Some(raw) if m == Method::DELETE => {
                event("deleted").and_then(|e| Some(Self::Deleted(e, as_was(raw)?)))
            }
            _ => None,
        };
        change.unwrap_or(Self::None)
    }

    /// Queues the deliveries of a change that succeeded; true if any was queued.
    pub fn emit(self, store: &mut Store, reply: &Reply, now: DateTime<Utc>) -> bool {
        let (event_type, record) = match self {
            Self::None => return false,
            Self::Deleted(event_type, record) => (event_type, record),
            Self::Written(event_type) => match written(reply) {
                Some(record) => (event_type, record),
                None => return false,
            },
            Self::Upserted(kind) => match written(reply) {
                Some(mut data) => crate::outbox::upserted(kind, &mut data),
                None => return false,
            },
        };
        let before = store.outbox.pending();
        store.outbox.emit(&event_type, &record, now);
        store.outbox.pending() > before
    }
}

/// The record (`data`) a write answered with.
fn written(reply: &Reply) -> Option<Value> {
    let mut body: Value = match reply {
        Reply::Json(_, body) => body.clone(),
        Reply::Bytes(_, bytes) => serde_json::from_slice(bytes).ok()?,
        Reply::NoContent => return None,
    };
    Some(body.get_mut("data")?.take())
}

/// The delivery task: sends what is due, logs each attempt, schedules retries. Runs until the
/// sandbox stops.
pub async fn deliver(shared: Arc<Shared>) {
    crate::install_tls_provider();
    let Ok(http) = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    else {
        return;
    };
    loop {
        let now = shared.clock.now();
        // Every team's outbox, each delivery remembering its team for the log and retries.
        let due: Vec<_> = shared
            .teams()
            .all_mut()
            .flat_map(|store| {
                let team = store.team_id;
                let due = store.outbox.take_due(now, 64);
                due.into_iter()
                    .map(move |(pending, fault)| (team, pending, fault))
            })
            .collect();
        if due.is_empty() {
            // Woken by a new change, or by time (the clock may have been moved forward).
            let _ = tokio::time::timeout(
                std::time::Duration::from_millis(20),
                shared.outbox_ready.notified(),
            )
            .await;
            continue;
        }
        let sent = futures::future::join_all(due.into_iter().map(|(team, pending, fault)| {
            let http = http.clone();
            async move {
                let outcome = attempt(&http, &pending, fault).await;
                (team, pending, fault, outcome)
            }
        }))
        .await;
        let now = shared.clock.now();
        let mut teams = shared.teams();
        for (team, mut pending, fault, (status, error)) in sent {
            let store = teams.team_or_first(team);
            let delivered = status.is_some_and(|s| (200..300).contains(&s));
            store.outbox.record(DeliveryAttempt {
                delivery_id: pending.delivery_id,
                subscription_id: pending.subscription_id,
                event_type: pending.event_type.clone(),
                record_id: pending.record_id,
                callback_url: pending.callback_url.clone(),
                attempt: pending.attempt,
                at: crate::generic::table::timestamp(now),
                status,
                error,
                delivered,
                fault,
            });
            if !delivered && pending.attempt < ATTEMPTS {
                pending.attempt += 1;
                pending.due = now + Duration::seconds(RETRY_AFTER_SECONDS);
                store.outbox.retry(pending);
            }
        }
    }
}

/// One attempt: the status the receiver answered (the last, when sent twice), or why none.
async fn attempt(
    http: &reqwest::Client,
    pending: &Pending,
    fault: Option<WebhookFault>,
) -> (Option<u16>, Option<String>) {
    if fault == Some(WebhookFault::Drop) {
        return (None, Some("dropped (fault)".into()));
    }
    let key = if fault == Some(WebhookFault::WrongSignature) {
        format!("not-{}", pending.callback_token)
    } else {
        pending.callback_token.clone()
    };
    let signature = sign(&key, &pending.body);
    let times = if fault == Some(WebhookFault::Duplicate) {
        2
    } else {
        1
    };
    let mut last = (None, None);
    for _ in 0..times {
        let sent = http
            .post(&pending.callback_url)
            .header("content-type", "application/json")
            .header("x-salesloft-event", &pending.event_type)
            .header("x-salesloft-signature", &signature)
            .body(pending.body.clone())
            .send()
            .await;
        last = match sent {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(error) => (None, Some(error.to_string())),
        };
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hex_hmac_sha1() {
        // RFC 2202, test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }
}
