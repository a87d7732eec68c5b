//! Error responses (SERVICE.md §1.11 and §4).

use super::doc::{for_each_operation, schema_ref, schemas_mut};
use anyhow::{Context, Result};
use serde_json::{Value, json};

/// The statuses whose bodies the service documents; all share one schema.
pub const ERROR_STATUSES: &[(&str, &str)] = &[
    ("400", "Bad request"),
    ("401", "No, expired or revoked bearer token"),
    ("403", "Missing scope or permission"),
    ("404", "Not found, also for records the caller may not see"),
    ("422", "Invalid parameters or body"),
    (
        "429",
        "API rate limit exceeded: wait for the next calendar minute",
    ),
];

/// Declares the error bodies on every operation, replacing any error response the document had.
pub fn declare(doc: &mut Value) -> Result<()> {
    schemas_mut(doc)?.insert(
        "ErrorBody".into(),
        json!({
            "description": "An error body: `{\"error\": \"...\"}` or, mostly on 422, `{\"errors\": {\"field\": [\"message\"]}}`",
            "type": "object",
            "properties": {
                "error": {"type": "string", "nullable": true, "description": "What went wrong (also an OAuth error code such as invalid_grant)"},
                "error_description": {"type": "string", "nullable": true, "description": "OAuth error detail"},
                "errors": {
                    "type": "object",
                    "nullable": true,
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    "description": "Messages by field name",
                },
                "status": {"nullable": true, "description": "Sometimes the HTTP status, as a number or a string"},
            },
        }),
    );
    for_each_operation(doc, |_, _, op| {
        let responses = op
            .get_mut("responses")
            .and_then(Value::as_object_mut)
            .context("operation without responses")?;
        responses.retain(|code, _| code.starts_with('2'));
        for (status, description) in ERROR_STATUSES {
            responses.insert(
                (*status).into(),
                json!({"description": description, "content": {"application/json": {"schema": schema_ref("ErrorBody")}}}),
            );
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_declares_the_error_bodies() {
        let mut doc = json!({"paths": {"/v2/x.json": {"post": {"responses": {
            "200": {"description": "ok"},
            "403": {"description": "no content"},
        }}}}});
        declare(&mut doc).unwrap();
        let responses = &doc["paths"]["/v2/x.json"]["post"]["responses"];
        assert_eq!(responses["200"]["description"], "ok");
        for (status, _) in ERROR_STATUSES {
            assert_eq!(
                responses[*status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody"
            );
        }
        assert!(doc["components"]["schemas"]["ErrorBody"]["properties"]["errors"].is_object());
    }
}
