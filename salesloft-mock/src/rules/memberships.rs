//! Cadence memberships: a person on a cadence once at a time; a delete takes them off (the
//! membership stays, `currently_on_cadence` false: its webhook is an update).

use super::one;
use crate::call::{Call, Reply};
use crate::error::ApiError;
use crate::generic::catalog::Resource;
use crate::generic::embedded_key;
use crate::generic::seed::SeedRequest;
use crate::params::int_field;
use crate::store::Store;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use serde_json::{Value, json};

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

pub(crate) fn create_membership(store: &mut Store, call: &Call) -> Result<Reply, ApiError> {
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
        "added_at": crate::generic::table::timestamp(call.now),
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

/// Takes the person off the cadence: the service keeps no such membership afterwards.
pub(crate) fn delete_membership(store: &mut Store, id: i64) -> Result<Reply, ApiError> {
    store
        .memberships
        .rows
        .remove(&id)
        .map(|_| Reply::NoContent)
        .ok_or_else(ApiError::not_found)
}

// ---- seeding ----

/// Seeding memberships: one per (person, cadence), over pairs not taken yet; people are seeded first
/// when there are not enough pairs.
pub(crate) fn seed_memberships(
    store: &mut Store,
    resource: &Resource,
    now: DateTime<Utc>,
    request: SeedRequest,
    rng: &mut StdRng,
) {
    let taken: std::collections::HashSet<(i64, i64)> = store
        .memberships
        .rows
        .values()
        .filter_map(|m| {
            let key = |name| embedded_key(&m.fields, name);
            Some((key("person")?, key("cadence")?))
        })
        .collect();
    let cadences: Vec<i64> = store.cadences.rows.keys().copied().collect();
    if cadences.is_empty() {
        return;
    }
    let free = (store.people.rows.len() * cadences.len()).saturating_sub(taken.len());
    if free < request.count
        && let Some(people) = crate::generic::catalog::catalog().find("people")
    {
        let more = SeedRequest {
            count: (request.count - free).div_ceil(cadences.len()),
            ..request
        };
        super::seed(store, people, now, more);
    }
    let people: Vec<i64> = store.people.rows.keys().copied().collect();
    let pairs = people
        .iter()
        .flat_map(|p| cadences.iter().map(move |c| (*p, *c)))
        .filter(|pair| !taken.contains(pair))
        .take(request.count)
        .collect::<Vec<_>>();
    let first = store.memberships.rows.len();
    for (i, (person, cadence)) in pairs.into_iter().enumerate() {
        let mut fields = crate::generic::seed::record_fields(
            store,
            resource,
            first + i,
            request.seed,
            super::seeded,
            rng,
        );
        let base = store.base_url.clone();
        fields.insert(
            "person".into(),
            crate::generic::embedded(&base, "people", person),
        );
        fields.insert(
            "cadence".into(),
            crate::generic::embedded(&base, "cadences", cadence),
        );
        fields.insert("person_deleted".into(), json!(false));
        fields.insert("currently_on_cadence".into(), json!(true));
        crate::generic::seed::insert(store, resource, now, request, i, fields, rng);
    }
}
