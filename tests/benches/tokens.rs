//! `cargo xtask bench tokens`: many teams' rotating refresh tokens shared by 8 processes.
//!
//! 100 teams on one sandbox, access tokens of 2 s, a throwaway Postgres, and 8 separate OS
//! processes (as 8 machines of one product) calling `/v2/me` for random teams for 60 s through
//! the Postgres connections store, each running the background refresher too. One process
//! freezes while it holds a team's refresh lock and is SIGKILLed there; two others are killed
//! at random moments; each is started again. One team is revoked (an admin disconnects the app)
//! half way. Prints one `tokens_*` line per figure.

mod common;

use common::{KEY, Said};

use salesloft_auth::connections::{Encryption, PgConnections};
use salesloft_auth::seal::Sealer;
use salesloft_mock::{Config, Sandbox};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WORKER: &str = env!("CARGO_BIN_EXE_connections_worker");
const TEAMS: i64 = 100;
const PROCESSES: usize = 8;
const RUN: Duration = Duration::from_secs(60);
const TOKEN_LIFE_S: i64 = 2;
/// Tokens are renewed this long before they expire (inline and by the refresher).
const MARGIN_MS: i64 = 1000;

fn spawn(
    slot: usize,
    db: &str,
    base: &str,
    left: Duration,
    stall_after: Option<Duration>,
    said: &mpsc::Sender<Said>,
) -> Child {
    let mut command = Command::new(WORKER);
    command
        .args([
            db,
            base,
            "load",
            &TEAMS.to_string(),
            &left.as_secs().max(1).to_string(),
            &MARGIN_MS.to_string(),
        ])
        .env("SALESLOFT_TOKEN_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(after) = stall_after {
        command.env("STALL_ON_LOCK_AFTER_MS", after.as_millis().to_string());
    }
    let mut child = command.spawn().expect("the worker starts");
    common::forward_lines(&mut child, slot, said);
    child
}

/// What one incarnation of a worker reported.
#[derive(Default)]
struct Incarnation {
    requests: u64,
    done: bool,
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let sandbox = Sandbox::start(Config {
        token_ttl_seconds: TOKEN_LIFE_S,
        request_log_capacity: 1_000_000,
        request_log_bytes: 1 << 30,
        ..Config::default()
    })
    .await
    .unwrap();
    sandbox.add_teams(TEAMS as usize - 1).unwrap();
    let db = salesloft_testkit::postgres();
    let store = PgConnections::connect(
        &db.url,
        Encryption::Sealed(Box::new(Sealer::new(KEY, None).unwrap())),
        4,
    )
    .await
    .unwrap();
    for team in 1..=TEAMS {
        let connection = salesloft_testkit::connections::approved(&sandbox, team).await;
        store.save(&connection).await.unwrap();
    }
    let base = sandbox.api_base_url().to_string();

    // Where and when things happen, drawn once.
    let mut random = (std::process::id() as u64) * 2_654_435_761 + 1;
    let mut next = move |bound: u64| {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random % bound
    };
    let revoked = 2 + next(TEAMS as u64 - 1) as i64;
    let stall_after = Duration::from_secs(10 + next(10));
    let mut random_kills: Vec<(Duration, usize)> = (0..2)
        .map(|_| {
            (
                Duration::from_secs(15 + next(35)),
                1 + next(PROCESSES as u64 - 1) as usize,
            )
        })
        .collect();
    random_kills.sort();

    let (said, heard) = mpsc::channel::<Said>();
    let start = Instant::now();
    let mut children: Vec<Child> = (0..PROCESSES)
        .map(|slot| {
            let stall = (slot == 0).then_some(stall_after);
            spawn(slot, &db.url, &base, RUN, stall, &said)
        })
        .collect();
    let mut incarnations: Vec<Vec<Incarnation>> = (0..PROCESSES)
        .map(|_| vec![Incarnation::default()])
        .collect();
    let mut killed = 0;
    let mut killed_holding = 0;
    let mut revoked_at = None;
    let mut waits: Vec<f64> = Vec::new();
    let mut unrecovered = 0;
    let mut unrecovered_examples: Vec<String> = Vec::new();

    loop {
        while let Ok((slot, line)) = heard.try_recv() {
            let current = incarnations[slot].last_mut().unwrap();
            if let Some(n) = field(&line, "requests").and_then(|n| n.parse().ok()) {
                current.requests = n;
            } else if let Some(ms) = field(&line, "wait_ms").and_then(|n| n.parse().ok()) {
                waits.push(ms);
            } else if line.starts_with("fail ") {
                let team: i64 = field(&line, "team")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                if team != revoked || revoked_at.is_none() {
                    unrecovered += 1;
                    if unrecovered_examples.len() < 5 {
                        unrecovered_examples.push(line.clone());
                    }
                }
            } else if line.starts_with("holding ") && !current.done {
                // Frozen with a team's row lock held: killed there, as a machine that died.
                let _ = children[slot].kill();
                let _ = children[slot].wait();
                killed += 1;
                killed_holding += 1;
                current.done = true;
                let left = RUN.saturating_sub(start.elapsed());
                children[slot] = spawn(slot, &db.url, &base, left, None, &said);
                incarnations[slot].push(Incarnation::default());
            } else if line == "done" {
                current.done = true;
            }
        }
        let elapsed = start.elapsed();
        if revoked_at.is_none() && elapsed >= RUN / 2 {
            sandbox.team(revoked).unwrap().revoke();
            revoked_at = Some(elapsed);
        }
        if let Some(&(at, slot)) = random_kills.first()
            && elapsed >= at
        {
            random_kills.remove(0);
            let _ = children[slot].kill();
            let _ = children[slot].wait();
            killed += 1;
            incarnations[slot].last_mut().unwrap().done = true;
            let left = RUN.saturating_sub(start.elapsed());
            children[slot] = spawn(slot, &db.url, &base, left, None, &said);
            incarnations[slot].push(Incarnation::default());
        }
        let all_done = incarnations.iter().all(|i| i.last().unwrap().done);
        if all_done || elapsed > RUN + Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    let run_s = start.elapsed().as_secs_f64().min(RUN.as_secs_f64() + 5.0);

    let requests: u64 = incarnations.iter().flatten().map(|i| i.requests).sum();
    let mut refreshes = 0;
    let mut invalid_grant = 0;
    for team in 1..=TEAMS {
        for status in salesloft_testkit::connections::refresh_requests(&sandbox, team) {
            match status {
                200 => refreshes += 1,
                _ if team == revoked => {}
                _ => invalid_grant += 1,
            }
        }
    }
    let needs_reauth = store
        .list()
        .await
        .unwrap()
        .iter()
        .filter(|c| c.status.name() == "needs_reauth")
        .count();
    let expected =
        TEAMS as f64 * RUN.as_secs_f64() / ((TOKEN_LIFE_S * 1000 - MARGIN_MS) as f64 / 1000.0);
    waits.sort_by(f64::total_cmp);
    let p99 = waits
        .get(((waits.len() as f64 * 0.99) as usize).min(waits.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0);

    for example in &unrecovered_examples {
        eprintln!("unrecovered: {example}");
    }
    eprintln!(
        "(revoked team {revoked} at {:.1} s; one worker frozen and killed holding a lock: {killed_holding}; run {run_s:.1} s)",
        revoked_at.unwrap_or_default().as_secs_f64()
    );
    println!("tokens_teams={TEAMS}");
    println!("tokens_processes={PROCESSES}");
    println!("tokens_killed={killed}");
    println!("tokens_requests={requests}");
    println!("tokens_refreshes={refreshes}");
    println!("tokens_expected_refreshes={expected:.0}");
    println!("tokens_invalid_grant={invalid_grant}");
    println!("tokens_unrecovered={unrecovered}");
    println!("tokens_needs_reauth={needs_reauth}");
    println!("tokens_refresh_p99_ms={p99:.1}");
}
