//! The tables: the mirror's own (meta, cursors, rejects), one a resource with its child tables
//! and (with history kept) its history, made from the spec and extended with the columns a
//! newer spec adds; the layout version that refuses a database from a newer program; and the
//! conversion of a database written before columns were typed.

use super::write::{insert_rows_sql, record_of_row, rows_per_statement, select_list};
use super::{Backend, Db, database, write};
use crate::error::MirrorError;
use crate::schema::{ColumnType, Table};
use crate::{Opening, history};
use sqlx::{Executor, Row};
use std::collections::HashMap;

/// The layout of the mirror's own tables and columns this program writes. A database
/// written with a newer layout is refused (an older program would misread it).
/// 1: every identifier and time as text; 2: typed columns, child tables, history.
pub const LAYOUT_VERSION: i64 = 2;

/// Rows a conversion reads at a time.
const CONVERT_BATCH: i64 = 2_000;

impl Db {
    /// Creates what is missing: the mirror's own tables, each resource's table with its
    /// children (and history, when kept), and the columns a newer spec added. A table of a
    /// layout-1 database is converted to typed columns, each in one transaction. Refuses a
    /// database whose layout is newer than this program's, before any change.
    pub(super) async fn migrate(
        &mut self,
        tables: &[Table],
        on_open: &(dyn Fn(Opening<'_>) + Sync),
    ) -> Result<(), MirrorError> {
        self.pool
            .execute(
                "CREATE TABLE IF NOT EXISTS _mirror_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            )
            .await
            .map_err(database)?;
        let stored = self
            .meta("layout_version")
            .await?
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        if stored > LAYOUT_VERSION {
            return Err(MirrorError::FromTheFuture {
                found: stored,
                known: LAYOUT_VERSION,
            });
        }
        self.history = self.meta("history").await?.as_deref() == Some("on");
        if stored < 2 {
            // Tables of the untyped layout, each converted in a transaction of its own.
            let existing = self.all_columns().await?;
            for table in tables {
                let typed = self.meta(&format!("typed:{}", table.table)).await?;
                if existing.contains_key(&table.table) && typed.is_none() {
                    self.convert(table, on_open).await?;
                }
            }
        }
        // Then what is missing, in one transaction.
        let existing = self.all_columns().await?;
        let mut tx = self.pool.begin().await.map_err(database)?;
        let own = [
            "CREATE TABLE IF NOT EXISTS _mirror_cursors (resource TEXT PRIMARY KEY, cursor TEXT NOT NULL, updated_at TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS _mirror_rejects (\"table\" TEXT NOT NULL, id TEXT NOT NULL, record TEXT NOT NULL, seen_at TEXT NOT NULL, PRIMARY KEY (\"table\", id))",
        ];
        for statement in own {
            tx.execute(statement).await.map_err(database)?;
        }
        for table in tables {
            let mut wanted = vec![(table.table.clone(), table_columns(table), "\"id\"")];
            for child in &table.children {
                let columns = child_columns(table, child);
                wanted.push((child.table.clone(), columns, CHILD_KEY));
            }
            if self.history {
                let columns = history::columns(table);
                wanted.push((history::table_name(table), columns, history::KEY));
            }
            for (name, columns, key) in wanted {
                match existing.get(&name) {
                    None => {
                        let create = create_sql(self.backend, &name, &columns, key);
                        tx.execute(create.as_str()).await.map_err(database)?;
                    }
                    Some(have) => self.add_missing(&mut tx, &name, have, &columns).await?,
                }
            }
        }
        set_meta_in(&mut tx, "layout_version", &LAYOUT_VERSION.to_string()).await?;
        tx.commit().await.map_err(database)
    }

    /// Keeps every version from now on: the history tables are made, and the choice is
    /// stored, so any later opening of this database keeps history too.
    pub async fn keep_history(&mut self, tables: &[Table]) -> Result<(), MirrorError> {
        if self.history {
            return Ok(());
        }
        self.set_meta("history", "on").await?;
        self.history = true;
        self.migrate(tables, &|_| {}).await
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, MirrorError> {
        let row = sqlx::query("SELECT value FROM _mirror_meta WHERE key = $1")
            .bind(key.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?;
        row.map(|row| row.try_get::<String, _>(0))
            .transpose()
            .map_err(database)
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), MirrorError> {
        set_meta_in(
            &mut *self.pool.acquire().await.map_err(database)?,
            key,
            value,
        )
        .await
    }

    /// Makes `name` with `table`'s typed columns when it does not exist.
    async fn create(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        table: &Table,
        name: &str,
    ) -> Result<(), MirrorError> {
        let create = create_sql(self.backend, name, &table_columns(table), "\"id\"");
        tx.execute(create.as_str()).await.map_err(database)?;
        Ok(())
    }

    /// Adds the columns of `wanted` that `name` lacks (a newer spec's fields).
    async fn add_missing(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        name: &str,
        existing: &[String],
        wanted: &[(String, ColumnType)],
    ) -> Result<(), MirrorError> {
        let sqlite = self.backend == Backend::Sqlite;
        for (column, kind) in wanted {
            if !existing.contains(column) {
                let add = format!(
                    "ALTER TABLE \"{name}\" ADD COLUMN \"{column}\" {}",
                    kind.sql(sqlite)
                );
                tx.execute(add.as_str()).await.map_err(database)?;
            }
        }
        Ok(())
    }

    /// Every table of the database (of the team's schema, on a fleet's) and its columns.
    async fn all_columns(&self) -> Result<HashMap<String, Vec<String>>, MirrorError> {
        let query = match self.backend {
            Backend::Sqlite => {
                "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table'"
            }
            Backend::Postgres => {
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema()"
            }
        };
        let rows = sqlx::query(query)
            .fetch_all(&self.pool)
            .await
            .map_err(database)?;
        let mut tables: HashMap<String, Vec<String>> = HashMap::new();
        for row in rows {
            let table: String = row.try_get(0).map_err(database)?;
            let column: String = row.try_get(1).map_err(database)?;
            tables.entry(table).or_default().push(column);
        }
        Ok(tables)
    }

    /// Converts a layout-1 table (identifiers and times as text) to typed columns in one
    /// transaction: a typed copy is filled from the old rows, each read back into the record
    /// it came from and written as a page is (a value that does not fit its column goes to
    /// `_extra`; a row whose id does not fit goes to `_mirror_rejects`), then replaces it. A
    /// conversion stopped half way leaves the old table as it was.
    async fn convert(
        &self,
        table: &Table,
        on_open: &(dyn Fn(Opening<'_>) + Sync),
    ) -> Result<(), MirrorError> {
        let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM \"{}\"", table.table))
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(database)?;
        on_open(Opening::Converting {
            table: &table.table,
            done: 0,
            total: total as u64,
        });
        let scratch = format!("{}__typed", table.table);
        let mut tx = self.pool.begin().await.map_err(database)?;
        tx.execute(format!("DROP TABLE IF EXISTS \"{scratch}\"").as_str())
            .await
            .map_err(database)?;
        self.create(&mut tx, table, &scratch).await?;
        for child in &table.children {
            let columns = child_columns(table, child);
            tx.execute(create_sql(self.backend, &child.table, &columns, CHILD_KEY).as_str())
                .await
                .map_err(database)?;
        }
        let old = untyped_columns(table);
        let names = select_list(&old, self.backend);
        let mut after: Option<String> = None;
        let mut done = 0u64;
        loop {
            let sql = format!(
                "SELECT {names} FROM \"{}\" WHERE $1 IS NULL OR \"id\" > $1 ORDER BY \"id\" LIMIT {CONVERT_BATCH}",
                table.table
            );
            let rows = sqlx::query(&sql)
                .bind(after.clone())
                .fetch_all(&mut *tx)
                .await
                .map_err(database)?;
            let Some(last) = rows.last() else { break };
            after = last.try_get::<Option<String>, _>(0).map_err(database)?;
            let mut records = Vec::with_capacity(rows.len());
            for row in &rows {
                let (record, deleted, seen) = record_of_row(table, &old, row);
                records.push((std::borrow::Cow::Owned(record), deleted, seen));
            }
            let kept = write::rejects(&mut tx, table, records).await?;
            let per = rows_per_statement(self.backend, table, CONVERT_BATCH as usize);
            for chunk in kept.chunks(per) {
                let sql = insert_rows_sql(self.backend, table, &scratch, chunk.len());
                let values = chunk
                    .iter()
                    .flat_map(|(values, _)| values.clone())
                    .collect();
                write::bind_all(sqlx::query(&sql), values)
                    .execute(&mut *tx)
                    .await
                    .map_err(database)?;
            }
            let written: Vec<_> = kept
                .iter()
                .map(|(values, record)| (values[0].clone(), record.as_ref(), true))
                .collect();
            write::rewrite_children(&mut tx, self.backend, table, &written).await?;
            done += rows.len() as u64;
            on_open(Opening::Converting {
                table: &table.table,
                done,
                total: total as u64,
            });
        }
        tx.execute(format!("DROP TABLE \"{}\"", table.table).as_str())
            .await
            .map_err(database)?;
        tx.execute(format!("ALTER TABLE \"{scratch}\" RENAME TO \"{}\"", table.table).as_str())
            .await
            .map_err(database)?;
        set_meta_in(&mut tx, &format!("typed:{}", table.table), "2").await?;
        tx.commit().await.map_err(database)
    }
}

async fn set_meta_in(
    conn: &mut sqlx::AnyConnection,
    key: &str,
    value: &str,
) -> Result<(), MirrorError> {
    sqlx::query(
        "INSERT INTO _mirror_meta (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key.to_string())
    .bind(value.to_string())
    .execute(conn)
    .await
    .map_err(database)?;
    Ok(())
}

/// The primary key of a child table.
const CHILD_KEY: &str = "\"parent_id\", \"position\"";

/// `CREATE TABLE IF NOT EXISTS name (columns..., PRIMARY KEY (key))`. A child table on SQLite
/// is `WITHOUT ROWID`: its rows are small and found by their key, so one B-tree holds them
/// (not a table and an index).
fn create_sql(backend: Backend, name: &str, columns: &[(String, ColumnType)], key: &str) -> String {
    let sqlite = backend == Backend::Sqlite;
    let mut defs: Vec<String> = columns
        .iter()
        .map(|(column, kind)| format!("\"{column}\" {}", kind.sql(sqlite)))
        .collect();
    defs.push(format!("PRIMARY KEY ({key})"));
    format!(
        "CREATE TABLE IF NOT EXISTS \"{name}\" ({})",
        defs.join(", ")
    )
}

/// Every column of a resource's table, in the order rows are written: `id`, the mirror's
/// own, the spec's.
pub fn table_columns(table: &Table) -> Vec<(String, ColumnType)> {
    std::iter::once(("id".to_string(), table.id_kind))
        .chain(own_columns().map(|(n, k)| (n.to_string(), k)))
        .chain(table.columns.iter().map(|c| (c.name.clone(), c.kind)))
        .collect()
}

/// The columns of a child table: the parent's id, the position, the element's columns.
pub fn child_columns(table: &Table, child: &crate::schema::Child) -> Vec<(String, ColumnType)> {
    [
        ("parent_id".to_string(), table.id_kind),
        ("position".to_string(), ColumnType::Integer),
    ]
    .into_iter()
    .chain(child.columns.iter().map(|c| (c.name.clone(), c.kind)))
    .collect()
}

/// The columns every table has besides `id` and the spec's.
pub fn own_columns() -> impl Iterator<Item = (&'static str, ColumnType)> {
    [
        ("_extra", ColumnType::Json),
        ("_updated_utc", ColumnType::Time),
        ("_deleted_at", ColumnType::Time),
        ("_seen_run", ColumnType::Text),
    ]
    .into_iter()
}

/// The columns of `table` as layout 1 wrote them (identifiers, references, times, dates and
/// JSON as text): what a conversion reads, and what tests make an old database with.
pub fn untyped_columns(table: &Table) -> Vec<(String, ColumnType)> {
    let old = |c: &crate::schema::Column| match c.kind {
        ColumnType::Time | ColumnType::Date | ColumnType::Json => ColumnType::Text,
        _ if c.reference || c.identifier => ColumnType::Text,
        kind => kind,
    };
    std::iter::once(("id".to_string(), ColumnType::Text))
        .chain(own_columns().map(|(n, _)| (n.to_string(), ColumnType::Text)))
        .chain(table.columns.iter().map(|c| (c.name.clone(), old(c))))
        .collect()
}
