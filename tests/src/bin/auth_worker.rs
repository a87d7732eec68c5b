//! A process that shares a credentials store with others, for the multi-process tests.
//!
//! `auth_worker <store> <sandbox base URL> requests <seconds>`: GET /v2/me every 20 ms for that
//! long, then prints `ok=<n> failed=<n> invalid_grant=<n>`.
//! `auth_worker <store> <sandbox base URL> refresh-loop`: refreshes as fast as it can, forever
//! (the test kills it).

use salesloft_api::TokenSource;
use salesloft_auth::{CredentialStore, FileStore, OAuthApp, OAuthTokens, Session};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, store, base, mode, rest @ ..] = args.as_slice() else {
        eprintln!("usage: auth_worker <store> <base url> <requests <seconds> | refresh-loop>");
        std::process::exit(2);
    };
    let app = OAuthApp::new("sandbox-client-id", "sandbox-client-secret")
        .with_accounts_base_url(base)
        .with_api_base_url(base);
    let store = Arc::new(FileStore::new(store));
    let credentials = store
        .load()
        .expect("the store parses")
        .expect("the store has credentials");
    match mode.as_str() {
        "requests" => {
            let seconds: u64 = rest.first().and_then(|s| s.parse().ok()).unwrap_or(3);
            let tokens = OAuthTokens::new(app, store, credentials)
                .unwrap()
                .with_margin(chrono::Duration::milliseconds(500));
            let client = Session::from_token_source(base, Arc::new(tokens))
                .client()
                .unwrap();
            let (mut ok, mut failed, mut invalid_grant) = (0, 0, 0);
            let deadline = Instant::now() + Duration::from_secs(seconds);
            while Instant::now() < deadline {
                match client.get_me().send().await {
                    Ok(_) => ok += 1,
                    Err(e) => {
                        let e = salesloft_api::ApiError::from(e);
                        if e.to_string().contains("invalid_grant") {
                            invalid_grant += 1;
                        }
                        eprintln!("{e}");
                        failed += 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            println!("ok={ok} failed={failed} invalid_grant={invalid_grant}");
        }
        "refresh-loop" => {
            // A margin longer than any token's life: every call refreshes and rewrites the store.
            let tokens = OAuthTokens::new(app, store, credentials)
                .unwrap()
                .with_margin(chrono::Duration::days(1));
            loop {
                if let Err(e) = tokens.token().await {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            }
        }
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    }
}
