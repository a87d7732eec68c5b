//! `cargo xtask bench mirror`: a team of 50,000 people, 10,000 accounts, 20,000 memberships
//! and 1,000 records of every other resource, mirrored from the sandbox on its simulated
//! clock (the client's waits move the sandbox's clock), on SQLite and on a throwaway
//! PostgreSQL server. Then 2,000 random changes and 300 deletions, delivered by webhooks with
//! the sandbox's drop and duplicate faults on, while the mirror is killed (its run dropped
//! mid-flight, as SIGKILL stops a process; `demo/tests/mirror.rs` kills a real one) at 5
//! random points and run again.
//!
//! Prints `name=value` lines per backend: `mirror_requests`, `mirror_floor` (the sum over
//! resources of ceil(N/100)+1), `mirror_minutes` (simulated), `mirror_limit_minutes` (cost /
//! 600), `mirror_429`, then `mirror_missing`, `mirror_extra`, `mirror_stale` (rows that differ
//! from the sandbox's records), `mirror_incremental_requests` and its floor,
//! `mirror_ingest_per_second` and `mirror_ingest_history_per_second` (rows written a second
//! with the network taken out, into a fresh database without and with history, same run),
//! `mirror_history_updates` (update rows after 2,000 changes of people, expected 2,000); and
//! the peak resident memory of the `demo mirror` process with 5,000 and 50,000 people.
//! The mirrored run keeps history (`--history`), so its figures are history's.

mod common;

use rand::{Rng, SeedableRng};
use salesloft_api::{ApiKey, ClientBuilder};
use salesloft_mirror::{Mirror, follow};
use salesloft_mock::webhooks::WebhookFault;
use salesloft_mock::{Config, Sandbox, SandboxHandle};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHANGES: usize = 2_000;
const DELETIONS: usize = 300;
const KILLS: usize = 5;

fn count_of(resource: &str) -> usize {
    match resource {
        "people" => 50_000,
        "accounts" => 10_000,
        "cadence_memberships" => 20_000,
        // The sandbox keeps 1,000 subscriptions: room for the receiver's own.
        "webhook_subscriptions" => 900,
        _ => 1_000,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sqlite = salesloft_testkit::sqlite();
        run("sqlite", &sqlite.url).await;
        let postgres = salesloft_testkit::postgres();
        run("postgres", &postgres.url).await;
        for people in [5_000, 50_000] {
            let peak = peak_rss_mb(people).await;
            println!("mirror_peak_rss_mb_{people}_people={peak}");
        }
    });
}

fn per_minute_of(now: chrono::DateTime<chrono::Utc>, then: chrono::DateTime<chrono::Utc>) -> f64 {
    (now - then).num_milliseconds() as f64 / 60_000.0
}

async fn run(backend: &str, url: &str) {
    println!("backend={backend}");
    let config = Config {
        request_log_capacity: 2_000_000,
        request_log_bytes: 1 << 30,
        ..Config::default()
    };
    let sandbox = Sandbox::start(config).await.unwrap();
    // People first: the memberships are made over them.
    let mut resources = sandbox.resources();
    resources.sort_by_key(|r| r != "people");
    for resource in &resources {
        sandbox
            .seed(resource, count_of(resource), 1_000, 7)
            .unwrap();
    }
    let client = ClientBuilder::new(Arc::new(ApiKey::new(sandbox.api_key())))
        .base_url(sandbox.api_base_url())
        .clock(Arc::new(salesloft_testkit::SandboxClock(
            sandbox.clock().clone(),
        )))
        .build()
        .unwrap();
    sandbox.clock().advance_to_next_minute();
    sandbox.clear_requests();

    let mut mirror = Mirror::open(url, &|_| {}).await.unwrap();
    mirror.keep_history().await.unwrap();
    let mirror = Arc::new(mirror);
    let tables = mirror.select(&[], &[]).unwrap();
    let started = sandbox.clock().now();
    let reports = mirror.run(&client, &tables, &mut |_| {}).await.unwrap();
    let requests: u64 = reports.iter().map(|r| r.requests).sum();
    let cost: u64 = reports.iter().map(|r| r.cost).sum();
    let floor: usize = resources
        .iter()
        .map(|r| sandbox.records(r).len().div_ceil(100) + 1)
        .sum();
    let too_many = sandbox
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    println!("mirror_requests={requests}");
    println!("mirror_floor={floor}");
    println!(
        "mirror_minutes={:.2}",
        per_minute_of(sandbox.clock().now(), started)
    );
    println!("mirror_limit_minutes={:.2}", cost as f64 / 600.0);
    println!("mirror_429={too_many}");

    // Changes and deletions, delivered by webhooks with faults on.
    let token = "bench-callback-token";
    let receiver = follow::start(mirror.clone(), "127.0.0.1:0".parse().unwrap(), None, token)
        .await
        .unwrap();
    let events = follow::events(&tables);
    salesloft_api::webhooks::ensure_subscriptions(&client, &receiver.callback_url, token, &events)
        .await
        .unwrap();
    sandbox
        .inject_webhook_fault(WebhookFault::Drop, 150)
        .unwrap();
    sandbox
        .inject_webhook_fault(WebhookFault::Duplicate, 150)
        .unwrap();
    let changed = change_and_delete(&sandbox).await;
    sandbox.clear_requests();
    let mut random = rand::rngs::StdRng::seed_from_u64(22);
    for _ in 0..KILLS {
        let (mirror, client, tables) = (mirror.clone(), client.clone(), tables.clone());
        let run = tokio::spawn(async move { mirror.run(&client, &tables, &mut |_| {}).await });
        tokio::time::sleep(Duration::from_millis(random.random_range(5..200))).await;
        run.abort(); // the kill: whatever was not committed is gone
        let _ = run.await;
    }
    mirror.run(&client, &tables, &mut |_| {}).await.unwrap();
    // Deliveries retried 15 s apart on the sandbox's clock: move it until none is left.
    for _ in 0..2_000 {
        if sandbox.webhooks_pending() == 0 {
            break;
        }
        sandbox.clock().advance(chrono::Duration::seconds(16));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let incremental_requests = sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.status == 200)
        .count();
    let incremental_floor: usize = tables
        .iter()
        .map(|t| {
            if t.incremental {
                changed.get(&t.resource).copied().unwrap_or(0) / 100 + 1
            } else {
                sandbox.records(&t.resource).len().div_ceil(100) + 1
            }
        })
        .sum();
    let (missing, extra, stale) = common::compare(&sandbox, &mirror, &tables).await;
    println!("mirror_missing={missing}");
    println!("mirror_extra={extra}");
    println!("mirror_stale={stale}");
    println!("mirror_incremental_requests={incremental_requests}");
    println!("mirror_incremental_floor={incremental_floor}");
    println!(
        "mirror_deliveries_applied={}",
        receiver.applied.load(std::sync::atomic::Ordering::Relaxed)
    );

    let people = tables.iter().find(|t| t.resource == "people").unwrap();
    let records: Vec<Map<String, Value>> = sandbox
        .records("people")
        .into_iter()
        .filter_map(|r| r.as_object().cloned())
        .collect();
    let fresh = || async {
        match backend {
            "sqlite" => salesloft_testkit::sqlite(),
            _ => salesloft_testkit::postgres(),
        }
    };
    let plain = fresh().await;
    let (rate, _) = ingest(&plain.url, people, &records, false).await;
    println!("mirror_ingest_per_second={rate:.0}");
    let kept = fresh().await;
    let (rate, updates) = ingest(&kept.url, people, &records, true).await;
    println!("mirror_ingest_history_per_second={rate:.0}");
    println!("mirror_history_updates={updates}");
}

/// Ingest alone: `records` written in pages of 100 into a fresh database at `url`, no
/// network; rows a second. With `history`, then 2,000 changes of them (a page of 100
/// distinct people at a time), and the update rows the history holds after.
async fn ingest(
    url: &str,
    people: &salesloft_mirror::Table,
    records: &[Map<String, Value>],
    history: bool,
) -> (f64, usize) {
    let mut mirror = Mirror::open(url, &|_| {}).await.unwrap();
    if history {
        mirror.keep_history().await.unwrap();
    }
    let started = Instant::now();
    for page in records.chunks(100) {
        mirror.write_rows(people, page).await.unwrap();
    }
    let rate = records.len() as f64 / started.elapsed().as_secs_f64();
    if !history {
        return (rate, 0);
    }
    let later = chrono::Utc::now() + chrono::Duration::days(1);
    let changes: Vec<Map<String, Value>> = (0..CHANGES)
        .map(|n| {
            let mut record = records[(n * 37) % records.len()].clone();
            let at = later + chrono::Duration::milliseconds(n as i64);
            record.insert("updated_at".into(), json!(at.to_rfc3339()));
            record.insert("title".into(), json!(format!("change {n}")));
            record
        })
        .collect();
    for page in changes.chunks(100) {
        mirror.write_rows(people, page).await.unwrap();
    }
    let updates = mirror
        .dump_history(people)
        .await
        .unwrap()
        .iter()
        .filter(|row| row["change"] == "update")
        .count();
    (rate, updates)
}

/// 2,000 changes (through `/__admin`, which moves `updated_at` and sends the `_updated` event)
/// and 300 deletions through the API, each resource's share by its size; the changes by
/// resource.
async fn change_and_delete(sandbox: &SandboxHandle) -> HashMap<String, usize> {
    let mut random = rand::rngs::StdRng::seed_from_u64(2_000);
    let resources = sandbox.resources();
    let ids: HashMap<String, Vec<Value>> = resources
        .iter()
        .map(|r| {
            let ids = sandbox.records(r).iter().map(|x| x["id"].clone()).collect();
            (r.clone(), ids)
        })
        .collect();
    let mut changed: HashMap<String, HashSet<String>> = HashMap::new();
    let weighted: Vec<&String> = resources
        .iter()
        .flat_map(|r| std::iter::repeat_n(r, count_of(r) / 1_000))
        .collect();
    for n in 0..CHANGES {
        let resource = weighted[random.random_range(0..weighted.len())];
        let list = &ids[resource];
        let id = &list[random.random_range(0..list.len())];
        let shown = id.as_str().map_or_else(|| id.to_string(), str::to_string);
        sandbox.clock().advance(chrono::Duration::milliseconds(1));
        let fields = json!({"bench_change": n}).as_object().cloned().unwrap();
        if sandbox.patch_record(resource, &shown, fields).unwrap() {
            changed.entry(resource.clone()).or_default().insert(shown);
        }
    }
    // Deletions: people, accounts and notes send delete events; the whole-read resources
    // are found gone by the next read.
    sandbox.set_rate_limit(1_000_000);
    let deletable = [
        "people",
        "accounts",
        "notes",
        "custom_fields",
        "person_stages",
        "saved_list_views",
        "imports",
    ];
    let mut deleted = 0;
    while deleted < DELETIONS {
        let resource = deletable[deleted % deletable.len()];
        let list = &ids[resource];
        let id = &list[random.random_range(0..list.len())];
        if salesloft_testkit::delete(sandbox, &format!("{resource}/{id}")).await == 204 {
            deleted += 1;
        }
    }
    sandbox.set_rate_limit(600);
    sandbox.clock().advance_to_next_minute();
    changed
        .into_iter()
        .map(|(resource, ids)| (resource, ids.len()))
        .collect()
}

/// Peak resident memory of `demo mirror --only people` (the release binary) with `people`
/// people in the sandbox, read from the process while it runs.
async fn peak_rss_mb(people: usize) -> u64 {
    let config = Config {
        rate_limit_per_minute: 1_000_000,
        ..Config::default()
    };
    let sandbox = Sandbox::start(config).await.unwrap();
    sandbox.seed("people", people, 1_000, 5).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("rss.db").display());
    let mut child = common::mirror_people(&sandbox, &db)
        .spawn()
        .expect("the release salesloft binary (cargo xtask bench mirror builds it)");
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kb: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            peak = peak.max(kb / 1024);
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    peak
}
