//! `cargo xtask bench fleet`: many teams mirrored by worker processes sharing one PostgreSQL.
//!
//! 200 teams on the many-team sandbox (`FLEET_TEAMS` for fewer), each with data of its own
//! (2,000 people, 200 accounts, 400 memberships, 50 of every other resource), tokens of 60 s,
//! 100 ms latency on every API answer. Worker processes (`fleet_worker`, each a machine of the
//! fleet) mirror every team into the shared database:
//!
//! 1. the first pass with 1 worker, and again (a fresh database) with 4, for throughput;
//! 2. the first pass with 4 workers again (a fresh database), 6 of them SIGKILLed at random
//!    moments, each replaced at once; the teams are subscribed to the fleet's receiver;
//! 3. 2,000 changes and 200 deletions over 50 teams, delivered as webhooks to the receiver,
//!    10% of the delivery attempts dropped;
//! 4. a last pass (every team due, reconciled: read whole, which finds lost deletions);
//!
//! then every team's schema is compared with the team's records in the sandbox. One `fleet_*`
//! line per figure.

mod common;

use common::{KEY, Said};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use salesloft_auth::connections::{Encryption, PgConnections};
use salesloft_auth::seal::Sealer;
use salesloft_mirror::fleet::{Fleet, FleetOptions};
use salesloft_mock::webhooks::WebhookFault;
use salesloft_mock::{Config, Sandbox, SandboxHandle};
use serde_json::json;
use sqlx::Row;
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WORKER: &str = env!("CARGO_BIN_EXE_fleet_worker");
const WORKERS: usize = 4;
/// Teams mirrored at once by each worker.
const CONCURRENCY: usize = 4;
const LEASE: Duration = Duration::from_secs(10);
const KILLS: usize = 6;
const CHANGES: usize = 2_000;
const DELETIONS: usize = 200;
const CHANGED_TEAMS: usize = 50;
const LATENCY: Duration = Duration::from_millis(100);

fn teams() -> i64 {
    std::env::var("FLEET_TEAMS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

fn count_of(resource: &str) -> usize {
    match resource {
        "people" => 2_000,
        "accounts" => 200,
        "cadence_memberships" => 400,
        _ => 50,
    }
}

fn sealed() -> Encryption {
    Encryption::Sealed(Box::new(Sealer::new(KEY, None).unwrap()))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

/// Where and how the workers of a pass run.
struct Plan<'a> {
    db: &'a str,
    base: &'a str,
    /// The receiver's `/hooks` URL the teams are subscribed at, or `-`.
    hooks: &'a str,
    reconcile_s: u64,
}

fn spawn(process: usize, plan: &Plan<'_>, said: &mpsc::Sender<Said>) -> Child {
    let mut child = Command::new(WORKER)
        .args([
            plan.db,
            plan.base,
            &CONCURRENCY.to_string(),
            &LEASE.as_millis().to_string(),
            plan.hooks,
            &plan.reconcile_s.to_string(),
        ])
        .env("SALESLOFT_TOKEN_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the worker starts");
    common::forward_lines(&mut child, process, said);
    child
}

/// One worker slot: its process now, and what it said.
struct Slot {
    child: Child,
    process: usize,
    owner: Option<String>,
    running: bool,
}

/// What a pass measured.
struct Pass {
    seconds: f64,
    killed: usize,
    /// Kill to the first page another worker committed, for each team the killed worker held.
    takeovers_s: Vec<f64>,
}

/// `workers` processes run until no team is due; with `kills`, random workers are SIGKILLed
/// along the way (at moments spread over `expected`) and replaced at once.
async fn pass(
    plan: &Plan<'_>,
    workers: usize,
    kills: usize,
    expected: Duration,
    random: &mut rand::rngs::StdRng,
) -> Pass {
    let pool = sqlx::PgPool::connect(plan.db).await.unwrap();
    let (said, heard) = mpsc::channel::<Said>();
    let started = Instant::now();
    let mut processes = 0;
    let mut slots: Vec<Slot> = (0..workers)
        .map(|_| {
            processes += 1;
            Slot {
                child: spawn(processes, plan, &said),
                process: processes,
                owner: None,
                running: true,
            }
        })
        .collect();
    let mut kill_at: Vec<Duration> = (0..kills)
        .map(|_| expected.mul_f64(random.random_range(0.1..0.8)))
        .collect();
    kill_at.sort();
    let mut killed = 0;
    // Teams held by a killed worker: (team, killed at, that moment as the mirror writes times).
    let mut waiting: Vec<(i64, Instant, String)> = Vec::new();
    let mut takeovers_s = Vec::new();
    loop {
        while let Ok((process, line)) = heard.try_recv() {
            // A killed process's last words are about a slot it no longer has.
            let Some(slot) = slots.iter_mut().find(|s| s.process == process) else {
                continue;
            };
            if let Some(owner) = line.strip_prefix("owner=") {
                slot.owner = Some(owner.to_string());
            } else if line == "exited" {
                slot.running = false;
            }
        }
        let elapsed = started.elapsed();
        if let Some(&at) = kill_at.first()
            && elapsed >= at
        {
            let live: Vec<usize> = (0..workers)
                .filter(|&s| slots[s].running && slots[s].owner.is_some())
                .collect();
            if !live.is_empty() {
                kill_at.remove(0);
                let slot = &mut slots[live[random.random_range(0..live.len())]];
                let owner = slot.owner.take().unwrap_or_default();
                let held: Vec<i64> = sqlx::query_scalar(
                    "SELECT team_id FROM salesloft_fleet.teams \
                     WHERE owner = $1 AND lease_expires_at > clock_timestamp()",
                )
                .bind(&owner)
                .fetch_all(&pool)
                .await
                .unwrap();
                let _ = slot.child.kill(); // SIGKILL
                let _ = slot.child.wait();
                let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
                waiting.extend(
                    held.into_iter()
                        .map(|team| (team, Instant::now(), now.clone())),
                );
                killed += 1;
                processes += 1;
                slot.child = spawn(processes, plan, &said);
                slot.process = processes;
                slot.running = true;
            }
        }
        // A team's takeover ends at the first page committed after the kill.
        let mut still = Vec::new();
        for (team, at, since) in waiting.drain(..) {
            let committed: Option<String> = sqlx::query_scalar(&format!(
                "SELECT max(updated_at) FROM team_{team}._mirror_cursors"
            ))
            .fetch_one(&pool)
            .await
            .unwrap_or(None);
            if committed.is_some_and(|c| c > since) {
                let took = at.elapsed().as_secs_f64();
                if took > LEASE.as_secs_f64() + 5.0 {
                    eprintln!("(team {team}: first commit {took:.1} s after its worker's kill)");
                }
                takeovers_s.push(took);
            } else {
                still.push((team, at, since));
            }
        }
        waiting = still;
        if slots.iter().all(|s| !s.running) {
            break;
        }
        if elapsed > expected * 4 + Duration::from_secs(300) {
            eprintln!("the pass did not end: stopping its workers");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for slot in &mut slots {
        let _ = slot.child.kill();
        let _ = slot.child.wait();
    }
    if !waiting.is_empty() {
        eprintln!(
            "({} held teams saw no commit after their worker's kill)",
            waiting.len()
        );
    }
    Pass {
        seconds: started.elapsed().as_secs_f64(),
        killed,
        takeovers_s,
    }
}

/// A database of its own on the server, with every team connected (a fresh authorization each:
/// every database's workers rotate their own refresh tokens).
async fn database(server: &str, name: &str, sandbox: &SandboxHandle) -> String {
    let admin = sqlx::PgPool::connect(server).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let url = format!("{}/{name}", server.rsplit_once('/').unwrap().0);
    let store = PgConnections::connect(&url, sealed(), 4).await.unwrap();
    for team in 1..=teams() {
        let connection = salesloft_testkit::connections::approved(sandbox, team).await;
        store.save(&connection).await.unwrap();
    }
    url
}

/// Requests the sandbox logged for every team since they were last cleared: mirror reads,
/// subscription management, OAuth token requests that failed with `invalid_grant`, 429s.
#[derive(Default)]
struct Logged {
    reads: usize,
    subscriptions: usize,
    invalid_grant: usize,
    too_many: usize,
}

fn logged(sandbox: &SandboxHandle) -> Logged {
    let mut seen = Logged::default();
    for team in 1..=teams() {
        for r in sandbox.team(team).unwrap().requests() {
            if r.path.contains("/oauth/token") {
                seen.invalid_grant += usize::from(r.status == 400);
                continue;
            }
            seen.too_many += usize::from(r.status == 429);
            if r.path.starts_with("/v2/webhook_subscriptions") && r.method != "GET" {
                seen.subscriptions += 1;
            } else if r.path.starts_with("/v2/") {
                seen.reads += 1;
            }
        }
    }
    seen
}

fn clear_logs(sandbox: &SandboxHandle) {
    for team in 1..=teams() {
        sandbox.team(team).unwrap().clear_requests();
    }
}

async fn run() {
    let teams = teams();
    let sandbox = Sandbox::start(Config {
        token_ttl_seconds: 60,
        request_log_capacity: 5_000_000,
        request_log_bytes: 1 << 31,
        ..Config::default()
    })
    .await
    .unwrap();
    sandbox.add_teams(teams as usize - 1).unwrap();
    let mut resources = sandbox.resources();
    resources.sort_by_key(|r| r != "people");
    for team in 1..=teams {
        let handle = sandbox.team(team).unwrap();
        for resource in &resources {
            handle
                .seed(resource, count_of(resource), 1_000, team as u64)
                .unwrap();
        }
        handle.set_latency(LATENCY);
    }
    // The sum of the teams' one-team floors: ceil(N/100)+1 pages per resource.
    let floor: usize = (1..=teams)
        .map(|team| {
            let handle = sandbox.team(team).unwrap();
            resources
                .iter()
                .map(|r| handle.records(r).len().div_ceil(100) + 1)
                .sum::<usize>()
        })
        .sum();
    let base = sandbox.api_base_url().to_string();
    let server = salesloft_testkit::postgres();
    let mut random = rand::rngs::StdRng::seed_from_u64(29);
    let mut invalid_grant = 0;
    let mut too_many = 0;

    // 1. Throughput: the first pass with 1 worker, then with 4.
    let one = database(&server.url, "one_worker", &sandbox).await;
    clear_logs(&sandbox);
    let plan = |db| Plan {
        db,
        base: &base,
        hooks: "-",
        reconcile_s: 86_400,
    };
    let single = pass(&plan(&one), 1, 0, Duration::from_secs(600), &mut random).await;
    let seen = logged(&sandbox);
    (invalid_grant, too_many) = (invalid_grant + seen.invalid_grant, too_many + seen.too_many);
    let four = database(&server.url, "four_workers", &sandbox).await;
    clear_logs(&sandbox);
    let quad = pass(
        &plan(&four),
        WORKERS,
        0,
        Duration::from_secs(600),
        &mut random,
    )
    .await;
    let seen = logged(&sandbox);
    (invalid_grant, too_many) = (invalid_grant + seen.invalid_grant, too_many + seen.too_many);
    eprintln!(
        "(first pass: 1 worker {:.1} s, {WORKERS} workers {:.1} s)",
        single.seconds, quad.seconds
    );

    // 2. The first pass again, with kills, the teams subscribed to the fleet's receiver.
    let fleet_db = database(&server.url, "fleet", &sandbox).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hooks = format!("http://{}/hooks", listener.local_addr().unwrap());
    let receiver = Fleet::connect(
        &fleet_db,
        sealed(),
        salesloft_testkit::connections::sandbox_app(&sandbox),
        FleetOptions {
            after_webhook: Duration::from_secs(5),
            ..FleetOptions::default()
        },
    )
    .await
    .unwrap();
    let serving = tokio::spawn({
        let receiver = receiver.clone();
        async move { receiver.serve(listener).await }
    });
    clear_logs(&sandbox);
    let expected = Duration::from_secs_f64(quad.seconds);
    let subscribing = Plan {
        db: &fleet_db,
        base: &base,
        hooks: &hooks,
        reconcile_s: 86_400,
    };
    let killing = pass(&subscribing, WORKERS, KILLS, expected, &mut random).await;
    let first = logged(&sandbox);
    (invalid_grant, too_many) = (
        invalid_grant + first.invalid_grant,
        too_many + first.too_many,
    );

    // 3. Changes and deletions over 50 teams, delivered as webhooks, 10% of attempts dropped.
    let mut changed_teams: Vec<i64> = (1..=teams).collect();
    changed_teams.shuffle(&mut random);
    changed_teams.truncate(CHANGED_TEAMS.min(teams as usize));
    let weighted: Vec<&String> = resources
        .iter()
        .filter(|r| *r != "webhook_subscriptions")
        .flat_map(|r| std::iter::repeat_n(r, count_of(r) / 50))
        .collect();
    let mut dropped = 0;
    for n in 0..CHANGES {
        let team = sandbox
            .team(changed_teams[n % changed_teams.len()])
            .unwrap();
        let resource = weighted[random.random_range(0..weighted.len())];
        let records = team.records(resource);
        let id = &records[random.random_range(0..records.len())]["id"];
        let shown = id.as_str().map_or_else(|| id.to_string(), str::to_string);
        if random.random_bool(0.1) {
            team.inject_webhook_fault(WebhookFault::Drop, 1).unwrap();
            dropped += 1;
        }
        let fields = json!({ "bench_change": n }).as_object().cloned().unwrap();
        team.patch_record(resource, &shown, fields).unwrap();
    }
    let http = reqwest::Client::new();
    let deletable = ["people", "accounts", "notes"];
    let mut deleted = 0;
    while deleted < DELETIONS {
        let team = sandbox
            .team(changed_teams[deleted % changed_teams.len()])
            .unwrap();
        let resource = deletable[deleted % deletable.len()];
        let records = team.records(resource);
        let id = records[random.random_range(0..records.len())]["id"].to_string();
        if random.random_bool(0.1) {
            team.inject_webhook_fault(WebhookFault::Drop, 1).unwrap();
            dropped += 1;
        }
        let status = http
            .delete(format!("{base}/v2/{resource}/{id}.json"))
            .bearer_auth(team.api_key())
            .send()
            .await
            .unwrap()
            .status();
        deleted += usize::from(status.as_u16() == 204);
    }
    // The deliveries that were not dropped arrive; the dropped ones are sent again 15 s later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let applied_before_last_pass: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(deliveries), 0)::bigint FROM salesloft_fleet.teams",
    )
    .fetch_one(receiver.pool())
    .await
    .unwrap();

    // 4. The last pass: every team due, read whole.
    sqlx::query("UPDATE salesloft_fleet.teams SET next_run_at = clock_timestamp()")
        .execute(receiver.pool())
        .await
        .unwrap();
    clear_logs(&sandbox);
    let reconciling = Plan {
        reconcile_s: 0,
        ..subscribing
    };
    let last = pass(&reconciling, WORKERS, 0, expected, &mut random).await;
    let last_seen = logged(&sandbox);
    (invalid_grant, too_many) = (
        invalid_grant + last_seen.invalid_grant,
        too_many + last_seen.too_many,
    );
    // Deliveries sent again meanwhile land (each no newer than what the pass read).
    for _ in 0..100 {
        let pending: usize = changed_teams
            .iter()
            .map(|t| sandbox.team(*t).unwrap().webhooks_pending())
            .sum();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    serving.abort();

    // Every team's schema against the sandbox's records.
    let (missing, extra, stale, cross_team) = compare_all(&sandbox, &fleet_db, &resources).await;
    let needs_reauth = PgConnections::connect(&fleet_db, sealed(), 1)
        .await
        .unwrap()
        .list()
        .await
        .unwrap()
        .iter()
        .filter(|c| c.status.name() != "active")
        .count();
    let takeover_max = killing.takeovers_s.iter().copied().fold(0.0, f64::max);
    eprintln!(
        "(kill pass {:.1} s, {} takeovers timed; last pass {:.1} s, {} reads; {} deliveries written before it; {needs_reauth} connections not active)",
        killing.seconds,
        killing.takeovers_s.len(),
        last.seconds,
        last_seen.reads,
        applied_before_last_pass,
    );
    println!("fleet_teams={teams}");
    println!("fleet_workers={WORKERS}");
    println!("fleet_concurrency={CONCURRENCY}");
    println!("fleet_killed={}", killing.killed);
    println!("fleet_missing={missing}");
    println!("fleet_extra={extra}");
    println!("fleet_stale={stale}");
    println!("fleet_cross_team={cross_team}");
    println!("fleet_invalid_grant={invalid_grant}");
    println!("fleet_429={too_many}");
    println!("fleet_requests={}", first.reads);
    println!("fleet_floor={floor}");
    println!("fleet_subscription_requests={}", first.subscriptions);
    println!("fleet_deliveries_dropped={dropped}");
    println!("fleet_lease_s={}", LEASE.as_secs());
    println!("fleet_takeover_max_s={takeover_max:.1}");
    println!(
        "fleet_teams_per_minute_1={:.1}",
        teams as f64 / single.seconds * 60.0
    );
    println!(
        "fleet_teams_per_minute_4={:.1}",
        teams as f64 / quad.seconds * 60.0
    );
}

/// Rows missing from, extra in, and stale in each team's schema, and rows of one team found
/// in another's.
async fn compare_all(
    sandbox: &SandboxHandle,
    url: &str,
    resources: &[String],
) -> (usize, usize, usize, usize) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let tables = salesloft_mirror::schema::tables(salesloft_openapi::SPEC);
    let (mut missing, mut extra, mut stale, mut cross) = (0, 0, 0, 0);
    for table in tables.iter().filter(|t| resources.contains(&t.resource)) {
        // Every team's truth for the resource, and which team each id is.
        let mut truth: HashMap<i64, HashMap<String, Option<String>>> = HashMap::new();
        let mut team_of: HashMap<String, i64> = HashMap::new();
        for team in 1..=teams() {
            let records = sandbox.team(team).unwrap().records(&table.resource);
            let mine = truth.entry(team).or_default();
            for r in records {
                let id = salesloft_mirror::db::text_of(&r["id"]).unwrap_or_default();
                let at = r["updated_at"].as_str().and_then(salesloft_mirror::db::utc);
                team_of.insert(id.clone(), team);
                mine.insert(id, at);
            }
        }
        for team in 1..=teams() {
            let rows = sqlx::query(&format!(
                "SELECT id::text, to_char(\"_updated_utc\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM team_{team}.\"{}\" WHERE \"_deleted_at\" IS NULL",
                table.table
            ))
            .fetch_all(&pool)
            .await
            .unwrap();
            let mine = &truth[&team];
            let mut present = HashSet::new();
            for row in rows {
                let id: String = row.get(0);
                let at: Option<String> = row.get(1);
                match mine.get(&id) {
                    Some(truth_at) => stale += usize::from(*truth_at != at),
                    None => {
                        extra += 1;
                        cross += usize::from(team_of.get(&id).is_some_and(|t| *t != team));
                    }
                }
                present.insert(id);
            }
            missing += mine.keys().filter(|id| !present.contains(*id)).count();
        }
    }
    (missing, extra, stale, cross)
}
