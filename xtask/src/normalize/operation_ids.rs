//! `operationId`s in `verb_resource` style, derived from the method and the path.
//!
//! `GET /v2/people.json` is `list_people`, `GET /v2/people/{id}.json` is `get_person`,
//! `POST` is `create_`, `PUT` is `update_`, `DELETE` is `delete_`; `POST /v2/*_upserts` is
//! `upsert_`; singletons (`/v2/me.json`) are `get_`. The few paths that the rule names badly
//! or twice are in [`OVERRIDES`].

use super::doc::for_each_operation;
use anyhow::{Result, bail};
use serde_json::Value;
use std::collections::BTreeMap;

/// `(METHOD, path, operationId)` for the operations the rule does not name well.
const OVERRIDES: &[(&str, &str, &str)] = &[
    (
        "POST",
        "/v2/conversations/calls",
        "create_conversations_call",
    ),
    (
        "GET",
        "/v2/bulk_jobs/{bulk_jobs_id}/job_data",
        "list_bulk_job_data",
    ),
    (
        "POST",
        "/v2/bulk_jobs/{bulk_jobs_id}/job_data",
        "create_bulk_job_data",
    ),
    (
        "GET",
        "/v2/bulk_jobs/{bulk_jobs_id}/results",
        "list_bulk_job_results",
    ),
    ("GET", "/v2/calendar/events", "list_calendar_events"),
    (
        "POST",
        "/v2/calendar/events/upsert",
        "upsert_calendar_event",
    ),
    (
        "POST",
        "/v2/meetings/settings/searches.json",
        "search_meeting_settings",
    ),
    (
        "PUT",
        "/v2/meetings/settings/{id}.json",
        "update_meeting_setting",
    ),
    ("POST", "/v2/cadence_imports.json", "import_cadences"),
    ("GET", "/v2/cadence_exports/{id}.json", "export_cadence"),
    (
        "POST",
        "/v2/third_party_live_feed_items",
        "create_live_feed_item",
    ),
    (
        "GET",
        "/v2/phone_numbers/caller_ids.json",
        "list_caller_ids",
    ),
];

pub fn assign(doc: &mut Value) -> Result<()> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for_each_operation(doc, |path, method, op| {
        let id = operation_id(method, path)?;
        let at = format!("{} {path}", method.to_uppercase());
        if let Some(other) = seen.insert(id.clone(), at.clone()) {
            bail!("operationId `{id}` would name both `{other}` and `{at}`: add an override");
        }
        op.insert("operationId".into(), Value::String(id));
        Ok(())
    })
}

/// The operationId of `method path`.
pub fn operation_id(method: &str, path: &str) -> Result<String> {
    let upper = method.to_uppercase();
    if let Some((_, _, id)) = OVERRIDES.iter().find(|(m, p, _)| *m == upper && *p == path) {
        return Ok((*id).to_string());
    }
    let segments: Vec<&str> = path
        .trim_start_matches('/')
        .trim_end_matches(".json")
        .split('/')
        .filter(|s| *s != "v2")
        .collect();
    let item = segments.last().is_some_and(|s| s.starts_with('{'));
    let Some(resource) = segments.iter().rev().find(|s| !s.starts_with('{')) else {
        bail!("no resource name in `{path}`");
    };
    let singular = singularize(resource);
    let plural = singular != *resource;
    let id = match (method, item) {
        ("post", false) if resource.ends_with("_upserts") => {
            format!("upsert_{}", singular.trim_end_matches("_upsert"))
        }
        ("get", false) if plural => format!("list_{resource}"),
        ("get", _) => format!("get_{singular}"),
        ("post", false) => format!("create_{singular}"),
        ("put", true) | ("patch", true) => format!("update_{singular}"),
        ("delete", true) => format!("delete_{singular}"),
        _ => bail!("no naming rule for {upper} {path}: add an override"),
    };
    Ok(id)
}

/// English singular of the resource names SalesLoft uses.
fn singularize(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("people") {
        return format!("{stem}person");
    }
    if let Some(stem) = word.strip_suffix("ies") {
        return format!("{stem}y");
    }
    for suffix in ["sses", "ches", "shes", "xes"] {
        if let Some(stem) = word.strip_suffix(suffix) {
            return format!("{stem}{}", &suffix[..suffix.len() - 2]);
        }
    }
    match word.strip_suffix('s') {
        Some(stem) if !stem.ends_with('s') => stem.to_string(),
        _ => word.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_verb_resource() {
        let cases = [
            ("get", "/v2/people.json", "list_people"),
            ("get", "/v2/people/{id}.json", "get_person"),
            ("post", "/v2/people.json", "create_person"),
            ("put", "/v2/people/{id}.json", "update_person"),
            ("delete", "/v2/people/{id}.json", "delete_person"),
            ("get", "/v2/me.json", "get_me"),
            ("post", "/v2/person_upserts.json", "upsert_person"),
            (
                "post",
                "/v2/cadence_memberships.json",
                "create_cadence_membership",
            ),
            ("get", "/v2/activity_histories", "list_activity_histories"),
            ("get", "/v2/successes.json", "list_successes"),
            ("get", "/v2/activities/calls/{id}.json", "get_call"),
            (
                "post",
                "/v2/conversations/calls",
                "create_conversations_call",
            ),
        ];
        for (method, path, want) in cases {
            assert_eq!(operation_id(method, path).unwrap(), want, "{method} {path}");
        }
    }

    #[test]
    fn duplicate_names_are_refused() {
        let mut doc = json!({"paths": {
            "/v2/a/calls.json": {"post": {}},
            "/v2/b/calls.json": {"post": {}},
        }});
        let err = format!("{:#}", assign(&mut doc).unwrap_err());
        assert!(err.contains("create_call"), "{err}");
    }

    #[test]
    fn assigns_into_the_document() {
        let mut doc = json!({"paths": {"/v2/tags.json": {"get": {}, "parameters": []}}});
        assign(&mut doc).unwrap();
        assert_eq!(
            doc["paths"]["/v2/tags.json"]["get"]["operationId"],
            "list_tags"
        );
    }
}
