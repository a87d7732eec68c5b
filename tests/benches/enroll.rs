//! `cargo xtask bench enroll`: 10,000 rows (2,000 domains, 5% of the people already on the
//! cadence, 2% invalid rows) enrolled against the sandbox on its simulated clock (the client's
//! waits move the sandbox's clock), with 5 kills at random points, each followed by a resume
//! from the journal. A kill drops the run mid-flight, as SIGKILL stops a process: requests in
//! the air may or may not have reached the sandbox (`demo/tests/enroll.rs` kills a real
//! process).
//!
//! Runs twice, each on a fresh sandbox: first `enroll_mode=rows` (one upsert a person), then
//! `enroll_mode=bulk` (the people in one bulk job; one of its kills lands just after the
//! job's upload). Each block of `name=value` lines: `enroll_cost` (requests the sandbox
//! answered for the runs), `enroll_floor` (the fewest that can do the work on that path, from
//! the input), `enroll_minutes` (simulated), `enroll_limit_minutes` (cost / 600), `enroll_429`,
//! `enroll_duplicates`; the bulk block adds `enroll_bulk_jobs` and `enroll_cost_over_rows`
//! (its cost against the rows mode's, measured in the same run).

use rand::{Rng, SeedableRng};
use salesloft_api::enroll::{self, Journal, Lead, PeoplePath, Progress};
use salesloft_api::{ApiKey, ClientBuilder};
use salesloft_mock::{Config, Sandbox};
use std::sync::Arc;

const ROWS: usize = 10_000;
const DOMAINS: usize = 2_000;
const KILLS: usize = 5;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!("enroll_mode=rows");
        let rows_cost = run(PeoplePath::OneByOne, None).await;
        println!("enroll_mode=bulk");
        run(PeoplePath::Auto, Some(rows_cost)).await;
    });
}

/// One enrollment of the 10,000 rows on `path`, killed 5 times; prints its block and returns
/// its cost.
async fn run(path: PeoplePath, rows_cost: Option<usize>) -> usize {
    let config = Config {
        request_log_capacity: 1_000_000,
        request_log_bytes: 512 * 1024 * 1024,
        ..Config::default()
    };
    let sandbox = Sandbox::start(config).await.unwrap();
    let client = ClientBuilder::new(Arc::new(ApiKey::new(sandbox.api_key())))
        .base_url(sandbox.api_base_url())
        .clock(Arc::new(salesloft_testkit::SandboxClock(
            sandbox.clock().clone(),
        )))
        .build()
        .unwrap();
    let cadence = sandbox.records("cadences")[0]["id"].as_i64().unwrap();

    let mut random = rand::rngs::StdRng::seed_from_u64(16);
    let mut leads: Vec<Lead> = (0..ROWS)
        .map(|i| Lead {
            email: format!("lead{i}@company{}.test", i % DOMAINS),
            first_name: Some(format!("Lead{i}")),
            domain: Some(format!("company{}.test", i % DOMAINS)),
            ..Lead::default()
        })
        .collect();
    // 2% invalid: half of them not an email, half a duplicate of an earlier row.
    for n in 0..ROWS / 50 {
        let i = 25 + n * 50;
        leads[i].email = if n % 2 == 0 {
            format!("lead{i} at company")
        } else {
            leads[i - 20].email.to_uppercase()
        };
    }
    let rows = enroll::validate(leads);
    let valid: Vec<&enroll::Row> = rows.iter().filter(|r| r.problem.is_none()).collect();
    // 5% already on the cadence, put there before the run (not counted).
    let already: Vec<&&enroll::Row> = valid.iter().step_by(20).collect();
    for row in &already {
        salesloft_testkit::already_on_cadence(&client, cadence, &row.lead.email).await;
    }
    sandbox.clock().advance_to_next_minute();

    let plan = enroll::Plan::on(&rows, path);
    let on_cadence = already.len();
    // Upserts for each domain, the people (an upsert each, or one job polled once), the
    // cadence listed (pages of 100 until a short one shows the end), and the memberships
    // missing.
    let people = if plan.people_by_job {
        salesloft_api::bulk::cost(plan.valid, 1) as usize
    } else {
        plan.valid
    };
    let floor = plan.domains + people + (on_cadence / 100 + 1) + (plan.valid - on_cadence);
    let before = sandbox.requests().len();
    let started = sandbox.clock().now();
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("bench.journal");
    let mut kills_at: Vec<u64> = (0..KILLS)
        .map(|_| random.random_range(1..floor as u64))
        .collect();
    if plan.people_by_job {
        // One kill inside the job: just after its upload, before it runs.
        kills_at[0] = (plan.domains + 4) as u64;
    }
    kills_at.sort_unstable();
    let mut kills = 0;
    let mut spent_before = 0;
    loop {
        let mut journal = Journal::open(&journal_path, cadence, sandbox.api_base_url()).unwrap();
        let kill = Arc::new(tokio::sync::Notify::new());
        let trigger = kill.clone();
        let next_kill = kills_at.get(kills).copied();
        let base = spent_before;
        let spent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = spent.clone();
        let mut on_progress = move |p: Progress| {
            seen.store(p.cost_spent, std::sync::atomic::Ordering::Relaxed);
            if next_kill.is_some_and(|at| base + p.cost_spent >= at) {
                trigger.notify_one();
            }
        };
        tokio::select! {
            reports = enroll::enroll_on(&client, Some(cadence), &rows, path, &mut journal, &mut on_progress) => {
                let reports = reports.unwrap();
                assert_eq!(reports.iter().filter(|r| matches!(r.outcome, enroll::Outcome::Failed(_))).count(), 0);
                break;
            }
            _ = kill.notified() => {
                kills += 1;
                spent_before += spent.load(std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
    let minutes = (sandbox.clock().now() - started).num_milliseconds() as f64 / 60_000.0;
    let log = sandbox.requests();
    let answered = &log[before..];
    let cost = answered.len();
    let too_many = answered.iter().filter(|r| r.status == 429).count();

    let duplicates = salesloft_testkit::duplicates(&sandbox);
    let members = sandbox
        .records("cadence_memberships")
        .iter()
        .filter(|m| m["cadence"]["id"] == cadence)
        .count();
    assert_eq!(members, plan.valid, "everyone valid is on the cadence");

    let line = |name: &str, value: String| println!("{name}={value}");
    line("enroll_rows", ROWS.to_string());
    line("enroll_valid", plan.valid.to_string());
    line("enroll_domains", plan.domains.to_string());
    line("enroll_already_on_cadence", on_cadence.to_string());
    line("enroll_kills", kills.to_string());
    line("enroll_cost", cost.to_string());
    line("enroll_floor", floor.to_string());
    line(
        "enroll_cost_over_floor",
        format!("{:.4}", cost as f64 / floor as f64),
    );
    line("enroll_minutes", format!("{minutes:.2}"));
    line(
        "enroll_limit_minutes",
        format!("{:.2}", cost as f64 / 600.0),
    );
    line(
        "enroll_minutes_over_limit",
        format!("{:.4}", minutes / (cost as f64 / 600.0)),
    );
    line("enroll_429", too_many.to_string());
    line("enroll_duplicates", duplicates.to_string());
    if plan.people_by_job {
        let jobs = sandbox.records("bulk_jobs").len();
        line("enroll_bulk_jobs", jobs.to_string());
    }
    if let Some(rows_cost) = rows_cost {
        line(
            "enroll_cost_over_rows",
            format!("{:.4}", cost as f64 / rows_cost as f64),
        );
    }
    cost
}
