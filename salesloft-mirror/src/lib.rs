//! A SalesLoft team's data in a database: SQLite (embedded, the default) or Postgres (when
//! many processes share it), one code path over both.
//!
//! ```no_run
//! # async fn demo(client: salesloft_api::Client) -> Result<(), salesloft_mirror::MirrorError> {
//! let mirror = salesloft_mirror::Mirror::open("sqlite:salesloft.db", &|holder| {
//!     eprintln!("waiting for {holder}");
//! })
//! .await?;
//! let tables = mirror.select(&[], &[])?; // every list resource
//! let reports = mirror.run(&client, &tables, &mut |_progress| {}).await?;
//! # Ok(()) }
//! ```
//!
//! - Tables come from the spec ([`schema`]), typed (integer ids, times, JSON), with a child
//!   table per array of tags or references; a newer spec adds columns when the database is
//!   opened; a database of the untyped layout is converted in place, a table a transaction;
//!   a database from a newer program is refused.
//! - With [`Mirror::keep_history`], every version seen is kept in `<table>_history`
//!   ([`history`]).
//! - Resources whose lists take `updated_at[gt]` are read incrementally: page-1 requests
//!   only, sorted by `updated_at`, from the stored cursor. The others are read whole each run;
//!   rows a whole read no longer finds are marked deleted.
//! - Each page's rows and the resource's cursor commit in one transaction: a process killed
//!   at any point and started again ends with the same rows as one never killed.
//! - [`Mirror::apply`] writes a webhook delivery: newer `updated_at` wins, a deletion marks the
//!   row (`_deleted_at`) and stays.

pub mod cursor;
pub mod db;
pub mod error;
#[cfg(feature = "fleet")]
pub mod fleet;
pub mod follow;
pub mod history;
pub mod patience;
mod read;
pub mod schema;

pub use error::MirrorError;
pub use patience::Patience;
pub use schema::Table;

use chrono::Utc;
use db::{Backend, Db, bind_all, database, write_page};
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::Row;

/// The tables of `only` (all when empty) without those of `except`; an unknown name is an
/// error.
pub fn select(
    tables: &[Table],
    only: &[String],
    except: &[String],
) -> Result<Vec<Table>, MirrorError> {
    for name in only.iter().chain(except) {
        if !tables.iter().any(|t| t.resource == *name) {
            return Err(MirrorError::UnknownResource(
                salesloft_api::text::printable_bounded(name, 100),
            ));
        }
    }
    Ok(tables
        .iter()
        .filter(|t| only.is_empty() || only.contains(&t.resource))
        .filter(|t| !except.contains(&t.resource))
        .cloned()
        .collect())
}

/// The actions of the webhook events the mirror applies (`person_created`, ...): what a
/// delivery can do to a row. `follow` subscribes to these, `apply` writes them.
pub const EVENT_ACTIONS: &[&str] = &["created", "updated", "deleted", "completed", "booked"];

/// Records a page asks for: the most the service gives.
pub const PER_PAGE: usize = 100;

/// An open mirror database, locked for this process.
pub struct Mirror {
    db: Db,
    tables: Vec<Table>,
    patience: Patience,
}

/// What opening a database is waiting for or doing.
#[derive(Clone, Copy, Debug)]
pub enum Opening<'a> {
    /// Another mirror holds the database (`holder` says which process).
    Waiting { holder: &'a str },
    /// A table of an older layout is being converted: `done` of `total` rows.
    Converting {
        table: &'a str,
        done: u64,
        total: u64,
    },
}

impl std::fmt::Display for Opening<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Waiting { holder } => write!(f, "{holder}"),
            Self::Converting { table, done, total } => {
                write!(
                    f,
                    "converting {table} to typed columns: {done} of {total} rows"
                )
            }
        }
    }
}

/// What the mirror is doing, for a progress display.
#[derive(Clone, Debug)]
pub enum Progress<'a> {
    /// A resource starts; `rows` are already in its table.
    Start {
        table: &'a Table,
        rows: u64,
    },
    /// How many records the read has left to do (from its first request's paging counts).
    Total {
        table: &'a Table,
        records: u64,
    },
    /// A page was written.
    Page {
        table: &'a Table,
        written: usize,
        requests: u64,
        cost: u64,
    },
    Done {
        report: &'a Report,
    },
}

/// What one run did to one resource.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Report {
    pub resource: String,
    pub incremental: bool,
    /// Records written this run.
    pub written: u64,
    /// Rows in the table now (not deleted).
    pub rows: u64,
    pub requests: u64,
    pub cost: u64,
    /// Rows marked deleted this run.
    pub deleted: u64,
    /// Why the read stopped early, when the service kept failing for this resource: what
    /// was read before is kept, and the next run goes on from there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// A failure that is the connection's, not the resource's: no token, or a 401 that stands.
fn is_credentials(error: &salesloft_api::ApiError) -> bool {
    matches!(error, salesloft_api::ApiError::Credentials(_))
        || error.status().is_some_and(|status| status.as_u16() == 401)
}

impl Mirror {
    /// Opens (or creates) the database at `url` and brings its tables up to the spec this
    /// program ships. `on_open` hears who holds the lock when another mirror has it, and the
    /// progress of converting an older layout's tables.
    pub async fn open(
        url: &str,
        on_open: &(dyn Fn(Opening<'_>) + Sync),
    ) -> Result<Self, MirrorError> {
        let tables = schema::tables(salesloft_openapi::SPEC);
        let db = Db::open(url, &tables, true, on_open).await?;
        Ok(Self {
            db,
            tables,
            patience: Patience::default(),
        })
    }

    /// Opens team `fence.team`'s schema of a shared Postgres database for a fleet's run
    /// ([`db::Db::open_fenced`]): every write proves the fleet's lease on the team.
    pub async fn open_fenced(url: &str, fence: db::Fence) -> Result<Self, MirrorError> {
        let tables = schema::tables(salesloft_openapi::SPEC);
        let db = Db::open_fenced(url, &tables, fence).await?;
        Ok(Self {
            db,
            tables,
            patience: Patience::default(),
        })
    }

    /// Opens the database, refusing (not waiting) when another mirror holds it.
    pub async fn open_now(url: &str) -> Result<Self, MirrorError> {
        let tables = schema::tables(salesloft_openapi::SPEC);
        let db = Db::open(url, &tables, false, &|_| {}).await?;
        Ok(Self {
            db,
            tables,
            patience: Patience::default(),
        })
    }

    /// Keeps every version the mirror sees from now on, in `<table>_history` ([`history`]);
    /// stored in the database, so every later run keeps it too.
    pub async fn keep_history(&mut self) -> Result<(), MirrorError> {
        self.db.keep_history(&self.tables).await
    }

    /// Whether this database keeps history.
    pub fn keeps_history(&self) -> bool {
        self.db.history
    }

    /// How long a read waits out a service that keeps failing before the resource is
    /// reported as failed (default: two minutes; zero: the client's own retries only).
    pub fn set_patience(&mut self, patience: Patience) {
        self.patience = patience;
    }

    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    pub fn backend(&self) -> Backend {
        self.db.backend
    }

    /// The tables of `only` (all when empty) without those of `except` ([`select`]).
    pub fn select(&self, only: &[String], except: &[String]) -> Result<Vec<Table>, MirrorError> {
        select(&self.tables, only, except)
    }

    /// Mirrors `tables` one after another.
    pub async fn run(
        &self,
        client: &salesloft_api::Client,
        tables: &[Table],
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<Vec<Report>, MirrorError> {
        self.read_each(client, tables, false, progress).await
    }

    /// Reads each table (with `reconcile`, a reconciling walk), reporting its start and end.
    async fn read_each(
        &self,
        client: &salesloft_api::Client,
        tables: &[Table],
        reconcile: bool,
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<Vec<Report>, MirrorError> {
        let mut reports = Vec::new();
        for table in tables {
            progress(Progress::Start {
                table,
                rows: self.rows(table).await?,
            });
            let mut report = Report {
                resource: table.resource.clone(),
                incremental: table.incremental,
                ..Report::default()
            };
            let read = if table.incremental {
                self.read_incremental(client, table, reconcile, &mut report, progress)
                    .await
            } else {
                self.read_whole(client, table, &mut report, progress).await
            };
            match read {
                Ok(()) => {}
                // The service still failed after the client's retries: the pages read are
                // committed with their cursor (the next run goes on from there), the failure
                // is the report's, and the other resources are still read. Credentials that
                // fail would fail every resource alike: that ends the run.
                Err(MirrorError::Api(error)) if !is_credentials(&error) => {
                    report.failed = Some(salesloft_api::text::printable(&error.to_string()));
                }
                Err(error) => return Err(error),
            }
            report.rows = self.rows(table).await?;
            progress(Progress::Done { report: &report });
            reports.push(report);
        }
        Ok(reports)
    }

    /// Rows of `table` not marked deleted.
    pub async fn rows(&self, table: &Table) -> Result<u64, MirrorError> {
        let sql = format!(
            "SELECT COUNT(*) FROM \"{}\" WHERE \"_deleted_at\" IS NULL",
            table.table
        );
        let row = sqlx::query(&sql)
            .fetch_one(&self.db.pool)
            .await
            .map_err(database)?;
        Ok(row.try_get::<i64, _>(0).map_err(database)? as u64)
    }

    /// Every row of `table` (deleted ones too), as JSON objects keyed by column: integers as
    /// numbers, times as UTC text (`2024-01-02T03:04:05.000000Z`), JSON columns parsed.
    pub async fn dump(&self, table: &Table) -> Result<Vec<Map<String, Value>>, MirrorError> {
        self.dump_table(&db::table_columns(table), &table.table, "\"id\"")
            .await
    }

    /// Every row of `table`'s history, by id and `valid_from` (empty when none is kept).
    pub async fn dump_history(
        &self,
        table: &Table,
    ) -> Result<Vec<Map<String, Value>>, MirrorError> {
        if !self.db.history {
            return Ok(Vec::new());
        }
        let name = history::table_name(table);
        self.dump_table(&history::columns(table), &name, "\"id\", \"valid_from\"")
            .await
    }

    /// Every row of each child table of `table`, by parent and position.
    pub async fn dump_children(
        &self,
        table: &Table,
    ) -> Result<Vec<(String, Vec<Map<String, Value>>)>, MirrorError> {
        let mut all = Vec::new();
        for child in &table.children {
            let columns = db::child_columns(table, child);
            let rows = self
                .dump_table(&columns, &child.table, "\"parent_id\", \"position\"")
                .await?;
            all.push((child.table.clone(), rows));
        }
        Ok(all)
    }

    async fn dump_table(
        &self,
        columns: &[(String, schema::ColumnType)],
        name: &str,
        order: &str,
    ) -> Result<Vec<Map<String, Value>>, MirrorError> {
        let sql = format!(
            "SELECT {} FROM \"{name}\" ORDER BY {order}",
            db::select_list(columns, self.db.backend)
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.db.pool)
            .await
            .map_err(database)?;
        Ok(rows
            .iter()
            .map(|row| {
                columns
                    .iter()
                    .enumerate()
                    .map(|(i, (name, kind))| {
                        let value = read_value(row, i, *kind);
                        let value = match (kind, value) {
                            (schema::ColumnType::Json, Value::String(text)) => {
                                serde_json::from_str(&text).unwrap_or(Value::String(text))
                            }
                            (_, value) => value,
                        };
                        (name.clone(), value)
                    })
                    .collect()
            })
            .collect())
    }

    /// Writes `records` of `table` in one transaction (newest wins), without moving any
    /// cursor: for loading records read elsewhere, and for measuring the database alone.
    pub async fn write_rows(
        &self,
        table: &Table,
        records: &[Map<String, Value>],
    ) -> Result<(), MirrorError> {
        let records: Vec<&Map<String, Value>> = records.iter().collect();
        let mut tx = self.db.pool.begin().await.map_err(database)?;
        self.db.fenced(&mut tx).await?;
        write_page(
            &mut tx,
            self.db.backend,
            table,
            &records,
            None,
            self.db.history,
        )
        .await?;
        tx.commit().await.map_err(database)
    }

    /// Finds the rows of incremental resources that are gone from the service (resources
    /// without delete events, or deletions whose webhook was missed): a page-1 walk of each
    /// whole list by `updated_at`, at ceil(N/100)+1 requests for N records
    /// ([`Mirror::reconcile_cost`] says how many before).
    pub async fn reconcile(
        &self,
        client: &salesloft_api::Client,
        tables: &[Table],
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<Vec<Report>, MirrorError> {
        let incremental: Vec<Table> = tables.iter().filter(|t| t.incremental).cloned().collect();
        self.read_each(client, &incremental, true, progress).await
    }

    /// What [`Mirror::reconcile`] will cost at least: ceil(rows/100)+1 page-1 requests per
    /// incremental table, from the rows mirrored now.
    pub async fn reconcile_cost(&self, tables: &[Table]) -> Result<u64, MirrorError> {
        let mut cost = 0;
        for table in tables.iter().filter(|t| t.incremental) {
            cost += self.rows(table).await?.div_ceil(PER_PAGE as u64) + 1;
        }
        Ok(cost)
    }

    /// Writes one webhook delivery (`person_updated` and its record) in a transaction: the
    /// row is written only when the delivered `updated_at` is newer than the stored one; a
    /// `*_deleted` event marks the row deleted (the delivered record kept as its tombstone).
    /// `false` when no mirrored table has that event.
    pub async fn apply(&self, event_type: &str, record: &Value) -> Result<bool, MirrorError> {
        let mut tx = self.db.pool.begin().await.map_err(database)?;
        self.db.fenced(&mut tx).await?;
        let applied = apply_in(
            &mut tx,
            self.db.backend,
            &self.tables,
            event_type,
            record,
            self.db.history,
        )
        .await?;
        tx.commit().await.map_err(database)?;
        Ok(applied)
    }
}

/// Writes one webhook delivery inside `tx` (see [`Mirror::apply`]); the caller commits. A
/// fleet's receiver writes each team's deliveries this way, its transaction scoped to the
/// team's schema. With `history`, the delivered version and a deletion are recorded too.
pub(crate) async fn apply_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: db::Backend,
    tables: &[Table],
    event_type: &str,
    record: &Value,
    history: bool,
) -> Result<bool, MirrorError> {
    let Some((table, action)) = tables.iter().find_map(|t| {
        let action = event_type.strip_prefix(&t.singular)?.strip_prefix('_')?;
        EVENT_ACTIONS.contains(&action).then_some((t, action))
    }) else {
        return Ok(false);
    };
    let Some(record) = record.as_object() else {
        return Ok(false);
    };
    let now = now();
    let deleted = (action == "deleted").then_some(now.as_str());
    write_page(tx, backend, table, &[record], None, history).await?;
    if let Some(at) = deleted {
        // A deletion is a deletion even when the delivered record is not newer.
        let id = db::id_bound(table, record.get("id").unwrap_or(&Value::Null));
        let sqlite = backend == db::Backend::Sqlite;
        let mark = format!(
            "UPDATE \"{}\" SET \"_deleted_at\" = {} WHERE \"id\" = {} AND \"_deleted_at\" IS NULL",
            table.table,
            schema::ColumnType::Time.placeholder(sqlite, 1),
            table.id_kind.placeholder(sqlite, 2)
        );
        let marked = bind_all(
            sqlx::query(&mark),
            vec![db::Bound::Text(Some(at.to_string())), id.clone()],
        )
        .execute(&mut **tx)
        .await
        .map_err(database)?;
        if history && marked.rows_affected() > 0 {
            history::deleted(tx, backend, table, &[id], at).await?;
        }
    }
    Ok(true)
}

/// Now, as the mirror writes times: UTC, microseconds.
pub(crate) fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// What a request for `page` costs the team's budget: the client's table, the one the pacing
/// that sends the request charges.
pub fn page_cost(page: i64) -> u64 {
    u64::from(salesloft_api::ratelimit::page_cost(page.max(0) as u64))
}

pub(crate) fn read_value(row: &sqlx::any::AnyRow, i: usize, kind: schema::ColumnType) -> Value {
    use schema::ColumnType as C;
    match kind {
        C::Integer => row
            .try_get::<Option<i64>, _>(i)
            .ok()
            .flatten()
            .map_or(Value::Null, Value::from),
        C::Double => row
            .try_get::<Option<f64>, _>(i)
            .ok()
            .flatten()
            .map_or(Value::Null, Value::from),
        // A boolean on SQLite is an INTEGER column.
        C::Boolean => row
            .try_get::<Option<bool>, _>(i)
            .ok()
            .flatten()
            .or_else(|| {
                row.try_get::<Option<i64>, _>(i)
                    .ok()
                    .flatten()
                    .map(|n| n != 0)
            })
            .map_or(Value::Null, Value::from),
        C::Text | C::Json | C::Time | C::Date => row
            .try_get::<Option<String>, _>(i)
            .ok()
            .flatten()
            .map_or(Value::Null, Value::from),
    }
}
