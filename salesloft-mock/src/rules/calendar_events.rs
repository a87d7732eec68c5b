//! `POST /v2/calendar/events/upsert`: a calendar event keyed by its `i_cal_uid` in its
//! calendar.

use super::resource;
use crate::call::{Call, Reply};
use crate::error::ApiError;
use crate::generic;
use crate::generic::table::Record;
use crate::store::Store;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// `POST /v2/calendar/events/upsert`: the event with the body's `i_cal_uid` in the body's
/// `calendar_id` is updated, or a new one is made; `id` is the calendar provider's own (kept
/// as sent: a string). Required: `id`, `i_cal_uid`, `start_time`, `end_time`, `calendar_id`.
pub(crate) fn upsert_calendar_event(store: &mut Store, call: &Call) -> Result<Reply, ApiError> {
    let resource = resource("calendar/events")?;
    generic::require(
        call,
        &["id", "i_cal_uid", "start_time", "end_time", "calendar_id"],
    )?;
    // Every field the event shows may be sent (the upsert body is the event), checked by kind.
    let writable: Vec<String> = resource
        .fields
        .iter()
        .map(|f| f.name.clone())
        .filter(|name| !matches!(name.as_str(), "created_at" | "updated_at"))
        .collect();
    let mut written = generic::written_fields(store, resource, &writable, call.body)?;
    // The rule leaves ids alone: the provider's is kept as text, as sent.
    let provider_id = match &call.body["id"] {
        Value::String(text) => text.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return Err(ApiError::invalid("id", "is not a valid value")),
    };
    written.insert("id".into(), json!(provider_id));
    let same = |r: &Record| {
        r.fields.get("i_cal_uid") == written.get("i_cal_uid")
            && r.fields.get("calendar_id") == written.get("calendar_id")
    };
    let existing = store
        .table("calendar/events")
        .and_then(|t| t.rows.values().find(|r| same(r)).map(|r| r.id));
    let fields = match existing {
        Some(_) => written,
        None => {
            let mut fields = generic::new_fields(store, resource, call.user_id);
            fields.extend(written);
            fields
        }
    };
    let table = store
        .table_mut("calendar/events")
        .ok_or_else(ApiError::not_found)?;
    let record = match existing.and_then(|key| table.rows.get_mut(&key)) {
        Some(record) => {
            record.fields.extend(fields);
            record.updated_at = call.now;
            &*record
        }
        // Inserted as is: the provider's id stays among the fields, so it is what shows.
        None => table.insert(call.now, fields),
    };
    Ok(Reply::Json(
        StatusCode::CREATED,
        json!({"data": record.render()}),
    ))
}
