//! Teams of the many-team sandbox connected as the connect flow would connect them, for the
//! connections store's tests and benchmark.

use salesloft_api::Secret;
use salesloft_auth::connections::{Connection, Status};
use salesloft_auth::{Credentials, OAuthApp};
use salesloft_mock::{DEFAULT_REDIRECT_URI, SandboxHandle};

/// The sandbox's OAuth app.
pub fn sandbox_app(sandbox: &SandboxHandle) -> OAuthApp {
    OAuthApp::new("sandbox-client-id", "sandbox-client-secret")
        .with_accounts_base_url(sandbox.accounts_base_url())
        .with_api_base_url(sandbox.api_base_url())
}

/// Team `team`'s admin approves the app in the sandbox: the connection the connect flow would
/// store (tenant `tenant-<team>`).
pub async fn approved(sandbox: &SandboxHandle, team: i64) -> Connection {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let redirect = http
        .get(format!("{}/oauth/authorize", sandbox.accounts_base_url()))
        .query(&[
            ("client_id", "sandbox-client-id"),
            ("redirect_uri", DEFAULT_REDIRECT_URI),
            ("response_type", "code"),
            ("team", &team.to_string()),
        ])
        .send()
        .await
        .expect("the sandbox answers");
    let location = redirect.headers()["location"].to_str().expect("a location");
    let code = url::Url::parse(location)
        .expect("a URL")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .expect("approved: a code")
        .1
        .into_owned();
    let tokens: serde_json::Value = http
        .post(format!("{}/oauth/token", sandbox.accounts_base_url()))
        .json(&serde_json::json!({
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": DEFAULT_REDIRECT_URI, "client_id": "sandbox-client-id",
            "client_secret": "sandbox-client-secret"}))
        .send()
        .await
        .expect("the sandbox answers")
        .json()
        .await
        .expect("a token answer");
    let text = |field: &str| tokens[field].as_str().expect("a token field").to_string();
    let credentials = Credentials {
        access_token: Secret::new(text("access_token")),
        refresh_token: Some(Secret::new(text("refresh_token"))),
        expires_at: chrono::Utc::now()
            + chrono::Duration::seconds(tokens["expires_in"].as_i64().unwrap_or(0)),
        scope: text("scope"),
        client_id: "sandbox-client-id".into(),
        api_base_url: sandbox.api_base_url().to_string(),
    };
    Connection {
        team_id: team,
        team_name: format!("Team {team}"),
        tenant: Some(format!("tenant-{team}")),
        user_id: None,
        user_email: None,
        credentials,
        version: 0,
        status: Status::Active,
        last_refresh_at: None,
        last_error: None,
        connected_at: chrono::Utc::now(),
    }
}

/// How many times team `team` refreshed its token at the sandbox (answered or refused).
pub fn refresh_requests(sandbox: &SandboxHandle, team: i64) -> Vec<u16> {
    sandbox
        .team(team)
        .map(|t| t.requests())
        .unwrap_or_default()
        .iter()
        .filter(|r| r.path == "/oauth/token" && r.body.contains("refresh_token"))
        .map(|r| r.status)
        .collect()
}
