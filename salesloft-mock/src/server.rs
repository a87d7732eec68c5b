//! The HTTP side: the listener with a production server's timeouts, the routes, and the
//! pipeline every `/v2` request goes through, as named steps with early returns:
//! method → auth → scope → injected status fault → rate limit → handler → body fault →
//! latency → log → headers.

use crate::admin;
use crate::call::{Call, Reply, json_response};
use crate::error::ApiError;
use crate::faults::{self, Fault};
use crate::generic::listing::{cost, page_number};
use crate::oauth;
use crate::params::{Params, parse_body};
use crate::ratelimit::{self, Charge};
use crate::request_log::{AuthKind, LoggedRequest};
use crate::routes;
use crate::spec_routes::segments;
use crate::state::Shared;
use crate::store::{Store, TEAM_ID};
use crate::teams::Teams;
use crate::webhooks;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;

/// The largest request body read; a larger one gets 413.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Accepts connections until the task is aborted; each connection is served on its own task,
/// with `Config::header_timeout` for its headers and between its requests.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let header_timeout = shared.store().config.header_timeout;
    let app = router(shared);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors, say: wait a little rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(64 * 1024);
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = http.serve_connection(io, service).await;
        });
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token", post(token))
        .nest("/__admin", admin::router(shared.clone()))
        .fallback(api)
        .with_state(shared)
}

fn error_response(error: &ApiError) -> Response {
    json_response(error.status, to_bytes(&error.body))
}

fn to_bytes(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// The whole body, within `Config::body_timeout` and [`MAX_BODY`]; else the answer to give.
async fn read_body(shared: &Shared, body: Body) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(shared.body_timeout, axum::body::to_bytes(body, MAX_BODY)).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            serde_json::json!({"error": "The request body did not arrive in time"}),
        )),
        Ok(Err(_)) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            serde_json::json!({"error": format!("The request body is larger than {MAX_BODY} bytes, or was cut off")}),
        )),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

fn auth_kind(headers: &HeaderMap) -> (AuthKind, Option<String>) {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return (AuthKind::None, None);
    };
    if let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    {
        return (AuthKind::Bearer, Some(token.trim().to_string()));
    }
    if value.starts_with("Basic ") {
        return (AuthKind::Basic, None);
    }
    (AuthKind::Other, None)
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// `?team=ID` (a sandbox-only parameter): the team whose admin approves; the first without it.
fn authorizing_team(params: &Params, teams: &Teams) -> Result<i64, ApiError> {
    let Some(given) = params.get("team") else {
        return Ok(TEAM_ID);
    };
    given
        .parse()
        .ok()
        .filter(|team| teams.get(*team).is_some())
        .ok_or_else(|| {
            ApiError::oauth(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "team names no team of this sandbox",
            )
        })
}

async fn authorize(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let params = Params::parse(uri.query());
    let now = shared.clock.now();
    let mut teams = shared.teams();
    let authorized = authorizing_team(&params, &teams).and_then(|team| {
        let store = teams.get_mut(team).ok_or_else(ApiError::not_found)?;
        let redirect = oauth::authorize(store, &params, now)?;
        Ok((team, redirect))
    });
    let (team, status, response) = match authorized {
        Ok((team, redirect)) => {
            if let Some(code) = &redirect.code {
                teams.remember(code, team);
            }
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::FOUND;
            if let Ok(value) = HeaderValue::from_str(&redirect.location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            (team, StatusCode::FOUND, response)
        }
        Err(e) => (TEAM_ID, e.status, error_response(&e)),
    };
    teams.team_or_first(team).log_request(LoggedRequest {
        method: "GET".into(),
        path: uri.path().into(),
        query: uri.query().map(str::to_string),
        body: String::new(),
        auth: AuthKind::None,
        status: status.as_u16(),
    });
    response
}

async fn token(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let now = shared.clock.now();
    let (team, status, body_out, logged) = match read_body(&shared, body).await {
        Err(e) => (TEAM_ID, e.status, e.body, String::new()),
        Ok(body) => {
            let mut teams = shared.teams();
            let (team, result) = match oauth::token_form(content_type(&headers), &body) {
                Err(e) => (TEAM_ID, Err(e)),
                Ok(form) => {
                    let team = granting_team(&teams, &form);
                    let result = oauth::token(teams.team_or_first(team), &form, now);
                    (team, result)
                }
            };
            let (status, body_out) = match result {
                Ok(value) => {
                    for issued in ["access_token", "refresh_token"] {
                        if let Some(token) = value[issued].as_str() {
                            teams.remember(token, team);
                        }
                    }
                    (StatusCode::OK, value)
                }
                Err(e) => (e.status, e.body),
            };
            (
                team,
                status,
                body_out,
                String::from_utf8_lossy(&body).into_owned(),
            )
        }
    };
    shared
        .teams()
        .team_or_first(team)
        .log_request(LoggedRequest {
            method: "POST".into(),
            path: uri.path().into(),
            query: uri.query().map(str::to_string),
            body: logged,
            auth: auth_kind(&headers).0,
            status: status.as_u16(),
        });
    let mut response = json_response(status, to_bytes(&body_out));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The team a token request acts for: the team of the code or refresh token it presents;
/// client credentials (and anything unknown, which is refused) go to the first team.
fn granting_team(teams: &Teams, form: &serde_json::Map<String, serde_json::Value>) -> i64 {
    ["code", "refresh_token"]
        .iter()
        .filter_map(|name| form.get(*name)?.as_str())
        .find_map(|presented| teams.team_of(presented))
        .unwrap_or(TEAM_ID)
}

/// One `/v2` request, read once and passed along the pipeline.
struct ApiRequest {
    /// As received (`HEAD` included), for the log and the 405 check.
    method: Method,
    /// What the handlers see: `HEAD` is answered as `GET` (the server sends no body for it).
    handled_as: Method,
    uri: Uri,
    params: Params,
    content_type: Option<String>,
    header_auth: AuthKind,
    bearer: Option<String>,
    body: Bytes,
    now: chrono::DateTime<chrono::Utc>,
}

impl ApiRequest {
    fn segments(&self) -> Option<Vec<&str>> {
        segments(self.uri.path())
    }

    fn log_entry(&self, auth: AuthKind, status: StatusCode) -> LoggedRequest {
        LoggedRequest {
            method: self.method.to_string(),
            path: self.uri.path().to_string(),
            query: self.uri.query().map(str::to_string),
            body: String::from_utf8_lossy(&self.body).into_owned(),
            auth,
            status: status.as_u16(),
        }
    }
}

/// Who is calling, once authenticated.
struct Caller {
    user_id: i64,
    auth: AuthKind,
    /// The token's scopes; `None` for an API key, which acts as its user with every scope.
    scope: Option<String>,
}

/// What the pipeline came to: the reply or error, and what the answer's headers and body
/// need besides.
struct Handled {
    outcome: Result<Reply, ApiError>,
    auth: AuthKind,
    charge: Option<Charge>,
    body_fault: Option<Fault>,
}

impl Handled {
    fn refused(error: ApiError, auth: AuthKind, charge: Option<Charge>) -> Self {
        Self {
            outcome: Err(error),
            auth,
            charge,
            body_fault: None,
        }
    }

    fn status(&self) -> StatusCode {
        match &self.outcome {
            Ok(Reply::Json(status, _)) | Ok(Reply::Bytes(status, _)) => *status,
            Ok(Reply::NoContent) => StatusCode::NO_CONTENT,
            Err(e) => e.status,
        }
    }
}

/// Everything under `/v2/`.
async fn api(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match read_body(&shared, body).await {
        Ok(body) => body,
        Err(e) => return error_response(&e),
    };
    let (header_auth, bearer) = auth_kind(&headers);
    let handled_as = if method == Method::HEAD {
        Method::GET
    } else {
        method.clone()
    };
    let request = ApiRequest {
        method,
        handled_as,
        params: Params::parse(uri.query()),
        uri,
        content_type: content_type(&headers).map(str::to_string),
        header_auth,
        bearer,
        body,
        now: shared.clock.now(),
    };
    let Some(path) = request.segments() else {
        return error_response(&ApiError::not_found());
    };
    if let Some(allowed) = wrong_method(&shared, &request.handled_as, &path) {
        return method_not_allowed(&allowed);
    }
    let (handled, latency) = {
        let mut teams = shared.teams();
        let (store, handled) = match authenticate(&teams, &request) {
            Err(e) => (
                teams.first_mut(),
                Handled::refused(e, request.header_auth, None),
            ),
            Ok((team, caller)) => {
                let store = teams.team_or_first(team);
                let handled = pipeline(&shared, store, &request, &path, caller);
                (store, handled)
            }
        };
        store.log_request(request.log_entry(handled.auth, handled.status()));
        (handled, store.latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    respond(handled, request.now)
}

/// The steps from the authenticated caller to the reply, on the caller's team; each may end
/// the request early.
fn pipeline(
    shared: &Shared,
    store: &mut Store,
    request: &ApiRequest,
    path: &[&str],
    caller: Caller,
) -> Handled {
    if let Err(e) = check_scope(&caller, &request.handled_as, path) {
        return Handled::refused(e, request.header_auth, None);
    }
    if let Some((error, charge)) = status_fault(store, request.now) {
        return Handled::refused(error, caller.auth, Some(charge));
    }
    let cost = cost(page_number(&request.params));
    let charge = ratelimit::charge(store, cost, request.now);
    if !charge.allowed {
        return Handled::refused(ApiError::rate_limited(), caller.auth, Some(charge));
    }
    let body_fault = store.faults.pop_front();
    Handled {
        outcome: dispatch(shared, store, request, path, caller.user_id),
        auth: caller.auth,
        charge: Some(charge),
        body_fault,
    }
}

/// The methods a known path allows, when the request's is not one of them.
fn wrong_method(shared: &Shared, method: &Method, path: &[&str]) -> Option<Vec<Method>> {
    let allowed = shared.routes.methods_for(path);
    (!allowed.is_empty() && !allowed.contains(method)).then_some(allowed)
}

fn method_not_allowed(allowed: &[Method]) -> Response {
    let mut names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    if allowed.contains(&Method::GET) {
        names.push("HEAD");
    }
    let mut response = error_response(&ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        serde_json::json!({"error": "Method Not Allowed"}),
    ));
    if let Ok(allow) = HeaderValue::from_str(&names.join(", ")) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

/// The token's team and user, or 401. A token or key acts for its own team only.
fn authenticate(teams: &Teams, request: &ApiRequest) -> Result<(i64, Caller), ApiError> {
    let token = request
        .bearer
        .as_deref()
        .ok_or_else(ApiError::unauthorized)?;
    let team = teams.team_of(token).ok_or_else(ApiError::unauthorized)?;
    let store = teams.get(team).ok_or_else(ApiError::unauthorized)?;
    if store.config.api_keys.iter().any(|k| k == token) {
        let caller = Caller {
            user_id: store.admin_user_id(),
            auth: AuthKind::ApiKey,
            scope: None,
        };
        return Ok((team, caller));
    }
    let grant = store
        .access_tokens
        .get(token)
        .ok_or_else(ApiError::unauthorized)?;
    if grant.revoked || grant.expires_at <= request.now {
        return Err(ApiError::unauthorized());
    }
    let caller = Caller {
        user_id: grant.user_id,
        auth: AuthKind::Bearer,
        scope: Some(grant.scope.clone()),
    };
    Ok((team, caller))
}

/// 403 when the token lacks the scope of a resource whose scopes the sandbox checks.
fn check_scope(caller: &Caller, method: &Method, path: &[&str]) -> Result<(), ApiError> {
    let (Some(granted), Some(needed)) = (&caller.scope, required_scope(method, path)) else {
        return Ok(());
    };
    if granted.split(' ').any(|s| s == needed) {
        return Ok(());
    }
    Err(ApiError::forbidden(&format!(
        "This application is missing the required scope: {needed}"
    )))
}

/// The scope an API call needs, for the resources whose scopes the sandbox checks.
fn required_scope(method: &Method, segments: &[&str]) -> Option<String> {
    let resource = *segments.first()?;
    let checked = ["people", "accounts", "cadences", "cadence_memberships"];
    if !checked.contains(&resource) {
        return None;
    }
    let access = if method == Method::GET {
        "read"
    } else {
        "write"
    };
    Some(format!("{resource}:{access}"))
}

/// A pending status fault answers before any work, charged as a request that did nothing.
fn status_fault(
    store: &mut Store,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<(ApiError, Charge)> {
    let Some(Fault::Status { status }) = store.faults.front().copied() else {
        return None;
    };
    store.faults.pop_front();
    let charge = Charge {
        cost: 1,
        remaining: ratelimit::remaining(store, now),
        allowed: false,
    };
    Some((faults::status_error(status), charge))
}

fn dispatch(
    shared: &Shared,
    store: &mut Store,
    request: &ApiRequest,
    path: &[&str],
    user_id: i64,
) -> Result<Reply, ApiError> {
    let method = &request.handled_as;
    let body = if *method == Method::GET || *method == Method::DELETE {
        serde_json::Map::new()
    } else {
        parse_body(request.content_type.as_deref(), &request.body)?
    };
    if let Some(route) = shared.routes.find(method, path) {
        route.body.check_body(&body)?;
    }
    let call = Call {
        method,
        segments: path.to_vec(),
        params: &request.params,
        body: &body,
        user_id,
        now: request.now,
    };
    let change = webhooks::Change::before(store, &call);
    // Hooks may queue deliveries of their own (a bulk job's records, an imported cadence);
    // the rule's change is queued after a write that succeeded. Either wakes the delivery task.
    let pending = store.outbox.pending();
    let handled = routes::answer(store, &call).or_else(|| crate::generic::route(store, &call));
    if let Some(result) = handled {
        let emitted = matches!(&result, Ok(reply) if change.emit(store, reply, request.now));
        if emitted || store.outbox.pending() > pending {
            shared.outbox_ready.notify_one();
        }
        return result;
    }
    match shared.routes.find(method, path) {
        Some(route) => route.answer(&request.params, &body),
        None => Err(ApiError::not_found()),
    }
}

/// The answer: the reply (spoiled by a pending body fault) with the rate-limit and `Date`
/// headers. The header names are written here again, not shared with the client: the sandbox
/// is an independent oracle of the service, so a mistake in the client's copy cannot hide.
fn respond(handled: Handled, now: chrono::DateTime<chrono::Utc>) -> Response {
    let mut response = match handled.outcome {
        Ok(Reply::Json(status, value)) => {
            faults::spoil(status, to_bytes(&value), handled.body_fault)
        }
        Ok(Reply::Bytes(status, bytes)) => faults::spoil(status, bytes, handled.body_fault),
        Ok(Reply::NoContent) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Err(e) => error_response(&e),
    };
    let headers = response.headers_mut();
    if let Some(charge) = handled.charge {
        headers.insert("x-ratelimit-endpoint-cost", HeaderValue::from(charge.cost));
        headers.insert(
            "x-ratelimit-remaining-minute",
            HeaderValue::from(charge.remaining),
        );
    }
    let date = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    if let Ok(date) = HeaderValue::from_str(&date) {
        headers.insert(header::DATE, date);
    }
    response
}
