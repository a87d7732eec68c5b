//! The mirror's tables, read from the normalized spec: one per list resource (every `list_*`
//! operation but the two under a bulk job), a column per property of its record schema.
//!
//! Columns: scalars typed (text, integer, double, boolean; identifiers and times as text),
//! an embedded reference `owner` as `owner_id`, nested objects and arrays as JSON text, and
//! the mirror's own: `_extra` (JSON of the fields the spec does not know: nothing the service
//! sends is lost), `_updated_utc` (the record's `updated_at` in UTC, comparable as text),
//! `_deleted_at` (when a deletion was seen; the row stays as a tombstone).

use salesloft_openapi::schema::{ListPaging, list_paging, required_query, resolve, snake_case};
use serde_json::Value;

/// A column's SQL type, the same words on SQLite and Postgres.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Integer,
    Double,
    Boolean,
    /// JSON written as text.
    Json,
}

impl ColumnType {
    /// The column's SQL type. Booleans are `INTEGER` (0 or 1) on SQLite: sqlx's `Any` driver
    /// cannot read SQLite's `BOOLEAN` declaration back.
    pub fn sql(self, sqlite: bool) -> &'static str {
        match self {
            Self::Text | Self::Json => "TEXT",
            Self::Integer => "BIGINT",
            Self::Double => "DOUBLE PRECISION",
            Self::Boolean if sqlite => "INTEGER",
            Self::Boolean => "BOOLEAN",
        }
    }
}

/// A column and the record field it is read from.
#[derive(Clone, Debug)]
pub struct Column {
    /// The column's name (`owner_id` for the reference `owner`).
    pub name: String,
    /// The record's field.
    pub field: String,
    pub kind: ColumnType,
    /// Whether the field is an embedded reference whose `id` the column keeps.
    pub reference: bool,
}

#[derive(Clone, Debug)]
pub struct Table {
    /// The list's path after `/v2/` without `.json` (`notes`, `activities/calls`).
    pub resource: String,
    /// The list's path as the API serves it (`/v2/notes.json`).
    pub path: String,
    /// `sl_notes`, `sl_activities_calls`.
    pub table: String,
    pub columns: Vec<Column>,
    /// Whether the list takes `updated_at[gt]` and friends (incremental by polling).
    pub incremental: bool,
    /// How a whole read walks the list: by page number, or by `id[gt]` (bulk jobs).
    pub paging: ListPaging,
    /// The webhook event prefix (`note`), from the record schema's name.
    pub singular: String,
}

impl Table {
    pub fn has_field(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.field == name)
    }
}

/// Every list resource of `spec`, by name.
pub fn tables(spec: &str) -> Vec<Table> {
    let Ok(doc) = serde_json::from_str::<Value>(spec) else {
        return Vec::new();
    };
    let mut tables: Vec<Table> = doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(path, item)| table(&doc, path, item))
        .collect();
    tables.sort_by(|a, b| a.resource.cmp(&b.resource));
    tables
}

fn table(doc: &Value, path: &str, item: &Value) -> Option<Table> {
    let op = item.get("get")?;
    if !op["operationId"].as_str()?.starts_with("list_") || path.contains('{') {
        return None;
    }
    // A list that needs a parameter the mirror cannot fill (caller ids by `phone_number`) is a
    // lookup, not a resource to mirror.
    if !required_query(doc, op).is_empty() {
        return None;
    }
    let resource = path.strip_prefix("/v2/")?;
    let resource = resource
        .strip_suffix(".json")
        .unwrap_or(resource)
        .to_string();
    let envelope = resolve(
        doc,
        &op["responses"]["200"]["content"]["application/json"]["schema"],
    );
    let item = &envelope["properties"]["data"]["items"];
    let schema_name = item["$ref"].as_str()?.rsplit('/').next()?.to_string();
    let record = resolve(doc, item);
    let mut columns: Vec<Column> = record["properties"]
        .as_object()?
        .iter()
        .filter(|(name, _)| name.as_str() != "id")
        .map(|(name, property)| column(doc, name, property))
        .collect();
    columns.sort_by(|a, b| a.name.cmp(&b.name));
    let incremental = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["name"] == "updated_at[gt]");
    Some(Table {
        path: path.to_string(),
        table: format!("sl_{}", resource.replace('/', "_")),
        singular: snake_case(&schema_name),
        resource,
        columns,
        incremental,
        paging: list_paging(doc, op),
    })
}

fn column(doc: &Value, name: &str, property: &Value) -> Column {
    let target = property["allOf"][0]["$ref"]
        .as_str()
        .or(property["$ref"].as_str())
        .and_then(|r| r.rsplit('/').next());
    let schema = resolve(doc, property);
    let (kind, reference) = match target {
        Some("Id") => (ColumnType::Text, false),
        Some("EmbeddedResource") => (ColumnType::Text, true),
        Some(_) => (ColumnType::Json, false),
        None => match schema["type"].as_str() {
            Some("string") => (ColumnType::Text, false),
            Some("integer") => (ColumnType::Integer, false),
            Some("number") => (ColumnType::Double, false),
            Some("boolean") => (ColumnType::Boolean, false),
            _ => (ColumnType::Json, false),
        },
    };
    Column {
        name: if reference {
            format!("{name}_id")
        } else {
            name.to_string()
        },
        field: name.to_string(),
        kind,
        reference,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_per_list_resource_with_typed_columns() {
        let tables = tables(salesloft_openapi::SPEC);
        assert_eq!(tables.len(), 38, "39 lists, less the caller-id lookup");
        assert!(
            tables
                .iter()
                .all(|t| t.resource != "phone_numbers/caller_ids")
        );
        assert_eq!(tables.iter().filter(|t| t.incremental).count(), 15);
        let notes = tables.iter().find(|t| t.resource == "notes").unwrap();
        assert_eq!(notes.table, "sl_notes");
        let user = notes.columns.iter().find(|c| c.field == "user").unwrap();
        assert_eq!((user.name.as_str(), user.reference), ("user_id", true));
        let calls = tables
            .iter()
            .find(|t| t.resource == "activities/calls")
            .unwrap();
        assert_eq!(calls.table, "sl_activities_calls");
        assert_eq!(calls.singular, "call");
        let duration = calls
            .columns
            .iter()
            .find(|c| c.field == "duration")
            .unwrap();
        assert_eq!(duration.kind, ColumnType::Integer);
    }
}
