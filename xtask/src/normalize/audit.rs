//! The request audit: what each step changed in what a client sends.
//!
//! Our requests should follow the published document wherever it is right (SERVICE.md §1.9 is
//! the example: memberships take the query parameters the document declares). So every change
//! a step makes to a request (a parameter, a body property, a media type, a required list) is
//! listed under that step in `info.x-normalization`: no request differs from the document
//! without a named step and its reason next to it.

use super::doc::METHODS;
use serde_json::Value;
use std::collections::BTreeMap;

/// Every request-side fact of the document, `GET /v2/people.json query ids[]` -> its schema.
pub type Shapes = BTreeMap<String, String>;

pub fn request_shapes(doc: &Value) -> Shapes {
    let mut shapes = Shapes::new();
    let Some(paths) = doc["paths"].as_object() else {
        return shapes;
    };
    for (path, item) in paths {
        for method in METHODS {
            let op = &item[*method];
            if op.is_null() {
                continue;
            }
            let at = format!("{} {path}", method.to_uppercase());
            for parameter in op["parameters"].as_array().into_iter().flatten() {
                let key = format!(
                    "{at} {} {}",
                    text(&parameter["in"]),
                    text(&parameter["name"])
                );
                let mut shape = parameter.clone();
                for documentation in ["description", "example", "in", "name"] {
                    shape.as_object_mut().map(|o| o.remove(documentation));
                }
                shapes.insert(key, compact(&shape));
            }
            let body = body_of(doc, &op["requestBody"]);
            let Some(content) = body["content"].as_object() else {
                continue;
            };
            let media: Vec<&str> = content.keys().map(String::as_str).collect();
            shapes.insert(format!("{at} body media"), media.join(", "));
            let schema = content
                .values()
                .next()
                .map(|m| &m["schema"])
                .unwrap_or(&Value::Null);
            shapes.insert(format!("{at} body required"), compact(&schema["required"]));
            for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                let mut shape = property.clone();
                shape.as_object_mut().map(|o| o.remove("description"));
                shapes.insert(format!("{at} body {name}"), compact(&shape));
            }
        }
    }
    shapes
}

/// A body, through a shared `components.requestBodies` reference.
fn body_of<'a>(doc: &'a Value, body: &'a Value) -> &'a Value {
    match body["$ref"].as_str() {
        Some(reference) => doc
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or(&Value::Null),
        None => body,
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("?")
}

fn compact(value: &Value) -> String {
    if value.is_null() {
        "none".to_string()
    } else {
        value.to_string()
    }
}

/// What changed from `before` to `after`, one line per request fact.
pub fn changes(before: &Shapes, after: &Shapes) -> Vec<Value> {
    let mut lines = Vec::new();
    for (key, old) in before {
        match after.get(key) {
            None => lines.push(format!("{key}: removed")),
            Some(new) if new != old => {
                lines.push(format!("{key}: {} -> {}", short(old), short(new)))
            }
            Some(_) => {}
        }
    }
    for (key, new) in after {
        if !before.contains_key(key) {
            lines.push(format!("{key}: added {}", short(new)));
        }
    }
    lines.into_iter().map(Value::String).collect()
}

fn short(text: &str) -> String {
    match text.char_indices().nth(70) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_bodies_and_media_types_are_compared_documentation_aside() {
        let before = json!({"paths": {"/v2/x.json": {"post": {
            "parameters": [{"in": "query", "name": "ids", "schema": {"type": "array"}, "description": "a"}],
            "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                "required": ["name"], "properties": {"name": {"type": "string"}}}}}},
        }}}});
        let mut after = before.clone();
        after["paths"]["/v2/x.json"]["post"]["parameters"][0]["description"] = json!("b");
        assert!(changes(&request_shapes(&before), &request_shapes(&after)).is_empty());

        after["paths"]["/v2/x.json"]["post"]["parameters"][0]["name"] = json!("ids[]");
        let body = after["paths"]["/v2/x.json"]["post"]["requestBody"]["content"]
            .as_object_mut()
            .unwrap()
            .remove("application/x-www-form-urlencoded")
            .unwrap();
        after["paths"]["/v2/x.json"]["post"]["requestBody"]["content"]["application/json"] = body;
        let lines = changes(&request_shapes(&before), &request_shapes(&after));
        let lines: Vec<&str> = lines.iter().filter_map(Value::as_str).collect();
        assert_eq!(
            lines,
            [
                "POST /v2/x.json body media: application/x-www-form-urlencoded -> application/json",
                "POST /v2/x.json query ids: removed",
                "POST /v2/x.json query ids[]: added {\"schema\":{\"type\":\"array\"}}",
            ]
        );
    }
}
