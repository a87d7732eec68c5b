//! Webhooks for many teams: one receiver for the fleet, each team at a path of its own
//! (`/hooks/{team}`), its deliveries checked with that team's callback token and written into
//! that team's schema.
//!
//! - A team's subscriptions are made the first time the fleet mirrors it (after its tables
//!   exist), signed with a token made for the team and sealed at rest with its connection
//!   ([`PgConnections::callback_token`]); [`unsubscribe`] removes them before a connection is
//!   removed.
//! - A delivery is written in one transaction scoped to the team's schema, newest wins, and
//!   makes the team due within `after_webhook` (a burst of deliveries is one run, which catches
//!   what was not delivered). A write that fails answers 500, so SalesLoft sends it again.
//! - A delivery for a team without a connection (404), with a signature that the team's token
//!   does not make (401: another team's delivery posted to this path, say), or a body that is
//!   not JSON (400) changes nothing.

use super::{Fleet, FleetError, database};
use crate::db::{Backend, LEASES, team_schema};
use crate::schema::Table;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use salesloft_api::text::printable_bounded;
use salesloft_auth::OAuthApp;
use salesloft_auth::connections::PgConnections;
use std::sync::atomic::Ordering;

/// `POST /hooks/{team}`.
pub(super) async fn deliver(
    State(fleet): State<Fleet>,
    Path(team): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let refused = |status: StatusCode| {
        fleet
            .counters
            .deliveries_refused
            .fetch_add(1, Ordering::Relaxed);
        status
    };
    // A path that is not a team id is a team we do not have.
    let Ok(team) = team.parse::<i64>() else {
        return refused(StatusCode::NOT_FOUND);
    };
    let token = match fleet.connections.stored_callback_token(team).await {
        Ok(Some(token)) => token,
        Ok(None) => return refused(StatusCode::NOT_FOUND),
        Err(error) => {
            tracing::warn!(team, error = %error, "a delivery's token could not be read");
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
    };
    let event_type =
        match salesloft_api::webhooks::verify_signature(token.expose(), &headers, &body) {
            Ok(event_type) => event_type,
            Err(e) => {
                return refused(
                    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
                );
            }
        };
    let Ok(record) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return refused(StatusCode::BAD_REQUEST);
    };
    match write(&fleet, team, event_type, &record).await {
        Ok(()) => {
            fleet
                .counters
                .deliveries_applied
                .fetch_add(1, Ordering::Relaxed);
            StatusCode::OK
        }
        Err(error) => {
            tracing::warn!(
                team,
                event = %printable_bounded(event_type, 64),
                error = %error,
                "a delivery could not be written: SalesLoft will send it again"
            );
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// The delivery into the team's schema, and the team made due soon, in one transaction.
async fn write(
    fleet: &Fleet,
    team: i64,
    event_type: &str,
    record: &serde_json::Value,
) -> Result<(), FleetError> {
    let mut tx = fleet.deliveries.begin().await.map_err(database)?;
    let scope = format!("SET LOCAL search_path TO \"{}\"", team_schema(team));
    sqlx::query(&scope)
        .execute(&mut *tx)
        .await
        .map_err(database)?;
    // A team's schema keeps history when its mirror was told to (stored with its tables);
    // its deliveries are versions like its pages.
    let history: Option<String> =
        sqlx::query_scalar("SELECT value FROM _mirror_meta WHERE key = 'history'")
            .fetch_optional(&mut *tx)
            .await
            .map_err(database)?;
    crate::apply_in(
        &mut tx,
        Backend::Postgres,
        &fleet.tables,
        event_type,
        record,
        history.as_deref() == Some("on"),
    )
    .await?;
    sqlx::query(&format!(
        "UPDATE {LEASES} SET deliveries = deliveries + 1, last_delivery_at = clock_timestamp(), \
           next_run_at = LEAST(next_run_at, clock_timestamp() + make_interval(secs => $2)) \
         WHERE team_id = $1"
    ))
    .bind(team)
    .bind(fleet.options.after_webhook.as_secs_f64())
    .execute(&mut *tx)
    .await
    .map_err(database)?;
    tx.commit().await.map_err(database)
}

/// The callback URL of `team` under the receiver's public `base`.
pub fn callback_url(base: &str, team: i64) -> String {
    format!("{}/{team}", base.trim_end_matches('/'))
}

/// Makes sure the team's subscriptions send its tables' events to its path under `base`, once
/// per URL (recorded in the team's fleet row); subscriptions at a URL recorded before are
/// removed.
pub(super) async fn subscribe(
    fleet: &Fleet,
    client: &salesloft_api::Client,
    team: i64,
    base: &str,
    tables: &[Table],
) -> Result<(), FleetError> {
    let url = callback_url(base, team);
    let recorded = hooks_url_of(&fleet.pool, team).await?;
    if recorded.as_deref() == Some(url.as_str()) {
        return Ok(());
    }
    let token = fleet
        .connections
        .callback_token(team)
        .await?
        .ok_or(salesloft_auth::connections::ConnectionError::NotConnected { team })?;
    let events = crate::follow::events(tables);
    salesloft_api::webhooks::ensure_subscriptions(client, &url, token.expose(), &events)
        .await
        .map_err(|e| FleetError::Mirror(crate::MirrorError::Api(e)))?;
    if let Some(old) = recorded {
        // Best effort: the new ones stand either way.
        let _ = salesloft_api::webhooks::remove_subscriptions(client, &old, &[]).await;
    }
    sqlx::query(&format!(
        "UPDATE {LEASES} SET hooks_url = $2 WHERE team_id = $1"
    ))
    .bind(team)
    .bind(&url)
    .execute(&fleet.pool)
    .await
    .map_err(database)?;
    Ok(())
}

/// The URL the fleet subscribed `team`'s webhooks at, if it did.
pub async fn subscribed_at(url: &str, team: i64) -> Result<Option<String>, FleetError> {
    recorded_url(&one_connection(url).await?, team).await
}

/// A pool of one connection to `url`, for a command's few statements.
async fn one_connection(url: &str) -> Result<sqlx::PgPool, FleetError> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .map_err(database)
}

/// [`hooks_url_of`] in a database where the fleet may never have run.
async fn recorded_url(pool: &sqlx::PgPool, team: i64) -> Result<Option<String>, FleetError> {
    let has_fleet: bool =
        sqlx::query_scalar(&format!("SELECT to_regclass('{LEASES}') IS NOT NULL"))
            .fetch_one(pool)
            .await
            .map_err(database)?;
    if !has_fleet {
        return Ok(None);
    }
    hooks_url_of(pool, team).await
}

/// The URL recorded in the team's fleet row when its subscriptions were made.
async fn hooks_url_of(pool: &sqlx::PgPool, team: i64) -> Result<Option<String>, FleetError> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT hooks_url FROM {LEASES} WHERE team_id = $1"
    ))
    .bind(team)
    .fetch_optional(pool)
    .await
    .map_err(database)?
    .flatten())
}

/// Removes the subscriptions the fleet made for `team` (before its connection is removed:
/// they need its tokens); how many were removed. Nothing to do when the fleet never
/// subscribed for the team.
pub async fn unsubscribe(
    url: &str,
    connections: &PgConnections,
    app: &OAuthApp,
    team: i64,
) -> Result<usize, FleetError> {
    let pool = one_connection(url).await?;
    let Some(hooks_url) = recorded_url(&pool, team).await? else {
        return Ok(0);
    };
    let client = connections
        .client_builder(team, app, 1.0)
        .await?
        .build()
        .map_err(crate::MirrorError::Api)?;
    let removed = salesloft_api::webhooks::remove_subscriptions(&client, &hooks_url, &[])
        .await
        .map_err(|e| FleetError::Mirror(crate::MirrorError::Api(e)))?;
    sqlx::query(&format!(
        "UPDATE {LEASES} SET hooks_url = NULL WHERE team_id = $1"
    ))
    .bind(team)
    .execute(&pool)
    .await
    .map_err(database)?;
    Ok(removed)
}
