//! The fleet: many teams of the sandbox mirrored by workers sharing one throwaway Postgres,
//! each team in its own schema; leases fence every write; a team whose connection needs
//! connecting again is skipped and reported.

use salesloft_auth::connections::{Encryption, PgConnections};
use salesloft_auth::seal::Sealer;
use salesloft_mirror::db::Fence;
use salesloft_mirror::fleet::{Fleet, FleetError, FleetOptions, lease};
use salesloft_mirror::{Mirror, MirrorError};
use salesloft_mock::{Config, Sandbox, SandboxHandle};
use sqlx::Row;
use std::collections::BTreeSet;
use std::time::Duration;

const KEY: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq4k=";

fn sealed() -> Encryption {
    Encryption::Sealed(Box::new(Sealer::new(KEY, None).unwrap()))
}

/// A sandbox of `teams` teams, each with a different number of people and notes, every team
/// connected in the store at `url`.
async fn connected_teams(url: &str, teams: i64) -> SandboxHandle {
    let sandbox = Sandbox::start(Config {
        rate_limit_per_minute: 1_000_000,
        ..Config::default()
    })
    .await
    .unwrap();
    sandbox.add_teams(teams as usize - 1).unwrap();
    let store = PgConnections::connect(url, sealed(), 2).await.unwrap();
    for team in 1..=teams {
        let handle = sandbox.team(team).unwrap();
        handle.seed_people(10 * team as usize).unwrap();
        handle
            .seed("notes", 5 * team as usize, 1_000, team as u64)
            .unwrap();
        let connection = salesloft_testkit::connections::approved(&sandbox, team).await;
        store.save(&connection).await.unwrap();
    }
    sandbox
}

fn options(once: bool) -> FleetOptions {
    FleetOptions {
        concurrency: 2,
        interval: Duration::from_secs(3600),
        lease: Duration::from_secs(5),
        poll: Duration::from_millis(100),
        once,
        ..FleetOptions::default()
    }
}

async fn fleet(url: &str, sandbox: &SandboxHandle, options: FleetOptions) -> Fleet {
    Fleet::connect(
        url,
        sealed(),
        salesloft_testkit::connections::sandbox_app(sandbox),
        options,
    )
    .await
    .unwrap()
}

/// The ids of `resource` in team `team`'s schema, deleted rows left out.
async fn ids_in_schema(pool: &sqlx::PgPool, team: i64, table: &str) -> BTreeSet<String> {
    sqlx::query(&format!(
        "SELECT id::text FROM \"team_{team}\".\"{table}\" WHERE \"_deleted_at\" IS NULL"
    ))
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get::<String, _>(0))
    .collect()
}

fn ids_in_sandbox(sandbox: &SandboxHandle, team: i64, resource: &str) -> BTreeSet<String> {
    sandbox
        .team(team)
        .unwrap()
        .records(resource)
        .iter()
        .map(|r| match &r["id"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_mirror_every_team_into_its_own_schema() {
    let db = salesloft_testkit::postgres();
    let sandbox = connected_teams(&db.url, 3).await;
    let (a, b) = (
        fleet(&db.url, &sandbox, options(true)).await,
        fleet(&db.url, &sandbox, options(true)).await,
    );
    assert_ne!(a.owner(), b.owner());
    let (ran_a, ran_b) = tokio::join!(a.run(std::future::pending()), b.run(std::future::pending()));
    let (ran_a, ran_b) = (ran_a.unwrap(), ran_b.unwrap());
    assert_eq!(
        ran_a.runs + ran_b.runs,
        3,
        "each team once: {ran_a:?} {ran_b:?}"
    );
    assert_eq!(ran_a.good_runs + ran_b.good_runs, 3);

    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let tables = salesloft_mirror::schema::tables(salesloft_openapi::SPEC);
    for team in 1..=3 {
        for table in &tables {
            let sandbox_ids = ids_in_sandbox(&sandbox, team, &table.resource);
            let schema_ids = ids_in_schema(&pool, team, &table.table).await;
            assert_eq!(
                schema_ids, sandbox_ids,
                "team {team}, {}: the schema holds the team's records",
                table.resource
            );
        }
    }
    // No record of one team in another's schema (ids are unique across the sandbox's teams).
    let people: Vec<BTreeSet<String>> =
        futures::future::join_all((1..=3).map(|team| ids_in_schema(&pool, team, "sl_people")))
            .await;
    assert!(people[0].is_disjoint(&people[1]) && people[1].is_disjoint(&people[2]));
    assert_eq!(
        people[2].len(),
        sandbox.team(3).unwrap().records("people").len()
    );

    let status = salesloft_mirror::fleet::status(&db.url).await.unwrap();
    assert_eq!(status.len(), 3);
    for team in &status {
        assert_eq!(team.connection, "active");
        assert!(team.last_good_run_at.is_some() && team.lease_holder.is_none());
        assert!(team.rows > 0 && team.last_requests > 0, "{team:?}");
        // Every request for the team drew from its shared budget row.
        let api_requests = sandbox
            .team(team.team_id)
            .unwrap()
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/v2/"))
            .count() as i64;
        assert_eq!(team.requests_today, api_requests, "{team:?}");
        assert!(team.cost_today >= team.requests_today && team.rate_limited_today == 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_lease_was_taken_over_writes_nothing() {
    let db = salesloft_testkit::postgres();
    let sandbox = connected_teams(&db.url, 1).await;
    let worker = fleet(&db.url, &sandbox, options(true)).await;
    let pool = worker.pool().clone();
    lease::enlist(&pool).await.unwrap();

    // A worker claims team 1 and stops renewing (it hangs, or its machine is gone).
    let lease_time = Duration::from_millis(800);
    let stalled = lease::claim(
        &pool,
        "stalled-worker",
        lease_time,
        Duration::from_secs(3600),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(stalled.fence.team, 1);
    let mirror = Mirror::open_fenced(&db.url, stalled.fence.clone())
        .await
        .unwrap();
    let people = mirror.select(&["people".into()], &[]).unwrap().remove(0);
    let record = sandbox.records("people")[0].as_object().unwrap().clone();
    mirror
        .write_rows(&people, std::slice::from_ref(&record))
        .await
        .unwrap();
    assert!(
        lease::claim(&pool, "eager-worker", lease_time, Duration::from_secs(3600))
            .await
            .unwrap()
            .is_none(),
        "a held lease is not claimed"
    );

    // Its lease runs out; another worker takes the team over and mirrors it.
    tokio::time::sleep(lease_time + Duration::from_millis(300)).await;
    let report = worker.run(std::future::pending()).await.unwrap();
    assert_eq!((report.takeovers, report.good_runs), (1, 1));

    // The stalled worker wakes up: its writes are refused, nothing of it lands.
    let mut changed = record.clone();
    changed.insert("first_name".into(), "Stale".into());
    let refused = mirror.write_rows(&people, &[changed]).await;
    assert!(
        matches!(refused, Err(MirrorError::LeaseLost { team: 1 })),
        "{refused:?}"
    );
    let first_names: Vec<String> = sqlx::query("SELECT first_name FROM team_1.sl_people")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .filter_map(|r| r.get::<Option<String>, _>(0))
        .collect();
    assert!(!first_names.iter().any(|n| n == "Stale"));
    // Nor can it renew or release over the new holder.
    assert!(
        !lease::renew(&pool, &stalled.fence, lease_time)
            .await
            .unwrap()
    );
    let status = salesloft_mirror::fleet::status(&db.url).await.unwrap();
    assert_eq!(status[0].takeovers, 1);

    // A fence that never held the lease is refused the same way.
    let forged = Fence {
        team: 1,
        owner: "nobody".into(),
        token: 999,
    };
    let forged_mirror = Mirror::open_fenced(&db.url, forged).await.unwrap();
    assert!(matches!(
        forged_mirror.write_rows(&people, &[record]).await,
        Err(MirrorError::LeaseLost { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_that_needs_connecting_again_is_skipped_and_reported() {
    let db = salesloft_testkit::postgres();
    let sandbox = connected_teams(&db.url, 2).await;
    // An admin of team 2 disconnects the app; the store learns it at the next refresh.
    sandbox.team(2).unwrap().revoke();
    let store = PgConnections::connect(&db.url, sealed(), 1).await.unwrap();
    let app = salesloft_testkit::connections::sandbox_app(&sandbox);
    let http = salesloft_auth::http::OAuthHttp::new().unwrap();
    assert!(
        store
            .refresh(2, &app, &http, None, chrono::Duration::days(1))
            .await
            .is_err()
    );

    let worker = fleet(&db.url, &sandbox, options(true)).await;
    let report = worker.run(std::future::pending()).await.unwrap();
    assert_eq!((report.runs, report.good_runs), (1, 1), "team 1 only");
    let report = worker.run(std::future::pending()).await.unwrap();
    assert_eq!(report.runs, 0, "not retried in a loop");

    let status = salesloft_mirror::fleet::status(&db.url).await.unwrap();
    let team2 = status.iter().find(|t| t.team_id == 2).expect("reported");
    assert_eq!(team2.connection, "needs_reauth");
    assert!(team2.reason.as_deref().unwrap().contains("invalid_grant"));
    assert_eq!((team2.runs, team2.last_good_run_at), (0, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_is_not_postgres_or_is_newer_is_refused() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let app = salesloft_testkit::connections::sandbox_app(&sandbox);
    let refused = Fleet::connect("sqlite:fleet.db", sealed(), app.clone(), options(true)).await;
    assert!(matches!(refused, Err(FleetError::NotPostgres(_))));

    let db = salesloft_testkit::postgres();
    let worker = fleet(&db.url, &sandbox, options(true)).await;
    sqlx::query("INSERT INTO salesloft_fleet.schema_version (version) VALUES (99)")
        .execute(worker.pool())
        .await
        .unwrap();
    let refused = Fleet::connect(&db.url, sealed(), app, options(true)).await;
    let Err(error) = refused else {
        panic!("a newer fleet schema is refused")
    };
    assert!(matches!(error, FleetError::NewerSchema { found: 99, .. }));
    assert!(error.to_string().contains("upgrade"));
}

/// Team `team`'s webhook subscriptions, as its API key sees them.
async fn subscriptions(sandbox: &SandboxHandle, team: i64) -> Vec<serde_json::Value> {
    let answer: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/v2/webhook_subscriptions",
            sandbox.api_base_url()
        ))
        .bearer_auth(sandbox.team(team).unwrap().api_key())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["data"].as_array().cloned().unwrap_or_default()
}

async fn title_in_schema(pool: &sqlx::PgPool, team: i64, id: &str) -> Option<String> {
    sqlx::query_scalar(&format!(
        "SELECT title FROM \"team_{team}\".sl_people WHERE id::text = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .unwrap()
    .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_teams_webhooks_reach_its_own_schema_and_nothing_else() {
    let db = salesloft_testkit::postgres();
    let sandbox = connected_teams(&db.url, 2).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let base = format!("http://{address}/hooks");
    let worker = fleet(
        &db.url,
        &sandbox,
        FleetOptions {
            hooks_url: Some(base.clone()),
            after_webhook: Duration::ZERO,
            ..options(true)
        },
    )
    .await;
    let server = tokio::spawn({
        let worker = worker.clone();
        async move { worker.serve(listener).await }
    });
    worker.run(std::future::pending()).await.unwrap();

    // Each team is subscribed at its own path, with a token of its own.
    let mut tokens = BTreeSet::new();
    for team in 1..=2 {
        let subscribed = subscriptions(&sandbox, team).await;
        assert!(
            subscribed
                .iter()
                .any(|s| s["event_type"] == "person_updated"),
            "team {team}: {subscribed:?}"
        );
        for s in &subscribed {
            assert_eq!(s["callback_url"], format!("{base}/{team}"));
            tokens.insert(s["callback_token"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(tokens.len(), 2, "one token per team");

    // Team 1's schema keeps history (as its one-team mirror would be told to).
    let in_team_1 = format!("{}?options=-c%20search_path%3Dteam_1", db.url);
    let mut team_1 = salesloft_mirror::Mirror::open(&in_team_1, &|_| {})
        .await
        .unwrap();
    team_1.keep_history().await.unwrap();
    drop(team_1);

    // A change in team 1 arrives in team 1's schema, and makes the team due.
    let pool = worker.pool().clone();
    let person = sandbox.team(1).unwrap().records("people")[0]["id"].to_string();
    let changed = reqwest::Client::new()
        .put(format!(
            "{}/v2/people/{person}.json",
            sandbox.api_base_url()
        ))
        .bearer_auth(sandbox.team(1).unwrap().api_key())
        .json(&serde_json::json!({ "title": "Chief Webhook Officer" }))
        .send()
        .await
        .unwrap();
    assert!(changed.status().is_success());
    let mut title = None;
    for _ in 0..200 {
        title = title_in_schema(&pool, 1, &person).await;
        if title.as_deref() == Some("Chief Webhook Officer") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(title.as_deref(), Some("Chief Webhook Officer"));
    assert_eq!(lease::due(&pool).await.unwrap(), 1, "team 1 is due again");
    let versions: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM team_1.sl_people_history WHERE id::text = '{person}' AND title = 'Chief Webhook Officer'"
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(versions, 1, "the delivery is a version in team 1's history");

    // Deliveries that are not team 2's change nothing: team 1's, signed with team 1's token,
    // posted to team 2's path; an unknown team; a wrong signature; a body that is not JSON.
    let store = PgConnections::connect(&db.url, sealed(), 1).await.unwrap();
    let token_1 = store.stored_callback_token(1).await.unwrap().unwrap();
    let mut forged = sandbox.team(1).unwrap().record("people", &person).unwrap();
    forged["title"] = "Forged".into();
    forged["updated_at"] = "2100-01-01T00:00:00.000000Z".into();
    let body = serde_json::to_vec(&forged).unwrap();
    let post = |path: String, body: Vec<u8>, signature: String| async move {
        reqwest::Client::new()
            .post(format!("http://{address}{path}"))
            .header("x-salesloft-event", "person_updated")
            .header("x-salesloft-signature", signature)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let signed = salesloft_api::webhooks::signature(token_1.expose(), &body);
    assert_eq!(
        post("/hooks/2".into(), body.clone(), signed.clone()).await,
        401
    );
    assert_eq!(
        post("/hooks/999".into(), body.clone(), signed.clone()).await,
        404
    );
    assert_eq!(
        post("/hooks/x".into(), body.clone(), signed.clone()).await,
        404
    );
    assert_eq!(
        post("/hooks/1".into(), body.clone(), "00".repeat(20)).await,
        401
    );
    let not_json = b"{not json".to_vec();
    let not_json_signed = salesloft_api::webhooks::signature(token_1.expose(), &not_json);
    assert_eq!(
        post("/hooks/1".into(), not_json, not_json_signed).await,
        400
    );
    assert_eq!(title_in_schema(&pool, 2, &person).await, None);
    assert_eq!(
        title_in_schema(&pool, 1, &person).await.as_deref(),
        Some("Chief Webhook Officer")
    );
    // The same delivery at its own team's path is written.
    assert_eq!(post("/hooks/1".into(), body, signed).await, 200);
    assert_eq!(
        title_in_schema(&pool, 1, &person).await.as_deref(),
        Some("Forged")
    );

    // The metrics say what happened, per team.
    let metrics = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let metrics = metrics.text().await.unwrap();
    for line in [
        "salesloft_fleet_deliveries_total{team=\"1\"} 2",
        "salesloft_fleet_deliveries_total{team=\"2\"} 0",
        "salesloft_fleet_worker_deliveries_applied_total 2",
        "salesloft_fleet_worker_deliveries_refused_total 5",
        "salesloft_fleet_needs_reauth{team=\"2\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert!(metrics.contains("salesloft_fleet_requests_today{team=\"1\"} "));
    assert!(metrics.ends_with("# EOF\n"));

    // Removing team 1's connection takes its subscriptions away first; team 2's stay.
    let app = salesloft_testkit::connections::sandbox_app(&sandbox);
    let removed = salesloft_mirror::fleet::unsubscribe(&db.url, &store, &app, 1)
        .await
        .unwrap();
    assert!(removed > 0);
    assert!(subscriptions(&sandbox, 1).await.is_empty());
    assert!(!subscriptions(&sandbox, 2).await.is_empty());
    assert_eq!(
        salesloft_mirror::fleet::subscribed_at(&db.url, 1)
            .await
            .unwrap(),
        None
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_no_delivery_told_of_is_found_when_the_team_is_reconciled() {
    let db = salesloft_testkit::postgres();
    let sandbox = connected_teams(&db.url, 1).await;
    let hourly = fleet(&db.url, &sandbox, options(true)).await;
    hourly.run(std::future::pending()).await.unwrap();
    let pool = hourly.pool().clone();
    let gone = sandbox.team(1).unwrap().records("people")[0]["id"].to_string();
    assert_eq!(
        salesloft_testkit::delete(&sandbox, &format!("people/{gone}")).await,
        204
    );

    // A run reads what changed: a deletion is not a change it can see.
    hourly.due_now(1).await.unwrap();
    hourly.run(std::future::pending()).await.unwrap();
    assert!(ids_in_schema(&pool, 1, "sl_people").await.contains(&gone));

    // Once the last whole read is older than `reconcile_every`, the run reads whole too.
    let reconciling = fleet(
        &db.url,
        &sandbox,
        FleetOptions {
            reconcile_every: Duration::ZERO,
            ..options(true)
        },
    )
    .await;
    reconciling.due_now(1).await.unwrap();
    reconciling.run(std::future::pending()).await.unwrap();
    assert_eq!(
        ids_in_schema(&pool, 1, "sl_people").await,
        ids_in_sandbox(&sandbox, 1, "people")
    );
    assert!(!ids_in_schema(&pool, 1, "sl_people").await.contains(&gone));
    let reconciled: bool = sqlx::query_scalar(
        "SELECT last_reconcile_at > last_good_run_at - interval '1 minute' \
         FROM salesloft_fleet.teams WHERE team_id = 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(reconciled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_whose_lease_ran_out_is_claimed_before_teams_never_run() {
    let db = salesloft_testkit::postgres();
    let sandbox = connected_teams(&db.url, 3).await;
    let worker = fleet(&db.url, &sandbox, options(true)).await;
    let pool = worker.pool().clone();
    lease::enlist(&pool).await.unwrap();
    let day = Duration::from_secs(86_400);
    let lease_time = Duration::from_millis(500);
    let cut_short = lease::claim(&pool, "killed-worker", lease_time, day)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(lease_time + Duration::from_millis(200)).await;
    // Two teams never run are due as long as it: the cut-short run goes on first.
    let next = lease::claim(&pool, "live-worker", lease_time, day)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.fence.team, cut_short.fence.team);
    assert_eq!(next.taken_from.as_deref(), Some("killed-worker"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_opens_no_token_is_refused_before_anything_is_claimed() {
    let db = salesloft_testkit::postgres();
    let sandbox = connected_teams(&db.url, 2).await;
    let other_key = Encryption::Sealed(Box::new(
        Sealer::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", None).unwrap(),
    ));
    let refused = Fleet::connect(
        &db.url,
        other_key,
        salesloft_testkit::connections::sandbox_app(&sandbox),
        options(true),
    )
    .await;
    let Err(error) = refused else {
        panic!("a key that opens no token is refused")
    };
    assert!(
        matches!(
            error,
            FleetError::Connections(salesloft_auth::connections::ConnectionError::Seal { .. })
        ),
        "{error}"
    );
    assert!(error.to_string().contains("SALESLOFT_TOKEN_KEY"), "{error}");
    // Nothing was claimed or scheduled: the fleet's tables were not even made.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let fleet_tables: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('salesloft_fleet.teams')::text")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(fleet_tables, None);
    // The right key still works.
    fleet(&db.url, &sandbox, options(true))
        .await
        .run(std::future::pending())
        .await
        .unwrap();
}
