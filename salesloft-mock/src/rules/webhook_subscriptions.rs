//! Webhook subscriptions: a table of their own beside the outbox (which delivers to them), not
//! paged, a thousand at most; a new one is enabled, a seeded one disabled (its callback URL is an
//! example: nothing to deliver to).

use crate::call::{Call, Reply};
use crate::error::ApiError;
use crate::generic::table::{Record, Table};
use crate::outbox::{EVENT_TYPES, MAX_SUBSCRIPTIONS, text};
use crate::store::Store;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

fn found(table: &Table, raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| table.rows.contains_key(id))
        .ok_or_else(ApiError::not_found)
}

pub(crate) fn get(store: &Store, raw: &str) -> Result<Reply, ApiError> {
    let subscriptions = &store.outbox.subscriptions;
    found(subscriptions, raw).map(|id| one(&subscriptions.rows[&id], StatusCode::OK))
}

/// Only `enabled` changes.
pub(crate) fn update(store: &mut Store, call: &Call, raw: &str) -> Result<Reply, ApiError> {
    let subscriptions = &mut store.outbox.subscriptions;
    let id = found(subscriptions, raw)?;
    let record = subscriptions.rows.get_mut(&id).expect("found");
    match call.body.get("enabled") {
        Some(Value::Bool(enabled)) => {
            record.fields.insert("enabled".into(), json!(enabled));
            record.updated_at = call.now;
        }
        Some(_) => return Err(ApiError::invalid("enabled", "must be true or false")),
        None => {}
    }
    Ok(one(record, StatusCode::OK))
}

pub(crate) fn delete(store: &mut Store, raw: &str) -> Result<Reply, ApiError> {
    let subscriptions = &mut store.outbox.subscriptions;
    let id = found(subscriptions, raw)?;
    subscriptions.rows.remove(&id);
    Ok(Reply::NoContent)
}

/// Seeding: a seeded subscription is disabled.
pub(crate) fn seeded(fields: &mut Map<String, Value>) {
    fields.insert("enabled".into(), json!(false));
}

/// The service's subscription list is not paged (SERVICE.md §2): `data` only.
pub(crate) fn list(store: &Store, call: &Call) -> Result<Reply, ApiError> {
    let subscriptions = &store.outbox.subscriptions;
    let enabled = call.params.get("enabled").map(|v| v == "true");
    let data: Vec<Value> = subscriptions
        .rows
        .values()
        .filter(|s| enabled.is_none_or(|e| s.fields.get("enabled") == Some(&json!(e))))
        .map(Record::render)
        .collect();
    Ok(Reply::Json(StatusCode::OK, json!({ "data": data })))
}

pub(crate) fn create(store: &mut Store, call: &Call) -> Result<Reply, ApiError> {
    let team_id = store.team_id;
    let subscriptions = &mut store.outbox.subscriptions;
    if subscriptions.rows.len() >= MAX_SUBSCRIPTIONS {
        return Err(ApiError::invalid(
            "event_type",
            "too many webhook subscriptions (the sandbox keeps 1000)",
        ));
    }
    let mut fields = Map::new();
    for name in ["callback_url", "callback_token", "event_type"] {
        match call.body.get(name).and_then(Value::as_str).map(str::trim) {
            Some(value) if !value.is_empty() && value.len() <= 2048 => {
                fields.insert(name.into(), json!(value));
            }
            _ => return Err(ApiError::invalid(name, "can't be blank")),
        }
    }
    let url = text(&fields, "callback_url");
    if url::Url::parse(&url).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
        return Err(ApiError::invalid("callback_url", "is not a URL"));
    }
    if !EVENT_TYPES.contains(&text(&fields, "event_type").as_str()) {
        return Err(ApiError::invalid(
            "event_type",
            "is not a webhook event type",
        ));
    }
    fields.insert("enabled".into(), json!(true));
    fields.insert("tenant_id".into(), json!(team_id));
    fields.insert(
        "user_guid".into(),
        json!(format!("00000000-0000-4000-8000-{:012}", call.user_id)),
    );
    let record = subscriptions.insert(call.now, fields);
    Ok(one(record, StatusCode::OK))
}

fn one(record: &Record, status: StatusCode) -> Reply {
    Reply::Json(status, json!({ "data": record.render() }))
}
