//! The history of every row (kept when asked for: `--history`, [`crate::Mirror::keep_history`]):
//! `<table>_history` holds each version the mirror saw, from page reads and webhook
//! deliveries, with `valid_from` (the version's `updated_at`, or when it was seen for a
//! resource without one), `valid_to` (the next version's `valid_from`; null for the current
//! one) and `change`: `insert` (the first version), `update`, or `delete` (a row of the id and
//! times only, when the deletion was seen).
//!
//! A re-read that changed nothing adds nothing: the same `updated_at` is the same version (for
//! a resource without one, the same content). A version that arrives late (an old delivery
//! after a newer read) is placed by its `updated_at` between its neighbours, never over the
//! newer one. History rows are written in the page's (or the delivery's) transaction.

use crate::db::{Backend, Bound, bind_all, database, own_columns, select_list};
use crate::error::MirrorError;
use crate::schema::{ColumnType, Table};
use sqlx::Row;
use std::collections::HashMap;

/// The primary key of a history table.
pub(crate) const KEY: &str = "\"id\", \"valid_from\"";

pub fn table_name(table: &Table) -> String {
    format!("{}_history", table.table)
}

/// The columns of `table`'s history: the id, the version's times and change, a digest of its
/// content, then the row's own columns but its deletion and run marks.
pub fn columns(table: &Table) -> Vec<(String, ColumnType)> {
    [
        ("id".to_string(), table.id_kind),
        ("valid_from".to_string(), ColumnType::Time),
        ("valid_to".to_string(), ColumnType::Time),
        ("change".to_string(), ColumnType::Text),
        ("_digest".to_string(), ColumnType::Text),
    ]
    .into_iter()
    .chain(
        own_columns()
            .filter(|(n, _)| *n == "_extra" || *n == "_updated_utc")
            .map(|(n, k)| (n.to_string(), k)),
    )
    .chain(table.columns.iter().map(|c| (c.name.clone(), c.kind)))
    .collect()
}

/// What tells a version from another: its row's id, its start, its change and its digest.
fn version_columns(table: &Table) -> [(String, ColumnType); 4] {
    [
        ("id".to_string(), table.id_kind),
        ("valid_from".to_string(), ColumnType::Time),
        ("change".to_string(), ColumnType::Text),
        ("_digest".to_string(), ColumnType::Text),
    ]
}

/// A version already in the history.
struct Version {
    valid_from: String,
    change: String,
    digest: Option<String>,
}

/// The versions of `ids` in `table`'s history, oldest first, by id.
async fn versions(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    table: &Table,
    ids: &[Bound],
) -> Result<HashMap<String, Vec<Version>>, MirrorError> {
    let mut found: HashMap<String, Vec<Version>> = HashMap::new();
    let listed = version_columns(table);
    for chunk in ids.chunks(1_000) {
        let (set, values) = crate::db::id_set(backend, table.id_kind, chunk);
        let sql = format!(
            "SELECT {} FROM \"{}\" WHERE \"id\" {set} ORDER BY \"valid_from\"",
            select_list(&listed, backend),
            table_name(table),
        );
        let rows = bind_all(crate::db::lookup(backend, &sql), values)
            .fetch_all(&mut **tx)
            .await
            .map_err(database)?;
        for row in rows {
            let id = crate::db::text_of(&crate::read_value(&row, 0, table.id_kind));
            let text = |i: usize| row.try_get::<Option<String>, _>(i).ok().flatten();
            found
                .entry(id.unwrap_or_default())
                .or_default()
                .push(Version {
                    valid_from: text(1).unwrap_or_default(),
                    change: text(2).unwrap_or_default(),
                    digest: text(3),
                });
        }
    }
    Ok(found)
}

/// What the history needs of a record written with a page, taken from its values before
/// they go into the page's statement.
pub(crate) struct Stamp {
    id: Bound,
    /// The record's `updated_at`, in UTC (none: a resource without one).
    stamped: Option<String>,
    digest: String,
}

/// The [`Stamp`] of a record's values (as [`crate::db::row_values`] made them).
pub(crate) fn stamp(values: &[Bound]) -> Stamp {
    Stamp {
        id: values[0].clone(),
        stamped: values[2].key(),
        digest: digest(values),
    }
}

/// A version to record.
struct Planned {
    /// The record's place in the page.
    index: usize,
    id: Bound,
    valid_from: String,
    valid_to: Option<String>,
    change: &'static str,
    digest: String,
}

/// Records the versions of a page just written (`stamps` and `records` in the page's order;
/// `written`: the ids the page's statement wrote, and whether each row is new) that the
/// history has not seen, each placed by its `updated_at`, ending or relabelling the versions
/// around it. A row new to the table has no history to look up. A version now current in its
/// row is copied from the row by the database (four values bound, not the whole row); any
/// other (a late one, placed between two) is written from its record.
pub(crate) async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    table: &Table,
    stamps: Vec<Stamp>,
    written: &HashMap<Option<String>, bool>,
    records: &[std::borrow::Cow<'_, serde_json::Map<String, serde_json::Value>>],
    run: Option<&str>,
) -> Result<(), MirrorError> {
    let new_row = |stamp: &Stamp| written.get(&stamp.id.key()) == Some(&true);
    let seen: Vec<Bound> = stamps
        .iter()
        .filter(|s| !new_row(s))
        .map(|s| s.id.clone())
        .collect();
    let mut known = versions(tx, backend, table, &seen).await?;
    let now = crate::now();
    let mut planned = Vec::new();
    for (index, stamp) in stamps.into_iter().enumerate() {
        let Stamp {
            id,
            stamped,
            digest,
        } = stamp;
        let at = stamped.clone().unwrap_or_else(|| now.clone());
        let list = known.entry(id.key().unwrap_or_default()).or_default();
        if list.iter().any(|v| v.valid_from == at) {
            continue; // this version is in the history already
        }
        let latest = list.last();
        if stamped.is_none()
            && latest.is_some_and(|v| v.change != "delete" && v.digest.as_deref() == Some(&digest))
        {
            continue; // no updated_at to tell versions apart, and the content is the same
        }
        let before = list.iter().rposition(|v| v.valid_from < at);
        let after = list.iter().position(|v| v.valid_from > at);
        let first = before.is_none_or(|i| list[i].change == "delete");
        if let Some(i) = before {
            close(tx, backend, table, &id, &list[i].valid_from, &at).await?;
        }
        if let Some(i) = after.filter(|_| first && before.is_none()) {
            // A version older than the first one seen: that one is now an update.
            if list[i].change == "insert" {
                set_change(tx, backend, table, &id, &list[i].valid_from).await?;
                list[i].change = "update".into();
            }
        }
        let change = if first { "insert" } else { "update" };
        let valid_to = after.map(|i| list[i].valid_from.clone());
        list.insert(
            after.unwrap_or(list.len()),
            Version {
                valid_from: at.clone(),
                change: change.to_string(),
                digest: Some(digest.clone()),
            },
        );
        planned.push(Planned {
            index,
            id,
            valid_from: at,
            valid_to,
            change,
            digest,
        });
    }
    let (current, placed): (Vec<Planned>, Vec<Planned>) = planned
        .into_iter()
        .partition(|p| p.valid_to.is_none() && written.contains_key(&p.id.key()));
    let mut inserts: Vec<Vec<Bound>> = Vec::new();
    for p in placed {
        let values = crate::db::row_values(table, &records[p.index], None, run);
        let mut row = vec![
            p.id,
            Bound::Text(Some(p.valid_from)),
            Bound::Text(p.valid_to),
            Bound::Text(Some(p.change.to_string())),
            Bound::Text(Some(p.digest)),
            values[1].clone(),
            values[2].clone(),
        ];
        row.extend(values.into_iter().skip(5));
        inserts.push(row);
    }
    insert(tx, backend, table, inserts).await?;
    copy_current(tx, backend, table, current).await
}

/// Inserts versions that are their rows' current content, copied from the rows.
async fn copy_current(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    table: &Table,
    versions: Vec<Planned>,
) -> Result<(), MirrorError> {
    let sqlite = backend == Backend::Sqlite;
    let columns = columns(table);
    let names = crate::db::quoted(&columns);
    // The row's columns after the history's own five.
    let copied: Vec<String> = columns[5..]
        .iter()
        .map(|(name, _)| format!("m.\"{name}\""))
        .collect();
    let no_end = if sqlite { "NULL" } else { "NULL::timestamptz" };
    for chunk in versions.chunks(1_000) {
        let rows = crate::db::values_sql(backend, &version_columns(table), chunk.len());
        let sql = format!(
            "INSERT INTO \"{history}\" ({names}) \
             SELECT m.\"id\", v.column2, {no_end}, v.column3, v.column4, {copied} \
             FROM \"{table}\" m JOIN (VALUES {rows}) AS v ON m.\"id\" = v.column1",
            history = table_name(table),
            table = table.table,
            copied = copied.join(", "),
        );
        let mut values = Vec::with_capacity(chunk.len() * 4);
        for p in chunk {
            values.extend([
                p.id.clone(),
                Bound::Text(Some(p.valid_from.clone())),
                Bound::Text(Some(p.change.to_string())),
                Bound::Text(Some(p.digest.clone())),
            ]);
        }
        bind_all(sqlx::query(&sql), values)
            .execute(&mut **tx)
            .await
            .map_err(database)?;
    }
    Ok(())
}

/// Records the deletion of `ids` seen `at`: a `delete` version after each one's latest (none
/// when the latest is a deletion already), which it closes.
pub(crate) async fn deleted(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    table: &Table,
    ids: &[Bound],
    at: &str,
) -> Result<(), MirrorError> {
    let known = versions(tx, backend, table, ids).await?;
    // A deletion's row has no content: a null of each column's type.
    let nulls: Vec<Bound> = columns(table)
        .iter()
        .skip(4)
        .map(|(_, kind)| Bound::null(*kind))
        .collect();
    let mut inserts = Vec::new();
    for id in ids {
        let list = known.get(&id.key().unwrap_or_default());
        let latest = list.and_then(|l| l.last());
        if latest.is_some_and(|v| v.change == "delete") {
            continue;
        }
        // A deletion comes after the version it ends, even when that version's `updated_at`
        // is ahead of this machine's clock.
        let from = match latest {
            Some(v) if v.valid_from.as_str() >= at => later(&v.valid_from),
            _ => at.to_string(),
        };
        if let Some(v) = latest {
            close(tx, backend, table, id, &v.valid_from, &from).await?;
        }
        let mut row = vec![
            id.clone(),
            Bound::Text(Some(from)),
            Bound::Text(None),
            Bound::Text(Some("delete".into())),
        ];
        row.extend(nulls.iter().cloned());
        inserts.push(row);
    }
    insert(tx, backend, table, inserts).await
}

/// One microsecond after `time` (the history's UTC text).
fn later(time: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(time)
        .map(|t| {
            (t.with_timezone(&chrono::Utc) + chrono::Duration::microseconds(1))
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        })
        .unwrap_or_else(|_| time.to_string())
}

/// Ends the version of `id` that began `from` at `to`.
async fn close(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    table: &Table,
    id: &Bound,
    from: &str,
    to: &str,
) -> Result<(), MirrorError> {
    let sqlite = backend == Backend::Sqlite;
    let time = |n| ColumnType::Time.placeholder(sqlite, n);
    let sql = format!(
        "UPDATE \"{}\" SET \"valid_to\" = {} WHERE \"id\" = {} AND \"valid_from\" = {}",
        table_name(table),
        time(1),
        table.id_kind.placeholder(sqlite, 2),
        time(3)
    );
    let values = vec![
        Bound::Text(Some(to.to_string())),
        id.clone(),
        Bound::Text(Some(from.to_string())),
    ];
    bind_all(crate::db::lookup(backend, &sql), values)
        .execute(&mut **tx)
        .await
        .map_err(database)?;
    Ok(())
}

/// Marks the version of `id` that began `from` an update (an older one was placed before it).
async fn set_change(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    table: &Table,
    id: &Bound,
    from: &str,
) -> Result<(), MirrorError> {
    let sqlite = backend == Backend::Sqlite;
    let sql = format!(
        "UPDATE \"{}\" SET \"change\" = 'update' WHERE \"id\" = {} AND \"valid_from\" = {}",
        table_name(table),
        table.id_kind.placeholder(sqlite, 1),
        ColumnType::Time.placeholder(sqlite, 2)
    );
    bind_all(
        crate::db::lookup(backend, &sql),
        vec![id.clone(), Bound::Text(Some(from.to_string()))],
    )
    .execute(&mut **tx)
    .await
    .map_err(database)?;
    Ok(())
}

/// Writes history rows, as many a statement as the database binds.
async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    table: &Table,
    rows: Vec<Vec<Bound>>,
) -> Result<(), MirrorError> {
    let columns = columns(table);
    let per = (crate::db::max_parameters(backend) / columns.len()).max(1);
    for chunk in rows.chunks(per) {
        let sql = crate::db::insert_sql(backend, &table_name(table), &columns, chunk.len(), 0);
        bind_all(sqlx::query(&sql), chunk.concat())
            .execute(&mut **tx)
            .await
            .map_err(database)?;
    }
    Ok(())
}

/// A digest of a row's content (its values but the deletion and run marks): how a resource
/// without `updated_at` tells a changed record from one read again. FNV-1a, 64 bits: stable
/// across builds, and a change detector needs no more.
fn digest(values: &[Bound]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (i, value) in values.iter().enumerate() {
        if i == 3 || i == 4 {
            continue;
        }
        // Each value with its kind and a separator, so no two rows read the same.
        match value {
            Bound::Text(v) => {
                eat(b"t");
                eat(v.as_deref().unwrap_or("\u{0}").as_bytes());
            }
            Bound::Integer(v) => {
                eat(b"i");
                eat(&v.map_or([0xff; 8], i64::to_le_bytes));
            }
            Bound::Double(v) => {
                eat(b"d");
                eat(&v.map_or([0xff; 8], f64::to_le_bytes));
            }
            Bound::Boolean(v) => eat(&[b'b', v.map_or(2, u8::from)]),
        }
        eat(&[0x1f]);
    }
    format!("{hash:016x}")
}
