//! GET person throughput of the sandbox on loopback, several connections at once.
//! Run with `cargo xtask bench mock`; the last line is `mock_get_person_rps=<n>`.

use salesloft_mock::{Config, Sandbox};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 16;
const WARM_UP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(3);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A budget no benchmark reaches: this measures serving, not the rate limit.
    let config = Config {
        rate_limit_per_minute: u32::MAX,
        request_log_capacity: 10_000,
        ..Config::default()
    };
    let sandbox = Sandbox::start(config).await.expect("sandbox starts");
    let url = format!("{}/v2/people/1.json", sandbox.api_base_url());
    let key = sandbox.api_key();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .expect("client");

    let count = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + WARM_UP + MEASURE;
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (http, url, key, count, errors) = (
            http.clone(),
            url.clone(),
            key.clone(),
            count.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let ok = match http.get(&url).bearer_auth(&key).send().await {
                    Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                let counter = if ok { &count } else { &errors };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(WARM_UP).await;
    let start_count = count.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(MEASURE).await;
    let measured = count.load(Ordering::Relaxed) - start_count;
    let elapsed = started.elapsed().as_secs_f64();
    for task in tasks {
        let _ = task.await;
    }
    let rps = measured as f64 / elapsed;
    println!("| measurement                  | value |");
    println!("|------------------------------|-------|");
    println!("| connections                  | {CONNECTIONS} |");
    println!("| requests in {:.1} s            | {measured} |", elapsed);
    println!(
        "| errors                       | {} |",
        errors.load(Ordering::Relaxed)
    );
    println!("| GET person requests / second | {rps:.0} |");
    println!("mock_get_person_rps={rps:.0}");
}
