//! Nullability: the service sends `null` for almost any property (SERVICE.md §1.4).

use super::doc::schemas_mut;
use anyhow::Result;
use serde_json::{Map, Value, json};

/// Marks every property of every component schema nullable, nested objects included.
/// A `$ref` cannot carry `nullable` in OpenAPI 3.0, so it becomes `allOf: [$ref]` + `nullable`.
pub fn nullable_properties(doc: &mut Value) -> Result<()> {
    for schema in schemas_mut(doc)?.values_mut() {
        mark_properties(schema);
    }
    Ok(())
}

fn mark_properties(schema: &mut Value) {
    let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for property in properties.values_mut() {
        mark_properties(property);
        if let Some(items) = property.get_mut("items") {
            mark_properties(items);
        }
        make_nullable(property);
    }
}

fn make_nullable(property: &mut Value) {
    let Some(object) = property.as_object_mut() else {
        return;
    };
    if let Some(reference) = object.remove("$ref") {
        let mut wrapped = Map::new();
        wrapped.insert("allOf".into(), json!([{ "$ref": reference }]));
        wrapped.append(object);
        *object = wrapped;
    }
    object.insert("nullable".into(), Value::Bool(true));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_refs_and_nested_properties_become_nullable() {
        let mut doc = json!({"components": {"schemas": {"Person": {"properties": {
            "name": {"type": "string"},
            "account": {"$ref": "#/components/schemas/EmbeddedResource", "description": "x"},
            "counts": {"type": "object", "properties": {"calls": {"type": "integer"}}},
            "tags": {"type": "array", "items": {"type": "string"}},
        }}}}});
        nullable_properties(&mut doc).unwrap();
        let p = &doc["components"]["schemas"]["Person"]["properties"];
        assert_eq!(p["name"]["nullable"], true);
        assert_eq!(
            p["account"]["allOf"][0]["$ref"],
            "#/components/schemas/EmbeddedResource"
        );
        assert_eq!(p["account"]["nullable"], true);
        assert!(p["account"].get("$ref").is_none());
        assert_eq!(p["counts"]["properties"]["calls"]["nullable"], true);
        assert_eq!(p["tags"]["nullable"], true);
    }
}
