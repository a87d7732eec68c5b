//! Seeding any list resource with records made from its schema: the same `seed` gives the
//! same records. Each field is made by its kind (identifiers in the resource's form,
//! references to records that exist, timestamps with microseconds and the team's offset, the
//! document's example for the rest). Rules every resource shares are at the end (unique emails
//! and domains, times that start null, a note's person); a resource's own rules come in as a
//! [`Hook`] from `rules`, which also seeds memberships its own way.

use crate::generic::catalog::{IdForm, Kind, Resource, catalog};
use crate::generic::embedded;
use crate::generic::table::timestamp;
use crate::store::Store;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

/// What to seed: how many records, `updated_at` that far apart (the newest now), and the seed
/// of the generator.
#[derive(Clone, Copy, Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct SeedRequest {
    pub count: usize,
    pub spread_micros: i64,
    pub seed: u64,
}

/// What a resource's own rules fix on a seeded record's fields.
pub type Hook = fn(&Resource, &mut Map<String, Value>);

/// The generator of `resource`'s records for `request`: the same request, the same records.
pub fn rng_for(resource: &Resource, request: SeedRequest) -> StdRng {
    StdRng::seed_from_u64(request.seed ^ hash(&resource.name))
}

/// Adds the records, each passed through `hook`; the caller has checked `count` and the times'
/// range.
pub fn seed(
    store: &mut Store,
    resource: &Resource,
    now: DateTime<Utc>,
    request: SeedRequest,
    hook: Hook,
) {
    let mut rng = rng_for(resource, request);
    let first = store.table(&resource.name).map_or(0, |t| t.rows.len());
    for i in 0..request.count {
        let n = first + i;
        let fields = record_fields(store, resource, n, request.seed, hook, &mut rng);
        insert(store, resource, now, request, i, fields, &mut rng);
    }
}

pub(crate) fn insert(
    store: &mut Store,
    resource: &Resource,
    now: DateTime<Utc>,
    request: SeedRequest,
    i: usize,
    fields: Map<String, Value>,
    rng: &mut StdRng,
) {
    let steps = (request.count - 1 - i) as i64;
    let updated = now - Duration::microseconds(request.spread_micros.saturating_mul(steps));
    let created = updated - Duration::seconds(rng.random_range(0..30 * 86_400));
    let Some(table) = store.table_mut(&resource.name) else {
        return;
    };
    let id = table.insert_as(updated, fields, resource.id_form).id;
    if let Some(record) = table.rows.get_mut(&id) {
        record.created_at = created;
    }
}

/// A record of `resource`, the `n`th of its table.
pub(crate) fn record_fields(
    store: &Store,
    resource: &Resource,
    n: usize,
    seed: u64,
    hook: Hook,
    rng: &mut StdRng,
) -> Map<String, Value> {
    let mut fields = Map::new();
    for field in &resource.fields {
        let name = field.name.as_str();
        if matches!(name, "id" | "created_at" | "updated_at") {
            continue;
        }
        let value = match &field.kind {
            Kind::Id(form) => identifier(store, name, *form, rng),
            Kind::Reference(Some(target)) => reference(store, target, rng),
            Kind::Reference(None) => Value::Null,
            Kind::DateTime if is_usually_null(name) => Value::Null,
            Kind::DateTime => json!(timestamp(
                Utc::now() - Duration::seconds(rng.random_range(0..90 * 86_400))
            )),
            Kind::Date => json!(format!(
                "2024-{:02}-{:02}",
                rng.random_range(1..=12),
                rng.random_range(1..=28)
            )),
            Kind::Text => unique_text(resource, name, n, seed)
                .map(Value::from)
                .or_else(|| field.example.clone().filter(Value::is_string))
                .unwrap_or_else(|| json!(format!("{name} {n}"))),
            Kind::Integer => field
                .example
                .clone()
                .filter(Value::is_i64)
                .unwrap_or_else(|| json!(rng.random_range(0..100))),
            Kind::Number => field
                .example
                .clone()
                .filter(Value::is_number)
                .unwrap_or_else(|| json!(rng.random_range(0..1000) as f64 / 10.0)),
            Kind::Boolean => json!(rng.random_bool(0.5)),
            Kind::Json => field.example.clone().unwrap_or(Value::Null),
        };
        fields.insert(field.name.clone(), value);
    }
    shared_rules(store, resource, &mut fields, rng);
    hook(resource, &mut fields);
    fields
}

/// An identifier field: a reference's id where the name says which resource (`task_id`),
/// else one in its form.
fn identifier(store: &Store, name: &str, form: IdForm, rng: &mut StdRng) -> Value {
    match form {
        IdForm::Guid => json!(format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            rng.random::<u32>(),
            rng.random::<u16>(),
            rng.random_range(0..0x1000),
            rng.random_range(0..0x1000),
            rng.random_range(0..0x1_0000_0000_0000u64)
        )),
        IdForm::Text if name.contains("crm") => {
            json!(format!("0063X{:013X}", rng.random_range(0..u64::MAX >> 12)))
        }
        IdForm::Text
            if ["digest", "fingerprint", "hash"]
                .iter()
                .any(|t| name.contains(t)) =>
        {
            json!(format!(
                "{:016x}{:016x}{:08x}",
                rng.random::<u64>(),
                rng.random::<u64>(),
                rng.random::<u32>()
            ))
        }
        IdForm::Text => json!(format!("seed-{:012x}", rng.random_range(0..1u64 << 48))),
        IdForm::Integer => {
            let target = name
                .strip_suffix("_id")
                .and_then(|singular| catalog().resources.iter().find(|r| r.singular == singular));
            let key = target
                .and_then(|t| store.table(&t.name))
                .and_then(|t| pick(t.rows.keys().copied(), rng));
            json!(key.unwrap_or_else(|| rng.random_range(1..10_000)))
        }
    }
}

/// `{"_href", "id"}` of a record of `target` that exists, or null when it has none.
fn reference(store: &Store, target: &str, rng: &mut StdRng) -> Value {
    store
        .table(target)
        .and_then(|t| pick(t.rows.keys().copied(), rng))
        .map_or(Value::Null, |key| embedded(&store.base_url, target, key))
}

fn pick(keys: impl ExactSizeIterator<Item = i64>, rng: &mut StdRng) -> Option<i64> {
    let len = keys.len();
    let mut keys = keys;
    (len > 0)
        .then(|| rng.random_range(0..len))
        .and_then(|i| keys.nth(i))
}

fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

// ---- rules every resource shares ----

/// Times the service sends as null until something happens (archived, canceled, deleted...).
fn is_usually_null(name: &str) -> bool {
    [
        "archived_at",
        "canceled_at",
        "deleted_at",
        "bounced_at",
        "unsubscribed_at",
    ]
    .iter()
    .any(|suffix| name.ends_with(suffix))
}

/// Text that must be unique on the team: emails (people, users) and domains (accounts).
fn unique_text(resource: &Resource, name: &str, n: usize, seed: u64) -> Option<String> {
    let tag = resource.singular.replace('_', "-");
    match name {
        "email_address" | "email" => Some(format!("{tag}{n}-{seed}@seed.example")),
        "domain" => Some(format!("{tag}{n}-{seed}.example")),
        _ => None,
    }
}

/// Rules every resource with such a field follows.
fn shared_rules(
    store: &Store,
    resource: &Resource,
    fields: &mut Map<String, Value>,
    rng: &mut StdRng,
) {
    // A note belongs to a person of the sandbox.
    if resource.field("associated_with").is_some() {
        let person = reference(store, "people", rng);
        let kind = if person.is_null() {
            Value::Null
        } else {
            json!("person")
        };
        fields.insert("associated_with".into(), person);
        fields.insert("associated_type".into(), kind);
    }
}
