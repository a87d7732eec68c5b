//! Small helpers to walk an OpenAPI document held as `serde_json::Value`.

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

pub const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

/// Calls `f(path, method, operation)` for every operation, in document order.
pub fn for_each_operation(
    doc: &mut Value,
    mut f: impl FnMut(&str, &str, &mut Map<String, Value>) -> Result<()>,
) -> Result<()> {
    let paths = doc
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .context("document has no `paths` object")?;
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let op = op
                .as_object_mut()
                .with_context(|| format!("{method} {path} is not an object"))?;
            f(path, method, op).with_context(|| format!("{} {path}", method.to_uppercase()))?;
        }
    }
    Ok(())
}

/// The operation at `method path`, which must exist.
pub fn operation_mut<'a>(
    doc: &'a mut Value,
    method: &str,
    path: &str,
) -> Result<&'a mut Map<String, Value>> {
    match doc
        .pointer_mut(&format!("/paths/{}/{method}", escape(path)))
        .and_then(Value::as_object_mut)
    {
        Some(op) => Ok(op),
        None => bail!(
            "the document has no operation {} {path}",
            method.to_uppercase()
        ),
    }
}

/// The component schema `name`, which must exist.
pub fn schema_mut<'a>(doc: &'a mut Value, name: &str) -> Result<&'a mut Map<String, Value>> {
    doc.pointer_mut(&format!("/components/schemas/{name}"))
        .and_then(Value::as_object_mut)
        .with_context(|| format!("the document has no schema `{name}`"))
}

/// The `components.schemas` map, created if absent.
pub fn schemas_mut(doc: &mut Value) -> Result<&mut Map<String, Value>> {
    let components = doc
        .as_object_mut()
        .context("document is not an object")?
        .entry("components")
        .or_insert_with(|| json!({}));
    components
        .as_object_mut()
        .context("`components` is not an object")?
        .entry("schemas")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .context("`components.schemas` is not an object")
}

/// JSON pointer escaping of one reference token.
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// `#/components/schemas/Name` for `Name`.
pub fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The name in `{"$ref": "#/components/schemas/Name"}`.
pub fn ref_name(schema: &Value) -> Option<&str> {
    schema
        .get("$ref")?
        .as_str()?
        .strip_prefix("#/components/schemas/")
}
