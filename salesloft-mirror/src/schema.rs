//! The mirror's tables, read from the normalized spec: one per list resource (every `list_*`
//! operation but the two under a bulk job), a column per property of its record schema.
//!
//! Columns are typed so they compare, sort and join as what they are: identifiers as integers
//! where the service's ids are integers (the identifier rule of `salesloft_openapi::schema`;
//! GUIDs, CRM and calendar ids stay text), date-times and dates as times, booleans, numbers,
//! and nested objects and arrays as JSON. An embedded reference `owner` is kept as `owner_id`,
//! typed like the id of the resource it points at. The mirror's own columns: `_extra` (JSON
//! of the fields the spec does not know, and of any value that does not fit its column:
//! nothing the service sends is lost), `_updated_utc` (the record's `updated_at`),
//! `_deleted_at` (when a deletion was seen; the row stays as a tombstone), `_seen_run`.
//!
//! Each array of strings (tags) or of embedded objects (references, meeting attendees) also
//! gets a child table ([`Child`]): one row per element with the parent's id and position.

use salesloft_openapi::schema::{
    IdForm, ListPaging, list_paging, reference_target, required_query, resolve, snake_case,
    string_identifier,
};
use serde_json::Value;

/// A column's type. [`ColumnType::sql`] names it for each backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Integer,
    Double,
    Boolean,
    /// A nested object or array.
    Json,
    /// A date-time: `TIMESTAMPTZ` on Postgres; on SQLite UTC text of one width
    /// (`2024-01-02T03:04:05.000000Z`), so it sorts and compares as text.
    Time,
    /// A calendar date (`2024-01-02`).
    Date,
}

impl ColumnType {
    /// The column's SQL type. Booleans are `INTEGER` (0 or 1) on SQLite: sqlx's `Any` driver
    /// cannot read SQLite's `BOOLEAN` declaration back.
    pub fn sql(self, sqlite: bool) -> &'static str {
        match (self, sqlite) {
            (Self::Text, _) | (Self::Json | Self::Time | Self::Date, true) => "TEXT",
            (Self::Integer, true) => "INTEGER",
            (Self::Integer, false) => "BIGINT",
            (Self::Double, _) => "DOUBLE PRECISION",
            (Self::Boolean, true) => "INTEGER",
            (Self::Boolean, false) => "BOOLEAN",
            (Self::Json, false) => "JSONB",
            (Self::Time, false) => "TIMESTAMPTZ",
            (Self::Date, false) => "DATE",
        }
    }

    /// A statement's placeholder for a value of this type: values are bound as text, integer,
    /// double or boolean (what sqlx's `Any` driver carries); Postgres casts the text of times,
    /// dates and JSON to the column's type.
    pub fn placeholder(self, sqlite: bool, n: usize) -> String {
        match (self, sqlite) {
            (_, true) => "?".to_string(),
            (Self::Json, false) => format!("${n}::jsonb"),
            (Self::Time, false) => format!("${n}::timestamptz"),
            (Self::Date, false) => format!("${n}::date"),
            _ => format!("${n}"),
        }
    }

    /// The column read back as sqlx's `Any` driver can decode it: on Postgres, times as the
    /// same UTC text SQLite keeps, dates and JSON as text.
    pub fn select(self, sqlite: bool, column: &str) -> String {
        let quoted = format!("\"{column}\"");
        match (self, sqlite) {
            (_, true) => quoted,
            (Self::Time, false) => {
                format!("to_char({quoted} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
            }
            (Self::Date | Self::Json, false) => format!("{quoted}::text"),
            _ => quoted,
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
    /// Whether the field is an identifier (the spec's `Id`), typed by the identifier rule.
    pub identifier: bool,
}

/// A child table of an array field: `sl_people_tags` for people's `tags`. Its rows are the
/// array's elements: `parent_id`, `position` (from 0), then `value` for an array of strings
/// or a column per property of an array of objects (`id` of a reference).
#[derive(Clone, Debug)]
pub struct Child {
    /// `sl_people_tags`.
    pub table: String,
    /// `tags`.
    pub field: String,
    /// The element's columns (`value`, or the object's properties).
    pub columns: Vec<Column>,
    /// Whether the elements are scalars kept in `value` (not objects).
    pub scalar: bool,
}

#[derive(Clone, Debug)]
pub struct Table {
    /// The list's path after `/v2/` without `.json` (`notes`, `activities/calls`).
    pub resource: String,
    /// The list's path as the API serves it (`/v2/notes.json`).
    pub path: String,
    /// `sl_notes`, `sl_activities_calls`.
    pub table: String,
    /// The type of the record's `id`: integer, or text for string-id resources.
    pub id_kind: ColumnType,
    pub columns: Vec<Column>,
    /// A child table per array of strings or of objects.
    pub children: Vec<Child>,
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
    // A reference is typed like the id of the resource it points at, once all are known;
    // one that points at none the mirror keeps (a role's `"Admin"`) stays text.
    let singulars: Vec<(String, String)> = tables
        .iter()
        .map(|t| (t.singular.clone(), t.resource.clone()))
        .collect();
    let id_kinds: Vec<(String, ColumnType)> = tables
        .iter()
        .map(|t| (t.resource.clone(), t.id_kind))
        .collect();
    for table in &mut tables {
        for column in table.columns.iter_mut().filter(|c| c.reference) {
            let target = reference_target(&column.field, &singulars);
            column.kind = id_kinds
                .iter()
                .find(|(resource, _)| Some(resource) == target.as_ref())
                .map_or(ColumnType::Text, |(_, kind)| *kind);
        }
    }
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
    let properties = record["properties"].as_object()?;
    let id_kind = properties
        .get("id")
        .map_or(ColumnType::Integer, |id| column(doc, "id", id).kind);
    let mut columns: Vec<Column> = properties
        .iter()
        .filter(|(name, _)| name.as_str() != "id")
        .map(|(name, property)| column(doc, name, property))
        .collect();
    columns.sort_by(|a, b| a.name.cmp(&b.name));
    let table_name = format!("sl_{}", resource.replace('/', "_"));
    let children = properties
        .iter()
        .filter_map(|(name, property)| child(doc, &table_name, name, property))
        .collect();
    let incremental = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["name"] == "updated_at[gt]");
    Some(Table {
        path: path.to_string(),
        table: table_name,
        id_kind,
        children,
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
        Some("Id") => match string_identifier(name, property.get("example")) {
            None | Some(IdForm::Integer) => (ColumnType::Integer, false),
            Some(_) => (ColumnType::Text, false),
        },
        Some("EmbeddedResource") => (ColumnType::Text, true),
        Some(_) => (ColumnType::Json, false),
        None => match (schema["type"].as_str(), schema["format"].as_str()) {
            (Some("string"), Some("date-time")) => (ColumnType::Time, false),
            (Some("string"), Some("date")) => (ColumnType::Date, false),
            (Some("string"), _) => (ColumnType::Text, false),
            (Some("integer"), _) => (ColumnType::Integer, false),
            (Some("number"), _) => (ColumnType::Double, false),
            (Some("boolean"), _) => (ColumnType::Boolean, false),
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
        identifier: target == Some("Id"),
    }
}

/// The child table of `name` when it is an array of strings or of objects with properties;
/// an array of anything else keeps only its JSON column.
fn child(doc: &Value, parent: &str, name: &str, property: &Value) -> Option<Child> {
    let schema = resolve(doc, property);
    if schema["type"] != "array" {
        return None;
    }
    let items = resolve(doc, &schema["items"]);
    let table = format!("{parent}_{name}");
    if items["type"] == "string" {
        let value = Column {
            name: "value".into(),
            field: "value".into(),
            kind: ColumnType::Text,
            reference: false,
            identifier: false,
        };
        return Some(Child {
            table,
            field: name.to_string(),
            columns: vec![value],
            scalar: true,
        });
    }
    let mut columns: Vec<Column> = items["properties"]
        .as_object()?
        .iter()
        .map(|(name, property)| column(doc, name, property))
        .collect();
    columns.sort_by(|a, b| a.name.cmp(&b.name));
    Some(Child {
        table,
        field: name.to_string(),
        columns,
        scalar: false,
    })
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
        let find = |resource: &str| tables.iter().find(|t| t.resource == resource).unwrap();
        let kind = |resource: &str, column: &str| {
            find(resource)
                .columns
                .iter()
                .find(|c| c.name == column)
                .unwrap()
                .kind
        };
        assert_eq!(notes.id_kind, ColumnType::Integer);
        assert_eq!(find("team_templates").id_kind, ColumnType::Text, "GUID ids");
        assert_eq!(kind("notes", "user_id"), ColumnType::Integer);
        assert_eq!(kind("notes", "updated_at"), ColumnType::Time);
        assert_eq!(kind("tasks", "due_date"), ColumnType::Date);
        assert_eq!(kind("meetings", "event_id"), ColumnType::Text);
        assert_eq!(
            kind("email_templates", "team_template_id"),
            ColumnType::Text
        );
        assert_eq!(
            kind("users", "role_id"),
            ColumnType::Text,
            "a role is no resource"
        );
        let children: Vec<&str> = find("people")
            .children
            .iter()
            .map(|c| c.table.as_str())
            .collect();
        assert_eq!(
            children,
            [
                "sl_people_cadences",
                "sl_people_contact_restrictions",
                "sl_people_tags"
            ]
        );
        let attendees = &find("meetings").children[0];
        assert_eq!(attendees.table, "sl_meetings_attendees");
        assert!(attendees.columns.iter().any(|c| c.name == "email"));
    }
}
