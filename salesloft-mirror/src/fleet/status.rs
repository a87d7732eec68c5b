//! `salesloft fleet status`: each team as the fleet sees it, read from the shared database
//! alone (no key needed: no token is opened).

use super::{FleetError, database};
use crate::db::LEASES;
use chrono::{DateTime, Utc};
use salesloft_api::text::printable_bounded;
use salesloft_auth::connections::TODAY;
use sqlx::Row;
use sqlx::postgres::PgPoolOptions;

/// One team of the fleet.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TeamStatus {
    pub team_id: i64,
    pub team_name: String,
    /// The connection's status: `active`, `needs_reauth`, `revoked`, or `removed`.
    pub connection: String,
    /// Why the connection needs connecting again, when it does.
    pub reason: Option<String>,
    pub last_good_run_at: Option<DateTime<Utc>>,
    /// Seconds since the last good run began to be read.
    pub lag_s: Option<f64>,
    pub rows: i64,
    pub last_requests: i64,
    pub last_cost: i64,
    pub runs: i64,
    pub takeovers: i64,
    /// Requests for the team today (UTC), by every process drawing on its shared budget.
    pub requests_today: i64,
    /// Their cost against the team's budget.
    pub cost_today: i64,
    /// 429s the service answered today.
    pub rate_limited_today: i64,
    /// Webhook deliveries written for the team, by every worker's receiver.
    pub deliveries: i64,
    /// Where the team's webhooks are delivered, once subscribed.
    pub hooks_url: Option<String>,
    pub last_error: Option<String>,
    /// The worker holding the team's lease now, if any.
    pub lease_holder: Option<String>,
    pub next_run_at: DateTime<Utc>,
}

/// Every team of the fleet at `url`, by team id.
pub async fn status(url: &str) -> Result<Vec<TeamStatus>, FleetError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(FleetError::NotPostgres(printable_bounded(url, 100)));
    }
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .map_err(database)?;
    super::lease::migrate(&pool).await?;
    // The connections' tables too (the budgets are theirs); no token is opened.
    salesloft_auth::connections::PgConnections::connect(
        url,
        salesloft_auth::connections::Encryption::Plaintext,
        1,
    )
    .await?;
    status_of(&pool).await
}

/// Every team of the fleet whose tables are in `pool`'s database, by team id.
pub(super) async fn status_of(pool: &sqlx::PgPool) -> Result<Vec<TeamStatus>, FleetError> {
    let rows = sqlx::query(&format!(
        "SELECT f.team_id, COALESCE(c.team_name, '') AS team_name, \
           COALESCE(c.status, 'removed') AS connection, c.status_reason, f.last_good_run_at, \
           EXTRACT(EPOCH FROM clock_timestamp() - f.last_good_run_at)::float8 AS lag_s, \
           f.rows_mirrored, f.last_requests, f.last_cost, f.runs, f.takeovers, f.last_error, \
           CASE WHEN f.lease_expires_at > clock_timestamp() THEN f.owner END AS holder, \
           f.next_run_at, \
           COALESCE(b.requests_today, 0) AS requests_today, \
           COALESCE(b.cost_today, 0) AS cost_today, \
           COALESCE(b.rejected_today, 0) AS rejected_today, f.deliveries, f.hooks_url \
         FROM {LEASES} f LEFT JOIN salesloft_connections c USING (team_id) \
         LEFT JOIN salesloft_budgets b ON b.team_id = f.team_id AND b.day = {TODAY} \
         ORDER BY f.team_id"
    ))
    .fetch_all(pool)
    .await
    .map_err(database)?;
    rows.iter()
        .map(|row| {
            Ok(TeamStatus {
                team_id: row.try_get("team_id")?,
                team_name: row.try_get("team_name")?,
                connection: row.try_get("connection")?,
                reason: row.try_get("status_reason")?,
                last_good_run_at: row.try_get("last_good_run_at")?,
                lag_s: row.try_get("lag_s")?,
                rows: row.try_get("rows_mirrored")?,
                last_requests: row.try_get("last_requests")?,
                last_cost: row.try_get("last_cost")?,
                runs: row.try_get("runs")?,
                takeovers: row.try_get("takeovers")?,
                requests_today: row.try_get("requests_today")?,
                cost_today: row.try_get("cost_today")?,
                rate_limited_today: row.try_get("rejected_today")?,
                deliveries: row.try_get("deliveries")?,
                hooks_url: row.try_get("hooks_url")?,
                last_error: row.try_get("last_error")?,
                lease_holder: row.try_get("holder")?,
                next_run_at: row.try_get("next_run_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(database)
}
