//! The tables: the mirror's own (meta, cursors) and one a resource, made from the spec and
//! extended with the columns a newer spec adds (never rebuilt); the layout version that
//! refuses a database from a newer program.

use super::{Backend, Db, database};
use crate::error::MirrorError;
use crate::schema::{ColumnType, Table};
use sqlx::{Executor, Row};

/// The layout of the mirror's own tables and columns this program writes. A database
/// written with a newer layout is refused (an older program would misread it).
pub const LAYOUT_VERSION: i64 = 1;

impl Db {
    /// Creates what is missing: the mirror's own tables, each resource's table, and the
    /// columns a newer spec added (`ALTER TABLE ... ADD COLUMN`; nothing is ever rebuilt).
    /// Refuses a database whose layout is newer than this program's, before any change.
    pub(super) async fn migrate(&self, tables: &[Table]) -> Result<(), MirrorError> {
        self.pool
            .execute(
                "CREATE TABLE IF NOT EXISTS _mirror_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            )
            .await
            .map_err(database)?;
        let stored: Option<String> =
            sqlx::query("SELECT value FROM _mirror_meta WHERE key = 'layout_version'")
                .fetch_optional(&self.pool)
                .await
                .map_err(database)?
                .map(|row| row.try_get::<String, _>(0))
                .transpose()
                .map_err(database)?;
        let stored = stored.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        if stored > LAYOUT_VERSION {
            return Err(MirrorError::FromTheFuture {
                found: stored,
                known: LAYOUT_VERSION,
            });
        }
        let sqlite = self.backend == Backend::Sqlite;
        let mut tx = self.pool.begin().await.map_err(database)?;
        tx.execute(
            "CREATE TABLE IF NOT EXISTS _mirror_cursors (resource TEXT PRIMARY KEY, cursor TEXT NOT NULL, updated_at TEXT NOT NULL)",
        )
        .await
        .map_err(database)?;
        for table in tables {
            let mut columns = vec!["\"id\" TEXT PRIMARY KEY".to_string()];
            columns.extend(
                own_columns().map(|(name, kind)| format!("\"{name}\" {}", kind.sql(sqlite))),
            );
            columns.extend(
                table
                    .columns
                    .iter()
                    .map(|c| format!("\"{}\" {}", c.name, c.kind.sql(sqlite))),
            );
            let create = format!(
                "CREATE TABLE IF NOT EXISTS \"{}\" ({})",
                table.table,
                columns.join(", ")
            );
            tx.execute(create.as_str()).await.map_err(database)?;
            let existing = self.columns_of(&mut tx, &table.table).await?;
            let wanted = own_columns()
                .map(|(n, k)| (n.to_string(), k))
                .chain(table.columns.iter().map(|c| (c.name.clone(), c.kind)));
            for (name, kind) in wanted {
                if !existing.contains(&name) {
                    let add = format!(
                        "ALTER TABLE \"{}\" ADD COLUMN \"{name}\" {}",
                        table.table,
                        kind.sql(sqlite)
                    );
                    tx.execute(add.as_str()).await.map_err(database)?;
                }
            }
        }
        let upsert = "INSERT INTO _mirror_meta (key, value) VALUES ('layout_version', $1) \
                      ON CONFLICT (key) DO UPDATE SET value = excluded.value";
        sqlx::query(upsert)
            .bind(LAYOUT_VERSION.to_string())
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        tx.commit().await.map_err(database)
    }

    async fn columns_of(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        table: &str,
    ) -> Result<Vec<String>, MirrorError> {
        let query = match self.backend {
            Backend::Sqlite => format!("SELECT name FROM pragma_table_info('{table}')"),
            Backend::Postgres => format!(
                "SELECT column_name::text FROM information_schema.columns WHERE table_name = '{table}' AND table_schema = current_schema()"
            ),
        };
        let rows = sqlx::query(&query)
            .fetch_all(&mut **tx)
            .await
            .map_err(database)?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(database))
            .collect()
    }
}

/// The columns every table has besides `id` and the spec's.
pub fn own_columns() -> impl Iterator<Item = (&'static str, ColumnType)> {
    [
        ("_extra", ColumnType::Json),
        ("_updated_utc", ColumnType::Text),
        ("_deleted_at", ColumnType::Text),
        ("_seen_run", ColumnType::Text),
    ]
    .into_iter()
}
