//! Types from the document's own evidence (SERVICE.md §1.17).
//!
//! The published document's `example`s are the cheapest witness of what the service sends. This
//! step walks every schema of `components.schemas` (nested properties and array items
//! included), checks each `example` against the declared `type`/`format`, and corrects the
//! declaration where the example contradicts it. Identifier-like properties (`id`, `*_id`,
//! guids, fingerprints, hashes, digests) become the shared `Id` schema, an integer or a string,
//! because the service sends them both ways whatever the document says.
//!
//! A contradiction this step does not know how to settle is an error, so a new upstream
//! document cannot slip a wrong type past it: either a rule here covers it, or [`ALLOW`] names
//! the property with the reason its declaration stands.

use super::doc::{schema_ref, schemas_mut};
use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

/// The shared identifier schema's name in `components.schemas`.
pub const ID_SCHEMA: &str = "Id";

/// Properties whose declaration stands although their example contradicts it, with why. A
/// contradicting example is dropped from the normalized document, so nothing serves it.
pub const ALLOW: &[(&str, &str, &str)] = &[
    (
        "BulkJobResult",
        "record",
        "the example is pseudo-code of an object (`{first_name: \"John\", ...}`), not a string",
    ),
    (
        "BulkJobResult",
        "resource",
        "the example is pseudo-code of an object (`{person: {...}, ...}`), not a string",
    ),
    (
        "JobData",
        "record",
        "the example is pseudo-code of an object (`{first_name: \"John\", ...}`), not a string",
    ),
    (
        "JobData",
        "resource",
        "the example is pseudo-code of an object (`{person: {...}, ...}`), not a string",
    ),
    (
        "JobData",
        "bulk_job",
        "the example is JSON of an embedded bulk job with its closing brace missing, not a string",
    ),
    (
        "ConversationsCall",
        "call_created_at",
        "the example is a time without an offset (`2022-07-22 01:00:00`) that RFC 3339 refuses: kept a plain string so such values decode",
    ),
];

/// The placeholder some examples carry instead of a time.
const NOW_PLACEHOLDER: &str = "iso8601_now";
/// What replaces it: a time in the service's own shape (six fractional digits, an offset).
const PLACEHOLDER_TIME: &str = "2024-01-02T03:04:05.123456-05:00";

/// Corrects every component schema from its examples; returns one line per correction (and one
/// per allow-list entry used), `Schema.path.to.property: what changed`.
pub fn correct_from_examples(doc: &mut Value) -> Result<Vec<Value>> {
    let mut changes = Vec::new();
    let schemas = schemas_mut(doc)?;
    for (name, schema) in schemas.iter_mut() {
        walk(name, "", schema, &mut changes)?;
    }
    schemas.insert(
        ID_SCHEMA.into(),
        json!({
            "description": "An identifier: the service sends ids as integers or as strings (GUIDs, CRM ids, digests), whatever a property's declaration says",
            "oneOf": [{"type": "integer", "format": "int64"}, {"type": "string"}],
        }),
    );
    Ok(changes)
}

fn walk(schema: &str, path: &str, node: &mut Value, changes: &mut Vec<Value>) -> Result<()> {
    if let Some(properties) = node.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, property) in properties.iter_mut() {
            let at = join(path, name);
            walk(schema, &at, property, changes)?;
            if let Some(change) = correct(schema, &at, name, property)? {
                changes.push(Value::String(format!("{schema}.{at}: {change}")));
            }
        }
    }
    if let Some(items) = node.get_mut("items") {
        walk(schema, &join(path, "[]"), items, changes)?;
    }
    Ok(())
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// The correction one property needs, if any, applied; `None` when it is consistent.
fn correct(schema: &str, at: &str, name: &str, property: &mut Value) -> Result<Option<String>> {
    let Some(object) = property.as_object_mut() else {
        return Ok(None);
    };
    if let Some((_, _, reason)) = ALLOW.iter().find(|(s, p, _)| *s == schema && *p == at) {
        let contradicts = object
            .get("example")
            .is_some_and(|example| !consistent(object, example));
        if contradicts {
            object.remove("example");
        }
        return Ok(Some(format!("declaration kept ({reason})")));
    }
    if is_identifier(name) && is_scalar_id(object) {
        let declared = declared(object);
        let mut replacement = Map::new();
        replacement.extend(
            schema_ref(ID_SCHEMA)
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        for key in ["description", "example"] {
            if let Some(value) = object.remove(key) {
                replacement.insert(key.into(), value);
            }
        }
        *object = replacement;
        return Ok(Some(format!(
            "identifier: {declared} -> Id (integer or string)"
        )));
    }
    let time_named = name.ends_with("_at");
    let Some(example) = object.get("example").cloned() else {
        // No example: a `*_at` string whose description speaks of time is a date-time.
        if time_named
            && object.get("type") == Some(&json!("string"))
            && !has_format(object, "date-time")
            && speaks_of_time(object)
        {
            let declared = declared(object);
            object.insert("format".into(), json!("date-time"));
            return Ok(Some(format!(
                "time by name and description: {declared} -> date-time"
            )));
        }
        return Ok(None);
    };
    if consistent(object, &example) {
        return Ok(None);
    }
    let declared = declared(object);
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kind = kind.as_str();
    let change = match (kind, &example) {
        ("string", Value::String(text)) if text == NOW_PLACEHOLDER => {
            object.insert("format".into(), json!("date-time"));
            object.insert("example".into(), json!(PLACEHOLDER_TIME));
            format!(
                "example `{NOW_PLACEHOLDER}` is a placeholder for a time: {declared} -> date-time, example replaced"
            )
        }
        ("string", Value::String(text)) if is_date_time(text) => {
            object.insert("format".into(), json!("date-time"));
            format!("example is a date-time: {declared} -> date-time")
        }
        ("integer" | "number", Value::String(text)) if text.parse::<f64>().is_ok() => {
            let number = json!({"type": kind});
            object.remove("type");
            object.remove("format");
            object.insert("oneOf".into(), json!([number, {"type": "string"}]));
            format!("example is a number in a string: {declared} -> {kind} or string")
        }
        (_, Value::String(_)) if kind != "string" => retype(object, "string"),
        (_, Value::Bool(_)) => retype(object, "boolean"),
        (_, Value::Array(_)) => {
            object.insert("items".into(), json!({}));
            retype(object, "array")
        }
        ("number" | "string" | "boolean", Value::Object(_)) => retype(object, "object"),
        _ => bail!(
            "{schema}.{at}: declared {declared}, example {example}: no rule settles this; add a rule or an `ALLOW` entry with its reason"
        ),
    };
    Ok(Some(format!("{change} (example {})", short(&example))))
}

fn retype(object: &mut Map<String, Value>, kind: &str) -> String {
    let declared = declared(object);
    object.remove("format");
    object.insert("type".into(), json!(kind));
    format!("example is {}: {declared} -> {kind}", article(kind))
}

fn article(kind: &str) -> String {
    match kind {
        "integer" | "object" | "array" => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

/// Whether an example fits a declaration (a declaration without a type fits anything).
fn consistent(object: &Map<String, Value>, example: &Value) -> bool {
    let Some(kind) = object.get("type").and_then(Value::as_str) else {
        return true;
    };
    match (kind, example) {
        (_, Value::Null) => true,
        ("string", Value::String(text)) => match object.get("format").and_then(Value::as_str) {
            Some("date-time") => is_date_time(text),
            Some("date") => text.parse::<chrono::NaiveDate>().is_ok(),
            _ => text != NOW_PLACEHOLDER,
        },
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        ("number", Value::Number(_)) => true,
        ("boolean", Value::Bool(_)) => true,
        ("array", Value::Array(_)) => true,
        ("object", Value::Object(_)) => true,
        // An object written out as JSON text in the example is still that object.
        ("object", Value::String(text)) => {
            serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object())
        }
        _ => false,
    }
}

/// The service's timestamps as the generated client decodes them (chrono's RFC 3339 reading).
fn is_date_time(text: &str) -> bool {
    text.parse::<chrono::DateTime<chrono::FixedOffset>>()
        .is_ok()
}

fn has_format(object: &Map<String, Value>, format: &str) -> bool {
    object.get("format").and_then(Value::as_str) == Some(format)
}

fn speaks_of_time(object: &Map<String, Value>) -> bool {
    let description = object
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_lowercase();
    ["time", "date", "when"]
        .iter()
        .any(|w| description.contains(w))
}

/// `id`, `*_id`, guids, fingerprints, hashes and digests.
fn is_identifier(name: &str) -> bool {
    name == "id"
        || name.ends_with("_id")
        || ["guid", "fingerprint", "hash", "digest"]
            .iter()
            .any(|w| name.contains(w))
}

/// An integer or string declaration, or one that already takes either.
fn is_scalar_id(object: &Map<String, Value>) -> bool {
    match object.get("type").and_then(Value::as_str) {
        Some("integer" | "string") => true,
        Some(_) => false,
        None => object
            .get("oneOf")
            .and_then(Value::as_array)
            .is_some_and(|branches| {
                branches
                    .iter()
                    .all(|b| matches!(b["type"].as_str(), Some("integer" | "string")))
            }),
    }
}

/// The declaration in a few words: `integer`, `string (date)`, `integer or string`.
fn declared(object: &Map<String, Value>) -> String {
    if let Some(branches) = object.get("oneOf").and_then(Value::as_array) {
        let kinds: Vec<&str> = branches.iter().filter_map(|b| b["type"].as_str()).collect();
        return kinds.join(" or ");
    }
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("untyped");
    match object.get("format").and_then(Value::as_str) {
        Some(format) => format!("{kind} ({format})"),
        None => kind.to_string(),
    }
}

/// An example, cut short for the record.
fn short(example: &Value) -> String {
    let text = example.to_string();
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(properties: Value) -> (Value, Vec<Value>) {
        let mut doc = json!({"components": {"schemas": {"Thing": {"properties": properties}}}});
        let changes = correct_from_examples(&mut doc).unwrap();
        (
            doc["components"]["schemas"]["Thing"]["properties"].clone(),
            changes,
        )
    }

    #[test]
    fn date_declared_times_become_date_times_and_true_dates_stay() {
        let (p, changes) = run(json!({
            "created_at": {"type": "string", "format": "date", "example": "2022-12-19T16:49:17.930298+02:00"},
            "due_date": {"type": "string", "format": "date", "example": "2024-01-01"},
            "start_time": {"type": "string", "format": "date", "example": "2022-12-19T16:49:17Z"},
        }));
        assert_eq!(p["created_at"]["format"], "date-time");
        assert_eq!(p["start_time"]["format"], "date-time");
        assert_eq!(p["due_date"]["format"], "date");
        assert_eq!(changes.len(), 2, "{changes:?}");
    }

    #[test]
    fn identifiers_take_integers_and_strings() {
        let (p, changes) = run(json!({
            "id": {"type": "integer", "example": 1},
            "task_id": {"type": "string", "example": "123", "description": "d"},
            "attachment_fingerprint": {"type": "integer", "example": 13231232},
            "user_guid": {"type": "string"},
            "crm_ids": {"type": "array", "items": {"type": "string"}},
        }));
        for name in ["id", "task_id", "attachment_fingerprint", "user_guid"] {
            assert_eq!(p[name]["$ref"], "#/components/schemas/Id", "{name}");
        }
        assert_eq!(p["task_id"]["description"], "d");
        assert_eq!(p["task_id"]["example"], "123");
        assert_eq!(p["crm_ids"]["type"], "array");
        assert_eq!(changes.len(), 4);
    }

    #[test]
    fn scalar_kinds_follow_their_examples() {
        let (p, _) = run(json!({
            "resource_type": {"type": "integer", "example": "person"},
            "buffer": {"type": "integer", "example": "15"},
            "all_day": {"type": "string", "example": false},
            "attendees": {"type": "object", "example": [{"name": "a"}]},
            "creator": {"type": "object", "example": "creator@example.com"},
            "bulk_job": {"type": "object", "example": "{\"id\": 1}"},
            "duration": {"type": "number", "example": 120},
        }));
        assert_eq!(p["resource_type"]["type"], "string");
        assert_eq!(
            p["buffer"]["oneOf"],
            json!([{"type": "integer"}, {"type": "string"}])
        );
        assert_eq!(p["all_day"]["type"], "boolean");
        assert_eq!(p["attendees"]["type"], "array");
        assert_eq!(p["creator"]["type"], "string");
        assert_eq!(
            p["bulk_job"]["type"], "object",
            "JSON text of an object is that object"
        );
        assert_eq!(p["duration"]["type"], "number");
    }

    #[test]
    fn placeholder_times_and_time_names_become_date_times() {
        let (p, _) = run(json!({
            "updated_at": {"type": "string", "example": "iso8601_now"},
            "deleted_at": {"type": "string", "description": "Time it was deleted"},
            "label_at": {"type": "string", "description": "A label"},
        }));
        assert_eq!(p["updated_at"]["format"], "date-time");
        assert!(is_date_time(p["updated_at"]["example"].as_str().unwrap()));
        assert_eq!(p["deleted_at"]["format"], "date-time");
        assert!(p["label_at"].get("format").is_none(), "nothing says time");
    }

    #[test]
    fn nested_properties_and_items_are_walked() {
        let (p, changes) = run(json!({
            "attendees": {"type": "array", "items": {"properties": {
                "deleted_at": {"type": "string", "format": "date", "example": "2022-12-19T16:49:17.930926+02:00"},
            }}},
        }));
        assert_eq!(
            p["attendees"]["items"]["properties"]["deleted_at"]["format"],
            "date-time"
        );
        assert_eq!(
            changes[0].as_str().unwrap().split(':').next().unwrap(),
            "Thing.attendees.[].deleted_at"
        );
    }

    #[test]
    fn an_unsettled_contradiction_is_an_error_and_the_allow_list_keeps_a_declaration() {
        let mut doc = json!({"components": {"schemas": {"Thing": {"properties": {
            "flag": {"type": "integer", "example": 1.5},
        }}}}});
        let err = correct_from_examples(&mut doc).unwrap_err().to_string();
        assert!(err.contains("Thing.flag"), "{err}");

        let mut doc = json!({"components": {"schemas": {"JobData": {"properties": {
            "record": {"type": "object", "example": "{first_name: \"John\"}"},
        }}}}});
        let changes = correct_from_examples(&mut doc).unwrap();
        let record = &doc["components"]["schemas"]["JobData"]["properties"]["record"];
        assert_eq!(record["type"], "object");
        assert!(
            record.get("example").is_none(),
            "the pseudo-code example is dropped"
        );
        assert!(changes[0].as_str().unwrap().contains("declaration kept"));
    }
}
