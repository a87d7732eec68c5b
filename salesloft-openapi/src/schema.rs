//! Walking the document: what every crate that reads its schemas shares (the sandbox, the
//! mirror, the tests). Reading the document only; how the service behaves stays with each.

use serde_json::Value;

/// Follows `$ref` and single-element `allOf` (at most 8 steps: the document has no longer
/// chains, and a cycle must not hang a reader).
pub fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    let mut schema = schema;
    for _ in 0..8 {
        if let Some(reference) = schema["$ref"].as_str() {
            schema = doc
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or(&Value::Null);
        } else if let Some([only]) = schema["allOf"].as_array().map(Vec::as_slice) {
            schema = only;
        } else {
            break;
        }
    }
    schema
}

/// The names of the query parameters `operation` requires (parameters given by `$ref` are
/// followed): what a request must carry, and what makes a list a lookup.
pub fn required_query<'a>(doc: &'a Value, operation: &'a Value) -> Vec<&'a str> {
    operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|parameter| resolve(doc, parameter))
        .filter(|p| p["in"] == "query" && p["required"] == true)
        .filter_map(|p| p["name"].as_str())
        .collect()
}

/// How a list operation is walked, as its parameters declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListPaging {
    /// `page` and `per_page`: page numbers.
    Pages,
    /// `id[gt]` and no `page`: ascending ids, each request after the last id seen (bulk jobs).
    AfterId,
    /// Neither: one answer holds the whole list.
    Whole,
}

/// How `operation` (a list) is walked.
pub fn list_paging(doc: &Value, operation: &Value) -> ListPaging {
    let declares = |name: &str| {
        operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|parameter| resolve(doc, parameter)["name"] == name)
    };
    if declares("page") {
        ListPaging::Pages
    } else if declares("id[gt]") {
        ListPaging::AfterId
    } else {
        ListPaging::Whole
    }
}

/// A schema's name in snake case, as the service names events after it:
/// `CadenceMembership` → `cadence_membership`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The form of an identifier on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdForm {
    Integer,
    /// A GUID (`51226150-3108-4dea-883b-0c0d7388f456`).
    Guid,
    /// Another string: a CRM id, a calendar's, a digest.
    Text,
}

/// Embedded references that name a user by role rather than by resource.
pub const USER_REFERENCES: &[&str] = &[
    "owner",
    "creator",
    "created_by",
    "updated_by",
    "last_contacted_by",
    "assignee",
];

/// Identifiers the service sends as strings whatever their example says (SERVICE.md §1.17):
/// GUIDs, CRM ids, calendar and event ids, digests. Every other identifier is an integer,
/// unless its own example is a string that is not a number (a GUID id, say).
pub fn string_identifier(name: &str, example: Option<&Value>) -> Option<IdForm> {
    let guid_like = |text: &str| text.len() == 36 && text.matches('-').count() == 4;
    if name == "guid" || name.ends_with("_guid") || name.ends_with("_guids") {
        return Some(IdForm::Guid);
    }
    let textual = ["crm_id", "calendar_id", "event_id", "i_cal_uid"];
    if textual
        .iter()
        .any(|t| name == *t || name.ends_with(&format!("_{t}")))
        || ["digest", "fingerprint", "hash"]
            .iter()
            .any(|t| name.contains(t))
    {
        return Some(IdForm::Text);
    }
    match example {
        Some(Value::String(text)) if guid_like(text) => Some(IdForm::Guid),
        Some(Value::String(text)) if text.parse::<i64>().is_err() => Some(IdForm::Text),
        _ => None,
    }
}

/// The resource a reference named `name` points at: its singular (`person`), a role of a user
/// (`owner`), or a name ending in a singular (`most_recent_cadence`, `last_completed_step`).
pub fn reference_target(name: &str, singulars: &[(String, String)]) -> Option<String> {
    let by_singular = |s: &str| {
        singulars
            .iter()
            .find(|(singular, _)| singular == s)
            .map(|(_, resource)| resource.clone())
    };
    if let Some(found) = by_singular(name) {
        return Some(found);
    }
    if USER_REFERENCES.contains(&name) || name.ends_with("_user") {
        return by_singular("user");
    }
    singulars
        .iter()
        .filter(|(singular, _)| name.ends_with(&format!("_{singular}")))
        .max_by_key(|(singular, _)| singular.len())
        .map(|(_, resource)| resource.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_followed_and_names_snake_cased() {
        let doc: Value = serde_json::json!({
            "components": {"schemas": {"A": {"allOf": [{"$ref": "#/components/schemas/B"}]}, "B": {"type": "string"}}}
        });
        let schema = serde_json::json!({"$ref": "#/components/schemas/A"});
        assert_eq!(
            resolve(&doc, &schema),
            &serde_json::json!({"type": "string"})
        );
        assert_eq!(snake_case("CadenceMembership"), "cadence_membership");
    }

    #[test]
    fn required_query_parameters_are_read_through_references() {
        let doc: Value = serde_json::json!({
            "components": {"parameters": {"Phone": {"in": "query", "name": "phone_number", "required": true}}}
        });
        let operation = serde_json::json!({"parameters": [
            {"$ref": "#/components/parameters/Phone"},
            {"in": "query", "name": "page", "required": false},
            {"in": "path", "name": "id", "required": true},
        ]});
        assert_eq!(required_query(&doc, &operation), ["phone_number"]);
        assert!(required_query(&doc, &serde_json::json!({})).is_empty());
    }

    #[test]
    fn a_list_is_walked_as_its_parameters_declare() {
        let doc = serde_json::json!({});
        let op = |names: &[&str]| {
            let parameters: Vec<Value> = names
                .iter()
                .map(|n| serde_json::json!({"in": "query", "name": n}))
                .collect();
            serde_json::json!({ "parameters": parameters })
        };
        assert_eq!(
            list_paging(&doc, &op(&["per_page", "page", "id[gt]"])),
            ListPaging::Pages
        );
        assert_eq!(
            list_paging(&doc, &op(&["id[gt]", "per_page"])),
            ListPaging::AfterId
        );
        assert_eq!(list_paging(&doc, &op(&["ids[]"])), ListPaging::Whole);
    }
}
