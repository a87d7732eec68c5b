//! Fidelity: what the document's own examples say a record looks like, and what the sandbox
//! serves for every operation, decodes with the generated types (salesloft-openapi/SERVICE.md
//! §1.17). A failure names the schema or operation and the property.

use salesloft_api::decode::DecodeFailure;
use salesloft_api::generated::decoders::{Decode, OPERATIONS, SCHEMAS};
use salesloft_mock::call::Reply;
use salesloft_mock::spec_routes::SpecRoutes;
use salesloft_openapi::schema::resolve;
use serde_json::{Map, Value};

fn spec() -> Value {
    serde_json::from_str(salesloft_openapi::SPEC).expect("the spec is JSON")
}

/// A value of `schema` made of the document's examples: its own example, else an object of
/// its properties' (through references), else an array of one item; `None` without examples.
fn from_examples(doc: &Value, schema: &Value, depth: usize) -> Option<Value> {
    if let Some(example) = schema.get("example") {
        return Some(example.clone());
    }
    let schema = resolve(doc, schema);
    if let Some(example) = schema.get("example") {
        return Some(example.clone());
    }
    if depth > 5 {
        return None;
    }
    if let Some(properties) = schema["properties"].as_object() {
        let fields: Map<String, Value> = properties
            .iter()
            .filter_map(|(name, p)| Some((name.clone(), from_examples(doc, p, depth + 1)?)))
            .collect();
        return (!fields.is_empty()).then_some(Value::Object(fields));
    }
    if schema["type"] == "array" {
        return from_examples(doc, &schema["items"], depth + 1)
            .map(|item| Value::Array(vec![item]));
    }
    None
}

fn decode(decode: Decode, value: &Value) -> Result<(), DecodeFailure> {
    let text = serde_json::to_vec(value).unwrap();
    decode(&text).map_err(|e| DecodeFailure::new(&text, &e))
}

#[test]
fn every_schema_decodes_a_record_made_of_the_documents_examples() {
    let doc = spec();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut failures = Vec::new();
    let (mut records, mut properties) = (0, 0);
    for (name, decoder) in SCHEMAS {
        let schema = &schemas[*name];
        // Each property alone, so every wrong one is named, then the whole record.
        for (property, definition) in schema["properties"].as_object().into_iter().flatten() {
            let Some(value) = from_examples(&doc, definition, 1) else {
                continue;
            };
            properties += 1;
            let mut one = Map::new();
            one.insert(property.clone(), value.clone());
            if let Err(failure) = decode(*decoder, &Value::Object(one)) {
                let example: String = value.to_string().chars().take(60).collect();
                failures.push(format!("{name}.{property} (example {example}): {failure}"));
            }
        }
        if let Some(record) = from_examples(&doc, schema, 0) {
            records += 1;
            if let Err(failure) = decode(*decoder, &record) {
                failures.push(format!("{name} (whole record): {failure}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every schema is in the table, and the examples are really there to decode.
    assert_eq!(SCHEMAS.len(), schemas.len());
    assert!(
        records > 120 && properties > 600,
        "{records} records, {properties} properties"
    );
}

#[test]
fn the_sandboxs_answer_to_every_operation_decodes() {
    let routes = SpecRoutes::from_spec(salesloft_openapi::SPEC);
    assert_eq!(
        routes.routes.len(),
        118,
        "SalesLoft documents 118 operations"
    );
    let mut failures = Vec::new();
    let mut decoded = 0;
    for route in &routes.routes {
        let reply = route.example_reply().expect("an example reply");
        let body = match reply {
            Reply::Json(_, body) => body,
            Reply::Bytes(_, bytes) => serde_json::from_slice(&bytes).unwrap(),
            Reply::NoContent => continue,
        };
        let Some((_, decoder)) = OPERATIONS.iter().find(|(op, _)| *op == route.operation_id) else {
            failures.push(format!(
                "{}: serves a body, but the client expects none",
                route.operation_id
            ));
            continue;
        };
        match decode(*decoder, &body) {
            Ok(()) => decoded += 1,
            Err(failure) => failures.push(format!("{}: {failure}", route.operation_id)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        decoded,
        OPERATIONS.len(),
        "every operation with a body was decoded"
    );
}
