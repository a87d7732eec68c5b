//! The "Connect SalesLoft" flow a product mounts, against the many-team sandbox and a throwaway
//! Postgres: teams connect under their own id, connecting again clears `needs_reauth`, and
//! every hostile callback is a 400 page that stores nothing.

use salesloft_auth::OAuthApp;
use salesloft_auth::connections::connect::ConnectFlow;
use salesloft_auth::connections::{ConnectionTokens, Encryption, PgConnections};
use salesloft_auth::seal::Sealer;
use salesloft_mock::{Config, Sandbox, SandboxHandle};
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq4k=";
const SUCCESS: &str = "https://product.example/settings/salesloft?connected=1";

struct Product {
    base: String,
    store: PgConnections,
    app: OAuthApp,
    browser: reqwest::Client,
    _db: salesloft_testkit::TestDb,
}

/// A product serving the connect flow on a loopback port, its connections in Postgres.
async fn product(sandbox: &SandboxHandle, state_ttl: Duration) -> Product {
    let db = salesloft_testkit::postgres();
    let key = Sealer::new(KEY, None).unwrap();
    let store = PgConnections::connect(&db.url, Encryption::Sealed(Box::new(key)), 4)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = OAuthApp::new("sandbox-client-id", "sandbox-client-secret")
        .with_accounts_base_url(sandbox.accounts_base_url())
        .with_api_base_url(sandbox.api_base_url())
        .with_redirect_uri(&format!("{base}/salesloft/callback"));
    let router = ConnectFlow::new(app.clone(), Arc::new(store.clone()), SUCCESS)
        .unwrap()
        .state_ttl(state_ttl)
        .router()
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Product {
        base,
        store,
        app,
        browser,
        _db: db,
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_string()
}

/// The cookie `/connect` set (name=value).
fn cookie(response: &reqwest::Response) -> String {
    let set = response.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

/// What the browser holds after SalesLoft's consent page: the callback URL SalesLoft sends it
/// to, and the cookie `/connect` gave it. `team` picks the sandbox team that approves.
async fn consent(product: &Product, tenant: &str, team: i64) -> (String, String) {
    let started = product
        .browser
        .get(format!("{}/connect", product.base))
        .query(&[("tenant", tenant)])
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 303, "{:?}", started.text().await);
    let authorize = location(&started);
    assert!(authorize.contains("code_challenge="), "PKCE: {authorize}");
    let cookie = cookie(&started);
    let consented = product
        .browser
        .get(format!("{authorize}&team={team}"))
        .send()
        .await
        .unwrap();
    assert_eq!(consented.status(), 302);
    (location(&consented), cookie)
}

async fn back(product: &Product, callback: &str, cookie: Option<&str>) -> (u16, String, String) {
    let mut request = product.browser.get(callback);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let to = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, to, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_connect_under_their_own_id_and_connecting_again_clears_needs_reauth() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    sandbox.add_teams(2).unwrap();
    let product = product(&sandbox, Duration::from_secs(600)).await;

    for (tenant, team) in [("acme", 2), ("globex", 3)] {
        let (callback, cookie) = consent(&product, tenant, team).await;
        let (status, to, _) = back(&product, &callback, Some(&cookie)).await;
        assert_eq!(status, 303);
        let to = url::Url::parse(&to).unwrap();
        let pairs: Vec<(String, String)> = to.query_pairs().into_owned().collect();
        assert!(pairs.contains(&("team".into(), team.to_string())), "{to}");
        assert!(pairs.contains(&("tenant".into(), tenant.into())), "{to}");
        assert!(pairs.contains(&("connected".into(), "1".into())), "{to}");
    }
    let listed = product.store.list().await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|c| (
                c.team_id,
                c.tenant.as_deref().unwrap(),
                c.team_name.as_str()
            ))
            .collect::<Vec<_>>(),
        vec![
            (2, "acme", "Sandbox Team 2"),
            (3, "globex", "Sandbox Team 3")
        ]
    );
    assert_eq!(
        listed[0].user_email.as_deref(),
        Some("admin@team2.sandbox.example")
    );

    // Each connection acts for its own team.
    for team in [2, 3] {
        let tokens =
            ConnectionTokens::new(product.store.clone(), team, product.app.clone()).unwrap();
        let client =
            salesloft_api::Client::with_token_source(sandbox.api_base_url(), Arc::new(tokens))
                .unwrap();
        let me = client.get_team().send().await.unwrap().into_inner().data;
        assert_eq!(me.id.unwrap().as_i64(), Some(team));
    }

    // An admin disconnects the app; the next refresh marks the connection; connecting again
    // clears the mark and bumps the version.
    sandbox.team(2).unwrap().revoke();
    let http = salesloft_auth::http::OAuthHttp::new().unwrap();
    let refused = product
        .store
        .refresh(2, &product.app, &http, None, chrono::Duration::days(1))
        .await;
    assert!(refused.is_err());
    let marked = product.store.get(2).await.unwrap().unwrap();
    assert_eq!(marked.status.name(), "needs_reauth");
    let (callback, cookie) = consent(&product, "acme", 2).await;
    assert_eq!(back(&product, &callback, Some(&cookie)).await.0, 303);
    let again = product.store.get(2).await.unwrap().unwrap();
    assert_eq!(again.status.name(), "active");
    assert!(again.version > marked.version);
}

/// The page of a refusal: a 400 (or the status given) whose text says `says`, with nothing
/// from the request echoed unescaped.
fn refused(answer: &(u16, String, String), says: &str) {
    assert_eq!(answer.0, 400, "{}", answer.2);
    assert!(answer.2.contains(says), "{says:?} in {}", answer.2);
    assert!(!answer.2.contains("<script"), "escaped: {}", answer.2);
    assert!(answer.1.is_empty(), "no redirect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_callbacks_get_a_400_page_and_store_nothing() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    sandbox.add_teams(1).unwrap();
    let product = product(&sandbox, Duration::from_secs(2)).await;
    let callback_base = format!("{}/salesloft/callback", product.base);

    // No tenant, or one that is not printable or too long.
    for tenant in ["", "a\u{1b}[2Jb", &"t".repeat(201)] {
        let started = product
            .browser
            .get(format!("{}/connect", product.base))
            .query(&[("tenant", tenant)])
            .send()
            .await
            .unwrap();
        assert_eq!(started.status(), 400);
        assert!(started.headers().get("set-cookie").is_none());
    }

    // No state, an unknown state, a state given twice.
    refused(&back(&product, &callback_base, None).await, "no state");
    refused(
        &back(
            &product,
            &format!("{callback_base}?state=forged&code=x"),
            None,
        )
        .await,
        "was not made here",
    );
    refused(
        &back(&product, &format!("{callback_base}?state=a&state=b"), None).await,
        "twice",
    );

    // A state started in another browser (the attacker's own, planted in a victim's browser).
    let (callback, _) = consent(&product, "acme", 2).await;
    let (_, someone_elses) = consent(&product, "acme", 2).await;
    refused(
        &back(&product, &callback, Some(&someone_elses)).await,
        "another browser",
    );

    // A replay: the first use connects, the second is refused.
    let (callback, cookie) = consent(&product, "acme", 2).await;
    assert_eq!(back(&product, &callback, Some(&cookie)).await.0, 303);
    product.store.remove(2).await.unwrap();
    refused(
        &back(&product, &callback, Some(&cookie)).await,
        "already used",
    );

    // An expired state.
    let (callback, cookie) = consent(&product, "acme", 2).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    refused(&back(&product, &callback, Some(&cookie)).await, "too long");

    // A code SalesLoft does not accept.
    let (callback, cookie) = consent(&product, "acme", 2).await;
    let tampered = callback.replace("code=", "code=x");
    refused(
        &back(&product, &tampered, Some(&cookie)).await,
        "did not accept",
    );

    // SalesLoft's own error, its words shown escaped and printable.
    sandbox.team(2).unwrap().set_approve(false);
    let (callback, cookie) = consent(&product, "acme", 2).await;
    let denied = back(&product, &callback, Some(&cookie)).await;
    refused(&denied, "denied the request");
    sandbox.team(2).unwrap().set_approve(true);
    let (callback, cookie) = consent(&product, "acme", 2).await;
    let state = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let hostile = format!(
        "{callback_base}?state={state}&error=x&error_description=%3Cscript%3Ealert(1)%3C/script%3E%1B%5B2J"
    );
    let page = back(&product, &hostile, Some(&cookie)).await;
    refused(&page, "&lt;script&gt;");
    assert!(!page.2.contains('\u{1b}'));

    assert!(
        product.store.list().await.unwrap().is_empty(),
        "nothing stored"
    );
}
