//! Response media types and envelopes (SERVICE.md §1.1, §1.2 and §2).

use super::doc::{for_each_operation, ref_name, schema_ref, schemas_mut};
use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

/// `*/*` becomes `application/json`.
pub fn json_media_type(doc: &mut Value) -> Result<()> {
    for_each_operation(doc, |_, _, op| {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        for response in responses.values_mut() {
            let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
                continue;
            };
            if let Some(media) = content.remove("*/*") {
                content.insert("application/json".into(), media);
            }
        }
        Ok(())
    })
}

/// Wraps every success body in its envelope: `XEnvelope {data: X}` for one resource and
/// `XListEnvelope {data: [X], metadata: ListMetadata}` for a list, and adds the shared
/// metadata schemas, whose `paging` and every field of it may be absent or null.
pub fn wrap(doc: &mut Value) -> Result<()> {
    let mut envelopes: Map<String, Value> = Map::new();
    for_each_operation(doc, |_, _, op| {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        for (code, response) in responses.iter_mut() {
            if !code.starts_with('2') {
                continue;
            }
            let Some(schema) = response.pointer_mut("/content/application~1json/schema") else {
                continue;
            };
            let (name, envelope) = envelope_for(schema)?;
            envelopes.insert(name.clone(), envelope);
            *schema = schema_ref(&name);
        }
        Ok(())
    })?;
    let schemas = schemas_mut(doc)?;
    for (name, schema) in metadata_schemas().into_iter().chain(envelopes) {
        if schemas.insert(name.clone(), schema).is_some() {
            bail!("schema `{name}` already exists in the document");
        }
    }
    Ok(())
}

fn envelope_for(schema: &Value) -> Result<(String, Value)> {
    if let Some(name) = ref_name(schema) {
        let envelope = json!({
            "description": format!("One {name}, in SalesLoft's `data` envelope"),
            "type": "object",
            "required": ["data"],
            "properties": {"data": schema_ref(name)},
        });
        return Ok((format!("{name}Envelope"), envelope));
    }
    if schema.get("type").and_then(Value::as_str) == Some("array") {
        let name = schema
            .get("items")
            .and_then(ref_name)
            .context("list response whose items are not a named schema")?;
        let envelope = json!({
            "description": format!("A page of {name} records, in SalesLoft's `data` + `metadata` envelope"),
            "type": "object",
            "required": ["data"],
            "properties": {
                "data": {"type": "array", "items": schema_ref(name)},
                "metadata": {"allOf": [schema_ref("ListMetadata")], "nullable": true},
            },
        });
        return Ok((format!("{name}ListEnvelope"), envelope));
    }
    bail!("response schema is neither a named schema nor a list of one: {schema}")
}

fn metadata_schemas() -> Vec<(String, Value)> {
    let nullable_int = |description: &str| json!({"type": "integer", "format": "int64", "nullable": true, "description": description});
    vec![
        (
            "ListMetadata".into(),
            json!({
                "description": "Metadata of a list response. `paging` is absent on unpaged lists: no next page.",
                "type": "object",
                "properties": {
                    "filtering": {"type": "object", "nullable": true, "description": "The filters applied"},
                    "paging": {"allOf": [schema_ref("Paging")], "nullable": true},
                    "sorting": {"allOf": [schema_ref("Sorting")], "nullable": true},
                },
            }),
        ),
        (
            "Paging".into(),
            json!({
                "description": "Page position. `total_pages` and `total_count` only with `include_paging_counts=true`.",
                "type": "object",
                "properties": {
                    "per_page": nullable_int("Records per page, as clamped by the service (1 to 100)"),
                    "current_page": nullable_int("This page, starting at 1"),
                    "next_page": nullable_int("The next page, or null on the last page"),
                    "prev_page": nullable_int("The previous page, or null on the first page"),
                    "total_pages": nullable_int("Number of pages (only with include_paging_counts)"),
                    "total_count": nullable_int("Number of records (only with include_paging_counts)"),
                },
            }),
        ),
        (
            "Sorting".into(),
            json!({
                "description": "The sort applied",
                "type": "object",
                "properties": {
                    "sort_by": {"type": "string", "nullable": true},
                    "sort_direction": {"type": "string", "nullable": true},
                },
            }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "paths": {"/v2/people.json": {
                "get": {"responses": {"200": {"content": {"*/*": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Person"}}}}}}},
                "post": {"responses": {"200": {"content": {"*/*": {"schema": {"$ref": "#/components/schemas/Person"}}}}}},
            },
            "/v2/people/{id}.json": {"delete": {"responses": {"204": {"description": "gone"}}}}},
            "components": {"schemas": {"Person": {}}},
        })
    }

    #[test]
    fn media_type_becomes_json() {
        let mut d = doc();
        json_media_type(&mut d).unwrap();
        let content = &d["paths"]["/v2/people.json"]["get"]["responses"]["200"]["content"];
        assert!(content.get("*/*").is_none());
        assert!(content.get("application/json").is_some());
    }

    #[test]
    fn bodies_are_wrapped_and_204_untouched() {
        let mut d = doc();
        json_media_type(&mut d).unwrap();
        wrap(&mut d).unwrap();
        let schema = |m: &str| {
            d["paths"]["/v2/people.json"][m]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].clone()
        };
        assert_eq!(schema("get"), "#/components/schemas/PersonListEnvelope");
        assert_eq!(schema("post"), "#/components/schemas/PersonEnvelope");
        let s = &d["components"]["schemas"];
        assert_eq!(s["PersonEnvelope"]["required"], json!(["data"]));
        assert_eq!(
            s["PersonListEnvelope"]["properties"]["metadata"]["nullable"],
            true
        );
        assert_eq!(s["Paging"]["properties"]["next_page"]["nullable"], true);
        assert_eq!(
            d["paths"]["/v2/people/{id}.json"]["delete"]["responses"]["204"],
            json!({"description": "gone"})
        );
    }
}
