//! Request bodies (SERVICE.md §1.5, §1.14, §1.15). Cadence memberships keep their query
//! parameters, as the document declares them (§1.9).

use super::doc::{escape, for_each_operation, operation_mut};
use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

/// Every request body becomes `application/json` (the service takes JSON; progenitor takes one
/// media type). Shared `components.requestBodies` are inlined first, then removed.
pub fn json_request_bodies(doc: &mut Value) -> Result<()> {
    let shared = doc
        .pointer_mut("/components")
        .and_then(Value::as_object_mut)
        .and_then(|c| c.remove("requestBodies"))
        .unwrap_or_else(|| json!({}));
    for_each_operation(doc, |_, _, op| {
        let Some(body) = op.get_mut("requestBody") else {
            return Ok(());
        };
        if let Some(reference) = body.get("$ref").and_then(Value::as_str) {
            let name = reference
                .strip_prefix("#/components/requestBodies/")
                .with_context(|| format!("unexpected request body reference `{reference}`"))?;
            *body = shared
                .pointer(&format!("/{}", escape(name)))
                .cloned()
                .with_context(|| format!("no request body `{name}`"))?;
        }
        let content = body
            .get_mut("content")
            .and_then(Value::as_object_mut)
            .context("request body without content")?;
        let media = content
            .remove(FORM)
            .or_else(|| content.remove(JSON))
            .context("request body is neither form nor JSON")?;
        content.clear();
        content.insert(JSON.into(), media);
        Ok(())
    })
}

/// An Account update is partial: nothing is required.
pub fn partial_account_update(doc: &mut Value) -> Result<()> {
    body_schema(doc, "put", "/v2/accounts/{id}.json")?.remove("required");
    Ok(())
}

/// Account `custom_fields` is an object map in requests, as in responses.
pub fn account_custom_fields_map(doc: &mut Value) -> Result<()> {
    for (method, path) in [
        ("post", "/v2/accounts.json"),
        ("put", "/v2/accounts/{id}.json"),
        ("post", "/v2/account_upserts.json"),
    ] {
        let schema = body_schema(doc, method, path)?;
        let field = schema
            .get_mut("properties")
            .and_then(|p| p.get_mut("custom_fields"))
            .with_context(|| format!("{method} {path} has no custom_fields"))?;
        let description = field.get("description").cloned().unwrap_or(Value::Null);
        *field = json!({"type": "object", "description": description});
    }
    Ok(())
}

/// A bulk job's upload is `{"data": [records]}`, each record the body of one call of the job's
/// type (a person upsert, say); the document declares the records as strings.
pub fn bulk_job_records_are_objects(doc: &mut Value) -> Result<()> {
    let (method, path) = ("post", "/v2/bulk_jobs/{bulk_jobs_id}/job_data");
    let schema = body_schema(doc, method, path)?;
    let items = schema
        .get_mut("properties")
        .and_then(|p| p.pointer_mut("/data/items"))
        .with_context(|| format!("{method} {path} has no data items"))?;
    *items = json!({"type": "object", "additionalProperties": true});
    Ok(())
}

fn body_schema<'a>(
    doc: &'a mut Value,
    method: &str,
    path: &str,
) -> Result<&'a mut Map<String, Value>> {
    operation_mut(doc, method, path)?
        .get_mut("requestBody")
        .and_then(|b| b.pointer_mut("/content/application~1json/schema"))
        .and_then(Value::as_object_mut)
        .with_context(|| {
            format!("{method} {path} has no JSON body (run json_request_bodies first)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(schema: Value) -> Value {
        json!({"content": {FORM: {"schema": schema}}})
    }

    fn doc() -> Value {
        json!({
            "paths": {
                "/v2/accounts.json": {"post": {"requestBody": form(json!({"required": ["name", "domain"], "properties": {"custom_fields": {"type": "array", "items": {"type": "object"}}}}))}},
                "/v2/accounts/{id}.json": {"put": {"requestBody": form(json!({"required": ["name", "domain"], "properties": {"custom_fields": {"type": "array"}}}))}},
                "/v2/account_upserts.json": {"post": {"requestBody": form(json!({"properties": {"custom_fields": {"type": "array"}}}))}},
                "/v2/imports.json": {"post": {"requestBody": {"$ref": "#/components/requestBodies/postV2ImportsJson"}}},
                "/v2/cadence_memberships.json": {"post": {"parameters": [
                    {"in": "query", "name": "person_id", "required": true, "schema": {"type": "integer"}},
                    {"in": "query", "name": "step_id", "required": false, "schema": {"type": "integer"}},
                ]}},
            },
            "components": {"requestBodies": {"postV2ImportsJson": form(json!({"properties": {"name": {"type": "string"}}}))}},
        })
    }

    #[test]
    fn bodies_become_json_and_shared_bodies_are_inlined() {
        let mut d = doc();
        json_request_bodies(&mut d).unwrap();
        let imports = &d["paths"]["/v2/imports.json"]["post"]["requestBody"]["content"];
        assert_eq!(
            imports[JSON]["schema"]["properties"]["name"]["type"],
            "string"
        );
        assert!(imports.get(FORM).is_none());
        assert!(d["components"].get("requestBodies").is_none());
    }

    #[test]
    fn bulk_job_records_become_objects() {
        let mut d = json!({"paths": {"/v2/bulk_jobs/{bulk_jobs_id}/job_data": {"post": {"requestBody": {"content": {JSON: {"schema": {"required": ["data"], "properties": {"data": {"type": "array", "items": {"type": "string"}}}}}}}}}}});
        bulk_job_records_are_objects(&mut d).unwrap();
        let data = &d["paths"]["/v2/bulk_jobs/{bulk_jobs_id}/job_data"]["post"]["requestBody"]["content"]
            [JSON]["schema"]["properties"]["data"];
        assert_eq!(data["items"]["type"], "object");
        assert_eq!(data["type"], "array");
    }

    #[test]
    fn account_update_is_partial_and_custom_fields_a_map() {
        let mut d = doc();
        json_request_bodies(&mut d).unwrap();
        partial_account_update(&mut d).unwrap();
        account_custom_fields_map(&mut d).unwrap();
        let put =
            &d["paths"]["/v2/accounts/{id}.json"]["put"]["requestBody"]["content"][JSON]["schema"];
        assert!(put.get("required").is_none());
        assert_eq!(put["properties"]["custom_fields"]["type"], "object");
        let post =
            &d["paths"]["/v2/accounts.json"]["post"]["requestBody"]["content"][JSON]["schema"];
        assert_eq!(post["required"], json!(["name", "domain"]));
    }
}
