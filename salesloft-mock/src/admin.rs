//! The admin surface over HTTP, under `/__admin`: the calls of [`crate::state::Shared`] (which
//! the library handle offers too). Input out of range gets 400 with `{"error": ...}` and
//! changes nothing. With `Config::admin_token` set, every call needs `Authorization: Bearer
//! <token>`. Every call takes `?team=ID` and acts on that team (without it, the first team).

use crate::faults::Fault;
use crate::state::{AdminError, Shared};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/requests", get(requests).delete(clear_requests))
        .route("/faults", post(faults))
        .route("/webhook_deliveries", get(webhook_deliveries))
        .route("/webhook_faults", post(webhook_faults))
        .route("/latency", post(latency))
        .route("/expire_tokens", post(expire_tokens))
        .route("/clock", post(clock))
        .route("/settings", post(settings))
        .route("/seed_people", post(seed_people))
        .route("/teams", get(teams).post(add_teams))
        .route("/teams/{id}/revoke", post(revoke_team))
        .route("/seed/{*resource}", post(seed))
        .route(
            "/records/{*path}",
            get(records).delete(clear_records).patch(patch_record),
        )
        .layer(middleware::from_fn_with_state(shared, guard))
}

/// `--admin-token`: without the token, nothing under `/__admin` answers but 401.
async fn guard(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let expected = shared.store().config.admin_token.clone();
    if let Some(expected) = expected {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !crate::oauth::same_secret(given, &expected) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "the admin token is missing or wrong",
            );
        }
    }
    next.run(request).await
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        refuse(StatusCode::BAD_REQUEST, &self.0)
    }
}

/// The team a call acts on: `?team=ID`, the first team without it.
struct Team(i64);

impl<S: Send + Sync> FromRequestParts<S> for Team {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AdminError> {
        let params = crate::params::Params::parse(parts.uri.query());
        match params.get("team") {
            None => Ok(Team(crate::store::TEAM_ID)),
            Some(id) => id.parse().map(Team).map_err(|_| {
                AdminError(format!(
                    "team is a team's id (a number), not `{}`",
                    id.escape_debug()
                ))
            }),
        }
    }
}

/// A JSON body, or 400 saying what is wrong with it.
fn body<T: DeserializeOwned>(body: Result<Json<T>, JsonRejection>) -> Result<T, AdminError> {
    body.map(|Json(value)| value)
        .map_err(|e| AdminError(format!("bad admin request: {}", e.body_text())))
}

async fn requests(
    State(shared): State<Arc<Shared>>,
    Team(team): Team,
) -> Result<Json<Value>, AdminError> {
    Ok(Json(json!(shared.requests(team)?)))
}

async fn clear_requests(
    State(shared): State<Arc<Shared>>,
    Team(team): Team,
) -> Result<StatusCode, AdminError> {
    shared.clear_requests(team)?;
    Ok(StatusCode::NO_CONTENT)
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
async fn faults(
    State(shared): State<Arc<Shared>>,
    Team(team): Team,
    request: Result<Json<Faults>, JsonRejection>,
) -> Result<StatusCode, AdminError> {
    let request = body(request)?;
    shared.inject(team, request.fault, request.count)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every webhook delivery attempt, oldest first.
async fn webhook_deliveries(
    State(shared): State<Arc<Shared>>,
    Team(team): Team,
) -> Result<Json<Value>, AdminError> {
    Ok(Json(json!(shared.team(team)?.outbox.log())))
}

#[derive(Deserialize)]
struct WebhookFaults {
    fault: crate::outbox::WebhookFault,
    #[serde(default = "one")]
    count: usize,
}

/// `{"fault": "drop" | "wrong_signature" | "duplicate", "count": 1}`
async fn webhook_faults(
    State(shared): State<Arc<Shared>>,
    Team(team): Team,
    request: Result<Json<WebhookFaults>, JsonRejection>,
) -> Result<StatusCode, AdminError> {
    let request = body(request)?;
    shared.inject_webhook_fault(team, request.fault, request.count)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Latency {
    millis: u64,
}

/// `{"millis": 250}`, at most a minute.
async fn latency(
    State(shared): State<Arc<Shared>>,
    Team(team): Team,
    request: Result<Json<Latency>, JsonRejection>,
) -> Result<StatusCode, AdminError> {
    let request = body(request)?;
    if request.millis > 60_000 {
        return Err(AdminError("latency is at most 60000 ms".into()));
    }
    shared.team(team)?.latency = std::time::Duration::from_millis(request.millis);
    Ok(StatusCode::NO_CONTENT)
}

async fn expire_tokens(
    State(shared): State<Arc<Shared>>,
    Team(team): Team,
) -> Result<StatusCode, AdminError> {
    shared.expire_tokens(team)?;
    Ok(StatusCode::NO_CONTENT)
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
async fn clock(
    State(shared): State<Arc<Shared>>,
    change: Result<Json<ClockChange>, JsonRejection>,
) -> Result<Json<Value>, AdminError> {
    let change = body(change)?;
    let by = chrono::Duration::try_seconds(change.advance_seconds)
        .zip(chrono::Duration::try_milliseconds(change.advance_millis))
        .and_then(|(seconds, millis)| seconds.checked_add(&millis))
        .ok_or_else(|| AdminError("the clock cannot move that far".into()))?;
    shared.advance_clock(by)?;
    if change.next_minute {
        shared.clock.advance_to_next_minute();
    }
    Ok(Json(json!({"now": shared.clock.now().to_rfc3339()})))
}

#[derive(Deserialize)]
struct Settings {
    approve: Option<bool>,
    rate_limit_per_minute: Option<u32>,
    granted_scope: Option<String>,
    bulk_job_seconds: Option<i64>,
}

/// `{"approve": false}` (deny logins), `{"rate_limit_per_minute": 60}`, `{"granted_scope": "people:read"}`,
/// `{"bulk_job_seconds": 30}` (how long a bulk job executes).
async fn settings(
    State(shared): State<Arc<Shared>>,
    Team(team): Team,
    settings: Result<Json<Settings>, JsonRejection>,
) -> Result<StatusCode, AdminError> {
    let settings = body(settings)?;
    let mut store = shared.team(team)?;
    if let Some(approve) = settings.approve {
        store.config.approve = approve;
    }
    if let Some(limit) = settings.rate_limit_per_minute {
        store.config.rate_limit_per_minute = limit;
    }
    if let Some(scope) = settings.granted_scope {
        store.granted_scope = scope;
    }
    if let Some(seconds) = settings.bulk_job_seconds {
        store.config.bulk_job_seconds = seconds.max(0);
    }
    Ok(StatusCode::NO_CONTENT)
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
async fn seed_people(
    State(shared): State<Arc<Shared>>,
    Team(team): Team,
    seed: Result<Json<Seed>, JsonRejection>,
) -> Result<StatusCode, AdminError> {
    let seed = body(seed)?;
    shared.team(team)?;
    if seed.replace {
        shared.remove_people(team)?;
    }
    shared.seed_people(team, seed.count, seed.spread_micros)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"count": 250, "spread_micros": 1000, "seed": 7}`: records of any list resource.
async fn seed(
    State(shared): State<Arc<Shared>>,
    Team(team): Team,
    Path(resource): Path<String>,
    request: Result<Json<crate::generic::seed::SeedRequest>, JsonRejection>,
) -> Result<StatusCode, AdminError> {
    shared.seed(team, &resource, body(request)?)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `records/notes`, `records/activities/calls` (a resource), or the same with `/{id}` (one
/// of its records).
fn record_path(path: &str) -> (&str, Option<&str>) {
    let path = path.trim_matches('/');
    if crate::generic::catalog::catalog().find(path).is_some() {
        return (path, None);
    }
    match path.rsplit_once('/') {
        Some((resource, id)) => (resource, Some(id)),
        None => (path, None),
    }
}

async fn records(
    State(shared): State<Arc<Shared>>,
    Team(team): Team,
    Path(path): Path<String>,
) -> Result<Response, AdminError> {
    Ok(match record_path(&path) {
        (resource, None) => Json(json!(shared.records(team, resource)?)).into_response(),
        (resource, Some(id)) => match shared.record(team, resource, id)? {
            Some(record) => Json(record).into_response(),
            None => refuse(StatusCode::NOT_FOUND, "no such record"),
        },
    })
}

async fn clear_records(
    State(shared): State<Arc<Shared>>,
    Team(team): Team,
    Path(path): Path<String>,
) -> Result<StatusCode, AdminError> {
    shared.clear_records(team, record_path(&path).0)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"email": "sandy@newco.test"}`: sets the fields as given and moves `updated_at` to now
/// (`"keep_updated_at": true` leaves it).
async fn patch_record(
    State(shared): State<Arc<Shared>>,
    Team(team): Team,
    Path(path): Path<String>,
    fields: Result<Json<Map<String, Value>>, JsonRejection>,
) -> Result<Response, AdminError> {
    let fields = body(fields)?;
    let (resource, Some(id)) = record_path(&path) else {
        return Err(AdminError(
            "PATCH names one record: records/{resource}/{id}".into(),
        ));
    };
    Ok(if shared.patch_record(team, resource, id, fields)? {
        StatusCode::NO_CONTENT.into_response()
    } else {
        refuse(StatusCode::NOT_FOUND, "no such record")
    })
}

#[derive(Deserialize)]
struct AddTeams {
    count: usize,
}

/// `{"count": 3}`: adds teams; answers each one's `id`, `name`, `api_key` and admin `user`.
async fn add_teams(
    State(shared): State<Arc<Shared>>,
    request: Result<Json<AddTeams>, JsonRejection>,
) -> Result<Json<Value>, AdminError> {
    let request = body(request)?;
    Ok(Json(json!(shared.add_teams(request.count)?)))
}

/// Every team: `[{"id": 1, "name": "Sandbox Team", "api_key": "ak_...", "user_id": 1}, ...]`.
async fn teams(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(shared.team_list()))
}

/// Revokes every OAuth token of the team (its API keys keep working).
async fn revoke_team(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<StatusCode, AdminError> {
    let id = id
        .parse()
        .map_err(|_| AdminError("a team's id is a number".into()))?;
    shared.revoke_team(id)?;
    Ok(StatusCode::NO_CONTENT)
}
