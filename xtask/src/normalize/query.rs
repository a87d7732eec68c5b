//! Query parameters as the service reads them (SERVICE.md §1.7 and §1.8).

use super::doc::{for_each_operation, operation_mut};
use anyhow::{Context, Result};
use serde_json::{Value, json};

const CUSTOM_MARKER: &str = "---CUSTOM---";

/// Calls `f` on the `parameters` array of every operation and lets it rewrite the list.
fn rewrite_parameters(
    doc: &mut Value,
    mut f: impl FnMut(Vec<Value>) -> Result<Vec<Value>>,
) -> Result<()> {
    for_each_operation(doc, |_, _, op| {
        if let Some(Value::Array(parameters)) = op.get_mut("parameters") {
            *parameters = f(std::mem::take(parameters))?;
        }
        Ok(())
    })
}

fn is_query(parameter: &Value) -> bool {
    parameter["in"] == "query"
}

/// `updated_at` documented (in a `---CUSTOM---` block of its description) as an object of
/// operators becomes `updated_at[gt]`, `updated_at[gte]`, `updated_at[lt]`, `updated_at[lte]`:
/// optional date-time parameters. The bulk-job `id` filter becomes `id[gt]`.
pub fn bracket_filters(doc: &mut Value) -> Result<()> {
    rewrite_parameters(doc, |parameters| {
        let mut out = Vec::with_capacity(parameters.len());
        for parameter in parameters {
            let description = parameter["description"].as_str().unwrap_or_default();
            if is_query(&parameter) && description.contains(CUSTOM_MARKER) {
                out.extend(operator_parameters(&parameter)?);
            } else if is_query(&parameter)
                && parameter["name"] == "id"
                && description.contains("id[gt]")
            {
                out.push(json!({
                    "in": "query",
                    "name": "id[gt]",
                    "required": false,
                    "description": "Returns records whose id is greater than this one (the pagination cursor of bulk jobs)",
                    "schema": {"type": "integer", "format": "int64"},
                }));
            } else {
                out.push(parameter);
            }
        }
        Ok(out)
    })
}

fn operator_parameters(parameter: &Value) -> Result<Vec<Value>> {
    let name = parameter["name"]
        .as_str()
        .context("parameter without name")?;
    let description = parameter["description"].as_str().unwrap_or_default();
    let (_, custom) = description
        .split_once(CUSTOM_MARKER)
        .context("no custom block")?;
    let custom: Value = serde_json::from_str(custom.trim())
        .with_context(|| format!("the {CUSTOM_MARKER} block of `{name}` is not JSON"))?;
    let keys = custom["keys"]
        .as_array()
        .with_context(|| format!("`{name}` documents no operators"))?;
    keys.iter()
        .map(|key| {
            let operator = key["name"].as_str().context("operator without name")?;
            Ok(json!({
                "in": "query",
                "name": format!("{name}[{operator}]"),
                "required": false,
                "description": key["description"].clone(),
                "schema": {"type": "string", "format": "date-time"},
            }))
        })
        .collect()
}

/// Array parameters are sent Rails style: the name gets `[]` and every value its own pair.
pub fn rails_arrays(doc: &mut Value) -> Result<()> {
    rewrite_parameters(doc, |mut parameters| {
        for parameter in parameters.iter_mut().filter(|p| is_query(p)) {
            if parameter["schema"]["type"] != "array" {
                continue;
            }
            let name = parameter["name"]
                .as_str()
                .context("parameter without name")?;
            if !name.ends_with("[]") {
                parameter["name"] = Value::String(format!("{name}[]"));
            }
            parameter["style"] = json!("form");
            parameter["explode"] = json!(true);
        }
        Ok(parameters)
    })
}

/// `list_people`'s boolean `new` filter: a parameter named `new` would generate a builder
/// method `new` beside the builder's constructor `new`. It is described instead as the map
/// parameter `new_filter` (`{"new": true}`); form style with explode puts exactly `new=<bool>`
/// on the wire. (A map, not a struct: progenitor 0.15 cannot take an optional struct parameter.)
pub fn new_people_filter(doc: &mut Value) -> Result<()> {
    let op = operation_mut(doc, "get", "/v2/people.json")?;
    let parameters = op
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
        .context("list_people has no parameters")?;
    let parameter = parameters
        .iter_mut()
        .find(|p| p["name"] == "new" && is_query(p))
        .context("list_people has no `new` parameter")?;
    let description = parameter["description"].clone();
    *parameter = json!({
        "in": "query",
        "name": "new_filter",
        "required": false,
        "style": "form",
        "explode": true,
        "description": format!("The `new` filter, as the map `{{\"new\": <bool>}}`, sent as `new=<bool>`. {}", description.as_str().unwrap_or_default()),
        "schema": {"type": "object", "additionalProperties": {"type": "boolean"}},
    });
    Ok(())
}

/// Free-form map filters (`custom_fields[Name]=value`, `user_relationships[name]=value`): the
/// document declares each as a bare `object`, which the generator would send as `Name=value`.
/// Each becomes a reference to a named schema (`CustomFieldsFilter`, `UserRelationshipsFilter`:
/// a map of names to text), which the client's generation settings replace with a hand type
/// that puts the parameter's name and brackets around every key on the wire.
pub fn deep_object_maps(doc: &mut Value) -> Result<()> {
    let mut named = Vec::new();
    rewrite_parameters(doc, |parameters| {
        Ok(parameters
            .into_iter()
            .map(|mut p| {
                if is_query(&p) && p["schema"]["type"] == "object" {
                    let name = p["name"].as_str().unwrap_or_default();
                    let schema = map_filter_schema_name(name);
                    named.push((schema.clone(), name.to_string()));
                    p["schema"] = json!({"$ref": format!("#/components/schemas/{schema}")});
                    p["style"] = json!("form");
                    p["explode"] = json!(true);
                }
                p
            })
            .collect())
    })?;
    let schemas = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .context("the document has no components.schemas")?;
    for (schema, parameter) in named {
        // One schema serves every list with the parameter: described apart from any of them.
        schemas.entry(schema).or_insert_with(|| {
            json!({
                "description": format!("Name-to-value conditions a record must all meet, sent as `{parameter}[name]=value`, one pair per entry"),
                "type": "object",
                "additionalProperties": {"type": "string"},
                "example": {"Name": "value"},
            })
        });
    }
    Ok(())
}

/// `custom_fields` -> `CustomFieldsFilter`.
pub fn map_filter_schema_name(parameter: &str) -> String {
    let mut out: String = parameter
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    out.push_str("Filter");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(parameters: Value) -> Value {
        json!({"paths": {"/v2/people.json": {"get": {"parameters": parameters}}}})
    }

    fn names(d: &Value) -> Vec<String> {
        d["paths"]["/v2/people.json"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn documented_operators_become_parameters() {
        let custom = r#"Equality filters.

---CUSTOM---
{"type":"object","keys":[{"name":"gt","type":"iso8601 string","description":"after"},{"name":"lte","type":"iso8601 string","description":"until"}]}
"#;
        let mut d = doc(json!([
            {"in": "query", "name": "updated_at", "description": custom, "schema": {"type": "array", "items": {"type": "string"}}},
            {"in": "query", "name": "page", "schema": {"type": "integer"}},
        ]));
        bracket_filters(&mut d).unwrap();
        assert_eq!(names(&d), ["updated_at[gt]", "updated_at[lte]", "page"]);
        let p = &d["paths"]["/v2/people.json"]["get"]["parameters"][0];
        assert_eq!(p["schema"]["format"], "date-time");
        assert_eq!(p["description"], "after");
    }

    #[test]
    fn arrays_get_rails_names() {
        let mut d = doc(json!([
            {"in": "query", "name": "ids", "explode": false, "style": "form", "schema": {"type": "array", "items": {"type": "integer"}}},
            {"in": "query", "name": "page", "schema": {"type": "integer"}},
        ]));
        rails_arrays(&mut d).unwrap();
        assert_eq!(names(&d), ["ids[]", "page"]);
        assert_eq!(
            d["paths"]["/v2/people.json"]["get"]["parameters"][0]["explode"],
            true
        );
    }

    #[test]
    fn new_survives_as_an_object_parameter() {
        let mut d = doc(
            json!([{"in": "query", "name": "new", "description": "d", "schema": {"type": "boolean"}}]),
        );
        new_people_filter(&mut d).unwrap();
        let p = &d["paths"]["/v2/people.json"]["get"]["parameters"][0];
        assert_eq!(p["name"], "new_filter");
        assert_eq!(p["schema"]["additionalProperties"]["type"], "boolean");
        assert!(p["description"].as_str().unwrap().contains("new=<bool>"));
    }

    #[test]
    fn free_form_maps_refer_to_named_map_schemas() {
        let mut d = doc(json!([
            {"in": "query", "name": "custom_fields", "schema": {"type": "object"}},
            {"in": "query", "name": "new", "schema": {"type": "boolean"}},
        ]));
        d["components"] = json!({"schemas": {}});
        deep_object_maps(&mut d).unwrap();
        assert_eq!(names(&d), ["custom_fields", "new"]);
        let p = &d["paths"]["/v2/people.json"]["get"]["parameters"][0];
        assert_eq!(
            p["schema"]["$ref"],
            "#/components/schemas/CustomFieldsFilter"
        );
        assert_eq!(p["explode"], true);
        let schema = &d["components"]["schemas"]["CustomFieldsFilter"];
        assert_eq!(schema["additionalProperties"]["type"], "string");
        assert!(
            schema["description"]
                .as_str()
                .unwrap()
                .contains("custom_fields[name]=value")
        );
        assert_eq!(
            d["paths"]["/v2/people.json"]["get"]["parameters"][1]["schema"]["type"],
            "boolean"
        );
    }
}
