//! The resources with rules of their own, a file each; everything else follows the rule every
//! resource follows (`generic`). Who answers which route is `routes`'s table.

pub mod accounts;
pub mod bulk;
pub mod cadences;
pub mod calendar_events;
pub mod memberships;
pub mod people;
pub mod team;
pub mod upserts;
pub mod users;
pub mod webhook_subscriptions;

use crate::call::Reply;
use crate::error::ApiError;
use crate::generic::catalog::catalog;
use crate::generic::table::{Record, Table};
use crate::params::str_field;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

pub(crate) fn ok(value: Value) -> Result<Reply, ApiError> {
    Ok(Reply::Json(StatusCode::OK, value))
}

/// `{"data": record}`, serialized from the record itself without building a JSON value first
/// (the hot path of GET person).
pub(crate) fn one(record: &Record) -> Result<Reply, ApiError> {
    #[derive(serde::Serialize)]
    struct Envelope<'a> {
        data: &'a Record,
    }
    let bytes =
        serde_json::to_vec(&Envelope { data: record }).map_err(|_| ApiError::not_found())?;
    Ok(Reply::Bytes(StatusCode::OK, bytes))
}

pub(crate) fn get(table: &Table, id: i64) -> Result<Reply, ApiError> {
    table
        .rows
        .get(&id)
        .ok_or_else(ApiError::not_found)
        .and_then(one)
}

/// The catalog's entry of a resource these hooks serve (each is a list resource of the spec).
pub(crate) fn resource(name: &str) -> Result<&'static crate::generic::catalog::Resource, ApiError> {
    catalog().find(name).ok_or_else(ApiError::not_found)
}

/// Copies the writable fields of `body` into `fields`, checking their JSON types loosely.
pub(crate) fn copy_writable(
    fields: &mut Map<String, Value>,
    body: &Map<String, Value>,
    writable: &[&str],
) -> Result<(), ApiError> {
    for &name in writable {
        let Some(value) = body.get(name) else {
            continue;
        };
        let value = match name {
            "tags" | "contact_restrictions" => match value {
                Value::Array(_) | Value::Null => value.clone(),
                Value::String(s) => json!(
                    s.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                ),
                _ => return Err(ApiError::invalid(name, "must be a list")),
            },
            "custom_fields" => match value {
                Value::Object(_) | Value::Null => value.clone(),
                _ => return Err(ApiError::invalid(name, "must be an object")),
            },
            "do_not_contact" | "eu_resident" => match value {
                Value::Bool(_) | Value::Null => value.clone(),
                Value::String(s) => json!(s == "true" || s == "1"),
                _ => return Err(ApiError::invalid(name, "must be true or false")),
            },
            _ => match str_field(body, name)? {
                Some(s) => json!(s),
                None => Value::Null,
            },
        };
        fields.insert(name.to_string(), value);
    }
    Ok(())
}

/// A path's integer id, or 404 (the service answers a malformed id as an unknown one).
pub(crate) fn id(text: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| ApiError::not_found())
}

/// Seeds `request.count` records of `resource`: made from its schema (`generic::seed`) with
/// the rules of its own (`seeded`); memberships pair people and cadences not paired yet.
pub fn seed(
    store: &mut crate::store::Store,
    resource: &crate::generic::catalog::Resource,
    now: chrono::DateTime<chrono::Utc>,
    request: crate::generic::seed::SeedRequest,
) {
    match resource.name.as_str() {
        "cadence_memberships" => {
            let mut rng = crate::generic::seed::rng_for(resource, request);
            memberships::seed_memberships(store, resource, now, request, &mut rng)
        }
        _ => crate::generic::seed::seed(store, resource, now, request, seeded),
    }
}

/// The seed hook: what a resource's own rules fix on a seeded record.
fn seeded(resource: &crate::generic::catalog::Resource, fields: &mut Map<String, Value>) {
    match resource.name.as_str() {
        "people" => people::seeded(fields),
        "webhook_subscriptions" => webhook_subscriptions::seeded(fields),
        _ => {}
    }
}
