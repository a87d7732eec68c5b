//! The OAuth flows end to end, through plain HTTP.

mod common;

use common::http;
use salesloft_mock::{Config, DEFAULT_REDIRECT_URI, Sandbox, SandboxHandle};
use serde_json::{Value, json};

const LOOPBACK: &str = "http://127.0.0.1:53682/callback";

async fn authorize(sandbox: &SandboxHandle, redirect_uri: &str, extra: &str) -> reqwest::Response {
    let url = format!(
        "{}/oauth/authorize?client_id=sandbox-client-id&redirect_uri={}&response_type=code&state=xyz{extra}",
        sandbox.accounts_base_url(),
        url::form_urlencoded::byte_serialize(redirect_uri.as_bytes()).collect::<String>()
    );
    http().get(url).send().await.unwrap()
}

fn redirect_params(response: &reqwest::Response) -> Vec<(String, String)> {
    let location = response.headers()["location"].to_str().unwrap();
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn token(sandbox: &SandboxHandle, body: Value) -> (u16, Value) {
    let response = http()
        .post(format!("{}/oauth/token", sandbox.accounts_base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn client(mut body: Value) -> Value {
    body["client_id"] = json!("sandbox-client-id");
    body["client_secret"] = json!("sandbox-client-secret");
    body
}

async fn me_status(sandbox: &SandboxHandle, access: &str) -> u16 {
    let url = format!("{}/v2/me.json", sandbox.api_base_url());
    http()
        .get(url)
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn authorization_code_then_refresh_with_rotation() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let redirect = authorize(&sandbox, DEFAULT_REDIRECT_URI, "").await;
    assert_eq!(redirect.status(), 302);
    let pairs = redirect_params(&redirect);
    assert_eq!(param(&pairs, "state"), Some("xyz"));
    assert!(param(&pairs, "context").is_some() && param(&pairs, "scope").is_some());
    let code = param(&pairs, "code").unwrap().to_string();

    let wrong_uri =
        client(json!({"grant_type": "authorization_code", "code": code, "redirect_uri": LOOPBACK}));
    let (status, body) = token(&sandbox, wrong_uri).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "redirect_uri must match"
    );

    let pairs = redirect_params(&authorize(&sandbox, DEFAULT_REDIRECT_URI, "").await);
    let code = param(&pairs, "code").unwrap().to_string();
    let exchange = client(
        json!({"grant_type": "authorization_code", "code": code, "redirect_uri": DEFAULT_REDIRECT_URI}),
    );
    let (status, first) = token(&sandbox, exchange.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(first["token_type"], "bearer");
    assert_eq!(first["expires_in"], 7200);
    assert!(
        first["created_at"].is_i64() && first["scope"].as_str().unwrap().contains("people:read")
    );
    assert_eq!(
        me_status(&sandbox, first["access_token"].as_str().unwrap()).await,
        200
    );
    let refresh = |t: &Value| {
        client(json!({"grant_type": "refresh_token", "refresh_token": t["refresh_token"]}))
    };
    let (status, second) = token(&sandbox, refresh(&first)).await;
    assert_eq!(status, 200);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let (status, old) = token(&sandbox, refresh(&first)).await;
    assert_eq!(
        (status, old["error"].as_str()),
        (400, Some("invalid_grant")),
        "the old refresh token is revoked"
    );
    let (status, third) = token(&sandbox, refresh(&second)).await;
    assert_eq!(status, 200);

    let (status, reuse) = token(&sandbox, exchange).await;
    assert_eq!(
        (status, reuse["error"].as_str()),
        (400, Some("invalid_grant")),
        "codes are single use"
    );
    assert_eq!(
        me_status(&sandbox, third["access_token"].as_str().unwrap()).await,
        401,
        "a code used twice revokes what its first use granted (RFC 6749 10.5)"
    );
    let (status, _) = token(&sandbox, refresh(&third)).await;
    assert_eq!(status, 400, "its refresh tokens too");
}

#[tokio::test]
async fn form_bodies_and_client_credentials() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let response = http()
        .post(format!("{}/oauth/token", sandbox.accounts_base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sandbox-client-id"),
            ("client_secret", "sandbox-client-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(
        body.get("refresh_token").is_none(),
        "client credentials get no refresh token"
    );
    assert_eq!(
        me_status(&sandbox, body["access_token"].as_str().unwrap()).await,
        200
    );

    let (status, bad) = token(&sandbox, json!({"grant_type": "client_credentials", "client_id": "sandbox-client-id", "client_secret": "wrong"})).await;
    assert_eq!(
        (status, bad["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, bad) = token(&sandbox, client(json!({"grant_type": "password"}))).await;
    assert_eq!(
        (status, bad["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

#[tokio::test]
async fn expiry_follows_the_clock_and_admin_expiry() {
    let sandbox = Sandbox::start(Config {
        token_ttl_seconds: 60,
        ..Config::default()
    })
    .await
    .unwrap();
    let (_, body) = token(
        &sandbox,
        client(json!({"grant_type": "client_credentials"})),
    )
    .await;
    let access = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(body["expires_in"], 60);
    assert_eq!(me_status(&sandbox, &access).await, 200);
    sandbox.clock().advance(chrono::Duration::seconds(61));
    assert_eq!(me_status(&sandbox, &access).await, 401);

    let (_, body) = token(
        &sandbox,
        client(json!({"grant_type": "client_credentials"})),
    )
    .await;
    let access = body["access_token"].as_str().unwrap().to_string();
    sandbox.expire_all_tokens();
    assert_eq!(me_status(&sandbox, &access).await, 401);
}

#[tokio::test]
async fn redirect_uris_and_client_ids_are_checked() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    assert_eq!(authorize(&sandbox, LOOPBACK, "").await.status(), 302);
    assert_eq!(
        authorize(&sandbox, "http://localhost:8080/cb", "")
            .await
            .status(),
        302
    );
    let refused = authorize(&sandbox, "https://evil.example/callback", "").await;
    assert_eq!(
        refused.status(),
        400,
        "never redirects to an unregistered URI"
    );
    let url = format!(
        "{}/oauth/authorize?client_id=other&redirect_uri={LOOPBACK}&response_type=code",
        sandbox.accounts_base_url()
    );
    assert_eq!(http().get(url).send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn deny_mode_redirects_with_access_denied() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    sandbox.set_approve(false);
    let pairs = redirect_params(&authorize(&sandbox, LOOPBACK, "").await);
    assert_eq!(param(&pairs, "error"), Some("access_denied"));
    assert_eq!(param(&pairs, "state"), Some("xyz"));
    assert_eq!(param(&pairs, "code"), None);
}

#[tokio::test]
async fn pkce_is_verified_when_sent() {
    use base64::Engine;
    use sha2::Digest;
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let verifier = "a-verifier-that-is-long-enough-to-be-a-real-pkce-verifier-0123";
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier));
    let extra = format!("&code_challenge={challenge}&code_challenge_method=S256");
    for (sent, want) in [("wrong", 400), (verifier, 200)] {
        let pairs = redirect_params(&authorize(&sandbox, LOOPBACK, &extra).await);
        let body = client(
            json!({"grant_type": "authorization_code", "code": param(&pairs, "code"), "redirect_uri": LOOPBACK, "code_verifier": sent}),
        );
        assert_eq!(token(&sandbox, body).await.0, want);
    }
}

#[tokio::test]
async fn missing_scope_gets_403_naming_it() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    sandbox.set_granted_scope("people:read");
    let (_, body) = token(
        &sandbox,
        client(json!({"grant_type": "client_credentials"})),
    )
    .await;
    let access = body["access_token"].as_str().unwrap();
    let response = http()
        .post(format!("{}/v2/people.json", sandbox.api_base_url()))
        .bearer_auth(access)
        .json(&json!({"email_address": "x@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("people:write"),
        "{body}"
    );
}
