//! The database: one code path over SQLite and Postgres (sqlx's `Any` driver), the tables
//! made and extended from the spec (never rebuilt), the lock that keeps two mirrors from
//! interleaving, and the writes: a page's rows and its cursor in one transaction, newest wins.

use crate::error::MirrorError;
use crate::schema::{Column, ColumnType, Table};
use serde_json::{Map, Value};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor, Row};
use std::path::PathBuf;

/// The layout of the mirror's own tables and columns this program writes. A database
/// written with a newer layout is refused (an older program would misread it).
pub const LAYOUT_VERSION: i64 = 1;

/// The advisory lock key of a one-team mirror on Postgres: "SLMIRROR" as bytes. A lock is a
/// key, so a mirror of another scope (another team's schema) takes a key of its own.
pub const MIRROR_LOCK_KEY: i64 = 0x534c_4d49_5252_4f52;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A mirror database, locked for this process while it is open.
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// Held, never used: in a mutex so the database can be shared between tasks (a Postgres
    /// connection is not `Sync`).
    _lock: std::sync::Mutex<Lock>,
}

/// Who holds the lock: the file lock beside a SQLite database, or a Postgres connection
/// holding the advisory lock (released when it closes).
enum Lock {
    File(#[allow(dead_code)] std::fs::File),
    Postgres(#[allow(dead_code)] sqlx::pool::PoolConnection<sqlx::Any>),
}

/// A value bound to a statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Bound {
    Text(Option<String>),
    Integer(Option<i64>),
    Double(Option<f64>),
    Boolean(Option<bool>),
}

impl Db {
    /// Opens `url` (`sqlite:PATH`, created when missing, or `postgres://...`), waits for (or,
    /// with `wait` false, refuses) another mirror's lock, and brings the tables up to `tables`.
    /// `on_wait` hears who holds the lock before the wait starts.
    pub async fn open(
        url: &str,
        tables: &[Table],
        wait: bool,
        on_wait: &dyn Fn(&str),
    ) -> Result<Self, MirrorError> {
        install_default_drivers();
        let unreachable = |e: sqlx::Error| MirrorError::Unreachable {
            url: redact(url),
            reason: e.to_string(),
        };
        let (backend, connect) = if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() {
                return Err(MirrorError::BadUrl(url.to_string()));
            }
            (Backend::Sqlite, format!("sqlite://{path}?mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(MirrorError::BadUrl(url.to_string()));
        };
        let lock = match backend {
            Backend::Sqlite => Some(file_lock(url, wait, on_wait)?),
            Backend::Postgres => None,
        };
        let mut options = AnyPoolOptions::new().max_connections(match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => 4,
        });
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL: a reader never blocks the mirror; NORMAL: a commit survives a
                    // killed process (only a power loss may drop the last commits).
                    conn.execute("PRAGMA journal_mode=WAL").await?;
                    conn.execute("PRAGMA synchronous=NORMAL").await?;
                    conn.execute("PRAGMA busy_timeout=10000").await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(&connect).await.map_err(unreachable)?;
        let lock = match lock {
            Some(file) => Lock::File(file),
            None => Lock::Postgres(pg_lock(&pool, MIRROR_LOCK_KEY, wait, on_wait).await?),
        };
        let db = Self {
            pool,
            backend,
            _lock: std::sync::Mutex::new(lock),
        };
        db.migrate(tables).await?;
        Ok(db)
    }

    /// Creates what is missing: the mirror's own tables, each resource's table, and the
    /// columns a newer spec added (`ALTER TABLE ... ADD COLUMN`; nothing is ever rebuilt).
    /// Refuses a database whose layout is newer than this program's, before any change.
    async fn migrate(&self, tables: &[Table]) -> Result<(), MirrorError> {
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

/// The statement that writes one row of `table`: an upsert where the newer `updated_at`
/// wins and a deletion, once seen, stays.
pub fn upsert_sql(backend: Backend, table: &Table) -> String {
    upsert_rows_sql(backend, table, 1)
}

/// The values a statement of `backend` may bind (SQLite's `SQLITE_MAX_VARIABLE_NUMBER` in the
/// bundled library; Postgres's protocol counts them in 16 bits).
fn max_parameters(backend: Backend) -> usize {
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

/// [`upsert_sql`] for `rows` rows in one statement (their ids distinct: an upsert cannot
/// touch one row twice). One statement a page is what makes ingest fast on both backends.
/// SQLite gets anonymous `?` placeholders: it finds a named one (`$7`) by a walk of the
/// statement's list of names, so a page of 6,000 `$N` values costs quadratic time.
pub fn upsert_rows_sql(backend: Backend, table: &Table, rows: usize) -> String {
    let mut names = vec!["id".to_string()];
    names.extend(own_columns().map(|(n, _)| n.to_string()));
    names.extend(table.columns.iter().map(|c| c.name.clone()));
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let width = names.len();
    let values: Vec<String> = (0..rows.max(1))
        .map(|row| {
            let params: Vec<String> = (1..=width)
                .map(|i| match backend {
                    Backend::Sqlite => "?".to_string(),
                    Backend::Postgres => format!("${}", row * width + i),
                })
                .collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let updates: Vec<String> = names[1..]
        .iter()
        .map(|n| match n.as_str() {
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
         OR \"{t}\".\"_updated_utc\" <= excluded.\"_updated_utc\"",
        t = table.table,
        cols = quoted.join(", "),
        vals = values.join(", "),
        sets = updates.join(", ")
    )
}

/// The values of one record, in [`upsert_sql`]'s order. A value that does not fit its column
/// (a string where an integer was declared) is kept in `_extra`, with the fields the spec
/// does not know: nothing is lost.
pub fn row_values(
    table: &Table,
    record: &Map<String, Value>,
    deleted_at: Option<&str>,
    run: Option<&str>,
) -> Vec<Bound> {
    let mut extra: Map<String, Value> = record
        .iter()
        .filter(|(k, _)| k.as_str() != "id" && !table.has_field(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut values = vec![
        Bound::Text(record.get("id").and_then(text_of)),
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

fn bind(column: &Column, value: &Value) -> (Bound, bool) {
    if column.reference {
        return (Bound::Text(value.get("id").and_then(text_of)), true);
    }
    match (column.kind, value) {
        (ColumnType::Integer, Value::Null) => (Bound::Integer(None), true),
        (ColumnType::Double, Value::Null) => (Bound::Double(None), true),
        (ColumnType::Boolean, Value::Null) => (Bound::Boolean(None), true),
        (_, Value::Null) => (Bound::Text(None), true),
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
        (ColumnType::Json, v) => (Bound::Text(Some(v.to_string())), true),
        (ColumnType::Text, v) => (Bound::Text(text_of(v)), true),
    }
}

/// A scalar as text (`5`, `"abc"`); objects and arrays as JSON.
pub fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// An RFC 3339 time in UTC with microseconds: comparable as text.
pub fn utc(text: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| {
        t.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    })
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

/// A URL with its password hidden, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

fn lock_path(url: &str) -> PathBuf {
    let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = path.split('?').next().unwrap_or(path);
    PathBuf::from(format!("{path}.lock"))
}

/// The file lock beside a SQLite database; its holder writes its pid in it.
fn file_lock(url: &str, wait: bool, on_wait: &dyn Fn(&str)) -> Result<std::fs::File, MirrorError> {
    use std::io::{Read, Seek, Write};
    let path = lock_path(url);
    let io = |e: std::io::Error| MirrorError::Unreachable {
        url: url.to_string(),
        reason: format!("{}: {e}", path.display()),
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    if file.try_lock().is_err() {
        // The lock file is anyone's to write: only a pid is read from it, at most 32 bytes.
        let mut written = String::new();
        let _ = (&mut file).take(32).read_to_string(&mut written);
        let holder = match written.trim().parse::<u32>() {
            Ok(pid) => format!("process {pid}"),
            Err(_) => "another process".to_string(),
        };
        if !wait {
            return Err(MirrorError::Locked(holder));
        }
        on_wait(&holder);
        file.lock().map_err(io)?;
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    write!(file, "{}", std::process::id()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(file)
}

/// The advisory lock `key` on a connection held for as long as the mirror is open.
async fn pg_lock(
    pool: &AnyPool,
    key: i64,
    wait: bool,
    on_wait: &dyn Fn(&str),
) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, MirrorError> {
    let mut conn = pool.acquire().await.map_err(database)?;
    let got: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut *conn)
        .await
        .map_err(database)?
        .try_get(0)
        .map_err(database)?;
    if got {
        return Ok(conn);
    }
    let holder = pg_lock_holder(&mut conn, key)
        .await
        .map_or("another mirror".to_string(), |pid| {
            format!("PostgreSQL backend {pid} (another mirror)")
        });
    if !wait {
        return Err(MirrorError::Locked(holder));
    }
    on_wait(&holder);
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(key)
        .execute(&mut *conn)
        .await
        .map_err(database)?;
    Ok(conn)
}

/// The backend holding advisory lock `key`, and no other: `pg_locks` shows a one-`bigint` key
/// as its high half in `classid`, its low half in `objid`, and `objsubid` 1.
async fn pg_lock_holder(conn: &mut sqlx::AnyConnection, key: i64) -> Option<i64> {
    let sql = "SELECT pid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted \
               AND objsubid = 1 AND classid::bigint = $1 AND objid::bigint = $2 \
               AND pid <> pg_backend_pid() LIMIT 1";
    let high = (key as u64 >> 32) as i64;
    let low = (key as u64 & 0xffff_ffff) as i64;
    sqlx::query(sql)
        .bind(high)
        .bind(low)
        .fetch_optional(&mut *conn)
        .await
        .ok()
        .flatten()
        .and_then(|row| row.try_get::<i64, _>(0).ok())
}

pub(crate) fn database(e: sqlx::Error) -> MirrorError {
    MirrorError::Database(e)
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
                })
                .collect(),
            incremental: true,
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
            postgres.contains("($7, $8, $9, $10, $11, $12) ON"),
            "{postgres}"
        );
        assert!(!postgres.contains('?'));
    }
}
