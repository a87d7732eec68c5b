//! One budget per team across processes and machines: a row per team in PostgreSQL counting
//! what is left of the team's budget in the current minute, which every request for the team
//! takes from (`salesloft_api::ratelimit::SharedBudget`).
//!
//! The service counts a team's budget per clock minute (`x-ratelimit-remaining-minute`), so
//! the row counts the same window, on the database's clock (one clock for every machine):
//! a new minute starts full, a take that would leave less than the share kept back for the
//! team's other integrations is refused until the next minute. What the service answers is the
//! truth (other integrations spend from the same budget): each answer's figure lowers the row,
//! and a 429 empties it for the minute. The row also counts today's requests, their cost and
//! the 429s, for the fleet's status and metrics.

use salesloft_api::BoxFuture;
use salesloft_api::ratelimit::{SharedBudget, TEAM_BUDGET_PER_MINUTE};
use sqlx::postgres::PgPool;
use std::time::Duration;

/// The minute of the database's clock, as the budget rows count it.
const MINUTE: &str = "floor(extract(epoch FROM clock_timestamp()) / 60)::bigint";
/// Today in UTC on the database's clock, whatever the session's time zone.
pub const TODAY: &str = "(clock_timestamp() AT TIME ZONE 'UTC')::date";

/// Team `team`'s budget in the connections database.
#[derive(Clone, Debug)]
pub struct PgTeamBudget {
    pool: PgPool,
    team: i64,
    per_minute: i32,
    keep_back: i32,
}

impl PgTeamBudget {
    pub(super) fn new(pool: PgPool, team: i64) -> Self {
        Self {
            pool,
            team,
            per_minute: TEAM_BUDGET_PER_MINUTE as i32,
            keep_back: 0,
        }
    }

    /// Uses only `share` (0 to 1) of the team's budget, leaving the rest to its other
    /// integrations.
    pub fn with_share(mut self, share: f64) -> Self {
        let share = if share.is_finite() {
            share.clamp(0.0, 1.0)
        } else {
            1.0
        };
        self.keep_back = ((1.0 - share) * f64::from(self.per_minute)).round() as i32;
        self.keep_back = self.keep_back.min(self.per_minute - 1);
        self
    }

    /// The team's budget a minute (the service's: 600).
    pub fn with_per_minute(mut self, per_minute: u32) -> Self {
        self.per_minute = per_minute.clamp(1, i32::MAX as u32) as i32;
        self
    }

    pub fn team(&self) -> i64 {
        self.team
    }

    /// Takes `cost`; `Ok(None)` when taken, else how long until the next minute.
    pub async fn try_take(&self, cost: u32) -> Result<Option<Duration>, sqlx::Error> {
        let cost = cost.min(i32::MAX as u32) as i32;
        let taken: Option<i32> = sqlx::query_scalar(&format!(
            "INSERT INTO salesloft_budgets AS b \
               (team_id, minute, remaining, day, requests_today, cost_today) \
             VALUES ($1, {MINUTE}, $2 - $3, {TODAY}, 1, $3) \
             ON CONFLICT (team_id) DO UPDATE SET \
               remaining = CASE WHEN b.minute < EXCLUDED.minute THEN $2 - $3 \
                                ELSE b.remaining - $3 END, \
               minute = EXCLUDED.minute, \
               requests_today = CASE WHEN b.day = EXCLUDED.day THEN b.requests_today + 1 ELSE 1 END, \
               cost_today = CASE WHEN b.day = EXCLUDED.day THEN b.cost_today + $3 ELSE $3 END, \
               rejected_today = CASE WHEN b.day = EXCLUDED.day THEN b.rejected_today ELSE 0 END, \
               day = EXCLUDED.day \
             WHERE b.minute < EXCLUDED.minute OR b.remaining - $3 >= $4 \
             RETURNING b.remaining"
        ))
        .bind(self.team)
        .bind(self.per_minute)
        .bind(cost)
        .bind(self.keep_back)
        .fetch_optional(&self.pool)
        .await?;
        if taken.is_some() {
            return Ok(None);
        }
        let left: f64 = sqlx::query_scalar(
            "SELECT 60 - mod(extract(epoch FROM clock_timestamp()), 60)::float8",
        )
        .fetch_one(&self.pool)
        .await?;
        // The service's minute may turn a moment after the database's.
        Ok(Some(
            Duration::from_secs_f64(left.clamp(0.0, 60.0)) + Duration::from_millis(500),
        ))
    }

    /// Lowers this minute's figure to what the service said is left (`0` after a 429).
    pub async fn correct(&self, remaining: Option<u32>, spent: bool) -> Result<(), sqlx::Error> {
        let remaining = if spent { Some(0) } else { remaining };
        let Some(remaining) = remaining else {
            return Ok(());
        };
        sqlx::query(&format!(
            "UPDATE salesloft_budgets SET \
               remaining = CASE WHEN minute = {MINUTE} THEN LEAST(remaining, $2) ELSE $2 END, \
               minute = {MINUTE}, \
               rejected_today = rejected_today + CASE WHEN $3 THEN 1 ELSE 0 END \
             WHERE team_id = $1"
        ))
        .bind(self.team)
        .bind(remaining.min(i32::MAX as u32) as i32)
        .bind(spent)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl SharedBudget for PgTeamBudget {
    fn take(&self, cost: u32) -> BoxFuture<'_, Option<Duration>> {
        Box::pin(async move {
            match self.try_take(cost).await {
                Ok(wait) => wait,
                Err(e) => {
                    // The service's own answers still pace the client.
                    tracing::warn!(team = self.team, error = %e, "the shared budget could not be read");
                    None
                }
            }
        })
    }

    fn observed(&self, remaining: Option<u32>, spent: bool) {
        if remaining.is_none() && !spent {
            return;
        }
        // Not on the request's path: the answer goes back to its caller meanwhile.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let budget = self.clone();
        runtime.spawn(async move {
            if let Err(e) = budget.correct(remaining, spent).await {
                tracing::warn!(team = budget.team, error = %e, "the shared budget could not be corrected");
            }
        });
    }
}
