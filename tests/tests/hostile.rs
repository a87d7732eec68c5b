//! Hostile input against the login's callback server and the sandbox: each test is a probe
//! an attacker on the same machine (or a hostile network peer) would try, and what must hold.

use demo::sandbox::{app as sandbox_app, browser};
use salesloft_auth::{AuthError, CallbackKind, LoginOptions, MemoryStore};
use salesloft_mock::{Config, Sandbox, SandboxHandle};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn http() -> reqwest::Client {
    browser(None)
}

async fn admin(sandbox: &SandboxHandle, path: &str, body: Value) -> (u16, Value) {
    let response = http()
        .post(format!("{}/__admin/{path}", sandbox.api_base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn api(sandbox: &SandboxHandle, method: reqwest::Method, path: &str) -> reqwest::Response {
    http()
        .request(method, format!("{}{path}", sandbox.api_base_url()))
        .bearer_auth(sandbox.api_key())
        .send()
        .await
        .unwrap()
}

async fn send_json(
    sandbox: &SandboxHandle,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let response = http()
        .request(method, format!("{}{path}", sandbox.api_base_url()))
        .bearer_auth(sandbox.api_key())
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Logs in through a loopback callback server whose redirect the "browser" rewrites; returns
/// the login's outcome and the page the browser was shown.
async fn login_with(rewrite: fn(String) -> String) -> (Result<(), AuthError>, String) {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let store = MemoryStore::default();
    let options = LoginOptions {
        open_browser: false,
        timeout: Duration::from_secs(20),
        ..LoginOptions::loopback()
    };
    let (page_sender, page) = tokio::sync::oneshot::channel();
    let mut page_sender = Some(page_sender);
    let result = salesloft_auth::login(&sandbox_app(&sandbox), &store, &options, |url| {
        let url = url.to_string();
        let sender = page_sender.take().unwrap();
        tokio::spawn(async move {
            let http = http();
            let redirect = http.get(&url).send().await.unwrap();
            let location = redirect.headers()["location"].to_str().unwrap().to_string();
            let shown = http.get(rewrite(location)).send().await.unwrap();
            let _ = sender.send(shown.text().await.unwrap_or_default());
        });
    })
    .await
    .map(|_| ());
    (result, page.await.unwrap_or_default())
}

// 1. The TLS handshake of one idle connection must not hold up the login page.
#[tokio::test]
async fn idle_connections_do_not_block_the_https_callback_server() {
    const PORT: u16 = 18444;
    let redirect = format!("https://localhost:{PORT}/auth/salesloft/callback");
    let config = Config {
        redirect_uris: vec![redirect],
        ..Config::default()
    };
    let sandbox = Sandbox::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = LoginOptions {
        callback: CallbackKind::Https {
            port: PORT,
            cert_dir: dir.path().to_path_buf(),
        },
        timeout: Duration::from_secs(30),
        open_browser: false,
        sign_in_page: false,
    };
    let cert = salesloft_auth::CallbackServer::bind(options.callback.clone())
        .await
        .unwrap()
        .certificate_pem()
        .unwrap()
        .to_string();
    let app = sandbox_app(&sandbox);
    let store = MemoryStore::default();
    let login = salesloft_auth::login(&app, &store, &options, |url| {
        let (url, cert) = (url.to_string(), cert.clone());
        tokio::spawn(async move {
            // Three connections that never start a handshake, opened first.
            let mut idle = Vec::new();
            for _ in 0..3 {
                idle.push(
                    tokio::net::TcpStream::connect(("127.0.0.1", PORT))
                        .await
                        .unwrap(),
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            demo::sandbox::follow_authorization(url, browser(Some(&cert)), |l| l).await;
            drop(idle);
        });
    });
    // Before the fix each idle connection held the accept loop for its 10 s handshake timeout.
    let result = tokio::time::timeout(Duration::from_secs(8), login).await;
    assert!(
        matches!(result, Ok(Ok(_))),
        "the login finished despite idle connections: {result:?}"
    );
}

// 2. The state is checked before anything else the callback says, and what it says reaches
// the terminal without control characters.
#[tokio::test]
async fn a_callback_error_with_a_wrong_state_is_a_state_mismatch() {
    let (result, _) = login_with(|location| {
        let query = location.split_once('?').unwrap().0;
        format!("{query}?error=access_denied&error_description=%1b%5b2J&state=forged")
    })
    .await;
    assert!(
        matches!(result, Err(AuthError::StateMismatch)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_callback_error_reaches_the_terminal_without_control_characters() {
    let (result, page) = login_with(|location| {
        let state = location.split("state=").nth(1).unwrap().to_string();
        let base = location.split_once('?').unwrap().0;
        format!(
            "{base}?error=access_denied&error_description=%1b%5b2J%1b%5d0%3Bowned%07%0dauthorized+OK&state={state}"
        )
    })
    .await;
    let Err(err) = result else {
        panic!("a denied login is an error")
    };
    assert!(matches!(err, AuthError::Denied(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        !text.chars().any(|c| c.is_control()),
        "no control character in {text:?}"
    );
    let printed = demo::error::DemoError::from(err).one_line();
    assert!(!printed.chars().any(|c| c.is_control()), "{printed:?}");
    assert!(page.contains("Authorization denied"), "{page}");
}

// 3. A bogus code: the page tells the outcome of the exchange, and the error names the code.
#[tokio::test]
async fn the_page_answers_after_the_code_exchange_with_its_outcome() {
    let (result, page) = login_with(|location| {
        let (before, after) = location.split_once("code=").unwrap();
        let rest = after.split_once('&').map_or("", |(_, rest)| rest);
        format!("{before}code=bogus&{rest}")
    })
    .await;
    assert!(
        matches!(result, Err(AuthError::CodeRefused(_))),
        "{result:?}"
    );
    assert!(
        result
            .unwrap_err()
            .to_string()
            .contains("authorization code"),
        "the message names the authorization code"
    );
    assert!(
        page.contains("Login failed") && !page.contains("Signed in"),
        "{page}"
    );

    let (result, page) = login_with(|l| l).await;
    assert!(result.is_ok(), "{result:?}");
    assert!(page.contains("Signed in"), "{page}");
}

// 4. Out-of-range admin input gets 400 and leaves the sandbox serving.
#[tokio::test]
async fn out_of_range_admin_input_is_refused_and_the_sandbox_keeps_serving() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    for (path, body) in [
        ("clock", json!({"advance_seconds": 9_000_000_000_000i64})),
        ("clock", json!({"advance_seconds": i64::MAX})),
        ("clock", json!({"advance_millis": i64::MIN})),
        (
            "faults",
            json!({"fault": {"kind": "truncated_body"}, "count": u64::MAX}),
        ),
        (
            "faults",
            json!({"fault": {"kind": "status", "status": 70000}}),
        ),
        (
            "seed_people",
            json!({"count": 10, "spread_micros": i64::MAX}),
        ),
        ("seed_people", json!({"count": u64::MAX})),
        ("latency", json!({"millis": u64::MAX})),
        ("clock", json!("not an object")),
    ] {
        let (status, answer) = admin(&sandbox, path, body.clone()).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    assert_eq!(
        api(&sandbox, reqwest::Method::GET, "/v2/me.json")
            .await
            .status(),
        200
    );
    let (status, _) = send_json(
        &sandbox,
        reqwest::Method::POST,
        "/v2/people.json",
        json!({"email_address": "after@example.com"}),
    )
    .await;
    assert_eq!(status, 200, "no fault was left pending");
}

// 5. The request log: bounded by bytes, secrets redacted, optionally guarded.
#[tokio::test]
async fn the_request_log_is_bounded_and_keeps_no_secrets() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let big = "x".repeat(1_900_000);
    for _ in 0..40 {
        let _ = http()
            .post(format!("{}/v2/people.json", sandbox.api_base_url()))
            .body(big.clone())
            .send()
            .await
            .unwrap();
    }
    let log = http()
        .get(format!("{}/__admin/requests", sandbox.api_base_url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(log.len() < 2_000_000, "the log is {} bytes", log.len());

    let refresh = "rt_secret_value_123";
    let _ = http()
        .post(format!("{}/oauth/token", sandbox.accounts_base_url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "sandbox-client-id"),
            ("client_secret", "sandbox-client-secret"),
            ("code_verifier", "verifier_value_456"),
        ])
        .send()
        .await
        .unwrap();
    let text = serde_json::to_string(&sandbox.requests()).unwrap();
    for secret in [
        refresh,
        "sandbox-client-secret",
        "verifier_value_456",
        &sandbox.api_key(),
    ] {
        assert!(!text.contains(secret), "{secret} is in the log");
    }
    assert!(text.contains("grant_type=refresh_token"));

    let guarded = Sandbox::start(Config {
        admin_token: Some("admin-secret".into()),
        ..Config::default()
    })
    .await
    .unwrap();
    let url = format!("{}/__admin/requests", guarded.api_base_url());
    assert_eq!(http().get(&url).send().await.unwrap().status(), 401);
    let allowed = http()
        .get(&url)
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
}

// 6. Idle and half-sent requests are timed out.
#[tokio::test]
async fn idle_and_half_sent_requests_are_timed_out() {
    let sandbox = Sandbox::start(Config {
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        ..Config::default()
    })
    .await
    .unwrap();
    let address = sandbox
        .api_base_url()
        .trim_start_matches("http://")
        .to_string();
    let closed = |mut stream: tokio::net::TcpStream| async move {
        let mut buffer = Vec::new();
        // The server closes (perhaps after an error answer): the read ends.
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buffer))
            .await
            .is_ok()
    };
    let idle = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut half_headers = tokio::net::TcpStream::connect(&address).await.unwrap();
    half_headers
        .write_all(b"GET /v2/me.json HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut half_body = tokio::net::TcpStream::connect(&address).await.unwrap();
    half_body
        .write_all(b"POST /v2/people.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"em")
        .await
        .unwrap();
    assert!(closed(idle).await, "an idle connection is closed");
    assert!(
        closed(half_headers).await,
        "half-sent headers are timed out"
    );
    assert!(closed(half_body).await, "a half-sent body is timed out");
}

// 7. The uniqueness and validity the service enforces.
#[tokio::test]
async fn emails_and_domains_are_unique_as_the_service_compares_them() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let post = reqwest::Method::POST;
    for taken in [
        " grace@acme.test",
        "Grace@Acme.TEST",
        "grace@acme.test\t",
        "grace@acme.test\n",
    ] {
        let (status, body) = send_json(
            &sandbox,
            post.clone(),
            "/v2/people.json",
            json!({"email_address": taken}),
        )
        .await;
        assert_eq!(
            (status, &body),
            (
                422,
                &json!({"errors": {"email_address": ["is already taken"]}})
            ),
            "{taken:?}"
        );
    }
    for invalid in ["not-an-email", "@", "a@b", "a b@c.d"] {
        let (status, body) = send_json(
            &sandbox,
            post.clone(),
            "/v2/people.json",
            json!({"email_address": invalid}),
        )
        .await;
        assert_eq!(status, 422, "{invalid:?}: {body}");
        assert_eq!(body["errors"]["email_address"][0], "is invalid");
    }
    let (status, created) = send_json(
        &sandbox,
        post.clone(),
        "/v2/people.json",
        json!({"email_address": "  New@Example.com "}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(created["data"]["email_address"], "New@Example.com");
    let id = created["data"]["id"].as_i64().unwrap();
    let put = reqwest::Method::PUT;
    let path = format!("/v2/people/{id}.json");
    for (body, field) in [
        (
            json!({"email_address": "ada@example.com"}),
            "is already taken",
        ),
        (json!({"email_address": "not-an-email"}), "is invalid"),
        (
            json!({"email_address": null, "phone": null, "last_name": null}),
            "can't be blank (or give phone and last_name)",
        ),
    ] {
        let (status, answer) = send_json(&sandbox, put.clone(), &path, body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["errors"]["email_address"][0], field);
    }
    let kept = sandbox.record("people", id).unwrap();
    assert_eq!(
        kept["email_address"], "New@Example.com",
        "a refused update changes nothing"
    );

    for domain in [" example.com", "example.com.", "EXAMPLE.com"] {
        let (status, body) = send_json(
            &sandbox,
            post.clone(),
            "/v2/accounts.json",
            json!({"name": "Again", "domain": domain}),
        )
        .await;
        assert_eq!(
            (status, &body),
            (
                422,
                &json!({"errors": {"domain": ["has already been taken"]}})
            ),
            "{domain:?}"
        );
    }
}

// 8. OAuth by RFC 6749.
#[tokio::test]
async fn token_requests_follow_rfc_6749() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let token_url = format!("{}/oauth/token", sandbox.accounts_base_url());
    let repeated = http()
        .post(&token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=sandbox-client-id&client_secret=wrong&client_secret=sandbox-client-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(repeated.status(), 400);
    let body: Value = repeated.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    let repeated_json = http()
        .post(&token_url)
        .header("content-type", "application/json")
        .body(r#"{"grant_type":"client_credentials","client_id":"sandbox-client-id","client_secret":"x","client_secret":"sandbox-client-secret"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(repeated_json.status(), 400);
    for malformed in [&b"{not json"[..], b"[1,2]", b"\xff\xfe=\xff"] {
        let answer = http()
            .post(&token_url)
            .header("content-type", "application/json")
            .body(malformed.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{body}");
        assert!(body["error_description"].is_string());
    }

    let authorize = format!(
        "{}/oauth/authorize?client_id=sandbox-client-id&response_type=code&state=s&redirect_uri={}",
        sandbox.accounts_base_url(),
        url::form_urlencoded::byte_serialize(b"http://127.0.0.1:9999/cb?code=attacker")
            .collect::<String>()
    );
    let answer = http().get(authorize).send().await.unwrap();
    assert_eq!(
        answer.status(),
        400,
        "a redirect URI carrying `code` is refused"
    );
    assert!(answer.headers().get("location").is_none());
}

// 9. Methods.
#[tokio::test]
async fn a_wrong_method_gets_405_with_allow_and_head_works() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let wrong = api(&sandbox, reqwest::Method::PATCH, "/v2/me.json").await;
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.headers()["allow"], "GET, HEAD");
    let wrong = api(&sandbox, reqwest::Method::POST, "/v2/people/1.json").await;
    assert_eq!(wrong.status(), 405);
    let allow = wrong.headers()["allow"].to_str().unwrap().to_string();
    assert!(allow.contains("PUT") && allow.contains("DELETE"), "{allow}");
    let head = api(&sandbox, reqwest::Method::HEAD, "/v2/people/1.json").await;
    assert_eq!(head.status(), 200);
    assert!(head.headers().contains_key("x-ratelimit-remaining-minute"));
    assert!(head.bytes().await.unwrap().is_empty(), "HEAD has no body");
}

// Malformed, oversized and racing requests: never a 5xx, never a duplicate.
#[tokio::test]
async fn malformed_oversized_and_racing_requests_hold() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let url = format!("{}/v2/people.json", sandbox.api_base_url());
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies: Vec<(Vec<u8>, u16)> = vec![
        (deep.into_bytes(), 400),
        (b"\xff\xfe\xfd".to_vec(), 400),
        (b"{\"email_address\": 5e999}".to_vec(), 400),
        (vec![b' '; 3 * 1024 * 1024], 413),
        (b"{\"email_address\": {\"nested\": true}}".to_vec(), 422),
    ];
    for (body, expected) in bodies {
        let answer = http()
            .post(&url)
            .bearer_auth(sandbox.api_key())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), expected);
    }
    let creates = (0..40).map(|_| {
        send_json(
            &sandbox,
            reqwest::Method::POST,
            "/v2/people.json",
            json!({"email_address": "race@example.com"}),
        )
    });
    let answers = futures::future::join_all(creates).await;
    assert_eq!(answers.iter().filter(|(s, _)| *s == 200).count(), 1);
    assert!(answers.iter().all(|(s, _)| *s == 200 || *s == 422));
    let everyone = sandbox.records("people");
    let racers = everyone
        .iter()
        .filter(|p| p["email_address"] == "race@example.com")
        .count();
    assert_eq!(racers, 1);
}

// The sandbox accepts a membership's ids as the documented query parameters, and in a body.
#[tokio::test]
async fn memberships_take_their_ids_from_the_query_or_a_body() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let by_query = api(
        &sandbox,
        reqwest::Method::POST,
        "/v2/cadence_memberships.json?person_id=1&cadence_id=1",
    )
    .await;
    assert_eq!(by_query.status(), 200);
    let (status, body) = send_json(
        &sandbox,
        reqwest::Method::POST,
        "/v2/cadence_memberships.json",
        json!({"person_id": 2, "cadence_id": 1}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
