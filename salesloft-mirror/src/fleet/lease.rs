//! The fleet's tables and leases, in PostgreSQL: one row per team in `salesloft_fleet.teams`,
//! claimed with `FOR UPDATE SKIP LOCKED` (so workers on any machine never wait for each other),
//! renewed while a run lasts, released with the run's outcome. A claim bumps the fence token
//! that every write of the run proves ([`crate::db::Fence`]).

use super::{FleetError, database};
use crate::db::{Fence, LEASES};
use sqlx::postgres::PgPool;
use sqlx::{Executor, Row};
use std::time::Duration;

/// The fleet's schema this program writes; a database at a newer one is refused.
pub const FLEET_SCHEMA_VERSION: i64 = 1;

const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE salesloft_fleet.teams (
    team_id           BIGINT PRIMARY KEY,
    owner             TEXT,
    fence             BIGINT NOT NULL DEFAULT 0,
    lease_expires_at  TIMESTAMPTZ,
    next_run_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    run_started_at    TIMESTAMPTZ,
    last_good_run_at  TIMESTAMPTZ,
    last_run_s        DOUBLE PRECISION,
    last_requests     BIGINT NOT NULL DEFAULT 0,
    last_cost         BIGINT NOT NULL DEFAULT 0,
    rows_mirrored     BIGINT NOT NULL DEFAULT 0,
    runs              BIGINT NOT NULL DEFAULT 0,
    takeovers         BIGINT NOT NULL DEFAULT 0,
    last_error        TEXT,
    hooks_url         TEXT,
    deliveries        BIGINT NOT NULL DEFAULT 0,
    last_delivery_at  TIMESTAMPTZ,
    last_reconcile_at TIMESTAMPTZ
);
CREATE INDEX salesloft_fleet_teams_due ON salesloft_fleet.teams (next_run_at);
"#];

/// Brings the fleet's tables to this program's schema, under an advisory lock so that workers
/// starting together migrate once; refuses a database already at a newer schema.
pub async fn migrate(pool: &PgPool) -> Result<(), FleetError> {
    let mut tx = pool.begin().await.map_err(database)?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('salesloft_fleet_schema'))")
        .execute(&mut *tx)
        .await
        .map_err(database)?;
    tx.execute(
        "CREATE SCHEMA IF NOT EXISTS salesloft_fleet; \
         CREATE TABLE IF NOT EXISTS salesloft_fleet.schema_version (version BIGINT NOT NULL)",
    )
    .await
    .map_err(database)?;
    let found: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM salesloft_fleet.schema_version")
            .fetch_one(&mut *tx)
            .await
            .map_err(database)?;
    let found = found.unwrap_or(0);
    if found > FLEET_SCHEMA_VERSION {
        return Err(FleetError::NewerSchema {
            found,
            supported: FLEET_SCHEMA_VERSION,
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute(*migration).await.map_err(database)?;
        sqlx::query("INSERT INTO salesloft_fleet.schema_version (version) VALUES ($1)")
            .bind(index as i64 + 1)
            .execute(&mut *tx)
            .await
            .map_err(database)?;
    }
    tx.commit().await.map_err(database)
}

/// Every connection has a row (due at once when new); only active ones are claimed, the
/// others are there to be reported.
pub async fn enlist(pool: &PgPool) -> Result<(), FleetError> {
    sqlx::query(&format!(
        "INSERT INTO {LEASES} (team_id) SELECT team_id FROM salesloft_connections \
         ON CONFLICT (team_id) DO NOTHING"
    ))
    .execute(pool)
    .await
    .map_err(database)?;
    Ok(())
}

/// A claimed team.
#[derive(Clone, Debug)]
pub struct Claim {
    pub fence: Fence,
    /// The worker whose lease ran out before this claim, if it was taken over.
    pub taken_from: Option<String>,
    /// The team's last whole read is older than the fleet's `reconcile_every`: this run
    /// reads the incremental resources whole too, so deletions whose deliveries were lost
    /// are found.
    pub reconcile: bool,
}

/// Claims a due team whose connection is active and whose lease is free or ran out: first a
/// team whose worker's lease ran out (its run was cut short), then the one due longest; `None`
/// when no team is due. A team whose last whole read is older than
/// `reconcile_every` is claimed to be reconciled.
pub async fn claim(
    pool: &PgPool,
    owner: &str,
    lease: Duration,
    reconcile_every: Duration,
) -> Result<Option<Claim>, FleetError> {
    claim_where(pool, owner, lease, reconcile_every, false).await
}

/// [`claim`], or with `cut_short_only` only a team whose worker's lease ran out: a worker with
/// every slot busy still takes one over, so a cut-short run does not wait for a slot.
pub(super) async fn claim_where(
    pool: &PgPool,
    owner: &str,
    lease: Duration,
    reconcile_every: Duration,
    cut_short_only: bool,
) -> Result<Option<Claim>, FleetError> {
    let row = sqlx::query(&format!(
        "WITH due AS ( \
           SELECT f.team_id, f.owner AS previous, f.last_reconcile_at FROM {LEASES} f \
           JOIN salesloft_connections c ON c.team_id = f.team_id AND c.status = 'active' \
           WHERE f.next_run_at <= clock_timestamp() \
             AND (f.owner IS NULL OR f.lease_expires_at < clock_timestamp()) \
             AND (NOT $4 OR f.owner IS NOT NULL) \
           ORDER BY f.owner IS NULL, f.next_run_at LIMIT 1 FOR UPDATE OF f SKIP LOCKED) \
         UPDATE {LEASES} f SET owner = $1, fence = f.fence + 1, \
           lease_expires_at = clock_timestamp() + make_interval(secs => $2), \
           run_started_at = clock_timestamp(), \
           takeovers = f.takeovers + CASE WHEN due.previous IS NULL THEN 0 ELSE 1 END \
         FROM due WHERE f.team_id = due.team_id \
         RETURNING f.team_id, f.fence, due.previous, \
           COALESCE(due.last_reconcile_at <= clock_timestamp() - make_interval(secs => $3), \
                    false) AS reconcile"
    ))
    .bind(owner)
    .bind(lease.as_secs_f64())
    .bind(reconcile_every.as_secs_f64())
    .bind(cut_short_only)
    .fetch_optional(pool)
    .await
    .map_err(database)?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Claim {
        fence: Fence {
            team: row.try_get("team_id").map_err(database)?,
            owner: owner.to_string(),
            token: row.try_get("fence").map_err(database)?,
        },
        taken_from: row.try_get("previous").map_err(database)?,
        reconcile: row.try_get("reconcile").map_err(database)?,
    }))
}

/// Extends the lease; `false` when it is no longer this worker's.
pub async fn renew(pool: &PgPool, fence: &Fence, lease: Duration) -> Result<bool, FleetError> {
    let done = sqlx::query(&format!(
        "UPDATE {LEASES} SET lease_expires_at = clock_timestamp() + make_interval(secs => $4) \
         WHERE team_id = $1 AND owner = $2 AND fence = $3 AND lease_expires_at > clock_timestamp()"
    ))
    .bind(fence.team)
    .bind(&fence.owner)
    .bind(fence.token)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await
    .map_err(database)?;
    Ok(done.rows_affected() == 1)
}

/// What a run did, written when its lease is released.
#[derive(Clone, Debug, Default)]
pub struct RunOutcome {
    pub ok: bool,
    pub seconds: f64,
    pub requests: u64,
    pub cost: u64,
    pub rows: u64,
    pub error: Option<String>,
    /// The run read the incremental resources whole too.
    pub reconciled: bool,
}

/// Releases the lease with the run's outcome; the team is next due after `interval`. Nothing
/// happens when the lease is no longer this worker's (the new holder's run stands).
pub async fn release(
    pool: &PgPool,
    fence: &Fence,
    outcome: &RunOutcome,
    interval: Duration,
) -> Result<bool, FleetError> {
    let done = sqlx::query(&format!(
        "UPDATE {LEASES} SET owner = NULL, lease_expires_at = NULL, \
           next_run_at = clock_timestamp() + make_interval(secs => $4), \
           last_good_run_at = CASE WHEN $5 THEN clock_timestamp() ELSE last_good_run_at END, \
           last_run_s = $6, last_requests = $7, last_cost = $8, \
           rows_mirrored = CASE WHEN $5 THEN $9 ELSE rows_mirrored END, \
           runs = runs + 1, last_error = $10, \
           last_reconcile_at = CASE WHEN $5 AND ($11 OR last_reconcile_at IS NULL) \
             THEN run_started_at ELSE last_reconcile_at END \
         WHERE team_id = $1 AND owner = $2 AND fence = $3"
    ))
    .bind(fence.team)
    .bind(&fence.owner)
    .bind(fence.token)
    .bind(interval.as_secs_f64())
    .bind(outcome.ok)
    .bind(outcome.seconds)
    .bind(outcome.requests as i64)
    .bind(outcome.cost as i64)
    .bind(outcome.rows as i64)
    .bind(&outcome.error)
    .bind(outcome.reconciled)
    .execute(pool)
    .await
    .map_err(database)?;
    Ok(done.rows_affected() == 1)
}

/// How many teams with an active connection are due, whoever holds them.
pub async fn due(pool: &PgPool) -> Result<i64, FleetError> {
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {LEASES} f JOIN salesloft_connections c \
         ON c.team_id = f.team_id AND c.status = 'active' \
         WHERE f.next_run_at <= clock_timestamp()"
    ))
    .fetch_one(pool)
    .await
    .map_err(database)
}

/// Makes the team due now (a webhook said something changed).
pub async fn due_now(pool: &PgPool, team: i64) -> Result<(), FleetError> {
    sqlx::query(&format!(
        "UPDATE {LEASES} SET next_run_at = clock_timestamp() WHERE team_id = $1"
    ))
    .bind(team)
    .execute(pool)
    .await
    .map_err(database)?;
    Ok(())
}
