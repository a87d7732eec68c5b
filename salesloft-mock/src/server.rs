//! The HTTP side: routes, and the pipeline every `/v2` request goes through
//! (auth → scope → injected status fault → rate limit → handler → body fault → latency → log).

use crate::admin;
use crate::clock::Clock;
use crate::errors::ApiError;
use crate::listing::{cost, page_number};
use crate::oauth;
use crate::params::{Params, parse_body};
use crate::ratelimit;
use crate::resources::{self, Call, Reply};
use crate::spec_routes::{SpecRoutes, segments};
use crate::store::{AuthKind, Fault, LoggedRequest, Store, TEAM_ID};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{get, post};
use std::sync::{Arc, Mutex, MutexGuard};

/// What every handler shares.
#[derive(Debug)]
pub struct Shared {
    pub store: Mutex<Store>,
    pub clock: Clock,
    pub routes: SpecRoutes,
}

impl Shared {
    /// The store; a panic elsewhere while holding the lock must not take the sandbox down.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token", post(token))
        .nest("/__admin", admin::router())
        .fallback(api)
        .with_state(shared)
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn to_bytes(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
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

async fn authorize(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let params = Params::parse(uri.query());
    let now = shared.clock.now();
    let mut store = shared.store();
    let result = oauth::authorize(&mut store, &params, now);
    let (status, response) = match result {
        Ok(location) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::FOUND;
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            (StatusCode::FOUND, response)
        }
        Err(e) => (e.status, json_response(e.status, to_bytes(&e.body))),
    };
    store.log_request(LoggedRequest {
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
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let now = shared.clock.now();
    let mut store = shared.store();
    let result =
        parse_body(content_type, &body).and_then(|form| oauth::token(&mut store, &form, now));
    let (status, body_out) = match result {
        Ok(value) => (StatusCode::OK, value),
        Err(e) => (e.status, e.body),
    };
    store.log_request(LoggedRequest {
        method: "POST".into(),
        path: uri.path().into(),
        query: uri.query().map(str::to_string),
        body: String::from_utf8_lossy(&body).into_owned(),
        auth: auth_kind(&headers).0,
        status: status.as_u16(),
    });
    let mut response = json_response(status, to_bytes(&body_out));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
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

/// Who is calling: the user id, or the 401/403 to answer.
fn authenticate(
    store: &Store,
    token: Option<&str>,
    method: &Method,
    segments: &[&str],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(i64, AuthKind), ApiError> {
    let token = token.ok_or_else(ApiError::unauthorized)?;
    if store.config.api_keys.iter().any(|k| k == token) {
        return Ok((crate::store::USER_ID, AuthKind::ApiKey));
    }
    let grant = store
        .access_tokens
        .get(token)
        .ok_or_else(ApiError::unauthorized)?;
    if grant.revoked || grant.expires_at <= now {
        return Err(ApiError::unauthorized());
    }
    if let Some(scope) = required_scope(method, segments)
        && !grant.scope.split(' ').any(|s| s == scope)
    {
        return Err(ApiError::forbidden(&format!(
            "This application is missing the required scope: {scope}"
        )));
    }
    Ok((grant.user_id, AuthKind::Bearer))
}

/// Everything under `/v2/`.
async fn api(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(path) = segments(uri.path()) else {
        return json_response(StatusCode::NOT_FOUND, to_bytes(&ApiError::not_found().body));
    };
    let params = Params::parse(uri.query());
    let (header_kind, token) = auth_kind(&headers);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let now = shared.clock.now();

    let (outcome, charge, body_fault, latency) = {
        let mut store = shared.store();
        let mut auth = header_kind;
        let mut charge = None;
        let mut body_fault = None;
        let outcome = match authenticate(&store, token.as_deref(), &method, &path, now) {
            Err(e) => Err(e),
            Ok((user_id, kind)) => {
                auth = kind;
                match store.faults.front().copied() {
                    Some(Fault::Status { status }) => {
                        store.faults.pop_front();
                        let status = StatusCode::from_u16(status)
                            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                        let remaining = ratelimit::remaining(&mut store, TEAM_ID, now);
                        charge = Some(ratelimit::Charge {
                            cost: 1,
                            remaining,
                            allowed: false,
                        });
                        Err(if status == StatusCode::TOO_MANY_REQUESTS {
                            ApiError::rate_limited()
                        } else {
                            ApiError::server_error(status)
                        })
                    }
                    other => {
                        let c =
                            ratelimit::charge(&mut store, TEAM_ID, cost(page_number(&params)), now);
                        charge = Some(c);
                        if !c.allowed {
                            Err(ApiError::rate_limited())
                        } else {
                            if other.is_some() {
                                body_fault = store.faults.pop_front();
                            }
                            dispatch(
                                &shared,
                                &mut store,
                                &method,
                                &path,
                                &params,
                                content_type,
                                &body,
                                user_id,
                                now,
                            )
                        }
                    }
                }
            }
        };
        let status = match &outcome {
            Ok(Reply::Json(status, _)) | Ok(Reply::Bytes(status, _)) => *status,
            Ok(Reply::NoContent) => StatusCode::NO_CONTENT,
            Err(e) => e.status,
        };
        store.log_request(LoggedRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            body: String::from_utf8_lossy(&body).into_owned(),
            auth,
            status: status.as_u16(),
        });
        (outcome, charge, body_fault, store.latency)
    };

    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut response = match outcome {
        Ok(Reply::Json(status, value)) => faulty_body(status, to_bytes(&value), body_fault),
        Ok(Reply::Bytes(status, bytes)) => faulty_body(status, bytes, body_fault),
        Ok(Reply::NoContent) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Err(e) => json_response(e.status, to_bytes(&e.body)),
    };
    let headers = response.headers_mut();
    if let Some(charge) = charge {
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

#[allow(clippy::too_many_arguments)]
fn dispatch(
    shared: &Shared,
    store: &mut Store,
    method: &Method,
    path: &[&str],
    params: &Params,
    content_type: Option<&str>,
    body: &[u8],
    user_id: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Reply, ApiError> {
    let body = if *method == Method::GET || *method == Method::DELETE {
        serde_json::Map::new()
    } else {
        parse_body(content_type, body)?
    };
    let call = Call {
        method,
        segments: path.to_vec(),
        params,
        body: &body,
        user_id,
        now,
    };
    if let Some(result) = resources::route(store, &call) {
        return result;
    }
    match shared.routes.find(method, path) {
        Some(route) => route.answer(params, &body),
        None => Err(ApiError::not_found()),
    }
}

/// The response body, spoiled as the pending fault says.
fn faulty_body(status: StatusCode, bytes: Vec<u8>, fault: Option<Fault>) -> Response {
    match fault {
        Some(Fault::TruncatedBody) => {
            let half = bytes.len() / 2;
            json_response(status, bytes[..half].to_vec())
        }
        Some(Fault::MalformedBody) => {
            json_response(status, b"{\"data\": {\"id\": 1,, <html>".to_vec())
        }
        Some(Fault::DropConnection) => {
            let half = Bytes::from(bytes[..bytes.len() / 2].to_vec());
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "fault: connection dropped",
                )),
            ];
            let mut response = Response::new(Body::from_stream(futures::stream::iter(chunks)));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            response
        }
        Some(Fault::Status { .. }) | None => json_response(status, bytes),
    }
}
