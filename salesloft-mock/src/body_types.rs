//! A write's body checked against its operation's request schema before anything is stored:
//! a value of the wrong type for its field (nested values and array items included) is a 422
//! naming the field, as the service answers. Without this, `"tags": [{}]` on an account was
//! stored as sent and every answer holding it broke the response schema after.
//!
//! Lenient where the service is: form bodies carry every value as text, so a number, a boolean
//! or text that reads as the declared type is taken; `null` clears a field. What is refused is
//! a value that cannot be the declared type at all (an object for text, a list for an object,
//! an item of a list that is not the items' type).

use crate::error::ApiError;
use salesloft_openapi::schema::resolve;
use serde_json::{Map, Value};

/// How deep a declared schema is followed (the document nests far less; a cycle must end).
const MAX_DEPTH: usize = 8;

/// The request schema of an operation, with its references followed, as the check reads it.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Expected {
    /// Nothing declared: anything goes.
    #[default]
    Any,
    Text,
    Integer,
    Number,
    Boolean,
    List(Box<Expected>),
    /// The declared properties (others are not checked).
    Object(Vec<(String, Expected)>),
}

impl Expected {
    /// The expectation `schema` (in `doc`) declares.
    pub fn of(doc: &Value, schema: &Value) -> Self {
        Self::read(doc, schema, 0)
    }

    fn read(doc: &Value, schema: &Value, depth: usize) -> Self {
        let schema = resolve(doc, schema);
        if depth > MAX_DEPTH {
            return Self::Any;
        }
        let kind = schema["type"]
            .as_str()
            .or(schema.get("properties").map(|_| "object"));
        match kind {
            Some("string") => Self::Text,
            Some("integer") => Self::Integer,
            Some("number") => Self::Number,
            Some("boolean") => Self::Boolean,
            Some("array") => Self::List(Box::new(Self::read(doc, &schema["items"], depth + 1))),
            Some("object") => Self::Object(
                schema["properties"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, property)| (name.clone(), Self::read(doc, property, depth + 1)))
                    .collect(),
            ),
            _ => Self::Any,
        }
    }

    /// The first field of `body` whose value cannot be what is declared, as a 422.
    pub fn check_body(&self, body: &Map<String, Value>) -> Result<(), ApiError> {
        let Self::Object(properties) = self else {
            return Ok(());
        };
        match misfit(properties, body) {
            Some((name, expected)) => Err(ApiError::invalid(
                name,
                &format!("must be {}", expected.name()),
            )),
            None => Ok(()),
        }
    }

    /// Whether `value` can be this type (see the module's leniency; and an object may come as
    /// the JSON text of one).
    fn admits(&self, value: &Value) -> bool {
        match (self, value) {
            (Self::Any, _) => true,
            (Self::Text, Value::String(_) | Value::Number(_) | Value::Bool(_)) => true,
            (Self::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
            (Self::Integer, Value::String(s)) => s.trim().parse::<i64>().is_ok(),
            (Self::Number, Value::Number(_)) => true,
            (Self::Number, Value::String(s)) => s.trim().parse::<f64>().is_ok(),
            (Self::Boolean, Value::Bool(_)) => true,
            (Self::Boolean, Value::String(s)) => {
                matches!(s.trim(), "true" | "false" | "1" | "0")
            }
            (Self::List(item), Value::Array(items)) => items.iter().all(|i| item.admits(i)),
            (Self::Object(properties), Value::Object(map)) => misfit(properties, map).is_none(),
            // SalesLoft's own document gives a bulk job's records as JSON text.
            (Self::Object(_), Value::String(text)) => match serde_json::from_str::<Value>(text) {
                Ok(object @ Value::Object(_)) => self.admits(&object),
                _ => false,
            },
            _ => false,
        }
    }

    /// What the type is called in a message: `a list of text`, `an integer`.
    fn name(&self) -> String {
        match self {
            Self::Any => "a value".into(),
            Self::Text => "text".into(),
            Self::Integer => "an integer".into(),
            Self::Number => "a number".into(),
            Self::Boolean => "true or false".into(),
            Self::List(item) => format!("a list of {}", item.name()),
            Self::Object(_) => "an object".into(),
        }
    }
}

/// The first declared property whose value in `map` is there, not null, and not what is
/// declared.
fn misfit<'a>(
    properties: &'a [(String, Expected)],
    map: &Map<String, Value>,
) -> Option<&'a (String, Expected)> {
    properties.iter().find(|(name, expected)| {
        map.get(name)
            .is_some_and(|value| !value.is_null() && !expected.admits(value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expected() -> Expected {
        let doc = json!({"components": {"schemas": {"Params": {"type": "object", "properties": {"page": {"type": "integer"}}}}}});
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string"},
            "count": {"type": "integer"},
            "done": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "view_params": {"$ref": "#/components/schemas/Params"},
        }});
        Expected::of(&doc, &schema)
    }

    fn check(body: Value) -> Result<(), String> {
        let Value::Object(body) = body else {
            unreachable!("a test body is an object")
        };
        expected().check_body(&body).map_err(|e| e.body.to_string())
    }

    #[test]
    fn the_right_types_pass_and_form_text_reads_as_its_type() {
        assert!(check(json!({"name": "a", "count": 3, "done": true, "tags": ["x"]})).is_ok());
        assert!(check(json!({"count": "3", "done": "false", "tags": [], "unknown": {}})).is_ok());
        assert!(check(json!({"name": null, "view_params": {"page": 2}})).is_ok());
    }

    #[test]
    fn a_wrong_type_is_a_422_naming_the_field() {
        let tags = check(json!({"tags": [{}]})).unwrap_err();
        assert!(
            tags.contains("tags") && tags.contains("a list of text"),
            "{tags}"
        );
        let view = check(json!({"view_params": [null, null]})).unwrap_err();
        assert!(
            view.contains("view_params") && view.contains("an object"),
            "{view}"
        );
        assert!(check(json!({"view_params": {"page": "two"}})).is_err());
        assert!(check(json!({"count": 1.5})).is_err());
        assert!(check(json!({"name": {"a": 1}})).is_err());
        assert!(check(json!({"tags": [null]})).is_err());
    }
}
