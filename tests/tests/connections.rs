//! Many teams' connections in PostgreSQL: sealed at rest, refreshed once across processes,
//! released by a killed lock holder, marked `needs_reauth` once when SalesLoft refuses.

use salesloft_auth::connections::{
    Connection, ConnectionError, ConnectionTokens, Encryption, PgConnections, Status,
};
use salesloft_auth::http::OAuthHttp;
use salesloft_auth::seal::Sealer;
use salesloft_auth::{OAuthApp, Session};
use salesloft_mock::{Config, Sandbox, SandboxHandle};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WORKER: &str = env!("CARGO_BIN_EXE_connections_worker");
/// A key made as the README says (`openssl rand -base64 32`); for tests only.
const KEY: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq4k=";
const OTHER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn app(sandbox: &SandboxHandle) -> OAuthApp {
    salesloft_testkit::connections::sandbox_app(sandbox)
}

fn sealed(key: &str) -> Encryption {
    Encryption::Sealed(Box::new(Sealer::new(key, None).unwrap()))
}

async fn connect(sandbox: &SandboxHandle, team: i64) -> Connection {
    salesloft_testkit::connections::approved(sandbox, team).await
}

fn refreshes(sandbox: &SandboxHandle, team: i64) -> usize {
    salesloft_testkit::connections::refresh_requests(sandbox, team).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_refresh_a_refused_token_once() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    sandbox.add_teams(1).unwrap();
    let db = salesloft_testkit::postgres();
    let store = PgConnections::connect(&db.url, sealed(KEY), 2)
        .await
        .unwrap();
    let before = store.save(&connect(&sandbox, 2).await).await.unwrap();

    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 1500;
    let children: Vec<_> = (0..8)
        .map(|_| {
            Command::new(WORKER)
                .args([&db.url, sandbox.api_base_url(), "refresh-rejected", "2"])
                .arg(start.to_string())
                .env("SALESLOFT_TOKEN_KEY", KEY)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let lines: Vec<String> = outputs
        .iter()
        .map(|o| {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        })
        .collect();
    assert!(lines.iter().all(|l| *l == lines[0]), "{lines:?}");
    assert_eq!(
        lines[0].split(' ').next(),
        Some(format!("version={}", before.version + 1).as_str())
    );
    assert_eq!(refreshes(&sandbox, 2), 1, "one refresh for eight processes");
    let after = store.get(2).await.unwrap().unwrap();
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.status, Status::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_lock_holder_releases_the_team_at_once() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let db = salesloft_testkit::postgres();
    let store = PgConnections::connect(&db.url, sealed(KEY), 2)
        .await
        .unwrap();
    let before = store.save(&connect(&sandbox, 1).await).await.unwrap();

    let mut holder = Command::new(WORKER)
        .args([&db.url, sandbox.api_base_url(), "hold-lock", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");

    let (app, http) = (app(&sandbox), OAuthHttp::new().unwrap());
    let rejected = before.credentials.access_token.clone();
    let waiting = {
        let store = store.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = store
                .refresh(
                    1,
                    &app,
                    &http,
                    Some(&rejected),
                    chrono::Duration::seconds(1),
                )
                .await;
            (result, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "the lock is held");
    holder.kill().unwrap();
    holder.wait().unwrap();
    let (result, waited) = waiting.await.unwrap();
    let refreshed = result.unwrap();
    assert_eq!(refreshed.version, before.version + 1);
    assert!(waited < Duration::from_secs(10), "waited {waited:?}");
    assert_eq!(refreshes(&sandbox, 1), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_team_is_marked_once_and_says_to_connect_again() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    sandbox.add_teams(1).unwrap();
    let db = salesloft_testkit::postgres();
    let store = PgConnections::connect(&db.url, sealed(KEY), 2)
        .await
        .unwrap();
    store.save(&connect(&sandbox, 1).await).await.unwrap();
    let revoked = store.save(&connect(&sandbox, 2).await).await.unwrap();
    sandbox.team(2).unwrap().revoke();

    // Through a client, as a product would call the API for the team.
    let tokens = ConnectionTokens::new(store.clone(), 2, app(&sandbox)).unwrap();
    let client = Session::from_token_source(sandbox.api_base_url(), Arc::new(tokens))
        .client()
        .unwrap();
    let error = salesloft_api::ApiError::from(client.get_me().send().await.unwrap_err());
    let message = error.to_string();
    assert!(
        message.contains("team 2") && message.contains("connect"),
        "{message}"
    );
    let marked = store.get(2).await.unwrap().unwrap();
    assert!(
        matches!(marked.status, Status::NeedsReauth(_)),
        "{marked:?}"
    );
    assert_eq!(marked.version, revoked.version);
    let asked = refreshes(&sandbox, 2);
    let again = store
        .refresh(
            2,
            &app(&sandbox),
            &OAuthHttp::new().unwrap(),
            None,
            chrono::Duration::days(1),
        )
        .await;
    assert!(matches!(
        again,
        Err(ConnectionError::NeedsReauth { team: 2, .. })
    ));
    assert_eq!(
        refreshes(&sandbox, 2),
        asked,
        "a marked connection is not refreshed"
    );

    // The other team is untouched, and connecting team 2 again clears the mark.
    assert_eq!(store.get(1).await.unwrap().unwrap().status, Status::Active);
    let reconnected = store.save(&connect(&sandbox, 2).await).await.unwrap();
    assert_eq!(reconnected.status, Status::Active);
    assert_eq!(reconnected.version, revoked.version + 1);
    assert_eq!(reconnected.tenant.as_deref(), Some("tenant-2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_sealed_at_rest_bound_to_their_row_and_rekeyed() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    sandbox.add_teams(1).unwrap();
    let db = salesloft_testkit::postgres();
    let store = PgConnections::connect(&db.url, sealed(KEY), 2)
        .await
        .unwrap();
    let first = store.save(&connect(&sandbox, 1).await).await.unwrap();
    let second = store.save(&connect(&sandbox, 2).await).await.unwrap();
    let secrets = [&first, &second].map(|c| {
        (
            c.credentials.access_token.expose().to_string(),
            c.credentials
                .refresh_token
                .as_ref()
                .unwrap()
                .expose()
                .to_string(),
        )
    });
    // Team 1's webhook callback token: made once, the same for every later ask.
    let callback = store.callback_token(1).await.unwrap().unwrap();
    assert_eq!(
        store.callback_token(1).await.unwrap().unwrap().expose(),
        callback.expose()
    );
    assert!(
        store.callback_token(99).await.unwrap().is_none(),
        "no connection, no token"
    );
    assert!(
        store.stored_callback_token(2).await.unwrap().is_none(),
        "not made yet"
    );

    let dump = db.dump();
    assert!(
        dump.contains("salesloft_connections"),
        "the dump has the table"
    );
    assert!(
        !dump.contains(callback.expose()),
        "a callback token is in the dump"
    );
    for (access, refresh) in &secrets {
        assert!(
            !dump.contains(access.as_str()),
            "an access token is in the dump"
        );
        assert!(
            !dump.contains(refresh.as_str()),
            "a refresh token is in the dump"
        );
    }
    assert!(
        !format!("{first:?}").contains(&secrets[0].0),
        "Debug shows no token"
    );

    // A sealed token copied to another team's row does not open there.
    use sqlx::Connection as _;
    let mut raw = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query(
        "UPDATE salesloft_connections SET access_token = \
         (SELECT access_token FROM salesloft_connections WHERE team_id = 1) WHERE team_id = 2",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    assert!(matches!(
        store.get(2).await,
        Err(ConnectionError::Seal { team: 2, .. })
    ));
    store.save(&connect(&sandbox, 2).await).await.unwrap();

    // Another key opens nothing; the new key with the old one beside it rekeys every row.
    let stranger = PgConnections::connect(&db.url, sealed(OTHER_KEY), 1)
        .await
        .unwrap();
    assert!(matches!(
        stranger.get(1).await,
        Err(ConnectionError::Seal { .. })
    ));
    let rotating = PgConnections::connect(
        &db.url,
        Encryption::Sealed(Box::new(Sealer::new(OTHER_KEY, Some(KEY)).unwrap())),
        1,
    )
    .await
    .unwrap();
    assert_eq!(rotating.rekey().await.unwrap(), 2);
    assert_eq!(rotating.rekey().await.unwrap(), 0, "nothing left to rekey");
    let opened = stranger.get(1).await.unwrap().unwrap();
    assert_eq!(opened.credentials.access_token.expose(), secrets[0].0);
    assert_eq!(
        stranger
            .stored_callback_token(1)
            .await
            .unwrap()
            .unwrap()
            .expose(),
        callback.expose(),
        "the callback token is rekeyed with the others"
    );
    assert!(matches!(
        store.get(1).await,
        Err(ConnectionError::Seal { .. })
    ));

    // Listing opens no token, so it needs no key.
    let listed = PgConnections::connect(&db.url, Encryption::Plaintext, 1)
        .await
        .unwrap()
        .list()
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|c| c.team_id).collect::<Vec<_>>(), [1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_the_store_refuses_to_start_naming_the_variable() {
    let db = salesloft_testkit::postgres();
    let output = Command::new(WORKER)
        .args([&db.url, "http://127.0.0.1:9", "refresh-rejected", "1", "0"])
        .env_remove("SALESLOFT_TOKEN_KEY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("SALESLOFT_TOKEN_KEY"));

    let refused = PgConnections::connect("sqlite:nothing.db", Encryption::Plaintext, 1).await;
    assert!(matches!(refused, Err(ConnectionError::Database(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_refreshers_on_two_machines_renew_each_expiring_team_once() {
    let sandbox = Sandbox::start(Config {
        token_ttl_seconds: 60,
        ..Config::default()
    })
    .await
    .unwrap();
    sandbox.add_teams(5).unwrap();
    let db = salesloft_testkit::postgres();
    let store = PgConnections::connect(&db.url, sealed(KEY), 4)
        .await
        .unwrap();
    for team in 1..=6 {
        store.save(&connect(&sandbox, team).await).await.unwrap();
    }
    let machine = || {
        let store = store.clone();
        let app = app(&sandbox);
        tokio::spawn(async move {
            let http = OAuthHttp::new().unwrap();
            store
                .refresh_due(&app, &http, chrono::Duration::minutes(5), 100)
                .await
                .unwrap()
        })
    };
    let (one, two) = (machine(), machine());
    let (one, two) = (one.await.unwrap(), two.await.unwrap());
    assert_eq!(one.refreshed + two.refreshed, 6, "{one:?} {two:?}");
    assert_eq!(
        one.failed + two.failed + one.needs_reauth + two.needs_reauth,
        0
    );
    for team in 1..=6 {
        assert_eq!(refreshes(&sandbox, team), 1, "team {team}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_share_one_budget_per_team_corrected_by_the_service() {
    let db = salesloft_testkit::postgres();
    let store = PgConnections::connect(&db.url, sealed(KEY), 2)
        .await
        .unwrap();
    // Budgets are per minute: the test keeps within one.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let second_of_minute: f64 =
        sqlx::query_scalar("SELECT mod(extract(epoch FROM clock_timestamp()), 60)::float8")
            .fetch_one(&pool)
            .await
            .unwrap();
    if second_of_minute > 45.0 {
        tokio::time::sleep(Duration::from_secs_f64(61.0 - second_of_minute)).await;
    }
    // Two processes' views of team 7's budget of 20 a minute, and team 8's.
    let first = store.budget(7).with_per_minute(20);
    let second = PgConnections::connect(&db.url, sealed(KEY), 2)
        .await
        .unwrap()
        .budget(7)
        .with_per_minute(20);
    for _ in 0..10 {
        assert_eq!(first.try_take(1).await.unwrap(), None);
        assert_eq!(second.try_take(1).await.unwrap(), None);
    }
    let wait = first
        .try_take(1)
        .await
        .unwrap()
        .expect("20 taken: the minute is spent");
    assert!(
        wait <= Duration::from_secs(61),
        "until the next minute: {wait:?}"
    );
    assert!(second.try_take(1).await.unwrap().is_some());
    assert_eq!(
        store
            .budget(8)
            .with_per_minute(20)
            .try_take(5)
            .await
            .unwrap(),
        None,
        "another team's budget is its own"
    );
    // A share keeps the rest for the team's other integrations.
    let shared = store.budget(9).with_per_minute(20).with_share(0.5);
    for _ in 0..10 {
        assert_eq!(shared.try_take(1).await.unwrap(), None);
    }
    assert!(shared.try_take(1).await.unwrap().is_some());

    // The service's figure is the truth: a client with the shared budget learns that the
    // team's other integrations left 49 of the minute, and a 429 empties it.
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    sandbox.team(1).unwrap().set_rate_limit(50);
    let budget = store.budget(1);
    let client =
        salesloft_api::ClientBuilder::new(Arc::new(salesloft_api::ApiKey::new(sandbox.api_key())))
            .base_url(sandbox.api_base_url())
            .retry_policy(salesloft_api::RetryPolicy::none())
            .shared_budget(Arc::new(budget.clone()))
            .build()
            .unwrap();
    // The correction is written beside the request, not on its path: read until it lands.
    let settled = |want: (i32, i64)| {
        let pool = pool.clone();
        async move {
            let mut seen = (-1, -1);
            for _ in 0..200 {
                seen = sqlx::query_as(
                    "SELECT remaining, rejected_today FROM salesloft_budgets WHERE team_id = 1",
                )
                .fetch_one(&pool)
                .await
                .unwrap();
                if seen == want {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        }
    };
    client.get_me().send().await.unwrap();
    assert_eq!(
        settled((49, 0)).await,
        (49, 0),
        "lowered to what the service said"
    );
    sandbox.team(1).unwrap().set_rate_limit(1);
    let refused = client.get_me().send().await;
    assert!(refused.is_err(), "a 429 without retries");
    assert_eq!(settled((0, 1)).await, (0, 1), "a 429 spends the minute");
    assert!(budget.try_take(1).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_shorter_than_the_margin_is_used_for_half_its_life() {
    // The default margin renews 5 minutes before expiry: a token of 6 s would be renewed on
    // every request (and each refresh is a window in which a killed process loses the team).
    let sandbox = Sandbox::start(Config {
        token_ttl_seconds: 6,
        ..Config::default()
    })
    .await
    .unwrap();
    let db = salesloft_testkit::postgres();
    let store = PgConnections::connect(&db.url, sealed(KEY), 2)
        .await
        .unwrap();
    store.save(&connect(&sandbox, 1).await).await.unwrap();
    let client = store
        .client_builder(1, &app(&sandbox), 1.0)
        .await
        .unwrap()
        .build()
        .unwrap();
    for _ in 0..20 {
        client.get_me().send().await.unwrap();
    }
    assert_eq!(refreshes(&sandbox, 1), 0, "used for its first half");
    tokio::time::sleep(Duration::from_secs(4)).await;
    for _ in 0..20 {
        client.get_me().send().await.unwrap();
    }
    assert_eq!(refreshes(&sandbox, 1), 1, "then renewed once");
    // Every request drew from the team's shared budget.
    let drawn: i64 =
        sqlx::query_scalar("SELECT requests_today FROM salesloft_budgets WHERE team_id = 1")
            .fetch_one(&sqlx::PgPool::connect(&db.url).await.unwrap())
            .await
            .unwrap();
    assert_eq!(drawn, 40);
}
