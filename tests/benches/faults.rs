//! `cargo xtask bench faults`: `salesloft mirror --only people` (the release binary, as a user
//! runs it) of 1,500 people from the sandbox, answers 20 ms late, with faults injected a moment
//! after the run starts: one of each kind (500, 502, 503, 504, a connection dropped mid-body, a
//! body cut short, a body that is not JSON), then a storm of 40 503s at 10 a second. The
//! baseline is the same run without a fault, measured in the same process.
//!
//! Prints per case: `faults_<case>_exit`, `_rows` (live rows in the mirror), `_wrong` (rows
//! missing, extra or stale against the sandbox's records), `_requests` (requests to the
//! people list), `_extra_requests` (over the baseline's) and `_wall_ratio` (wall time over the
//! baseline's).

mod common;

use salesloft_mirror::{Mirror, Table};
use salesloft_mock::{Config, Fault, Sandbox, SandboxHandle};
use std::time::{Duration, Instant};

const PEOPLE: usize = 1_500;

struct Case {
    name: &'static str,
    fault: Option<Fault>,
    /// How many faults, one every 100 ms.
    count: usize,
}

fn cases() -> Vec<Case> {
    let one = |name, fault| Case {
        name,
        fault: Some(fault),
        count: 1,
    };
    let mut cases = vec![Case {
        name: "none",
        fault: None,
        count: 0,
    }];
    for (name, status) in [("500", 500), ("502", 502), ("503", 503), ("504", 504)] {
        cases.push(one(name, Fault::Status { status }));
    }
    cases.push(one("dropped", Fault::DropConnection));
    cases.push(one("cut", Fault::TruncatedBody));
    cases.push(one("malformed", Fault::MalformedBody));
    cases.push(Case {
        name: "storm_40_at_10s",
        fault: Some(Fault::Status { status: 503 }),
        count: 40,
    });
    cases
}

struct Outcome {
    exit: i32,
    rows: usize,
    wrong: usize,
    requests: usize,
    wall: Duration,
}

#[tokio::main]
async fn main() {
    let config = Config {
        rate_limit_per_minute: 1_000_000,
        ..Config::default()
    };
    let sandbox = Sandbox::start(config).await.unwrap();
    salesloft_testkit::only_people(&sandbox, PEOPLE);
    sandbox.set_latency(Duration::from_millis(20));
    let mut baseline: Option<Outcome> = None;
    for case in cases() {
        let outcome = run(&sandbox, &case).await;
        let base = baseline.as_ref().unwrap_or(&outcome);
        let name = case.name;
        println!("faults_{name}_exit={}", outcome.exit);
        println!("faults_{name}_rows={}", outcome.rows);
        println!("faults_{name}_wrong={}", outcome.wrong);
        println!("faults_{name}_requests={}", outcome.requests);
        println!(
            "faults_{name}_extra_requests={}",
            outcome.requests as i64 - base.requests as i64
        );
        println!(
            "faults_{name}_wall_ratio={:.2}",
            outcome.wall.as_secs_f64() / base.wall.as_secs_f64()
        );
        if baseline.is_none() {
            println!("faults_none_wall_ms={}", outcome.wall.as_millis());
            baseline = Some(outcome);
        }
    }
}

async fn run(sandbox: &SandboxHandle, case: &Case) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("faults.db").display());
    sandbox.clear_requests();
    let started = Instant::now();
    let mut child = tokio::process::Command::from(common::mirror_people(sandbox, &db))
        .spawn()
        .expect("the release salesloft binary (cargo xtask bench faults builds it)");
    if let Some(fault) = case.fault {
        // A moment after the start: once the run reads its pages.
        while sandbox.requests().len() < 3 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for _ in 0..case.count {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            sandbox.inject(fault, 1).unwrap();
            if case.count > 1 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let status = child.wait().await.unwrap();
    let wall = started.elapsed();
    let requests = sandbox
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v2/people"))
        .count();
    let (rows, wrong) = rows_and_wrong(sandbox, &db).await;
    Outcome {
        exit: status.code().unwrap_or(-1),
        rows,
        wrong,
        requests,
        wall,
    }
}

/// Live rows in the mirror, and rows missing, extra or stale against the sandbox's people.
async fn rows_and_wrong(sandbox: &SandboxHandle, db: &str) -> (usize, usize) {
    let mirror = Mirror::open_now(db).await.unwrap();
    let tables: Vec<Table> = mirror.select(&["people".to_string()], &[]).unwrap();
    let live = mirror
        .dump(&tables[0])
        .await
        .unwrap()
        .iter()
        .filter(|row| row["_deleted_at"].is_null())
        .count();
    let (missing, extra, stale) = common::compare(sandbox, &mirror, &tables).await;
    (live, missing + extra + stale)
}
