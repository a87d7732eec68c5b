//! Bulk jobs as the service runs them (`salesloft-openapi/SERVICE.md`, writes at scale): a job
//! is created `open` with its `type`, takes uploads of records (`POST .../job_data`, at most
//! 5,000 an upload), is marked `ready_to_execute` (it goes `executing`), and is `done` by the
//! next time anyone looks at it: each record applied as one call of the job's type would be,
//! a result per record (`success` or `error`, the input and what it became), the counts on
//! the job, the `bulk_job_completed` webhook. Results page by `id[gt]`, empty until `done`.
//!
//! The job itself is a row of the generic `bulk_jobs` table (its list and `GET` are the
//! generic ones, once ready jobs have run); the uploaded records are kept beside it in
//! `Store::bulk_data`.

use crate::call::{Call, Reply};
use crate::error::ApiError;
use crate::generic::listing::{ListRequest, MAX_PER_PAGE};
use crate::generic::table::{Record, timestamp};
use crate::store::Store;
use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

/// The job types the service documents, and the call each record of them is.
const TYPES: &[&str] = &["person/upsert", "calendar/events/upsert"];

/// The most records one upload takes.
pub const MAX_UPLOAD: usize = 5_000;

/// `GET bulk_jobs[/{id}]`: the generic list and record, once the ready jobs have run (so a
/// poll sees them done).
pub(crate) fn read_jobs(store: &mut Store, call: &Call) -> Result<Reply, ApiError> {
    run_ready_jobs(store, call);
    crate::generic::route(store, call).unwrap_or_else(|| Err(ApiError::not_found()))
}

/// `PUT bulk_jobs/{id}`.
pub(crate) fn update(store: &mut Store, call: &Call, id: &str) -> Result<Reply, ApiError> {
    let key = job_key(store, id)?;
    update_job(store, call, key)
}

/// `POST bulk_jobs/{id}/job_data`.
pub(crate) fn upload(store: &mut Store, call: &Call, id: &str) -> Result<Reply, ApiError> {
    let key = job_key(store, id)?;
    upload_to(store, call, key)
}

/// `GET bulk_jobs/{id}/job_data` and `.../results`, once the ready jobs have run.
pub(crate) fn list_data(
    store: &mut Store,
    call: &Call,
    id: &str,
    results: bool,
) -> Result<Reply, ApiError> {
    run_ready_jobs(store, call);
    let key = job_key(store, id)?;
    list_job_data(store, call, key, results)
}

fn jobs(store: &Store) -> &crate::generic::table::Table {
    store
        .table("bulk_jobs")
        .unwrap_or(&crate::generic::table::EMPTY)
}

fn job_key(store: &Store, id: &str) -> Result<i64, ApiError> {
    id.trim()
        .parse::<i64>()
        .ok()
        .filter(|key| jobs(store).rows.contains_key(key))
        .ok_or_else(ApiError::not_found)
}

fn job_mut(store: &mut Store, key: i64) -> Result<&mut Record, ApiError> {
    store
        .table_mut("bulk_jobs")
        .and_then(|t| t.rows.get_mut(&key))
        .ok_or_else(ApiError::not_found)
}

fn answer(record: &Record) -> Result<Reply, ApiError> {
    Ok(Reply::Json(
        StatusCode::OK,
        json!({"data": record.render()}),
    ))
}

pub(crate) fn create(store: &mut Store, call: &Call) -> Result<Reply, ApiError> {
    let kind = crate::params::str_field(call.body, "type")?
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::invalid("type", "can't be blank"))?;
    if !TYPES.contains(&kind.as_str()) {
        return Err(ApiError::invalid("type", "is not a valid bulk job type"));
    }
    let name = crate::params::str_field(call.body, "name")?;
    let fields = json!({
        "name": name, "type": kind, "state": "open", "ready_to_execute": false,
        "scopes": [], "total": 0, "processed": 0, "errors": 0,
        "marked_ready_at": null, "started_at": null, "finished_at": null,
    });
    let Value::Object(fields) = fields else {
        unreachable!("a JSON object literal")
    };
    let table = store
        .table_mut("bulk_jobs")
        .ok_or_else(ApiError::not_found)?;
    answer(table.insert(call.now, fields))
}

/// `name`, and `ready_to_execute: true`, which sends an open job to run; a job that runs or
/// ran cannot be taken back.
fn update_job(store: &mut Store, call: &Call, key: i64) -> Result<Reply, ApiError> {
    let name = crate::params::str_field(call.body, "name")?;
    let ready = match call.body.get("ready_to_execute") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s == "true" || s == "false" => Some(s == "true"),
        Some(_) => {
            return Err(ApiError::invalid(
                "ready_to_execute",
                "must be true or false",
            ));
        }
    };
    let job = job_mut(store, key)?;
    let open = job.str_field("state") == Some("open");
    match ready {
        Some(true) if open => {
            job.fields.insert("ready_to_execute".into(), json!(true));
            job.fields.insert("state".into(), json!("executing"));
            job.fields
                .insert("marked_ready_at".into(), json!(timestamp(call.now)));
        }
        Some(false) if !open => {
            return Err(ApiError::invalid(
                "ready_to_execute",
                "cannot be undone once the job is executing or done",
            ));
        }
        _ => {}
    }
    if let Some(name) = name {
        job.fields.insert("name".into(), json!(name));
    }
    job.updated_at = call.now;
    answer(job)
}

/// One upload: every record or none (a bad one refuses the upload, naming it).
fn upload_to(store: &mut Store, call: &Call, key: i64) -> Result<Reply, ApiError> {
    if jobs(store).rows[&key].str_field("state") != Some("open") {
        return Err(ApiError::invalid(
            "bulk_job",
            "is not open: records can only be added before it is marked ready",
        ));
    }
    let items = match call.body.get("data") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(ApiError::invalid("data", "can't be blank"));
        }
        Some(_) => return Err(ApiError::invalid("data", "must be an array of records")),
    };
    if items.len() > MAX_UPLOAD {
        return Err(ApiError::invalid("data", "must be 5,000 records or less"));
    }
    // A record is an object; the document declares strings, so a JSON object in a string is
    // taken too.
    let records: Vec<Map<String, Value>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let object = match item {
                Value::Object(map) => Some(map.clone()),
                Value::String(text) => serde_json::from_str(text).ok(),
                _ => None,
            };
            object.ok_or_else(|| ApiError::invalid(&format!("data[{i}]"), "is not a record"))
        })
        .collect::<Result<_, _>>()?;
    let count = records.len();
    for record in records {
        let fields = json!({
            "bulk_job": {"id": key}, "record": record, "status": "pending",
            "error": null, "resource": null, "started_at": null, "finished_at": null,
        });
        if let Value::Object(fields) = fields {
            store.bulk_data.insert(call.now, fields);
        }
    }
    let job = job_mut(store, key)?;
    let total = job.fields.get("total").and_then(Value::as_i64).unwrap_or(0);
    job.fields
        .insert("total".into(), json!(total + count as i64));
    job.updated_at = call.now;
    Ok(Reply::Json(
        StatusCode::OK,
        json!({"data": {"records": count}}),
    ))
}

/// A job's uploaded records (`job_data`, as they stand) or its `results` (none until the job
/// is done), by `id[gt]`, `status[]` and `per_page`, in id order.
fn list_job_data(store: &Store, call: &Call, key: i64, results: bool) -> Result<Reply, ApiError> {
    let mut request = ListRequest::parse(call.params, &[])?;
    request.page = 1;
    request.per_page = request.per_page.min(MAX_PER_PAGE);
    let after = match call.params.get("id[gt]") {
        Some(text) => Some(
            text.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::invalid("id", "is not a valid value"))?,
        ),
        None => None,
    };
    let statuses = call.params.list("status");
    if results && jobs(store).rows[&key].str_field("state") != Some("done") {
        return Ok(Reply::Json(StatusCode::OK, request.envelope(Vec::new(), 0)));
    }
    let matching: Vec<&Record> = store
        .bulk_data
        .rows
        .values()
        .filter(|r| r.fields["bulk_job"]["id"] == json!(key))
        .filter(|r| after.is_none_or(|after| r.id > after))
        .filter(|r| {
            statuses.as_ref().is_none_or(|wanted| {
                r.str_field("status")
                    .is_some_and(|s| wanted.iter().any(|w| w.trim().eq_ignore_ascii_case(s)))
            })
        })
        .collect();
    let total = matching.len() as u64;
    let data = matching
        .iter()
        .take(request.per_page as usize)
        .map(|r| {
            let mut shown = r.render();
            if results {
                let f = &r.fields;
                shown = json!({"id": r.id, "status": f["status"], "error": f["error"],
                    "record": f["record"], "resource": f["resource"]});
            }
            shown
        })
        .collect();
    Ok(Reply::Json(StatusCode::OK, request.envelope(data, total)))
}

/// Runs every job marked ready whose time has come (`Config::bulk_job_seconds` after it was
/// marked): each record as one call of the job's type (by the same code as that call, its
/// webhooks included), then the job `done` with its counts and the `bulk_job_completed`
/// webhook.
fn run_ready_jobs(store: &mut Store, call: &Call) {
    let takes = chrono::Duration::seconds(store.config.bulk_job_seconds);
    let ready: Vec<i64> = jobs(store)
        .rows
        .values()
        .filter(|job| job.str_field("state") == Some("executing"))
        .filter(|job| job.updated_at + takes <= call.now)
        .map(|job| job.id)
        .collect();
    for key in ready {
        let kind = jobs(store).rows[&key]
            .str_field("type")
            .unwrap_or_default()
            .to_string();
        let pending: Vec<i64> = store
            .bulk_data
            .rows
            .values()
            .filter(|r| {
                r.fields["bulk_job"]["id"] == json!(key) && r.str_field("status") == Some("pending")
            })
            .map(|r| r.id)
            .collect();
        let mut errors = 0;
        for id in &pending {
            let record = match store.bulk_data.rows[id].fields.get("record") {
                Some(Value::Object(record)) => record.clone(),
                _ => Map::new(),
            };
            let outcome = apply(store, call, &kind, &record);
            let row = store
                .bulk_data
                .rows
                .get_mut(id)
                .expect("the pending row is still there");
            let at = json!(timestamp(call.now));
            row.fields.insert("started_at".into(), at.clone());
            row.fields.insert("finished_at".into(), at);
            row.updated_at = call.now;
            match outcome {
                Ok(resource) => {
                    row.fields.insert("status".into(), json!("success"));
                    row.fields.insert("resource".into(), resource);
                }
                Err(message) => {
                    errors += 1;
                    row.fields.insert("status".into(), json!("error"));
                    row.fields.insert("error".into(), json!(message));
                }
            }
        }
        let Ok(job) = job_mut(store, key) else {
            continue;
        };
        // A job runs once, all its records at a time.
        let at = json!(timestamp(call.now));
        job.fields.insert("state".into(), json!("done"));
        job.fields.insert("processed".into(), json!(pending.len()));
        job.fields.insert("errors".into(), json!(errors));
        job.fields.insert("started_at".into(), at.clone());
        job.fields.insert("finished_at".into(), at);
        job.updated_at = call.now;
        let rendered = job.render();
        store.outbox.emit("bulk_job_completed", &rendered, call.now);
    }
}

/// One record of a job: the resource it became, or why not (the message a 422 would carry).
fn apply(
    store: &mut Store,
    call: &Call,
    kind: &str,
    record: &Map<String, Value>,
) -> Result<Value, String> {
    let one = |segments| Call {
        method: &Method::POST,
        segments,
        params: call.params,
        body: record,
        user_id: call.user_id,
        now: call.now,
    };
    let data = |reply: Result<Reply, ApiError>| match reply.map_err(|e| message_of(&e))? {
        Reply::Json(_, mut body) => Ok(body["data"].take()),
        _ => Err("no record was written".to_string()),
    };
    match kind {
        "person/upsert" => {
            let mut answer = data(super::upserts::upsert_person(
                store,
                &one(vec!["person_upserts"]),
            ))?;
            let (event, person) = crate::outbox::upserted("person", &mut answer);
            store.outbox.emit(&event, &person, call.now);
            Ok(person)
        }
        _ => data(super::calendar_events::upsert_calendar_event(
            store,
            &one(vec!["calendar", "events", "upsert"]),
        )),
    }
}

/// A refusal as one line: `email_address can't be blank`, or the error's own text.
fn message_of(error: &ApiError) -> String {
    if let Some(errors) = error.body.get("errors").and_then(Value::as_object) {
        let parts: Vec<String> = errors
            .iter()
            .flat_map(|(field, messages)| {
                let messages = messages.as_array().cloned().unwrap_or_default();
                messages
                    .into_iter()
                    .map(move |m| format!("{field} {}", m.as_str().unwrap_or_default()))
            })
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    error
        .body
        .get("error")
        .and_then(Value::as_str)
        .map_or_else(|| format!("refused ({})", error.status), str::to_string)
}
