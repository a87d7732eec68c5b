//! Reading the service into the database, a resource at a time: incremental (page-1 requests
//! from the stored cursor, `cursor`) or whole (by page number, what a complete read did not see
//! marked deleted). Every page commits with the cursor that says what to ask next.

use crate::cursor::{Cursor, updated_at};
use crate::db::{Bound, database, id_bound, save_cursor, write_page};
use crate::history;
use crate::schema::{ColumnType, Table};
use crate::{Mirror, MirrorError, PER_PAGE, Patience, Progress, Report, now, page_cost};
use chrono::{DateTime, Utc};
use salesloft_api::pagination::next_after_id;
use salesloft_openapi::schema::ListPaging;
use serde_json::{Map, Value};
use sqlx::Row;

impl Mirror {
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
        self.db.fenced(&mut tx).await?;
        write_page(
            &mut tx,
            self.db.backend,
            table,
            records,
            run,
            self.db.history,
        )
        .await?;
        save_cursor(&mut tx, key, cursor).await?;
        tx.commit().await.map_err(database)
    }

    /// Page-1 requests sorted by `updated_at` from the stored cursor, as SalesLoft recommends
    /// (SERVICE.md §3); one instant's records that fill a page are walked by page number.
    /// With `reconcile`, the walk starts from nothing under a cursor of its own, marks each
    /// row it sees with its run, and ends by marking the rows it did not see deleted.
    pub(crate) async fn read_incremental(
        &self,
        client: &salesloft_api::Client,
        table: &Table,
        reconcile: bool,
        report: &mut Report,
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<(), MirrorError> {
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
        loop {
            let page = cursor.page_to_ask();
            let query = cursor.request(PER_PAGE);
            let first = report.requests == 0;
            let listed = list_page(self.patience, client, table, &query, page, first).await?;
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
                return Ok(());
            }
        }
    }

    /// A list without `updated_at` filters, read whole by page number (or by `id[gt]`, for
    /// the lists that take no page number); rows the read no longer finds are marked deleted
    /// when it is complete.
    pub(crate) async fn read_whole(
        &self,
        client: &salesloft_api::Client,
        table: &Table,
        report: &mut Report,
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<(), MirrorError> {
        let mut cursor = self.cursor(&table.resource).await?;
        let run = cursor.run.clone().unwrap_or_else(now);
        let by_id = table.paging == ListPaging::AfterId;
        let mut page = cursor.page.unwrap_or(1);
        let mut after_id = cursor.after_id;
        loop {
            let mut query = vec![("per_page".to_string(), PER_PAGE.to_string())];
            match (by_id, after_id) {
                (false, _) => query.push(("page".to_string(), page.to_string())),
                (true, Some(after)) => query.push(("id[gt]".to_string(), after.to_string())),
                (true, None) => {}
            }
            let first = report.requests == 0;
            let listed = list_page(self.patience, client, table, &query, page, first).await?;
            let ListPage { data, next, total } = listed;
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
            let last = if by_id {
                let ids: Vec<i64> = data
                    .iter()
                    .filter_map(|r| r.get("id").and_then(Value::as_i64))
                    .collect();
                after_id = next_after_id(after_id, &ids, PER_PAGE)?;
                after_id.is_none()
            } else {
                next.is_none() || data.is_empty()
            };
            cursor = Cursor {
                page: Some(page + 1).filter(|_| !by_id),
                after_id,
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
        Ok(())
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
        self.db.fenced(&mut tx).await?;
        let sqlite = self.db.backend == crate::db::Backend::Sqlite;
        // The rows the read did not see, the run's mark bound as placeholder `n`.
        let unseen = |n| {
            format!(
                "\"_deleted_at\" IS NULL AND (\"_seen_run\" IS NULL OR \"_seen_run\" <> {})",
                ColumnType::Text.placeholder(sqlite, n)
            )
        };
        let at = now();
        if self.db.history {
            let sql = format!("SELECT \"id\" FROM \"{}\" WHERE {}", table.table, unseen(1));
            let ids: Vec<Bound> = sqlx::query(&sql)
                .bind(run.to_string())
                .fetch_all(&mut *tx)
                .await
                .map_err(database)?
                .iter()
                .map(|row| id_bound(table, &crate::read_value(row, 0, table.id_kind)))
                .collect();
            history::deleted(&mut tx, self.db.backend, table, &ids, &at).await?;
        }
        let gone = format!(
            "UPDATE \"{}\" SET \"_deleted_at\" = {} WHERE {}",
            table.table,
            ColumnType::Time.placeholder(sqlite, 1),
            unseen(2)
        );
        let deleted = sqlx::query(&gone)
            .bind(at)
            .bind(run.to_string())
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        save_cursor(&mut tx, key, &Cursor::default()).await?;
        tx.commit().await.map_err(database)?;
        Ok(deleted.rows_affected())
    }
}

/// One page of a list.
struct ListPage {
    data: Vec<Map<String, Value>>,
    /// `next_page` (none when the list has no paging).
    next: Option<i64>,
    /// `total_count`, when the request asked for paging counts.
    total: Option<u64>,
}

/// Page `page` of `table`'s list, asked with `query`, waited out with the mirror's patience;
/// with `count`, the request also asks for the total of what it filters
/// (`include_paging_counts`: the first request of a read, for the progress's ETA).
async fn list_page(
    patience: Patience,
    client: &salesloft_api::Client,
    table: &Table,
    query: &[(String, String)],
    page: i64,
    count: bool,
) -> Result<ListPage, MirrorError> {
    let mut query = query.to_vec();
    if count {
        query.push(("include_paging_counts".into(), "true".into()));
    }
    let (path, query) = (&table.path, &query);
    let ask = || salesloft_api::raw::get_json(client, path, query);
    let body = patience.wait_out(page.max(1) as u64, ask).await?;
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
