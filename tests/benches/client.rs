//! `cargo xtask bench client`: the client against salesloft-mock (a separate release process,
//! so the figures of this process are the client's own).
//!
//! 1. Overhead: GET person through the full hook stack against a bare reqwest loop, same run,
//!    with the generated code under progenitor's default hooks in between (see `build.rs`):
//!    `overhead_ratio` is client / bare, and splits into what the generated code costs
//!    (`overhead_generated_ratio`, generated / bare) and what our hooks cost on top of it
//!    (`overhead_hooks_ratio`, client / generated).
//! 2. Sync cost: incremental sync and a page-number walk with a 600-a-minute budget, on one
//!    simulated clock (the client's waits move the sandbox's clock), for 5,000, 50,000 and
//!    200,000 people; requests, cost, 429s, simulated minutes and peak memory.
//! 3. Refresh: 200 concurrent requests on an expired token.
//!
//! Ends with `name=value` lines, one per figure.

mod common;

use futures::TryStreamExt;
use salesloft_api::sync::{IncrementalSync, SyncCursor};
use salesloft_api::{BoxFuture, Client, ClientBuilder, RetryPolicy, sync_request};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 8;
/// The overhead is measured in short slices, the sides in turn (ABC CBA), so that the
/// machine's own drift (a shared 2-core VM varies by tens of percent from second to second)
/// falls on both alike.
const SLICE: Duration = Duration::from_millis(100);
const ROUNDS: usize = 60;

/// The sandbox binary, in its own process.
struct Mock {
    child: Child,
    base: String,
    api_key: String,
    admin: reqwest::Client,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Mock {
    fn start() -> Self {
        let binary = std::env::var("SALESLOFT_MOCK_BIN")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| common::release_binary("salesloft-mock"));
        let mut child = Command::new(&binary)
            .args(["--port", "0", "--rate-limit", "1000000000"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}); run `cargo xtask bench client`",
                    binary.display()
                )
            });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (mut base, mut api_key) = (String::new(), String::new());
        while base.is_empty() || api_key.is_empty() {
            let line = lines
                .next()
                .expect("the sandbox prints its addresses")
                .expect("a line");
            if let Some(url) = line.trim().strip_prefix("API base URL:") {
                base = url.trim().to_string();
            }
            if let Some(key) = line.trim().strip_prefix("API key:") {
                api_key = key.trim().to_string();
            }
        }
        salesloft_api::install_tls_provider();
        Self {
            child,
            base,
            api_key,
            admin: reqwest::Client::new(),
        }
    }

    async fn admin(&self, path: &str, body: Value) {
        let response = self
            .admin
            .post(format!("{}/__admin/{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("admin");
        assert!(
            response.status().is_success(),
            "admin {path}: {}",
            response.status()
        );
    }

    async fn requests(&self) -> Vec<Value> {
        let log = self
            .admin
            .get(format!("{}/__admin/requests", self.base))
            .send()
            .await
            .expect("log");
        log.json::<Vec<Value>>().await.expect("the log is JSON")
    }

    async fn clear_requests(&self) {
        self.admin
            .delete(format!("{}/__admin/requests", self.base))
            .send()
            .await
            .expect("clear");
    }
}

/// The client's clock made of the sandbox's: a wait moves the sandbox's clock (over its admin
/// API) instead of sleeping.
#[derive(Debug)]
struct SimulatedClock {
    offset_ms: AtomicI64,
    admin: String,
    http: reqwest::Client,
}

impl salesloft_api::Clock for SimulatedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let millis = duration.as_millis() as i64;
        self.offset_ms.fetch_add(millis, Ordering::SeqCst);
        let request = self
            .http
            .post(&self.admin)
            .json(&json!({"advance_millis": millis}));
        Box::pin(async move {
            let _ = request.send().await;
        })
    }
}

/// The `api-version` header the generated client adds to every request.
fn api_version() -> &'static str {
    <Client as salesloft_api::ClientInfo<salesloft_api::state::ClientState>>::api_version()
}

/// A client of the sandbox with the default retry policy, authenticated by its API key.
fn client(mock: &Mock) -> ClientBuilder {
    ClientBuilder::new(Arc::new(salesloft_api::ApiKey::new(mock.api_key.as_str())))
        .base_url(&mock.base)
        .retry_policy(RetryPolicy::default())
}

/// How long each of the `CONCURRENCY` tasks of a run keeps sending.
#[derive(Clone, Copy)]
enum Until {
    /// Until this long after the run started (a measured slice).
    Elapsed(Duration),
    /// This many requests (a profile).
    Requests(u64),
}

/// Requests done and seconds taken, `CONCURRENCY` at a time, of `one`.
async fn rate<F, Fut>(one: F, until: Until) -> (u64, f64)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let started = Instant::now();
    let more = move |done: u64| match until {
        Until::Elapsed(slice) => started.elapsed() < slice,
        Until::Requests(count) => done < count,
    };
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let one = one.clone();
            tokio::spawn(async move {
                let mut done = 0u64;
                while more(done) {
                    assert!(one().await, "a request failed");
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("task");
    }
    (total, started.elapsed().as_secs_f64())
}

/// The three ways of getting a person that the overhead measurement compares.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    /// reqwest alone, sending what the generated client sends and decoding the same type.
    Bare,
    /// The generated `get_person` with progenitor's default hooks (`build.rs`): what the
    /// generated code costs by itself.
    Generated,
    /// Our client: the generated code and the full hook stack.
    Client,
}

/// `BENCH_PROFILE=bare:N`, `generated:N` or `client:N`: only N requests of one side, and no
/// other measurement. For `valgrind --tool=callgrind`, whose instruction counts do not drift
/// with the machine as requests a second do: the difference between two counts divided by the
/// difference in N is the instructions one request costs.
fn profile_request() -> Option<(Side, usize)> {
    let spec = std::env::var("BENCH_PROFILE").ok()?;
    let parsed = spec.split_once(':').and_then(|(side, count)| {
        let side = match side {
            "bare" => Side::Bare,
            "generated" => Side::Generated,
            "client" => Side::Client,
            _ => return None,
        };
        Some((side, count.parse().ok()?))
    });
    Some(parsed.unwrap_or_else(|| {
        panic!("BENCH_PROFILE is bare:N, generated:N or client:N, not {spec:?}")
    }))
}

/// Requests a second of each side.
struct Overhead {
    bare: f64,
    generated: f64,
    client: f64,
}

/// The progenitor client of `build.rs`: `get_person` only, default hooks.
#[allow(unused_imports)] // generated code
mod generated_only {
    include!(concat!(env!("OUT_DIR"), "/floor.rs"));
}

/// Requests a second of each side, or `None` when profiling.
async fn overhead(mock: &Mock) -> Option<Overhead> {
    let url = format!("{}/v2/people/1.json", mock.base);
    // One reqwest client (rustls on ring, 60 s timeout, no redirects) and so one connection
    // pool for all sides: the same connections, served by the same sandbox threads, so the
    // ratios measure the code above reqwest and nothing else.
    let http = salesloft_api::http_client(Duration::from_secs(60)).expect("http");
    let key = mock.api_key.clone();
    let ours = Arc::new(
        client(mock)
            .http_client(http.clone())
            .build()
            .expect("client"),
    );
    let floor = Arc::new(generated_only::Client::new_with_client(
        &mock.base,
        http.clone(),
        key.clone(),
    ));
    // No side allocates for its own bookkeeping: each request only clones an `Arc`.
    let target = Arc::new((http, url, key));
    let bare = move || {
        let target = target.clone();
        async move {
            let (http, url, key) = &*target;
            // The request the generated client sends, header for header.
            let request = http
                .get(url)
                .header(reqwest::header::ACCEPT, "application/json")
                .header("api-version", api_version())
                .bearer_auth(key);
            let Ok(response) = request.send().await else {
                return false;
            };
            let Ok(bytes) = response.bytes().await else {
                return false;
            };
            serde_json::from_slice::<salesloft_api::types::PersonEnvelope>(&bytes).is_ok()
        }
    };
    let generated = move || {
        let floor = floor.clone();
        async move { floor.get_person().id(1).send().await.is_ok() }
    };
    let hooked = move || {
        let client = ours.clone();
        async move { client.get_person().id(1).send().await.is_ok() }
    };
    // One run of one side.
    let run = |side: Side, until: Until| {
        let (bare, generated, hooked) = (bare.clone(), generated.clone(), hooked.clone());
        async move {
            match side {
                Side::Bare => rate(bare, until).await,
                Side::Generated => rate(generated, until).await,
                Side::Client => rate(hooked, until).await,
            }
        }
    };
    if let Some((side, count)) = profile_request() {
        // `CONCURRENCY` at a time, as measured: a profile of one request at a time would miss
        // what many requests in flight cost (bigger working set, more memory traffic).
        run(side, Until::Requests((count / CONCURRENCY) as u64)).await;
        return None;
    }
    let sides = [Side::Bare, Side::Generated, Side::Client];
    for _ in 0..5 {
        for side in sides {
            run(side, Until::Elapsed(SLICE)).await; // warm-up: connections, allocator, caches
        }
    }
    let mut totals = [(0u64, 0f64); 3];
    for round in 0..ROUNDS {
        // Forward, then backward (ABC CBA): each side is as often early as late.
        let order = if round % 2 == 0 { [0, 1, 2] } else { [2, 1, 0] };
        for i in order {
            let (done, secs) = run(sides[i], Until::Elapsed(SLICE)).await;
            totals[i] = (totals[i].0 + done, totals[i].1 + secs);
        }
        if round % 10 == 9 {
            mock.clear_requests().await;
        }
    }
    let [bare, generated, client] = totals.map(|(done, secs)| done as f64 / secs);
    Some(Overhead {
        bare,
        generated,
        client,
    })
}

/// Peak resident memory of this process since the last reset, in MiB (Linux).
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[derive(Default, Debug)]
struct Cost {
    requests: u64,
    cost: u64,
    too_many: u64,
    minutes: f64,
    peak_mb: f64,
}

fn page_of(query: &str) -> u64 {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(1)
}

async fn measure<F: std::future::Future<Output = u64>>(
    mock: &Mock,
    clock: &SimulatedClock,
    work: F,
    expected: u64,
) -> Cost {
    mock.admin("settings", json!({"rate_limit_per_minute": 600}))
        .await;
    mock.admin("clock", json!({"next_minute": true})).await;
    mock.clear_requests().await;
    let start = clock.offset_ms.load(Ordering::SeqCst);
    reset_peak_rss();
    let seen = work.await;
    let peak_mb = peak_rss_mb();
    assert_eq!(seen, expected, "every record was seen");
    let log = mock.requests().await;
    let people: Vec<&Value> = log
        .iter()
        .filter(|r| r["path"] == "/v2/people.json")
        .collect();
    let mut cost = Cost {
        peak_mb,
        minutes: (clock.offset_ms.load(Ordering::SeqCst) - start) as f64 / 60_000.0,
        ..Cost::default()
    };
    for request in people {
        cost.requests += 1;
        if request["status"] == 429 {
            cost.too_many += 1;
        } else {
            cost.cost += salesloft_api::ratelimit::page_cost(page_of(
                request["query"].as_str().unwrap_or_default(),
            )) as u64;
        }
    }
    mock.admin("settings", json!({"rate_limit_per_minute": 1_000_000_000}))
        .await;
    cost
}

async fn incremental_sync(client: &Client) -> u64 {
    let mut sync = IncrementalSync::new(SyncCursor::default(), |window| {
        let client = client.clone();
        async move { sync_request!(client.list_people(), window).await }
    });
    let mut seen = 0;
    while let Some(person) = sync.next().await {
        person.expect("sync");
        seen += 1;
    }
    seen
}

async fn page_walk(client: &Client) -> u64 {
    let stream = salesloft_api::pagination::items(|page| {
        client.list_people().per_page(100).page(page).send()
    });
    futures::pin_mut!(stream);
    let mut seen = 0;
    while stream.try_next().await.expect("walk").is_some() {
        seen += 1;
    }
    seen
}

async fn refresh(mock: &Mock) -> (usize, usize) {
    use salesloft_auth::{
        CredentialStore, Credentials, MemoryStore, OAuthApp, OAuthTokens, Session,
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = "http://127.0.0.1:9/callback";
    let authorize = format!(
        "{}/oauth/authorize?client_id=sandbox-client-id&response_type=code&redirect_uri={redirect}",
        mock.base
    );
    let location = http.get(authorize).send().await.unwrap().headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("client_id", "sandbox-client-id"),
        ("client_secret", "sandbox-client-secret"),
    ];
    let tokens: Value = http
        .post(format!("{}/oauth/token", mock.base))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let credentials = Credentials {
        access_token: tokens["access_token"].as_str().unwrap().into(),
        refresh_token: Some(tokens["refresh_token"].as_str().unwrap().into()),
        expires_at: chrono::Utc::now() - chrono::Duration::seconds(1),
        scope: String::new(),
        client_id: "sandbox-client-id".into(),
        api_base_url: mock.base.clone(),
    };
    let app = OAuthApp::new("sandbox-client-id", "sandbox-client-secret")
        .with_accounts_base_url(&mock.base)
        .with_api_base_url(&mock.base);
    let store = Arc::new(MemoryStore::default());
    store.save(&credentials).unwrap();
    mock.admin("expire_tokens", json!({})).await;
    mock.clear_requests().await;
    let source = Arc::new(OAuthTokens::new(app, store, credentials).unwrap());
    let client = Session::from_token_source(&mock.base, source)
        .client()
        .unwrap();
    let requests = (0..200).map(|_| {
        let client = client.clone();
        // (get_me: the sync runs replaced every person.)
        tokio::spawn(async move { client.get_me().send().await.is_ok() })
    });
    let failed = futures::future::join_all(requests)
        .await
        .iter()
        .filter(|r| !matches!(r, Ok(true)))
        .count();
    let token_requests = mock
        .requests()
        .await
        .iter()
        .filter(|r| r["path"] == "/oauth/token")
        .count();
    (token_requests, failed)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mock = Mock::start();

    let Some(rates) = overhead(&mock).await else {
        return;
    };
    let ratio = rates.client / rates.bare;
    // What the generated code costs by itself, and what our hooks cost on top of it.
    let generated_ratio = rates.generated / rates.bare;
    let hooks_ratio = rates.client / rates.generated;
    eprintln!(
        "overhead measured: bare {:.0}/s, generated {:.0}/s, client {:.0}/s; \
         client/bare {ratio:.3}, generated/bare {generated_ratio:.3}, client/generated {hooks_ratio:.3}",
        rates.bare, rates.generated, rates.client
    );
    let overhead_lines = [
        format!("overhead_ratio={ratio:.3}"),
        format!("overhead_generated_ratio={generated_ratio:.3}"),
        format!("overhead_hooks_ratio={hooks_ratio:.3}"),
    ];
    // `cargo bench -p tests --bench client -- overhead`: the first measurement alone.
    if std::env::args().any(|a| a == "overhead") {
        overhead_lines.iter().for_each(|line| println!("{line}"));
        return;
    }

    let clock = Arc::new(SimulatedClock {
        offset_ms: AtomicI64::new(0),
        admin: format!("{}/__admin/clock", mock.base),
        http: reqwest::Client::new(),
    });
    let paced = client(&mock).clock(clock.clone()).build().expect("client");
    let mut syncs = Vec::new();
    let mut walk = Cost::default();
    for n in [5_000u64, 50_000, 200_000] {
        mock.admin(
            "seed_people",
            json!({"count": n, "replace": true, "spread_micros": 1000}),
        )
        .await;
        let cost = measure(&mock, &clock, incremental_sync(&paced), n).await;
        if n == 50_000 {
            walk = measure(&mock, &clock, page_walk(&paced), n).await;
        }
        syncs.push((n, cost));
    }
    let (token_requests, refresh_failed) = refresh(&mock).await;

    println!("| measurement | value |");
    println!("|---|---|");
    println!(
        "| bare reqwest GET person / s ({CONCURRENCY} at a time) | {:.0} |",
        rates.bare
    );
    println!(
        "| generated get_person, progenitor's default hooks / s | {:.0} |",
        rates.generated
    );
    println!(
        "| client (generated code + full hook stack) / s | {:.0} |",
        rates.client
    );
    println!("| overhead ratio (client / bare) | {ratio:.3} |");
    println!("| of which the generated code (generated / bare) | {generated_ratio:.3} |");
    println!("| of which our hooks (client / generated) | {hooks_ratio:.3} |");
    println!();
    println!("| run | records | requests | cost | 429s | simulated minutes | peak RSS (MiB) |");
    println!("|---|---|---|---|---|---|---|");
    for (n, c) in &syncs {
        println!(
            "| incremental sync | {n} | {} | {} | {} | {:.1} | {:.1} |",
            c.requests, c.cost, c.too_many, c.minutes, c.peak_mb
        );
    }
    let w = &walk;
    println!(
        "| page-number walk | 50000 | {} | {} | {} | {:.1} | {:.1} |",
        w.requests, w.cost, w.too_many, w.minutes, w.peak_mb
    );
    println!();
    println!(
        "| refresh: 200 concurrent requests on an expired token | token requests {token_requests}, failed {refresh_failed} |"
    );
    println!();
    let sync = &syncs[1].1;
    overhead_lines.iter().for_each(|line| println!("{line}"));
    println!("sync_requests={}", sync.requests);
    println!("sync_cost={}", sync.cost);
    println!("sync_429={}", sync.too_many);
    println!("walk_requests={}", walk.requests);
    println!("walk_cost={}", walk.cost);
    println!("sync_peak_rss_mb={:.1}", sync.peak_mb);
    println!("refresh_token_requests={token_requests}");
    println!("refresh_failed={refresh_failed}");
}
