//! Accounts (companies): a domain unique on the team, compared as a host name; a delete
//! unlinks the account's people.

use super::copy_writable;
use super::{one, resource};
use crate::call::{Call, Reply};
use crate::error::ApiError;
use crate::generic;
use crate::generic::embedded_key;
use crate::params::str_field;
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// The fields of a new account with SalesLoft's defaults.
pub(crate) fn account_fields(name: &str, domain: &str, owner: &Value) -> Map<String, Value> {
    let v = json!({
        "name": name, "domain": domain, "conversational_name": name, "description": null,
        "phone": null, "website": format!("https://{domain}"), "linkedin_url": null, "twitter_handle": null,
        "street": null, "city": null, "state": null, "postal_code": null, "country": null, "locale": null,
        "industry": null, "company_type": null, "founded": null, "revenue_range": null, "size": null,
        "crm_id": null, "crm_url": null, "crm_object_type": "account", "owner_crm_id": null,
        "last_contacted_at": null, "last_contacted_type": null, "do_not_contact": false,
        "archived_at": null, "custom_fields": {}, "tags": [], "user_relationships": [],
        "counts": {"people": 0}, "owner": owner, "creator": owner, "last_contacted_by": null,
        "last_contacted_person": null, "company_stage": null, "account_tier": null,
    });
    v.as_object().cloned().expect("object")
}

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

// ---- accounts ----

/// A domain as the service compares it: a host name, so case, surrounding white space and a
/// trailing dot do not make another one.
pub(crate) fn domain_key(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_lowercase()
}

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

pub(crate) fn list_accounts(store: &Store, call: &Call) -> Result<Reply, ApiError> {
    let domains: Option<Vec<String>> = call
        .params
        .list("domain")
        .map(|v| v.iter().map(|d| domain_key(d)).collect());
    let accounts = resource("accounts")?;
    generic::list_with(store, accounts, call, &["domain"], |account| {
        domains.as_ref().is_none_or(|domains| {
            account
                .str_field("domain")
                .is_some_and(|d| domains.contains(&domain_key(d)))
        })
    })
}

pub(crate) fn create_account(store: &mut Store, call: &Call) -> Result<Reply, ApiError> {
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

pub(crate) fn update_account(store: &mut Store, call: &Call, id: i64) -> Result<Reply, ApiError> {
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
pub(crate) fn delete_account(
    store: &mut Store,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Reply, ApiError> {
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
