//! The hooks of the v2 API beside the generic tables (`records`): me, team, users, people,
//! accounts, cadences (with their exports and imports), calendar-event upserts and cadence
//! memberships, with the rules of `salesloft-openapi/SERVICE.md` §6. Bulk jobs are `bulk`'s;
//! a declared route none of them serves is answered by `spec_routes` from the spec.

pub use crate::call::{Call, Reply};
use crate::catalog::catalog;
use crate::error::ApiError;
use crate::params::{int_field, str_field};
use crate::records::{self, embedded_key};
use crate::store::{Store, account_fields, person_fields};
use crate::table::{Record, Table};
use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

fn ok(value: Value) -> Result<Reply, ApiError> {
    Ok(Reply::Json(StatusCode::OK, value))
}

/// `{"data": record}`, serialized from the record itself without building a JSON value first
/// (the hot path of GET person).
fn one(record: &Record) -> Result<Reply, ApiError> {
    #[derive(serde::Serialize)]
    struct Envelope<'a> {
        data: &'a Record,
    }
    let bytes =
        serde_json::to_vec(&Envelope { data: record }).map_err(|_| ApiError::not_found())?;
    Ok(Reply::Bytes(StatusCode::OK, bytes))
}

const PERSON_WRITABLE: &[&str] = &[
    "email_address",
    "secondary_email_address",
    "personal_email_address",
    "first_name",
    "last_name",
    "phone",
    "phone_extension",
    "mobile_phone",
    "home_phone",
    "linkedin_url",
    "title",
    "city",
    "state",
    "country",
    "work_city",
    "work_state",
    "work_country",
    "crm_id",
    "owner_crm_id",
    "person_company_name",
    "person_company_website",
    "person_company_industry",
    "do_not_contact",
    "locale",
    "personal_website",
    "twitter_handle",
    "tags",
    "contact_restrictions",
    "custom_fields",
    "job_seniority",
    "eu_resident",
];

const ACCOUNT_WRITABLE: &[&str] = &[
    "name",
    "domain",
    "conversational_name",
    "description",
    "phone",
    "website",
    "linkedin_url",
    "twitter_handle",
    "street",
    "city",
    "state",
    "postal_code",
    "country",
    "locale",
    "industry",
    "company_type",
    "founded",
    "revenue_range",
    "size",
    "crm_id",
    "crm_object_type",
    "owner_crm_id",
    "do_not_contact",
    "custom_fields",
    "tags",
];

/// Handles the call if it belongs to a stateful resource; `None` leaves it to the spec routes.
pub fn route(store: &mut Store, call: &Call) -> Option<Result<Reply, ApiError>> {
    let id = |s: &str| s.parse::<i64>().map_err(|_| ApiError::not_found());
    let m = call.method;
    let result = match call.segments.as_slice() {
        ["me"] if m == Method::GET => store
            .users
            .rows
            .get(&call.user_id)
            .ok_or_else(ApiError::not_found)
            .and_then(one),
        ["team"] if m == Method::GET => ok(json!({"data": store.team})),
        ["users"] if m == Method::GET => list_users(store, call),
        ["users", u] if m == Method::GET => id(u)
            .and_then(|u| store.users.rows.get(&u).ok_or_else(ApiError::not_found))
            .and_then(one),
        ["people"] if m == Method::GET => list_people(store, call),
        ["people"] if m == Method::POST => create_person(store, call),
        ["people", p] if m == Method::GET => id(p).and_then(|p| get(&store.people, p)),
        ["people", p] if m == Method::PUT => id(p).and_then(|p| update_person(store, call, p)),
        ["people", p] if m == Method::DELETE => {
            id(p).and_then(|p| delete_person(store, p, call.now))
        }
        ["person_upserts"] if m == Method::POST => upsert(store, call, Upsert::Person),
        ["calendar", "events", "upsert"] if m == Method::POST => upsert_calendar_event(store, call),
        ["account_upserts"] if m == Method::POST => upsert(store, call, Upsert::Account),
        ["accounts"] if m == Method::GET => list_accounts(store, call),
        ["accounts"] if m == Method::POST => create_account(store, call),
        ["accounts", a] if m == Method::GET => id(a).and_then(|a| get(&store.accounts, a)),
        ["accounts", a] if m == Method::PUT => id(a).and_then(|a| update_account(store, call, a)),
        ["accounts", a] if m == Method::DELETE => {
            id(a).and_then(|a| delete_account(store, a, call.now))
        }

        ["cadences", c] if m == Method::GET => id(c).and_then(|c| get(&store.cadences, c)),
        ["cadence_exports", c] if m == Method::GET => id(c).and_then(|c| export_cadence(store, c)),
        ["cadence_imports"] if m == Method::POST => import_cadence(store, call),

        ["cadence_memberships"] if m == Method::POST => create_membership(store, call),
        ["cadence_memberships", c] if m == Method::GET => {
            id(c).and_then(|c| get(&store.memberships, c))
        }
        ["cadence_memberships", c] if m == Method::DELETE => id(c).and_then(|c| {
            store
                .memberships
                .rows
                .remove(&c)
                .map(|_| Reply::NoContent)
                .ok_or_else(ApiError::not_found)
        }),
        _ => return None,
    };
    Some(result)
}

fn get(table: &Table, id: i64) -> Result<Reply, ApiError> {
    table
        .rows
        .get(&id)
        .ok_or_else(ApiError::not_found)
        .and_then(one)
}

fn list_users(store: &Store, call: &Call) -> Result<Reply, ApiError> {
    let mut reply = records::list(store, resource("users")?, call, |_| true)?;
    if !call.params.has("page")
        && let Reply::Json(_, body) = &mut reply
        && let Some(metadata) = body["metadata"].as_object_mut()
    {
        // SERVICE.md §2: /v2/users has no paging without a `page` parameter.
        metadata.remove("paging");
    }
    Ok(reply)
}

/// The catalog's entry of a resource these hooks serve (each is a list resource of the spec).
fn resource(name: &str) -> Result<&'static crate::catalog::Resource, ApiError> {
    catalog().find(name).ok_or_else(ApiError::not_found)
}

// ---- people ----

fn list_people(store: &Store, call: &Call) -> Result<Reply, ApiError> {
    let emails: Option<Vec<String>> = call
        .params
        .list("email_addresses")
        .map(|v| v.iter().map(|e| email_key(e)).collect());
    let cadence_people: Option<Vec<i64>> = call.params.ids("cadence_id")?.map(|cadences| {
        store
            .memberships
            .rows
            .values()
            .filter(|m| embedded_key(&m.fields, "cadence").is_some_and(|c| cadences.contains(&c)))
            .filter_map(|m| embedded_key(&m.fields, "person"))
            .collect()
    });
    records::list(store, resource("people")?, call, |person| {
        emails.as_ref().is_none_or(|emails| {
            person
                .str_field("email_address")
                .is_some_and(|e| emails.contains(&email_key(e)))
        }) && cadence_people
            .as_ref()
            .is_none_or(|ids| ids.contains(&person.id))
    })
}

/// An email address as the service compares it: without surrounding white space, any case.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A plausible address: one `@`, something before it, a dotted domain after it, no white
/// space or control characters anywhere.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let clean = |part: &str| {
        !part.is_empty()
            && !part
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@')
    };
    clean(local)
        && clean(domain)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

/// A domain as the service compares it: a host name, so case, surrounding white space and a
/// trailing dot do not make another one.
pub fn domain_key(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_lowercase()
}

fn email_taken(store: &Store, email: &str, except: Option<i64>) -> bool {
    let email = email_key(email);
    store.people.rows.values().any(|p| {
        Some(p.id) != except
            && p.str_field("email_address")
                .is_some_and(|e| email_key(e) == email)
    })
}

/// The `email_address` of a body, trimmed, checked and free: `Ok(None)` when absent or blank.
fn checked_email(
    store: &Store,
    body: &Map<String, Value>,
    except: Option<i64>,
) -> Result<Option<String>, ApiError> {
    let Some(email) = str_field(body, "email_address")? else {
        return Ok(None);
    };
    let email = email.trim();
    if email.is_empty() {
        return Ok(None);
    }
    if !valid_email(email) {
        return Err(ApiError::invalid("email_address", "is invalid"));
    }
    if email_taken(store, email, except) {
        return Err(ApiError::invalid("email_address", "is already taken"));
    }
    Ok(Some(email.to_string()))
}

/// A person must keep an email address, or a phone and a last name, to be found again.
fn reachable(fields: &Map<String, Value>) -> bool {
    let has = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|v| !v.trim().is_empty())
    };
    has("email_address") || (has("phone") && has("last_name"))
}

/// Copies the writable fields of `body` into `fields`, checking their JSON types loosely.
fn copy_writable(
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

/// `account_id` in a person body: the embedded account, `null` to unlink, 422 if unknown.
fn account_ref(store: &Store, body: &Map<String, Value>) -> Result<Option<Value>, ApiError> {
    if !body.contains_key("account_id") {
        return Ok(None);
    }
    match int_field(body, "account_id")? {
        None => Ok(Some(Value::Null)),
        Some(id) if store.accounts.rows.contains_key(&id) => Ok(Some(store.accounts.embedded(
            &store.base_url,
            "accounts",
            id,
        ))),
        Some(_) => Err(ApiError::invalid("account", "must exist")),
    }
}

fn refresh_display_name(fields: &mut Map<String, Value>) {
    let part = |k: &str| {
        fields
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let name = format!("{} {}", part("first_name"), part("last_name"))
        .trim()
        .to_string();
    fields.insert("display_name".into(), json!(name));
}

fn blank_person() -> ApiError {
    ApiError::invalid(
        "email_address",
        "can't be blank (or give phone and last_name)",
    )
}

fn create_person(store: &mut Store, call: &Call) -> Result<Reply, ApiError> {
    let email = checked_email(store, call.body, None)?;
    let owner = store.user_embedded(call.user_id);
    let mut fields = person_fields("", "", "", Value::Null, &owner);
    for name in ["first_name", "last_name", "email_address"] {
        fields.insert(name.into(), Value::Null);
    }
    copy_writable(&mut fields, call.body, PERSON_WRITABLE)?;
    fields.insert(
        "email_address".into(),
        email.map_or(Value::Null, Value::from),
    );
    if !reachable(&fields) {
        return Err(blank_person());
    }
    if let Some(account) = account_ref(store, call.body)? {
        fields.insert("account".into(), account);
    }
    refresh_display_name(&mut fields);
    let record = store.people.insert(call.now, fields);
    Ok(Reply::Json(
        StatusCode::OK,
        json!({"data": record.render()}),
    ))
}

fn update_person(store: &mut Store, call: &Call, id: i64) -> Result<Reply, ApiError> {
    if !store.people.rows.contains_key(&id) {
        return Err(ApiError::not_found());
    }
    let email = checked_email(store, call.body, Some(id))?;
    let account = account_ref(store, call.body)?;
    let person = store
        .people
        .rows
        .get_mut(&id)
        .ok_or_else(ApiError::not_found)?;
    let mut fields = person.fields.clone();
    copy_writable(&mut fields, call.body, PERSON_WRITABLE)?;
    if call.body.contains_key("email_address") {
        fields.insert(
            "email_address".into(),
            email.map_or(Value::Null, Value::from),
        );
    }
    if !reachable(&fields) {
        return Err(blank_person());
    }
    person.fields = fields;
    if let Some(account) = account {
        person.fields.insert("account".into(), account);
    }
    refresh_display_name(&mut person.fields);
    person.updated_at = call.now;
    one(person)
}

/// SERVICE.md §7: a deleted person's memberships stay, marked `person_deleted` (a change:
/// their `updated_at` moves).
fn delete_person(store: &mut Store, id: i64, now: DateTime<Utc>) -> Result<Reply, ApiError> {
    store
        .people
        .rows
        .remove(&id)
        .ok_or_else(ApiError::not_found)?;
    for membership in store.memberships.rows.values_mut() {
        if embedded_key(&membership.fields, "person") == Some(id) {
            membership
                .fields
                .insert("person_deleted".into(), json!(true));
            membership
                .fields
                .insert("currently_on_cadence".into(), json!(false));
            membership.updated_at = now;
        }
    }
    Ok(Reply::NoContent)
}

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
    let same = |record: &Record| match key {
        "id" => record.id.to_string() == value,
        "email_address" => record
            .str_field(key)
            .is_some_and(|e| email_key(e) == email_key(&value)),
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

/// `POST /v2/calendar/events/upsert`: the event with the body's `i_cal_uid` in the body's
/// `calendar_id` is updated, or a new one is made; `id` is the calendar provider's own (kept
/// as sent: a string). Required: `id`, `i_cal_uid`, `start_time`, `end_time`, `calendar_id`.
pub(crate) fn upsert_calendar_event(store: &mut Store, call: &Call) -> Result<Reply, ApiError> {
    let resource = resource("calendar/events")?;
    records::require(
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
    let mut written = records::written_fields(store, resource, &writable, call.body)?;
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
            let mut fields = records::new_fields(store, resource, call.user_id);
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

// ---- cadences ----

/// `GET /v2/cadence_exports/{id}`: the cadence's settings and its steps, as an import takes
/// them back; 404 for a cadence that does not exist.
fn export_cadence(store: &Store, cadence: i64) -> Result<Reply, ApiError> {
    let record = store
        .cadences
        .rows
        .get(&cadence)
        .ok_or_else(ApiError::not_found)?;
    let steps: Vec<Value> = store
        .table("steps")
        .into_iter()
        .flat_map(|t| t.rows.values())
        .filter(|step| embedded_key(&step.fields, "cadence") == Some(cadence))
        .map(|step| {
            json!({"name": step.fields.get("name"), "type": step.fields.get("type"),
                   "day": step.fields.get("day"), "step_number": step.fields.get("step_number")})
        })
        .collect();
    let f = &record.fields;
    ok(json!({"data": {"cadence_content": {
        "settings": {"name": f.get("name"), "cadence_function": f.get("cadence_function"),
                     "remove_bounces_enabled": f.get("remove_bounces_enabled"),
                     "remove_replies_enabled": f.get("remove_replies_enabled"),
                     "opt_out_link_included": f.get("opt_out_link_included")},
        "sharing_settings": {"team_cadence": f.get("team_cadence"), "shared": f.get("shared")},
        "steps": steps,
    }}}))
}

/// `POST /v2/cadence_imports`: a new cadence named by `settings.name` (422 when blank), a team
/// cadence when `sharing_settings.team_cadence` says so, owned by the caller; the answer embeds
/// it and `cadence_created` is sent.
fn import_cadence(store: &mut Store, call: &Call) -> Result<Reply, ApiError> {
    let settings = match call.body.get("settings") {
        Some(Value::Object(settings)) => settings,
        None | Some(Value::Null) => return Err(ApiError::invalid("settings", "can't be blank")),
        Some(_) => return Err(ApiError::invalid("settings", "must be an object")),
    };
    let name = str_field(settings, "name")?
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::invalid("settings.name", "can't be blank"))?;
    let team = call
        .body
        .get("sharing_settings")
        .and_then(|s| s.get("team_cadence"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let base = store.base_url.clone();
    let owner = store.users.embedded(&base, "users", call.user_id);
    let mut fields = crate::store::cadence_fields(&name, team, &owner);
    for key in [
        "cadence_function",
        "remove_bounces_enabled",
        "remove_replies_enabled",
        "opt_out_link_included",
    ] {
        if let Some(value) = settings.get(key).filter(|v| !v.is_null()) {
            fields.insert(key.to_string(), value.clone());
        }
    }
    let record = store.cadences.insert(call.now, fields).render();
    let id = record["id"].as_i64().unwrap_or_default();
    store.outbox.emit("cadence_created", &record, call.now);
    ok(json!({"data": {"cadence": store.cadences.embedded(&base, "cadences", id)}}))
}

// ---- accounts ----

fn domain_taken(store: &Store, domain: &str, except: Option<i64>) -> bool {
    let domain = domain_key(domain);
    store.accounts.rows.values().any(|a| {
        Some(a.id) != except
            && a.str_field("domain")
                .is_some_and(|d| domain_key(d) == domain)
    })
}

/// The `domain` of a body as stored: trimmed, without a trailing dot; 422 when it holds
/// white space or control characters inside.
fn checked_domain(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let Some(domain) = str_field(body, "domain")? else {
        return Ok(None);
    };
    let domain = domain.trim().trim_end_matches('.').to_string();
    if domain.is_empty() {
        return Ok(None);
    }
    if domain.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid("domain", "is invalid"));
    }
    Ok(Some(domain))
}

fn list_accounts(store: &Store, call: &Call) -> Result<Reply, ApiError> {
    let domains: Option<Vec<String>> = call
        .params
        .list("domain")
        .map(|v| v.iter().map(|d| domain_key(d)).collect());
    let accounts = resource("accounts")?;
    records::list_with(store, accounts, call, &["domain"], |account| {
        domains.as_ref().is_none_or(|domains| {
            account
                .str_field("domain")
                .is_some_and(|d| domains.contains(&domain_key(d)))
        })
    })
}

fn create_account(store: &mut Store, call: &Call) -> Result<Reply, ApiError> {
    let name = str_field(call.body, "name")?.filter(|n| !n.trim().is_empty());
    let domain = checked_domain(call.body)?;
    let (Some(name), Some(domain)) = (name, domain) else {
        let missing = if call.body.get("name").is_none() {
            "name"
        } else {
            "domain"
        };
        return Err(ApiError::invalid(missing, "can't be blank"));
    };
    if domain_taken(store, &domain, None) {
        return Err(ApiError::invalid("domain", "has already been taken"));
    }
    let owner = store.user_embedded(call.user_id);
    let mut fields = account_fields(&name, &domain, &owner);
    copy_writable(&mut fields, call.body, ACCOUNT_WRITABLE)?;
    fields.insert("domain".into(), Value::from(domain));
    let record = store.accounts.insert(call.now, fields);
    one(record)
}

fn update_account(store: &mut Store, call: &Call, id: i64) -> Result<Reply, ApiError> {
    if !store.accounts.rows.contains_key(&id) {
        return Err(ApiError::not_found());
    }
    let domain = checked_domain(call.body)?;
    if call.body.contains_key("domain") && domain.is_none() {
        return Err(ApiError::invalid("domain", "can't be blank"));
    }
    if let Some(domain) = &domain
        && domain_taken(store, domain, Some(id))
    {
        return Err(ApiError::invalid("domain", "has already been taken"));
    }
    if call.body.contains_key("name")
        && str_field(call.body, "name")?.is_none_or(|n| n.trim().is_empty())
    {
        return Err(ApiError::invalid("name", "can't be blank"));
    }
    let account = store
        .accounts
        .rows
        .get_mut(&id)
        .ok_or_else(ApiError::not_found)?;
    copy_writable(&mut account.fields, call.body, ACCOUNT_WRITABLE)?;
    if let Some(domain) = domain {
        account.fields.insert("domain".into(), Value::from(domain));
    }
    account.updated_at = call.now;
    one(account)
}

/// The account's people lose it: a change to each of them (their `updated_at` moves).
fn delete_account(store: &mut Store, id: i64, now: DateTime<Utc>) -> Result<Reply, ApiError> {
    store
        .accounts
        .rows
        .remove(&id)
        .ok_or_else(ApiError::not_found)?;
    for person in store.people.rows.values_mut() {
        if embedded_key(&person.fields, "account") == Some(id) {
            person.fields.insert("account".into(), Value::Null);
            person.updated_at = now;
        }
    }
    Ok(Reply::NoContent)
}

// ---- cadences and memberships ----

/// An integer parameter of a create: from the query, as the document declares (SERVICE.md
/// §1.9), or else from the body, which the service reads too.
fn query_or_body_int(call: &Call, name: &str) -> Result<Option<i64>, ApiError> {
    match call.params.get(name) {
        Some(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(name, "is not a valid id")),
        _ => int_field(call.body, name),
    }
}

fn create_membership(store: &mut Store, call: &Call) -> Result<Reply, ApiError> {
    let person = query_or_body_int(call, "person_id")?
        .ok_or_else(|| ApiError::invalid("person_id", "can't be blank"))?;
    let cadence = query_or_body_int(call, "cadence_id")?
        .ok_or_else(|| ApiError::invalid("cadence_id", "can't be blank"))?;
    let user = query_or_body_int(call, "user_id")?.unwrap_or(call.user_id);
    if !store.people.rows.contains_key(&person) || !store.cadences.rows.contains_key(&cadence) {
        return Err(ApiError::not_found());
    }
    if !store.users.rows.contains_key(&user) {
        return Err(ApiError::invalid("user_id", "is not a user on this team"));
    }
    let already = store.memberships.rows.values().any(|m| {
        embedded_key(&m.fields, "person") == Some(person)
            && embedded_key(&m.fields, "cadence") == Some(cadence)
            && m.fields.get("currently_on_cadence") == Some(&json!(true))
    });
    if already {
        return Err(ApiError::invalid("person_id", "is already on this cadence"));
    }
    let base = store.base_url.clone();
    let fields = json!({
        "added_at": crate::table::timestamp(call.now),
        "person_deleted": false,
        "currently_on_cadence": true,
        "current_state": "staged",
        "cadence": store.cadences.embedded(&base, "cadences", cadence),
        "person": store.people.embedded(&base, "people", person),
        "user": store.user_embedded(user),
        "latest_action": null,
        "counts": {"views": 0, "clicks": 0, "replies": 0, "calls": 0, "sent_emails": 0, "bounces": 0},
    });
    let fields = fields.as_object().cloned().expect("object");
    let cadence_ref = store.cadences.embedded(&base, "cadences", cadence);
    if let Some(p) = store.people.rows.get_mut(&person) {
        p.fields
            .insert("most_recent_cadence".into(), cadence_ref.clone());
        if let Some(Value::Array(cadences)) = p.fields.get_mut("cadences") {
            cadences.push(cadence_ref);
        }
    }
    let record = store.memberships.insert(call.now, fields);
    one(record)
}
