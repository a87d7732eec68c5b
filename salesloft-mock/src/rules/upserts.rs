//! `POST /v2/person_upserts` and `/v2/account_upserts`: create or update by a key, with the
//! rules of people and accounts; their webhook says which happened.

use super::accounts::{create_account, domain_key, update_account};
use super::ok;
use super::people::{create_person, email_key, has_email_key, update_person};
use crate::call::{Call, Reply};
use crate::error::ApiError;
use crate::generic::table::Record;
use crate::params::str_field;
use crate::store::Store;
use serde_json::{Value, json};

// ---- upserts ----

#[derive(Clone, Copy)]
enum Upsert {
    Person,
    Account,
}

/// `POST /v2/person_upserts` with `call`'s body (a bulk job's record, say).
pub(crate) fn upsert_person(store: &mut Store, call: &Call) -> Result<Reply, ApiError> {
    upsert(store, call, Upsert::Person)
}

/// `POST /v2/account_upserts`.
pub(crate) fn upsert_account(store: &mut Store, call: &Call) -> Result<Reply, ApiError> {
    upsert(store, call, Upsert::Account)
}

/// `POST /v2/person_upserts` and `/v2/account_upserts`: the record whose `upsert_key` field
/// has the body's value is updated, or a new one is created, with the same rules as create
/// and update; the answer says which (`{"data": {"person": ..., "upsert_type": "create"}}`).
fn upsert(store: &mut Store, call: &Call, kind: Upsert) -> Result<Reply, ApiError> {
    let (keys, name): (&[&str], &str) = match kind {
        Upsert::Person => (&["id", "crm_id", "email_address"], "person"),
        Upsert::Account => (&["id", "crm_id", "domain"], "account"),
    };
    let key = str_field(call.body, "upsert_key")?
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::invalid("upsert_key", "can't be blank"))?;
    let key = key.as_str();
    if !keys.contains(&key) {
        return Err(ApiError::invalid(
            "upsert_key",
            "is not a key this resource upserts on",
        ));
    }
    let value = match call.body.get(key) {
        Some(Value::String(text)) if !text.trim().is_empty() => text.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(ApiError::invalid(key, "can't be blank")),
    };
    let table = match kind {
        Upsert::Person => &store.people,
        Upsert::Account => &store.accounts,
    };
    let value_key = email_key(&value);
    let same = |record: &Record| match key {
        "id" => record.id.to_string() == value,
        "email_address" => record
            .str_field(key)
            .is_some_and(|e| has_email_key(e, &value_key)),
        "domain" => record
            .str_field(key)
            .is_some_and(|d| domain_key(d) == domain_key(&value)),
        _ => record.str_field(key) == Some(value.as_str()),
    };
    let existing = table.rows.values().find(|r| same(r)).map(|r| r.id);
    let (reply, upsert_type) = match (kind, existing) {
        (Upsert::Person, Some(id)) => (update_person(store, call, id)?, "update"),
        (Upsert::Account, Some(id)) => (update_account(store, call, id)?, "update"),
        (_, None) if key == "id" => return Err(ApiError::not_found()),
        (Upsert::Person, None) => (create_person(store, call)?, "create"),
        (Upsert::Account, None) => (create_account(store, call)?, "create"),
    };
    let record = match reply {
        Reply::Json(_, mut body) => body["data"].take(),
        Reply::Bytes(_, bytes) => serde_json::from_slice::<Value>(&bytes)
            .map(|mut body| body["data"].take())
            .unwrap_or(Value::Null),
        Reply::NoContent => Value::Null,
    };
    ok(json!({"data": {name: record, "upsert_type": upsert_type}}))
}
