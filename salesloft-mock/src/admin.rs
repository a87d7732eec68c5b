//! The admin surface over HTTP, under `/__admin` (the library has the same calls on
//! [`crate::SandboxHandle`]): faults, latency, token expiry, the clock, the request log.

use crate::server::Shared;
use crate::store::Fault;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/requests", get(requests).delete(clear_requests))
        .route("/faults", post(faults))
        .route("/latency", post(latency))
        .route("/expire_tokens", post(expire_tokens))
        .route("/clock", post(clock))
        .route("/settings", post(settings))
        .route("/seed_people", post(seed_people))
}

async fn requests(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(shared.store().log))
}

async fn clear_requests(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.store().log.clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Faults {
    fault: Fault,
    #[serde(default = "one")]
    count: usize,
}

fn one() -> usize {
    1
}

/// `{"fault": {"kind": "status", "status": 503}, "count": 2}`
async fn faults(State(shared): State<Arc<Shared>>, Json(request): Json<Faults>) -> StatusCode {
    crate::inject(&shared, request.fault, request.count);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Latency {
    millis: u64,
}

async fn latency(State(shared): State<Arc<Shared>>, Json(request): Json<Latency>) -> StatusCode {
    shared.store().latency = std::time::Duration::from_millis(request.millis);
    StatusCode::NO_CONTENT
}

async fn expire_tokens(State(shared): State<Arc<Shared>>) -> StatusCode {
    crate::expire_tokens(&shared);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct ClockChange {
    #[serde(default)]
    advance_seconds: i64,
    #[serde(default)]
    advance_millis: i64,
    #[serde(default)]
    next_minute: bool,
}

/// `{"advance_seconds": 7200}`, `{"advance_millis": 1500}` or `{"next_minute": true}`;
/// answers the sandbox's time.
async fn clock(State(shared): State<Arc<Shared>>, Json(change): Json<ClockChange>) -> Json<Value> {
    shared
        .clock
        .advance(chrono::Duration::seconds(change.advance_seconds));
    shared
        .clock
        .advance(chrono::Duration::milliseconds(change.advance_millis));
    if change.next_minute {
        shared.clock.advance_to_next_minute();
    }
    Json(json!({"now": shared.clock.now().to_rfc3339()}))
}

#[derive(Deserialize)]
struct Settings {
    approve: Option<bool>,
    rate_limit_per_minute: Option<u32>,
    granted_scope: Option<String>,
}

/// `{"approve": false}` (deny logins), `{"rate_limit_per_minute": 60}`, `{"granted_scope": "people:read"}`.
async fn settings(State(shared): State<Arc<Shared>>, Json(settings): Json<Settings>) -> StatusCode {
    let mut store = shared.store();
    if let Some(approve) = settings.approve {
        store.config.approve = approve;
    }
    if let Some(limit) = settings.rate_limit_per_minute {
        store.config.rate_limit_per_minute = limit;
    }
    if let Some(scope) = settings.granted_scope {
        store.granted_scope = scope;
    }
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Seed {
    count: usize,
    /// Remove every person first.
    #[serde(default)]
    replace: bool,
    /// Give each new person its own `updated_at`, this many microseconds apart (0: all alike).
    #[serde(default)]
    spread_micros: i64,
}

/// `{"count": 50000, "replace": true, "spread_micros": 1}`
async fn seed_people(State(shared): State<Arc<Shared>>, Json(seed): Json<Seed>) -> StatusCode {
    if seed.replace {
        shared.store().people.rows.clear();
    }
    crate::seed_people_spread(&shared, seed.count, seed.spread_micros);
    StatusCode::NO_CONTENT
}
