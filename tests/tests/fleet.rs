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
        budget_share: 1.0,
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
        "SELECT id FROM \"team_{team}\".\"{table}\" WHERE \"_deleted_at\" IS NULL"
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
    let stalled = lease::claim(&pool, "stalled-worker", lease_time)
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
        lease::claim(&pool, "eager-worker", lease_time)
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
