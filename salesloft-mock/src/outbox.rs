//! The webhook outbox's data (SERVICE.md §7): subscriptions, the deliveries on their way, the
//! log of attempts and the faults that will spoil the next ones. It sits beside the store it
//! belongs to; the delivery task that empties it is `webhooks`, above both.

use crate::generic::table::Table;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::VecDeque;

/// The event types the service documents (SERVICE.md §7); a subscription names one of them.
pub const EVENT_TYPES: &[&str] = &[
    "account_created",
    "account_updated",
    "account_deleted",
    "bulk_job_completed",
    "cadence_created",
    "cadence_updated",
    "cadence_deleted",
    "cadence_membership_created",
    "cadence_membership_updated",
    "call_created",
    "call_updated",
    "call_data_record_created",
    "call_data_record_updated",
    "conversation_created",
    "conversation_updated",
    "email_updated",
    "meeting_booked",
    "meeting_updated",
    "note_created",
    "note_updated",
    "note_deleted",
    "person_created",
    "person_updated",
    "person_deleted",
    "step_created",
    "step_updated",
    "step_deleted",
    "success_created",
    "task_created",
    "task_updated",
    "task_completed",
    "task_deleted",
    "user_created",
    "user_updated",
];

/// The event a resource sends for `action` (`note` + `created`), if the service has it.
pub fn event_of(singular: &str, action: &str) -> Option<String> {
    let event = format!("{singular}_{action}");
    EVENT_TYPES.contains(&event.as_str()).then_some(event)
}

/// The event of an upsert's answer (`{"person": ..., "upsert_type": "create"}`) for `kind`
/// (`person`): `person_created` or `person_updated`, and the record it carries.
pub fn upserted(kind: &str, answer: &mut Value) -> (String, Value) {
    let done = if answer["upsert_type"] == "create" {
        "created"
    } else {
        "updated"
    };
    (format!("{kind}_{done}"), answer[kind].take())
}

/// Attempts per delivery: the first and three more.
pub const ATTEMPTS: u32 = 4;
/// Between attempts, on the sandbox's clock.
pub const RETRY_AFTER_SECONDS: i64 = 15;
/// The delivery log keeps this many attempts, the oldest dropped first...
pub const LOG_LIMIT: usize = 200_000;
/// ...and at most this many bytes of their texts (callback URLs may be 2 KiB each).
pub const LOG_BYTES: usize = 32 * 1024 * 1024;
/// The most subscriptions the sandbox keeps (each change is queued for each of them).
pub const MAX_SUBSCRIPTIONS: usize = 1_000;
/// How much of an attempt's error text the log keeps.
const MAX_ERROR_CHARS: usize = 300;

/// What spoils the next delivery attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFault {
    /// Not sent; counts as a failed attempt (so it is sent again later).
    Drop,
    /// Signed with a key that is not the subscription's token.
    WrongSignature,
    /// Sent twice, one right after the other.
    Duplicate,
}

/// One attempt, as the log shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeliveryAttempt {
    /// The delivery (one change to one subscription); its attempts share it.
    pub delivery_id: u64,
    pub subscription_id: i64,
    pub event_type: String,
    pub record_id: Option<i64>,
    pub callback_url: String,
    /// 1 for the first attempt, up to [`ATTEMPTS`].
    pub attempt: u32,
    pub at: String,
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    /// Why it failed without a status (refused, timed out, dropped by a fault).
    pub error: Option<String>,
    pub delivered: bool,
    pub fault: Option<WebhookFault>,
}

/// One change on its way to one subscription.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub(crate) delivery_id: u64,
    pub(crate) subscription_id: i64,
    pub(crate) event_type: String,
    pub(crate) record_id: Option<i64>,
    pub(crate) callback_url: String,
    pub(crate) callback_token: String,
    /// The record, serialized once and shared by the deliveries of one change.
    pub(crate) body: bytes::Bytes,
    pub(crate) attempt: u32,
    pub(crate) due: DateTime<Utc>,
}

/// Subscriptions, deliveries waiting, the log and pending faults.
#[derive(Debug, Default)]
pub struct Outbox {
    pub(crate) subscriptions: Table,
    queue: Vec<Pending>,
    log: VecDeque<DeliveryAttempt>,
    /// What the log's entries hold, by [`held`].
    log_bytes: usize,
    faults: VecDeque<WebhookFault>,
    next_delivery: u64,
    /// Taken from the queue and being sent.
    in_flight: usize,
}

impl Outbox {
    /// An empty outbox whose subscription and delivery ids follow `base` (the team's block).
    pub fn starting_after(base: i64) -> Self {
        Self {
            subscriptions: Table::starting_after(base),
            next_delivery: u64::try_from(base).unwrap_or(0),
            ..Self::default()
        }
    }

    /// One delivery per enabled subscription of `event_type`, due now.
    pub fn emit(&mut self, event_type: &str, record: &Value, now: DateTime<Utc>) {
        // A boxed slice: exactly the body's length, whatever the serializer reserved.
        let body = bytes::Bytes::from(
            serde_json::to_vec(record)
                .unwrap_or_default()
                .into_boxed_slice(),
        );
        for subscription in self.subscriptions.rows.values() {
            let fields = &subscription.fields;
            if fields.get("event_type").and_then(Value::as_str) != Some(event_type)
                || fields.get("enabled") != Some(&Value::Bool(true))
            {
                continue;
            }
            self.next_delivery += 1;
            self.queue.push(Pending {
                delivery_id: self.next_delivery,
                subscription_id: subscription.id,
                event_type: event_type.to_string(),
                record_id: record["id"].as_i64(),
                callback_url: text(fields, "callback_url"),
                callback_token: text(fields, "callback_token"),
                body: body.clone(),
                attempt: 1,
                due: now,
            });
        }
    }

    pub fn inject(&mut self, fault: WebhookFault, count: usize) {
        self.faults.extend(std::iter::repeat_n(fault, count));
    }

    pub fn pending_faults(&self) -> usize {
        self.faults.len()
    }

    pub fn log(&self) -> Vec<DeliveryAttempt> {
        self.log.iter().cloned().collect()
    }

    /// Deliveries not yet delivered nor given up: waiting, or being sent.
    pub fn pending(&self) -> usize {
        self.queue.len() + self.in_flight
    }

    /// A failed attempt's delivery, due again at its `due` time.
    pub(crate) fn retry(&mut self, pending: Pending) {
        self.queue.push(pending);
    }

    pub(crate) fn take_due(
        &mut self,
        now: DateTime<Utc>,
        most: usize,
    ) -> Vec<(Pending, Option<WebhookFault>)> {
        let mut due = Vec::new();
        let mut index = 0;
        while index < self.queue.len() && due.len() < most {
            if self.queue[index].due <= now {
                let pending = self.queue.swap_remove(index);
                due.push((pending, self.faults.pop_front()));
            } else {
                index += 1;
            }
        }
        due.sort_by_key(|(p, _)| p.delivery_id);
        self.in_flight += due.len();
        due
    }

    /// Logs an attempt of a delivery taken by [`Outbox::take_due`].
    pub(crate) fn record(&mut self, mut attempt: DeliveryAttempt) {
        self.in_flight = self.in_flight.saturating_sub(1);
        // The receiver's error text, as much of it as a log line needs.
        if let Some(error) = &mut attempt.error
            && error.len() > MAX_ERROR_CHARS
        {
            *error = error.chars().take(MAX_ERROR_CHARS).collect();
        }
        let size = held(&attempt);
        while self.log.len() >= LOG_LIMIT || self.log_bytes + size > LOG_BYTES {
            let Some(oldest) = self.log.pop_front() else {
                break;
            };
            self.log_bytes -= held(&oldest);
        }
        self.log_bytes += size;
        self.log.push_back(attempt);
    }
}

/// The memory one logged attempt holds.
fn held(attempt: &DeliveryAttempt) -> usize {
    std::mem::size_of::<DeliveryAttempt>()
        + attempt.event_type.capacity()
        + attempt.callback_url.capacity()
        + attempt.at.capacity()
        + attempt.error.as_ref().map_or(0, String::capacity)
}

pub(crate) fn text(fields: &Map<String, Value>, name: &str) -> String {
    fields
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_enabled_subscriptions_of_the_event_get_a_delivery() {
        let mut outbox = Outbox::default();
        let now = Utc::now();
        for (event, enabled) in [
            ("person_created", true),
            ("person_created", false),
            ("person_updated", true),
        ] {
            let fields = json!({"event_type": event, "enabled": enabled, "callback_url": "http://x", "callback_token": "t"});
            outbox
                .subscriptions
                .insert(now, fields.as_object().cloned().unwrap());
        }
        outbox.emit("person_created", &json!({"id": 4}), now);
        assert_eq!(outbox.pending(), 1);
        let due = outbox.take_due(now, 10);
        assert_eq!(due[0].0.subscription_id, 1);
        assert_eq!(due[0].0.record_id, Some(4));
    }
}
