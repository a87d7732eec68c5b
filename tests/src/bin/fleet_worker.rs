//! A fleet worker in a process of its own, as one machine of a fleet (`cargo xtask bench
//! fleet`). The key comes from `SALESLOFT_TOKEN_KEY`.
//!
//! `fleet_worker <db url> <sandbox base URL> <concurrency> <lease ms> <hooks url or -> <reconcile every s>`
//! mirrors due teams until none is due (`once`), then exits. Prints `owner=<name>` when it
//! starts and `report runs=<n> good_runs=<n> takeovers=<n> requests=<n>` at the end.

use salesloft_auth::OAuthApp;
use salesloft_auth::connections::Encryption;
use salesloft_mirror::fleet::{Fleet, FleetOptions};
use std::io::Write;
use std::time::Duration;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, base, concurrency, lease_ms, hooks, reconcile_s] = args.as_slice() else {
        eprintln!(
            "usage: fleet_worker <db> <base url> <concurrency> <lease ms> <hooks url|-> <reconcile s>"
        );
        std::process::exit(2);
    };
    let number = |text: &str| -> u64 {
        text.parse().unwrap_or_else(|_| {
            eprintln!("`{text}` is not a number");
            std::process::exit(2)
        })
    };
    let encryption = Encryption::from_env(false).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(3)
    });
    let app = OAuthApp::new("sandbox-client-id", "sandbox-client-secret")
        .with_accounts_base_url(base)
        .with_api_base_url(base);
    let options = FleetOptions {
        concurrency: number(concurrency) as usize,
        interval: Duration::from_secs(3600),
        lease: Duration::from_millis(number(lease_ms)),
        poll: Duration::from_millis(200),
        once: true,
        hooks_url: (hooks != "-").then(|| hooks.clone()),
        reconcile_every: Duration::from_secs(number(reconcile_s)),
        ..FleetOptions::default()
    };
    let fleet = Fleet::connect(db, encryption, app, options)
        .await
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(4)
        });
    println!("owner={}", fleet.owner());
    let _ = std::io::stdout().flush();
    match fleet.run(std::future::pending()).await {
        Ok(report) => println!(
            "report runs={} good_runs={} takeovers={} requests={}",
            report.runs, report.good_runs, report.takeovers, report.requests
        ),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(5)
        }
    }
}
