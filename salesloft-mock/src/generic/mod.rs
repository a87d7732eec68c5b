//! The rule every list resource follows, written once over its [`Resource`] from the spec:
//! list (paging, sorting, the declared filters), get, create, update and delete on its table,
//! identifiers in the resource's form, references rendered as the service embeds them.
//! Resources with rules of their own (people, accounts, cadences, memberships, users, bulk
//! jobs, webhook subscriptions) are answered by `rules` first, as `routes` tells, and use the
//! pieces here for what they share.

pub mod catalog;
pub mod listing;
pub mod seed;
pub mod table;

use crate::call::{Call, Reply};
use crate::error::ApiError;
use crate::generic::catalog::{Filter, IdForm, Kind, Resource, catalog};
use crate::generic::listing::ListRequest;
use crate::generic::table::{Record, Table};
use crate::params::Comparison;
use crate::store::Store;
use axum::http::{Method, StatusCode};
use chrono::{DateTime, NaiveDate, Utc};
use salesloft_openapi::schema::ListPaging;
use serde_json::{Map, Value, json};

pub use crate::generic::table::guid_of;

/// The row a path or filter id names: an integer, or the GUID form of one.
pub fn key_of(form: IdForm, text: &str) -> Option<i64> {
    let text = text.trim();
    match form {
        IdForm::Guid => text
            .strip_prefix("5eed0000-0000-4000-8000-")
            .and_then(|hex| i64::from_str_radix(hex, 16).ok())
            .or_else(|| text.parse().ok()),
        _ => text.parse().ok(),
    }
}

/// The id of row `key` as the resource sends it.
pub fn id_value(form: IdForm, key: i64) -> Value {
    match form {
        IdForm::Guid => json!(guid_of(key)),
        _ => json!(key),
    }
}

/// `{"_href", "id"}` of row `key` of `resource`, as other records embed it.
pub fn embedded(base: &str, resource: &str, key: i64) -> Value {
    let form = catalog()
        .find(resource)
        .map_or(IdForm::Integer, |r| r.id_form);
    let id = id_value(form, key);
    let shown = id.as_str().map_or_else(|| key.to_string(), str::to_string);
    json!({"_href": format!("{base}/v2/{resource}/{shown}"), "id": id})
}

/// The key of an embedded reference (`{"id": 5}` or `{"id": "5eed..."}`).
pub fn embedded_key(fields: &Map<String, Value>, name: &str) -> Option<i64> {
    match fields.get(name)?.get("id")? {
        Value::Number(n) => n.as_i64(),
        Value::String(text) => key_of(IdForm::Guid, text),
        _ => None,
    }
}

/// Handles a call on a list resource's table; `None` when the path is not one of them or the
/// spec declares no such operation on it.
pub fn route(store: &mut Store, call: &Call) -> Option<Result<Reply, ApiError>> {
    let (resource, id) = catalog().for_path(&call.segments)?;
    let m = call.method;
    let result = match id {
        Some("searches") if m == Method::POST && resource.searched => {
            list(store, resource, call, |_| true)
        }
        None if m == Method::GET && !resource.searched => list(store, resource, call, |_| true),
        None if m == Method::POST && resource.create => create(store, resource, call),
        Some(id) if m == Method::GET && resource.get => get(store, resource, id),
        Some(id) if m == Method::PUT && resource.update => update(store, resource, call, id),
        Some(id) if m == Method::DELETE && resource.delete => delete(store, resource, id),
        _ => return None,
    };
    Some(result)
}

/// The row named by a path segment, or 404.
fn row<'a>(table: &'a Table, resource: &Resource, id: &str) -> Result<&'a Record, ApiError> {
    key_of(resource.id_form, id)
        .and_then(|key| table.rows.get(&key))
        .ok_or_else(ApiError::not_found)
}

fn table<'a>(store: &'a Store, resource: &Resource) -> &'a Table {
    store
        .table(&resource.name)
        .unwrap_or(&crate::generic::table::EMPTY)
}

fn table_mut<'a>(store: &'a mut Store, resource: &Resource) -> Result<&'a mut Table, ApiError> {
    store
        .table_mut(&resource.name)
        .ok_or_else(ApiError::not_found)
}

fn get(store: &Store, resource: &Resource, id: &str) -> Result<Reply, ApiError> {
    let record = row(table(store, resource), resource, id)?;
    Ok(Reply::Json(
        StatusCode::OK,
        json!({"data": record.render()}),
    ))
}

/// The list as the service answers it: the declared filters, `extra` (a hook's own), the
/// sort where declared, the page; no `paging` for the lists the service sends without.
pub fn list(
    store: &Store,
    resource: &Resource,
    call: &Call,
    extra: impl Fn(&Record) -> bool,
) -> Result<Reply, ApiError> {
    list_with(store, resource, call, &[], extra)
}

/// [`list`], leaving the parameters named in `hooked` to `extra` (a hook that compares them
/// its own way: domains as host names, say).
pub fn list_with(
    store: &Store,
    resource: &Resource,
    call: &Call,
    hooked: &[&str],
    extra: impl Fn(&Record) -> bool,
) -> Result<Reply, ApiError> {
    require(call, &resource.list_requires)?;
    let mut request = ListRequest::parse(call.params, &resource.sortable)?;
    match resource.paging {
        ListPaging::Pages => {}
        // Walked by `id[gt]`: `page` is not taken, ids ascend.
        ListPaging::AfterId => request.by_ascending_id(),
        // An unpaged list is the whole list.
        ListPaging::Whole => {
            request.page = 1;
            request.per_page = u64::MAX;
        }
    }
    let filters = Filters::parse(resource, call, hooked)?;
    let mut body = request.respond(table(store, resource).rows.values(), |r| {
        filters.keep(r) && extra(r)
    });
    if resource.paging == ListPaging::Whole
        && let Some(metadata) = body["metadata"].as_object_mut()
    {
        metadata.remove("paging");
    }
    Ok(Reply::Json(StatusCode::OK, body))
}

/// A bracket filter's bounds: `[gt]`, `[lte]`, ... and their times.
type Bounds = Vec<(Comparison, DateTime<Utc>)>;

/// A list's filters with their values read (a value that cannot be read is a 422).
struct Filters<'r> {
    ids: Option<Vec<i64>>,
    brackets: Vec<(&'r str, Bounds)>,
    after: Option<i64>,
    references: Vec<(&'r str, Vec<String>)>,
    equal: Vec<(&'r str, Vec<String>)>,
    keyed: Vec<(&'r str, Vec<(String, String)>)>,
}

impl<'r> Filters<'r> {
    fn parse(resource: &'r Resource, call: &Call, hooked: &[&str]) -> Result<Self, ApiError> {
        let mut filters = Self {
            ids: None,
            brackets: Vec::new(),
            after: None,
            references: Vec::new(),
            equal: Vec::new(),
            keyed: Vec::new(),
        };
        let bad = |name: &str| ApiError::invalid(name, "is not a valid value");
        for filter in &resource.filters {
            match filter {
                Filter::Ids => {
                    if let Some(values) = call.params.list("ids") {
                        let keys: Option<Vec<i64>> =
                            values.iter().map(|v| key_of(resource.id_form, v)).collect();
                        filters.ids = Some(keys.ok_or_else(|| bad("ids"))?);
                    }
                }
                Filter::Bracket { param, field } => {
                    let bounds = call.params.time_filters(param)?;
                    if !bounds.is_empty() {
                        filters.brackets.push((field, bounds));
                    }
                }
                Filter::IdAfter => {
                    if let Some(value) = call.params.get("id[gt]") {
                        filters.after = Some(value.trim().parse().map_err(|_| bad("id"))?);
                    }
                }
                Filter::Reference { param, field } => {
                    if let Some(values) = call.params.list(param) {
                        if values.iter().any(|v| v.trim().is_empty()) {
                            return Err(bad(param));
                        }
                        filters.references.push((field, values));
                    }
                }
                Filter::Equal { param, .. } if hooked.contains(&param.as_str()) => {}
                Filter::Equal { param, field } => {
                    if let Some(values) = call.params.list(param) {
                        filters.equal.push((field, values));
                    }
                }
                Filter::Keyed { param, field } => {
                    let conditions = call.params.keyed(param);
                    if !conditions.is_empty() {
                        filters.keyed.push((field, conditions));
                    }
                }
            }
        }
        Ok(filters)
    }

    fn keep(&self, record: &Record) -> bool {
        self.ids.as_ref().is_none_or(|ids| ids.contains(&record.id))
            && self.after.is_none_or(|after| record.id > after)
            && self.brackets.iter().all(|(field, bounds)| {
                time_of(record, field)
                    .is_some_and(|at| bounds.iter().all(|(c, bound)| c.holds(at, *bound)))
            })
            && self.references.iter().all(|(field, values)| {
                let id = record.fields.get(*field).and_then(|r| r.get("id"));
                id.is_some_and(|id| values.iter().any(|v| same_text(id, v)))
            })
            && self.equal.iter().all(|(field, values)| {
                let value = match *field {
                    "id" => Some(json!(record.id)),
                    _ => record.fields.get(*field).cloned(),
                };
                value.is_some_and(|value| values.iter().any(|v| same_text(&value, v)))
            })
            && self.keyed.iter().all(|(field, conditions)| {
                let map = record.fields.get(*field).and_then(Value::as_object);
                conditions
                    .iter()
                    .all(|(key, value)| keyed_match(map.and_then(|m| m.get(key)), value))
            })
    }
}

/// One `name[key]=value` condition on a map's entry (`None` when the map has no `key`): the
/// value compared as text without case; `_is_null` asks for an entry that is null, `_unmapped`
/// for none at all (the service's words for user relationships; the same rule for every map).
fn keyed_match(entry: Option<&Value>, value: &str) -> bool {
    match (value.trim(), entry) {
        ("_unmapped", entry) => entry.is_none(),
        ("_is_null", entry) => entry.is_some_and(Value::is_null),
        (_, Some(Value::Object(reference))) => reference
            .get("id")
            .or_else(|| reference.get("name"))
            .is_some_and(|v| same_text(v, value)),
        (_, Some(entry)) => same_text(entry, value),
        (_, None) => false,
    }
}

/// Whether a JSON scalar reads as `text` (text compared without case, as the service does).
fn same_text(value: &Value, text: &str) -> bool {
    let text = text.trim();
    match value {
        Value::String(s) => s.eq_ignore_ascii_case(text),
        Value::Number(n) => n.to_string() == text,
        Value::Bool(b) => b.to_string() == text.to_ascii_lowercase(),
        _ => false,
    }
}

/// A record's time field: its own timestamps, or a date-time or date it carries.
fn time_of(record: &Record, field: &str) -> Option<DateTime<Utc>> {
    match field {
        "updated_at" => Some(record.updated_at),
        "created_at" => Some(record.created_at),
        _ => {
            let text = record.fields.get(field)?.as_str()?;
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .ok()
                .or_else(|| {
                    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
                    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
                })
        }
    }
}

/// The fields a create or update sets from its body: each the record has and the body may
/// write, checked against the field's kind; `<name>_id` sets the reference `<name>`, which
/// must exist (422 otherwise).
pub(crate) fn written_fields(
    store: &Store,
    resource: &Resource,
    writable: &[String],
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let mut fields = Map::new();
    if let Some(association) = associated(store, resource, body)? {
        fields.insert("associated_with".into(), association.0);
        fields.insert("associated_type".into(), json!(association.1));
    }
    for (name, value) in body {
        if !writable.contains(name) || name == "id" || name.starts_with("associated_with") {
            continue;
        }
        if let Some(reference) = name.strip_suffix("_id")
            && let Some(field) = resource.field(reference)
            && let Kind::Reference(target) = &field.kind
        {
            let value = match (value, target) {
                (Value::Null, _) => Value::Null,
                (_, Some(target)) => {
                    let key = match value {
                        Value::Number(n) => n.as_i64(),
                        Value::String(s) => key_of(IdForm::Guid, s),
                        _ => None,
                    };
                    let exists =
                        key.filter(|k| store.table(target).is_some_and(|t| t.rows.contains_key(k)));
                    match exists {
                        Some(key) => embedded(&store.base_url, target, key),
                        None => return Err(ApiError::invalid(reference, "must exist")),
                    }
                }
                (_, None) => json!({"id": value}),
            };
            fields.insert(reference.to_string(), value);
            continue;
        }
        let Some(field) = resource.field(name) else {
            continue;
        };
        let fits = matches!(
            (&field.kind, value),
            (_, Value::Null)
                | (Kind::Text | Kind::DateTime | Kind::Date, Value::String(_))
                | (Kind::Integer | Kind::Number, Value::Number(_))
                | (Kind::Boolean, Value::Bool(_))
                | (Kind::Id(_), Value::Number(_) | Value::String(_))
                | (Kind::Json, Value::Object(_) | Value::Array(_))
        );
        if !fits {
            return Err(ApiError::invalid(name, "is not a valid value"));
        }
        if matches!(field.kind, Kind::DateTime)
            && let Value::String(text) = value
            && DateTime::parse_from_rfc3339(text).is_err()
        {
            return Err(ApiError::invalid(name, "is not a valid date-time"));
        }
        fields.insert(name.clone(), value.clone());
    }
    Ok(fields)
}

/// Hook: a note names what it belongs to by `associated_with_type` (`person` or `account`,
/// any case) and `associated_with_id`, which must exist.
fn associated(
    store: &Store,
    resource: &Resource,
    body: &Map<String, Value>,
) -> Result<Option<(Value, String)>, ApiError> {
    if resource.field("associated_with").is_none() || !body.contains_key("associated_with_id") {
        return Ok(None);
    }
    let kind = body
        .get("associated_with_type")
        .and_then(Value::as_str)
        .map(|k| k.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let table = match kind.as_str() {
        "person" => "people",
        "account" => "accounts",
        _ => {
            return Err(ApiError::invalid(
                "associated_with_type",
                "must be person or account",
            ));
        }
    };
    let key = crate::params::int_field(body, "associated_with_id")?
        .filter(|k| store.table(table).is_some_and(|t| t.rows.contains_key(k)))
        .ok_or_else(|| ApiError::invalid("associated_with_id", "must exist"))?;
    Ok(Some((embedded(&store.base_url, table, key), kind)))
}

/// 422 `can't be blank` for the first of `names` the call leaves null or blank (in its body
/// or its query).
pub(crate) fn require(call: &Call, names: &[impl AsRef<str>]) -> Result<(), ApiError> {
    for name in names.iter().map(AsRef::as_ref) {
        let blank = |v: &Value| v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty());
        if call.body.get(name).is_none_or(blank) && !call.params.has(name) {
            return Err(ApiError::invalid(name, "can't be blank"));
        }
    }
    Ok(())
}

/// The fields of a new record of `resource` before its body is written: null, but for the
/// user who made it (`user`, `owner`, ...).
pub(crate) fn new_fields(store: &Store, resource: &Resource, user_id: i64) -> Map<String, Value> {
    let caller = embedded(&store.base_url, "users", user_id);
    resource
        .fields
        .iter()
        .filter(|f| !matches!(f.name.as_str(), "id" | "created_at" | "updated_at"))
        .map(|f| {
            let by_caller = f.kind == Kind::Reference(Some("users".into()))
                && crate::generic::catalog::USER_REFERENCES
                    .iter()
                    .chain(&["user"])
                    .any(|role| f.name == *role);
            let value = if by_caller {
                caller.clone()
            } else {
                Value::Null
            };
            (f.name.clone(), value)
        })
        .collect()
}

fn create(store: &mut Store, resource: &Resource, call: &Call) -> Result<Reply, ApiError> {
    require(call, &resource.required)?;
    let written = written_fields(store, resource, &resource.creatable, call.body)?;
    let mut fields = new_fields(store, resource, call.user_id);
    fields.extend(written);
    let table = table_mut(store, resource)?;
    let record = table.insert_as(call.now, fields, resource.id_form);
    Ok(Reply::Json(
        StatusCode::OK,
        json!({"data": record.render()}),
    ))
}

fn update(
    store: &mut Store,
    resource: &Resource,
    call: &Call,
    id: &str,
) -> Result<Reply, ApiError> {
    let key = row(table(store, resource), resource, id)?.id;
    let written = written_fields(store, resource, &resource.updatable, call.body)?;
    let record = table_mut(store, resource)?
        .rows
        .get_mut(&key)
        .ok_or_else(ApiError::not_found)?;
    record.fields.extend(written);
    record.updated_at = call.now;
    Ok(Reply::Json(
        StatusCode::OK,
        json!({"data": record.render()}),
    ))
}

fn delete(store: &mut Store, resource: &Resource, id: &str) -> Result<Reply, ApiError> {
    let key = row(table(store, resource), resource, id)?.id;
    table_mut(store, resource)?.rows.remove(&key);
    Ok(Reply::NoContent)
}
