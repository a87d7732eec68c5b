//! SalesLoft's webhooks: verify a delivery and read it as a typed [`Event`].
//!
//! A delivery is an HTTP POST of one bare record (no envelope) with two headers:
//! `x-salesloft-event` (`person_created`, ...) and `x-salesloft-signature`, the hex HMAC-SHA1
//! of the raw body keyed with the subscription's `callback_token` (SERVICE.md §7). A delivery
//! carries no event id: the same event can come more than once (SalesLoft retries a failed
//! delivery three more times, 15 s apart), so [`EventKey`] (event type, record id,
//! `updated_at`) is what tells one event from another.
//!
//! [`verify`] needs no server: give it the token, the headers and the raw bytes. The ready
//! receiver is `receiver` (feature `webhook-receiver`); [`subscriptions`] keeps a callback
//! URL subscribed to the events it wants.

mod dedup;
#[cfg(feature = "webhook-receiver")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhook-receiver")))]
pub mod receiver;
pub mod subscriptions;

pub use dedup::{Claim, Dedup, Seen};
pub use subscriptions::{ensure_subscriptions, remove_subscriptions};

use crate::Id;
use crate::decode::DecodeFailure;
use crate::types;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The header naming the event type.
pub const EVENT_HEADER: &str = "x-salesloft-event";
/// The header carrying the hex HMAC-SHA1 of the body.
pub const SIGNATURE_HEADER: &str = "x-salesloft-signature";

/// Why a delivery was refused. Each maps to the answer a receiver gives ([`WebhookError::status`]).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WebhookError {
    #[error("the delivery has no `{0}` header")]
    MissingHeader(&'static str),
    #[error("the delivery's `{0}` header is not one short printable value")]
    InvalidHeader(&'static str),
    #[error("the signature is not 40 hexadecimal digits (a hex HMAC-SHA1)")]
    SignatureNotHex,
    #[error(
        "the signature does not match the body: not sent by SalesLoft with this callback token"
    )]
    WrongSignature,
    #[error("the body is not JSON: {0}")]
    NotJson(DecodeFailure),
    #[error("the body is JSON but not one record (an object)")]
    NotARecord,
    #[error("the body is larger than the receiver's limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
}

impl WebhookError {
    /// The HTTP status a receiver answers: 401 for a signature that fails (the handler never
    /// sees the delivery), 413 for a body over the limit, 400 for the rest.
    pub fn status(&self) -> u16 {
        match self {
            Self::SignatureNotHex | Self::WrongSignature => 401,
            Self::BodyTooLarge { .. } => 413,
            _ => 400,
        }
    }
}

/// What identifies one event across repeated deliveries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventKey {
    pub event_type: String,
    pub record_id: Option<Id>,
    /// The record's `updated_at` as sent (the event's time: deliveries carry no other).
    pub updated_at: Option<String>,
}

impl EventKey {
    /// Whether two deliveries with this key are surely the same event (both parts present).
    pub fn is_complete(&self) -> bool {
        self.record_id.is_some() && self.updated_at.is_some()
    }
}

/// A verified delivery: its event and the key that identifies it.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub key: EventKey,
    pub event: Event,
}

/// The hex HMAC-SHA1 of `body` keyed with `callback_token`: the `x-salesloft-signature` of a
/// delivery (for tests of a receiver, and for anyone relaying deliveries).
pub fn signature(callback_token: &str, body: &[u8]) -> String {
    let mut mac = mac(callback_token);
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn mac(callback_token: &str) -> Hmac<Sha1> {
    Hmac::<Sha1>::new_from_slice(callback_token.as_bytes()).expect("HMAC takes a key of any length")
}

/// Checks a delivery's signature (in constant time) and reads it. The body is parsed only
/// once the signature holds.
pub fn verify(
    callback_token: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<Delivery, WebhookError> {
    let event_type = verify_signature(callback_token, headers, body)?;
    read(event_type, body)
}

/// Checks the headers and the signature only (in constant time); the event type on success.
/// For callers that read the body themselves.
pub fn verify_signature<'h>(
    callback_token: &str,
    headers: &'h http::HeaderMap,
    body: &[u8],
) -> Result<&'h str, WebhookError> {
    let event_type = header(headers, EVENT_HEADER)?;
    if event_type.is_empty()
        || !event_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(WebhookError::InvalidHeader(EVENT_HEADER));
    }
    let signature = header(headers, SIGNATURE_HEADER)?;
    let expected = hex(signature.trim()).ok_or(WebhookError::SignatureNotHex)?;
    let mut mac = mac(callback_token);
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| WebhookError::WrongSignature)?;
    Ok(event_type)
}

/// Reads a delivery whose signature was checked: its key, then its record as the type of its
/// event. A record that does not decode as its type is kept as JSON ([`Event::Undecoded`]).
pub fn read(event_type: &str, body: &[u8]) -> Result<Delivery, WebhookError> {
    let record: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::NotJson(DecodeFailure::new(body, &e)))?;
    let Some(fields) = record.as_object() else {
        return Err(WebhookError::NotARecord);
    };
    let record_id = fields
        .get("id")
        .and_then(|id| serde_json::from_value::<Id>(id.clone()).ok());
    let updated_at = fields
        .get("updated_at")
        .and_then(|at| at.as_str())
        .map(str::to_string);
    let key = EventKey {
        event_type: event_type.to_string(),
        record_id,
        updated_at,
    };
    Ok(Delivery {
        event: Event::decode(event_type, body, record),
        key,
    })
}

/// The one value of `name`: absent, repeated, not visible ASCII, or long is refused.
fn header<'a>(headers: &'a http::HeaderMap, name: &'static str) -> Result<&'a str, WebhookError> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(WebhookError::MissingHeader(name))?;
    if values.next().is_some() || value.len() > 256 {
        return Err(WebhookError::InvalidHeader(name));
    }
    value
        .to_str()
        .map_err(|_| WebhookError::InvalidHeader(name))
}

/// 40 hex digits -> 20 bytes.
fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 40 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// One list: event type, variant, record type. The enum, [`EVENT_TYPES`] and the reading are
/// all made from it, so an event type is added in one line.
macro_rules! events {
    ($($variant:ident = $name:literal => $record:ty,)*) => {
        /// A webhook event: one variant per event type SalesLoft sends, carrying the record
        /// the REST API returns for that resource (a deleted record as it was).
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Event {
            $($variant(Box<$record>),)*
            /// An event type this crate does not know yet: its record as JSON, never an error.
            Unknown { event_type: String, record: serde_json::Value },
            /// A known event whose record did not decode as its type: the record as JSON and
            /// why, so nothing is lost.
            Undecoded { event_type: &'static str, record: serde_json::Value, failure: DecodeFailure },
        }

        /// Every event type SalesLoft documents, as `event_type` and `x-salesloft-event` name it.
        pub const EVENT_TYPES: &[&str] = &[$($name,)*];

        impl Event {
            /// `person_created`, ...
            pub fn event_type(&self) -> &str {
                match self {
                    $(Self::$variant(_) => $name,)*
                    Self::Unknown { event_type, .. } => event_type,
                    Self::Undecoded { event_type, .. } => event_type,
                }
            }

            fn decode(event_type: &str, body: &[u8], record: serde_json::Value) -> Self {
                match event_type {
                    $($name => match serde_json::from_slice::<$record>(body) {
                        Ok(typed) => Self::$variant(Box::new(typed)),
                        Err(e) => Self::Undecoded {
                            event_type: $name,
                            record,
                            failure: DecodeFailure::new(body, &e),
                        },
                    },)*
                    _ => Self::Unknown { event_type: event_type.to_string(), record },
                }
            }
        }
    };
}

/// A conversation's record: the document has no schema for it, so it stays JSON.
pub type ConversationRecord = serde_json::Map<String, serde_json::Value>;

events! {
    AccountCreated = "account_created" => types::Account,
    AccountUpdated = "account_updated" => types::Account,
    AccountDeleted = "account_deleted" => types::Account,
    BulkJobCompleted = "bulk_job_completed" => types::BulkJob,
    CadenceCreated = "cadence_created" => types::Cadence,
    CadenceUpdated = "cadence_updated" => types::Cadence,
    CadenceDeleted = "cadence_deleted" => types::Cadence,
    CadenceMembershipCreated = "cadence_membership_created" => types::CadenceMembership,
    CadenceMembershipUpdated = "cadence_membership_updated" => types::CadenceMembership,
    CallCreated = "call_created" => types::Call,
    CallUpdated = "call_updated" => types::Call,
    CallDataRecordCreated = "call_data_record_created" => types::CallDataRecord,
    CallDataRecordUpdated = "call_data_record_updated" => types::CallDataRecord,
    ConversationCreated = "conversation_created" => ConversationRecord,
    ConversationUpdated = "conversation_updated" => ConversationRecord,
    EmailUpdated = "email_updated" => types::Email,
    MeetingBooked = "meeting_booked" => types::Meeting,
    MeetingUpdated = "meeting_updated" => types::Meeting,
    NoteCreated = "note_created" => types::Note,
    NoteUpdated = "note_updated" => types::Note,
    NoteDeleted = "note_deleted" => types::Note,
    PersonCreated = "person_created" => types::Person,
    PersonUpdated = "person_updated" => types::Person,
    PersonDeleted = "person_deleted" => types::Person,
    StepCreated = "step_created" => types::Step,
    StepUpdated = "step_updated" => types::Step,
    StepDeleted = "step_deleted" => types::Step,
    SuccessCreated = "success_created" => types::Success,
    TaskCreated = "task_created" => types::Task,
    TaskUpdated = "task_updated" => types::Task,
    TaskCompleted = "task_completed" => types::Task,
    TaskDeleted = "task_deleted" => types::Task,
    UserCreated = "user_created" => types::User,
    UserUpdated = "user_updated" => types::User,
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    fn headers(event: &str, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(EVENT_HEADER, HeaderValue::from_str(event).unwrap());
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(signature).unwrap());
        headers
    }

    #[test]
    fn the_signature_is_hex_hmac_sha1_of_the_body() {
        // RFC 2202 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn a_signed_delivery_is_a_typed_event_with_its_key() {
        let body = br#"{"id": 7, "email_address": "ada@example.com", "updated_at": "2024-01-02T03:04:05.123456-05:00"}"#;
        let delivery = verify(
            "token",
            &headers("person_created", &signature("token", body)),
            body,
        )
        .unwrap();
        let Event::PersonCreated(person) = &delivery.event else {
            panic!("{:?}", delivery.event)
        };
        assert_eq!(person.email_address.as_deref(), Some("ada@example.com"));
        assert_eq!(delivery.event.event_type(), "person_created");
        assert_eq!(delivery.key.record_id, Some(Id::from(7)));
        assert_eq!(
            delivery.key.updated_at.as_deref(),
            Some("2024-01-02T03:04:05.123456-05:00")
        );
        // Upper-case hex is the same signature.
        let upper = signature("token", body).to_uppercase();
        assert!(verify("token", &headers("person_created", &upper), body).is_ok());
    }

    #[test]
    fn every_refusal_is_its_own_error_with_its_answer() {
        let body = br#"{"id": 1}"#;
        let good = signature("token", body);
        let cases: Vec<(HeaderMap, &[u8], WebhookError)> = vec![
            (
                HeaderMap::new(),
                body,
                WebhookError::MissingHeader(EVENT_HEADER),
            ),
            (
                {
                    let mut h = HeaderMap::new();
                    h.insert(EVENT_HEADER, HeaderValue::from_static("person_created"));
                    h
                },
                body,
                WebhookError::MissingHeader(SIGNATURE_HEADER),
            ),
            (
                headers("Person Created!", &good),
                body,
                WebhookError::InvalidHeader(EVENT_HEADER),
            ),
            (
                headers("person_created", "zz"),
                body,
                WebhookError::SignatureNotHex,
            ),
            (
                headers("person_created", &"g".repeat(40)),
                body,
                WebhookError::SignatureNotHex,
            ),
            (
                headers("person_created", &signature("other", body)),
                body,
                WebhookError::WrongSignature,
            ),
            (
                headers("person_created", &good),
                b"{\"id\": 2}",
                WebhookError::WrongSignature,
            ),
            (
                headers("person_created", &signature("token", b"[1]")),
                b"[1]",
                WebhookError::NotARecord,
            ),
        ];
        for (headers, body, expected) in cases {
            assert_eq!(verify("token", &headers, body).unwrap_err(), expected);
        }
        let mut twice = headers("person_created", &good);
        twice.append(SIGNATURE_HEADER, HeaderValue::from_str(&good).unwrap());
        assert_eq!(
            verify("token", &twice, body).unwrap_err(),
            WebhookError::InvalidHeader(SIGNATURE_HEADER)
        );
        let not_json = b"<html>";
        let err = verify(
            "token",
            &headers("person_created", &signature("token", not_json)),
            not_json,
        )
        .unwrap_err();
        assert!(matches!(err, WebhookError::NotJson(_)), "{err:?}");
        assert_eq!(err.status(), 400);
        assert_eq!(WebhookError::WrongSignature.status(), 401);
        assert_eq!(WebhookError::BodyTooLarge { limit: 1 }.status(), 413);
    }

    #[test]
    fn unknown_types_and_records_that_do_not_decode_are_kept_as_json() {
        let body = br#"{"id": "x1", "anything": true}"#;
        let delivery = read("link_swapped", body).unwrap();
        assert_eq!(delivery.event.event_type(), "link_swapped");
        assert!(
            matches!(&delivery.event, Event::Unknown { record, .. } if record["anything"] == true)
        );

        let body = br#"{"id": 3, "do_not_contact": "maybe"}"#;
        let Event::Undecoded {
            failure, record, ..
        } = read("person_updated", body).unwrap().event
        else {
            panic!("a person whose field does not fit is kept")
        };
        assert_eq!(failure.path, "do_not_contact");
        assert_eq!(record["do_not_contact"], "maybe");
    }

    #[test]
    fn the_list_has_every_documented_event_once() {
        assert_eq!(EVENT_TYPES.len(), 34);
        let unique: std::collections::HashSet<_> = EVENT_TYPES.iter().collect();
        assert_eq!(unique.len(), 34);
        for name in EVENT_TYPES {
            let event = read(name, b"{}").unwrap().event;
            assert_eq!(event.event_type(), *name);
            assert!(
                !matches!(event, Event::Unknown { .. } | Event::Undecoded { .. }),
                "{name}"
            );
        }
    }
}
