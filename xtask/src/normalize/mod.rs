//! The normalization of SalesLoft's published OpenAPI document.
//!
//! Each step fixes one known error of the published document (the table in
//! `salesloft-openapi/SERVICE.md` §1), is named, says why, and is unit-tested on a small document.
//! The steps run in the order of [`STEPS`]; their names are recorded in the output under
//! `info.x-normalization` so a reviewer sees what was applied.

mod bodies;
mod descriptions;
mod doc;
mod envelopes;
mod errors;
mod fixes;
mod nullability;
mod operation_ids;
mod query;
mod security;

use anyhow::{Context, Result};
use serde_json::Value;

/// One normalization rule.
pub struct Step {
    pub name: &'static str,
    pub why: &'static str,
    pub run: fn(&mut Value) -> Result<()>,
}

/// Every rule, in the order it runs. Order matters where noted.
pub const STEPS: &[Step] = &[
    Step {
        name: "operation_ids",
        why: "progenitor needs a unique operationId on every operation; verb_resource from the path, with overrides",
        run: operation_ids::assign,
    },
    Step {
        name: "fix_wrong_response_schemas",
        why: "GET /v2/tasks/{id} returns a Task, PUT /v2/notes/{id} a Note, GET /v2/activity_histories a list",
        run: fixes::wrong_response_schemas,
    },
    Step {
        name: "integer_path_ids",
        why: "`{id}` path parameters are the resources' integer ids (users and team templates excepted: GUIDs)",
        run: fixes::integer_path_ids,
    },
    Step {
        name: "add_missing_fields",
        why: "fields seen in real responses but missing from the spec",
        run: fixes::missing_fields,
    },
    Step {
        name: "embedded_resource_ids",
        why: "embedded `id` is an integer or a string (roles, GUIDs); `_href` is sometimes absent",
        run: fixes::embedded_resource_ids,
    },
    Step {
        name: "user_relationships_accepts_empty_array",
        why: "Account.user_relationships is `[]` when empty, an object otherwise",
        run: fixes::user_relationships,
    },
    Step {
        name: "nullable_properties",
        why: "almost every scalar and embedded reference can be null (runs before envelopes: `data` is never null)",
        run: nullability::nullable_properties,
    },
    Step {
        name: "json_response_media_type",
        why: "`*/*` responses are JSON; progenitor decodes only exactly application/json",
        run: envelopes::json_media_type,
    },
    Step {
        name: "response_envelopes",
        why: "every body is wrapped: {data} for one resource, {data, metadata} for a list",
        run: envelopes::wrap,
    },
    Step {
        name: "json_request_bodies",
        why: "bodies are sent as JSON, as SalesLoft's own apps do; progenitor takes one media type",
        run: bodies::json_request_bodies,
    },
    Step {
        name: "partial_account_update",
        why: "an Account update is partial: name and domain are not required",
        run: bodies::partial_account_update,
    },
    Step {
        name: "account_custom_fields_map",
        why: "Account custom_fields is an object map in requests too, as in responses",
        run: bodies::account_custom_fields_map,
    },
    Step {
        name: "bracket_filters",
        why: "date filters are `updated_at[gt]=...` operators (documented in descriptions), not arrays; likewise `id[gt]` on bulk jobs",
        run: query::bracket_filters,
    },
    Step {
        name: "rails_array_query_params",
        why: "array query parameters are sent Rails style: `ids[]=1&ids[]=2`",
        run: query::rails_arrays,
    },
    Step {
        name: "drop_deep_object_query_maps",
        why: "free-form `custom_fields[name]=` / `user_relationships[name]=` maps cannot be expressed for the generator; dropped (use a raw request); runs before new_people_filter",
        run: query::drop_deep_object_maps,
    },
    Step {
        name: "new_people_filter",
        why: "list_people's `new` filter clashes with the generated builder's `new`; kept as the map parameter `new_filter` (a map with the key `new`) that serializes as `new=<bool>`",
        run: query::new_people_filter,
    },
    Step {
        name: "error_responses",
        why: "401/403/404/422/429 (and 400) bodies are declared so they are decoded, not lost",
        run: errors::declare,
    },
    Step {
        name: "label_code_fences",
        why: "descriptions become doc comments: unlabelled code fences would run as Rust doctests",
        run: descriptions::label_code_fences,
    },
    Step {
        name: "security_schemes",
        why: "authorization code with refresh, client credentials, and API keys as bearer tokens",
        run: security::schemes,
    },
];

/// Applies every step to the upstream document and returns the normalized one.
pub fn normalize(mut doc: Value) -> Result<Value> {
    for step in STEPS {
        (step.run)(&mut doc).with_context(|| format!("normalization step `{}`", step.name))?;
    }
    let applied: Vec<Value> = STEPS
        .iter()
        .map(|s| serde_json::json!({"step": s.name, "why": s.why}))
        .collect();
    doc["info"]["x-normalization"] = Value::Array(applied);
    Ok(doc)
}

/// The normalized document as the bytes written to `swagger.json`.
pub fn render(doc: &Value) -> Result<String> {
    let mut text = serde_json::to_string_pretty(doc)?;
    text.push('\n');
    Ok(text)
}
