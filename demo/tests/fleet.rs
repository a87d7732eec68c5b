//! `salesloft fleet` as an operator runs it: a worker SIGKILLed in the middle of its runs,
//! another taking its teams over when their leases run out, every team's schema ending equal
//! to the sandbox; `fleet status`; bad input in one line.

mod common;

use salesloft_auth::connections::{Encryption, PgConnections};
use salesloft_auth::seal::Sealer;
use sqlx::Row;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const KEY: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq4k=";
const TEAMS: i64 = 3;

fn env(sandbox: &salesloft_mock::SandboxHandle) -> Vec<(&str, &str)> {
    vec![
        ("SALESLOFT_APP_ID", "sandbox-client-id"),
        ("SALESLOFT_APP_SECRET", "sandbox-client-secret"),
        ("SALESLOFT_ACCOUNTS_BASE_URL", sandbox.accounts_base_url()),
        ("SALESLOFT_API_BASE_URL", sandbox.api_base_url()),
        ("SALESLOFT_TOKEN_KEY", KEY),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_teams_are_taken_over_and_end_equal_to_the_sandbox() {
    let sandbox = salesloft_mock::Sandbox::start(salesloft_mock::Config {
        rate_limit_per_minute: 1_000_000,
        ..salesloft_mock::Config::default()
    })
    .await
    .unwrap();
    sandbox.add_teams(TEAMS as usize - 1).unwrap();
    let db = salesloft_testkit::postgres();
    let store = PgConnections::connect(
        &db.url,
        Encryption::Sealed(Box::new(Sealer::new(KEY, None).unwrap())),
        2,
    )
    .await
    .unwrap();
    for team in 1..=TEAMS {
        let handle = sandbox.team(team).unwrap();
        handle.seed_people(300 * team as usize).unwrap();
        // Slow enough that a run is under way when the worker is killed.
        handle.set_latency(Duration::from_millis(40));
        let connection = salesloft_testkit::connections::approved(&sandbox, team).await;
        store.save(&connection).await.unwrap();
    }
    let args = [
        "fleet",
        "--db",
        &db.url,
        "--once",
        "--concurrency",
        "3",
        "--lease",
        "2s",
    ];

    let mut first = common::demo_command(&args, &env(&sandbox)).spawn().unwrap();
    let started = Instant::now();
    loop {
        let status = salesloft_mirror::fleet::status(&db.url).await.unwrap();
        if status.iter().filter(|t| t.lease_holder.is_some()).count() == TEAMS as usize {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the worker claims the teams"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.kill().unwrap(); // SIGKILL, in the middle of its runs
    first.wait().unwrap();

    // The second worker serves the teams' webhooks too, and subscribes each team there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let hooks_url = format!("http://{listen}/hooks");
    let mut with_hooks = args.to_vec();
    with_hooks.extend(["--listen", &listen, "--hooks-url", &hooks_url]);
    let second = common::demo_command(&with_hooks, &env(&sandbox))
        .output()
        .unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let said = String::from_utf8_lossy(&second.stdout);
    assert!(said.contains("3 teams taken over"), "{said}");

    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    for team in 1..=TEAMS {
        let mirrored: BTreeSet<String> = sqlx::query(&format!(
            "SELECT id::text FROM team_{team}.sl_people WHERE _deleted_at IS NULL"
        ))
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
        let expected: BTreeSet<String> = sandbox
            .team(team)
            .unwrap()
            .records("people")
            .iter()
            .map(|p| p["id"].to_string())
            .collect();
        assert_eq!(mirrored, expected, "team {team}");
    }

    let status = common::demo_command(&["fleet", "status", "--db", &db.url, "--json"], &[])
        .output()
        .unwrap();
    assert!(status.status.success());
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    for team in status.as_array().unwrap() {
        assert_eq!(team["takeovers"], 1, "{team}");
        assert!(team["last_good_run_at"].is_string(), "{team}");
        assert!(team["lease_holder"].is_null(), "{team}");
    }
    // Removing a connection takes the team's subscriptions away first.
    let subscribed = sandbox
        .team(1)
        .unwrap()
        .records("webhook_subscriptions")
        .len();
    assert!(subscribed > 0);
    let removed = common::demo_command(
        &["connections", "remove", "1", "--db", &db.url],
        &env(&sandbox),
    )
    .output()
    .unwrap();
    let said = String::from_utf8_lossy(&removed.stdout);
    assert!(
        said.contains(&format!("Removed its {subscribed} webhook subscription(s)")),
        "{said}{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert!(
        sandbox
            .team(1)
            .unwrap()
            .records("webhook_subscriptions")
            .is_empty()
    );
    let text = common::demo_command(&["fleet", "status", "--db", &db.url], &[])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Sandbox Team 3") || text.contains("Team 3"),
        "{text}"
    );
}

/// A command line, its environment, and what its error says.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn bad_input_is_one_line() {
    let cases: [Case; 5] = [
        (
            &["fleet", "--db", "sqlite:fleet.db"],
            &[
                ("SALESLOFT_APP_ID", "id"),
                ("SALESLOFT_APP_SECRET", "secret"),
                ("SALESLOFT_TOKEN_KEY", KEY),
            ],
            "postgres://",
        ),
        (
            &["fleet", "--db", "postgres://nobody@127.0.0.1:1/none"],
            &[],
            "SALESLOFT_APP_ID",
        ),
        (
            &[
                "fleet",
                "--db",
                "postgres://x@127.0.0.1:1/x",
                "--interval",
                "soon",
            ],
            &[],
            "not a duration",
        ),
        (
            &[
                "fleet",
                "--db",
                "postgres://x@127.0.0.1:1/x",
                "--hooks-url",
                "https://fleet.example.com/hooks",
            ],
            &[],
            "give --listen too",
        ),
        (
            &[
                "fleet",
                "--db",
                "postgres://x@127.0.0.1:1/x",
                "--listen",
                "127.0.0.1:0",
                "--hooks-url",
                "ftp://fleet.example.com/hooks",
            ],
            &[],
            "give an http(s) URL",
        ),
    ];
    for (args, env, says) in cases {
        let output = common::demo_command(args, env).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
