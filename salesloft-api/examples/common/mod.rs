//! What every example shares: a client on your account when `SALESLOFT_API_KEY` is set (and
//! `SALESLOFT_API_BASE_URL`, for another environment), else on a local sandbox started here,
//! with a few records, so each example runs with no account and no network.
#![allow(dead_code)]

use salesloft_api::Client;

/// The client, and the sandbox it talks to when there is no API key (keep it alive).
pub async fn connect() -> (Client, Option<salesloft_mock::SandboxHandle>) {
    salesloft_api::install_tls_provider();
    if let Ok(key) = std::env::var("SALESLOFT_API_KEY") {
        let base = std::env::var("SALESLOFT_API_BASE_URL")
            .unwrap_or_else(|_| salesloft_api::DEFAULT_BASE_URL.to_string());
        let client = Client::with_api_key(&base, key).expect("a client");
        return (client, None);
    }
    let sandbox = salesloft_mock::Sandbox::start(salesloft_mock::Config::default())
        .await
        .expect("the sandbox starts");
    sandbox.seed("people", 120, 1_000, 1).expect("seeded");
    sandbox.seed("notes", 30, 1_000, 2).expect("seeded");
    eprintln!(
        "(no SALESLOFT_API_KEY: using a local sandbox at {})",
        sandbox.api_base_url()
    );
    let client = Client::with_api_key(sandbox.api_base_url(), sandbox.api_key()).expect("a client");
    (client, Some(sandbox))
}
