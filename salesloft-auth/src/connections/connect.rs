//! "Connect SalesLoft" for a product with many customers: an axum router the product mounts.
//!
//! `GET /connect?tenant=X` sends the browser to SalesLoft's consent page with a fresh `state`
//! and a PKCE challenge. The attempt (tenant, PKCE verifier, expiry) is kept in the
//! [`ConnectionStore`] under a digest of the state, so the callback may land on any server of
//! the product; the state also goes into a cookie, so a callback is accepted only in the
//! browser that started it. The callback (the app's redirect URI) takes the attempt away
//! (a state works once), exchanges the code, reads `/v2/me` and `/v2/team`, stores the
//! connection under the SalesLoft team, and redirects to the product's success URL with
//! `team` and `tenant` added. Anything else (a replayed, expired, foreign or missing state, an
//! error from SalesLoft, a code that does not exchange) is a 400 page and stores nothing.

use super::{Attempt, Connection, ConnectionStore, Status};
use crate::app::OAuthApp;
use crate::callback::{escape, page, same_secret};
use crate::error::AuthError;
use crate::http::OAuthHttp;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use salesloft_api::text::printable_bounded;
use salesloft_api::{ApiKey, Secret};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// The cookie that ties a callback to the browser that asked to connect.
const COOKIE: &str = "salesloft_connect";
/// The longest tenant accepted, in characters.
const MAX_TENANT: usize = 200;
/// The longest value of a callback's parameter read (a code, a state); longer is refused.
const MAX_PARAMETER: usize = 4096;
/// How much of SalesLoft's own words (an error's description) a page shows.
const MAX_SHOWN: usize = 300;

/// The connect flow's settings.
#[derive(Debug, Clone)]
pub struct ConnectFlow {
    app: OAuthApp,
    store: Arc<dyn ConnectionStore>,
    success_url: url::Url,
    state_ttl: Duration,
}

struct Shared {
    flow: ConnectFlow,
    http: OAuthHttp,
    callback_path: String,
    secure_cookie: bool,
}

impl ConnectFlow {
    /// `app`'s redirect URI is the callback's public URL (its path is where the router answers
    /// it); connections go to `store`; a browser whose team is connected goes to `success_url`.
    pub fn new(
        app: OAuthApp,
        store: Arc<dyn ConnectionStore>,
        success_url: &str,
    ) -> Result<Self, AuthError> {
        let success_url = url::Url::parse(success_url)
            .map_err(|e| AuthError::Config(format!("the success URL {success_url:?}: {e}")))?;
        url::Url::parse(&app.redirect_uri).map_err(|e| {
            AuthError::Config(format!("the redirect URI {:?}: {e}", app.redirect_uri))
        })?;
        Ok(Self {
            app,
            store,
            success_url,
            state_ttl: Duration::from_secs(600),
        })
    }

    /// How long a started connect may take before its state is refused (default 10 minutes).
    pub fn state_ttl(mut self, ttl: Duration) -> Self {
        self.state_ttl = ttl;
        self
    }

    /// The router: `GET /connect` and `GET <the redirect URI's path>`. Merge it at the root of
    /// the product's router (the redirect URI's path is absolute).
    pub fn router(self) -> Result<Router, AuthError> {
        let redirect = url::Url::parse(&self.app.redirect_uri)
            .map_err(|e| AuthError::Config(format!("the redirect URI: {e}")))?;
        let shared = Arc::new(Shared {
            http: OAuthHttp::new()?,
            callback_path: redirect.path().to_string(),
            secure_cookie: redirect.scheme() == "https",
            flow: self,
        });
        Ok(Router::new()
            .route("/connect", get(start))
            .route(&shared.callback_path.clone(), get(callback))
            .with_state(shared))
    }
}

/// What the store keeps a state under: its digest, so the table never holds a usable state.
fn attempt_key(state: &str) -> String {
    let digest = Sha256::digest(state.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A refusal: the page the browser sees, and the status.
#[derive(Debug)]
struct Refused {
    status: StatusCode,
    title: &'static str,
    body: String,
}

impl Refused {
    fn bad(title: &'static str, body: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            title,
            body: body.into(),
        }
    }

    fn unavailable(title: &'static str, body: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title,
            body: body.into(),
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let mut response = (self.status, page(self.title, &self.body)).into_response();
        private(response.headers_mut());
        response
    }
}

/// Pages and redirects that carry or follow secrets are not cached, nor is the URL (the code
/// in it) sent on as a referrer.
fn private(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

fn redirect(location: &str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, value);
    }
    private(headers);
    response
}

/// The query's parameters; a parameter given twice, or longer than any real one, is refused.
fn parameters(query: Option<&str>) -> Result<Vec<(String, String)>, Refused> {
    let mut seen: Vec<(String, String)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if value.len() > MAX_PARAMETER || name.len() > 64 {
            return Err(Refused::bad(
                "Connection refused",
                "The link is not one this server made. Start connecting again.",
            ));
        }
        if seen.iter().any(|(n, _)| *n == name) {
            return Err(Refused::bad(
                "Connection refused",
                "The link names a parameter twice. Start connecting again.",
            ));
        }
        seen.push((name.into_owned(), value.into_owned()));
    }
    Ok(seen)
}

fn parameter<'a>(parameters: &'a [(String, String)], name: &str) -> Option<&'a str> {
    parameters
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

async fn start(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    match begin(&shared, query.as_deref()).await {
        Ok(response) => response,
        Err(refused) => refused.into_response(),
    }
}

async fn begin(shared: &Shared, query: Option<&str>) -> Result<Response, Refused> {
    let parameters = parameters(query)?;
    let tenant = parameter(&parameters, "tenant").unwrap_or("").trim();
    let tenant_ok = !tenant.is_empty()
        && tenant.chars().count() <= MAX_TENANT
        && !tenant.chars().any(char::is_control);
    if !tenant_ok {
        return Err(Refused::bad(
            "Connection refused",
            format!(
                "Say who is connecting: <code>/connect?tenant=…</code>, 1 to {MAX_TENANT} printable characters."
            ),
        ));
    }
    let flow = &shared.flow;
    let request = crate::oauth::authorization_request(&flow.app).map_err(|e| {
        tracing::error!(error = %e, "the authorize URL could not be made");
        Refused::unavailable("Connection unavailable", "The app is misconfigured.")
    })?;
    let attempt = Attempt {
        tenant: tenant.to_string(),
        verifier: request.pkce_verifier.clone(),
        expires_at: Utc::now()
            + chrono::Duration::from_std(flow.state_ttl).unwrap_or(chrono::Duration::minutes(10)),
    };
    let key = attempt_key(request.state.expose());
    flow.store.put_attempt(&key, &attempt).await.map_err(|e| {
        tracing::error!(error = %e, "a connect attempt could not be stored");
        Refused::unavailable(
            "Connection unavailable",
            "The connection could not be started. Try again in a moment.",
        )
    })?;
    let cookie = format!(
        "{COOKIE}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
        request.state.expose(),
        flow.state_ttl.as_secs(),
        if shared.secure_cookie { "; Secure" } else { "" }
    );
    Ok(redirect(&request.url, Some(cookie)))
}

async fn callback(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let cleared = format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
    let mut response = match finish(&shared, &headers, query.as_deref()).await {
        Ok(location) => redirect(&location, None),
        Err(refused) => refused.into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&cleared) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The browser's cookie of the connect flow, if it sent one.
fn cookie_state(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

async fn finish(
    shared: &Shared,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<String, Refused> {
    let flow = &shared.flow;
    let parameters = parameters(query)?;
    let again = "Start connecting again from the app.";
    let Some(state) = parameter(&parameters, "state").filter(|s| !s.is_empty()) else {
        return Err(Refused::bad(
            "Connection refused",
            format!("SalesLoft's answer carries no state. {again}"),
        ));
    };
    // Taken away before anything else is looked at: whatever follows, this state is spent.
    let attempt = flow
        .store
        .take_attempt(&attempt_key(state))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "a connect attempt could not be read");
            Refused::unavailable(
                "Connection unavailable",
                "The connection could not be finished. Try again in a moment.",
            )
        })?
        .ok_or_else(|| {
            Refused::bad(
                "Connection refused",
                format!("This link was already used, or was not made here. {again}"),
            )
        })?;
    if attempt.expires_at < Utc::now() {
        return Err(Refused::bad(
            "Connection expired",
            format!("Connecting took too long. {again}"),
        ));
    }
    if !cookie_state(headers).is_some_and(|cookie| same_secret(cookie, state)) {
        return Err(Refused::bad(
            "Connection refused",
            format!("This link was started in another browser. {again}"),
        ));
    }
    if let Some(error) = parameter(&parameters, "error") {
        let said = parameter(&parameters, "error_description").unwrap_or(error);
        return Err(Refused::bad(
            "SalesLoft did not connect",
            format!(
                "SalesLoft said: {}. {again}",
                escape(&printable_bounded(said, MAX_SHOWN))
            ),
        ));
    }
    let Some(code) = parameter(&parameters, "code").filter(|c| !c.is_empty()) else {
        return Err(Refused::bad(
            "Connection refused",
            format!("SalesLoft's answer carries no authorization code. {again}"),
        ));
    };
    let code = Secret::new(code.to_string());
    let credentials =
        crate::oauth::exchange_code(&flow.app, &shared.http, &code, &attempt.verifier)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "a connect code was not exchanged");
                Refused::bad(
                    "SalesLoft did not connect",
                    format!(
                        "SalesLoft did not accept the authorization ({}). {again}",
                        escape(&printable_bounded(&e.to_string(), MAX_SHOWN))
                    ),
                )
            })?;
    let unreadable = |what: &str, e: String| {
        tracing::warn!(error = %e, "{what} could not be read while connecting");
        Refused {
            status: StatusCode::BAD_GATEWAY,
            title: "SalesLoft did not answer",
            body: format!("SalesLoft's {what} could not be read. {again}"),
        }
    };
    let client = salesloft_api::Client::with_token_source(
        &credentials.api_base_url,
        Arc::new(ApiKey::new(credentials.access_token.clone())),
    )
    .map_err(|e| unreadable("API", e.to_string()))?;
    let me = client
        .get_me()
        .send()
        .await
        .map_err(|e| unreadable("user", salesloft_api::ApiError::from(e).to_string()))?
        .into_inner()
        .data;
    let team = client
        .get_team()
        .send()
        .await
        .map_err(|e| unreadable("team", salesloft_api::ApiError::from(e).to_string()))?
        .into_inner()
        .data;
    let Some(team_id) = team.id.as_ref().and_then(salesloft_api::Id::as_i64) else {
        return Err(unreadable("team", "no team id".into()));
    };
    let connection = Connection {
        team_id,
        team_name: printable_bounded(team.name.as_deref().unwrap_or(""), 512),
        tenant: Some(attempt.tenant.clone()),
        user_id: me.id.as_ref().and_then(salesloft_api::Id::as_i64),
        user_email: me.email.as_deref().map(|e| printable_bounded(e, 512)),
        credentials,
        version: 0,
        status: Status::Active,
        last_refresh_at: None,
        last_error: None,
        connected_at: Utc::now(),
    };
    flow.store.save(&connection).await.map_err(|e| {
        tracing::error!(team = team_id, error = %e, "a connection could not be stored");
        Refused::unavailable(
            "Connection unavailable",
            "The connection could not be stored. Try again in a moment.",
        )
    })?;
    tracing::info!(team = team_id, "a SalesLoft team connected");
    let mut success = flow.success_url.clone();
    success
        .query_pairs_mut()
        .append_pair("team", &team_id.to_string())
        .append_pair("tenant", &attempt.tenant);
    Ok(success.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_or_oversized_parameter_is_refused() {
        assert!(parameters(Some("state=a&state=b")).is_err());
        let long = format!("code={}", "x".repeat(MAX_PARAMETER + 1));
        assert!(parameters(Some(&long)).is_err());
        let fine = parameters(Some("state=a&code=b")).unwrap();
        assert_eq!(parameter(&fine, "code"), Some("b"));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; salesloft_connect=xyz; b=2"),
        );
        assert_eq!(cookie_state(&headers), Some("xyz"));
    }

    #[test]
    fn the_store_never_sees_the_state_itself() {
        let key = attempt_key("the-state");
        assert_eq!(key.len(), 64);
        assert!(!key.contains("the-state"));
    }
}
