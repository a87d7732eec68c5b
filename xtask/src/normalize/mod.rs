//! The normalization of SalesLoft's published OpenAPI document.
//!
//! Each step fixes one known error of the published document (the table in
//! `salesloft-openapi/SERVICE.md` §1), is named, says why, and is unit-tested on a small document.
//! The steps run in the order of [`STEPS`]; their names are recorded in the output under
//! `info.x-normalization` so a reviewer sees what was applied, with every property a step
//! corrected from the document's examples (`corrected`) and every change it made to what a
//! client sends (`requests_changed`, from [`audit`]).

mod audit;
mod bodies;
mod descriptions;
mod doc;
mod envelopes;
mod errors;
mod evidence;
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
    pub run: Run,
}

/// How a step runs: most fix a known error; some also list each property they corrected, and
/// that list is recorded next to the step so a reviewer sees every one.
pub enum Run {
    Fix(fn(&mut Value) -> Result<()>),
    Corrections(fn(&mut Value) -> Result<Vec<Value>>),
}

/// Every rule, in the order it runs. Order matters where noted.
pub const STEPS: &[Step] = &[
    Step {
        name: "operation_ids",
        why: "progenitor needs a unique operationId on every operation; verb_resource from the path, with overrides",
        run: Run::Fix(operation_ids::assign),
    },
    Step {
        name: "fix_wrong_response_schemas",
        why: "GET /v2/tasks/{id} returns a Task, PUT /v2/notes/{id} a Note, GET /v2/activity_histories a list",
        run: Run::Fix(fixes::wrong_response_schemas),
    },
    Step {
        name: "integer_path_ids",
        why: "`{id}` path parameters are the resources' integer ids (users and team templates excepted: GUIDs)",
        run: Run::Fix(fixes::integer_path_ids),
    },
    Step {
        name: "add_missing_fields",
        why: "fields seen in real responses but missing from the spec",
        run: Run::Fix(fixes::missing_fields),
    },
    Step {
        name: "user_relationships_accepts_empty_array",
        why: "Account.user_relationships is `[]` when empty, an object otherwise",
        run: Run::Fix(fixes::user_relationships),
    },
    Step {
        name: "types_from_examples",
        why: "where a property's own example contradicts its declared type or format, the example wins; identifier-like properties (embedded resources' `id` too: roles, GUIDs) take an integer or a string (the shared `Id`); each correction is listed here",
        run: Run::Corrections(evidence::correct_from_examples),
    },
    Step {
        name: "nullable_properties",
        why: "almost every scalar and embedded reference can be null (runs before envelopes: `data` is never null)",
        run: Run::Fix(nullability::nullable_properties),
    },
    Step {
        name: "json_response_media_type",
        why: "`*/*` responses are JSON; progenitor decodes only exactly application/json",
        run: Run::Fix(envelopes::json_media_type),
    },
    Step {
        name: "response_envelopes",
        why: "every body is wrapped: {data} for one resource, {data, metadata} for a list",
        run: Run::Fix(envelopes::wrap),
    },
    Step {
        name: "json_request_bodies",
        why: "bodies are sent as JSON, as SalesLoft's own apps do; progenitor takes one media type",
        run: Run::Fix(bodies::json_request_bodies),
    },
    Step {
        name: "partial_account_update",
        why: "an Account update is partial: name and domain are not required",
        run: Run::Fix(bodies::partial_account_update),
    },
    Step {
        name: "account_custom_fields_map",
        why: "Account custom_fields is an object map in requests too, as in responses",
        run: Run::Fix(bodies::account_custom_fields_map),
    },
    Step {
        name: "bulk_job_records_are_objects",
        why: "a bulk job's uploaded records are objects (the body of one call of the job's type), not strings",
        run: Run::Fix(bodies::bulk_job_records_are_objects),
    },
    Step {
        name: "bracket_filters",
        why: "date filters are `updated_at[gt]=...` operators (documented in descriptions), not arrays; likewise `id[gt]` on bulk jobs",
        run: Run::Fix(query::bracket_filters),
    },
    Step {
        name: "rails_array_query_params",
        why: "array query parameters are sent Rails style: `ids[]=1&ids[]=2`",
        run: Run::Fix(query::rails_arrays),
    },
    Step {
        name: "deep_object_query_maps",
        why: "free-form `custom_fields[name]=` / `user_relationships[name]=` maps refer to named map schemas (CustomFieldsFilter, UserRelationshipsFilter) that the client replaces with types sending `custom_fields[name]=value`; runs before new_people_filter",
        run: Run::Fix(query::deep_object_maps),
    },
    Step {
        name: "new_people_filter",
        why: "list_people's `new` filter clashes with the generated builder's `new`; kept as the map parameter `new_filter` (a map with the key `new`) that serializes as `new=<bool>`",
        run: Run::Fix(query::new_people_filter),
    },
    Step {
        name: "error_responses",
        why: "401/403/404/422/429 (and 400) bodies are declared so they are decoded, not lost",
        run: Run::Fix(errors::declare),
    },
    Step {
        name: "label_code_fences",
        why: "descriptions become doc comments: unlabelled code fences would run as Rust doctests",
        run: Run::Fix(descriptions::label_code_fences),
    },
    Step {
        name: "security_schemes",
        why: "authorization code with refresh, client credentials, and API keys as bearer tokens",
        run: Run::Fix(security::schemes),
    },
];

/// Applies every step to the upstream document and returns the normalized one.
pub fn normalize(mut doc: Value) -> Result<Value> {
    let mut applied = Vec::new();
    for step in STEPS {
        let context = || format!("normalization step `{}`", step.name);
        let mut entry = serde_json::json!({"step": step.name, "why": step.why});
        let before = audit::request_shapes(&doc);
        match step.run {
            Run::Fix(fix) => fix(&mut doc).with_context(context)?,
            Run::Corrections(correct) => {
                entry["corrected"] = Value::Array(correct(&mut doc).with_context(context)?);
            }
        }
        let requests = audit::changes(&before, &audit::request_shapes(&doc));
        if !requests.is_empty() {
            entry["requests_changed"] = Value::Array(requests);
        }
        applied.push(entry);
    }
    doc["info"]["x-normalization"] = Value::Array(applied);
    Ok(doc)
}

/// The normalized document as the bytes written to `swagger.json`.
pub fn render(doc: &Value) -> Result<String> {
    let mut text = serde_json::to_string_pretty(doc)?;
    text.push('\n');
    Ok(text)
}
