//! People: an email address unique on the team (compared without case or surrounding white
//! space), or a phone and a last name, to be found again; `account_id` links a company; a
//! delete leaves the person's memberships marked `person_deleted`; the display name follows
//! the first and last names (also when seeded).

use super::{copy_writable, one, resource};
use crate::call::{Call, Reply};
use crate::error::ApiError;
use crate::generic::{self, embedded_key};
use crate::params::int_field;
use crate::params::str_field;
use crate::store::Store;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

/// The fields of a new person with SalesLoft's defaults.
pub(crate) fn person_fields(
    first: &str,
    last: &str,
    email: &str,
    account: Value,
    owner: &Value,
) -> Map<String, Value> {
    let v = json!({
        "first_name": first, "last_name": last, "display_name": format!("{first} {last}"),
        "email_address": email, "secondary_email_address": null, "personal_email_address": null,
        "phone": null, "phone_extension": null, "mobile_phone": null, "home_phone": null,
        "linkedin_url": null, "title": null, "city": null, "state": null, "country": null,
        "work_city": null, "work_state": null, "work_country": null, "crm_url": null, "crm_id": null,
        "crm_object_type": null, "owner_crm_id": null, "person_company_name": null,
        "person_company_website": null, "person_company_industry": null, "do_not_contact": false,
        "bouncing": false, "locale": null, "personal_website": null, "twitter_handle": null,
        "last_contacted_at": null, "last_contacted_type": null, "last_replied_at": null,
        "last_contacted_by": null, "job_seniority": null, "tags": [], "contact_restrictions": [],
        "custom_fields": {}, "eu_resident": false, "success_count": 0, "account": account,
        "owner": owner, "created_by_user": owner, "import": null, "person_stage": null,
        "most_recent_cadence": null, "last_completed_step_cadence": null, "last_completed_step": null,
        "counts": {"emails_sent": 0, "emails_viewed": 0, "emails_clicked": 0, "emails_replied_to": 0,
                   "emails_bounced": 0, "calls": 0},
        "account_crm_id": null, "cadences": [],
    });
    v.as_object().cloned().expect("object")
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

pub(crate) fn list_people(store: &Store, call: &Call) -> Result<Reply, ApiError> {
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
    generic::list(store, resource("people")?, call, |person| {
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
pub(crate) fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Whether `email` has the key `key` (an [`email_key`]), without building a string: every
/// write of a person compares with every person, and a bulk job writes thousands.
pub(crate) fn has_email_key(email: &str, key: &str) -> bool {
    email
        .trim()
        .chars()
        .flat_map(char::to_lowercase)
        .eq(key.chars())
}

/// A plausible address: one `@`, something before it, a dotted domain after it, no white
/// space or control characters anywhere.
pub(crate) fn valid_email(email: &str) -> bool {
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

fn email_taken(store: &Store, email: &str, except: Option<i64>) -> bool {
    let email = email_key(email);
    store.people.rows.values().any(|p| {
        Some(p.id) != except
            && p.str_field("email_address")
                .is_some_and(|e| has_email_key(e, &email))
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

/// Seeding: the display name of the seeded first and last names.
pub(crate) fn seeded(fields: &mut Map<String, Value>) {
    refresh_display_name(fields);
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

pub(crate) fn create_person(store: &mut Store, call: &Call) -> Result<Reply, ApiError> {
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

pub(crate) fn update_person(store: &mut Store, call: &Call, id: i64) -> Result<Reply, ApiError> {
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
pub(crate) fn delete_person(
    store: &mut Store,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Reply, ApiError> {
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

/// Adds `count` people (`person<n>@sandbox.example`), `spread_micros` apart in
/// `updated_at`, the newest at `now`. The caller has checked that the times are in range.
pub fn seed_people(store: &mut Store, now: DateTime<Utc>, count: usize, spread_micros: i64) {
    let owner = store.user_embedded(store.admin_user_id());
    let start = store.people.rows.len();
    for (i, n) in (start..start + count).enumerate() {
        let email = format!("person{n}@sandbox.example");
        let fields = person_fields("Person", &n.to_string(), &email, Value::Null, &owner);
        let steps = (count - 1 - i) as i64;
        let at = now - Duration::microseconds(spread_micros.saturating_mul(steps));
        store.people.insert(at, fields);
    }
}
