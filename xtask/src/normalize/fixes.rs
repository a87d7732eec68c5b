//! Fixes of individual schemas that the published document gets wrong.

use super::doc::{operation_mut, schema_mut, schema_ref};
use anyhow::{Context, Result};
use serde_json::{Value, json};

/// Copy-paste bugs in three response schemas (SERVICE.md §1.12).
pub fn wrong_response_schemas(doc: &mut Value) -> Result<()> {
    let fixes = [
        ("get", "/v2/tasks/{id}.json", schema_ref("Task")),
        ("put", "/v2/notes/{id}.json", schema_ref("Note")),
        (
            "get",
            "/v2/activity_histories",
            json!({"type": "array", "items": schema_ref("ActivityHistory")}),
        ),
    ];
    for (method, path, schema) in fixes {
        let op = operation_mut(doc, method, path)?;
        let content = op
            .get_mut("responses")
            .and_then(|r| r.get_mut("200"))
            .and_then(|r| r.get_mut("content"))
            .and_then(Value::as_object_mut)
            .with_context(|| format!("{method} {path} has no 200 content"))?;
        for media in content.values_mut() {
            media["schema"] = schema.clone();
        }
    }
    Ok(())
}

/// Fields seen in real responses but absent from the spec. Shapes not documented anywhere
/// are left free-form so that whatever arrives decodes.
pub fn missing_fields(doc: &mut Value) -> Result<()> {
    let additions = [
        (
            "Person",
            "account_crm_id",
            json!({"type": "string", "description": "CRM id of the person's account"}),
        ),
        (
            "Account",
            "prospector_engagement_score",
            json!({"description": "Prospector engagement score (a number, sometimes sent as a string)"}),
        ),
        (
            "Account",
            "prospector_engagement_level",
            json!({"type": "string", "description": "Prospector engagement level"}),
        ),
        (
            "Task",
            "instigator",
            json!({"description": "What created the task"}),
        ),
        (
            "Task",
            "score",
            json!({"description": "Task score (a number, sometimes sent as a string)"}),
        ),
        (
            "Task",
            "source",
            json!({"type": "string", "description": "Where the task came from"}),
        ),
        (
            "Task",
            "custom_attributes",
            json!({"type": "object", "description": "Custom attributes of the task"}),
        ),
        (
            "Task",
            "object_references",
            json!({"type": "array", "items": {}, "description": "Objects the task refers to"}),
        ),
    ];
    for (schema, field, definition) in additions {
        let properties = schema_mut(doc, schema)?
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .with_context(|| format!("{schema}.properties is not an object"))?;
        properties.entry(field).or_insert(definition);
    }
    Ok(())
}

/// `Account.user_relationships` is `[]` when empty (SERVICE.md §1.13).
pub fn user_relationships(doc: &mut Value) -> Result<()> {
    let account = schema_mut(doc, "Account")?;
    let field = account
        .get_mut("properties")
        .and_then(|p| p.get_mut("user_relationships"))
        .context("Account has no user_relationships")?;
    let description = field.get("description").cloned().unwrap_or(Value::Null);
    *field = json!({
        "description": description,
        "oneOf": [
            {"type": "object", "additionalProperties": {}},
            {"type": "array", "items": {}, "maxItems": 0},
        ],
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        let ok = |schema: &str| json!({"responses": {"200": {"content": {"*/*": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}}}});
        json!({
            "paths": {
                "/v2/tasks/{id}.json": {"get": ok("Step")},
                "/v2/notes/{id}.json": {"put": ok("Person")},
                "/v2/activity_histories": {"get": ok("ActivityHistory")},
            },
            "components": {"schemas": {
                "Person": {"properties": {}}, "Account": {"properties": {"user_relationships": {"type": "object", "description": "d"}}},
                "Task": {"properties": {}},
                "EmbeddedResource": {"properties": {"id": {"type": "integer"}, "_href": {"type": "string"}}},
            }},
        })
    }

    #[test]
    fn wrong_schemas_are_replaced() {
        let mut d = doc();
        wrong_response_schemas(&mut d).unwrap();
        let schema = |p: &str, m: &str| {
            d["paths"][p][m]["responses"]["200"]["content"]["*/*"]["schema"].clone()
        };
        assert_eq!(
            schema("/v2/tasks/{id}.json", "get")["$ref"],
            "#/components/schemas/Task"
        );
        assert_eq!(
            schema("/v2/notes/{id}.json", "put")["$ref"],
            "#/components/schemas/Note"
        );
        assert_eq!(schema("/v2/activity_histories", "get")["type"], "array");
    }

    #[test]
    fn missing_fields_are_added_and_kept_if_present() {
        let mut d = doc();
        d["components"]["schemas"]["Task"]["properties"]["score"] = json!({"type": "number"});
        missing_fields(&mut d).unwrap();
        assert_eq!(
            d["components"]["schemas"]["Person"]["properties"]["account_crm_id"]["type"],
            "string"
        );
        assert_eq!(
            d["components"]["schemas"]["Task"]["properties"]["score"]["type"],
            "number"
        );
    }

    #[test]
    fn user_relationships_takes_an_empty_array() {
        let mut d = doc();
        user_relationships(&mut d).unwrap();
        let f = &d["components"]["schemas"]["Account"]["properties"]["user_relationships"];
        assert_eq!(f["oneOf"][1]["type"], "array");
        assert_eq!(f["description"], "d");
    }
}

/// Path ids that can be GUIDs (SERVICE.md §1.6) and so stay strings.
const STRING_PATH_IDS: &[&str] = &["/v2/users/{id}.json", "/v2/team_templates/{id}.json"];

/// The published document types most `{id}` path parameters as strings; they are the integer
/// ids of the resources (users and team templates excepted: their ids can be GUIDs).
pub fn integer_path_ids(doc: &mut Value) -> Result<()> {
    super::doc::for_each_operation(doc, |path, _, op| {
        if STRING_PATH_IDS.contains(&path) {
            return Ok(());
        }
        let Some(parameters) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
            return Ok(());
        };
        for parameter in parameters.iter_mut().filter(|p| p["in"] == "path") {
            if parameter["schema"]["type"] == "string" {
                parameter["schema"] = json!({"type": "integer", "format": "int64"});
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod path_id_tests {
    use super::*;

    #[test]
    fn string_path_ids_become_integers_except_guid_resources() {
        let id =
            json!([{"in": "path", "name": "id", "required": true, "schema": {"type": "string"}}]);
        let mut doc = json!({"paths": {
            "/v2/people/{id}.json": {"get": {"parameters": id.clone()}},
            "/v2/users/{id}.json": {"get": {"parameters": id}},
        }});
        integer_path_ids(&mut doc).unwrap();
        assert_eq!(
            doc["paths"]["/v2/people/{id}.json"]["get"]["parameters"][0]["schema"]["type"],
            "integer"
        );
        assert_eq!(
            doc["paths"]["/v2/users/{id}.json"]["get"]["parameters"][0]["schema"]["type"],
            "string"
        );
    }
}
