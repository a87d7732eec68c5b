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
    let sqlite = backend == Backend::Sqlite;
    let mut found: HashMap<String, Vec<Version>> = HashMap::new();
    let listed = [
        ("id".to_string(), table.id_kind),
        ("valid_from".to_string(), ColumnType::Time),
        ("change".to_string(), ColumnType::Text),
        ("_digest".to_string(), ColumnType::Text),
    ];
    for chunk in ids.chunks(1_000) {
        let marks: Vec<String> = (1..=chunk.len())
            .map(|i| table.id_kind.placeholder(sqlite, i))
            .collect();
        let sql = format!(
            "SELECT {} FROM \"{}\" WHERE \"id\" IN ({}) ORDER BY \"valid_from\"",
            select_list(&listed, backend),
            table_name(table),
            marks.join(", ")
        );
        let rows = bind_all(sqlx::query(&sql), chunk.to_vec())
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

/// Records the versions of rows just written (`values` as [`crate::db::row_values`] made
/// them): each one the history has not seen, placed by its `updated_at`.
pub(crate) async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    table: &Table,
    rows: &[crate::db::Kept<'_>],
) -> Result<(), MirrorError> {
    let ids: Vec<Bound> = rows.iter().map(|(values, _)| values[0].clone()).collect();
    let mut known = versions(tx, backend, table, &ids).await?;
    let now = crate::now();
    let mut inserts: Vec<Vec<Bound>> = Vec::new();
    for (values, _) in rows {
        let key = values[0].key().unwrap_or_default();
        let stamped = values[2].key();
        let at = stamped.clone().unwrap_or_else(|| now.clone());
        let digest = digest(values);
        let list = known.entry(key).or_default();
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
            close(tx, backend, table, &values[0], &list[i].valid_from, &at).await?;
        }
        if let Some(i) = after.filter(|_| first && before.is_none()) {
            // A version older than the first one seen: that one is now an update.
            if list[i].change == "insert" {
                set_change(tx, backend, table, &values[0], &list[i].valid_from).await?;
                list[i].change = "update".into();
            }
        }
        let valid_to = after.map(|i| list[i].valid_from.clone());
        let change = if first { "insert" } else { "update" };
        let mut row = vec![
            values[0].clone(),
            Bound::Text(Some(at.clone())),
            Bound::Text(valid_to),
            Bound::Text(Some(change.to_string())),
            Bound::Text(Some(digest.clone())),
            values[1].clone(),
            values[2].clone(),
        ];
        row.extend(values[5..].iter().cloned());
        inserts.push(row);
        let at_index = after.unwrap_or(list.len());
        list.insert(
            at_index,
            Version {
                valid_from: at,
                change: change.to_string(),
                digest: Some(digest),
            },
        );
    }
    insert(tx, backend, table, inserts).await
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
    // A deletion's row has no content: a null of each column's type (Postgres refuses a
    // text null in an integer column).
    let nulls: Vec<Bound> = columns(table)
        .iter()
        .skip(4)
        .map(|(_, kind)| match kind {
            ColumnType::Integer => Bound::Integer(None),
            ColumnType::Double => Bound::Double(None),
            ColumnType::Boolean => Bound::Boolean(None),
            _ => Bound::Text(None),
        })
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
    bind_all(sqlx::query(&sql), values)
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
        sqlx::query(&sql),
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
        let sql = format!(
            "INSERT INTO \"{}\" ({}) VALUES {}",
            table_name(table),
            crate::db::quoted(&columns),
            crate::db::values_sql(backend, &columns, chunk.len())
        );
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
    for (i, value) in values.iter().enumerate() {
        if i == 3 || i == 4 {
            continue;
        }
        let text = format!("{value:?}\u{1f}");
        for byte in text.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}
