//! Writing rows: the upsert statements (newest `updated_at` wins, a deletion stays), the values
//! bound to them, a page written with its cursor in one transaction, and what goes with a
//! row: its child tables, its history, or (an id that fits no row) `_mirror_rejects`.

use super::layout::{child_columns, table_columns};
use super::{Backend, database, own_columns};
use crate::PER_PAGE;
use crate::cursor::Cursor;
use crate::error::MirrorError;
use crate::schema::{Column, ColumnType, Table};
use chrono::Utc;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// A value bound to a statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Bound {
    Text(Option<String>),
    Integer(Option<i64>),
    Double(Option<f64>),
    Boolean(Option<bool>),
}

impl Bound {
    /// The value as text (`5`, `abc`): how rows are matched to the records they came from.
    pub fn key(&self) -> Option<String> {
        match self {
            Self::Text(v) => v.clone(),
            Self::Integer(v) => v.map(|n| n.to_string()),
            Self::Double(v) => v.map(|n| n.to_string()),
            Self::Boolean(v) => v.map(|b| b.to_string()),
        }
    }

    /// A null of a column of type `kind` (Postgres refuses a text null in an integer column).
    pub(crate) fn null(kind: ColumnType) -> Self {
        match kind {
            ColumnType::Integer => Self::Integer(None),
            ColumnType::Double => Self::Double(None),
            ColumnType::Boolean => Self::Boolean(None),
            _ => Self::Text(None),
        }
    }

    fn is_null(&self) -> bool {
        matches!(
            self,
            Self::Text(None) | Self::Integer(None) | Self::Double(None) | Self::Boolean(None)
        )
    }
}

/// The statement that writes one row of `table`: an upsert where the newer `updated_at`
/// wins and a deletion, once seen, stays.
pub fn upsert_sql(backend: Backend, table: &Table) -> String {
    upsert_rows_sql(backend, table, 1)
}

/// The values a statement of `backend` may bind (SQLite's `SQLITE_MAX_VARIABLE_NUMBER` in the
/// bundled library; Postgres's protocol counts them in 16 bits).
pub(crate) fn max_parameters(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 32_766,
        Backend::Postgres => 65_535,
    }
}

/// How many rows of `table` one statement writes: a page, or fewer when a page's values would
/// pass what the database binds.
pub fn rows_per_statement(backend: Backend, table: &Table, page: usize) -> usize {
    let width = 1 + own_columns().count() + table.columns.len();
    (max_parameters(backend) / width).clamp(1, page.max(1))
}

/// `VALUES (..), (..)` for `rows` rows of `columns`: anonymous `?` on SQLite (it finds a
/// named `$7` by a walk of the statement's list of names, so a page of 6,000 `$N` values
/// costs quadratic time), numbered and cast to the column's type on Postgres.
pub(crate) fn values_sql(
    backend: Backend,
    columns: &[(String, ColumnType)],
    rows: usize,
) -> String {
    values_sql_from(backend, columns, rows, 0)
}

/// [`values_sql`] with Postgres's placeholders numbered from `offset + 1`.
fn values_sql_from(
    backend: Backend,
    columns: &[(String, ColumnType)],
    rows: usize,
    offset: usize,
) -> String {
    let sqlite = backend == Backend::Sqlite;
    let width = columns.len();
    let values: Vec<String> = (0..rows.max(1))
        .map(|row| {
            let params: Vec<String> = columns
                .iter()
                .enumerate()
                .map(|(i, (_, kind))| kind.placeholder(sqlite, offset + row * width + i + 1))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect();
    values.join(", ")
}

pub(crate) fn quoted(columns: &[(String, ColumnType)]) -> String {
    let names: Vec<String> = columns.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    names.join(", ")
}

/// `INSERT INTO name (columns) VALUES ...` for `rows` rows, Postgres's placeholders numbered
/// from `offset + 1`.
pub(crate) fn insert_sql(
    backend: Backend,
    name: &str,
    columns: &[(String, ColumnType)],
    rows: usize,
    offset: usize,
) -> String {
    format!(
        "INSERT INTO \"{name}\" ({}) VALUES {}",
        quoted(columns),
        values_sql_from(backend, columns, rows, offset)
    )
}

/// [`upsert_sql`] for `rows` rows in one statement (their ids distinct: an upsert cannot
/// touch one row twice). One statement a page is what makes ingest fast on both backends.
/// It returns the ids it wrote: a record older than its row is not written, and neither are
/// its child rows.
pub fn upsert_rows_sql(backend: Backend, table: &Table, rows: usize) -> String {
    // Made once for each table and row count: a page's statement is tens of kilobytes, and
    // making it again for every page cost a tenth of ingest.
    type Made = std::collections::HashMap<(Backend, String, usize), String>;
    static MADE: std::sync::OnceLock<std::sync::Mutex<Made>> = std::sync::OnceLock::new();
    let key = (backend, table.table.clone(), rows);
    let made = MADE.get_or_init(Default::default);
    if let Some(sql) = made.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return sql;
    }
    let sql = make_upsert_rows_sql(backend, table, rows);
    if let Ok(mut m) = made.lock() {
        m.insert(key, sql.clone());
    }
    sql
}

fn make_upsert_rows_sql(backend: Backend, table: &Table, rows: usize) -> String {
    let columns = table_columns(table);
    let updates: Vec<String> = columns[1..]
        .iter()
        .map(|(n, _)| match n.as_str() {
            // A deletion, once seen, stays; a write outside a whole read keeps the read's mark.
            "_deleted_at" | "_seen_run" => format!(
                "\"{n}\" = COALESCE(excluded.\"{n}\", \"{t}\".\"{n}\")",
                t = table.table
            ),
            _ => format!("\"{n}\" = excluded.\"{n}\""),
        })
        .collect();
    format!(
        "INSERT INTO \"{t}\" ({cols}) VALUES {vals} ON CONFLICT (\"id\") DO UPDATE SET {sets} \
         WHERE \"{t}\".\"_updated_utc\" IS NULL OR excluded.\"_updated_utc\" IS NULL \
         OR \"{t}\".\"_updated_utc\" <= excluded.\"_updated_utc\" RETURNING \"id\", {new}",
        t = table.table,
        cols = quoted(&columns),
        vals = values_sql(backend, &columns, rows),
        sets = updates.join(", "),
        new = match backend {
            Backend::Postgres => "(xmax = 0)",
            Backend::Sqlite => "0",
        }
    )
}

/// A plain insert of `rows` rows of `table`'s columns into `name` (a conversion's copy).
pub(super) fn insert_rows_sql(backend: Backend, table: &Table, name: &str, rows: usize) -> String {
    insert_sql(backend, name, &table_columns(table), rows, 0)
}

/// The select list that reads `columns` back as sqlx's `Any` driver decodes them
/// ([`ColumnType::select`]).
pub fn select_list(columns: &[(String, ColumnType)], backend: Backend) -> String {
    let sqlite = backend == Backend::Sqlite;
    let list: Vec<String> = columns
        .iter()
        .map(|(name, kind)| kind.select(sqlite, name))
        .collect();
    list.join(", ")
}

/// The values of one record, in [`upsert_sql`]'s order. A value that does not fit its column
/// (a string where an integer was declared, a time that is not one) is kept in `_extra`, with
/// the fields the spec does not know: nothing is lost.
pub fn row_values(
    table: &Table,
    record: &Map<String, Value>,
    deleted_at: Option<&str>,
    run: Option<&str>,
) -> Vec<Bound> {
    // Fields the spec does not know: none, most often, which counting the known ones tells
    // without a search of the columns for each field.
    let known = table
        .columns
        .iter()
        .filter(|c| record.contains_key(&c.field))
        .count()
        + usize::from(record.contains_key("id"));
    let mut extra: Map<String, Value> = if known == record.len() {
        Map::new()
    } else {
        record
            .iter()
            .filter(|(k, _)| k.as_str() != "id" && !table.has_field(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let mut values = vec![
        id_bound(table, record.get("id").unwrap_or(&Value::Null)),
        Bound::Text(None), // _extra, filled below
        Bound::Text(
            record
                .get("updated_at")
                .and_then(Value::as_str)
                .and_then(utc),
        ),
        Bound::Text(deleted_at.map(str::to_string)),
        Bound::Text(run.map(str::to_string)),
    ];
    for column in &table.columns {
        let value = record.get(&column.field).unwrap_or(&Value::Null);
        let (bound, fits) = bind(column, value);
        if !fits {
            extra.insert(column.field.clone(), value.clone());
        }
        values.push(bound);
    }
    if !extra.is_empty() {
        values[1] = Bound::Text(Some(Value::Object(extra).to_string()));
    }
    values
}

/// `value` bound for `column`, and whether it fits (a reference's `id` fits when its type does).
fn bind(column: &Column, value: &Value) -> (Bound, bool) {
    let value = if column.reference {
        value.get("id").unwrap_or(&Value::Null)
    } else {
        value
    };
    match (column.kind, value) {
        (kind, Value::Null) => (Bound::null(kind), true),
        (ColumnType::Integer, v) => {
            let n = v.as_i64().or_else(|| v.as_str()?.trim().parse().ok());
            (Bound::Integer(n), n.is_some())
        }
        (ColumnType::Double, v) => {
            let n = v.as_f64().or_else(|| v.as_str()?.trim().parse().ok());
            (Bound::Double(n), n.is_some())
        }
        (ColumnType::Boolean, v) => {
            let b = v.as_bool().or_else(|| match v.as_str()? {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            });
            (Bound::Boolean(b), b.is_some())
        }
        (ColumnType::Time, v) => {
            let t = v.as_str().and_then(utc);
            let fits = t.is_some();
            (Bound::Text(t), fits)
        }
        (ColumnType::Date, v) => {
            let d = v.as_str().and_then(|s| {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .map(|d| d.format("%Y-%m-%d").to_string())
            });
            let fits = d.is_some();
            (Bound::Text(d), fits)
        }
        (ColumnType::Json, v) => (Bound::Text(Some(v.to_string())), true),
        (ColumnType::Text, v) => (Bound::Text(text_of(v)), true),
    }
}

/// `id` bound as `table`'s id column takes it.
pub(crate) fn id_bound(table: &Table, id: &Value) -> Bound {
    let column = Column {
        name: "id".into(),
        field: "id".into(),
        kind: table.id_kind,
        reference: false,
        identifier: true,
    };
    bind(&column, id).0
}

/// A scalar as text (`5`, `"abc"`); objects and arrays as JSON.
pub fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// An RFC 3339 time in UTC with microseconds, always the same width: comparable as text.
pub fn utc(text: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
        .filter(|t| (0..=9999).contains(&chrono::Datelike::year(t)))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// `IN (...)` for `ids` of a column of type `kind`, and the values it binds.
pub(crate) fn id_set(backend: Backend, kind: ColumnType, ids: &[Bound]) -> (String, Vec<Bound>) {
    let sqlite = backend == Backend::Sqlite;
    let marks: Vec<String> = (1..=ids.len())
        .map(|i| kind.placeholder(sqlite, i))
        .collect();
    (format!("IN ({})", marks.join(", ")), ids.to_vec())
}

/// A statement that finds rows by a few ids, planned for those ids each time on Postgres:
/// kept prepared, Postgres settles on a generic plan made while the table was empty, and a
/// lookup in a growing child or history table then scans it whole.
pub(crate) fn lookup(
    backend: Backend,
    sql: &str,
) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
    sqlx::query(sql).persistent(backend == Backend::Sqlite)
}

pub fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    values: Vec<Bound>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for value in values {
        query = match value {
            Bound::Text(v) => query.bind(v),
            Bound::Integer(v) => query.bind(v),
            Bound::Double(v) => query.bind(v),
            Bound::Boolean(v) => query.bind(v),
        };
    }
    query
}

/// A row read back (in [`table_columns`]' order, or a layout-1 table's) as the record it was
/// written from, with its deletion time and run mark: `_extra`'s fields merged back, a
/// reference's id as `{"id": ..}`, JSON text parsed.
pub(super) fn record_of_row(
    table: &Table,
    columns: &[(String, ColumnType)],
    row: &sqlx::any::AnyRow,
) -> (Map<String, Value>, Option<String>, Option<String>) {
    let mut record = Map::new();
    let (mut deleted, mut seen) = (None, None);
    for (i, (name, kind)) in columns.iter().enumerate() {
        let value = crate::read_value(row, i, *kind);
        match name.as_str() {
            "_extra" => {
                if let Some(Value::Object(extra)) = value.as_str().and_then(parse_json) {
                    record.extend(extra);
                }
            }
            "_deleted_at" => deleted = value.as_str().map(str::to_string),
            "_seen_run" => seen = value.as_str().map(str::to_string),
            "_updated_utc" => {}
            "id" => {
                record.insert("id".into(), value);
            }
            _ => {
                let Some(column) = table.columns.iter().find(|c| c.name == *name) else {
                    continue;
                };
                let value = match (&value, column.kind) {
                    (Value::Null, _) => Value::Null,
                    _ if column.reference => serde_json::json!({ "id": value }),
                    (Value::String(text), ColumnType::Json) => {
                        parse_json(text).unwrap_or(value.clone())
                    }
                    _ => value,
                };
                // A value kept in `_extra` (it did not fit) is the whole one.
                record.entry(column.field.clone()).or_insert(value);
            }
        }
    }
    (record, deleted, seen)
}

fn parse_json(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

/// A record to write (as it came, or owned), with its deletion time and run mark.
pub(super) type Incoming<'a> = (Cow<'a, Map<String, Value>>, Option<String>, Option<String>);

/// A record that fits, its values and the record (mended of NULs).
pub(crate) type Kept<'a> = (Vec<Bound>, Cow<'a, Map<String, Value>>);

/// The records whose id fits `table`'s id column, with their values; each of the others is
/// kept whole in `_mirror_rejects` (a row needs an id of its column's type).
pub(super) async fn rejects<'a>(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &Table,
    records: Vec<Incoming<'a>>,
) -> Result<Vec<Kept<'a>>, MirrorError> {
    let mut kept = Vec::with_capacity(records.len());
    for (mut record, deleted, seen) in records {
        if record.values().any(has_nul) || record.keys().any(|k| k.contains('\0')) {
            map_without_nul(record.to_mut());
        }
        let values = row_values(table, &record, deleted.as_deref(), seen.as_deref());
        if values[0].is_null() {
            reject(tx, table, &record).await?;
        } else {
            kept.push((values, record));
        }
    }
    Ok(kept)
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Replaces each NUL character in `value`'s strings with U+FFFD: Postgres stores no NUL in
/// `TEXT` or `JSONB` (a page holding one would fail on every run), and SQLite's text
/// functions stop at one. The only character the mirror does not keep as it came.
fn without_nul(value: &mut Value) {
    match value {
        Value::String(text) if text.contains('\0') => *text = text.replace('\0', "\u{fffd}"),
        Value::Array(items) => items.iter_mut().for_each(without_nul),
        Value::Object(map) => map_without_nul(map),
        _ => {}
    }
}

/// [`without_nul`] for a map's keys and values.
fn map_without_nul(map: &mut Map<String, Value>) {
    if map.keys().any(|k| k.contains('\0')) {
        let entries = std::mem::take(map);
        *map = entries
            .into_iter()
            .map(|(k, v)| (k.replace('\0', "\u{fffd}"), v))
            .collect();
    }
    map.values_mut().for_each(without_nul);
}

async fn reject(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &Table,
    record: &Map<String, Value>,
) -> Result<(), MirrorError> {
    let id = record.get("id").map(Value::to_string).unwrap_or_default();
    tracing::warn!(
        table = %table.table,
        id = %salesloft_api::text::printable_bounded(&id, 100),
        "a record whose id does not fit the table is kept in _mirror_rejects"
    );
    sqlx::query(
        "INSERT INTO _mirror_rejects (\"table\", id, record, seen_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (\"table\", id) DO UPDATE SET record = excluded.record, seen_at = excluded.seen_at",
    )
    .bind(table.table.clone())
    .bind(id)
    .bind(Value::Object(record.clone()).to_string())
    .bind(crate::now())
    .execute(&mut **tx)
    .await
    .map_err(database)?;
    Ok(())
}

/// A row written: its id, its record, and whether the row is new (no child rows to remove).
pub(crate) type Parent<'a> = (Bound, &'a Map<String, Value>, bool);

/// Rewrites the child tables' rows of `parents`: the old elements removed (a new row has
/// none), the record's arrays written, one row per element. On Postgres every
/// child table is cleared by one statement and filled by one (a round trip each), on SQLite
/// (no round trips) a statement a table.
pub(crate) async fn rewrite_children(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    table: &Table,
    parents: &[Parent<'_>],
) -> Result<(), MirrorError> {
    if parents.is_empty() || table.children.is_empty() {
        return Ok(());
    }
    let old: Vec<Bound> = parents
        .iter()
        .filter(|(_, _, new)| !new)
        .map(|(id, _, _)| id.clone())
        .collect();
    for ids in old.chunks(1_000) {
        let (set, values) = id_set(backend, table.id_kind, ids);
        let deletes: Vec<String> = table
            .children
            .iter()
            .map(|child| format!("DELETE FROM \"{}\" WHERE \"parent_id\" {set}", child.table))
            .collect();
        let statements = match backend {
            Backend::Sqlite => deletes,
            Backend::Postgres => vec![together(&deletes)],
        };
        for sql in statements {
            bind_all(lookup(backend, &sql), values.clone())
                .execute(&mut **tx)
                .await
                .map_err(database)?;
        }
    }
    // Each child table's rows, then as few statements as the backend wants: on Postgres the
    // inserts joined while their values stay under the protocol's limit, on SQLite one each.
    let mut inserts: Vec<ChildRows> = Vec::new();
    for child in &table.children {
        let columns = child_columns(table, child);
        let mut rows: Vec<Vec<Bound>> = Vec::new();
        for (id, record, _) in parents {
            let Some(Value::Array(items)) = record.get(&child.field) else {
                continue;
            };
            for (position, item) in items.iter().enumerate() {
                let mut row = vec![id.clone(), Bound::Integer(Some(position as i64))];
                if child.scalar {
                    row.push(Bound::Text(text_of(item)));
                } else {
                    row.extend(
                        child
                            .columns
                            .iter()
                            .map(|c| bind(c, item.get(&c.field).unwrap_or(&Value::Null)).0),
                    );
                }
                rows.push(row);
            }
        }
        let per = (max_parameters(backend) / columns.len()).max(1);
        for chunk in rows.chunks(per) {
            inserts.push(ChildRows {
                table: &child.table,
                columns: columns.clone(),
                values: chunk.concat(),
            });
        }
    }
    let mut batch = Vec::new();
    let mut bound = 0;
    let mut pending = inserts.into_iter().peekable();
    while let Some(insert) = pending.next() {
        bound += insert.values.len();
        batch.push(insert);
        let full = backend == Backend::Sqlite
            || pending
                .peek()
                .is_none_or(|next| bound + next.values.len() > max_parameters(backend));
        if full {
            let mut statements = Vec::new();
            let mut all = Vec::with_capacity(bound);
            for rows in std::mem::take(&mut batch) {
                let count = rows.values.len() / rows.columns.len();
                statements.push(insert_sql(
                    backend,
                    rows.table,
                    &rows.columns,
                    count,
                    all.len(),
                ));
                all.extend(rows.values);
            }
            bind_all(sqlx::query(&together(&statements)), all)
                .execute(&mut **tx)
                .await
                .map_err(database)?;
            bound = 0;
        }
    }
    Ok(())
}

/// Rows of one child table for one statement.
struct ChildRows<'a> {
    table: &'a str,
    columns: Vec<(String, ColumnType)>,
    values: Vec<Bound>,
}

/// Postgres statements as one: all but the last as data-modifying `WITH` parts (they see the
/// same snapshot; none of them may touch a row another one does). One statement is itself.
fn together(statements: &[String]) -> String {
    let Some((last, first)) = statements.split_last() else {
        return String::new();
    };
    if first.is_empty() {
        return last.clone();
    }
    let parts: Vec<String> = first
        .iter()
        .enumerate()
        .map(|(i, sql)| format!("part{i} AS ({sql})"))
        .collect();
    format!("WITH {} {last}", parts.join(", "))
}

/// Writes `records` (a record whose id comes twice is written once, as it came last), in
/// statements of the size the backend writes fastest, with their child rows and, when
/// `history` is kept, their versions.
pub(crate) async fn write_page(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    table: &Table,
    records: &[&Map<String, Value>],
    run: Option<&str>,
    history: bool,
) -> Result<(), MirrorError> {
    let mut last: std::collections::HashMap<Option<String>, usize> = Default::default();
    for (i, record) in records.iter().enumerate() {
        last.insert(record.get("id").and_then(text_of), i);
    }
    let unique: Vec<Incoming> = records
        .iter()
        .enumerate()
        .filter(|(i, r)| last.get(&r.get("id").and_then(text_of)) == Some(i))
        .map(|(_, r)| (Cow::Borrowed(*r), None, run.map(str::to_string)))
        .collect();
    let kept = rejects(tx, table, unique).await?;
    let stamps: Vec<crate::history::Stamp> = match history {
        true => kept
            .iter()
            .map(|(values, _)| crate::history::stamp(values))
            .collect(),
        false => Vec::new(),
    };
    let (values, records): (Vec<Vec<Bound>>, Vec<_>) = kept.into_iter().unzip();
    let ids: Vec<Bound> = values.iter().map(|v| v[0].clone()).collect();
    // Measured (cargo xtask bench mirror): one multi-row statement a page, on both backends,
    // is several times faster than a statement a row. The values are moved into it, not
    // copied: a page's allocations are most of ingest's cost.
    // The ids written, and whether each row is new (Postgres tells: a row the statement
    // inserted has no `xmax`; SQLite does not, and its lookups cost little).
    let mut written: std::collections::HashMap<Option<String>, bool> = Default::default();
    let per = rows_per_statement(backend, table, PER_PAGE);
    let mut rest = values.into_iter();
    loop {
        let chunk: Vec<Vec<Bound>> = rest.by_ref().take(per).collect();
        if chunk.is_empty() {
            break;
        }
        let sql = upsert_rows_sql(backend, table, chunk.len());
        let rows = bind_all(sqlx::query(&sql), chunk.into_iter().flatten().collect())
            .fetch_all(&mut **tx)
            .await
            .map_err(database)?;
        for row in rows {
            let id = text_of(&crate::read_value(&row, 0, table.id_kind));
            let new = crate::read_value(&row, 1, ColumnType::Boolean) == Value::Bool(true);
            written.insert(id, new);
        }
    }
    let parents: Vec<Parent> = ids
        .into_iter()
        .zip(records.iter())
        .filter_map(|(id, record)| {
            let new = *written.get(&id.key())?;
            Some((id, record.as_ref(), new))
        })
        .collect();
    rewrite_children(tx, backend, table, &parents).await?;
    if history {
        crate::history::record(tx, backend, table, stamps, &written, &records, run).await?;
    }
    Ok(())
}

pub(crate) async fn save_cursor(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    resource: &str,
    cursor: &Cursor,
) -> Result<(), MirrorError> {
    let text = serde_json::to_string(cursor).unwrap_or_default();
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    sqlx::query(
        "INSERT INTO _mirror_cursors (resource, cursor, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (resource) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
    )
    .bind(resource.to_string())
    .bind(text)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(database)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, ColumnType};

    fn table(columns: usize) -> Table {
        Table {
            resource: "wide".into(),
            path: "/v2/wide.json".into(),
            table: "sl_wide".into(),
            columns: (0..columns)
                .map(|i| Column {
                    name: format!("c{i}"),
                    field: format!("c{i}"),
                    kind: ColumnType::Text,
                    reference: false,
                    identifier: false,
                })
                .collect(),
            id_kind: ColumnType::Integer,
            children: Vec::new(),
            incremental: true,
            paging: salesloft_openapi::schema::ListPaging::Pages,
            singular: "wide".into(),
        }
    }

    #[test]
    fn a_page_is_one_statement_unless_its_values_pass_the_engines_limit() {
        assert_eq!(rows_per_statement(Backend::Sqlite, &table(56), 100), 100);
        // 705 values a row: 46 rows fit SQLite's 32,766, 92 Postgres's 65,535.
        assert_eq!(rows_per_statement(Backend::Sqlite, &table(700), 100), 46);
        assert_eq!(rows_per_statement(Backend::Postgres, &table(700), 100), 92);
        assert_eq!(rows_per_statement(Backend::Sqlite, &table(40_000), 100), 1);
    }

    #[test]
    fn sqlite_placeholders_are_anonymous_and_postgres_ones_numbered() {
        let sqlite = upsert_rows_sql(Backend::Sqlite, &table(1), 2);
        assert!(
            sqlite.contains("VALUES (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?) ON"),
            "{sqlite}"
        );
        let postgres = upsert_rows_sql(Backend::Postgres, &table(1), 2);
        assert!(
            postgres.contains("($7, $8::jsonb, $9::timestamptz, $10::timestamptz, $11, $12) ON"),
            "{postgres}"
        );
        assert!(!postgres.contains('?'));
    }
}
