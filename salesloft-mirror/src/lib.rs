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
//! - Tables come from the spec ([`schema`]); a newer spec adds columns when the database is
//!   opened, never a rebuilt table; a database from a newer program is refused.
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
pub mod follow;
pub mod schema;

pub use error::MirrorError;
pub use schema::Table;

use chrono::{DateTime, Utc};
use cursor::{Cursor, updated_at};
use db::{Backend, Db, bind_all, database, row_values, upsert_sql};
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
}

impl Mirror {
    /// Opens (or creates) the database at `url` and brings its tables up to the spec this
    /// program ships. `on_wait` hears who holds the lock when another mirror has it.
    pub async fn open(url: &str, on_wait: &dyn Fn(&str)) -> Result<Self, MirrorError> {
        let tables = schema::tables(salesloft_openapi::SPEC);
        let db = Db::open(url, &tables, true, on_wait).await?;
        Ok(Self { db, tables })
    }

    /// Opens the database, refusing (not waiting) when another mirror holds it.
    pub async fn open_now(url: &str) -> Result<Self, MirrorError> {
        let tables = schema::tables(salesloft_openapi::SPEC);
        let db = Db::open(url, &tables, false, &|_| {}).await?;
        Ok(Self { db, tables })
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
            let mut report = if table.incremental {
                self.read_incremental(client, table, reconcile, progress)
                    .await?
            } else {
                self.read_whole(client, table, progress).await?
            };
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

    /// Every row of `table` (deleted ones too), as JSON objects keyed by column.
    pub async fn dump(&self, table: &Table) -> Result<Vec<Map<String, Value>>, MirrorError> {
        let mut names = vec!["id".to_string()];
        names.extend(db::own_columns().map(|(n, _)| n.to_string()));
        names.extend(table.columns.iter().map(|c| c.name.clone()));
        let list: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        let sql = format!(
            "SELECT {} FROM \"{}\" ORDER BY \"id\"",
            list.join(", "),
            table.table
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.db.pool)
            .await
            .map_err(database)?;
        let kinds: Vec<schema::ColumnType> = std::iter::once(schema::ColumnType::Text)
            .chain(db::own_columns().map(|(_, k)| k))
            .chain(table.columns.iter().map(|c| c.kind))
            .collect();
        Ok(rows
            .iter()
            .map(|row| {
                names
                    .iter()
                    .zip(&kinds)
                    .enumerate()
                    .map(|(i, (name, kind))| (name.clone(), read_value(row, i, *kind)))
                    .collect()
            })
            .collect())
    }

    async fn cursor(&self, key: &str) -> Result<Cursor, MirrorError> {
        let row = sqlx::query("SELECT cursor FROM _mirror_cursors WHERE resource = $1")
            .bind(key.to_string())
            .fetch_optional(&self.db.pool)
            .await
            .map_err(database)?;
        Ok(match row {
            Some(row) => serde_json::from_str(&row.try_get::<String, _>(0).map_err(database)?)
                .unwrap_or_default(),
            None => Cursor::default(),
        })
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
        write_page(&mut tx, self.db.backend, table, &records, None).await?;
        tx.commit().await.map_err(database)
    }

    /// Writes `records` and the cursor under `key` in one transaction.
    async fn commit(
        &self,
        table: &Table,
        records: &[&Map<String, Value>],
        key: &str,
        cursor: &Cursor,
        run: Option<&str>,
    ) -> Result<(), MirrorError> {
        let mut tx = self.db.pool.begin().await.map_err(database)?;
        write_page(&mut tx, self.db.backend, table, records, run).await?;
        save_cursor(&mut tx, key, cursor).await?;
        tx.commit().await.map_err(database)
    }

    /// Page-1 requests sorted by `updated_at` from the stored cursor, as SalesLoft recommends
    /// (SERVICE.md §3); one instant's records that fill a page are walked by page number.
    /// With `reconcile`, the walk starts from nothing under a cursor of its own, marks each
    /// row it sees with its run, and ends by marking the rows it did not see deleted.
    async fn read_incremental(
        &self,
        client: &salesloft_api::Client,
        table: &Table,
        reconcile: bool,
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<Report, MirrorError> {
        let key = if reconcile {
            format!("{}#reconcile", table.resource)
        } else {
            table.resource.clone()
        };
        let mut cursor = self.cursor(&key).await?;
        if reconcile && cursor.run.is_none() {
            cursor.run = Some(now());
        }
        let run = cursor.run.clone();
        let mut report = Report {
            resource: table.resource.clone(),
            incremental: true,
            ..Report::default()
        };
        loop {
            let page = cursor.page_to_ask();
            let query = cursor.request(PER_PAGE);
            let listed = list_page(client, table, &query, report.requests == 0).await?;
            if let Some(records) = listed.total {
                progress(Progress::Total { table, records });
            }
            let data = listed.data;
            report.requests += 1;
            report.cost += page_cost(page);
            let stamps: Vec<Option<DateTime<Utc>>> = data.iter().map(updated_at).collect();
            let fresh: Vec<&Map<String, Value>> =
                data.iter().filter(|record| cursor.take(record)).collect();
            // The next request, decided now and committed with this page's rows.
            let done = cursor.advance(&stamps, PER_PAGE);
            self.commit(table, &fresh, &key, &cursor, run.as_deref())
                .await?;
            report.written += fresh.len() as u64;
            progress(Progress::Page {
                table,
                written: fresh.len(),
                requests: report.requests,
                cost: report.cost,
            });
            if done {
                if let Some(run) = &run {
                    report.deleted = self.mark_unseen_deleted(table, run, &key).await?;
                }
                return Ok(report);
            }
        }
    }

    /// A list without `updated_at` filters, read whole by page number; rows the read no
    /// longer finds are marked deleted when it is complete.
    async fn read_whole(
        &self,
        client: &salesloft_api::Client,
        table: &Table,
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<Report, MirrorError> {
        let mut cursor = self.cursor(&table.resource).await?;
        let run = cursor.run.clone().unwrap_or_else(now);
        let mut page = cursor.page.unwrap_or(1);
        let mut report = Report {
            resource: table.resource.clone(),
            ..Report::default()
        };
        loop {
            let query = vec![
                ("per_page".to_string(), PER_PAGE.to_string()),
                ("page".to_string(), page.to_string()),
            ];
            let first = report.requests == 0;
            let ListPage { data, next, total } = list_page(client, table, &query, first).await?;
            if let Some(records) = total {
                // What is left of the read: the pages before this one are done.
                let done = (page as u64 - 1) * PER_PAGE as u64;
                progress(Progress::Total {
                    table,
                    records: records.saturating_sub(done),
                });
            }
            report.requests += 1;
            report.cost += page_cost(page);
            let records: Vec<&Map<String, Value>> = data.iter().collect();
            let last = next.is_none() || data.is_empty();
            cursor = Cursor {
                page: Some(page + 1),
                run: Some(run.clone()),
                ..Cursor::default()
            };
            self.commit(table, &records, &table.resource, &cursor, Some(&run))
                .await?;
            report.written += records.len() as u64;
            progress(Progress::Page {
                table,
                written: records.len(),
                requests: report.requests,
                cost: report.cost,
            });
            if last {
                break;
            }
            page += 1;
        }
        report.deleted = self
            .mark_unseen_deleted(table, &run, &table.resource)
            .await?;
        Ok(report)
    }

    /// A complete read marked its rows with `run`: what it did not see is gone from the
    /// service. Marked deleted, and the read's cursor (under `key`) reset, in one transaction.
    async fn mark_unseen_deleted(
        &self,
        table: &Table,
        run: &str,
        key: &str,
    ) -> Result<u64, MirrorError> {
        let mut tx = self.db.pool.begin().await.map_err(database)?;
        let gone = format!(
            "UPDATE \"{}\" SET \"_deleted_at\" = $1 WHERE \"_deleted_at\" IS NULL AND (\"_seen_run\" IS NULL OR \"_seen_run\" <> $2)",
            table.table
        );
        let deleted = sqlx::query(&gone)
            .bind(now())
            .bind(run.to_string())
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        save_cursor(&mut tx, key, &Cursor::default()).await?;
        tx.commit().await.map_err(database)?;
        Ok(deleted.rows_affected())
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
        let Some((table, action)) = self.tables.iter().find_map(|t| {
            let action = event_type.strip_prefix(&t.singular)?.strip_prefix('_')?;
            EVENT_ACTIONS.contains(&action).then_some((t, action))
        }) else {
            return Ok(false);
        };
        let Some(record) = record.as_object() else {
            return Ok(false);
        };
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let deleted = (action == "deleted").then_some(now.as_str());
        let values = row_values(table, record, deleted, None);
        let mut tx = self.db.pool.begin().await.map_err(database)?;
        bind_all(sqlx::query(&upsert_sql(self.db.backend, table)), values)
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        if let Some(at) = deleted {
            // A deletion is a deletion even when the delivered record is not newer.
            let mark = format!(
                "UPDATE \"{}\" SET \"_deleted_at\" = $1 WHERE \"id\" = $2 AND \"_deleted_at\" IS NULL",
                table.table
            );
            sqlx::query(&mark)
                .bind(at.to_string())
                .bind(record.get("id").and_then(db::text_of))
                .execute(&mut *tx)
                .await
                .map_err(database)?;
        }
        tx.commit().await.map_err(database)?;
        Ok(true)
    }
}

/// Writes `records` (a record whose id comes twice is written once, as it came last), in
/// statements of the size the backend writes fastest.
async fn write_page(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    table: &Table,
    records: &[&Map<String, Value>],
    run: Option<&str>,
) -> Result<(), MirrorError> {
    let mut last: std::collections::HashMap<Option<String>, usize> = Default::default();
    for (i, record) in records.iter().enumerate() {
        last.insert(record.get("id").and_then(db::text_of), i);
    }
    let unique: Vec<&Map<String, Value>> = records
        .iter()
        .enumerate()
        .filter(|(i, r)| last.get(&r.get("id").and_then(db::text_of)) == Some(i))
        .map(|(_, r)| *r)
        .collect();
    // Measured (cargo xtask bench mirror): one multi-row statement a page, on both backends
    // (Postgres 6,130 -> 17,912 rows/s against a statement a row; SQLite 12,000 -> 25,255
    // once its placeholders are anonymous, see upsert_rows_sql).
    for chunk in unique.chunks(db::rows_per_statement(backend, table, PER_PAGE)) {
        let sql = db::upsert_rows_sql(backend, table, chunk.len());
        let values = chunk
            .iter()
            .flat_map(|record| row_values(table, record, None, run))
            .collect();
        bind_all(sqlx::query(&sql), values)
            .execute(&mut **tx)
            .await
            .map_err(database)?;
    }
    Ok(())
}

async fn save_cursor(
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

/// Now, as the mirror writes times: UTC, microseconds.
fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// What a request for `page` costs the team's budget: the client's table, the one the pacing
/// that sends the request charges.
pub fn page_cost(page: i64) -> u64 {
    u64::from(salesloft_api::ratelimit::page_cost(page.max(0) as u64))
}

/// One page of a list.
struct ListPage {
    data: Vec<Map<String, Value>>,
    /// `next_page` (none when the list has no paging).
    next: Option<i64>,
    /// `total_count`, when the request asked for paging counts.
    total: Option<u64>,
}

/// A page of `table`'s list; with `count`, the request also asks for the total of what it
/// filters (`include_paging_counts`: the first request of a read, for the progress's ETA).
async fn list_page(
    client: &salesloft_api::Client,
    table: &Table,
    query: &[(String, String)],
    count: bool,
) -> Result<ListPage, MirrorError> {
    let mut query = query.to_vec();
    if count {
        query.push(("include_paging_counts".into(), "true".into()));
    }
    let body = salesloft_api::raw::get_json(client, &table.path, &query).await?;
    let next = body["metadata"]["paging"]["next_page"].as_i64();
    let total = body["metadata"]["paging"]["total_count"].as_u64();
    let data = match body {
        Value::Object(mut map) => match map.remove("data") {
            Some(Value::Array(items)) => items
                .into_iter()
                .filter_map(|item| match item {
                    Value::Object(record) => Some(record),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    Ok(ListPage { data, next, total })
}

fn read_value(row: &sqlx::any::AnyRow, i: usize, kind: schema::ColumnType) -> Value {
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
        C::Text | C::Json => row
            .try_get::<Option<String>, _>(i)
            .ok()
            .flatten()
            .map_or(Value::Null, Value::from),
    }
}
